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

/// How [`wait`] polls.
#[derive(Debug, Clone, PartialEq)]
pub struct WaitSettings {
    /// First interval between polls.
    pub initial_interval: Duration,
    /// Intervals double up to this.
    pub max_interval: Duration,
    /// Give up after this long (the job keeps running).
    pub timeout: Option<Duration>,
    /// Consecutive throttled / 5xx / transport failures tolerated (after the SDK's own
    /// retries) before giving up.
    pub max_consecutive_errors: u32,
}

impl Default for WaitSettings {
    fn default() -> Self {
        WaitSettings {
            initial_interval: Duration::from_secs(30),
            max_interval: Duration::from_secs(300),
            timeout: None,
            max_consecutive_errors: 10,
        }
    }
}

/// Whether a failed poll is worth another try.
pub(super) fn transient(e: &tunebench_aws::Error) -> bool {
    match e {
        tunebench_aws::Error::Bedrock { code, .. } => match code.as_deref() {
            None => true,
            Some(c) => {
                c.contains("Throttl")
                    || c.contains("TooManyRequests")
                    || c.contains("InternalServer")
                    || c.contains("ServiceUnavailable")
            }
        },
        _ => false,
    }
}

/// Polls `get` with backoff (intervals doubling from `opts.initial_interval` up to
/// `opts.max_interval`) until `done` says the answer is final, and returns that answer.
/// Throttling, 5xx and transport errors are retried, up to `opts.max_consecutive_errors` in
/// a row; `status` names the last state in a [`tunebench_aws::Error::WaitTimeout`].
pub(super) fn poll<T>(
    opts: &WaitSettings,
    target: &str,
    mut get: impl FnMut() -> std::result::Result<T, tunebench_aws::Error>,
    mut done: impl FnMut(&T) -> Result<bool>,
    status: impl Fn(&T) -> String,
) -> Result<T> {
    let started = Instant::now();
    let mut interval = opts.initial_interval;
    let mut errors = 0;
    loop {
        match get() {
            Ok(x) => {
                errors = 0;
                if done(&x)? {
                    return Ok(x);
                }
                if let Some(t) = opts.timeout
                    && started.elapsed() + interval > t
                {
                    return Err(tunebench_aws::Error::WaitTimeout {
                        target: target.to_string(),
                        status: status(&x),
                        waited: started.elapsed(),
                    }
                    .into());
                }
            }
            Err(e) if transient(&e) && errors < opts.max_consecutive_errors => errors += 1,
            Err(e) => return Err(e.into()),
        }
        std::thread::sleep(interval);
        interval = (interval * 2).min(opts.max_interval);
    }
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
