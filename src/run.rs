//! `tunebench run CONFIG`: `TUNEBENCH_*` over the config, then the library's whole run,
//! showing each stage's progress and result as the single commands do.

use tunebench_aws::CustomizationJob;
use tunebench_pipeline::cloudwatch::Mode;
use tunebench_pipeline::overrides::Overrides;
use tunebench_pipeline::run::{self, Finished, RunUi, Selection};

use crate::cli::{Global, RunArgs};
use crate::print;
use crate::progress::Bars;
use crate::train::TrainBar;

pub fn run(global: &Global, args: &RunArgs) -> anyhow::Result<()> {
    let mut loaded = crate::load(global, &args.config)?;
    loaded.apply(&Overrides::from_env()?)?;
    if global.show_settings {
        let stages = run::plan(&loaded)?;
        println!(
            "{}",
            serde_json::json!({ "run_id": loaded.run_id, "run_dir": loaded.run.root(), "stages": stages })
        );
        return Ok(());
    }
    let stop = crate::train::ctrl_c()?;
    let quiet = global.silent();
    let ui = Terminal {
        global,
        bars: Bars::new(quiet),
        train: TrainBar::new(quiet),
    };
    let selection = Selection {
        only: args.only,
        from: args.from,
    };
    let metrics = Mode::dry_run_if(args.cloudwatch_dry_run);
    Ok(run::run(&loaded, selection, metrics, &stop, &ui)?)
}

/// Progress bars on stderr, each stage's result on stdout.
struct Terminal<'a> {
    global: &'a Global,
    bars: Bars,
    train: TrainBar,
}

impl RunUi for Terminal<'_> {
    fn say(&self, line: &str) {
        if !self.global.silent() {
            eprintln!("{line}");
        }
    }

    fn data_progress(&self) -> &dyn tunebench_datasets::Progress {
        &self.bars
    }

    fn train_progress(&self) -> &dyn tunebench_train::Progress {
        &self.train
    }

    fn eval_progress(&self) -> &dyn tunebench_eval::runner::RunProgress {
        &self.bars
    }

    fn bedrock_status(&self, job: &CustomizationJob) {
        if !self.global.silent() {
            eprintln!("{}: {}", job.job_name, job.status);
        }
    }

    fn finished(&self, what: Finished<'_>) -> std::io::Result<()> {
        match what {
            Finished::Data(prepared) => print::prepared(self.global, prepared),
            Finished::Train(summary, out_dir) => print::trained(self.global, summary, out_dir),
            Finished::Eval(report) => print::evaluated(self.global, report),
            Finished::Report(written) => {
                print::report(self.global, written);
                Ok(())
            }
            Finished::Gate(report) => {
                print::gate(self.global, report);
                Ok(())
            }
            Finished::Registered(versions) => print::registered(self.global, versions),
            Finished::Recorded(recorded) => print::recorded(self.global, recorded),
            Finished::CloudWatch(published) => print::published(self.global, published),
        }
    }
}
