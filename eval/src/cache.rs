//! The response cache: one SQLite file (WAL journal, so readers never block the writer and a
//! killed process loses nothing committed) mapping a request key to what the candidate
//! answered.
//!
//! The key is `sha256("tunebench-response-v1\n" + candidate identity + "\n" + canonical JSON
//! of the full ChatRequest)`: every message, the system prompt and every sampling parameter
//! is part of it, so changing any of them misses the cache, and two runs that ask the same
//! candidate the same thing share the answer. Canonical JSON sorts object keys, so the key
//! does not depend on serde_json's map ordering features.
//!
//! The runner commits each answer as it arrives (one short transaction each), so a run that
//! is killed and rerun sends only what was not yet answered. Errors are never cached.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::{EvalError, Result};
use crate::types::ChatRequest;

/// Schema version, in `PRAGMA user_version`.
const SCHEMA_VERSION: i64 = 1;

/// A cached answer.
#[derive(Debug, Clone, PartialEq)]
pub struct CachedResponse {
    /// The answer text.
    pub text: String,
    /// Input tokens of the original call.
    pub input_tokens: u64,
    /// Output tokens of the original call.
    pub output_tokens: u64,
    /// Latency of the original call.
    pub latency_ms: f64,
    /// When it was answered, Unix seconds.
    pub created_at: i64,
}

/// Which cache entries [`Cache::prune`] deletes: those matching every given condition.
#[derive(Debug, Clone, Default)]
pub struct PruneFilter {
    /// Entries older than this.
    pub older_than: Option<Duration>,
    /// Entries of this candidate identity.
    pub candidate: Option<String>,
}

/// How the runner uses the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CacheMode {
    /// Read hits, write new answers.
    #[default]
    ReadWrite,
    /// `--refresh`: call again for everything, overwrite what is cached.
    Refresh,
    /// `--no-cache`: neither read nor write.
    Off,
}

impl CacheMode {
    /// Whether hits are used.
    pub fn reads(self) -> bool {
        self == CacheMode::ReadWrite
    }

    /// Whether answers are stored.
    pub fn writes(self) -> bool {
        self != CacheMode::Off
    }
}

/// An open response cache.
pub struct Cache {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache").field("path", &self.path).finish()
    }
}

impl Cache {
    /// Opens (creating it and its directory if needed) the cache at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Cache> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| EvalError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let err = |source| EvalError::Cache {
            path: path.clone(),
            source,
        };
        let conn = Connection::open(&path).map_err(err)?;
        // Another process (a second `tunebench eval`) may hold the write lock briefly.
        conn.busy_timeout(Duration::from_secs(30)).map_err(err)?;
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .map_err(err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!("{}: WAL journal unavailable (got {mode})", path.display());
        }
        // NORMAL in WAL mode: a commit survives a killed process; only a power loss can undo
        // the last commits, and a lost cache entry costs one repeated call.
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(err)?;
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(err)?;
        if version > SCHEMA_VERSION {
            return Err(EvalError::Cache {
                path: path.clone(),
                source: rusqlite::Error::InvalidParameterName(format!(
                    "schema version {version} is newer than this tunebench's {SCHEMA_VERSION}; upgrade tunebench or use another cache file"
                )),
            });
        }
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS responses (
                key TEXT PRIMARY KEY,
                candidate TEXT NOT NULL,
                text TEXT NOT NULL,
                input_tokens INTEGER NOT NULL,
                output_tokens INTEGER NOT NULL,
                latency_ms REAL NOT NULL,
                created_at INTEGER NOT NULL
            );
            CREATE INDEX IF NOT EXISTS responses_candidate ON responses(candidate);
            CREATE INDEX IF NOT EXISTS responses_created_at ON responses(created_at);
            PRAGMA user_version = 1;",
        )
        .map_err(err)?;
        Ok(Cache {
            path,
            conn: Mutex::new(conn),
        })
    }

    /// The cache file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The cache key of `request` sent to the candidate with `identity`.
    pub fn key(identity: &str, request: &ChatRequest) -> String {
        let value = serde_json::to_value(request).unwrap_or(Value::Null);
        let mut canonical = String::new();
        write_canonical(&value, &mut canonical);
        let mut h = Sha256::new();
        h.update(b"tunebench-response-v1\n");
        h.update(identity.as_bytes());
        h.update(b"\n");
        h.update(canonical.as_bytes());
        hex::encode(h.finalize())
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent (it has its own
        // transactions), so a poisoned lock is still usable.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn err(&self, source: rusqlite::Error) -> EvalError {
        EvalError::Cache {
            path: self.path.clone(),
            source,
        }
    }

    /// The cached answer for `key`.
    pub fn get(&self, key: &str) -> Result<Option<CachedResponse>> {
        Ok(self.get_many(&[key])?.pop().flatten())
    }

    /// The cached answers for `keys`, in order, in one read transaction.
    pub fn get_many<S: AsRef<str>>(&self, keys: &[S]) -> Result<Vec<Option<CachedResponse>>> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.err(e))?;
        let mut out = Vec::with_capacity(keys.len());
        {
            let mut stmt = tx
                .prepare_cached(
                    "SELECT text, input_tokens, output_tokens, latency_ms, created_at
                     FROM responses WHERE key = ?1",
                )
                .map_err(|e| self.err(e))?;
            for key in keys {
                let row = stmt
                    .query_row(params![key.as_ref()], |r| {
                        Ok(CachedResponse {
                            text: r.get(0)?,
                            input_tokens: r.get::<_, i64>(1)?.max(0) as u64,
                            output_tokens: r.get::<_, i64>(2)?.max(0) as u64,
                            latency_ms: r.get(3)?,
                            created_at: r.get(4)?,
                        })
                    })
                    .optional()
                    .map_err(|e| self.err(e))?;
                out.push(row);
            }
        }
        tx.commit().map_err(|e| self.err(e))?;
        Ok(out)
    }

    /// Stores (or replaces) an answer; committed when this returns.
    pub fn put(&self, key: &str, identity: &str, response: &CachedResponse) -> Result<()> {
        self.put_many(identity, &[(key, response.clone())])
    }

    /// Stores (or replaces) many answers of `identity` in one transaction (a batch job's
    /// output); committed when this returns.
    pub fn put_many(&self, identity: &str, entries: &[(&str, CachedResponse)]) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.err(e))?;
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO responses
                     (key, candidate, text, input_tokens, output_tokens, latency_ms, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .map_err(|e| self.err(e))?;
            for (key, r) in entries {
                stmt.execute(params![
                    key,
                    identity,
                    r.text,
                    r.input_tokens as i64,
                    r.output_tokens as i64,
                    r.latency_ms,
                    r.created_at,
                ])
                .map_err(|e| self.err(e))?;
            }
        }
        tx.commit().map_err(|e| self.err(e))
    }

    /// Number of cached answers.
    pub fn len(&self) -> Result<u64> {
        self.conn()
            .query_row("SELECT COUNT(*) FROM responses", [], |r| r.get::<_, i64>(0))
            .map(|n| n.max(0) as u64)
            .map_err(|e| self.err(e))
    }

    /// Whether the cache holds no answer.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Deletes the entries matching `filter` (all of them when it is empty), in one
    /// transaction, and returns how many per candidate identity (sorted by identity); for
    /// `tunebench cache prune`.
    pub fn prune(&self, filter: &PruneFilter) -> Result<Vec<(String, u64)>> {
        let cutoff = filter
            .older_than
            .map(|age| now_unix().saturating_sub(age.as_secs().min(i64::MAX as u64) as i64));
        const MATCH: &str = "(?1 IS NULL OR created_at < ?1) AND (?2 IS NULL OR candidate = ?2)";
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.err(e))?;
        let removed = {
            let mut stmt = tx
                .prepare(&format!(
                    "SELECT candidate, COUNT(*) FROM responses WHERE {MATCH}
                     GROUP BY candidate ORDER BY candidate"
                ))
                .map_err(|e| self.err(e))?;
            let rows = stmt
                .query_map(params![cutoff, filter.candidate], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?.max(0) as u64))
                })
                .map_err(|e| self.err(e))?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
                .map_err(|e| self.err(e))?
        };
        tx.execute(
            &format!("DELETE FROM responses WHERE {MATCH}"),
            params![cutoff, filter.candidate],
        )
        .map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(removed)
    }
}

/// Parses an age such as `30d`, `12h`, `90m`, `45s` or `2w` (one number, one unit).
pub fn parse_age(text: &str) -> std::result::Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: u64 = number.parse().map_err(|_| {
        format!("{text:?} is not an age\nhint: write e.g. 30d, 12h, 90m, 45s or 2w")
    })?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => {
            return Err(format!(
                "{text:?}: unknown unit {unit:?}\nhint: use s, m, h, d or w, e.g. 30d"
            ));
        }
    };
    n.checked_mul(secs)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{text:?} is too long an age"))
}

/// Seconds since the Unix epoch.
pub fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// JSON with object keys sorted at every level and no whitespace.
fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(&map[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Message, Role, Sampling};

    fn request(temperature: f32) -> ChatRequest {
        ChatRequest {
            system: None,
            messages: vec![Message {
                role: Role::User,
                content: "hi".into(),
            }],
            sampling: Sampling {
                temperature,
                ..Sampling::default()
            },
            scoring: None,
        }
    }

    #[test]
    fn key_depends_on_identity_and_every_sampling_parameter() {
        let a = Cache::key("openai:x:m", &request(0.0));
        assert_eq!(a, Cache::key("openai:x:m", &request(0.0)));
        assert_ne!(a, Cache::key("openai:x:n", &request(0.0)));
        assert_ne!(a, Cache::key("openai:x:m", &request(0.7)));
        let mut r = request(0.0);
        r.sampling.seed = Some(1);
        assert_ne!(a, Cache::key("openai:x:m", &r));
        assert_eq!(a.len(), 64);
    }

    #[test]
    fn ages_parse_with_units_and_reject_the_rest() {
        assert_eq!(parse_age("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(parse_age("2w"), Ok(Duration::from_secs(14 * 86_400)));
        assert_eq!(parse_age("90m"), Ok(Duration::from_secs(5_400)));
        assert_eq!(parse_age("0s"), Ok(Duration::ZERO));
        assert!(parse_age("30").is_err_and(|e| e.contains("unknown unit")));
        assert!(parse_age("d").is_err_and(|e| e.contains("hint:")));
        assert!(parse_age("1.5h").is_err());
    }

    #[test]
    fn canonical_json_sorts_keys() {
        let v: Value = serde_json::from_str(r#"{"b": [1, {"d": 1, "c": "x"}], "a": null}"#)
            .unwrap_or(Value::Null);
        let mut s = String::new();
        write_canonical(&v, &mut s);
        assert_eq!(s, r#"{"a":null,"b":[1,{"c":"x","d":1}]}"#);
    }

    #[test]
    fn put_get_prune_round_trip() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|source| EvalError::Io {
            path: PathBuf::from("tempdir"),
            source,
        })?;
        let cache = Cache::open(dir.path().join("sub/cache.sqlite"))?;
        let old = CachedResponse {
            text: "a".into(),
            input_tokens: 3,
            output_tokens: 1,
            latency_ms: 12.5,
            created_at: now_unix() - 10 * 86_400,
        };
        let new = CachedResponse {
            created_at: now_unix(),
            ..old.clone()
        };
        cache.put("k1", "c1", &old)?;
        cache.put("k2", "c2", &new)?;
        cache.put("k3", "c1", &new)?;
        assert_eq!(cache.get("k1")?, Some(old));
        assert_eq!(cache.get_many(&["k2", "nope"])?, vec![Some(new), None]);
        let week = PruneFilter {
            older_than: Some(Duration::from_secs(7 * 86_400)),
            candidate: None,
        };
        assert_eq!(cache.prune(&week)?, vec![("c1".to_string(), 1)]);
        let c1 = PruneFilter {
            older_than: None,
            candidate: Some("c1".into()),
        };
        assert_eq!(cache.prune(&c1)?, vec![("c1".to_string(), 1)]);
        // Nothing left to match: nothing removed, nothing reported.
        assert_eq!(cache.prune(&c1)?, vec![]);
        assert_eq!(cache.len()?, 1);
        drop(cache);
        // Reopening keeps what was committed.
        assert_eq!(Cache::open(dir.path().join("sub/cache.sqlite"))?.len()?, 1);
        Ok(())
    }
}
