//! sha256 of large files computed once: a file's digest is kept, keyed on its path, size and
//! modification time, in `sha256-cache.jsonl` of tunebench's cache folder
//! (`$TUNEBENCH_CACHE_DIR`, else `$XDG_CACHE_HOME/tunebench`, else `~/.cache/tunebench`), so
//! a multi-GB model is not read again by every `tunebench run` or eval.
//!
//! The key is what make and ccache trust: a file rewritten in place with the same size and
//! the same modification time (to the nanosecond) keeps its old digest. Files under
//! [`MIN_CACHED`] are hashed directly: reading them costs less than the lookup.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::UNIX_EPOCH;

/// Smaller files are not cached.
pub const MIN_CACHED: u64 = 1 << 20;

/// `path` → (size, modified ns, sha256).
type Entries = HashMap<String, (u64, u128, String)>;

/// A digest cache in one file.
pub struct HashCache {
    file: PathBuf,
    entries: Mutex<Option<Entries>>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Line {
    path: String,
    size: u64,
    modified_ns: u128,
    sha256: String,
}

impl HashCache {
    /// The cache kept in `dir/sha256-cache.jsonl`.
    pub fn at(dir: &Path) -> HashCache {
        HashCache {
            file: dir.join("sha256-cache.jsonl"),
            entries: Mutex::new(None),
        }
    }

    /// The cache in tunebench's cache folder.
    pub fn default_location() -> HashCache {
        let var = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let dir = var("TUNEBENCH_CACHE_DIR").unwrap_or_else(|| {
            var("XDG_CACHE_HOME")
                .or_else(|| var("HOME").map(|h| h.join(".cache")))
                .unwrap_or_else(|| PathBuf::from(".cache"))
                .join("tunebench")
        });
        HashCache::at(&dir)
    }

    /// sha256 of `path` (lowercase hex): from the cache when its size and modification time
    /// are those recorded, else read and recorded. A cache that cannot be read or written
    /// only costs the reading.
    ///
    /// # Errors
    /// The file cannot be read.
    pub fn sha256(&self, path: &Path) -> std::io::Result<String> {
        let meta = std::fs::metadata(path)?;
        if meta.len() < MIN_CACHED {
            return crate::fs::sha256_file(path);
        }
        let modified_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        let key = std::path::absolute(path)?.to_string_lossy().into_owned();
        let mut guard = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let entries = guard.get_or_insert_with(|| self.load());
        if let Some((size, ns, sha)) = entries.get(&key)
            && *size == meta.len()
            && *ns == modified_ns
            && modified_ns != 0
        {
            return Ok(sha.clone());
        }
        let sha256 = crate::fs::sha256_file(path)?;
        entries.insert(key.clone(), (meta.len(), modified_ns, sha256.clone()));
        self.append(&Line {
            path: key,
            size: meta.len(),
            modified_ns,
            sha256: sha256.clone(),
        });
        Ok(sha256)
    }

    /// Every line that parses; later lines win.
    fn load(&self) -> Entries {
        let Ok(text) = std::fs::read_to_string(&self.file) else {
            return Entries::new();
        };
        text.lines()
            .filter_map(|l| serde_json::from_str::<Line>(l).ok())
            .map(|l| (l.path, (l.size, l.modified_ns, l.sha256)))
            .collect()
    }

    /// One line, appended in one write (lines of concurrent processes do not interleave).
    fn append(&self, line: &Line) {
        let Ok(mut text) = serde_json::to_string(line) else {
            return;
        };
        text.push('\n');
        if let Some(dir) = self.file.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.file)
        {
            let _ = f.write_all(text.as_bytes());
        }
    }
}

/// sha256 of `path` through the cache in tunebench's cache folder (see the module docs).
///
/// # Errors
/// The file cannot be read.
pub fn sha256_cached(path: &Path) -> std::io::Result<String> {
    static CACHE: std::sync::OnceLock<HashCache> = std::sync::OnceLock::new();
    CACHE.get_or_init(HashCache::default_location).sha256(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_file_is_read_once_until_its_size_or_time_changes() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("model.safetensors");
        std::fs::write(&file, vec![1u8; MIN_CACHED as usize]).unwrap();
        let cache = HashCache::at(&dir.path().join("cache"));
        let first = cache.sha256(&file).unwrap();
        assert_eq!(first, crate::fs::sha256_file(&file).unwrap());

        // Same size, same modification time, other bytes: the recorded digest (the
        // documented trade-off), also for a second process reading the cache file.
        let when = std::fs::metadata(&file).unwrap().modified().unwrap();
        std::fs::write(&file, vec![2u8; MIN_CACHED as usize]).unwrap();
        std::fs::File::options()
            .write(true)
            .open(&file)
            .unwrap()
            .set_modified(when)
            .unwrap();
        assert_eq!(cache.sha256(&file).unwrap(), first);
        let other_process = HashCache::at(&dir.path().join("cache"));
        assert_eq!(other_process.sha256(&file).unwrap(), first);

        // A new modification time: read again.
        std::fs::File::options()
            .write(true)
            .open(&file)
            .unwrap()
            .set_modified(when + std::time::Duration::from_secs(1))
            .unwrap();
        let again = cache.sha256(&file).unwrap();
        assert_ne!(again, first);
        assert_eq!(again, crate::fs::sha256_file(&file).unwrap());
    }
}
