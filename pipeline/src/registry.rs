//! The model registry: named models, their numbered versions with lineage, aliases a
//! pipeline moves (`prod`, `staging`), and an audit trail of every change. It lives in the
//! run history's SQLite file (`[report] history`), so one file a team keeps on shared storage
//! or in a CI cache holds both the nightly results and which model is in production, and a
//! version's gate verdict is read from the runs that evaluated it.
//!
//! A version is one of:
//! - a local model: a PEFT adapter on a base model, or a full model folder, known by the
//!   digest of its files (the same one the response cache keys answers by); registering the
//!   same files again gives back the existing version;
//! - a Bedrock model, by ARN (custom model, on-demand deployment, provisioned throughput,
//!   imported model);
//! - any eval candidate definition (an OpenAI-compatible endpoint, recorded responses, ...).
//!
//! Aliases keep a stack of holders: `promote` pushes a version, `rollback` pops back to the
//! one before. Promotion is refused unless the newest run whose gate checked the version
//! passed it, or it is forced with a reason, which the audit keeps.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use tunebench_core::time::now_rfc3339;

mod artifact;

pub use artifact::{Artifact, BedrockResource, bedrock_resource, candidate};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS registry_versions (
    model    TEXT NOT NULL,
    version  INTEGER NOT NULL,
    created  TEXT NOT NULL,
    digest   TEXT NOT NULL,
    artifact TEXT NOT NULL,
    lineage  TEXT NOT NULL,
    note     TEXT,
    PRIMARY KEY (model, version),
    UNIQUE (model, digest)
);
CREATE TABLE IF NOT EXISTS registry_aliases (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    model   TEXT NOT NULL,
    alias   TEXT NOT NULL,
    version INTEGER NOT NULL,
    since   TEXT NOT NULL,
    popped  INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS registry_evaluations (
    model     TEXT NOT NULL,
    version   INTEGER NOT NULL,
    run_id    TEXT NOT NULL,
    suite     TEXT NOT NULL,
    candidate TEXT NOT NULL,
    score     REAL NOT NULL,
    lower     REAL NOT NULL,
    upper     REAL NOT NULL,
    cost_usd  REAL NOT NULL,
    gate      TEXT,
    PRIMARY KEY (model, version, run_id, suite)
);
CREATE TABLE IF NOT EXISTS registry_audit (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    at       TEXT NOT NULL,
    who      TEXT NOT NULL,
    model    TEXT NOT NULL,
    action   TEXT NOT NULL,
    version  INTEGER,
    alias    TEXT,
    previous INTEGER,
    forced   INTEGER NOT NULL DEFAULT 0,
    reason   TEXT
);
";

/// `version = "latest"` in a reference: the newest version.
pub const LATEST: &str = "latest";

/// Why a registry operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The SQLite file.
    #[error("{}: model registry: {source}", path.display())]
    Store {
        /// The file.
        path: PathBuf,
        /// The failure.
        source: rusqlite::Error,
    },
    /// A name, version or alias that does not exist, or a change the rules refuse.
    #[error("{0}")]
    Refused(String),
}

impl tunebench_core::UserFault for RegistryError {
    fn is_user_fault(&self) -> bool {
        matches!(self, RegistryError::Refused(_))
    }
}

type Result<T, E = RegistryError> = std::result::Result<T, E>;

/// Where a version came from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Lineage {
    /// The run that made it.
    pub run_id: Option<String>,
    /// That run's folder.
    pub run_dir: Option<PathBuf>,
    /// sha256 of the run's config file.
    pub config_sha256: Option<String>,
    /// sha256 of the prepared data's `manifest.json`.
    pub data_manifest_sha256: Option<String>,
    /// The base model it was trained from.
    pub base_model: Option<String>,
    /// The training's `summary.json` (local) or job record (Bedrock).
    pub training: Option<serde_json::Value>,
}

/// One version of a model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Version {
    /// The model's name.
    pub model: String,
    /// Its number, from 1.
    pub version: u32,
    /// When it was registered.
    pub created: String,
    /// What it is.
    pub artifact: Artifact,
    /// Its digest when registered: a local model's file digest, a Bedrock ARN, a
    /// candidate's definition.
    pub digest: String,
    /// Where it came from.
    pub lineage: Lineage,
    /// Free text given at registration.
    pub note: Option<String>,
    /// The aliases it holds now.
    pub aliases: Vec<String>,
    /// The verdict of the newest run whose gate checked it (`pass` or `regression`), if
    /// any did.
    pub gate: Option<String>,
    /// Its results in the runs that evaluated it, oldest first.
    pub evaluations: Vec<Evaluation>,
}

/// A version's aggregate score on one suite of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// The run.
    pub run_id: String,
    /// The suite.
    pub suite: String,
    /// The candidate name it had in that run.
    pub candidate: String,
    /// Weighted aggregate score.
    pub score: f64,
    /// Lower end of its 95% interval.
    pub lower: f64,
    /// Upper end.
    pub upper: f64,
    /// Dollars spent.
    pub cost_usd: f64,
    /// `pass` or `regression` when the run's gate checked this candidate on this suite.
    pub gate: Option<String>,
}

/// A model and what it has.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelEntry {
    /// The name.
    pub name: String,
    /// How many versions.
    pub versions: u32,
    /// The newest version.
    pub latest: u32,
    /// Alias → version, by alias.
    pub aliases: Vec<(String, u32)>,
}

/// One line of the audit trail.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    /// When (UTC, RFC 3339).
    pub at: String,
    /// Who: the CI job, else the OS user ([`actor`]).
    pub who: String,
    /// `register`, `promote` or `rollback`.
    pub action: String,
    /// The version registered, or the alias's new holder.
    pub version: Option<u32>,
    /// The alias moved.
    pub alias: Option<String>,
    /// The alias's holder before.
    pub previous: Option<u32>,
    /// Promoted despite the gate.
    pub forced: bool,
    /// Why (required when forced).
    pub reason: Option<String>,
}

/// `NAME`, `NAME@VERSION`, `NAME@ALIAS` or `NAME@latest`, with or without `registry:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The model.
    pub model: String,
    /// Which of its versions.
    pub selector: Selector,
}

/// Which version a reference means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// By number.
    Number(u32),
    /// Whatever the alias points at.
    Alias(String),
    /// The newest.
    Latest,
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.selector {
            Selector::Number(n) => write!(f, "{}@{n}", self.model),
            Selector::Alias(a) => write!(f, "{}@{a}", self.model),
            Selector::Latest => write!(f, "{}@{LATEST}", self.model),
        }
    }
}

impl Reference {
    /// Parses a reference.
    ///
    /// # Errors
    /// [`RegistryError::Refused`] for an empty or malformed name or selector.
    pub fn parse(text: &str) -> Result<Reference> {
        let body = text.strip_prefix("registry:").unwrap_or(text);
        let (model, selector) = match body.split_once('@') {
            Some((m, s)) => (m, Some(s)),
            None => (body, None),
        };
        check_name("model", model)?;
        let selector = match selector {
            None | Some(LATEST) => Selector::Latest,
            Some(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
                Selector::Number(s.parse().map_err(|_| {
                    RegistryError::Refused(format!("version `{s}` of `{text}` is too large"))
                })?)
            }
            Some(s) => {
                check_name("alias", s)?;
                Selector::Alias(s.to_owned())
            }
        };
        Ok(Reference {
            model: model.to_owned(),
            selector,
        })
    }
}

/// Model and alias names: letters, digits, `-`, `_`, `.`; an alias is not all digits (that
/// is a version) and not `latest`.
fn check_name(what: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    let reserved = what == "alias" && (name == LATEST || name.bytes().all(|b| b.is_ascii_digit()));
    if ok && !reserved {
        return Ok(());
    }
    Err(RegistryError::Refused(format!(
        "`{name}` cannot be a {what} name\nhint: use letters, digits, '-', '_' and '.'{}",
        if what == "alias" {
            "; an alias is not a number and not `latest`"
        } else {
            ""
        }
    )))
}

/// Who makes a change: `$TUNEBENCH_ACTOR`; else the CI job (GitHub Actions, GitLab CI,
/// Jenkins, or any CI that sets `CI_JOB_ID`); else the OS user.
pub fn actor() -> String {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if let Some(a) = var("TUNEBENCH_ACTOR") {
        return a;
    }
    if let (Some(repo), Some(run)) = (var("GITHUB_REPOSITORY"), var("GITHUB_RUN_ID")) {
        return format!("github-actions:{repo}#{run}");
    }
    if let Some(job) = var("CI_JOB_ID") {
        let project = var("CI_PROJECT_PATH").map_or_else(String::new, |p| format!("{p}#"));
        return format!("ci:{project}{job}");
    }
    if let Some(tag) = var("BUILD_TAG") {
        return format!("jenkins:{tag}");
    }
    var("USER")
        .or_else(|| var("LOGNAME"))
        .or_else(|| var("USERNAME"))
        .unwrap_or_else(|| "unknown".into())
}

/// The outcome of [`Registry::register`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Registered {
    /// The model.
    pub model: String,
    /// The version number.
    pub version: u32,
    /// False when the same artifact was registered before (that version is returned).
    pub created: bool,
}

/// The outcome of [`Registry::promote`] and [`Registry::rollback`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AliasMove {
    /// The model.
    pub model: String,
    /// The alias.
    pub alias: String,
    /// Its holder now.
    pub version: u32,
    /// Its holder before (none: the alias is new).
    pub previous: Option<u32>,
}

/// An open registry.
pub struct Registry {
    conn: Connection,
    path: PathBuf,
}

impl Registry {
    /// Opens (creating if needed) the registry in the history file `path`.
    ///
    /// # Errors
    /// The file cannot be created or opened, or is not SQLite.
    pub fn open(path: &Path) -> Result<Registry> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| {
                RegistryError::Refused(format!("cannot create {}: {e}", parent.display()))
            })?;
        }
        let err = store_err(path);
        let conn = Connection::open(path).map_err(&err)?;
        conn.execute_batch("PRAGMA busy_timeout = 5000;")
            .map_err(&err)?;
        conn.execute_batch(SCHEMA).map_err(&err)?;
        Ok(Registry {
            conn,
            path: path.to_path_buf(),
        })
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> RegistryError + use<> {
        store_err(&self.path)
    }

    /// Registers `artifact` as the next version of `model` (created on first use), unless
    /// the same artifact is a version already: then that version is returned.
    ///
    /// # Errors
    /// A bad name, an artifact that cannot be read or is not a Bedrock model ARN, or a write
    /// that fails.
    pub fn register(
        &mut self,
        model: &str,
        artifact: &Artifact,
        lineage: &Lineage,
        note: Option<&str>,
    ) -> Result<Registered> {
        check_name("model", model)?;
        let digest = artifact.digest()?;
        let (artifact, lineage) = (to_json(artifact)?, to_json(lineage)?);
        let err = store_err(&self.path);
        if let Some(version) = self.with_digest(model, &digest)? {
            return Ok(Registered {
                model: model.to_owned(),
                version,
                created: false,
            });
        }
        let tx = self.conn.transaction().map_err(&err)?;
        let version: u32 = tx
            .query_row(
                "SELECT COALESCE(MAX(version), 0) + 1 FROM registry_versions WHERE model = ?1",
                [model],
                |r| r.get(0),
            )
            .map_err(&err)?;
        let now = now_rfc3339();
        tx.execute(
            "INSERT INTO registry_versions (model, version, created, digest, artifact, lineage, note)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![model, version, now, digest, artifact, lineage, note],
        )
        .map_err(&err)?;
        audit(
            &tx,
            model,
            "register",
            Some(version),
            None,
            None,
            false,
            note,
        )
        .map_err(&err)?;
        tx.commit().map_err(&err)?;
        Ok(Registered {
            model: model.to_owned(),
            version,
            created: true,
        })
    }

    /// The version of `model` that is `artifact`, if one is; an artifact that cannot be
    /// read (a folder since deleted) is none.
    ///
    /// # Errors
    /// A read that fails.
    pub fn find(&self, model: &str, artifact: &Artifact) -> Result<Option<u32>> {
        match artifact.digest() {
            Ok(digest) => self.with_digest(model, &digest),
            Err(_) => Ok(None),
        }
    }

    fn with_digest(&self, model: &str, digest: &str) -> Result<Option<u32>> {
        self.conn
            .query_row(
                "SELECT version FROM registry_versions WHERE model = ?1 AND digest = ?2",
                params![model, digest],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.err())
    }

    /// Every model, by name.
    ///
    /// # Errors
    /// A read that fails.
    pub fn models(&self) -> Result<Vec<ModelEntry>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT model, COUNT(*), MAX(version) FROM registry_versions GROUP BY model ORDER BY model",
            )
            .map_err(self.err())?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(self.err())?
            .collect::<rusqlite::Result<Vec<(String, u32, u32)>>>()
            .map_err(self.err())?;
        rows.into_iter()
            .map(|(name, versions, latest)| {
                Ok(ModelEntry {
                    aliases: self.aliases(&name)?,
                    name,
                    versions,
                    latest,
                })
            })
            .collect()
    }

    /// The aliases of `model` and their holders, by alias.
    fn aliases(&self, model: &str) -> Result<Vec<(String, u32)>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT alias, version FROM registry_aliases a
                 WHERE model = ?1 AND popped = 0
                   AND seq = (SELECT MAX(seq) FROM registry_aliases b
                              WHERE b.model = a.model AND b.alias = a.alias AND b.popped = 0)
                 ORDER BY alias",
            )
            .map_err(self.err())?;
        stmt.query_map([model], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(self.err())?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.err())
    }

    /// Every version of `model`, oldest first.
    ///
    /// # Errors
    /// An unknown model, or a read that fails.
    pub fn versions(&self, model: &str) -> Result<Vec<Version>> {
        let latest = self.latest(model)?;
        (1..=latest).map(|n| self.version(model, n)).collect()
    }

    /// The newest version number of `model`.
    fn latest(&self, model: &str) -> Result<u32> {
        let latest: Option<u32> = self
            .conn
            .query_row(
                "SELECT MAX(version) FROM registry_versions WHERE model = ?1",
                [model],
                |r| r.get(0),
            )
            .map_err(self.err())?;
        latest.ok_or_else(|| {
            let known: Vec<String> = self
                .models()
                .map(|m| m.into_iter().map(|m| format!("`{}`", m.name)).collect())
                .unwrap_or_default();
            RegistryError::Refused(format!(
                "no model `{model}` in the registry {}\nhint: {}",
                self.path.display(),
                if known.is_empty() {
                    "it is empty: `tunebench model register` adds a version, and so does `tunebench run` with [registry] model = \"...\"".to_owned()
                } else {
                    format!("the models are {}", known.join(", "))
                }
            ))
        })
    }

    /// The version `reference` means now.
    ///
    /// # Errors
    /// An unknown model, version or alias.
    pub fn resolve(&self, reference: &Reference) -> Result<Version> {
        let model = &reference.model;
        let latest = self.latest(model)?;
        let number = match &reference.selector {
            Selector::Latest => latest,
            Selector::Number(n) if (1..=latest).contains(n) => *n,
            Selector::Number(n) => {
                return Err(RegistryError::Refused(format!(
                    "`{model}` has no version {n}\nhint: its versions are 1 to {latest}"
                )));
            }
            Selector::Alias(a) => {
                let aliases = self.aliases(model)?;
                match aliases.iter().find(|(name, _)| name == a) {
                    Some((_, v)) => *v,
                    None => {
                        let known: Vec<String> =
                            aliases.iter().map(|(n, v)| format!("{n} → {v}")).collect();
                        return Err(RegistryError::Refused(format!(
                            "`{model}` has no alias `{a}`{}\nhint: give it one with `tunebench model promote {model} <VERSION> --to {a}`",
                            if known.is_empty() {
                                String::new()
                            } else {
                                format!(" (its aliases: {})", known.join(", "))
                            }
                        )));
                    }
                }
            }
        };
        self.version(model, number)
    }

    /// Version `number` of `model` (which exists).
    fn version(&self, model: &str, number: u32) -> Result<Version> {
        type Row = (String, String, String, String, Option<String>);
        let (created, digest, artifact, lineage, note): Row = self
            .conn
            .query_row(
                "SELECT created, digest, artifact, lineage, note FROM registry_versions
                 WHERE model = ?1 AND version = ?2",
                params![model, number],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .map_err(self.err())?;
        let parse_err = |what: &str, e: serde_json::Error| {
            RegistryError::Refused(format!(
                "{}: {model}@{number}: unreadable {what}: {e}",
                self.path.display()
            ))
        };
        let artifact: Artifact =
            serde_json::from_str(&artifact).map_err(|e| parse_err("artifact", e))?;
        let lineage: Lineage =
            serde_json::from_str(&lineage).map_err(|e| parse_err("lineage", e))?;
        let evaluations = self.evaluations(model, number)?;
        let gate = evaluations.iter().rev().find_map(|e| e.gate.clone());
        Ok(Version {
            model: model.to_owned(),
            version: number,
            created,
            digest,
            aliases: self
                .aliases(model)?
                .into_iter()
                .filter(|(_, v)| *v == number)
                .map(|(a, _)| a)
                .collect(),
            artifact,
            lineage,
            note,
            gate,
            evaluations,
        })
    }

    fn evaluations(&self, model: &str, version: u32) -> Result<Vec<Evaluation>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT run_id, suite, candidate, score, lower, upper, cost_usd, gate
                 FROM registry_evaluations WHERE model = ?1 AND version = ?2
                 ORDER BY rowid",
            )
            .map_err(self.err())?;
        stmt.query_map(params![model, version], |r| {
            Ok(Evaluation {
                run_id: r.get(0)?,
                suite: r.get(1)?,
                candidate: r.get(2)?,
                score: r.get(3)?,
                lower: r.get(4)?,
                upper: r.get(5)?,
                cost_usd: r.get(6)?,
                gate: r.get(7)?,
            })
        })
        .map_err(self.err())?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(self.err())
    }

    /// Records `evaluations` of version `version` of `model` (a rerun of the same run and
    /// suite replaces its row).
    ///
    /// # Errors
    /// A write that fails.
    pub fn record_evaluations(
        &mut self,
        model: &str,
        version: u32,
        evaluations: &[Evaluation],
    ) -> Result<()> {
        let err = store_err(&self.path);
        let tx = self.conn.transaction().map_err(&err)?;
        for e in evaluations {
            tx.execute(
                "INSERT OR REPLACE INTO registry_evaluations
                 (model, version, run_id, suite, candidate, score, lower, upper, cost_usd, gate)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    model,
                    version,
                    e.run_id,
                    e.suite,
                    e.candidate,
                    e.score,
                    e.lower,
                    e.upper,
                    e.cost_usd,
                    e.gate
                ],
            )
            .map_err(&err)?;
        }
        tx.commit().map_err(&err)
    }

    /// Points `alias` of `model` at `version`. Refused unless the newest run whose gate
    /// checked the version passed it, or `force` gives the reason to promote anyway (kept in
    /// the audit).
    ///
    /// # Errors
    /// An unknown model or version, a bad alias name, a refused promotion, a failed write.
    pub fn promote(
        &mut self,
        model: &str,
        version: u32,
        alias: &str,
        force: Option<&str>,
    ) -> Result<AliasMove> {
        check_name("alias", alias)?;
        let v = self.resolve(&Reference {
            model: model.to_owned(),
            selector: Selector::Number(version),
        })?;
        let previous = self
            .aliases(model)?
            .into_iter()
            .find(|(a, _)| a == alias)
            .map(|(_, v)| v);
        if previous == Some(version) {
            return Ok(AliasMove {
                model: model.to_owned(),
                alias: alias.to_owned(),
                version,
                previous,
            });
        }
        let forced = match (v.gate.as_deref(), force) {
            (Some("pass"), _) => false,
            (_, Some(reason)) if !reason.trim().is_empty() => true,
            (gate, _) => {
                let why = match gate {
                    Some(g) => format!("the newest gate that checked it says `{g}`"),
                    None => "no run's gate has checked it".to_owned(),
                };
                return Err(RegistryError::Refused(format!(
                    "promotion of {model}@{version} to `{alias}` refused: {why}\nhint: run the nightly config (its [gate]) on it, or promote anyway with --force --reason \"...\" (recorded in the audit)"
                )));
            }
        };
        let err = store_err(&self.path);
        let tx = self.conn.transaction().map_err(&err)?;
        tx.execute(
            "INSERT INTO registry_aliases (model, alias, version, since) VALUES (?1, ?2, ?3, ?4)",
            params![model, alias, version, now_rfc3339()],
        )
        .map_err(&err)?;
        audit(
            &tx,
            model,
            "promote",
            Some(version),
            Some(alias),
            previous,
            forced,
            force,
        )
        .map_err(&err)?;
        tx.commit().map_err(&err)?;
        Ok(AliasMove {
            model: model.to_owned(),
            alias: alias.to_owned(),
            version,
            previous,
        })
    }

    /// Points `alias` of `model` back at the version that held it before the current one.
    ///
    /// # Errors
    /// An unknown model or alias, an alias with no earlier holder, a failed write.
    pub fn rollback(
        &mut self,
        model: &str,
        alias: &str,
        reason: Option<&str>,
    ) -> Result<AliasMove> {
        self.latest(model)?;
        let holders: Vec<(i64, u32)> = {
            let mut stmt = self
                .conn
                .prepare(
                    "SELECT seq, version FROM registry_aliases
                     WHERE model = ?1 AND alias = ?2 AND popped = 0 ORDER BY seq DESC LIMIT 2",
                )
                .map_err(self.err())?;
            stmt.query_map(params![model, alias], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(self.err())?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(self.err())?
        };
        let (current_seq, current, back_to) = match holders.as_slice() {
            [(seq, cur), (_, prev)] => (*seq, *cur, *prev),
            [(_, cur)] => {
                return Err(RegistryError::Refused(format!(
                    "`{model}@{alias}` has had only version {cur}: there is nothing to roll back to\nhint: promote another version with `tunebench model promote {model} <VERSION> --to {alias}`"
                )));
            }
            _ => {
                return Err(RegistryError::Refused(format!(
                    "`{model}` has no alias `{alias}`"
                )));
            }
        };
        let err = store_err(&self.path);
        let tx = self.conn.transaction().map_err(&err)?;
        tx.execute(
            "UPDATE registry_aliases SET popped = 1 WHERE seq = ?1",
            [current_seq],
        )
        .map_err(&err)?;
        audit(
            &tx,
            model,
            "rollback",
            Some(back_to),
            Some(alias),
            Some(current),
            false,
            reason,
        )
        .map_err(&err)?;
        tx.commit().map_err(&err)?;
        Ok(AliasMove {
            model: model.to_owned(),
            alias: alias.to_owned(),
            version: back_to,
            previous: Some(current),
        })
    }

    /// The audit trail of `model`, oldest first.
    ///
    /// # Errors
    /// A read that fails.
    pub fn audit(&self, model: &str) -> Result<Vec<AuditEntry>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT at, who, action, version, alias, previous, forced, reason
                 FROM registry_audit WHERE model = ?1 ORDER BY seq",
            )
            .map_err(self.err())?;
        stmt.query_map([model], |r| {
            Ok(AuditEntry {
                at: r.get(0)?,
                who: r.get(1)?,
                action: r.get(2)?,
                version: r.get(3)?,
                alias: r.get(4)?,
                previous: r.get(5)?,
                forced: r.get::<_, i64>(6)? != 0,
                reason: r.get(7)?,
            })
        })
        .map_err(self.err())?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(self.err())
    }
}

/// Appends one line to the audit trail, inside the change's transaction.
#[allow(clippy::too_many_arguments)]
fn audit(
    tx: &rusqlite::Transaction<'_>,
    model: &str,
    action: &str,
    version: Option<u32>,
    alias: Option<&str>,
    previous: Option<u32>,
    forced: bool,
    reason: Option<&str>,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO registry_audit (at, who, model, action, version, alias, previous, forced, reason)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            now_rfc3339(),
            actor(),
            model,
            action,
            version,
            alias,
            previous,
            forced,
            reason
        ],
    )
    .map(|_| ())
}

fn to_json<T: Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| RegistryError::Refused(format!("cannot store: {e}")))
}

/// Turns a SQLite error into [`RegistryError::Store`] naming the file.
fn store_err(path: &Path) -> impl Fn(rusqlite::Error) -> RegistryError + use<> {
    let path = path.to_path_buf();
    move |source| RegistryError::Store {
        path: path.clone(),
        source,
    }
}
