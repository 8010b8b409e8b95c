//! Loopback stand-ins of remote services, for tests and benchmarks. Nothing here talks to the internet.

pub mod bedrock;
pub mod cloudwatch;
pub mod hub;
pub mod openai;
pub mod real_models;
pub mod s3;
mod server;
