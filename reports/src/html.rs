//! `report.html`: one self-contained file (inline CSS and SVG, no script, nothing fetched)
//! with the tables of `report.md` and charts: score vs cost with the Pareto frontier,
//! per-metric bars with intervals, latency, loss curves and trends.

use std::fmt::Write as _;

use tunebench_scoring::output::leaderboard;

use crate::charts;
use crate::error::Result;
use crate::markdown::{frontier_lines, listed};
use crate::render::Report;
use crate::sections;
use crate::table::escape;

const STYLE: &str = "
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 2rem auto; max-width: 1100px; color: #1a1a1a; padding: 0 1rem; }
h1 { font-size: 1.6rem; } h2 { margin-top: 2.5rem; border-bottom: 1px solid #ddd; padding-bottom: .3rem; }
table { border-collapse: collapse; margin: .8rem 0; font-size: .9rem; }
th, td { border: 1px solid #ccc; padding: .3rem .6rem; text-align: left; }
th { background: #f3f3f3; } td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.charts { display: flex; flex-wrap: wrap; gap: 1rem; } .charts figure { margin: 0; }
.meta { color: #555; } .note { color: #555; font-size: .85rem; }
";

/// The report as an HTML page.
///
/// # Errors
/// [`crate::ReportError::Chart`] when a chart cannot be drawn.
pub fn render(report: &Report) -> Result<String> {
    let s = &report.summary;
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>tunebench report: {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        escape(&s.run_id)
    );
    let _ = writeln!(
        out,
        "<h1>tunebench report: {}</h1>\n<p class=\"meta\">{} · {} suite(s) · {} training job(s)</p>",
        escape(&s.run_id),
        escape(&s.created),
        s.suites.len(),
        s.training.len()
    );
    if !s.models.is_empty() {
        out.push_str("<section>\n<h2>Models from the registry</h2>\n");
        out.push_str(&sections::models(&s.models).to_html());
        out.push_str("</section>\n");
    }
    for suite in &s.suites {
        let _ = writeln!(
            out,
            "<section>\n<h2>{} (v{}, {} examples)</h2>",
            escape(&suite.suite),
            escape(&suite.suite_version),
            suite.suite_examples
        );
        out.push_str(&leaderboard(suite).to_html());
        for line in frontier_lines(suite).lines() {
            let _ = writeln!(out, "<p>{}</p>", bold(&escape(line)));
        }
        out.push_str("<div class=\"charts\">\n");
        figure(&mut out, &charts::quality_vs_cost(suite)?);
        figure(&mut out, &charts::metric_bars(suite)?);
        if let Some(svg) = charts::latency(suite)? {
            figure(&mut out, &svg);
        }
        if let Some(svg) = charts::trend(&report.trend, &suite.suite)? {
            figure(&mut out, &svg);
        }
        out.push_str("</div>\n");
        if let Some(f) = report.flips.iter().find(|f| f.suite == suite.suite) {
            let versus = sections::versus_baseline(suite, &f.baseline);
            if !versus.rows.is_empty() {
                let _ = writeln!(
                    out,
                    "<h3>Against the baseline <code>{}</code></h3>",
                    escape(&f.baseline)
                );
                out.push_str(&versus.to_html());
                out.push_str("<p class=\"note\">≈ not significant: p ≥ 0.05 in the paired test on the same examples (exact McNemar for pass/fail metrics, paired bootstrap otherwise).</p>\n");
            }
            if !f.flips.is_empty() {
                let _ = writeln!(
                    out,
                    "<h3>Flipped examples against <code>{}</code></h3>\n<ul>",
                    escape(&f.baseline)
                );
                for flip in &f.flips {
                    let _ = write!(
                        out,
                        "<li><b>{}</b>: {} fixed (fail → pass), {} broken (pass → fail) of {} compared.",
                        escape(&flip.candidate),
                        flip.fixed.len(),
                        flip.broken.len(),
                        flip.compared
                    );
                    for (label, ids) in [("Broken", &flip.broken), ("Fixed", &flip.fixed)] {
                        if !ids.is_empty() {
                            let _ = write!(out, "<br>{label}: {}", escape(&listed(ids)));
                        }
                    }
                    if !flip.shown.is_empty() {
                        out.push_str(&sections::shown(flip).to_html());
                    }
                    out.push_str("</li>\n");
                }
                out.push_str("</ul>\n");
            }
        }
        if let Some(l) = report.labels.iter().find(|l| l.suite == suite.suite) {
            let _ = writeln!(
                out,
                "<h3>Per label ({} labels, metric <code>{}</code>)</h3>",
                l.labels,
                escape(&l.metric)
            );
            out.push_str(&sections::labels(l).to_html());
        }
        out.push_str("</section>\n");
    }
    if !s.training.is_empty() {
        out.push_str("<section>\n<h2>Training</h2>\n");
        out.push_str(&sections::training(&s.training).to_html());
        let svgs = [
            charts::loss_curves(&report.training)?,
            charts::reward_curves(&report.training)?,
        ];
        if svgs.iter().any(Option::is_some) {
            out.push_str("<div class=\"charts\">\n");
            for svg in svgs.iter().flatten() {
                figure(&mut out, svg);
            }
            out.push_str("</div>\n");
        }
        out.push_str("</section>\n");
    }
    if !report.trend.is_empty() {
        let _ = writeln!(
            out,
            "<section>\n<h2>Trend over {} runs</h2>",
            report.trend.len()
        );
        for suite in &s.suites {
            let _ = writeln!(out, "<h3>{}: score</h3>", escape(&suite.suite));
            out.push_str(&sections::trend(&report.trend, &suite.suite).to_html());
        }
        out.push_str("</section>\n");
    }
    out.push_str("</body>\n</html>\n");
    Ok(out)
}

fn figure(out: &mut String, svg: &str) {
    // plotters writes an XML declaration-free <svg> element: inline it as is.
    let _ = writeln!(out, "<figure>{svg}</figure>");
}

/// Markdown `**x**` (already escaped text) as `<b>x</b>`.
fn bold(line: &str) -> String {
    let mut out = String::new();
    for (i, part) in line.split("**").enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<b>{part}</b>");
        } else {
            out.push_str(part);
        }
    }
    out
}
