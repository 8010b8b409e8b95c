//! Scoring speed: ROUGE-L (per pair, `rougeL` F-measure) and corpus BLEU (sacreBLEU-
//! compatible, 13a) over 100,000 response/reference pairs, against Google's rouge-score and
//! sacrebleu run on the same pairs in the same session (`bench/score_python.py`, in the venv
//! of `bench/requirements.txt`).
//!
//! Run: `cargo bench --workspace --locked --bench scoring` (release profile). The Python
//! side runs with `$TUNEBENCH_BENCH_PYTHON`, default
//! `~/.cache/tunebench-bench-venv/bin/python`; without it only the Rust figures are printed.
//! `TUNEBENCH_BENCH_PAIRS=N` changes the pair count.
//!
//! Pairs: GSM8K training answers (`data/gsm8k/train.jsonl`, MIT) as references, cycled to
//! 100,000, each with a prediction made from it by three seeded edits (drop, repeat or swap a
//! word), so both tools see the same realistic, overlapping text. Each Rust figure is the
//! fastest of three runs (the Python ones are single runs: they take minutes); the scores of
//! both implementations are printed side by side, so a disagreement shows.
//!
//! This is a plain `harness = false` timer like the workspace's other benches rather than a
//! criterion bench: the comparison that matters is with the Python tools in the same session,
//! which criterion cannot time.

use std::error::Error;
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use tunebench_eval::metrics::bleu::{BleuConfig, BleuScorer};
use tunebench_eval::metrics::rouge::RougeScorer;

const RUNS: usize = 3;

/// `(prediction, reference)` pairs; see the module docs.
fn pairs(root: &Path, n: usize) -> Result<Vec<(String, String)>, Box<dyn Error>> {
    let text = std::fs::read_to_string(root.join("data/gsm8k/train.jsonl"))?;
    let mut answers = Vec::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line)?;
        let answer = v["answer"]
            .as_str()
            .ok_or("a GSM8K line without `answer`")?;
        answers.push(answer.replace('\n', " "));
    }
    let mut rng = tunebench_core::SplitMix64(7); // reproducible edits
    Ok((0..n)
        .map(|i| {
            let reference = answers[i % answers.len()].clone();
            let mut words: Vec<&str> = reference.split(' ').collect();
            for _ in 0..3 {
                let len = words.len();
                if len < 3 {
                    break;
                }
                let at = (rng.next_u64() % len as u64) as usize;
                match rng.next_u64() % 3 {
                    0 => {
                        words.remove(at);
                    }
                    1 => words.insert(at, words[at]),
                    _ => words.swap(at, (at + 1) % len),
                }
            }
            (words.join(" "), reference)
        })
        .collect())
}

/// The fastest of [`RUNS`] runs of `f`, and its last result.
fn best_of<T>(
    mut f: impl FnMut() -> Result<T, Box<dyn Error>>,
) -> Result<(Duration, T), Box<dyn Error>> {
    let mut best = Duration::MAX;
    let mut out = None;
    for _ in 0..RUNS {
        let started = Instant::now();
        let value = f()?;
        best = best.min(started.elapsed());
        out = Some(value);
    }
    Ok((best, out.ok_or("no run")?))
}

fn main() -> Result<(), Box<dyn Error>> {
    let n: usize = std::env::var("TUNEBENCH_BENCH_PAIRS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let pairs = pairs(&root, n)?;

    let mut scorer = RougeScorer::new();
    let (rouge_t, rouge_sum) = best_of(|| {
        Ok(pairs
            .iter()
            .map(|(p, r)| scorer.rouge_l(r, p).fmeasure)
            .sum::<f64>())
    })?;
    let hyps: Vec<&str> = pairs.iter().map(|(p, _)| p.as_str()).collect();
    let refs: Vec<[&str; 1]> = pairs.iter().map(|(_, r)| [r.as_str()]).collect();
    let mut bleu = BleuScorer::new(BleuConfig::default())?;
    let (bleu_t, bleu_score) = best_of(|| Ok(bleu.corpus_score(&hyps, &refs)?.score))?;
    let (rouge_s, bleu_s) = (rouge_t.as_secs_f64(), bleu_t.as_secs_f64());
    println!(
        "{n} pairs\ntunebench: ROUGE-L mean F {:.6} in {rouge_s:.3} s; corpus BLEU {bleu_score:.4} in {bleu_s:.3} s (best of {RUNS})",
        rouge_sum / n as f64,
    );

    let dir = tempfile::tempdir()?;
    let file = dir.path().join("scoring-pairs.jsonl");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&file)?);
    for (p, r) in &pairs {
        writeln!(
            out,
            "{}",
            serde_json::json!({ "prediction": p, "reference": r })
        )?;
    }
    out.flush()?;
    drop(out);
    let python = std::env::var("TUNEBENCH_BENCH_PYTHON").unwrap_or_else(|_| {
        format!(
            "{}/.cache/tunebench-bench-venv/bin/python",
            std::env::var("HOME").unwrap_or_default()
        )
    });
    let output = Command::new(&python)
        .arg(root.join("bench/score_python.py"))
        .arg(&file)
        .output();
    match output {
        Ok(o) if o.status.success() => {
            let v: serde_json::Value = serde_json::from_slice(&o.stdout)?;
            let f = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
            println!(
                "python:    ROUGE-L mean F {:.6} in {:.3} s (rouge-score); corpus BLEU {:.4} in {:.3} s (sacrebleu)",
                f("rougeL_f_mean"),
                f("rougeL_s"),
                f("bleu"),
                f("bleu_s")
            );
            println!(
                "speed-up: ROUGE-L {:.1}x, corpus BLEU {:.1}x (goal: 20x)",
                f("rougeL_s") / rouge_s,
                f("bleu_s") / bleu_s
            );
        }
        Ok(o) => println!(
            "python reference failed: {}\nhint: python3 -m venv ~/.cache/tunebench-bench-venv && ~/.cache/tunebench-bench-venv/bin/pip install -r bench/requirements.txt",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => println!("python reference not run ({python}: {e})"),
    }
    Ok(())
}
