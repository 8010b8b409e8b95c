//! The model registry as a library: versions of each kind, idempotent registration,
//! references, gated promotion, rollback, the audit trail, and what a version becomes as an
//! eval candidate.

// Helpers here panic on anything unexpected: a panic is how a test reports failure.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use tunebench_eval::candidate::{CandidateSettings, RegistrySettings};
use tunebench_pipeline::registry::{
    Artifact, Evaluation, Lineage, Reference, Registry, Selector, candidate,
};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn tiny_model() -> PathBuf {
    repo().join("fixtures/tiny-llama/model")
}

/// The fixture adapter, copied so a test may change it.
fn adapter_copy(dir: &Path) -> PathBuf {
    let src = repo().join("fixtures/tiny-llama/adapter");
    let dst = dir.join("adapter");
    std::fs::create_dir_all(&dst).unwrap();
    for e in std::fs::read_dir(&src).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
    }
    dst
}

fn responses(name: &str) -> Artifact {
    Artifact::Candidate {
        candidate: toml::from_str(&format!(
            "kind = \"responses\"\nname = \"{name}\"\npath = \"/data/{name}.jsonl\""
        ))
        .unwrap(),
    }
}

fn eval_row(run: &str, gate: Option<&str>) -> Evaluation {
    Evaluation {
        run_id: run.into(),
        suite: "s".into(),
        candidate: "latest".into(),
        score: 0.9,
        lower: 0.8,
        upper: 0.95,
        cost_usd: 0.0,
        gate: gate.map(str::to_owned),
    }
}

fn settings(name: &str) -> RegistrySettings {
    toml::from_str(&format!("name = \"{name}\"\nmodel = \"registry:m@latest\"")).unwrap()
}

#[test]
fn references_parse_numbers_aliases_and_latest() {
    let r = Reference::parse("registry:support-bot@prod").unwrap();
    assert_eq!(r.model, "support-bot");
    assert_eq!(r.selector, Selector::Alias("prod".into()));
    assert_eq!(
        Reference::parse("m@3").unwrap().selector,
        Selector::Number(3)
    );
    assert_eq!(Reference::parse("m").unwrap().selector, Selector::Latest);
    assert_eq!(
        Reference::parse("m@latest").unwrap().selector,
        Selector::Latest
    );
    assert_eq!(Reference::parse("m@prod").unwrap().to_string(), "m@prod");
    for bad in ["", "@prod", "m@", "m@pr od", "a/b@1"] {
        assert!(Reference::parse(bad).is_err(), "{bad:?} accepted");
    }
}

#[test]
fn versions_of_each_kind_register_once_and_resolve() {
    let dir = tempfile::tempdir().unwrap();
    let mut reg = Registry::open(&dir.path().join("history.sqlite")).unwrap();
    let adapter = adapter_copy(dir.path());
    let local = Artifact::Local {
        path: adapter.clone(),
        base_model: Some(tiny_model().to_string_lossy().into_owned()),
    };
    let lineage = Lineage {
        run_id: Some("train-1".into()),
        base_model: Some("tiny".into()),
        ..Lineage::default()
    };
    let v1 = reg.register("m", &local, &lineage, Some("first")).unwrap();
    assert_eq!((v1.version, v1.created), (1, true));
    // The same files again: the same version, nothing new.
    let again = reg
        .register("m", &local, &Lineage::default(), None)
        .unwrap();
    assert_eq!((again.version, again.created), (1, false));
    let deployment = Artifact::Bedrock {
        arn: "arn:aws:bedrock:us-west-2:123456789012:custom-model-deployment/abc123".into(),
    };
    assert_eq!(
        reg.register("m", &deployment, &Lineage::default(), None)
            .unwrap()
            .version,
        2
    );
    assert_eq!(
        reg.register("m", &responses("r"), &Lineage::default(), None)
            .unwrap()
            .version,
        3
    );
    // A candidate is what it calls, not what it is named.
    let renamed = reg
        .register("m", &responses("r"), &Lineage::default(), None)
        .unwrap();
    assert_eq!((renamed.version, renamed.created), (3, false));
    let bad = Artifact::Bedrock {
        arn: "arn:aws:s3:::bucket/key".into(),
    };
    let msg = reg
        .register("m", &bad, &Lineage::default(), None)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("not the ARN of a Bedrock"), "{msg}");
    let missing = Artifact::Local {
        path: dir.path().join("nowhere"),
        base_model: None,
    };
    assert!(
        reg.register("m", &missing, &Lineage::default(), None)
            .is_err()
    );

    let latest = reg.resolve(&Reference::parse("m").unwrap()).unwrap();
    assert_eq!(latest.version, 3);
    let first = reg.resolve(&Reference::parse("m@1").unwrap()).unwrap();
    assert_eq!(first.lineage.run_id.as_deref(), Some("train-1"));
    assert_eq!(first.note.as_deref(), Some("first"));
    assert_eq!(reg.find("m", &local).unwrap(), Some(1));
    let msg = reg
        .resolve(&Reference::parse("m@9").unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("no version 9") && msg.contains("1 to 3"),
        "{msg}"
    );
    let msg = reg
        .resolve(&Reference::parse("m@prod").unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("no alias `prod`") && msg.contains("model promote m"),
        "{msg}"
    );
    let msg = reg
        .resolve(&Reference::parse("n").unwrap())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("no model `n`") && msg.contains("`m`"), "{msg}");
    let models = reg.models().unwrap();
    assert_eq!(models.len(), 1);
    assert_eq!((models[0].versions, models[0].latest), (3, 3));

    // As eval candidates.
    let mut s = settings("prod");
    s.device = Some("cpu".into());
    match candidate(&first, &s).unwrap() {
        CandidateSettings::Local(l) => {
            assert_eq!(l.name, "prod");
            assert_eq!(l.model_dir, tiny_model());
            assert_eq!(l.adapter.as_deref(), Some(adapter.as_path()));
        }
        other => panic!("{other:?}"),
    }
    let mut s = settings("bedrock");
    s.endpoint_url = Some("http://127.0.0.1:1".into());
    match candidate(&reg.resolve(&Reference::parse("m@2").unwrap()).unwrap(), &s).unwrap() {
        CandidateSettings::Bedrock(b) => {
            assert_eq!(b.region.as_deref(), Some("us-west-2"));
            assert!(b.model_id.ends_with("custom-model-deployment/abc123"));
            assert_eq!(b.endpoint_url.as_deref(), Some("http://127.0.0.1:1"));
            assert_eq!(b.concurrency, 4, "the candidate's own default");
        }
        other => panic!("{other:?}"),
    }
    match candidate(&latest, &settings("rec")).unwrap() {
        CandidateSettings::Responses(r) => assert_eq!(r.name, "rec"),
        other => panic!("{other:?}"),
    }
    // A changed adapter is no longer the version.
    let weights = adapter.join("adapter_model.safetensors");
    let mut bytes = std::fs::read(&weights).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&weights, bytes).unwrap();
    let msg = candidate(&first, &settings("prod"))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("m@1") && msg.contains("no longer the ones registered"),
        "{msg}"
    );
}

#[test]
fn a_custom_model_is_called_through_its_deployment() {
    let dir = tempfile::tempdir().unwrap();
    let mut reg = Registry::open(&dir.path().join("h.sqlite")).unwrap();
    let custom = Artifact::Bedrock {
        arn: "arn:aws:bedrock:us-east-1:123456789012:custom-model/amazon.nova-micro-v1:0:128k/x1"
            .into(),
    };
    reg.register("m", &custom, &Lineage::default(), None)
        .unwrap();
    let v = reg.resolve(&Reference::parse("m@1").unwrap()).unwrap();
    assert!(v.artifact.describe().starts_with("Bedrock custom model "));
    let msg = candidate(&v, &settings("c")).unwrap_err().to_string();
    assert!(
        msg.contains("deployment or provisioned throughput") && msg.contains("deploy"),
        "{msg}"
    );
}

#[test]
fn promotion_needs_a_passing_gate_or_a_reason_and_rollback_pops() {
    let dir = tempfile::tempdir().unwrap();
    let mut reg = Registry::open(&dir.path().join("h.sqlite")).unwrap();
    for name in ["a", "b", "c"] {
        reg.register("m", &responses(name), &Lineage::default(), None)
            .unwrap();
    }
    // Never gated.
    let msg = reg.promote("m", 1, "prod", None).unwrap_err().to_string();
    assert!(
        msg.contains("refused") && msg.contains("--force --reason"),
        "{msg}"
    );
    assert!(
        reg.promote("m", 1, "prod", Some("  ")).is_err(),
        "a blank reason"
    );
    let first = reg
        .promote("m", 1, "prod", Some("first production model"))
        .unwrap();
    assert_eq!((first.version, first.previous), (1, None));
    // Gated: passed, then a later run found a regression.
    reg.record_evaluations("m", 2, &[eval_row("n1", Some("pass"))])
        .unwrap();
    assert_eq!(
        reg.resolve(&Reference::parse("m@2").unwrap())
            .unwrap()
            .gate
            .as_deref(),
        Some("pass")
    );
    let moved = reg.promote("m", 2, "prod", None).unwrap();
    assert_eq!((moved.version, moved.previous), (2, Some(1)));
    reg.record_evaluations("m", 3, &[eval_row("n1", Some("pass"))])
        .unwrap();
    reg.record_evaluations(
        "m",
        3,
        &[eval_row("n2", None), eval_row("n3", Some("regression"))],
    )
    .unwrap();
    let msg = reg.promote("m", 3, "prod", None).unwrap_err().to_string();
    assert!(msg.contains("says `regression`"), "{msg}");
    // A run without a verdict on it does not change the verdict.
    assert_eq!(
        reg.resolve(&Reference::parse("m@3").unwrap())
            .unwrap()
            .evaluations
            .len(),
        3
    );
    reg.promote("m", 3, "prod", Some("hotfix approved by on-call"))
        .unwrap();
    assert_eq!(
        reg.resolve(&Reference::parse("m@prod").unwrap())
            .unwrap()
            .version,
        3
    );
    // Promoting the holder again changes nothing.
    let same = reg.promote("m", 3, "prod", None).unwrap();
    assert_eq!(same.previous, Some(3));

    let back = reg
        .rollback("m", "prod", Some("tickets misrouted"))
        .unwrap();
    assert_eq!((back.version, back.previous), (2, Some(3)));
    let back = reg.rollback("m", "prod", None).unwrap();
    assert_eq!(back.version, 1);
    let msg = reg.rollback("m", "prod", None).unwrap_err().to_string();
    assert!(msg.contains("nothing to roll back to"), "{msg}");
    assert!(reg.rollback("m", "staging", None).is_err());
    let v1 = reg.resolve(&Reference::parse("m@prod").unwrap()).unwrap();
    assert_eq!(
        (v1.version, v1.aliases.clone()),
        (1, vec!["prod".to_owned()])
    );

    let audit = reg.audit("m").unwrap();
    let actions: Vec<(&str, Option<u32>, Option<u32>, bool)> = audit
        .iter()
        .map(|a| (a.action.as_str(), a.version, a.previous, a.forced))
        .collect();
    assert_eq!(
        actions,
        [
            ("register", Some(1), None, false),
            ("register", Some(2), None, false),
            ("register", Some(3), None, false),
            ("promote", Some(1), None, true),
            ("promote", Some(2), Some(1), false),
            ("promote", Some(3), Some(2), true),
            ("rollback", Some(2), Some(3), false),
            ("rollback", Some(1), Some(2), false),
        ]
    );
    assert_eq!(
        audit[5].reason.as_deref(),
        Some("hotfix approved by on-call")
    );
    assert_eq!(audit[6].reason.as_deref(), Some("tickets misrouted"));
    assert!(audit.iter().all(|a| !a.who.is_empty()));
    // Aliases that could be read as something else are refused.
    for bad in ["latest", "12", "pr od"] {
        assert!(reg.promote("m", 1, bad, Some("x")).is_err(), "{bad}");
    }
}
