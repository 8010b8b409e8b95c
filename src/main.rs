//! The `tunebench` command: parse, lay flags over the config, call one function of
//! tunebench-pipeline (or of a stage's crate) per subcommand, print what it returns, and
//! exit with the code the error itself asks for (0 ok, 1 failure, 2 usage or config error;
//! 3 is the regression gate's; 130 training stopped by Ctrl-C after a checkpoint).
//!
//! An eval (alone or in `tunebench run`) in which a candidate answered nothing (every
//! request failed) is a failure: its results are written, the candidate is marked failed and
//! not ranked, and the exit code is 1 (3 when the gate of the same run found a regression).

mod cache;
mod cli;
mod data;
mod eval;
mod memory;
mod model;
mod print;
mod progress;
mod registry;
mod report;
mod run;
mod train;
mod train_bedrock;

use std::error::Error as StdError;
use std::process::ExitCode;

use clap::Parser;
use tunebench_pipeline::redact;

fn main() -> ExitCode {
    memory::share_one_arena();
    let _giving_back = match memory::GivingBack::from_env() {
        Ok(giving_back) => giving_back,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    let cli = cli::Cli::parse();
    redact::from_environment();
    init_logging(cli.global.verbose, cli.global.quiet);
    tunebench_models::hub::report_downloads_to(Box::new(progress::DownloadBar::new(
        cli.global.silent(),
    )));
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", redact::redact(&message(&err)));
            ExitCode::from(exit_code(&err))
        }
    }
}

/// The config at `path`, its `{run_dir}` standing for the run of `--run-id`.
fn load(
    global: &cli::Global,
    path: &std::path::Path,
) -> Result<tunebench_pipeline::Loaded, tunebench_pipeline::ConfigError> {
    tunebench_pipeline::load(path, global.run_id.as_deref())
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
            cli::ModelCommand::Register(a) => registry::register(&cli.global, a),
            cli::ModelCommand::List(a) => registry::list(&cli.global, a),
            cli::ModelCommand::Show(a) => registry::show(&cli.global, a),
            cli::ModelCommand::Promote(a) => registry::promote(&cli.global, a),
            cli::ModelCommand::Rollback(a) => registry::rollback(&cli.global, a),
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

/// The exit code for `err`: the pipeline's own answer when the error is one, else 2 when
/// the first error in the chain that knows whose fault it is says the user's, else 1.
fn exit_code(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<tunebench_pipeline::PipelineError>() {
            return e.exit_code();
        }
        if let Some(user) = user_fault(cause) {
            return if user { 2 } else { 1 };
        }
    }
    1
}

/// What `cause` says of itself, if it is the error of a crate the binary calls directly.
fn user_fault(cause: &(dyn StdError + 'static)) -> Option<bool> {
    fn ask<E: tunebench_core::UserFault + StdError + 'static>(
        cause: &(dyn StdError + 'static),
    ) -> Option<bool> {
        cause.downcast_ref::<E>().map(E::is_user_fault)
    }
    if cause
        .downcast_ref::<tunebench_pipeline::ConfigError>()
        .is_some()
    {
        return Some(true);
    }
    ask::<tunebench_reports::ReportError>(cause)
        .or_else(|| ask::<tunebench_pipeline::registry::RegistryError>(cause))
        .or_else(|| ask::<tunebench_models::ModelError>(cause))
        .or_else(|| ask::<tunebench_eval::error::EvalError>(cause))
        .or_else(|| ask::<tunebench_eval::error::ScoreError>(cause))
        .or_else(|| ask::<tunebench_train::TrainError>(cause))
        .or_else(|| ask::<tunebench_core::Overlap>(cause))
        .or_else(|| ask::<tunebench_datasets::Error>(cause))
}

/// Logs to stderr through [`redact::Redacting`], so no credential is printed at any level
/// (RUST_LOG included). By default aws-sigv4 stays at `info`: its debug lines are canonical
/// requests, signed headers and session token included, useful only to debug a signature.
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
