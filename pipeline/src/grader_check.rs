//! `tunebench train bedrock grader-check`: the reward function of a reinforcement
//! fine-tuning job run on real answers before the job is paid for.
//!
//! The first `prompts` lines of the job's `train_file` (RFT prompts: chat `messages` and a
//! `reference_answer`) go to an `[[eval.candidates]]` model, usually the base model being
//! tuned, through the eval runner (so its cache, retries and cost accounting apply); its
//! answers go to the `[[eval.graders]]` grader, through the same contract as the job's
//! Lambda. The reward distribution says whether the job can learn anything: constant
//! rewards, rewards saturated at the top or the bottom, or mostly errors are refused.

use std::path::Path;

use serde::Serialize;
use serde_json::Value;
use tunebench_eval::cache::{Cache, CacheMode};
use tunebench_eval::candidate::{self, CandidateSettings};
use tunebench_eval::grader::{RewardStats, Sample, Turn};
use tunebench_eval::runner::{self, RunProgress, RunnerOptions};
use tunebench_eval::types::{ChatRequest, ExampleRequest, Message, Role, Sampling};
use tunebench_train::TrainError;
use tunebench_train::bedrock::BedrockTrainSettings;

use crate::config::Loaded;
use crate::error::{ConfigError, PipelineError, Result};

/// What the check found.
#[derive(Debug, Clone, Serialize)]
pub struct GraderCheck {
    /// The grader.
    pub grader: String,
    /// The candidate that answered.
    pub candidate: String,
    /// Prompts sent.
    pub prompts: usize,
    /// Prompts the candidate did not answer (after its retries), with why.
    pub unanswered: Vec<(String, String)>,
    /// Answers the grader gave no grade for, with why (by prompt id `L<line>`).
    pub ungraded: Vec<(String, String)>,
    /// The rewards of the graded answers.
    pub stats: RewardStats,
    /// Why these rewards would teach the job nothing (empty: worth a job).
    pub problems: Vec<String>,
}

impl GraderCheck {
    /// The check's distribution, the prompts without an answer or a grade (the first 20 of
    /// each), and its verdict, for a person to read.
    pub fn describe(&self) -> String {
        let c = self;
        const SHOWN: usize = 20;
        let s = &c.stats;
        let mut out = format!(
            "grader `{}` on {} answers of `{}` ({} prompts): mean reward {:.4}, std {:.4}, min {} ({:.0}% of them), max {} ({:.0}%)",
            c.grader,
            s.n - s.errors,
            c.candidate,
            c.prompts,
            s.mean,
            s.std,
            s.min,
            100.0 * s.share_at_min,
            s.max,
            100.0 * s.share_at_max
        );
        for (what, list) in [("no answer", &c.unanswered), ("no grade", &c.ungraded)] {
            for (id, why) in list.iter().take(SHOWN) {
                out.push_str(&format!("\n{what}: {id}: {why}"));
            }
            if list.len() > SHOWN {
                out.push_str(&format!("\n{what}: {} more", list.len() - SHOWN));
            }
        }
        match c.problems.is_empty() {
            true => out.push_str("\nthe rewards vary: worth a job"),
            false => {
                for p in &c.problems {
                    out.push_str(&format!("\nproblem: {p}"));
                }
            }
        }
        out
    }

    /// Refuses (exit 2) rewards that would teach a job nothing, unless `force`; `how` is the
    /// hint's way on.
    ///
    /// # Errors
    /// [`TrainError::Refused`] listing the problems.
    pub fn refuse_if_useless(&self, force: bool, how: &str) -> std::result::Result<(), TrainError> {
        if self.problems.is_empty() || force {
            return Ok(());
        }
        Err(TrainError::Refused(format!(
            "the rewards would teach the job nothing: {}\nhint: fix the grader or the prompts, or {how}",
            self.problems.join("; ")
        )))
    }
}

/// One RFT prompt line as a request and the grader's sample parts.
struct Prompt {
    request: ExampleRequest,
    turns: Vec<Turn>,
    reference: Value,
    extra: serde_json::Map<String, Value>,
}

fn read_prompts(path: &Path, n: usize, max_tokens: u32) -> Result<Vec<Prompt>> {
    // Only the first `n` prompts are read: a training file may hold 20,000.
    let io = |source| PipelineError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut out = Vec::new();
    for (i, line) in std::io::BufRead::lines(std::io::BufReader::new(file)).enumerate() {
        if out.len() == n {
            break;
        }
        let line = line.map_err(io)?;
        if line.trim().is_empty() {
            continue;
        }
        let bad = |m: &str| ConfigError(format!("{}:{}: {m}", path.display(), i + 1));
        let Ok(Value::Object(mut obj)) = serde_json::from_str::<Value>(&line) else {
            return Err(bad("not a JSON object").into());
        };
        let messages = obj.remove("messages").unwrap_or(Value::Null);
        let reference = obj.remove("reference_answer").unwrap_or(Value::Null);
        let mut turns = Vec::new();
        for m in messages.as_array().into_iter().flatten() {
            let (Some(role), Some(content)) = (m["role"].as_str(), m["content"].as_str()) else {
                return Err(bad("`messages` entries need `role` and text `content`").into());
            };
            turns.push(Turn {
                role: role.into(),
                content: content.into(),
            });
        }
        let system = turns
            .iter()
            .find(|t| t.role == "system")
            .map(|t| t.content.clone());
        let messages: Vec<Message> = turns
            .iter()
            .filter(|t| t.role != "system")
            .map(|t| Message {
                role: if t.role == "assistant" {
                    Role::Assistant
                } else {
                    Role::User
                },
                content: t.content.clone(),
            })
            .collect();
        if messages.is_empty() {
            return Err(bad("`messages` has no user turn").into());
        }
        out.push(Prompt {
            request: ExampleRequest {
                id: format!("L{}", i + 1),
                request: ChatRequest {
                    system,
                    messages,
                    sampling: Sampling {
                        max_tokens,
                        ..Sampling::default()
                    },
                    scoring: None,
                },
            },
            turns,
            reference,
            extra: obj,
        });
    }
    Ok(out)
}

/// Runs the check `settings.grader_check` describes; `prompts` overrides its count.
///
/// # Errors
/// [`ConfigError`] when the section, the candidate or the grader is missing or the training
/// file is not local; the candidate's and the grader's own failures are in the result, not
/// errors.
pub fn grader_check(
    loaded: &Loaded,
    settings: &BedrockTrainSettings,
    prompts: Option<usize>,
    progress: &dyn RunProgress,
) -> Result<GraderCheck> {
    let check = settings.grader_check.as_ref().ok_or_else(|| {
        ConfigError(format!(
            "{}: no [train.bedrock.grader_check]\nhint: name the grader and the candidate: grader = \"<[[eval.graders]] name>\", candidate = \"<[[eval.candidates]] name>\"",
            loaded.path.display()
        ))
    })?;
    let eval = crate::eval::settings(loaded)?;
    let Some(grader) = eval.graders.iter().find(|g| g.name == check.grader) else {
        return Err(ConfigError(format!(
            "[train.bedrock.grader_check] grader = {:?} is not an [[eval.graders]] name",
            check.grader
        ))
        .into());
    };
    let Some(cand) = eval.candidates.iter().find(|c| c.name() == check.candidate) else {
        let names: Vec<&str> = eval
            .candidates
            .iter()
            .map(CandidateSettings::name)
            .collect();
        return Err(ConfigError(format!(
            "[train.bedrock.grader_check] candidate = {:?} is not an [[eval.candidates]] name ({})",
            check.candidate,
            names.join(", ")
        ))
        .into());
    };
    if settings.train_file.starts_with("s3://") {
        return Err(ConfigError(
            "grader-check reads the prompts from the local train_file, not s3://".into(),
        )
        .into());
    }
    let max_tokens = settings
        .rft
        .as_ref()
        .and_then(|r| r.inference_max_tokens)
        .map_or(1024, |n| n.max(1) as u32);
    let n = prompts.unwrap_or(check.prompts).max(1);
    let lines = read_prompts(Path::new(&settings.train_file), n, max_tokens)?;
    let requests: Vec<ExampleRequest> = lines.iter().map(|p| p.request.clone()).collect();
    let model = candidate::build(cand)?;
    std::fs::create_dir_all(&eval.out_dir).map_err(|source| PipelineError::Io {
        path: eval.out_dir.clone(),
        source,
    })?;
    let cache = Cache::open(eval.cache_path())?;
    let opts = RunnerOptions {
        cache_mode: CacheMode::ReadWrite,
        ..RunnerOptions::default()
    };
    let records = runner::run_blocking(
        model,
        &requests,
        Some(&cache),
        &opts,
        &Default::default(),
        progress,
    )?
    .records;
    let mut unanswered = Vec::new();
    let mut samples = Vec::new();
    for (p, r) in lines.into_iter().zip(&records) {
        if let Some(e) = &r.error {
            unanswered.push((r.id.clone(), e.clone()));
            continue;
        }
        let mut sample = Sample::new(&r.id, p.turns, &r.text, p.reference);
        sample.extra = p.extra;
        samples.push(sample);
    }
    let graded = grader.grade(&samples);
    let ungraded = samples
        .iter()
        .zip(&graded)
        .filter_map(|(s, g)| g.as_ref().err().map(|e| (s.id.clone(), e.clone())))
        .collect();
    let stats = RewardStats::of(&graded);
    let mut problems = stats.problems(check.saturated);
    if unanswered.len() * 2 > requests.len() {
        problems.push(format!(
            "{} of {} prompts got no answer from `{}`",
            unanswered.len(),
            requests.len(),
            check.candidate
        ));
    }
    Ok(GraderCheck {
        grader: grader.name.clone(),
        candidate: check.candidate.clone(),
        prompts: requests.len(),
        unanswered,
        ungraded,
        stats,
        problems,
    })
}
