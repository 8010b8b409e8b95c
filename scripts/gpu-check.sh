#!/usr/bin/env bash
# The prepared check of the GPU path on a lent GPU machine, which reaches no package registry:
# build here, carry the binaries there, run them there.
#
#   scripts/gpu-check.sh build
#       Here. Builds, with the `wgpu` feature, the model parity tests
#       (models/tests/fixture.rs), the training tests (train/tests/fixture.rs) and the LoRA
#       training bench (train/benches/train_step.rs), strips them and packs them with the
#       Vulkan loader (libvulkan.so.1), which the GPU machine lacks, into
#       gpu-check/bundle.tar.xz (ignored by git; about 40 MB, under the device tool's 64 MiB).
#   scripts/gpu-check.sh run [DEVICE]
#       There, from a copy of the repository holding gpu-check/ (the device tool's `carry`).
#       DEVICE is a tunebench device name, default `wgpu` (the adapter wgpu ranks best; a
#       discrete GPU first). Runs the parity and training tests on it, then the LoRA training
#       step on SmolLM2-135M's shape (vocabulary 49,152, batch 8 x 512, LoRA r=8 on q,k,v,o,
#       the base's frozen weights in f16: WGSL has no bf16; GPU_CHECK_DTYPE=f32 for f32),
#       printing tokens/s and the peak GPU memory that nvidia-smi saw; then, where python3
#       has torch and peft and CUDA is up, the same step in PyTorch + PEFT with the base in
#       bf16 (bench/torch_reference.py), for the ratio.
#
# `run wgpu:cpu` runs the same on lavapipe here (Debian's mesa-vulkan-drivers), which is how
# this script itself is tested; GPU_CHECK_BATCH (ROWSxSEQ, default 8x512) shrinks the bench
# step for that.
set -euo pipefail
cd "$(dirname "$0")/.."
out=gpu-check

build() {
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tunebench-target}"
  rm -rf "$out"
  mkdir -p "$out/bin" "$out/lib"
  local features=(--workspace --locked --features wgpu)
  # The executables cargo reports, by target name.
  exes() {
    python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable"):
        print(m["package_id"].split("#")[0].rsplit("/", 1)[-1], m["target"]["name"], m["executable"])'
  }
  {
    cargo test "${features[@]}" --test fixture --no-run --message-format=json
    cargo bench "${features[@]}" --profile dev --bench train_step --no-run --message-format=json
  } | exes | while read -r package target exe; do
    name="$package-$target"
    cp "$exe" "$out/bin/$name"
    strip "$out/bin/$name"
    echo "$out/bin/$name ($(du -h "$out/bin/$name" | cut -f1))"
  done
  cp -L "$(ldconfig -p | awk '/libvulkan.so.1 .*x86-64/ {print $NF; exit}')" "$out/lib/libvulkan.so.1"
  # The tests find their fixtures under the path they were built at.
  pwd >"$out/ROOT"
  XZ_OPT="-T2 -6" tar -C "$out" -cJf "$out/bundle.tar.xz" bin lib ROOT
  rm -rf "$out/bin" "$out/lib" "$out/ROOT"
  du -h "$out/bundle.tar.xz"
}

run() {
  local device="${1:-wgpu}"
  [ -f "$out/bundle.tar.xz" ] || { echo "no $out/bundle.tar.xz: run \`scripts/gpu-check.sh build\` first" >&2; exit 2; }
  tar -C "$out" -xJf "$out/bundle.tar.xz"
  local root
  root="$(cat "$out/ROOT")"
  if [ ! -e "$root" ]; then
    mkdir -p "$(dirname "$root")"
    ln -s "$PWD" "$root"
  fi
  export LD_LIBRARY_PATH="$PWD/$out/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  # NVIDIA's driver ships its Vulkan driver (libGLX_nvidia) but not always the loader's
  # manifest for it.
  if command -v nvidia-smi >/dev/null && ! ls /usr/share/vulkan/icd.d/nvidia_icd*.json \
    /etc/vulkan/icd.d/nvidia_icd*.json >/dev/null 2>&1; then
    printf '{"file_format_version":"1.0.0","ICD":{"library_path":"libGLX_nvidia.so.0","api_version":"1.3.0"}}\n' \
      >"$out/nvidia_icd.json"
    export VK_ICD_FILENAMES="$PWD/$out/nvidia_icd.json"
  fi
  local sampler="" peak_file="$out/gpu-memory.csv"
  if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
    nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 200 >"$peak_file" &
    sampler=$!
  fi
  local status=0
  for test in "$out"/bin/*-fixture; do
    echo "== $(basename "$test") on $device"
    TUNEBENCH_TEST_DEVICE="$device" "$test" --test-threads 1 || status=1
  done
  local batch="${GPU_CHECK_BATCH:-8x512}" dtype="${GPU_CHECK_DTYPE:-f16}"
  echo "== LoRA training step on $device: SmolLM2-135M shape, vocabulary 49152, batch $batch, base in $dtype"
  TUNEBENCH_BENCH_DEVICE="$device" TUNEBENCH_BENCH_BATCH="$batch" TUNEBENCH_BENCH_VOCAB=49152 \
    TUNEBENCH_BENCH_DTYPE="$dtype" TUNEBENCH_BENCH_SYNTHETIC_ONLY=1 "$out"/bin/*-train_step || status=1
  if [ -n "$sampler" ]; then
    kill "$sampler"
    echo "peak GPU memory in use during the check: $(sort -n "$peak_file" | tail -1) MiB"
  fi
  if python3 -c 'import torch, peft, transformers; assert torch.cuda.is_available()' 2>/dev/null; then
    echo "== the same step in PyTorch + PEFT, base in bf16, on CUDA"
    TORCH_REF_DEVICE=cuda TORCH_REF_DTYPE=bfloat16 TORCH_REF_BATCH="$batch" \
      python3 bench/torch_reference.py train 49152 || status=1
  fi
  exit "$status"
}

case "${1:-}" in
  build) build ;;
  run) shift; run "$@" ;;
  *) echo "usage: scripts/gpu-check.sh build | run [DEVICE]" >&2; exit 2 ;;
esac
