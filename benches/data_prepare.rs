//! Benchmark of `tunebench data prepare` against the pandas baseline (bench/prepare_pandas.py)
//! on banking77 scaled to 1M rows: rows/s and peak RSS of each, run side by side.
//!
//! The input is generated from the real data/banking77/train.csv: each output row is a real
//! row, about a quarter of them lightly perturbed (case, punctuation, a filler word, a typo)
//! and some repeated verbatim, so exact and near de-duplication both have work to do.
//!
//! Run: `cargo bench --bench data_prepare`. Settings, all optional:
//! - TUNEBENCH_BENCH_ROWS: rows to generate (default 1,000,000; 10,000,000 is banking77
//!   ×1000, ~870 MB);
//! - TUNEBENCH_BENCH_MEMORY_LIMIT: passed to `--memory-limit` (default: tunebench's own);
//! - TUNEBENCH_BENCH_PYTHON: a python with pandas, datasketch and tokenizers for the
//!   baseline (default ~/.cache/tunebench-bench-venv/bin/python when it exists; see
//!   bench/requirements.txt);
//! - TUNEBENCH_BENCH_PANDAS_MAX_ROWS: the baseline is skipped above this many rows
//!   (default 2,000,000: it holds the whole frame and every MinHash, 2.8 GB at 1M rows, so
//!   10M rows would not fit a 24 GiB machine).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A small deterministic generator, so every run benchmarks the same file.
struct Rng(tunebench_core::SplitMix64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0.next_u64()
    }
    /// `next() % n`, as the bench has always drawn (so its input file stays the same).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn perturb(text: &str, rng: &mut Rng) -> String {
    match rng.below(8) {
        0 => text.to_lowercase(),
        1 => format!("{text}!"),
        2 => format!("please {text}"),
        3 => {
            // One typo: swap two neighbouring characters.
            let mut c: Vec<char> = text.chars().collect();
            if c.len() > 3 {
                let i = 1 + rng.below(c.len() - 2);
                c.swap(i, i - 1);
            }
            c.into_iter().collect()
        }
        _ => text.to_string(),
    }
}

fn csv_field(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn generate(repo: &Path, rows: usize, out: &Path) -> u64 {
    let source = std::fs::read_to_string(repo.join("data/banking77/train.csv")).expect("banking77");
    let mut reader: Vec<(String, String)> = Vec::new();
    for line in source.lines().skip(1) {
        // banking77 quotes texts that contain commas; the category never does.
        if let Some((text, cat)) = line.rsplit_once(',') {
            let text = text.trim_matches('"').replace("\"\"", "\"");
            reader.push((text, cat.to_string()));
        }
    }
    let mut rng = Rng(tunebench_core::SplitMix64(77));
    let mut out =
        std::io::BufWriter::new(std::fs::File::create(out).expect("create the bench input"));
    let mut size = 0u64;
    let mut body = String::from("text,category\n");
    for i in 0..rows {
        let (text, cat) = &reader[rng.below(reader.len())];
        // A quarter perturbed; the rest verbatim copies of real rows, plus a row-unique
        // suffix on half of them so the data is not 99% exact duplicates.
        let text = if rng.below(4) == 0 {
            perturb(text, &mut rng)
        } else if i % 2 == 0 {
            format!("{text} (ref {})", rng.below(1_000_000_000))
        } else {
            text.clone()
        };
        body.push_str(&csv_field(&text));
        body.push(',');
        body.push_str(cat);
        body.push('\n');
        if body.len() > 1 << 20 {
            out.write_all(body.as_bytes())
                .expect("write the bench input");
            size += body.len() as u64;
            body.clear();
        }
    }
    out.write_all(body.as_bytes())
        .expect("write the bench input");
    out.flush().expect("write the bench input");
    size + body.len() as u64
}

/// The CPU's model name and whether it has AVX2 / AVX-512, from /proc/cpuinfo.
fn cpu() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        info.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default()
    };
    let flags = field("flags");
    let has = |f: &str| flags.split_whitespace().any(|x| x == f);
    format!(
        "{}, {} logical CPUs, AVX2 {}, AVX-512F {}",
        field("model name"),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if has("avx2") { "yes" } else { "no" },
        if has("avx512f") { "yes" } else { "no" }
    )
}

/// Runs a command under GNU time; returns (seconds, peak RSS in MiB).
fn measure(cmd: &mut Command) -> (f64, f64) {
    let mut timed = Command::new("/usr/bin/time");
    timed
        .arg("-f")
        .arg("TB_TIME %e %M")
        .arg(cmd.get_program())
        .args(cmd.get_args());
    let out = timed
        .output()
        .expect("run /usr/bin/time (Debian package `time`)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "benchmark command failed:\n{stderr}");
    let line = stderr
        .lines()
        .rev()
        .find(|l| l.starts_with("TB_TIME "))
        .expect("time output");
    let mut parts = line.split_whitespace().skip(1);
    let secs: f64 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(f64::NAN);
    let kib: f64 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(f64::NAN);
    (secs, kib / 1024.0)
}

fn main() {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let rows: usize = std::env::var("TUNEBENCH_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let work = std::env::temp_dir().join("tunebench-bench");
    std::fs::create_dir_all(&work).expect("bench dir");
    let input = work.join(format!("banking77-{rows}.csv"));
    let size = generate(&repo, rows, &input);
    let config = work.join("bench.toml");
    let tokenizer = repo.join("fixtures/tiny-llama/model/tokenizer.json");
    std::fs::write(
        &config,
        format!(
            "# Run: cargo bench --bench data_prepare\n[data]\ninputs = [{input:?}]\nout_dir = \"out-tunebench\"\non_error = \"reject\"\n\
             [data.mapping]\nprompt = \"Classify this online-banking request into one of 77 intents.\\nRequest: {{text}}\\nIntent:\"\n\
             completion = \" {{category}}\"\n[data.dedup]\nthreshold = 0.9\n[data.tokens]\ntokenizer = {tokenizer:?}\nmax_tokens = 256\n\
             [data.split]\nseed = 7\nstratify_by = \"category\"\n"
        ),
    )
    .expect("bench config");
    println!("cpu: {}", cpu());
    println!(
        "input: {} rows, {:.1} MiB ({})",
        rows,
        size as f64 / 1048576.0,
        input.display()
    );

    let mut ours = Command::new(env!("CARGO_BIN_EXE_tunebench"));
    ours.args(["data", "prepare", "--quiet", "--force", "--config"])
        .arg(&config);
    if let Ok(limit) = std::env::var("TUNEBENCH_BENCH_MEMORY_LIMIT") {
        println!("tunebench --memory-limit {limit}");
        ours.args(["--memory-limit", &limit]);
    }
    let (t, rss) = (0..2)
        .map(|_| measure(&mut ours))
        .fold((f64::MAX, 0.0), |a, b| (a.0.min(b.0), f64::max(a.1, b.1)));
    println!(
        "tunebench: {t:.2} s, {:.0} rows/s, peak RSS {rss:.0} MiB ({:.2}x the input)",
        rows as f64 / t,
        rss / (size as f64 / 1048576.0)
    );

    let python = std::env::var("TUNEBENCH_BENCH_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default())
                .join(".cache/tunebench-bench-venv/bin/python")
        });
    let pandas_max: usize = std::env::var("TUNEBENCH_BENCH_PANDAS_MAX_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000_000);
    if rows > pandas_max {
        println!(
            "pandas baseline skipped: {rows} rows is over TUNEBENCH_BENCH_PANDAS_MAX_ROWS = {pandas_max}"
        );
    } else if python.exists() {
        let mut pandas = Command::new(&python);
        pandas
            .arg(repo.join("bench/prepare_pandas.py"))
            .arg(&input)
            .arg(work.join("out-pandas"));
        let (pt, prss) = measure(&mut pandas);
        println!(
            "pandas:    {pt:.2} s, {:.0} rows/s, peak RSS {prss:.0} MiB ({:.2}x the input)",
            rows as f64 / pt,
            prss / (size as f64 / 1048576.0)
        );
        println!("speed-up: {:.1}x", pt / t);
    } else {
        println!(
            "pandas baseline skipped: no {} (see bench/prepare_pandas.py)",
            python.display()
        );
    }
}
