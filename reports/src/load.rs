//! Reading one run's results: `<run>/eval/<suite>/comparison.json`, each candidate's
//! `summary.json` and `scores.jsonl` beside it, `<run>/eval/registry.json` (which registry
//! version each `registry:` candidate was), and `<run>/train/<job>/metrics.csv` of local
//! and Bedrock training (both write the same columns).

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tunebench_scoring::compare::{Comparison, FORMAT, format_of, format1};
use tunebench_scoring::score::{ExampleScore, Summary};

use crate::error::{ReportError, Result};

/// Everything a report shows of one run.
#[derive(Debug, Clone)]
pub struct RunResults {
    /// The run's id (its folder name unless given).
    pub run_id: String,
    /// The run folder.
    pub dir: PathBuf,
    /// One entry per suite, by suite name.
    pub suites: Vec<SuiteResults>,
    /// One curve per training job, by job name.
    pub training: Vec<TrainingCurve>,
    /// The registry versions the eval's `registry:` candidates were.
    pub models: Vec<RegistryModel>,
}

/// The file in a run's eval folder that names the registry version behind each
/// `registry:` candidate, written when the eval resolves them.
pub const REGISTRY_FILE: &str = "registry.json";

/// One `registry:` candidate of a run and the version it was when the run evaluated it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegistryModel {
    /// The candidate's name in the eval.
    pub candidate: String,
    /// What the config asked for, e.g. `support-bot@prod`.
    pub reference: String,
    /// The model.
    pub model: String,
    /// The version it resolved to.
    pub version: u32,
    /// What that version is (a local adapter, a Bedrock ARN, ...).
    pub artifact: String,
}

/// Every candidate on one suite.
#[derive(Debug, Clone)]
pub struct SuiteResults {
    /// The comparison `tunebench eval` wrote.
    pub comparison: Comparison,
    /// The candidates, in the comparison's order.
    pub candidates: Vec<CandidateResults>,
}

impl SuiteResults {
    /// The candidate called `name`.
    pub fn candidate(&self, name: &str) -> Option<&CandidateResults> {
        self.candidates.iter().find(|c| c.summary.candidate == name)
    }
}

/// One candidate on one suite.
#[derive(Debug, Clone)]
pub struct CandidateResults {
    /// Its `summary.json`.
    pub summary: Summary,
    /// Its `scores.jsonl`, in suite order.
    pub examples: Vec<ExampleScore>,
}

/// Losses of one training job over its steps.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainingCurve {
    /// The job (its folder name).
    pub name: String,
    /// Rows of its `metrics.csv`.
    pub points: Vec<LossPoint>,
}

/// One row of a `metrics.csv`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossPoint {
    /// Optimizer step.
    pub step: u64,
    /// Training loss at that step.
    pub train_loss: Option<f64>,
    /// Validation loss, on steps where it was measured.
    pub val_loss: Option<f64>,
    /// Mean reward of the step's batch (reinforcement fine-tuning).
    pub train_reward: Option<f64>,
    /// Mean validation reward, on steps where it was measured (reinforcement fine-tuning).
    pub val_reward: Option<f64>,
}

/// Reads the run in `dir`: its `eval/` and `train/` folders (either may be absent, not both).
///
/// # Errors
/// [`ReportError::Input`] when the folder holds no results or a file is malformed;
/// [`ReportError::Io`] when a file cannot be read.
pub fn load_run(dir: &Path, run_id: Option<&str>) -> Result<RunResults> {
    let layout = tunebench_core::RunDir::new(dir);
    let suites = load_eval(&layout.eval())?;
    let training = load_training(&layout.train())?;
    let registry_file = layout.eval().join(REGISTRY_FILE);
    let models = if registry_file.is_file() {
        read_json(&registry_file)?
    } else {
        Vec::new()
    };
    if suites.is_empty() && training.is_empty() {
        return Err(ReportError::input(
            dir,
            None,
            "no results: expected eval/<suite>/comparison.json or train/<job>/metrics.csv\nhint: run `tunebench run` (or `tunebench eval` with out_dir = \"<run>/eval\") first",
        ));
    }
    let run_id = run_id.map_or_else(
        || {
            dir.file_name()
                .map_or_else(|| "run".to_owned(), |n| n.to_string_lossy().into_owned())
        },
        str::to_owned,
    );
    Ok(RunResults {
        run_id,
        dir: dir.to_path_buf(),
        suites,
        training,
        models,
    })
}

/// Every `<dir>/<suite>/comparison.json` with its candidates, by suite name; none when `dir`
/// does not exist. A comparison of format 1 gets its rows from the candidates' summaries (see
/// [`format1`]).
///
/// # Errors
/// As [`load_run`].
pub fn load_eval(dir: &Path) -> Result<Vec<SuiteResults>> {
    let mut suites = Vec::new();
    for suite_dir in subfolders(dir)? {
        let path = suite_dir.join("comparison.json");
        if !path.is_file() {
            continue;
        }
        let (comparison, candidates) = read_comparison(&suite_dir, &path)?;
        suites.push(SuiteResults {
            comparison,
            candidates,
        });
    }
    Ok(suites)
}

/// The comparison at `path` (in `suite_dir`) in today's format, and its candidates' results.
fn read_comparison(suite_dir: &Path, path: &Path) -> Result<(Comparison, Vec<CandidateResults>)> {
    let candidate = |name: &str| -> Result<CandidateResults> {
        let dir = suite_dir.join(name);
        Ok(CandidateResults {
            summary: read_json(&dir.join("summary.json"))?,
            examples: read_jsonl(&dir.join("scores.jsonl"))?,
        })
    };
    let text = read_text(path)?;
    match format_of(&text).map_err(|e| json_error(path, &e))? {
        1 => {
            let old: format1::Comparison1 = parse_json(path, &text)?;
            let candidates = old.names().map(candidate).collect::<Result<Vec<_>>>()?;
            let summaries: Vec<Summary> = candidates.iter().map(|c| c.summary.clone()).collect();
            Ok((old.upgrade(&summaries), candidates))
        }
        n if n <= FORMAT => {
            let comparison: Comparison = parse_json(path, &text)?;
            let candidates = comparison
                .candidates
                .iter()
                .map(|r| candidate(&r.name))
                .collect::<Result<Vec<_>>>()?;
            Ok((comparison, candidates))
        }
        n => Err(ReportError::input(
            path,
            None,
            format!(
                "comparison format {n} is newer than this tunebench reads (up to {FORMAT})\nhint: upgrade tunebench"
            ),
        )),
    }
}

/// Every `<dir>/<job>/metrics.csv`, by job name; none when `dir` does not exist.
///
/// # Errors
/// As [`load_run`].
pub fn load_training(dir: &Path) -> Result<Vec<TrainingCurve>> {
    let mut curves = Vec::new();
    for job in subfolders(dir)? {
        let path = job.join("metrics.csv");
        if path.is_file() {
            let name = job
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            curves.push(TrainingCurve {
                name,
                points: read_metrics_csv(&path)?,
            });
        }
    }
    Ok(curves)
}

/// Parses a `metrics.csv` (columns found by their header: `step`, `train_loss`, `val_loss`,
/// and for reinforcement fine-tuning `train_reward`, `val_reward`; empty cells are absent
/// values).
///
/// # Errors
/// [`ReportError::Input`] naming the line and column of a value that is not a number.
pub fn read_metrics_csv(path: &Path) -> Result<Vec<LossPoint>> {
    let text = std::fs::read_to_string(path).map_err(|e| ReportError::io(path, e))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let col = |name: &str| header.iter().position(|h| h.trim() == name);
    let step_col = col("step").ok_or_else(|| {
        ReportError::input(
            path,
            Some(1),
            "no `step` column\nhint: expected the metrics.csv that `tunebench train` writes",
        )
    })?;
    let (train_col, val_col) = (col("train_loss"), col("val_loss"));
    let (reward_col, val_reward_col) = (col("train_reward"), col("val_reward"));
    let mut points = Vec::new();
    for (i, line) in lines.enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let cells: Vec<&str> = line.split(',').collect();
        let number = |c: Option<usize>, name: &str| -> Result<Option<f64>> {
            let Some(cell) = c.and_then(|c| cells.get(c)).map(|s| s.trim()) else {
                return Ok(None);
            };
            if cell.is_empty() {
                return Ok(None);
            }
            cell.parse::<f64>().map(Some).map_err(|_| {
                ReportError::input(
                    path,
                    Some(i + 2),
                    format!("column {name}: `{cell}` is not a number"),
                )
            })
        };
        let step = number(Some(step_col), "step")?.ok_or_else(|| {
            ReportError::input(path, Some(i + 2), "column step: empty".to_owned())
        })?;
        points.push(LossPoint {
            step: step as u64,
            train_loss: number(train_col, "train_loss")?,
            val_loss: number(val_col, "val_loss")?,
            train_reward: number(reward_col, "train_reward")?,
            val_reward: number(val_reward_col, "val_reward")?,
        });
    }
    Ok(points)
}

fn subfolders(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(ReportError::io(dir, e)),
    };
    let mut dirs = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| ReportError::io(dir, e))?.path();
        if path.is_dir() {
            dirs.push(path);
        }
    }
    dirs.sort();
    Ok(dirs)
}

pub(crate) fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    parse_json(path, &read_text(path)?)
}

fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| ReportError::io(path, e))
}

/// `text`, the content of `path`, as JSON.
fn parse_json<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| json_error(path, &e))
}

fn json_error(path: &Path, e: &serde_json::Error) -> ReportError {
    ReportError::input(
        path,
        Some(e.line()),
        format!("{e}\nhint: was it written by this version of tunebench?"),
    )
}

fn read_jsonl<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    let text = read_text(path)?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l)
                .map_err(|e| ReportError::input(path, Some(i + 1), e.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_csv_by_header_with_gaps() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("metrics.csv");
        std::fs::write(
            &path,
            "step,epoch,train_loss,val_loss,lr\n1,0.1,2.5,,0.001\n2,0.2,2.0,2.2,0.001\n",
        )
        .expect("write");
        let points = read_metrics_csv(&path).expect("parse");
        assert_eq!(points.len(), 2);
        assert_eq!(points[0].val_loss, None);
        assert_eq!(points[1].val_loss, Some(2.2));
        assert_eq!(points[1].train_loss, Some(2.0));
        assert_eq!(points[1].train_reward, None);
        std::fs::write(
            &path,
            "step,epoch,train_loss,val_loss,lr,grad_norm,tokens_per_s,elapsed_s,train_reward,train_reward_min,train_reward_max,val_reward\n\
             0,1,,,,,,,0.25,0.0,0.4,\n4,1,,,,,,,0.61,0.36,0.76,0.58\n",
        )
        .expect("write");
        let points = read_metrics_csv(&path).expect("reads");
        assert_eq!(points[0].train_reward, Some(0.25));
        assert_eq!(points[0].val_reward, None);
        assert_eq!((points[1].step, points[1].val_reward), (4, Some(0.58)));
        assert_eq!(points[1].train_loss, None);
    }

    #[test]
    fn a_bad_cell_names_line_and_column() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("metrics.csv");
        std::fs::write(&path, "step,train_loss\n1,2.5\n2,oops\n").expect("write");
        let err = read_metrics_csv(&path).expect_err("bad cell").to_string();
        assert!(err.contains("metrics.csv:3"), "{err}");
        assert!(err.contains("train_loss"), "{err}");
    }
}
