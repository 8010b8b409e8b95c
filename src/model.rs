//! `tunebench model info|generate|score|merge`: the local model engine from the command line.

use std::io::{BufRead, Write};
use std::path::Path;

use anyhow::{Context, bail};
use tunebench_core::refuse_overlap;
use tunebench_models::generate::{self, GenerationConfig, Sampling};
use tunebench_models::hub::local_model;
use tunebench_models::{ChatMessage, TextTokenizer, device, lora, weights};
use tunebench_pipeline::ConfigError;

use crate::cli::{ConvertArgs, GenerateArgs, Global, InfoArgs, MergeArgs, ScoreArgs};

/// Loads the model in `dir` (with `adapter`) on `--device`, else `TUNEBENCH_DEVICE`, else
/// the CPU.
fn load(
    dir: &Path,
    adapter: Option<&Path>,
    device_name: Option<&str>,
) -> anyhow::Result<tunebench_models::Llama> {
    let name = device_name
        .map(str::to_owned)
        .or_else(tunebench_pipeline::overrides::device_from_env)
        .unwrap_or_else(|| "cpu".to_owned());
    let device = device::parse_device(&name)?;
    let model = weights::load_model(dir, &device)?;
    Ok(match adapter {
        Some(a) => lora::load_adapter(model, a)?,
        None => model,
    })
}

pub fn info(global: &Global, args: &InfoArgs) -> anyhow::Result<()> {
    let dir = local_model(&args.dir)?;
    let config = weights::load_config(&dir)?;
    let tokenizer = TextTokenizer::load(&dir)?;
    let tensors = weights::check_model_dir(&dir, &config)?;
    let shown = serde_json::json!({
        "dir": dir,
        "architecture": config.architectures.clone().unwrap_or_default().join(", "),
        "model_type": config.model_type,
        "parameters": config.num_parameters(),
        "dtype": config.weights_dtype().unwrap_or("float32"),
        "context_length": config.max_position_embeddings,
        "layers": config.num_hidden_layers,
        "hidden_size": config.hidden_size,
        "attention_heads": config.num_attention_heads,
        "kv_heads": config.num_kv_heads(),
        "vocab_size": config.vocab_size,
        "chat_template": tokenizer.has_chat_template(),
        "weights": format!("{tensors} tensors present, shapes and file sizes checked"),
    });
    if global.json {
        println!("{}", serde_json::to_string_pretty(&shown)?);
    } else if let Some(map) = shown.as_object() {
        for (k, v) in map {
            let v = v.as_str().map_or_else(|| v.to_string(), str::to_string);
            println!("{k:>16}: {v}");
        }
    }
    Ok(())
}

pub fn generate(global: &Global, args: &GenerateArgs) -> anyhow::Result<()> {
    let dir = local_model(&args.dir)?;
    let tokenizer = TextTokenizer::load(&dir)?;
    let model = load(&dir, args.adapter.as_deref(), args.device.as_deref())?;
    let prompt_ids = if args.chat {
        let mut messages = Vec::new();
        if let Some(s) = &args.system {
            messages.push(ChatMessage {
                role: "system".into(),
                content: s.clone(),
            });
        }
        messages.push(ChatMessage {
            role: "user".into(),
            content: args.prompt.clone(),
        });
        tokenizer.encode(&tokenizer.apply_chat_template(&messages, true)?, false)?
    } else {
        tokenizer.encode(&args.prompt, true)?
    };
    let sampling = match args.temperature {
        Some(t) if t > 0.0 => Sampling::Sample {
            temperature: t,
            top_k: args.top_k,
            top_p: args.top_p,
            seed: args.seed,
        },
        _ => Sampling::Greedy,
    };
    let stop_sequences = args
        .stop
        .iter()
        .map(|s| tokenizer.encode(s, false))
        .collect::<Result<Vec<_>, _>>()?;
    let config = GenerationConfig {
        max_new_tokens: args.max_new_tokens,
        sampling,
        eos_token_ids: model.config.eos_token_ids(),
        stop_sequences,
        use_cache: true,
    };
    let started = std::time::Instant::now();
    let out = generate::generate(&model, &prompt_ids, &config)?;
    let seconds = started.elapsed().as_secs_f64();
    let text = tokenizer.decode(&out.tokens)?;
    if global.json {
        let v = serde_json::json!({
            "text": text,
            "tokens": out.tokens,
            "prompt_tokens": prompt_ids.len(),
            "finish": format!("{:?}", out.finish).to_lowercase(),
            "seconds": seconds,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!("{text}");
        if !global.quiet {
            eprintln!(
                "{} prompt + {} new tokens in {seconds:.2} s ({:.1} tokens/s), finish: {:?}",
                prompt_ids.len(),
                out.tokens.len(),
                out.tokens.len() as f64 / seconds.max(1e-9),
                out.finish
            );
        }
    }
    Ok(())
}

pub fn score(global: &Global, args: &ScoreArgs) -> anyhow::Result<()> {
    let dir = local_model(&args.dir)?;
    if let Some(output) = &args.output {
        let mut inputs = vec![
            ("--input", args.input.as_path()),
            ("the model folder", &dir),
        ];
        inputs.extend(args.adapter.as_deref().map(|a| ("the --adapter folder", a)));
        refuse_overlap(("--output", output), &inputs)?;
    }
    let tokenizer = TextTokenizer::load(&dir)?;
    let model = load(&dir, args.adapter.as_deref(), args.device.as_deref())?;
    let file =
        std::fs::File::open(&args.input).with_context(|| format!("{}", args.input.display()))?;
    let name = args.input.display().to_string();
    let mut lines: Vec<(usize, serde_json::Value, String)> = Vec::new();
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("{name}:{}", n + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(&line).map_err(|e| {
            anyhow::anyhow!(
                "{name}:{}: JSON syntax error at column {}",
                n + 1,
                e.column()
            )
        })?;
        let Some(text) = v
            .get(&args.field)
            .and_then(|t| t.as_str())
            .map(str::to_string)
        else {
            bail!(
                "{name}:{}: no text field `{}`\nhint: choose the field with --field",
                n + 1,
                args.field
            );
        };
        lines.push((n + 1, v, text));
    }
    let bar = crate::progress::bar(global.silent(), "score", lines.len() as u64);
    let mut out = Vec::new();
    for (line, v, text) in &lines {
        let ids = tokenizer.encode(text, true)?;
        if ids.len() < 2 {
            bail!(
                "{name}:{line}: `{}` has fewer than two tokens; nothing to score",
                args.field
            );
        }
        let nll = generate::nll_sum(&model, &ids)?;
        let tokens = ids.len() - 1;
        let mut rec = serde_json::json!({
            "line": line,
            "nll": nll,
            "tokens": tokens,
            "perplexity": (nll / tokens as f64).exp(),
        });
        if let (Some(id), Some(obj)) = (v.get("id"), rec.as_object_mut()) {
            obj.insert("id".into(), id.clone());
        }
        serde_json::to_writer(&mut out, &rec)?;
        out.push(b'\n');
        bar.inc(1);
    }
    bar.finish_and_clear();
    match &args.output {
        Some(path) => weights::write_atomic(path, &out)?,
        None => std::io::stdout().write_all(&out)?,
    }
    Ok(())
}

pub fn merge(global: &Global, args: &MergeArgs) -> anyhow::Result<()> {
    let dir = local_model(&args.dir)?;
    refuse_overlap(
        ("--out", &args.out),
        &[
            ("the base model folder", &dir),
            ("the --adapter folder", &args.adapter),
        ],
    )?;
    refuse_adapter_folder(&args.out)?;
    let model = load(&dir, Some(&args.adapter), Some("cpu"))?;
    let merged = lora::merge_adapters(model);
    weights::save_model(&merged, &args.out)?;
    weights::copy_tokenizer_files(&dir, &args.out)?;
    if !global.quiet {
        println!(
            "merged {} into {}",
            args.adapter.display(),
            args.out.display()
        );
    }
    Ok(())
}

pub fn convert(global: &Global, args: &ConvertArgs) -> anyhow::Result<()> {
    refuse_overlap(("--out", &args.out), &[("the GGUF file", &args.file)])?;
    let tensors = tunebench_models::gguf::convert_to_hf(&args.file, &args.out)?;
    if !global.quiet {
        println!(
            "converted {} into {} ({tensors} tensors, f32)",
            args.file.display(),
            args.out.display()
        );
    }
    Ok(())
}

/// A merge writes a whole model: into a new or empty folder, or over an earlier model, never
/// beside an adapter's files.
fn refuse_adapter_folder(out: &Path) -> Result<(), ConfigError> {
    match ["adapter_config.json", "adapter_model.safetensors"]
        .iter()
        .find(|f| out.join(f).exists())
    {
        Some(file) => Err(ConfigError(format!(
            "--out `{}` holds an adapter ({file}): a merged model written there would mix with it\nhint: choose a new or empty folder for the merged model",
            out.display()
        ))),
        None => Ok(()),
    }
}
