//! Reward functions ("graders") run on this machine: the program a Bedrock reinforcement
//! fine-tuning job calls as its Lambda, run locally on real answers before a job is paid for.
//!
//! The contract is the Lambda's batch contract, as JSON: the grader reads a list of samples
//! `[{"id", "messages": [{"role", "content"}, …], "reference_answer", …}]` (the model's
//! answer is the last, `assistant`, message; any other field of the sample is passed along)
//! and writes a list of grades `[{"id", "aggregate_reward_score", "metrics_list": [{"name",
//! "value", "type": "Reward" | "Metric"}]}]`.
//!
//! A grader is either a `command` that reads the samples on stdin and writes the grades on
//! stdout, or a `lambda`: a Python file exposing `lambda_handler(event, context)`, run
//! unchanged through a small shim (`python3`, the file's folder on `sys.path`), so the very
//! file deployed as the Lambda is the one checked here.
//!
//! Samples go in batches of `batch_size`, each with a `timeout_s`. A batch that fails
//! (non-zero exit, timeout, output that is not a list of grades) is rerun one sample at a
//! time, so the sample that crashes the grader is the one reported; every malformed grade is
//! reported by its sample id; nothing is dropped ([`Graded`] has one entry per sample).
//! [`RewardStats`] summarises the rewards and [`RewardStats::problems`] says why they are
//! not worth training on (constant, saturated, mostly errors).
//!
//! Partial (issue 20): the `grader` eval metric, `train bedrock grader-check`, the RFT job
//! settings and the stand-in's RFT jobs are not built yet; this module is their common part.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

fn default_timeout_s() -> f64 {
    60.0
}

fn default_batch_size() -> usize {
    32
}

/// A grader as configured (`[[graders]]`): exactly one of `command` and `lambda`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraderSettings {
    /// Name (metric name, messages).
    pub name: String,
    /// A program and its arguments: samples on stdin, grades on stdout.
    #[serde(default)]
    pub command: Option<Vec<String>>,
    /// A Python file exposing `lambda_handler(event, context)`.
    #[serde(default)]
    pub lambda: Option<PathBuf>,
    /// Seconds one batch may take.
    #[serde(default = "default_timeout_s")]
    pub timeout_s: f64,
    /// Samples per call.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
}

/// One message of a sample.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Turn {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// Text.
    pub content: String,
}

/// What the grader is asked to grade.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Unique id within a call.
    pub id: String,
    /// The conversation, the model's answer last.
    pub messages: Vec<Turn>,
    /// The record's reference answer (any JSON).
    pub reference_answer: Value,
    /// The record's other fields, passed along.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One named figure of a grade.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GradeMetric {
    /// Name.
    pub name: String,
    /// Value.
    pub value: f64,
    /// `Reward` (part of the reward) or `Metric` (reported only).
    #[serde(rename = "type")]
    pub kind: String,
}

/// A sample's grade.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grade {
    /// The reward.
    pub aggregate_reward_score: f64,
    /// Its parts and other figures.
    pub metrics_list: Vec<GradeMetric>,
}

/// Per sample, in order: its grade, or why it has none.
pub type Graded = Vec<Result<Grade, String>>;

/// Why a grader could not be run at all.
#[derive(Debug, thiserror::Error)]
pub enum GraderError {
    /// The settings are unusable.
    #[error("grader `{name}`: {reason}")]
    Settings {
        /// The grader.
        name: String,
        /// What is wrong, and a `hint:` when the fix is known.
        reason: String,
    },
}

/// Runs a Lambda handler file: the event on stdin, the handler's return value on stdout.
const SHIM: &str = r#"import importlib.util, json, os, sys
path = sys.argv[1]
sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
spec = importlib.util.spec_from_file_location("grader", path)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
json.dump(module.lambda_handler(json.load(sys.stdin), None), sys.stdout)
"#;

/// Keeps the end of a grader's stderr for messages.
fn tail(text: &str) -> String {
    const KEEP: usize = 400;
    let text = text.trim();
    match text.char_indices().rev().nth(KEEP) {
        Some((i, _)) => format!("…{}", &text[i..]),
        None => text.to_string(),
    }
}

impl GraderSettings {
    /// Checks the settings; `base` is the folder relative `lambda` paths are under.
    pub fn resolve(mut self, base: &Path) -> Result<Self, GraderError> {
        let bad = |reason: String| GraderError::Settings {
            name: self.name.clone(),
            reason,
        };
        match (&self.command, &self.lambda) {
            (Some(c), None) if c.is_empty() => return Err(bad("command is empty".into())),
            (Some(_), None) => {}
            (None, Some(l)) => {
                let path = tunebench_core::paths::under(base, l);
                if !path.is_file() {
                    return Err(bad(format!("lambda {} is not a file", path.display())));
                }
                self.lambda = Some(path);
            }
            _ => {
                return Err(bad(
                    "give exactly one of `command` (a program: samples on stdin, grades on stdout) and `lambda` (a Python file with lambda_handler)".into(),
                ));
            }
        }
        if self.timeout_s.is_nan() || self.timeout_s <= 0.0 || self.batch_size == 0 {
            return Err(bad("timeout_s and batch_size must be > 0".into()));
        }
        Ok(self)
    }

    fn command(&self) -> Command {
        match (&self.command, &self.lambda) {
            (Some(c), _) => {
                let mut cmd = Command::new(&c[0]);
                cmd.args(&c[1..]);
                cmd
            }
            (None, Some(path)) => {
                let mut cmd = Command::new("python3");
                cmd.arg("-c").arg(SHIM).arg(path);
                cmd
            }
            (None, None) => Command::new("false"),
        }
    }

    /// One call with `samples`: the grades by id, or why the call failed.
    fn call(&self, samples: &[&Sample]) -> Result<HashMap<String, Result<Grade, String>>, String> {
        let input = serde_json::to_vec(samples).map_err(|e| e.to_string())?;
        let mut child = self
            .command()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start the grader: {e}"))?;
        // Stdin, stdout and stderr on their own threads: a grader that writes before it has
        // read everything cannot deadlock with us.
        let mut stdin = child.stdin.take();
        let writer = std::thread::spawn(move || {
            if let Some(s) = stdin.as_mut() {
                let _ = s.write_all(&input);
            }
        });
        let reader = |pipe: Option<Box<dyn Read + Send>>| {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                if let Some(mut p) = pipe {
                    let _ = p.read_to_end(&mut buf);
                }
                buf
            })
        };
        let out = reader(
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        let err = reader(
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        let deadline = Instant::now() + Duration::from_secs_f64(self.timeout_s);
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!("timed out after {} s", self.timeout_s));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => return Err(format!("waiting for the grader: {e}")),
            }
        };
        let _ = writer.join();
        let stdout = out.join().unwrap_or_default();
        let stderr = String::from_utf8_lossy(&err.join().unwrap_or_default()).into_owned();
        if !status.success() {
            return Err(format!("the grader failed ({status}): {}", tail(&stderr)));
        }
        let answer: Value = serde_json::from_slice(&stdout)
            .map_err(|e| format!("the grader's output is not JSON: {e}"))?;
        let Some(items) = answer.as_array() else {
            return Err("the grader's output is not a list of grades".into());
        };
        let mut grades = HashMap::new();
        for (i, item) in items.iter().enumerate() {
            let Some(id) = item["id"].as_str().map(str::to_string) else {
                return Err(format!("grade {i} has no string `id`"));
            };
            let grade = serde_json::from_value::<Grade>(item.clone())
                .map_err(|e| format!("malformed grade: {e}"))
                .and_then(|g| {
                    if !g.aggregate_reward_score.is_finite() {
                        return Err("aggregate_reward_score is not a finite number".into());
                    }
                    match g.metrics_list.iter().find(|m| !(m.kind == "Reward" || m.kind == "Metric") || !m.value.is_finite()) {
                        Some(m) => Err(format!(
                            "metric {:?}: type must be \"Reward\" or \"Metric\" and value a finite number",
                            m.name
                        )),
                        None => Ok(g),
                    }
                });
            if grades.insert(id.clone(), grade).is_some() {
                return Err(format!("sample {id:?} is graded twice"));
            }
        }
        Ok(grades)
    }

    /// Grades `samples`; see the module docs. One entry per sample, in order.
    pub fn grade(&self, samples: &[Sample]) -> Graded {
        let mut out: Graded = Vec::with_capacity(samples.len());
        for batch in samples.chunks(self.batch_size.max(1)) {
            let refs: Vec<&Sample> = batch.iter().collect();
            match self.call(&refs) {
                Ok(mut grades) => {
                    for s in batch {
                        out.push(grades.remove(&s.id).unwrap_or_else(|| {
                            Err("the grader returned no grade for this sample".into())
                        }));
                    }
                }
                Err(e) if batch.len() == 1 => out.push(Err(e)),
                // Find the sample(s) that break it: one at a time.
                Err(_) => {
                    for s in batch {
                        out.push(match self.call(&[s]) {
                            Ok(mut g) => g.remove(&s.id).unwrap_or_else(|| {
                                Err("the grader returned no grade for this sample".into())
                            }),
                            Err(e) => Err(e),
                        });
                    }
                }
            }
        }
        out
    }
}

impl Sample {
    /// A sample of a conversation (`prompt` turns) answered with `answer`.
    pub fn new(id: impl Into<String>, prompt: Vec<Turn>, answer: &str, reference: Value) -> Sample {
        let mut messages = prompt;
        messages.push(Turn {
            role: "assistant".into(),
            content: answer.into(),
        });
        Sample {
            id: id.into(),
            messages,
            reference_answer: reference,
            extra: Map::new(),
        }
    }
}

/// The distribution of a grader's rewards.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RewardStats {
    /// Samples.
    pub n: usize,
    /// Samples without a grade.
    pub errors: usize,
    /// Mean reward of the graded ones.
    pub mean: f64,
    /// Their standard deviation (population).
    pub std: f64,
    /// Lowest reward.
    pub min: f64,
    /// Highest reward.
    pub max: f64,
    /// Share of graded samples at the lowest reward.
    pub share_at_min: f64,
    /// Share of graded samples at the highest reward.
    pub share_at_max: f64,
}

impl RewardStats {
    /// Summarises `graded`.
    pub fn of(graded: &Graded) -> RewardStats {
        let rewards: Vec<f64> = graded
            .iter()
            .filter_map(|g| g.as_ref().ok().map(|g| g.aggregate_reward_score))
            .collect();
        let k = rewards.len().max(1) as f64;
        let mean = rewards.iter().sum::<f64>() / k;
        let std = (rewards.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / k).sqrt();
        let min = rewards.iter().copied().fold(f64::INFINITY, f64::min);
        let max = rewards.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let share = |v: f64| rewards.iter().filter(|&&r| r == v).count() as f64 / k;
        RewardStats {
            n: graded.len(),
            errors: graded.len() - rewards.len(),
            mean,
            std,
            min: if rewards.is_empty() { 0.0 } else { min },
            max: if rewards.is_empty() { 0.0 } else { max },
            share_at_min: share(min),
            share_at_max: share(max),
        }
    }

    /// Why these rewards would teach a model nothing, one line each (empty: worth a job):
    /// most samples without a grade, every reward the same (no signal to learn from), or
    /// at least `saturated` (e.g. 0.95) of them at the top or at the bottom.
    pub fn problems(&self, saturated: f64) -> Vec<String> {
        let mut out = Vec::new();
        if self.errors * 2 > self.n {
            out.push(format!(
                "{} of {} samples have no grade (see the errors by sample id)",
                self.errors, self.n
            ));
        }
        let graded = self.n - self.errors;
        if graded > 0 && self.std == 0.0 {
            out.push(format!(
                "every reward is {}: a constant reward gives the job nothing to learn from",
                self.min
            ));
        } else if graded > 0 && self.share_at_max >= saturated {
            out.push(format!(
                "{:.0}% of the rewards are at the maximum {}: the base model already saturates this reward",
                100.0 * self.share_at_max,
                self.max
            ));
        } else if graded > 0 && self.share_at_min >= saturated {
            out.push(format!(
                "{:.0}% of the rewards are at the minimum {}: the reward almost never rewards anything",
                100.0 * self.share_at_min,
                self.min
            ));
        }
        out
    }
}
