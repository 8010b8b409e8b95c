//! The `tunebench` command: parse, resolve settings, call one library function per
//! subcommand, and map errors to exit codes (0 ok, 1 failure, 2 usage or config error;
//! 3 is the regression gate's; 130 training stopped by Ctrl-C after a checkpoint).
//!
//! An eval (alone or in `tunebench run`) in which a candidate answered nothing (every
//! request failed) is a failure: its results are written, the candidate is marked failed and
//! not ranked, and the exit code is 1 (3 when the gate of the same run found a regression).

mod cache;
mod cli;
mod config;
mod data;
mod eval;
mod model;
mod progress;
mod redact;
mod report;
mod run;
mod train;
mod train_bedrock;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    config::set_run_id(cli.global.run_id.clone());
    redact::from_environment();
    init_logging(cli.global.verbose, cli.global.quiet);
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", redact::redact(&message(&err)));
            ExitCode::from(exit_code(&err))
        }
    }
}

fn run(cli: &cli::Cli) -> anyhow::Result<()> {
    match &cli.command {
        cli::Command::Data(cli::DataCommand::Prepare(args)) => data::prepare(&cli.global, args),
        cli::Command::Model(cmd) => match cmd {
            cli::ModelCommand::Info(a) => model::info(&cli.global, a),
            cli::ModelCommand::Generate(a) => model::generate(&cli.global, a),
            cli::ModelCommand::Score(a) => model::score(&cli.global, a),
            cli::ModelCommand::Merge(a) => model::merge(&cli.global, a),
            cli::ModelCommand::Convert(a) => model::convert(&cli.global, a),
        },
        cli::Command::Eval(a) => eval::run(&cli.global, a),
        cli::Command::Run(a) => run::run(&cli.global, a),
        cli::Command::Report(a) => report::report(&cli.global, a),
        cli::Command::Gate(a) => report::gate(&cli.global, a),
        cli::Command::Cache(cli::CacheCommand::Prune(a)) => cache::prune(&cli.global, a),
        cli::Command::Train(cmd) => match cmd {
            cli::TrainCommand::Local(a) => train::local(&cli.global, a),
            cli::TrainCommand::Bedrock(b) => train_bedrock::run(&cli.global, b),
        },
    }
}

/// The error and its causes, each cause left out when an outer message already says it
/// (library errors often print their source in their own message).
fn message(err: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if !out.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
    }
    out
}

/// 2 for anything the user fixes in the command line or the config, 1 for the rest.
fn exit_code(err: &anyhow::Error) -> u8 {
    use tunebench_datasets::Error as D;
    use tunebench_models::ModelError as M;
    for cause in err.chain() {
        if cause.downcast_ref::<report::Regression>().is_some() {
            return 3;
        }
        if let Some(e) = cause.downcast_ref::<tunebench_reports::ReportError>() {
            return match e {
                tunebench_reports::ReportError::Gate(_)
                | tunebench_reports::ReportError::Input { .. } => 2,
                _ => 1,
            };
        }
        if let Some(e) = cause.downcast_ref::<M>() {
            return match e {
                M::InvalidConfig { .. }
                | M::UnsupportedArchitecture { .. }
                | M::InvalidInput(_) => 2,
                _ => 1,
            };
        }
        if let Some(e) = cause.downcast_ref::<tunebench_eval::error::EvalError>() {
            use tunebench_eval::error::EvalError as E;
            return match e {
                E::Scoring(s) => scoring_exit_code(s),
                E::Input { .. } | E::Overlap(_) => 2,
                _ => 1,
            };
        }
        if let Some(e) = cause.downcast_ref::<tunebench_eval::error::ScoreError>() {
            return scoring_exit_code(e);
        }
        if cause.downcast_ref::<train::Interrupted>().is_some() {
            return 130;
        }
        if let Some(e) = cause.downcast_ref::<tunebench_train::TrainError>() {
            use tunebench_train::TrainError as T;
            return match e {
                T::Config(_)
                | T::Example { .. }
                | T::NoExamples { .. }
                | T::Preflight(_)
                | T::CostLimit { .. }
                | T::NoRegistry { .. }
                | T::Refused(_) => 2,
                _ => 1,
            };
        }
        if cause.downcast_ref::<config::ConfigError>().is_some()
            || cause.downcast_ref::<tunebench_core::Overlap>().is_some()
            || cause.downcast_ref::<model::OutputInUse>().is_some()
        {
            return 2;
        }
        if let Some(e) = cause.downcast_ref::<D>() {
            return match e {
                D::Config(_)
                | D::NoInput { .. }
                | D::OutputIsInput { .. }
                | D::Overlap(_)
                | D::MissingColumn { .. }
                | D::ColumnType { .. } => 2,
                _ => 1,
            };
        }
    }
    1
}

/// Logs to stderr through [`redact::Redacting`], so no credential is printed at any level
/// (RUST_LOG included). By default aws-sigv4 stays at `info`: its debug lines are canonical
/// requests, signed headers and session token included, useful only to debug a signature.
/// 2 for a suite, data or responses file the user fixes, 1 for the rest.
fn scoring_exit_code(e: &tunebench_eval::error::ScoreError) -> u8 {
    use tunebench_eval::error::ScoreError as S;
    match e {
        S::Input { .. } | S::SuiteToml { .. } | S::Responses { .. } => 2,
        _ => 1,
    }
}

fn init_logging(verbose: u8, quiet: bool) {
    use tracing_subscriber::EnvFilter;
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info,tunebench=debug",
        (false, _) => "debug,aws_sigv4=info",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| redact::Redacting(std::io::stderr()))
        .with_target(false)
        .init();
}
