//! `tunebench data prepare`: merge flags, environment and file into `[data]`, run the
//! preparation, upload if asked, and print a summary (or JSON).

use anyhow::Context;
use tunebench_aws::{AwsSettings, S3, S3Uri, UploadOptions};
use tunebench_datasets::{RawDataConfig, prepare as run_prepare};

use crate::cli::{Global, PrepareArgs};
use crate::config;
use crate::progress::Bars;

pub fn prepare(global: &Global, args: &PrepareArgs) -> anyhow::Result<()> {
    let (file, base) = config::load(&args.config)?;
    let from_cli = RawDataConfig {
        inputs: (!args.inputs.is_empty()).then(|| args.inputs.clone()),
        target: args.target.clone(),
        out_dir: args.out.clone(),
        on_error: args.on_error.clone(),
        pii: args.pii.clone(),
        output_format: args.output_format.clone(),
        ..RawDataConfig::default()
    };
    let mut raw = from_cli.or(file.data.clone().unwrap_or_default());
    // Paths given on the command line are relative to the working directory, not the config.
    let cwd = std::env::current_dir().context("reading the working directory")?;
    if let Some(out) = &args.out {
        raw.out_dir = Some(cwd.join(out).to_string_lossy().into_owned());
    }
    if !args.inputs.is_empty() {
        raw.inputs = Some(
            args.inputs
                .iter()
                .map(|i| {
                    if i.starts_with("s3://") {
                        i.clone()
                    } else {
                        cwd.join(i).to_string_lossy().into_owned()
                    }
                })
                .collect(),
        );
    }
    let settings = raw.resolve(&base)?;
    let aws = config::audited(
        AwsSettings {
            endpoint_url: args
                .endpoint_url
                .clone()
                .or(file.aws.as_ref().and_then(|a| a.endpoint_url.clone())),
            ..file.aws.clone().unwrap_or_default()
        },
        &base,
        &settings.out_dir,
    );
    let upload_cfg = file.upload.clone().unwrap_or_default();
    let upload_uri = args.upload.clone().or(upload_cfg.uri.clone());
    let upload_dest: Option<S3Uri> = upload_uri.as_deref().map(str::parse).transpose()?;
    let upload_opts = UploadOptions {
        sse_kms_key_id: args
            .sse_kms_key_id
            .clone()
            .or(upload_cfg.sse_kms_key_id.clone()),
        multipart_threshold: upload_cfg
            .multipart_threshold_mib
            .map_or(UploadOptions::default().multipart_threshold, |m| m << 20),
        ..UploadOptions::default()
    };

    if global.show_settings {
        let shown = serde_json::json!({
            "data": settings,
            "aws": aws,
            "upload": {
                "uri": upload_uri,
                "sse_kms_key_id": upload_opts.sse_kms_key_id,
                "multipart_threshold_bytes": upload_opts.multipart_threshold,
            },
        });
        println!("{}", serde_json::to_string_pretty(&shown)?);
        return Ok(());
    }

    if let Some(dest) = &upload_dest {
        tunebench_datasets::check_upload_dest(&settings, dest)?;
    }
    let needs_s3 = upload_dest.is_some() || settings.inputs.iter().any(|i| i.starts_with("s3://"));
    let s3 = needs_s3.then(|| S3::connect(&aws)).transpose()?;
    let fetched = match &s3 {
        Some(s3) => tunebench_datasets::fetch_inputs(
            &settings.inputs,
            s3,
            &settings.out_dir.join(".inputs"),
        )?,
        None => Vec::new(),
    };
    let bars = Bars::new(global.quiet || global.json);
    let mut prepared = run_prepare(&settings, &fetched, args.force, &bars)?;
    if let (Some(s3), Some(dest)) = (&s3, &upload_dest) {
        tunebench_datasets::upload(&mut prepared, s3, dest, &upload_opts)
            .with_context(|| format!("uploading to {dest}"))?;
    }

    let m = &prepared.manifest;
    if global.json {
        println!("{}", serde_json::to_string_pretty(m)?);
    } else if !global.quiet {
        let c = &m.counts;
        let split = |s: &str| m.splits.get(s).map_or(0, |o| o.records);
        let verb = if prepared.reused {
            "up to date"
        } else {
            "prepared"
        };
        println!(
            "{verb}: {} records in → {} kept (train {}, validation {}, test {})",
            c.input,
            c.kept,
            split("train"),
            split("validation"),
            split("test")
        );
        println!(
            "dropped: {} rejected (unreadable {}, empty {}, too large {}, PII {}, target rules {}), {} duplicates (exact {}, near {}), {} over the token limit",
            c.rejected,
            c.unreadable,
            c.empty,
            c.too_large,
            c.pii_rejected,
            c.invalid_for_target,
            c.duplicates,
            c.exact_duplicates,
            c.near_duplicates,
            c.filtered
        );
        let pii: Vec<String> = m
            .pii
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        if !pii.is_empty() {
            println!("PII found: {}", pii.join(", "));
        }
        if m.leakage.moved > 0 || !m.leakage.reported.is_empty() {
            println!(
                "leakage: {} moved into train, {} reported",
                m.leakage.moved,
                m.leakage.reported.len()
            );
        }
        for u in &m.uploaded {
            println!("uploaded {} → {} ({})", u.file, u.uri, u.outcome);
        }
        println!(
            "target {}; outputs in {}",
            m.target,
            prepared.out_dir.display()
        );
    }
    if !m.counts.balanced() {
        anyhow::bail!(
            "internal error: record counts do not balance: {:?}",
            m.counts
        );
    }
    Ok(())
}
