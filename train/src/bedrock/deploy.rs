//! Deployment of a custom model: on-demand or provisioned throughput.

use super::*;

/// How to serve a custom model.
#[derive(Debug, Clone, PartialEq)]
pub enum DeployKind {
    /// On-demand custom model deployment (CreateCustomModelDeployment).
    OnDemand,
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
        DeployKind::OnDemand => {
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
