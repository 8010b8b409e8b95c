//! Waiting for a long-running AWS resource (a customization job, a batch inference job, a
//! deployment): polls with backoff, riding out throttling and server errors. Training's
//! `train bedrock wait` and eval's batch mode poll through the same [`poll`].

use std::time::{Duration, Instant};

use crate::Error;

/// How [`poll`] waits.
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

/// Whether a failed poll is worth another try: throttling, server errors and transport
/// failures (no error code).
pub fn transient(e: &Error) -> bool {
    match e {
        Error::Bedrock { code, .. } => match code.as_deref() {
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
/// a row; `status` names the last state in an [`Error::WaitTimeout`].
pub fn poll<T, E: From<Error>>(
    opts: &WaitSettings,
    target: &str,
    mut get: impl FnMut() -> Result<T, Error>,
    mut done: impl FnMut(&T) -> Result<bool, E>,
    status: impl Fn(&T) -> String,
) -> Result<T, E> {
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
                    return Err(Error::WaitTimeout {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn throttled() -> Error {
        Error::Bedrock {
            operation: "GetModelInvocationJob",
            target: "job".into(),
            code: Some("ThrottlingException".into()),
            message: "slow down".into(),
            hint: None,
        }
    }

    #[test]
    fn poll_rides_out_transient_errors_and_stops_at_the_final_answer() {
        let opts = WaitSettings {
            initial_interval: Duration::from_millis(1),
            max_interval: Duration::from_millis(2),
            timeout: None,
            max_consecutive_errors: 2,
        };
        let mut answers = vec![Ok(3), Err(throttled()), Ok(2), Err(throttled()), Ok(1)];
        let got: Result<i32, Error> = poll(
            &opts,
            "job",
            || answers.pop().unwrap_or(Ok(0)),
            |x| Ok(*x == 3),
            |x| x.to_string(),
        );
        assert_eq!(got.ok(), Some(3));

        let mut always = || Err::<i32, _>(throttled());
        let err: Result<i32, Error> =
            poll(&opts, "job", &mut always, |_| Ok(true), |x| x.to_string());
        assert!(
            matches!(err, Err(Error::Bedrock { .. })),
            "gave up after 2 errors"
        );
    }
}
