//! Run history in SQLite: each run's [`RunSummary`] (whole, as JSON), its folder, its gate
//! outcome, and one row per suite, candidate and metric for querying with plain SQL, e.g.
//! `SELECT run_id, value FROM results WHERE suite = 'banking77' AND metric = 'accuracy'`.
//!
//! Appending a run id again replaces that run, so a rerun of the same nightly id does not
//! count twice.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::{ReportError, Result};
use crate::summary::RunSummary;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS runs (
    run_id  TEXT PRIMARY KEY,
    created TEXT NOT NULL,
    dir     TEXT NOT NULL,
    gate    TEXT,
    summary TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS results (
    run_id    TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    suite     TEXT NOT NULL,
    candidate TEXT NOT NULL,
    metric    TEXT NOT NULL,
    value     REAL NOT NULL,
    lower     REAL NOT NULL,
    upper     REAL NOT NULL,
    cost_usd  REAL NOT NULL,
    PRIMARY KEY (run_id, suite, candidate, metric)
);
";

/// Gate outcome stored with a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateOutcome {
    /// Every rule held.
    Pass,
    /// A rule failed.
    Regression,
}

impl GateOutcome {
    fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Regression => "regression",
        }
    }
}

/// A stored run.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRun {
    /// The summary.
    pub summary: RunSummary,
    /// The run folder it was made from.
    pub dir: PathBuf,
    /// The gate's verdict, if the gate ran.
    pub gate: Option<String>,
}

/// An open history file.
pub struct History {
    conn: Connection,
    path: PathBuf,
}

impl History {
    /// Opens (creating if needed) the history at `path`.
    ///
    /// # Errors
    /// [`ReportError::History`] when the file cannot be opened or is not a history.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| ReportError::io(parent, e))?;
        }
        let err = |source| ReportError::History {
            path: path.to_path_buf(),
            source,
        };
        let conn = Connection::open(path).map_err(err)?;
        conn.execute_batch("PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;")
            .map_err(err)?;
        conn.execute_batch(SCHEMA).map_err(err)?;
        Ok(Self {
            conn,
            path: path.to_path_buf(),
        })
    }

    fn err(&self, source: rusqlite::Error) -> ReportError {
        ReportError::History {
            path: self.path.clone(),
            source,
        }
    }

    /// Stores `run` (made from the folder `dir`), replacing a run with the same id; its gate
    /// outcome is kept when the run was stored before.
    ///
    /// # Errors
    /// [`ReportError::History`] when the write fails (nothing is written then).
    pub fn append(&mut self, run: &RunSummary, dir: &Path) -> Result<()> {
        let json = serde_json::to_string(run)
            .map_err(|e| ReportError::Gate(format!("cannot serialise the summary: {e}")))?;
        let path = self.path.clone();
        let err = |source| ReportError::History {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(err)?;
        let gate: Option<String> = tx
            .query_row(
                "SELECT gate FROM runs WHERE run_id = ?1",
                [&run.run_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(err)?
            .flatten();
        tx.execute("DELETE FROM runs WHERE run_id = ?1", [&run.run_id])
            .map_err(err)?;
        tx.execute(
            "INSERT INTO runs (run_id, created, dir, gate, summary) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![run.run_id, run.created, dir.to_string_lossy(), gate, json],
        )
        .map_err(err)?;
        {
            let mut insert = tx
                .prepare(
                    "INSERT INTO results (run_id, suite, candidate, metric, value, lower, upper, cost_usd)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .map_err(err)?;
            for s in &run.suites {
                for c in &s.candidates {
                    let metrics = std::iter::once(("score", c.score))
                        .chain(c.metrics.iter().map(|m| (m.name.as_str(), m.estimate)));
                    for (metric, e) in metrics {
                        insert
                            .execute(params![
                                run.run_id, s.suite, c.name, metric, e.value, e.lower, e.upper,
                                c.cost_usd
                            ])
                            .map_err(err)?;
                    }
                }
            }
        }
        tx.commit().map_err(err)
    }

    /// Whether a run with this id is stored.
    ///
    /// # Errors
    /// [`ReportError::History`] when the read fails.
    pub fn contains(&self, run_id: &str) -> Result<bool> {
        self.conn
            .query_row("SELECT 1 FROM runs WHERE run_id = ?1", [run_id], |_| Ok(()))
            .optional()
            .map(|r| r.is_some())
            .map_err(|e| self.err(e))
    }

    /// Records the gate's verdict on a stored run.
    ///
    /// # Errors
    /// [`ReportError::History`] when the write fails or the run is not stored.
    pub fn set_gate(&self, run_id: &str, outcome: GateOutcome) -> Result<()> {
        let n = self
            .conn
            .execute(
                "UPDATE runs SET gate = ?1 WHERE run_id = ?2",
                params![outcome.as_str(), run_id],
            )
            .map_err(|e| self.err(e))?;
        if n == 0 {
            return Err(ReportError::Gate(format!(
                "run {run_id} is not in the history {}",
                self.path.display()
            )));
        }
        Ok(())
    }

    /// The stored runs, oldest first (by creation time); the newest `limit` when given.
    ///
    /// # Errors
    /// [`ReportError::History`] when the read fails or a stored summary is unreadable.
    pub fn runs(&self, limit: Option<usize>) -> Result<Vec<StoredRun>> {
        let limit = limit.map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX));
        let mut stmt = self
            .conn
            .prepare(
                "SELECT summary, dir, gate FROM runs ORDER BY created DESC, rowid DESC LIMIT ?1",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([limit], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (json, dir, gate) = row.map_err(|e| self.err(e))?;
            let summary = RunSummary::from_json(&json).map_err(|e| {
                ReportError::input(&self.path, None, format!("a stored summary: {e}"))
            })?;
            out.push(StoredRun {
                summary,
                dir: PathBuf::from(dir),
                gate,
            });
        }
        out.reverse();
        Ok(out)
    }

    /// The newest run other than `except` whose gate passed.
    ///
    /// # Errors
    /// As [`History::runs`].
    pub fn last_passing(&self, except: &str) -> Result<Option<StoredRun>> {
        Ok(self
            .runs(None)?
            .into_iter()
            .rev()
            .find(|r| r.summary.run_id != except && r.gate.as_deref() == Some("pass")))
    }
}
