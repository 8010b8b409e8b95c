#!/usr/bin/env bash
# tunebench against PyTorch (transformers + PEFT), side by side in one run: LoRA training,
# prompt processing and greedy generation on SmolLM2-135M's shape, with the reference
# vocabulary and SmolLM2's own; prints the CPU and a table of ratios (bench/side_by_side.py).
#
#   bench/side_by_side.sh
#   TUNEBENCH_SIDE_BY_SIDE_TCH=1 bench/side_by_side.sh   # also tunebench on libtorch (tch-cpu)
#
# The PyTorch side runs in the venv of bench/torch-venv.sh (made on first use).
# Nothing else should run meanwhile: both sides use every core.
set -euo pipefail
cd "$(dirname "$0")/.."
python="$(bench/torch-venv.sh)"
if [ "${TUNEBENCH_SIDE_BY_SIDE_TCH:-0}" = 1 ]; then
  . scripts/tch-env.sh
  # Speed side by side: glibc's default heap, as in the PyTorch process (tch-env.sh's heap
  # settings trade training time for memory; BENCHMARKS.md, "libtorch's memory").
  unset MALLOC_MMAP_THRESHOLD_ TUNEBENCH_GIVE_BACK_MS
fi
exec "$python" bench/side_by_side.py
