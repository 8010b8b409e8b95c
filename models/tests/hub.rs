//! Hugging Face Hub references against a loopback stand-in of the hub's HTTP API serving the
//! tiny Llama fixture: the snapshot lands in the HF cache layout, a gated model needs the
//! token, a download cut off half-way resumes with a range request, a corrupted download is
//! refused, and the cache serves offline afterwards.

// Helpers here panic on anything unexpected: a panic is how a test reports failure.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use tunebench_models::hub::{HubSettings, ModelSource};
use tunebench_standins::hub::{HubConfig, HubStandin};

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/tiny-llama/model")
}

/// The fixture's files plus one a model folder does not need.
fn repo_files(dir: &Path) -> PathBuf {
    let files = dir.join("repo");
    std::fs::create_dir_all(&files).unwrap();
    for entry in std::fs::read_dir(fixture()).unwrap() {
        let p = entry.unwrap().path();
        std::fs::copy(&p, files.join(p.file_name().unwrap())).unwrap();
    }
    std::fs::write(files.join("pytorch_model.bin"), b"not fetched").unwrap();
    files
}

fn settings(hub: &HubStandin, cache: &Path, token: Option<&str>) -> HubSettings {
    HubSettings {
        cache: cache.to_path_buf(),
        endpoint: hub.endpoint().to_owned(),
        token: token.map(str::to_owned),
        offline: false,
    }
}

fn source() -> ModelSource {
    ModelSource::parse(Path::new("."), Path::new("hf:tiny/llama"))
}

#[test]
fn a_hub_model_lands_in_the_cache_layout_and_loads() {
    let dir = tempfile::tempdir().unwrap();
    let hub = HubStandin::start(HubConfig {
        repo: "tiny/llama".into(),
        commit: COMMIT.into(),
        files: repo_files(dir.path()),
        token: None,
    })
    .unwrap();
    let cache = dir.path().join("cache");
    let snap = source().local_with(&settings(&hub, &cache, None)).unwrap();
    assert_eq!(
        snap,
        cache.join(format!("models--tiny--llama/snapshots/{COMMIT}"))
    );
    assert_eq!(
        std::fs::read_to_string(cache.join("models--tiny--llama/refs/main")).unwrap(),
        COMMIT
    );
    for f in ["config.json", "model.safetensors", "tokenizer.json"] {
        assert_eq!(
            std::fs::read(snap.join(f)).unwrap(),
            std::fs::read(fixture().join(f)).unwrap(),
            "{f}"
        );
    }
    assert!(!snap.join("pytorch_model.bin").exists());
    // The weights are a link into blobs/, named by their sha256, as huggingface_hub does.
    let weights = snap.join("model.safetensors");
    assert!(
        std::fs::symlink_metadata(&weights)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let blob = std::fs::canonicalize(&weights).unwrap();
    assert_eq!(
        blob.file_name().unwrap().to_string_lossy(),
        tunebench_core::fs::sha256_file(&fixture().join("model.safetensors")).unwrap()
    );
    let device = burn::prelude::Device::flex();
    tunebench_models::weights::load_model(&snap, &device).unwrap();

    // A second call downloads nothing; offline, the cache alone answers.
    let before = hub.lfs_downloads();
    source().local_with(&settings(&hub, &cache, None)).unwrap();
    assert_eq!(hub.lfs_downloads(), before);
    let offline = HubSettings {
        offline: true,
        endpoint: "http://127.0.0.1:9".into(),
        ..settings(&hub, &cache, None)
    };
    assert_eq!(source().local_with(&offline).unwrap(), snap);
    // No network (and no HF_HUB_OFFLINE): the cached snapshot serves, as in huggingface_hub.
    let unreachable = HubSettings {
        endpoint: "http://127.0.0.1:9".into(),
        ..settings(&hub, &cache, None)
    };
    assert_eq!(source().local_with(&unreachable).unwrap(), snap);
    let missing = ModelSource::parse(Path::new("."), Path::new("hf:other/model"));
    let err = missing.local_with(&offline).unwrap_err().to_string();
    assert!(err.contains("HF_HUB_OFFLINE"), "{err}");
}

#[test]
fn a_gated_model_needs_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let hub = HubStandin::start(HubConfig {
        repo: "tiny/llama".into(),
        commit: COMMIT.into(),
        files: repo_files(dir.path()),
        token: Some("hf_test_gated_token".into()),
    })
    .unwrap();
    let cache = dir.path().join("cache");
    let err = source()
        .local_with(&settings(&hub, &cache, None))
        .unwrap_err()
        .to_string();
    assert!(err.contains("401") && err.contains("HF_TOKEN"), "{err}");
    assert!(!err.contains("hf_test_gated_token"));
    source()
        .local_with(&settings(&hub, &cache, Some("hf_test_gated_token")))
        .unwrap();
}

#[test]
fn a_download_cut_off_resumes_and_a_corrupted_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let files = repo_files(dir.path());
    let hub = HubStandin::start(HubConfig {
        repo: "tiny/llama".into(),
        commit: COMMIT.into(),
        files: files.clone(),
        token: None,
    })
    .unwrap();
    let weights = std::fs::read(files.join("model.safetensors")).unwrap();
    let sha = tunebench_core::fs::sha256_file(&files.join("model.safetensors")).unwrap();
    let blobs = dir.path().join("cache/models--tiny--llama/blobs");
    std::fs::create_dir_all(&blobs).unwrap();
    // What a download killed half-way leaves behind.
    let half = weights.len() / 2;
    std::fs::write(blobs.join(format!("{sha}.incomplete")), &weights[..half]).unwrap();
    let cache = dir.path().join("cache");
    let snap = source().local_with(&settings(&hub, &cache, None)).unwrap();
    assert_eq!(hub.ranges(), [format!("bytes={half}-")]);
    assert_eq!(
        std::fs::read(snap.join("model.safetensors")).unwrap(),
        weights
    );

    // A partial file that is not a prefix of the real one: the result fails its sha256.
    let cache2 = dir.path().join("cache2");
    let blobs2 = cache2.join("models--tiny--llama/blobs");
    std::fs::create_dir_all(&blobs2).unwrap();
    std::fs::write(blobs2.join(format!("{sha}.incomplete")), vec![0u8; half]).unwrap();
    let err = source()
        .local_with(&settings(&hub, &cache2, None))
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not match"), "{err}");
    assert!(!blobs2.join(format!("{sha}.incomplete")).exists());
    assert!(!blobs2.join(&sha).exists());
}
