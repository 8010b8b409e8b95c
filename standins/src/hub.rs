//! A loopback stand-in of the Hugging Face Hub's HTTP API, serving one model repository
//! from a folder: what `huggingface_hub` (and tunebench's `models::hub`) call.
//!
//! - `GET /api/models/ORG/NAME/revision/REV` → `{"sha": COMMIT, "siblings": [{"rfilename"}]}`
//!   for `main` and the commit; 404 otherwise.
//! - `HEAD|GET /ORG/NAME/resolve/REV/FILE`: a `.safetensors` file is an LFS file, answered
//!   with `302` to `/lfs/<sha256>` and `X-Linked-Etag` (its sha256) and `X-Linked-Size`; any
//!   other file with `200`, an `ETag` (a 40-hex id, as git's) and its bytes.
//! - `GET /lfs/SHA256`: the LFS file; a `Range: bytes=N-` gets `206` and the rest.
//!
//! With a token set, a request without `Authorization: Bearer TOKEN` gets 401 (a gated model).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use sha2::{Digest, Sha256};

/// The repository served.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// `ORG/NAME`.
    pub repo: String,
    /// The commit `main` points at (40 hex digits).
    pub commit: String,
    /// The folder whose top-level files are the repository's.
    pub files: PathBuf,
    /// Require this token (a gated model).
    pub token: Option<String>,
}

struct File {
    name: String,
    bytes: Bytes,
    sha256: String,
}

struct Shared {
    config: HubConfig,
    files: Vec<File>,
    lfs_downloads: AtomicU64,
    ranges: Mutex<Vec<String>>,
}

/// A running stand-in; dropping it stops it.
pub struct HubStandin {
    endpoint: String,
    shared: Arc<Shared>,
    _server: crate::server::Server,
}

impl HubStandin {
    /// Reads the repository's files and starts serving them on `127.0.0.1:0`.
    ///
    /// # Errors
    /// The folder cannot be read, or the server cannot start.
    pub fn start(config: HubConfig) -> std::io::Result<HubStandin> {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(&config.files)? {
            let path = entry?.path();
            if path.is_file() {
                let bytes = std::fs::read(&path)?;
                files.push(File {
                    name: path
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    sha256: hex::encode(Sha256::digest(&bytes)),
                    bytes: Bytes::from(bytes),
                });
            }
        }
        files.sort_by(|a, b| a.name.cmp(&b.name));
        let shared = Arc::new(Shared {
            config,
            files,
            lfs_downloads: AtomicU64::new(0),
            ranges: Mutex::new(Vec::new()),
        });
        let server = crate::server::start("hub-standin", shared.clone(), handle)?;
        Ok(HubStandin {
            endpoint: format!("http://{}", server.addr),
            shared,
            _server: server,
        })
    }

    /// `http://127.0.0.1:<port>`, for `HF_ENDPOINT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// LFS files served (whole or in part).
    pub fn lfs_downloads(&self) -> u64 {
        self.shared.lfs_downloads.load(Ordering::SeqCst)
    }

    /// The `Range` headers received, in order.
    pub fn ranges(&self) -> Vec<String> {
        self.shared
            .ranges
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }
}

fn response(status: StatusCode, headers: &[(&str, String)], body: Bytes) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body));
    *r.status_mut() = status;
    for (k, v) in headers {
        if let (Ok(k), Ok(v)) = (
            hyper::header::HeaderName::from_bytes(k.as_bytes()),
            hyper::header::HeaderValue::from_str(v),
        ) {
            r.headers_mut().insert(k, v);
        }
    }
    r
}

fn status(code: StatusCode, message: &str) -> Response<Full<Bytes>> {
    response(
        code,
        &[("content-type", "application/json".into())],
        Bytes::from(serde_json::json!({ "error": message }).to_string()),
    )
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let config = &shared.config;
    if let Some(token) = &config.token {
        let sent = req
            .headers()
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if sent != Some(&format!("Bearer {token}")) {
            return status(StatusCode::UNAUTHORIZED, "Access to model is restricted");
        }
    }
    let path = req.uri().path().to_owned();
    let head = req.method() == Method::HEAD;
    let known_rev = |rev: &str| rev == "main" || rev == config.commit;
    if let Some(rest) = path.strip_prefix("/api/models/") {
        return match rest.split_once("/revision/") {
            Some((repo, rev)) if repo == config.repo && known_rev(rev) => {
                let siblings: Vec<_> = shared
                    .files
                    .iter()
                    .map(|f| serde_json::json!({ "rfilename": f.name }))
                    .collect();
                response(
                    StatusCode::OK,
                    &[("content-type", "application/json".into())],
                    Bytes::from(
                        serde_json::json!({ "id": config.repo, "sha": config.commit, "siblings": siblings })
                            .to_string(),
                    ),
                )
            }
            _ => status(StatusCode::NOT_FOUND, "Repository not found"),
        };
    }
    if let Some(sha) = path.strip_prefix("/lfs/") {
        let Some(file) = shared.files.iter().find(|f| f.sha256 == sha) else {
            return status(StatusCode::NOT_FOUND, "no such object");
        };
        shared.lfs_downloads.fetch_add(1, Ordering::SeqCst);
        let range = req
            .headers()
            .get(hyper::header::RANGE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if let Some(r) = &range
            && let Ok(mut ranges) = shared.ranges.lock()
        {
            ranges.push(r.clone());
        }
        let from = range
            .as_deref()
            .and_then(|r| r.strip_prefix("bytes="))
            .and_then(|r| r.strip_suffix('-'))
            .and_then(|n| n.parse::<usize>().ok());
        return match from {
            Some(n) if n < file.bytes.len() => response(
                StatusCode::PARTIAL_CONTENT,
                &[(
                    "content-range",
                    format!("bytes {n}-{}/{}", file.bytes.len() - 1, file.bytes.len()),
                )],
                file.bytes.slice(n..),
            ),
            _ => response(StatusCode::OK, &[], file.bytes.clone()),
        };
    }
    let prefix = format!("/{}/resolve/", config.repo);
    let Some((rev, name)) = path.strip_prefix(&prefix).and_then(|r| r.split_once('/')) else {
        return status(StatusCode::NOT_FOUND, "Entry not found");
    };
    let Some(file) = shared.files.iter().find(|f| f.name == name) else {
        return status(StatusCode::NOT_FOUND, "Entry not found");
    };
    if !known_rev(rev) {
        return status(StatusCode::NOT_FOUND, "Revision not found");
    }
    let commit = ("x-repo-commit", config.commit.clone());
    if name.ends_with(".safetensors") {
        return response(
            StatusCode::FOUND,
            &[
                commit,
                ("location", format!("/lfs/{}", file.sha256)),
                ("x-linked-etag", format!("\"{}\"", file.sha256)),
                ("x-linked-size", file.bytes.len().to_string()),
            ],
            Bytes::new(),
        );
    }
    let etag = ("etag", format!("\"{}\"", &file.sha256[..40]));
    if head {
        return response(StatusCode::OK, &[commit, etag], Bytes::new());
    }
    response(StatusCode::OK, &[commit, etag], file.bytes.clone())
}
