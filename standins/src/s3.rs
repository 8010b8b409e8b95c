//! The loopback S3 server scripts/test.sh starts (moto) for the tests that read and write
//! S3.

/// Its endpoint, from `TUNEBENCH_TEST_S3_ENDPOINT`.
///
/// # Panics
/// When the variable is not set: the tests were not started through scripts/test.sh.
pub fn endpoint() -> String {
    std::env::var("TUNEBENCH_TEST_S3_ENDPOINT").expect(
        "TUNEBENCH_TEST_S3_ENDPOINT is not set: run the tests with scripts/test.sh, which starts a local S3 server",
    )
}
