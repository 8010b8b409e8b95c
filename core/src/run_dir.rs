//! The run folder's layout, known here and nowhere else: `tunebench run` writes it, each
//! stage run by hand may write into it (`{run_dir}` in a config), and the report reads it.
//!
//! ```text
//! <runs_dir>/<run id>/
//!   run.json              the run manifest: config hash, stages, their inputs and outputs
//!   aws-audit.jsonl       every AWS call of every stage
//!   data/                 `data prepare`'s outputs and manifest.json
//!   train/<job>/          one folder per training job (local or Bedrock): metrics.csv, …
//!   eval/<suite>/         comparison.json, <candidate>/{responses,scores}.jsonl, …
//!   report/               report.{md,html}, summary.json, gate-junit.xml, …
//! ```

use std::path::{Path, PathBuf};

/// A run folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDir(PathBuf);

impl RunDir {
    /// The run folder at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        RunDir(root.into())
    }

    /// The folder itself.
    pub fn root(&self) -> &Path {
        &self.0
    }

    /// `run.json`, the run manifest.
    pub fn manifest(&self) -> PathBuf {
        self.0.join("run.json")
    }

    /// `aws-audit.jsonl`, where every stage logs its AWS calls.
    pub fn audit_log(&self) -> PathBuf {
        self.0.join(AUDIT_FILE)
    }

    /// `data/`: the prepared data set.
    pub fn data(&self) -> PathBuf {
        self.0.join("data")
    }

    /// `train/`: one folder per training job.
    pub fn train(&self) -> PathBuf {
        self.0.join("train")
    }

    /// `train/<job>/`.
    pub fn train_job(&self, job: &str) -> PathBuf {
        self.train().join(job)
    }

    /// `eval/`: one folder per suite.
    pub fn eval(&self) -> PathBuf {
        self.0.join("eval")
    }

    /// `report/`.
    pub fn report(&self) -> PathBuf {
        self.0.join("report")
    }

    /// `report/gate-junit.xml`, the gate's verdict for CI.
    pub fn gate_junit(&self) -> PathBuf {
        self.report().join("gate-junit.xml")
    }
}

/// The AWS audit log's file name, in a run folder or in a command's output folder.
pub const AUDIT_FILE: &str = "aws-audit.jsonl";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stage_has_its_own_folder_under_the_root() {
        let run = RunDir::new("/r/nightly");
        let all = [
            run.manifest(),
            run.audit_log(),
            run.data(),
            run.train_job("lora"),
            run.eval(),
            run.report(),
            run.gate_junit(),
        ];
        for (i, a) in all.iter().enumerate() {
            assert!(a.starts_with(run.root()), "{}", a.display());
            for b in &all[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert_eq!(run.train_job("lora"), Path::new("/r/nightly/train/lora"));
    }
}
