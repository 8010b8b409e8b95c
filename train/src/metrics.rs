//! `metrics.csv`: one row per optimizer step, the same columns for local and Bedrock
//! training so reports plot both.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Result, io};

/// Column names, in order.
pub const COLUMNS: &str = "step,epoch,train_loss,val_loss,lr,grad_norm,tokens_per_s,elapsed_s";

/// Columns a reinforcement fine-tuning job's `metrics.csv` adds after [`COLUMNS`]: the mean,
/// lowest and highest reward of each step's batch, and the mean validation reward.
pub const REWARD_COLUMNS: &str = "train_reward,train_reward_min,train_reward_max,val_reward";

/// One row; `val_loss` only on steps that ran validation.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Optimizer step (1-based).
    pub step: usize,
    /// Fractional epoch at the end of the step.
    pub epoch: f64,
    /// Mean loss per target token over the step's batch.
    pub train_loss: f64,
    /// Mean validation loss per target token.
    pub val_loss: Option<f64>,
    /// Learning rate used by the step.
    pub lr: f64,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
    /// Real tokens per second of this step.
    pub tokens_per_s: f64,
    /// Training wall time so far.
    pub elapsed_s: f64,
}

impl Row {
    fn line(&self) -> String {
        let val = self.val_loss.map(|v| format!("{v:.6}")).unwrap_or_default();
        format!(
            "{},{:.4},{:.6},{val},{:.6e},{:.6},{:.1},{:.3}\n",
            self.step,
            self.epoch,
            self.train_loss,
            self.lr,
            self.grad_norm,
            self.tokens_per_s,
            self.elapsed_s
        )
    }
}

/// Appends rows to `metrics.csv`, flushing each so a kill loses nothing written.
pub struct MetricsLog {
    path: PathBuf,
    file: std::fs::File,
}

impl MetricsLog {
    /// Opens `path` for a run continuing after step `after`: rows of later steps (written
    /// after the last checkpoint by a run that was then killed) are dropped, atomically.
    pub fn open(path: &Path, after: usize) -> Result<Self> {
        let kept: Vec<String> = match std::fs::read_to_string(path) {
            Ok(text) => text
                .lines()
                .skip(1)
                .filter(|l| {
                    l.split(',')
                        .next()
                        .and_then(|s| s.parse::<usize>().ok())
                        .is_some_and(|s| s <= after)
                })
                .map(str::to_string)
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io(path)(e)),
        };
        let mut text = format!("{COLUMNS}\n");
        for l in kept {
            text.push_str(&l);
            text.push('\n');
        }
        tunebench_models::weights::write_atomic(path, text.as_bytes())?;
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(io(path))?;
        Ok(MetricsLog {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Appends one row.
    pub fn write(&mut self, row: &Row) -> Result<()> {
        self.file
            .write_all(row.line().as_bytes())
            .and_then(|()| self.file.flush())
            .map_err(io(&self.path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(step: usize) -> Row {
        Row {
            step,
            epoch: 0.5,
            train_loss: 2.0,
            val_loss: (step == 2).then_some(1.5),
            lr: 1e-4,
            grad_norm: 0.25,
            tokens_per_s: 100.0,
            elapsed_s: 1.0,
        }
    }

    #[test]
    fn reopening_drops_rows_after_the_checkpoint() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("metrics.csv");
        let mut log = MetricsLog::open(&path, 0).unwrap();
        for s in 1..=4 {
            log.write(&row(s)).unwrap();
        }
        drop(log);
        MetricsLog::open(&path, 2).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], COLUMNS);
        assert_eq!(lines.len(), 3);
        assert_eq!(
            lines[2],
            "2,0.5000,2.000000,1.500000,1.000000e-4,0.250000,100.0,1.000"
        );
    }
}
