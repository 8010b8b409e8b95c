//! `tunebench data prepare`: flags over `TUNEBENCH_*` over `[data]`, then the library's data
//! stage with progress bars, and its summary (or JSON).

use tunebench_pipeline::overrides::{DataOverrides, Overrides};
use tunebench_pipeline::{Scope, data};

use crate::cli::{Global, PrepareArgs};
use crate::progress::Bars;

pub fn prepare(global: &Global, args: &PrepareArgs) -> anyhow::Result<()> {
    let mut loaded = crate::load(global, &args.config)?;
    // Flags alone can describe the data set: an empty [data] is as good as none.
    loaded.raw.data.get_or_insert_default();
    let flags = Overrides {
        data: DataOverrides {
            inputs: args.inputs.clone(),
            target: args.target.clone(),
            out_dir: args.out.clone(),
            on_error: args.on_error.clone(),
            pii: args.pii.clone(),
            output_format: args.output_format.clone(),
            memory_limit: args.memory_limit.clone(),
            upload: args.upload.clone(),
            sse_kms_key_id: args.sse_kms_key_id.clone(),
            endpoint_url: args.endpoint_url.clone(),
        },
        ..Overrides::default()
    };
    loaded.apply(&flags.over(Overrides::from_env()?))?;
    let job = data::DataJob::resolve(&loaded, Scope::Command)?;
    if global.show_settings {
        println!("{}", serde_json::to_string_pretty(&job.shown())?);
        return Ok(());
    }
    let bars = Bars::new(global.silent());
    let prepared = data::prepare(&job, args.force, &bars)?;
    Ok(crate::print::prepared(global, &prepared)?)
}
