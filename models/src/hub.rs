//! Model references: a local folder, or a Hugging Face Hub model (`ORG/NAME[@REVISION]`,
//! or `hf:ORG/NAME[@REVISION]` to say so explicitly) kept in the Hugging Face cache, which
//! transformers and `huggingface_hub` share:
//!
//! ```text
//! $HF_HUB_CACHE (default $HF_HOME/hub, default ~/.cache/huggingface/hub)
//!   models--ORG--NAME/
//!     refs/<revision>                 the commit the revision pointed at
//!     blobs/<etag>                    each file once (an LFS file's etag is its sha256)
//!     snapshots/<commit>/<file>       links to the blobs: the model folder
//! ```
//!
//! A missing snapshot is downloaded from `$HF_ENDPOINT` (default `https://huggingface.co`):
//! the revision's file list from `/api/models/ORG/NAME/revision/REV`, each file the model
//! needs from `/ORG/NAME/resolve/COMMIT/FILE`. A download stopped half-way resumes from its
//! `.incomplete` file with an HTTP range request; a file whose etag is a sha256 is checked
//! against it before it joins the cache. `HF_TOKEN` is sent for gated models;
//! `HF_HUB_OFFLINE=1` uses the cache only.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{ModelError, Result};

/// Where a model comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    /// A folder with config.json, safetensors and tokenizer files, or a `.gguf` file.
    Local(PathBuf),
    /// A model repository on the Hugging Face Hub.
    Hub {
        /// `ORG/NAME`.
        repo: String,
        /// Branch, tag or commit (default `main`).
        revision: String,
    },
}

/// How a file download shows its progress (a model's weights can take minutes).
pub trait DownloadProgress: Send + Sync {
    /// A download of `file` (`ORG/NAME/FILE`) starts, `done` of `total` bytes already there
    /// (a resumed download).
    fn start(&self, file: &str, total: Option<u64>, done: u64);
    /// `n` more bytes arrived.
    fn advance(&self, n: u64);
    /// The file is complete.
    fn finish(&self);
}

static DOWNLOAD_PROGRESS: std::sync::OnceLock<Box<dyn DownloadProgress>> =
    std::sync::OnceLock::new();

/// Reports every later download of this process to `progress` (set once, by the program;
/// without it downloads are silent).
pub fn report_downloads_to(progress: Box<dyn DownloadProgress>) {
    let _ = DOWNLOAD_PROGRESS.set(progress);
}

const USER_AGENT: &str = concat!("tunebench/", env!("CARGO_PKG_VERSION"));

/// The explicit prefix of a Hub reference.
const HUB_PREFIX: &str = "hf:";

impl ModelSource {
    /// Reads a model reference as written in a config (relative to its folder `base`) or on
    /// the command line (`base` = the working directory): `hf:ORG/NAME[@REV]` is the Hub;
    /// an existing path is that path; `ORG/NAME[@REV]` that names nothing here (and is no
    /// `.gguf` file) is the Hub; anything else is a local path (reported missing when it is
    /// loaded).
    pub fn parse(base: &Path, reference: &Path) -> ModelSource {
        let text = reference.to_string_lossy();
        if let Some(id) = text.strip_prefix(HUB_PREFIX) {
            return hub(id);
        }
        let folder = tunebench_core::paths::under(base, reference);
        if folder.exists() || !looks_like_repo_id(&text) || text.ends_with(".gguf") {
            return ModelSource::Local(folder);
        }
        hub(&text)
    }

    /// The reference as a setting: the folder, or `hf:ORG/NAME@REV`.
    pub fn to_setting(&self) -> PathBuf {
        match self {
            ModelSource::Local(p) => p.clone(),
            ModelSource::Hub { repo, revision } => {
                PathBuf::from(format!("{HUB_PREFIX}{repo}@{revision}"))
            }
        }
    }

    /// The model as a local folder, downloading a Hub model into the cache if it is not
    /// there yet.
    ///
    /// # Errors
    /// [`ModelError::Hub`] when the Hub cannot give the model (not found, gated without a
    /// token, offline without a cached copy, a download that does not match its checksum).
    pub fn local(&self) -> Result<PathBuf> {
        self.local_with(&HubSettings::from_env())
    }

    /// [`ModelSource::local`] with the hub settings given, not read from the environment.
    ///
    /// # Errors
    /// As [`ModelSource::local`].
    pub fn local_with(&self, hub: &HubSettings) -> Result<PathBuf> {
        match self {
            ModelSource::Local(p) => Ok(p.clone()),
            ModelSource::Hub { repo, revision } => {
                let hub = Hub::new(hub)?;
                // On a thread and runtime of its own: callers may be inside a runtime.
                std::thread::scope(|s| {
                    s.spawn(|| {
                        tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build()
                            .map_err(|e| ModelError::Backend(format!("download runtime: {e}")))?
                            .block_on(hub.snapshot(repo, revision))
                    })
                    .join()
                    .unwrap_or_else(|_| {
                        Err(ModelError::Backend("the download thread panicked".into()))
                    })
                })
            }
        }
    }
}

/// Whether a resolved setting names a Hub model (`hf:…`, as [`ModelSource::to_setting`]
/// writes it) rather than a folder.
pub fn is_hub_setting(setting: &Path) -> bool {
    setting.to_string_lossy().starts_with(HUB_PREFIX)
}

/// [`ModelSource::parse`] from the working directory, then [`ModelSource::local`]: what a
/// model path given anywhere (a setting, a flag) stands for on this machine.
///
/// # Errors
/// As [`ModelSource::local`].
pub fn local_model(reference: &Path) -> Result<PathBuf> {
    ModelSource::parse(Path::new(""), reference).local()
}

fn hub(id: &str) -> ModelSource {
    let (repo, revision) = id.split_once('@').unwrap_or((id, "main"));
    ModelSource::Hub {
        repo: repo.to_owned(),
        revision: revision.to_owned(),
    }
}

/// `ORG/NAME` or `ORG/NAME@REV`: two non-empty parts of letters, digits, `-`, `_`, `.`, not
/// starting with `.` (so `./x` and `../x` stay folders).
fn looks_like_repo_id(text: &str) -> bool {
    let repo = text.split_once('@').map_or(text, |(r, _)| r);
    let part = |p: &str| {
        !p.is_empty()
            && !p.starts_with('.')
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    matches!(repo.split_once('/'), Some((org, name)) if part(org) && part(name))
}

/// The files of a repository that make a model folder for tunebench.
fn wanted(file: &str) -> bool {
    const FILES: &[&str] = &[
        "config.json",
        "generation_config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "chat_template.jinja",
        "model.safetensors.index.json",
    ];
    !file.contains('/') && (FILES.contains(&file) || file.ends_with(".safetensors"))
}

/// Where models are cached and fetched from.
#[derive(Debug, Clone)]
pub struct HubSettings {
    /// The hub cache (`$HF_HUB_CACHE`, else `$HF_HOME/hub`, else
    /// `~/.cache/huggingface/hub`).
    pub cache: PathBuf,
    /// `$HF_ENDPOINT`, else `https://huggingface.co`.
    pub endpoint: String,
    /// `$HF_TOKEN`, for gated and private models.
    pub token: Option<String>,
    /// `$HF_HUB_OFFLINE`: the cache only.
    pub offline: bool,
}

impl HubSettings {
    /// The settings from the environment, as `huggingface_hub` reads them.
    pub fn from_env() -> HubSettings {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let home = var("HF_HOME").map(PathBuf::from).unwrap_or_else(|| {
            let base = var("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| var("HOME").map(|h| Path::new(&h).join(".cache")))
                .unwrap_or_else(|| PathBuf::from(".cache"));
            base.join("huggingface")
        });
        HubSettings {
            cache: var("HF_HUB_CACHE")
                .map(PathBuf::from)
                .unwrap_or_else(|| home.join("hub")),
            endpoint: var("HF_ENDPOINT")
                .unwrap_or_else(|| "https://huggingface.co".into())
                .trim_end_matches('/')
                .to_owned(),
            token: var("HF_TOKEN"),
            offline: var("HF_HUB_OFFLINE").is_some_and(|v| {
                matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on")
            }),
        }
    }
}

/// A hub client.
struct Hub<'a> {
    settings: &'a HubSettings,
    client: reqwest::Client,
    no_redirects: reqwest::Client,
}

/// `GET /api/models/ORG/NAME/revision/REV`, the part used here.
#[derive(serde::Deserialize)]
struct RepoInfo {
    sha: String,
    #[serde(default)]
    siblings: Vec<Sibling>,
}

#[derive(serde::Deserialize)]
struct Sibling {
    rfilename: String,
}

impl<'a> Hub<'a> {
    fn new(settings: &'a HubSettings) -> Result<Hub<'a>> {
        let client = |redirects: bool| {
            let builder = reqwest::Client::builder().user_agent(USER_AGENT);
            let builder = if redirects {
                builder
            } else {
                builder.redirect(reqwest::redirect::Policy::none())
            };
            builder
                .build()
                .map_err(|e| ModelError::Backend(format!("HTTP client: {e}")))
        };
        Ok(Hub {
            settings,
            client: client(true)?,
            no_redirects: client(false)?,
        })
    }

    /// The snapshot folder of `repo` at `revision`, downloaded if incomplete.
    async fn snapshot(&self, repo: &str, revision: &str) -> Result<PathBuf> {
        let settings = self.settings;
        let dir = settings
            .cache
            .join(format!("models--{}", repo.replace('/', "--")));
        let err = |message: String| ModelError::Hub {
            repo: repo.to_owned(),
            revision: revision.to_owned(),
            message,
        };
        if settings.offline {
            if let Some(snap) = cached(&dir, revision) {
                return Ok(snap);
            }
            return Err(err(format!(
                "not in the Hugging Face cache {} and HF_HUB_OFFLINE is set\nhint: download it once with network access, or unset HF_HUB_OFFLINE",
                settings.cache.display()
            )));
        }
        let url = format!(
            "{}/api/models/{repo}/revision/{revision}",
            settings.endpoint
        );
        let answer = match self.get(&url, None).await {
            Ok(answer) => answer,
            // No network (or no hub): a snapshot already cached serves, as in huggingface_hub.
            Err(Failure::Unreachable(e)) => {
                return cached(&dir, revision).ok_or_else(|| {
                    err(format!(
                        "{e}\nhint: check the network and HF_ENDPOINT; a model fetched once is then used offline"
                    ))
                });
            }
            Err(Failure::Status(e)) => return Err(err(e)),
        };
        let info: RepoInfo = answer
            .json()
            .await
            .map_err(|e| err(format!("{url}: unreadable answer: {e}")))?;
        let files: Vec<&str> = info
            .siblings
            .iter()
            .map(|s| s.rfilename.as_str())
            .filter(|f| wanted(f))
            .collect();
        if !files.contains(&"config.json") || !files.iter().any(|f| f.ends_with(".safetensors")) {
            return Err(err(
                "the repository has no config.json and safetensors weights\nhint: tunebench loads transformers models saved with safetensors".into(),
            ));
        }
        let snap = dir.join("snapshots").join(&info.sha);
        for file in files {
            let target = snap.join(file);
            if target.exists() {
                continue;
            }
            let blob = self.blob(&dir, repo, &info.sha, file).await.map_err(&err)?;
            std::fs::create_dir_all(&snap).map_err(io(&snap))?;
            link(&blob, &target)?;
        }
        if revision != info.sha {
            let refs = dir.join("refs");
            std::fs::create_dir_all(&refs).map_err(io(&refs))?;
            tunebench_core::write_atomic(&refs.join(revision), info.sha.as_bytes())
                .map_err(io(refs.join(revision)))?;
        }
        Ok(snap)
    }

    /// The blob of `file` at `commit`, downloaded (or resumed) into `dir/blobs`.
    async fn blob(
        &self,
        dir: &Path,
        repo: &str,
        commit: &str,
        file: &str,
    ) -> std::result::Result<PathBuf, String> {
        let url = format!("{}/{repo}/resolve/{commit}/{file}", self.settings.endpoint);
        // Not followed: an LFS file's redirect carries its sha256 and size.
        let head = self
            .send(self.no_redirects.head(&url))
            .await
            .map_err(Failure::message)?;
        let header = |name: &str| {
            head.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.trim_start_matches("W/").trim_matches('"').to_owned())
        };
        let etag = header("x-linked-etag")
            .or_else(|| header("etag"))
            .filter(|e| !e.is_empty() && e.chars().all(|c| c.is_ascii_alphanumeric()))
            .ok_or_else(|| format!("{url}: no usable ETag"))?;
        let size: Option<u64> = header("x-linked-size")
            .or_else(|| header("content-length"))
            .and_then(|s| s.parse().ok());
        let blobs = dir.join("blobs");
        let blob = blobs.join(&etag);
        if blob.is_file() {
            return Ok(blob);
        }
        std::fs::create_dir_all(&blobs).map_err(|e| format!("{}: {e}", blobs.display()))?;
        let partial = blobs.join(format!("{etag}.incomplete"));
        let have = std::fs::metadata(&partial).map_or(0, |m| m.len());
        let mut response = self
            .get(&url, (have > 0).then_some(have))
            .await
            .map_err(Failure::message)?;
        let resumed = response.status() == reqwest::StatusCode::PARTIAL_CONTENT;
        let progress = DOWNLOAD_PROGRESS.get();
        if let Some(p) = progress {
            p.start(
                &format!("{repo}/{file}"),
                size,
                if resumed { have } else { 0 },
            );
        }
        let mut out = std::fs::OpenOptions::new()
            .create(true)
            .append(resumed)
            .write(true)
            .truncate(!resumed)
            .open(&partial)
            .map_err(|e| format!("{}: {e}", partial.display()))?;
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("{url}: download broke off: {e} (rerun to resume)"))?
        {
            out.write_all(&chunk)
                .map_err(|e| format!("{}: {e}", partial.display()))?;
            if let Some(p) = progress {
                p.advance(chunk.len() as u64);
            }
        }
        if let Some(p) = progress {
            p.finish();
        }
        out.sync_all()
            .map_err(|e| format!("{}: {e}", partial.display()))?;
        drop(out);
        let got = std::fs::metadata(&partial).map_or(0, |m| m.len());
        if size.is_some_and(|s| s != got) {
            return Err(format!(
                "{url}: got {got} bytes, the hub announced {}",
                size.unwrap_or_default()
            ));
        }
        // An LFS file's etag is its sha256; a small file's is a git blob id (not checked).
        if etag.len() == 64 {
            let sha = tunebench_core::fs::sha256_file(&partial)
                .map_err(|e| format!("{}: {e}", partial.display()))?;
            if sha != etag.to_ascii_lowercase() {
                let _ = std::fs::remove_file(&partial);
                return Err(format!(
                    "{url}: sha256 {sha} does not match the hub's {etag}; the partial file was removed, rerun to download again"
                ));
            }
        }
        std::fs::rename(&partial, &blob).map_err(|e| format!("{}: {e}", blob.display()))?;
        Ok(blob)
    }

    async fn get(
        &self,
        url: &str,
        from: Option<u64>,
    ) -> std::result::Result<reqwest::Response, Failure> {
        let mut req = self.client.get(url);
        if let Some(offset) = from {
            req = req.header(reqwest::header::RANGE, format!("bytes={offset}-"));
        }
        self.send(req).await
    }

    /// Sends with the token (when set); an error status becomes a message with a hint.
    async fn send(
        &self,
        mut req: reqwest::RequestBuilder,
    ) -> std::result::Result<reqwest::Response, Failure> {
        if let Some(t) = &self.settings.token {
            req = req.bearer_auth(t);
        }
        let response = req
            .send()
            .await
            .map_err(|e| Failure::Unreachable(e.to_string()))?;
        let status = response.status();
        let url = response.url().to_string();
        match status.as_u16() {
            200..=399 => Ok(response),
            401 | 403 => Err(Failure::Status(format!(
                "{url}: HTTP {status}: the model is gated or private\nhint: accept its license on the hub and set HF_TOKEN to a token with read access"
            ))),
            404 => Err(Failure::Status(format!(
                "{url}: HTTP 404: no such model, revision or file\nhint: check the id (ORG/NAME) and @REVISION"
            ))),
            _ => Err(Failure::Status(format!("{url}: HTTP {status}"))),
        }
    }
}

/// Why a hub request failed.
enum Failure {
    /// No answer: the network or the endpoint is down.
    Unreachable(String),
    /// The hub answered with an error status.
    Status(String),
}

impl Failure {
    fn message(self) -> String {
        match self {
            Failure::Unreachable(m) | Failure::Status(m) => m,
        }
    }
}

/// The cached snapshot `revision` (a branch or tag through `refs/`, or a commit) points at,
/// when it holds a model.
fn cached(dir: &Path, revision: &str) -> Option<PathBuf> {
    let commit = std::fs::read_to_string(dir.join("refs").join(revision))
        .map(|c| c.trim().to_owned())
        .unwrap_or_else(|_| revision.to_owned());
    let snap = dir.join("snapshots").join(commit);
    snap.join("config.json").is_file().then_some(snap)
}

/// Links `target` to `blob` (relative, as huggingface_hub does), or copies it where links
/// cannot be made.
fn link(blob: &Path, target: &Path) -> Result<()> {
    let depth = target
        .parent()
        .and_then(|p| p.parent())
        .and_then(|p| p.parent())
        .and_then(|repo| blob.strip_prefix(repo).ok());
    #[cfg(unix)]
    if let Some(rel) = depth {
        let rel = Path::new("../..").join(rel);
        if std::os::unix::fs::symlink(&rel, target).is_ok() {
            return Ok(());
        }
    }
    #[cfg(not(unix))]
    let _ = depth;
    std::fs::copy(blob, target).map_err(io(target))?;
    Ok(())
}

fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> ModelError {
    let path = path.into();
    move |source| ModelError::Io { path, source }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_folders_unless_they_name_a_repo_that_is_no_folder() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("org/local")).unwrap();
        let parse = |r: &str| ModelSource::parse(dir.path(), Path::new(r));
        assert_eq!(
            parse("org/local"),
            ModelSource::Local(dir.path().join("org/local"))
        );
        assert_eq!(
            parse("HuggingFaceTB/SmolLM2-135M"),
            ModelSource::Hub {
                repo: "HuggingFaceTB/SmolLM2-135M".into(),
                revision: "main".into()
            }
        );
        assert_eq!(
            parse("hf:org/local@v1.0"),
            ModelSource::Hub {
                repo: "org/local".into(),
                revision: "v1.0".into()
            }
        );
        for folder in [
            "./org/x",
            "../org/x",
            "models/a/b",
            "model",
            "/abs/x",
            "models/x.gguf",
        ] {
            assert!(matches!(parse(folder), ModelSource::Local(_)), "{folder}");
        }
        assert_eq!(parse("hf:a/b@c").to_setting(), PathBuf::from("hf:a/b@c"));
    }

    #[test]
    fn only_the_files_a_model_folder_needs_are_fetched() {
        for f in [
            "config.json",
            "model.safetensors",
            "model-00001-of-00002.safetensors",
            "tokenizer.json",
        ] {
            assert!(wanted(f), "{f}");
        }
        for f in [
            "pytorch_model.bin",
            "onnx/model.onnx",
            "model.gguf",
            "README.md",
            "sub/model.safetensors",
        ] {
            assert!(!wanted(f), "{f}");
        }
    }
}
