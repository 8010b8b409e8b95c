#!/usr/bin/env bash
# Prints the python of the PyTorch reference venv (bench/torch-requirements.txt: torch,
# transformers, PEFT, gguf), making it under ~/.cache on first use (torch from PyPI: several
# GB). TUNEBENCH_TORCH_VENV names another venv holding those packages.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${TUNEBENCH_TORCH_VENV:-$HOME/.cache/tunebench-torch-venv}"
if ! "$venv/bin/python" -c "import torch, transformers, peft, gguf" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r bench/torch-requirements.txt >&2
fi
echo "$venv/bin/python"
