"""tunebench against PyTorch, side by side in one run on one machine (issue 15's figures).

Runs tunebench's `train_step` and `generate` benches (cargo, `dev` profile, burn-flex f32)
and bench/torch_reference.py (transformers + PEFT, f32) on the same workloads, for the
reference vocabulary (8,192) and SmolLM2's own (49,152), and prints a Markdown table of
both figures and their ratio, headed by the CPU model, its core count and whether it has
AVX2 / AVX-512. With TUNEBENCH_SIDE_BY_SIDE_TCH=1 the benches also run on libtorch (the
`tch` feature, `tch-cpu`), in a column and a ratio of their own. Every ratio in
BENCHMARKS.md's side-by-side section comes from one run of this script. Run it through
bench/side_by_side.sh, which makes the PyTorch venv (and sets up libtorch).
"""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VOCABS = (8192, 49152)


def cpu() -> str:
    info = Path("/proc/cpuinfo").read_text()
    model = re.search(r"^model name\s*:\s*(.*)$", info, re.M)
    flags = set(re.search(r"^flags\s*:\s*(.*)$", info, re.M).group(1).split())
    return (
        f"{model.group(1) if model else 'unknown CPU'}, {os.cpu_count()} logical CPUs, "
        f"AVX2 {'yes' if 'avx2' in flags else 'no'}, "
        f"AVX-512F {'yes' if 'avx512f' in flags else 'no'}"
    )


def run(cmd: list, env: dict) -> str:
    print("$", " ".join(cmd), file=sys.stderr, flush=True)
    done = subprocess.run(
        cmd, cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True
    )
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def number(pattern: str, text: str) -> float:
    found = re.search(pattern, text)
    if not found:
        sys.exit(f"no match for {pattern!r} in:\n{text}")
    return float(found.group(1))


# tunebench's backends: the default build on burn-flex, and with the variable set, the `tch`
# build on libtorch's CPU device.
BACKENDS = [("burn-flex", [], "cpu")] + (
    [("libtorch", ["--features", "tch"], "tch-cpu")]
    if os.environ.get("TUNEBENCH_SIDE_BY_SIDE_TCH") == "1"
    else []
)


def ours(vocab: int, features: list, device: str) -> dict:
    env = {
        "TUNEBENCH_BENCH_VOCAB": str(vocab),
        "TUNEBENCH_BENCH_SYNTHETIC_ONLY": "1",
        "TUNEBENCH_BENCH_DEVICE": device,
    }
    bench = ["cargo", "bench", "--locked", "--profile", "dev", "--workspace", *features]
    bench += ["--bench"]
    train = run(bench + ["train_step"], env)
    gen = run(bench + ["generate"], env)
    out = {
        "train_tokens_per_s": number(r"= (\d+(?:\.\d+)?) tokens/s", train),
        "train_forward_s": number(r"forward (\d+\.\d+) s", train),
        "train_backward_s": number(r"backward (\d+\.\d+) s", train),
        "train_peak_rss_mib": number(r"peak RSS (\d+) MiB", train),
        "generate_peak_rss_mib": number(r"peak RSS (\d+) MiB", gen),
    }
    for b in (1, 8):
        out[f"prompt_tokens_per_s_b{b}"] = number(rf"batch {b}: prompt (\d+) tokens/s", gen)
        out[f"gen_tokens_per_s_b{b}"] = number(
            rf"batch {b}: .*generation (\d+\.\d+) tokens/s", gen
        )
    return out


def theirs(vocab: int) -> dict:
    out = {}
    for work in ("train", "generate"):
        text = run([sys.executable, "bench/torch_reference.py", work, str(vocab)], {})
        print(text.splitlines()[0], file=sys.stderr)
        for key, value in re.findall(r"^result (\S+) (\S+)$", text, re.M):
            out[key] = float(value)
    return out


ROWS = [
    ("LoRA training, 4 x 128, tokens/s", "train_tokens_per_s", True),
    ("  forward, s", "train_forward_s", False),
    ("  backward, s", "train_backward_s", False),
    ("prompt processing, batch 1, tokens/s", "prompt_tokens_per_s_b1", True),
    ("prompt processing, batch 8, tokens/s", "prompt_tokens_per_s_b8", True),
    ("greedy generation, batch 1, tokens/s", "gen_tokens_per_s_b1", True),
    ("greedy generation, batch 8, tokens/s", "gen_tokens_per_s_b8", True),
    ("peak RSS, training, MiB", "train_peak_rss_mib", False),
    ("peak RSS, generation, MiB", "generate_peak_rss_mib", False),
]


def main() -> None:
    print(f"cpu: {cpu()}")
    for vocab in VOCABS:
        mine = [ours(vocab, features, device) for _, features, device in BACKENDS]
        b = theirs(vocab)
        names = [name for name, _, _ in BACKENDS]
        print(f"\nvocabulary {vocab}\n")
        print(
            "| work | "
            + " | ".join(f"tunebench ({n})" for n in names)
            + " | PyTorch | "
            + " | ".join(f"{n} ÷ PyTorch speed" for n in names)
            + " |"
        )
        print("|---|" + "---:|" * (2 * len(names) + 1))
        for label, key, higher_is_better in ROWS:
            values = " | ".join(f"{a[key]:.2f}" for a in mine)
            ratios = " | ".join(
                f"{(a[key] / b[key] if higher_is_better else b[key] / a[key]):.2f}x"
                for a in mine
            )
            print(f"| {label} | {values} | {b[key]:.2f} | {ratios} |")
    print(
        "\nratios: above 1 means tunebench is faster (for seconds and MiB: the inverse "
        "ratio, so above 1 still means tunebench is better)"
    )


if __name__ == "__main__":
    main()
