//! Status, wait (polling with backoff), stop and list.

use super::*;

/// The job's current state; updates the registry when `job` is [`JobRef::Registry`].
pub fn status(clients: &Clients, job: &JobRef) -> Result<CustomizationJob> {
    let (id, reg) = job.resolve()?;
    let j = clients.bedrock.get_customization_job(&id)?;
    if let Some((dir, mut rec)) = reg {
        rec.update(&j);
        rec.save(&dir)?;
    }
    Ok(j)
}

/// [`tunebench_aws::wait::poll`] with training's error type.
pub(super) fn poll<T>(
    opts: &WaitSettings,
    target: &str,
    get: impl FnMut() -> std::result::Result<T, tunebench_aws::Error>,
    done: impl FnMut(&T) -> Result<bool>,
    status: impl Fn(&T) -> String,
) -> Result<T> {
    tunebench_aws::wait::poll(opts, target, get, done, status)
}

/// Polls until the job is `Completed`, `Failed` or `Stopped`, with backoff; throttling and
/// server errors are retried. `on_poll` sees every status (and sub-statuses) for a progress
/// display. With a registry, `job.json` follows each poll and a completed job is
/// [`collect`]ed. A failed job is returned, not an error.
pub fn wait(
    clients: &Clients,
    job: &JobRef,
    opts: &WaitSettings,
    mut on_poll: impl FnMut(&CustomizationJob),
) -> Result<CustomizationJob> {
    let (id, mut reg) = job.resolve()?;
    let j = poll(
        opts,
        &id,
        || clients.bedrock.get_customization_job(&id),
        |j| {
            on_poll(j);
            if let Some((dir, rec)) = reg.as_mut() {
                rec.update(j);
                rec.save(dir)?;
            }
            Ok(j.is_terminal())
        },
        |j| j.status.clone(),
    )?;
    if let Some((dir, _)) = &reg
        && j.status == "Completed"
    {
        collect(clients, dir, &j)?;
    }
    Ok(j)
}

/// Asks the job to stop (updates the registry's status on the next `status`/`wait`).
pub fn stop(clients: &Clients, job: &JobRef) -> Result<()> {
    let (id, _) = job.resolve()?;
    Ok(clients.bedrock.stop_customization_job(&id)?)
}

/// Customization jobs matching `filter`, newest first.
pub fn list(clients: &Clients, filter: &JobFilter) -> Result<Vec<CustomizationJobSummary>> {
    Ok(clients.bedrock.list_customization_jobs(filter)?)
}
