//! Output files, written atomically: each goes to a temporary file beside its final path and
//! is renamed over it only once complete and flushed, so a killed run never leaves a
//! half-written file under a final name.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// A file being written; it appears under its final name on [`AtomicFile::commit`] only.
pub struct AtomicFile {
    path: PathBuf,
    tmp: PathBuf,
    out: BufWriter<File>,
    hash: Sha256,
    bytes: u64,
}

/// What was written.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Written {
    /// Final path.
    #[serde(skip)]
    pub path: PathBuf,
    /// sha256 of the content.
    pub sha256: String,
    /// Size.
    pub bytes: u64,
}

impl AtomicFile {
    /// Starts writing `path` (its folder must exist).
    pub fn create(path: &Path) -> Result<Self> {
        let tmp = tunebench_core::fs::temp_beside(path);
        let file = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        Ok(AtomicFile {
            path: path.into(),
            tmp,
            out: BufWriter::with_capacity(1 << 20, file),
            hash: Sha256::new(),
            bytes: 0,
        })
    }

    /// Appends bytes.
    pub fn write(&mut self, data: &[u8]) -> Result<()> {
        self.hash.update(data);
        self.bytes += data.len() as u64;
        self.out
            .write_all(data)
            .map_err(|e| Error::io(&self.tmp, e))
    }

    /// Flushes, syncs and renames into place.
    pub fn commit(self) -> Result<Written> {
        let AtomicFile {
            path,
            tmp,
            out,
            hash,
            bytes,
        } = self;
        let file = out
            .into_inner()
            .map_err(|e| Error::io(&tmp, e.into_error()))?;
        file.sync_all().map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
        Ok(Written {
            path,
            sha256: hex::encode(hash.finalize()),
            bytes,
        })
    }
}

/// Writes a whole file atomically.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<Written> {
    let mut f = AtomicFile::create(path)?;
    f.write(data)?;
    f.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_appears_before_commit_and_no_temp_is_left_after() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        let mut f = AtomicFile::create(&path).unwrap();
        f.write(b"{}\n").unwrap();
        assert!(!path.exists());
        let w = f.commit().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"{}\n");
        assert_eq!(w.bytes, 3);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
