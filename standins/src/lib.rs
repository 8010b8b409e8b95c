//! Loopback stand-ins of remote services, for tests and benchmarks. Nothing here talks to the internet.

pub mod bedrock;
pub mod cloudwatch;
pub mod hub;
pub mod openai;
pub mod real_models;
pub mod s3;
mod server;

/// The HTTP client the stand-ins' own SDK clients (and their tests) use. The AWS crates are
/// built without their default HTTPS client (see the workspace Cargo.toml), so every SDK
/// client is given one: tunebench-aws does the same for the product's clients.
pub fn sdk_http_client() -> aws_sdk_s3::config::SharedHttpClient {
    use aws_smithy_http_client::tls;
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}
