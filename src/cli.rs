//! Command-line interface. The doc comments here are the `--help` text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
pub use tunebench_pipeline::Stage;

/// tunebench: data → train → eval → report for teams that make custom language models.
///
/// Each stage is a subcommand that reads a TOML config (see configs/ for examples).
/// Settings come from, highest first: command-line flags, TUNEBENCH_* environment
/// variables, the config file, then defaults; `--show-settings` prints the result. The
/// variables act the same under `tunebench run` as under the single commands.
///
/// Exit codes: 0 ok, 1 failure (an eval in which a candidate answered nothing included),
/// 2 usage or config error, 3 regression found by the gate, 130 training stopped by Ctrl-C
/// (a checkpoint was written; --resume continues).
///
/// Every AWS call (S3, Bedrock, Bedrock Runtime, CloudWatch) is logged to aws-audit.jsonl in
/// the run folder (`run`) or the command's output folder, or to the config's `[aws]
/// audit_log`: one JSON line per call, never a credential, record content or metric value.
#[derive(Debug, Parser)]
#[command(
    name = "tunebench",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every subcommand takes.
#[derive(Debug, Args)]
pub struct Global {
    /// More log output (-v: info, -vv: debug); RUST_LOG overrides it.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// No progress bars and no summary; errors only.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Print the result as JSON on stdout (for scripts and CI).
    #[arg(long, global = true)]
    pub json: bool,
    /// Print the resolved settings as JSON and exit without doing anything.
    #[arg(long, global = true)]
    pub show_settings: bool,
    /// Run id: the folder <runs_dir>/<id> that `{run_dir}` in a config stands for (default:
    /// the config's [run] id, else its file name). E.g. --run-id nightly-$(date +%F).
    #[arg(long, global = true, env = "TUNEBENCH_RUN_ID")]
    pub run_id: Option<String>,
}

impl Global {
    /// No progress bars and no human summary: `--quiet`, or `--json` (stdout is the answer).
    pub fn silent(&self) -> bool {
        self.quiet || self.json
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Prepare data sets for fine-tuning and evaluation.
    #[command(subcommand)]
    Data(DataCommand),
    /// Run a local Llama-family model (Llama 2/3, SmolLM, Mistral, Qwen2) from a Hugging
    /// Face directory, with or without a PEFT LoRA adapter; and keep model versions in the
    /// registry: register, list, show, promote to an alias, roll back.
    #[command(subcommand)]
    Model(ModelCommand),
    /// Fine-tune a model.
    #[command(subcommand)]
    Train(TrainCommand),
    /// Score candidate models (local, OpenAI-compatible, recorded responses) on held-out
    /// suites: every example answered or marked errored, responses cached, tokens, latency
    /// and dollars counted, and every pair of candidates compared with paired tests.
    ///
    /// Writes <out_dir>/<suite>/<candidate>/{responses,scores}.jsonl + summary.json and
    /// <out_dir>/<suite>/comparison.{json,md}; prints the comparison table. A candidate
    /// that answered nothing (every request failed) is marked failed, not ranked, and makes
    /// the command exit 1 after writing the results.
    ///
    /// Example: tunebench eval --config configs/eval-banking77.toml
    Eval(EvalArgs),
    /// The whole pipeline from one config: data → train → eval → report (→ gate), into
    /// runs/<run-id>/ with run.json (config hash, tool version, per-stage input and output
    /// hashes, times and costs).
    ///
    /// A stage whose inputs are unchanged is reused; a killed run resumes where it stopped
    /// (training from its checkpoint, eval from its response cache: nothing answered is sent
    /// again). The [gate] rules are checked against the suites and candidates before any
    /// stage runs. Exit code 3 when the gate finds a regression; 1 when a candidate answered
    /// nothing (the report, marking it failed, is written first).
    ///
    /// With `[report] cloudwatch = { namespace = "tunebench", region = "us-east-1" }` the
    /// run's score, suite metrics, cost, latency and errors per suite and candidate, and the
    /// gate's verdict, are sent to Amazon CloudWatch after the report and the gate, a
    /// regression included (configs/cloudwatch-gate-alarm.json is an alarm on it).
    ///
    /// Example: tunebench run configs/quickstart.toml
    Run(RunArgs),
    /// Write a run's report: report.md (fits a PR comment), report.html (one file, charts
    /// inline), summary.json, results.csv and junit.xml, in <run>/report/. With a history
    /// file, the run is appended to it and trends across runs are shown. With --config and
    /// its `[report] cloudwatch`, the run's metrics are sent to CloudWatch (the gate's
    /// verdict is sent by `tunebench run`).
    ///
    /// Example: tunebench report runs/quickstart --history runs/history.sqlite
    Report(ReportArgs),
    /// Check a run against a baseline run (pinned, or the last passing one in the history)
    /// under the config's [gate] rules: absolute floors, largest drops, and whether a drop
    /// must be significant. Prints why; exit 0 pass, 3 regression; writes JUnit XML.
    ///
    /// Example: tunebench gate --config configs/nightly.toml --run runs/nightly-2026-11-25
    Gate(GateArgs),
    /// Manage the response cache of an [eval] section.
    #[command(subcommand)]
    Cache(CacheCommand),
}

/// Flags of `run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Config file with the stages' sections and `{run_dir}` in their out_dir.
    pub config: PathBuf,
    /// Run this stage and the ones after it again, even if their inputs are unchanged.
    #[arg(long, value_enum, conflicts_with = "only")]
    pub from: Option<Stage>,
    /// Run only this stage (again).
    #[arg(long, value_enum)]
    pub only: Option<Stage>,
    /// Print the CloudWatch payload of `[report] cloudwatch` instead of sending it: JSON, one
    /// PutMetricData input per call, which `aws cloudwatch put-metric-data --cli-input-json`
    /// takes. Only CloudWatch is skipped: every stage runs as without it (`tunebench eval
    /// --dry-run` estimates an eval without calling the candidates).
    #[arg(long)]
    pub cloudwatch_dry_run: bool,
}

/// Flags of `report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Run folders; the last is reported, earlier ones (oldest first) feed the trends.
    /// Default: the run of --config.
    pub runs: Vec<PathBuf>,
    /// Config with [report] (baseline, history) and [run].
    #[arg(short, long)]
    pub config: Option<PathBuf>,
    /// Output folder (default: <run>/report).
    #[arg(short, long)]
    pub out: Option<PathBuf>,
    /// History file (SQLite): append this run, show trends from it.
    #[arg(long)]
    pub history: Option<PathBuf>,
    /// Candidate the others are compared with (default: each suite's first).
    #[arg(long)]
    pub baseline: Option<String>,
    /// Print the CloudWatch payload of `[report] cloudwatch` instead of sending it: JSON, one
    /// PutMetricData input per call, which `aws cloudwatch put-metric-data --cli-input-json`
    /// takes. Only CloudWatch is skipped: the report is written and the history appended as
    /// without it.
    #[arg(long)]
    pub cloudwatch_dry_run: bool,
}

/// Flags of `gate`.
#[derive(Debug, Args)]
pub struct GateArgs {
    /// Config with the [gate] rules.
    #[arg(short, long, env = "TUNEBENCH_CONFIG")]
    pub config: PathBuf,
    /// Run folder to check (default: the config's run).
    #[arg(long)]
    pub run: Option<PathBuf>,
    /// Baseline run folder (default: [gate] baseline, else the history's last passing run).
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    /// History file (default: [gate] history).
    #[arg(long)]
    pub history: Option<PathBuf>,
    /// Where to write the JUnit XML (default: <run>/report/gate-junit.xml).
    #[arg(long)]
    pub junit: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Delete cached answers older than an age and/or of one candidate, printing how many
    /// were removed per candidate identity. With neither filter it refuses unless --all.
    ///
    /// Example: tunebench cache prune --config configs/eval-banking77.toml --older-than 30d
    Prune(CachePruneArgs),
}

/// Flags of `cache prune`.
#[derive(Debug, Args)]
pub struct CachePruneArgs {
    /// Config file with an [eval] section (its `cache`, or <out_dir>/response-cache.sqlite).
    #[arg(short, long, env = "TUNEBENCH_CONFIG")]
    pub config: PathBuf,
    /// Only answers older than this: 45s, 90m, 12h, 30d, 2w.
    #[arg(long, value_name = "AGE")]
    pub older_than: Option<String>,
    /// Only answers of this candidate: a candidate or judge name from the config, or a cache
    /// identity (`openai:<url>:<model>`, `bedrock:<region>:<model>`, `local:<hash>...`).
    #[arg(long, value_name = "NAME")]
    pub candidate: Option<String>,
    /// Delete every cached answer (needed when no other filter is given).
    #[arg(long, conflicts_with_all = ["older_than", "candidate"])]
    pub all: bool,
}

/// Flags of `eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Config file with an [eval] section.
    #[arg(short, long, env = "TUNEBENCH_CONFIG")]
    pub config: PathBuf,
    /// Output folder [env: TUNEBENCH_EVAL_OUT_DIR].
    #[arg(short, long)]
    pub out: Option<PathBuf>,
    /// Estimate tokens and dollars per candidate and suite; call nothing. A batch
    /// candidate also shows its job's records and S3 objects.
    #[arg(long)]
    pub dry_run: bool,
    /// With --dry-run: count Bedrock candidates' input tokens with the model's own
    /// CountTokens (one call per request; nothing is generated or billed) instead of the
    /// characters / 4 rule.
    #[arg(long, requires = "dry_run")]
    pub count_tokens: bool,
    /// Neither read nor write the response cache.
    #[arg(long, conflicts_with = "refresh")]
    pub no_cache: bool,
    /// Ask again for everything and overwrite the cached answers.
    #[arg(long)]
    pub refresh: bool,
}

#[derive(Debug, Subcommand)]
pub enum TrainCommand {
    /// LoRA or full fine-tuning of a Llama-family model on this machine, from the JSONL
    /// that `data prepare` writes. Writes a PEFT adapter (or a full model), metrics.csv,
    /// summary.json and checkpoints to the config's `out_dir`.
    ///
    /// Ctrl-C writes a checkpoint and stops; `--resume` continues from the newest one and
    /// ends where an uninterrupted run would.
    ///
    /// Memory: `dtype = "bf16"` (or "f16") in [train.local] stores the base model's frozen
    /// weights at half the bytes, their products running in that dtype, while the LoRA
    /// adapters, optimizer state and loss stay f32; `gradient_checkpointing = true`
    /// recomputes activations in the backward pass. On the CPU, bf16 costs time (each product
    /// widens to f32) and so does f16 (the quickstart's step: 1.5x slower than f32 on an AVX-512
    /// Xeon); both halve the frozen weights' memory.
    ///
    /// Example: tunebench train local --config configs/banking77.toml
    Local(TrainLocalArgs),
    /// Amazon Bedrock model customization from the config's [train.bedrock] section:
    /// pre-flight checks and a cost estimate before anything is uploaded, idempotent
    /// submission, job tracking in <out_dir>/job.json, metrics.csv on completion.
    #[command(subcommand)]
    Bedrock(BedrockCommand),
}

#[derive(Debug, Subcommand)]
pub enum BedrockCommand {
    /// Check, estimate, upload the prepared data and submit the job (--dry-run prints the
    /// exact request and the estimate and sends nothing).
    ///
    /// Example: tunebench train bedrock submit --config my-bedrock.toml --dry-run
    Submit(BedrockSubmitArgs),
    /// The job's status and sub-statuses (validation, data processing, training).
    Status(BedrockJobArgs),
    /// Poll until the job ends, then download its metrics into <out_dir>/metrics.csv.
    Wait(BedrockWaitArgs),
    /// Stop the job.
    Stop(BedrockJobArgs),
    /// Customization jobs of the account and region, newest first.
    List(BedrockListArgs),
    /// Serve the custom model recorded in <out_dir>/job.json and wait until it can be
    /// called: an on-demand custom model deployment, or with --provisioned, provisioned
    /// throughput (billed by the hour whether used or not: shows the cost and needs --yes).
    /// The ARN is recorded in job.json and printed: it is the `model_id` of an eval
    /// `kind = "bedrock"` candidate.
    ///
    /// Example: tunebench train bedrock deploy --config my-bedrock.toml
    Deploy(BedrockDeployArgs),
    /// Delete the deployment and provisioned throughput recorded in <out_dir>/job.json.
    Undeploy(BedrockUndeployArgs),
    /// Custom Model Import of a local Hugging Face model directory (e.g. from `tunebench
    /// model merge`), from the config's [train.bedrock_import] section: check the files,
    /// upload them (unchanged objects are skipped), create the import job, wait for it, and
    /// record the imported model ARN in <out_dir>/import.json. A rerun with the same files
    /// and settings reuses the recorded import.
    ///
    /// Example: tunebench train bedrock import --config my-import.toml
    Import(BedrockImportArgs),
    /// Run the reward function of a reinforcement fine-tuning job on real answers before the
    /// job is paid for: the first training prompts go to an eval candidate (usually the base
    /// model), its answers to the local grader ([train.bedrock.grader_check] names both), and
    /// the reward distribution is printed. Exits 2 when the rewards cannot teach the job
    /// anything (constant, saturated at the top or the bottom, mostly errors) unless --force.
    ///
    /// Example: tunebench train bedrock grader-check --config configs/gsm8k-rft.toml
    GraderCheck(BedrockGraderCheckArgs),
}

/// `train bedrock grader-check`.
#[derive(Debug, Args)]
pub struct BedrockGraderCheckArgs {
    /// Config file with [train.bedrock] (its train_file and grader_check) and [eval] (the
    /// candidate and the grader).
    #[arg(short, long, env = "TUNEBENCH_CONFIG")]
    pub config: PathBuf,
    /// Prompts to send (default: grader_check.prompts, 50).
    #[arg(long, value_name = "N")]
    pub prompts: Option<usize>,
    /// Print the distribution and exit 0 even when it would teach nothing.
    #[arg(long)]
    pub force: bool,
}

/// `train bedrock submit`.
#[derive(Debug, Args)]
pub struct BedrockSubmitArgs {
    /// Config file with a [train.bedrock] section (and optionally [aws]).
    #[arg(short, long, env = "TUNEBENCH_CONFIG")]
    pub config: PathBuf,
    /// Print the request and the cost estimate; upload and send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Submit even when [train.bedrock.grader_check] finds that the rewards would teach the
    /// job nothing (the check runs before anything is uploaded when that section is set).
    #[arg(long)]
    pub force: bool,
}

/// A job by the config's registry (<out_dir>/job.json) or by name/ARN.
#[derive(Debug, Args)]
pub struct BedrockJobArgs {
    /// Config file with a [train.bedrock] section.
    #[arg(short, long, env = "TUNEBENCH_CONFIG")]
    pub config: PathBuf,
    /// A job name or ARN instead of the one recorded in <out_dir>/job.json.
    #[arg(long)]
    pub job: Option<String>,
}

/// How long-running Bedrock commands poll.
#[derive(Debug, Args)]
pub struct PollArgs {
    /// Seconds between the first polls; the interval doubles up to 5 minutes.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 30.0,
        env = "TUNEBENCH_POLL_INTERVAL"
    )]
    pub poll_interval: f64,
    /// Give up waiting after this many seconds (the job or deployment goes on).
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<f64>,
}

/// `train bedrock wait`.
#[derive(Debug, Args)]
pub struct BedrockWaitArgs {
    #[command(flatten)]
    pub job: BedrockJobArgs,
    #[command(flatten)]
    pub poll: PollArgs,
}

/// `train bedrock deploy`.
#[derive(Debug, Args)]
pub struct BedrockDeployArgs {
    /// Config file with a [train.bedrock] section.
    #[arg(short, long, env = "TUNEBENCH_CONFIG")]
    pub config: PathBuf,
    /// Deployment name (letters and digits, each optionally followed by '_' or '-');
    /// default: <custom model name>-dep.
    #[arg(long)]
    pub name: Option<String>,
    /// Buy provisioned throughput instead of an on-demand deployment.
    #[arg(long)]
    pub provisioned: bool,
    /// Model units of provisioned throughput.
    #[arg(long, default_value_t = 1, requires = "provisioned")]
    pub model_units: i32,
    /// Accept the hourly cost of provisioned throughput.
    #[arg(long, requires = "provisioned")]
    pub yes: bool,
    #[command(flatten)]
    pub poll: PollArgs,
}

/// `train bedrock import`.
#[derive(Debug, Args)]
pub struct BedrockImportArgs {
    /// Config file with a [train.bedrock_import] section (and optionally [aws]).
    #[arg(short, long, env = "TUNEBENCH_CONFIG")]
    pub config: PathBuf,
    #[command(flatten)]
    pub poll: PollArgs,
}

/// `train bedrock undeploy`.
#[derive(Debug, Args)]
pub struct BedrockUndeployArgs {
    /// Config file with a [train.bedrock] section.
    #[arg(short, long, env = "TUNEBENCH_CONFIG")]
    pub config: PathBuf,
}

/// `train bedrock list`.
#[derive(Debug, Args)]
pub struct BedrockListArgs {
    /// Config file (for [aws] and the region).
    #[arg(short, long, env = "TUNEBENCH_CONFIG")]
    pub config: PathBuf,
    /// Only jobs with this status (InProgress, Completed, Failed, Stopping, Stopped).
    #[arg(long)]
    pub status: Option<String>,
    /// Only jobs whose name contains this.
    #[arg(long)]
    pub name_contains: Option<String>,
}

/// Flags of `train local`; each overrides the config's `[train.local]` field.
#[derive(Debug, Args)]
pub struct TrainLocalArgs {
    /// Config file with a [train.local] section.
    #[arg(short, long, env = "TUNEBENCH_CONFIG")]
    pub config: PathBuf,
    /// Continue from the newest checkpoint in the output folder.
    #[arg(long)]
    pub resume: bool,
    /// Stop after this many optimizer steps.
    #[arg(long)]
    pub max_steps: Option<usize>,
    /// Output folder [env: TUNEBENCH_TRAIN_OUT_DIR].
    #[arg(short, long)]
    pub out: Option<PathBuf>,
    /// cpu, wgpu[:N] or wgpu:cpu (feature `wgpu`), cuda[:N] (feature `cuda`), tch-cpu or tch-cuda[:N] (feature `tch`); training computes in f32 on every device, except the products with frozen weights that [train.local] dtype puts in bf16 or f16
    /// [env: TUNEBENCH_DEVICE].
    #[arg(long)]
    pub device: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Architecture, parameter count, dtype, context length, and whether a chat template is present.
    ///
    /// Example: tunebench model info fixtures/tiny-llama/model
    Info(InfoArgs),
    /// Generate text after a prompt (greedy unless --temperature is given).
    ///
    /// Example: tunebench model generate fixtures/tiny-llama/model --prompt "Janet has 3 eggs"
    Generate(GenerateArgs),
    /// Negative log-likelihood, token count and perplexity of each text in a JSONL file,
    /// one JSON line per record (the record's `id` is kept when it has one).
    ///
    /// Example: tunebench model score fixtures/tiny-llama/model --input data/gsm8k/test.jsonl --field question
    Score(ScoreArgs),
    /// Fold a LoRA adapter into the base weights and write a full model directory
    /// (safetensors + config + tokenizer files) that transformers can load.
    ///
    /// Example: tunebench model merge fixtures/tiny-llama/model --adapter fixtures/tiny-llama/adapter --out merged/
    Merge(MergeArgs),
    /// Convert a GGUF file (llama.cpp, Ollama; llama architecture, byte-level BPE vocabulary)
    /// into an HF model folder: model.safetensors (f32), config.json, tokenizer.json and
    /// tokenizer_config.json with the chat template. Every command that takes a model folder
    /// also takes the .gguf file itself; this writes the folder once for other tools.
    ///
    /// Example: tunebench model convert SmolLM2-135M-Instruct.Q4_1.gguf --out smollm2/
    Convert(ConvertArgs),
    /// Add a version of a named model to the registry (kept in the run history file): a
    /// local adapter (with --base) or model folder, a Bedrock model ARN, or any eval
    /// candidate. Its lineage comes from --run. Registering the same thing again gives back
    /// its version. `tunebench run` registers what it trains under [registry] model.
    ///
    /// Example: tunebench model register support-bot runs/quickstart/train/banking77-lora --base runs/models/SmolLM2-135M-Instruct.Q4_1.gguf --run runs/quickstart --history runs/history.sqlite
    Register(RegisterArgs),
    /// The registry's models (versions, aliases), or with a name, that model's versions
    /// (what each is, its aliases, its gate verdict).
    ///
    /// Example: tunebench model list support-bot --history runs/history.sqlite
    List(ListArgs),
    /// One version: what it is, its lineage (run, config and data hashes, training), its
    /// results in the runs that evaluated it, and the model's audit trail. NAME@3 is version
    /// 3, NAME@prod what the alias prod points at, NAME (or NAME@latest) the newest.
    ///
    /// Example: tunebench model show support-bot@prod --history runs/history.sqlite
    Show(ShowArgs),
    /// Point an alias (prod, staging, ...) at a version. Refused unless the newest gate that
    /// checked the version passed; --force --reason "..." promotes anyway and the audit
    /// keeps the reason. Eval candidates with model = "registry:NAME@ALIAS" follow it.
    ///
    /// Example: tunebench model promote support-bot 3 --to prod --history runs/history.sqlite
    Promote(PromoteArgs),
    /// Point an alias back at the version that held it before the current one.
    ///
    /// Example: tunebench model rollback support-bot --alias prod --reason "tickets misrouted" --history runs/history.sqlite
    Rollback(RollbackArgs),
}

/// Where the registry is: `--history`, else the config's [report] history.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// The run history file (SQLite) that holds the registry.
    #[arg(long, env = "TUNEBENCH_HISTORY")]
    pub history: Option<PathBuf>,
    /// A config whose [report] history holds the registry.
    #[arg(short, long)]
    pub config: Option<PathBuf>,
}

/// `model register`.
#[derive(Debug, Args)]
pub struct RegisterArgs {
    /// Model name (letters, digits, '-', '_', '.').
    pub name: String,
    /// A local PEFT adapter folder (give --base) or full model folder / .gguf file.
    #[arg(required_unless_present_any = ["bedrock", "candidate"], conflicts_with_all = ["bedrock", "candidate"])]
    pub path: Option<PathBuf>,
    /// The base model an adapter applies to (folder, .gguf file or Hugging Face id).
    #[arg(long, requires = "path")]
    pub base: Option<String>,
    /// A Bedrock model ARN: on-demand deployment, provisioned throughput, imported model, or
    /// a custom model (evaluated once deployed and registered by its deployment ARN).
    #[arg(long, conflicts_with = "candidate")]
    pub bedrock: Option<String>,
    /// A TOML file with one eval candidate table (kind = "openai", "bedrock", "responses", ...).
    #[arg(long)]
    pub candidate: Option<PathBuf>,
    /// The run folder that made it: run id, config and data hashes, training summary.
    #[arg(long)]
    pub run: Option<PathBuf>,
    /// Free text kept with the version.
    #[arg(long)]
    pub note: Option<String>,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `model list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// A model: list its versions instead of the models.
    pub name: Option<String>,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `model show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// NAME, NAME@VERSION, NAME@ALIAS or NAME@latest.
    pub reference: String,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `model promote`.
#[derive(Debug, Args)]
pub struct PromoteArgs {
    /// Model name.
    pub name: String,
    /// Version number.
    #[arg(value_name = "VERSION")]
    pub number: u32,
    /// The alias to point at it.
    #[arg(long)]
    pub to: String,
    /// Promote even though no passing gate checked the version (needs --reason).
    #[arg(long, requires = "reason")]
    pub force: bool,
    /// Why, recorded in the audit trail.
    #[arg(long)]
    pub reason: Option<String>,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `model rollback`.
#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// Model name.
    pub name: String,
    /// The alias to move back.
    #[arg(long)]
    pub alias: String,
    /// Why, recorded in the audit trail.
    #[arg(long)]
    pub reason: Option<String>,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `model convert`.
#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// The GGUF file.
    pub file: PathBuf,
    /// Output folder: new, or empty. Written whole or not at all.
    #[arg(long)]
    pub out: PathBuf,
}

/// `model info`.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Model directory (config.json, *.safetensors, tokenizer.json), a .gguf file, or a
    /// Hugging Face id (ORG/NAME[@REV], hf:ORG/NAME[@REV]) fetched once into the HF cache
    /// ($HF_HOME, $HF_HUB_CACHE; HF_TOKEN for gated models, HF_HUB_OFFLINE=1 for the cache
    /// only).
    pub dir: PathBuf,
}

/// `model generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Model directory, a .gguf file, or a Hugging Face id (see `model info --help`).
    pub dir: PathBuf,
    /// PEFT adapter directory (adapter_config.json + adapter_model.safetensors).
    #[arg(long)]
    pub adapter: Option<PathBuf>,
    /// The prompt.
    #[arg(long)]
    pub prompt: String,
    /// Wrap the prompt as a user message with the model's chat template.
    #[arg(long)]
    pub chat: bool,
    /// System message (with --chat).
    #[arg(long, requires = "chat")]
    pub system: Option<String>,
    /// Most tokens to generate.
    #[arg(long, default_value_t = 64)]
    pub max_new_tokens: usize,
    /// Sample with this temperature, a finite number ≥ 0 (greedy when absent or 0).
    #[arg(long, value_parser = temperature, allow_negative_numbers = true)]
    pub temperature: Option<f32>,
    /// Sample only among the k most likely tokens (k ≥ 1).
    #[arg(long, value_parser = top_k)]
    pub top_k: Option<usize>,
    /// Sample only among the most likely tokens whose probability adds up to p, in (0, 1].
    #[arg(long, value_parser = top_p)]
    pub top_p: Option<f32>,
    /// Seed of the sampler.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Stop once the output ends with this text (repeatable).
    #[arg(long)]
    pub stop: Vec<String>,
    /// cpu (default), wgpu[:N] or wgpu:cpu (feature `wgpu`), cuda[:N] (feature `cuda`), tch-cpu or tch-cuda[:N] (feature `tch`)
    /// [env: TUNEBENCH_DEVICE].
    #[arg(long)]
    pub device: Option<String>,
}

/// `--temperature`: finite and ≥ 0; a negative or NaN value is an error, never greedy.
fn temperature(value: &str) -> Result<f32, String> {
    match value.parse::<f32>() {
        Ok(t) if t.is_finite() && t >= 0.0 => Ok(t),
        _ => Err(format!(
            "`{value}` is not a temperature: use a finite number ≥ 0 (0 = greedy)"
        )),
    }
}

/// `--top-k`: at least 1.
fn top_k(value: &str) -> Result<usize, String> {
    match value.parse::<usize>() {
        Ok(k) if k >= 1 => Ok(k),
        _ => Err(format!("`{value}` is not a top-k: use a whole number ≥ 1")),
    }
}

/// `--top-p`: in (0, 1].
fn top_p(value: &str) -> Result<f32, String> {
    match value.parse::<f32>() {
        Ok(p) if p > 0.0 && p <= 1.0 => Ok(p),
        _ => Err(format!("`{value}` is not a top-p: use a number in (0, 1]")),
    }
}

/// `model score`.
#[derive(Debug, Args)]
pub struct ScoreArgs {
    /// Model directory, a .gguf file, or a Hugging Face id (see `model info --help`).
    pub dir: PathBuf,
    /// PEFT adapter directory.
    #[arg(long)]
    pub adapter: Option<PathBuf>,
    /// JSONL file with one text per line.
    #[arg(long)]
    pub input: PathBuf,
    /// Field holding the text.
    #[arg(long, default_value = "text")]
    pub field: String,
    /// Write the scores here (atomically) instead of stdout.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// cpu (default), wgpu[:N] or wgpu:cpu (feature `wgpu`), cuda[:N] (feature `cuda`), tch-cpu or tch-cuda[:N] (feature `tch`)
    /// [env: TUNEBENCH_DEVICE].
    #[arg(long)]
    pub device: Option<String>,
}

/// `model merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Base model directory, a .gguf file, or a Hugging Face id (see `model info --help`).
    pub dir: PathBuf,
    /// PEFT adapter directory.
    #[arg(long)]
    pub adapter: PathBuf,
    /// Output directory.
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Read, clean, de-duplicate, redact PII, split and validate a data set, then write
    /// train/validation/test files in the target's format plus manifest.json.
    ///
    /// Inputs are CSV, JSON Lines or Parquet files, globs or s3:// URIs. Records that are
    /// dropped are written to rejected.jsonl with the reason; manifest.json accounts for
    /// every input record, and a record over data.max_record_bytes (default 1 MiB) is
    /// rejected before PII scanning and tokenising. Outputs are published as a set: written
    /// to a staging folder, renamed into place, manifest.json last (train local refuses a
    /// file whose sha256 differs from the manifest beside it). An output path that is also
    /// an input is refused before any work. A rerun whose config and inputs are unchanged
    /// reuses the outputs (use --force to redo).
    ///
    /// Example: tunebench data prepare --config configs/banking77.toml
    /// RFT prompts: tunebench data prepare --config configs/gsm8k-rft.toml
    Prepare(PrepareArgs),
}

/// Flags of `data prepare`; each overrides the config's `[data]` field of the same name.
#[derive(Debug, Args)]
pub struct PrepareArgs {
    /// Config file with a [data] section.
    #[arg(short, long, env = "TUNEBENCH_CONFIG")]
    pub config: PathBuf,
    /// Input file, glob or s3:// URI (repeatable); replaces the config's inputs.
    #[arg(long = "input", value_name = "PATH")]
    pub inputs: Vec<String>,
    /// Target format and quotas: local, bedrock:titan, bedrock:llama3.1, bedrock:llama3.2,
    /// bedrock:nova, bedrock:claude-3-haiku, bedrock:cohere, or bedrock:rft (reinforcement
    /// fine-tuning prompts, with [data.mapping] kind = "prompt") [env: TUNEBENCH_TARGET].
    #[arg(long)]
    pub target: Option<String>,
    /// Output folder [env: TUNEBENCH_OUT_DIR].
    #[arg(short, long)]
    pub out: Option<PathBuf>,
    /// What to do with unreadable records: fail (stop, listing them) or reject
    /// (write them to rejected.jsonl and go on).
    #[arg(long, value_name = "fail|reject")]
    pub on_error: Option<String>,
    /// PII handling: redact (replace with tokens like [EMAIL]), reject the record, or off.
    #[arg(long, value_name = "redact|reject|off")]
    pub pii: Option<String>,
    /// jsonl, or parquet (local target only).
    #[arg(long, value_name = "jsonl|parquet")]
    pub output_format: Option<String>,
    /// Memory the run may use, e.g. 2GiB or 512MiB (default: half the machine's memory).
    /// Inputs are read in chunks that follow it; a run whose per-record state outgrows it
    /// stops and says which step holds how much. Outputs do not depend on it
    /// [env: TUNEBENCH_MEMORY_LIMIT].
    #[arg(long, value_name = "SIZE")]
    pub memory_limit: Option<String>,
    /// Upload the outputs under this S3 prefix (skips objects that are unchanged)
    /// [env: TUNEBENCH_UPLOAD].
    #[arg(long, value_name = "s3://BUCKET/PREFIX/")]
    pub upload: Option<String>,
    /// KMS key id or ARN to encrypt uploads with (SSE-KMS).
    #[arg(long, value_name = "KEY")]
    pub sse_kms_key_id: Option<String>,
    /// S3-compatible endpoint, e.g. http://127.0.0.1:9000 (also AWS_ENDPOINT_URL).
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// Redo everything even when the outputs are up to date.
    #[arg(long)]
    pub force: bool,
}

#[cfg(test)]
mod tests {
    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
