//! LLM-as-judge: a `judge` metric sends each answered example's rubric (a minijinja template
//! over the prompt, the response and the reference) to a judge candidate and reads a score
//! out of its answer.
//!
//! ```toml
//! [[metrics]]
//! kind = "judge"
//! judge = "gpt-4o-judge"     # a [[eval.judges]] entry: any candidate kind
//! scale = "1-5"              # "<min>-<max>" (integers), or "pass_fail"
//! rubric = """Rate the answer from 1 to 5 against the reference.
//! Question: {{ prompt }}
//! Answer: {{ response }}
//! Reference: {{ reference }}
//! Reply with "Score: <n>"."""
//! # pattern = "Rating: (\\d+)"  # where the score is (one capture group); default below
//! ```
//!
//! Judge calls go through the same runner as candidates (cache, retries, rate limiting and
//! the run's `max_cost_usd`), under request ids `<candidate>/<example id>`, so a `responses`
//! judge reads recorded verdicts by those ids. The judge's tokens and dollars are counted
//! apart from the candidate's ([`JudgeTally`], in `summary.json` under `judges`).
//!
//! Reading a verdict: with `pattern`, its first capture group (or whole match); otherwise,
//! for a range scale, the number after the first `score` (`Score: 4`, `score = 4/5`), or
//! the whole answer when it is just a number; for `pass_fail`, the first of the words
//! pass / fail / yes / no. A number outside the scale, or no verdict, is a per-example
//! judge error (kept in `scores.jsonl`, counted in the tally, scored 0), never a silent 0.

use std::collections::HashMap;
use std::sync::LazyLock;

use minijinja::{Environment, UndefinedBehavior};
use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::error::{Location, Result, ScoreError};
use crate::suite::Example;
use crate::types::{ChatRequest, ExampleRequest, Message, ResponseRecord, Role, Sampling};

/// What the judge's verdicts range over.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum JudgeScale {
    /// pass / fail (yes / no): 1 or 0.
    PassFail,
    /// A number from `min` to `max`, mapped linearly onto [0, 1].
    Range {
        /// Lowest score.
        min: f64,
        /// Highest score.
        max: f64,
    },
}

impl JudgeScale {
    /// Parses `pass_fail` or `<min>-<max>` (integers, `min < max`).
    pub fn parse(text: &str) -> std::result::Result<JudgeScale, String> {
        let t = text.trim();
        if t.eq_ignore_ascii_case("pass_fail") {
            return Ok(JudgeScale::PassFail);
        }
        let range = t.split_once('-').and_then(|(a, b)| {
            let (a, b) = (a.trim().parse::<i64>().ok()?, b.trim().parse::<i64>().ok()?);
            (a < b).then_some(JudgeScale::Range {
                min: a as f64,
                max: b as f64,
            })
        });
        range.ok_or_else(|| {
            format!("{text:?} is not a scale\nhint: write \"1-5\", \"0-10\" or \"pass_fail\"")
        })
    }
}

/// A judge metric's settings, validated.
#[derive(Debug, Clone)]
pub struct JudgeSpec {
    /// The `[[eval.judges]]` entry that judges.
    pub judge: String,
    /// The rubric template (checked when the suite loads).
    pub rubric: String,
    /// Verdict range.
    pub scale: JudgeScale,
    /// Where the verdict is in the judge's answer.
    pub pattern: Option<Regex>,
    /// Most tokens the judge may answer with.
    pub max_tokens: u32,
}

/// Default verdict readers (see the module docs).
static SCORE_AFTER_WORD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\bscore\b[^0-9\-+]{0,20}([-+]?\d+(?:\.\d+)?)").unwrap_or_else(|e| {
        unreachable!("constant regex: {e}") // checked by the tests
    })
});
static PASS_FAIL_WORD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(pass|fail|yes|no)\b")
        .unwrap_or_else(|e| unreachable!("constant regex: {e}"))
});

impl JudgeSpec {
    /// Checks that `rubric` is a valid template; `at` names the metric for messages.
    pub fn check_rubric(rubric: &str, at: Location) -> Result<()> {
        environment()
            .template_from_str(rubric)
            .map(|_| ())
            .map_err(|e| ScoreError::input(at, format!("bad rubric template: {e}")))
    }

    /// The rubric rendered for one answered example.
    pub fn render(&self, example: &Example, response: &str) -> std::result::Result<String, String> {
        let prompt = example
            .messages
            .iter()
            .rev()
            .find(|m| m.role == Role::User)
            .map_or("", |m| m.content.as_str());
        environment()
            .render_str(
                &self.rubric,
                minijinja::context! {
                    prompt => prompt,
                    response => response,
                    reference => example.references.first(),
                    references => &example.references,
                    system => &example.system,
                },
            )
            .map_err(|e| format!("cannot render the rubric: {e}"))
    }

    /// The verdict in the judge's `answer`, mapped onto [0, 1].
    pub fn verdict(&self, answer: &str) -> std::result::Result<f64, String> {
        let shown: String = answer.chars().take(120).collect();
        let found = match &self.pattern {
            Some(re) => re
                .captures(answer)
                .and_then(|c| c.get(1).or_else(|| c.get(0)))
                .map(|m| m.as_str().trim().to_owned()),
            None => match self.scale {
                JudgeScale::PassFail => PASS_FAIL_WORD
                    .captures(answer)
                    .map(|c| c[1].to_ascii_lowercase()),
                JudgeScale::Range { .. } => SCORE_AFTER_WORD
                    .captures(answer)
                    .map(|c| c[1].to_owned())
                    .or_else(|| {
                        let t = answer.trim();
                        t.parse::<f64>().is_ok().then(|| t.to_owned())
                    }),
            },
        };
        let Some(found) = found else {
            return Err(format!(
                "no verdict in the judge's answer {shown:?}\nhint: make the rubric ask for {}, or set the metric's `pattern`",
                match self.scale {
                    JudgeScale::PassFail => "\"PASS\" or \"FAIL\"".to_owned(),
                    JudgeScale::Range { min, max } => format!("\"Score: <{min}-{max}>\""),
                }
            ));
        };
        match self.scale {
            JudgeScale::PassFail => match found.to_ascii_lowercase().as_str() {
                "pass" | "yes" => Ok(1.0),
                "fail" | "no" => Ok(0.0),
                other => Err(format!(
                    "the judge's verdict {other:?} is not pass/fail/yes/no (answer {shown:?})"
                )),
            },
            JudgeScale::Range { min, max } => {
                let n: f64 = found.parse().map_err(|_| {
                    format!("the judge's verdict {found:?} is not a number (answer {shown:?})")
                })?;
                if !(min..=max).contains(&n) {
                    return Err(format!(
                        "the judge's score {n} is outside {min}-{max} (answer {shown:?})"
                    ));
                }
                Ok((n - min) / (max - min))
            }
        }
    }

    /// The judge's requests for `candidate`'s answered responses (errored ones are not
    /// judged), with ids `<candidate>/<example id>`, and the rubrics that failed to render.
    pub fn requests(
        &self,
        candidate: &str,
        examples: &[Example],
        responses: &[ResponseRecord],
    ) -> (Vec<ExampleRequest>, HashMap<String, String>) {
        let by_id: HashMap<&str, &ResponseRecord> =
            responses.iter().map(|r| (r.id.as_str(), r)).collect();
        let mut requests = Vec::new();
        let mut failed = HashMap::new();
        for e in examples {
            let Some(r) = by_id.get(e.id.as_str()).filter(|r| r.error.is_none()) else {
                continue;
            };
            match self.render(e, &r.text) {
                Ok(rubric) => requests.push(ExampleRequest {
                    id: judged_id(candidate, &e.id),
                    request: ChatRequest {
                        system: None,
                        messages: vec![Message {
                            role: Role::User,
                            content: rubric,
                        }],
                        sampling: Sampling {
                            max_tokens: self.max_tokens,
                            ..Sampling::default()
                        },
                        scoring: None,
                    },
                }),
                Err(msg) => {
                    failed.insert(e.id.clone(), msg);
                }
            }
        }
        (requests, failed)
    }
}

/// The judge request id of `candidate`'s answer to example `id`.
pub fn judged_id(candidate: &str, id: &str) -> String {
    format!("{candidate}/{id}")
}

fn environment<'s>() -> Environment<'s> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env
}

/// What a judge did for one metric of one candidate: its own accounting.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JudgeTally {
    /// The judge's name.
    pub judge: String,
    /// Examples sent to the judge.
    pub judged: usize,
    /// Examples without a usable verdict (call failed, unparseable or out of range).
    pub failed: usize,
    /// Judge input tokens.
    pub input_tokens: u64,
    /// Judge output tokens.
    pub output_tokens: u64,
    /// Judge answers from the response cache.
    pub cached: usize,
    /// Dollars the judge cost in this run.
    pub cost_usd: f64,
}

/// A judge metric's verdicts on one candidate's answers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Judged {
    /// Example id → value in [0, 1], or why there is none.
    pub verdicts: HashMap<String, std::result::Result<f64, String>>,
    /// The judge's accounting.
    pub tally: JudgeTally,
}

impl Judged {
    /// Verdicts from the judge's `records` (ids `<candidate>/<example id>`), plus the
    /// examples whose rubric did not render.
    pub fn collect(
        spec: &JudgeSpec,
        candidate: &str,
        records: &[ResponseRecord],
        unrendered: HashMap<String, String>,
    ) -> Judged {
        let prefix = format!("{candidate}/");
        let mut verdicts: HashMap<String, std::result::Result<f64, String>> = unrendered
            .into_iter()
            .map(|(id, msg)| (id, Err(msg)))
            .collect();
        let mut tally = JudgeTally {
            judge: spec.judge.clone(),
            judged: records.len(),
            ..JudgeTally::default()
        };
        for r in records {
            let Some(id) = r.id.strip_prefix(&prefix) else {
                continue;
            };
            tally.input_tokens += r.input_tokens;
            tally.output_tokens += r.output_tokens;
            tally.cost_usd += r.cost_usd;
            tally.cached += usize::from(r.cached);
            let verdict = match &r.error {
                Some(e) => Err(format!("the judge call failed: {e}")),
                None => spec.verdict(&r.text),
            };
            verdicts.insert(id.to_owned(), verdict);
        }
        tally.failed = verdicts.values().filter(|v| v.is_err()).count();
        Judged { verdicts, tally }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn spec(scale: &str, pattern: Option<&str>) -> JudgeSpec {
        JudgeSpec {
            judge: "j".into(),
            rubric: "Q: {{ prompt }} A: {{ response }} R: {{ reference }}".into(),
            scale: JudgeScale::parse(scale).unwrap_or_else(|e| panic!("{e}")),
            pattern: pattern.map(|p| Regex::new(p).unwrap_or_else(|e| panic!("{e}"))),
            max_tokens: 64,
        }
    }

    #[test]
    fn scales_parse() {
        assert_eq!(
            JudgeScale::parse("1-5"),
            Ok(JudgeScale::Range { min: 1.0, max: 5.0 })
        );
        assert_eq!(JudgeScale::parse("PASS_FAIL"), Ok(JudgeScale::PassFail));
        assert!(JudgeScale::parse("5-1").is_err());
        assert!(JudgeScale::parse("good").is_err_and(|e| e.contains("hint:")));
    }

    #[test]
    fn verdicts_are_read_mapped_and_refused_clearly() {
        let s = spec("1-5", None);
        assert_eq!(s.verdict("Reasoning... Score: 4"), Ok(0.75));
        assert_eq!(s.verdict("score = 5/5"), Ok(1.0));
        assert_eq!(s.verdict(" 1 "), Ok(0.0));
        let out = s.verdict("Score: 9").unwrap_err();
        assert!(out.contains("outside 1-5"), "{out}");
        let none = s.verdict("I liked it").unwrap_err();
        assert!(
            none.contains("no verdict") && none.contains("hint:"),
            "{none}"
        );

        let pf = spec("pass_fail", None);
        assert_eq!(pf.verdict("Verdict: PASS."), Ok(1.0));
        assert_eq!(pf.verdict("no, it is wrong"), Ok(0.0));
        assert!(pf.verdict("maybe").is_err());

        let custom = spec("0-10", Some(r"Rating: (\d+)"));
        assert_eq!(custom.verdict("Score: 2. Rating: 5"), Ok(0.5));
        assert!(custom.verdict("Score: 2").is_err());
    }

    #[test]
    fn rubrics_render_and_bad_ones_are_named() {
        let e = Example {
            id: "x".into(),
            line: 1,
            system: None,
            messages: vec![Message {
                role: Role::User,
                content: "2+2?".into(),
            }],
            references: vec!["4".into()],
            choices: Vec::new(),
        };
        assert_eq!(
            spec("1-5", None).render(&e, "four").as_deref(),
            Ok("Q: 2+2? A: four R: 4")
        );
        let err = JudgeSpec::check_rubric(
            "{{ oops",
            Location::file("s.toml").field("metrics[0].rubric"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("s.toml: field `metrics[0].rubric`: bad rubric"),
            "{err}"
        );
    }
}
