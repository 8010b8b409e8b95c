//! Deployment of a custom model: on-demand or provisioned throughput.

use super::*;

/// How to serve a custom model.
#[derive(Debug, Clone, PartialEq)]
pub enum DeployKind {
    /// On-demand custom model deployment (CreateCustomModelDeployment), in `region` (the
    /// section's or `[aws]`'s; `None` when only the SDK's default chain knows it, and then
    /// left to AWS to check).
    OnDemand {
        /// The region the deployment would be made in.
        region: Option<String>,
    },
    /// Provisioned throughput: billed by the hour whether used or not.
    Provisioned {
        /// Model units.
        model_units: i32,
        /// USD per model unit per hour, shown before committing (from configs/pricing.toml's
        /// `provisioned_per_hour` or the pricing page).
        hourly_usd_per_unit: Option<f64>,
        /// The caller's explicit consent; without it nothing is created.
        yes: bool,
    },
}

/// Regions with on-demand custom model deployment.
const ON_DEMAND_REGIONS: &[&str] = &["us-east-1", "us-west-2"];

/// On-demand deployment (CreateCustomModelDeployment) serves only Amazon Nova models
/// customized on or after 2025-07-16, in us-east-1 and us-west-2 (Amazon Bedrock user guide,
/// "Deploy a custom model for on-demand inference"); every other custom model (a Llama,
/// Titan or Cohere fine-tune) is served through Provisioned Throughput. Jobs recorded by
/// tunebench all postdate 2025-07-16, so the date part holds for them.
///
/// # Errors
/// [`TrainError::Refused`] naming the rule and suggesting `--provisioned`.
pub fn on_demand_rule(base_model: &str, region: Option<&str>) -> Result<()> {
    let nova = base_model.contains("amazon.nova");
    let region_ok = region.is_none_or(|r| ON_DEMAND_REGIONS.contains(&r));
    if nova && region_ok {
        return Ok(());
    }
    let why = if nova {
        format!(
            "on-demand deployment of custom models exists only in {} (this one is in {})",
            ON_DEMAND_REGIONS.join(" and "),
            region.unwrap_or_default()
        )
    } else {
        format!(
            "on-demand deployment serves only Amazon Nova models customized on or after 2025-07-16; `{base_model}` fine-tunes are served through Provisioned Throughput"
        )
    };
    Err(TrainError::Refused(format!(
        "{why}; nothing was created\nhint: `tunebench train bedrock deploy --provisioned --model-units 1 --yes` (billed by the hour whether used or not; see its cost line first without --yes)"
    )))
}

/// What [`deploy`] made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Served {
    /// The deployment or provisioned-throughput ARN: the `modelId` eval's Bedrock candidate
    /// calls.
    pub arn: String,
    /// Its final status (`Active` or `InService`).
    pub status: String,
}

/// Deploys the custom model recorded in `out_dir/job.json` and waits until it can be called
/// (`Active` / `InService`). The ARN is recorded in the registry as soon as it exists (so
/// `undeploy` can remove a deployment whose wait was interrupted) and its status after every
/// poll. `on_notice` gets the hourly cost line before provisioned throughput is bought;
/// `on_poll` sees every status. A deployment (or provisioned throughput) already recorded is
/// watched again instead of creating a second one; and a create retried with the same name
/// returns the same resource (idempotency token from the name and the model).
pub fn deploy(
    clients: &Clients,
    out_dir: &Path,
    name: &str,
    kind: &DeployKind,
    wait: &WaitSettings,
    mut on_notice: impl FnMut(&str),
    mut on_poll: impl FnMut(&str),
) -> Result<Served> {
    let mut rec = JobRecord::load(out_dir)?.ok_or_else(|| TrainError::NoRegistry {
        path: JobRecord::path(out_dir),
    })?;
    let model = rec.custom_model_arn.clone().ok_or_else(|| {
        TrainError::Refused(format!(
            "{}: no custom model ARN yet (job status {})\nhint: `tunebench train bedrock wait` first",
            JobRecord::path(out_dir).display(),
            rec.status
        ))
    })?;
    // ModelDeploymentName and ProvisionedModelName: ([0-9a-zA-Z][_-]?){1,63}.
    if !((1..=63).contains(&name.len()) && Patterns::new().model_name.is_match(name)) {
        return Err(TrainError::Refused(format!(
            "deployment name {name:?} is not valid: 1-63 letters or digits, each optionally followed by one '_' or '-'; nothing was created\nhint: pass --name"
        )));
    }
    let token = format!(
        "tb-{}",
        &hex::encode(Sha256::digest(format!("{name}\0{model}")))[..48]
    );
    let bedrock = &clients.bedrock;
    match kind {
        DeployKind::OnDemand { region } => {
            on_demand_rule(&rec.base_model, region.as_deref())?;
            // A recorded deployment is watched, not replaced: a second one would leave the
            // first running and unrecorded.
            let arn = match rec.deployment_arn.clone() {
                Some(arn) => arn,
                None => {
                    let arn = bedrock.create_custom_model_deployment(name, &model, Some(&token))?;
                    rec.deployment_arn = Some(arn.clone());
                    rec.deployment_status = Some("Creating".into());
                    rec.save(out_dir)?;
                    arn
                }
            };
            let d = poll(
                wait,
                &arn,
                || bedrock.get_custom_model_deployment(&arn),
                |d| {
                    on_poll(&d.status);
                    rec.deployment_status = Some(d.status.clone());
                    rec.save(out_dir)?;
                    Ok(d.status != "Creating")
                },
                |d| d.status.clone(),
            )?;
            usable(&arn, &d.status, "Active", d.failure_message.as_deref())
        }
        DeployKind::Provisioned {
            model_units,
            hourly_usd_per_unit,
            yes,
        } if rec.provisioned_throughput_arn.is_none() => {
            let cost = match hourly_usd_per_unit {
                Some(h) => format!(
                    "${:.2}/hour (${:.0}/month) for {model_units} model unit(s)",
                    h * f64::from(*model_units),
                    h * f64::from(*model_units) * 730.0
                ),
                None => {
                    "an hourly rate per model unit (see https://aws.amazon.com/bedrock/pricing/)"
                        .into()
                }
            };
            on_notice(&format!(
                "provisioned throughput for {model} is billed at {cost} until it is deleted"
            ));
            if !yes {
                return Err(TrainError::Refused(format!(
                    "provisioned throughput not created: it costs {cost}\nhint: pass --yes to accept"
                )));
            }
            let arn =
                bedrock.create_provisioned_throughput(name, &model, *model_units, Some(&token))?;
            rec.provisioned_throughput_arn = Some(arn.clone());
            rec.provisioned_throughput_status = Some("Creating".into());
            rec.save(out_dir)?;
            wait_provisioned(bedrock, &mut rec, out_dir, &arn, wait, on_poll)
        }
        // Already bought (and recorded): watch it, nothing new is billed.
        DeployKind::Provisioned { .. } => {
            let arn = rec.provisioned_throughput_arn.clone().unwrap_or_default();
            wait_provisioned(bedrock, &mut rec, out_dir, &arn, wait, on_poll)
        }
    }
}

pub(super) fn wait_provisioned(
    bedrock: &tunebench_aws::Bedrock,
    rec: &mut JobRecord,
    out_dir: &Path,
    arn: &str,
    wait: &WaitSettings,
    mut on_poll: impl FnMut(&str),
) -> Result<Served> {
    let p = poll(
        wait,
        arn,
        || bedrock.get_provisioned_throughput(arn),
        |p| {
            on_poll(&p.status);
            rec.provisioned_throughput_status = Some(p.status.clone());
            rec.save(out_dir)?;
            Ok(!matches!(p.status.as_str(), "Creating" | "Updating"))
        },
        |p| p.status.clone(),
    )?;
    usable(arn, &p.status, "InService", p.failure_message.as_deref())
}

pub(super) fn usable(
    arn: &str,
    status: &str,
    ready: &str,
    failure: Option<&str>,
) -> Result<Served> {
    if status == ready {
        Ok(Served {
            arn: arn.to_string(),
            status: status.to_string(),
        })
    } else {
        Err(TrainError::Unusable {
            arn: arn.to_string(),
            status: status.to_string(),
            reason: failure.unwrap_or("no reason given").to_string(),
        })
    }
}

/// Deletes the deployment and provisioned throughput recorded in `out_dir/job.json`; returns
/// the ARNs deleted.
pub fn undeploy(clients: &Clients, out_dir: &Path) -> Result<Vec<String>> {
    let mut rec = JobRecord::load(out_dir)?.ok_or_else(|| TrainError::NoRegistry {
        path: JobRecord::path(out_dir),
    })?;
    let mut gone = Vec::new();
    if let Some(d) = rec.deployment_arn.take() {
        clients.bedrock.delete_custom_model_deployment(&d)?;
        rec.deployment_status = None;
        gone.push(d);
        rec.save(out_dir)?;
    }
    if let Some(p) = rec.provisioned_throughput_arn.take() {
        clients.bedrock.delete_provisioned_throughput(&p)?;
        rec.provisioned_throughput_status = None;
        gone.push(p);
        rec.save(out_dir)?;
    }
    Ok(gone)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_nova_is_deployed_on_demand_and_only_where_it_exists() {
        assert!(on_demand_rule("amazon.nova-micro-v1:0:128k", Some("us-west-2")).is_ok());
        assert!(on_demand_rule("amazon.nova-2-lite-v1:0:256k", None).is_ok());
        // A reinforcement fine-tune of Nova 2 Lite deploys on demand too ("deploy the
        // resulting RFT model with one click for on-demand inference", Bedrock user guide).
        assert!(on_demand_rule("amazon.nova-lite-v2:0:256k", Some("us-east-1")).is_ok());
        let llama = on_demand_rule("meta.llama3-1-8b-instruct-v1:0:128k", Some("us-east-1"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            llama.contains("Provisioned Throughput") && llama.contains("--provisioned"),
            "{llama}"
        );
        let region = on_demand_rule("amazon.nova-lite-v1:0:300k", Some("eu-west-1"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            region.contains("eu-west-1") && region.contains("us-east-1"),
            "{region}"
        );
    }
}
