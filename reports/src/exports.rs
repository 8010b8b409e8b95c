//! `results.csv` (one row per run, suite, candidate and metric) and JUnit XML (for CI
//! dashboards: one test case per suite and candidate in a report, one per rule in the gate).

use std::fmt::Write as _;

use crate::summary::RunSummary;
use crate::table::escape as xml;

/// `results.csv`: run, suite, candidate, metric (the aggregate is `score`), value, interval,
/// examples, errors, tokens, cost, score per dollar and latency. RFC 4180 quoting.
pub fn results_csv(run: &RunSummary) -> String {
    let mut out = String::from(
        "run,suite,candidate,metric,value,lower,upper,n,errors,input_tokens,output_tokens,cost_usd,quality_per_dollar,latency_p50_ms,latency_p95_ms\n",
    );
    for s in &run.suites {
        for c in &s.candidates {
            let metrics = std::iter::once(("score", c.score))
                .chain(c.metrics.iter().map(|m| (m.name.as_str(), m.estimate)));
            for (metric, e) in metrics {
                let cells = [
                    csv_cell(&run.run_id),
                    csv_cell(&s.suite),
                    csv_cell(&c.name),
                    csv_cell(metric),
                    e.value.to_string(),
                    e.lower.to_string(),
                    e.upper.to_string(),
                    c.n.to_string(),
                    c.errors.to_string(),
                    c.input_tokens.to_string(),
                    c.output_tokens.to_string(),
                    c.cost_usd.to_string(),
                    opt(c.quality_per_dollar),
                    opt(c.latency_p50_ms),
                    opt(c.latency_p95_ms),
                ];
                out.push_str(&cells.join(","));
                out.push('\n');
            }
        }
    }
    out
}

fn opt(v: Option<f64>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// One JUnit test case; `failure` holds the message of a failed one.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// Class name (the suite, or `gate`).
    pub class: String,
    /// Test name.
    pub name: String,
    /// Why it failed; `None` when it passed.
    pub failure: Option<String>,
    /// Details shown by CI dashboards (`system-out`).
    pub output: String,
}

/// A JUnit XML document with one `<testsuite>` named `suite` holding `cases`.
pub fn junit(suite: &str, cases: &[Case]) -> String {
    let failures = cases.iter().filter(|c| c.failure.is_some()).count();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"tunebench\" tests=\"{}\" failures=\"{failures}\">",
        cases.len()
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\">",
        xml(suite),
        cases.len()
    );
    for c in cases {
        let _ = write!(
            out,
            "    <testcase classname=\"{}\" name=\"{}\">",
            xml(&c.class),
            xml(&c.name)
        );
        if let Some(f) = &c.failure {
            let first = f.lines().next().unwrap_or_default();
            let _ = write!(
                out,
                "\n      <failure message=\"{}\">{}</failure>",
                xml(first),
                xml(f)
            );
        }
        if !c.output.is_empty() {
            let _ = write!(out, "\n      <system-out>{}</system-out>", xml(&c.output));
        }
        out.push_str(if c.failure.is_some() || !c.output.is_empty() {
            "\n    </testcase>\n"
        } else {
            "</testcase>\n"
        });
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

/// A report's test cases: one per suite and candidate, failed when some examples errored or
/// are missing.
pub fn report_cases(run: &RunSummary) -> Vec<Case> {
    run.suites
        .iter()
        .flat_map(|s| {
            s.candidates.iter().map(move |c| Case {
                class: s.suite.clone(),
                name: c.name.clone(),
                failure: (c.errors + c.missing > 0 || c.failed).then(|| {
                    format!(
                        "{}{} of {} examples errored, {} missing",
                        if c.failed { "failed: " } else { "" },
                        c.errors,
                        c.n,
                        c.missing
                    )
                }),
                output: format!(
                    "score {:.4} [{:.4}, {:.4}], cost ${:.4}",
                    c.score.value, c.score.lower, c.score.upper, c.cost_usd
                ),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junit_counts_and_escapes() {
        let xml = junit(
            "gate",
            &[
                Case {
                    class: "gate".into(),
                    name: "a<b".into(),
                    failure: Some("dropped \"a lot\"\nsecond line".into()),
                    output: String::new(),
                },
                Case {
                    class: "gate".into(),
                    name: "ok".into(),
                    failure: None,
                    output: String::new(),
                },
            ],
        );
        assert!(xml.contains("tests=\"2\" failures=\"1\""), "{xml}");
        assert!(xml.contains("name=\"a&lt;b\""), "{xml}");
        assert!(
            xml.contains("message=\"dropped &quot;a lot&quot;\""),
            "{xml}"
        );
        assert!(
            xml.contains("<testcase classname=\"gate\" name=\"ok\"></testcase>"),
            "{xml}"
        );
    }

    #[test]
    fn csv_quotes_cells_with_commas() {
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("plain"), "plain");
    }
}
