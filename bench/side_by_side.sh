#!/usr/bin/env bash
# tunebench against PyTorch (transformers + PEFT), side by side in one run: LoRA training,
# prompt processing and greedy generation on SmolLM2-135M's shape, with the reference
# vocabulary and SmolLM2's own; prints the CPU and a table of ratios (bench/side_by_side.py).
#
#   bench/side_by_side.sh
#
# Makes a venv with bench/torch-requirements.txt under ~/.cache on first use (torch from
# PyPI: several GB); TUNEBENCH_TORCH_VENV names another venv holding those packages.
# Nothing else should run meanwhile: both sides use every core.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${TUNEBENCH_TORCH_VENV:-$HOME/.cache/tunebench-torch-venv}"
if ! "$venv/bin/python" -c "import torch, transformers, peft" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r bench/torch-requirements.txt
fi
exec "$venv/bin/python" bench/side_by_side.py
