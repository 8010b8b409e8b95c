# Sourced, not run: sets up libtorch for the `tch` feature (`--device tch-cpu|tch-cuda[:N]`).
# Installs PyPI's torch==2.9.0 (the libtorch torch-sys 0.22 builds against) into a venv of its
# own when missing ($TUNEBENCH_TCH_VENV, default ~/.cache/tunebench-tch-venv), then exports what
# the build and the binary (LD_LIBRARY_PATH) need. Used by scripts/test.sh (TUNEBENCH_TEST_TCH=1),
# scripts/quickstart.sh (TUNEBENCH_DEVICE=tch-cpu) and bench/side_by_side.sh.
#
# PyPI's torch is the CUDA build. Linked as it is, a tunebench binary loads libtorch_cuda,
# cuDNN, cuBLAS, NCCL... at start: 505 MB resident before it does anything (`--version`),
# against 122 MB with libtorch's CPU libraries alone. So by default the build sees a CPU-only
# view of that libtorch ($venv/libtorch-cpu: libtorch_cpu, c10 and OpenMP, with libtorch.so
# standing for libtorch_cpu.so); torch-sys and burn-tch then link no CUDA library, and
# `--device tch-cuda` says that this build has none. TUNEBENCH_TCH_CUDA=1 links the whole
# PyTorch build instead (LIBTORCH_USE_PYTORCH=1), for a machine with an NVIDIA GPU.
tch_venv="${TUNEBENCH_TCH_VENV:-$HOME/.cache/tunebench-tch-venv}"
if ! "$tch_venv/bin/python" -c "import importlib.metadata as m; assert m.version('torch').split('+')[0] == '2.9.0'" 2>/dev/null; then
  echo "installing torch==2.9.0 into $tch_venv (libtorch, for the tch feature)" >&2
  python3 -m venv "$tch_venv"
  "$tch_venv/bin/pip" install --quiet --disable-pip-version-check torch==2.9.0
fi
torch_dir="$("$tch_venv/bin/python" -c 'import importlib.util; print(importlib.util.find_spec("torch").submodule_search_locations[0])')"
if [ "${TUNEBENCH_TCH_CUDA:-0}" = 1 ]; then
  unset LIBTORCH
  export PATH="$tch_venv/bin:$PATH" LIBTORCH_USE_PYTORCH=1
  export LD_LIBRARY_PATH="$torch_dir/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
else
  cpu_view="$tch_venv/libtorch-cpu"
  mkdir -p "$cpu_view/lib"
  ln -sfn "$torch_dir/include" "$cpu_view/include"
  for lib in libtorch_cpu.so libc10.so libgomp.so.1; do
    ln -sfn "$torch_dir/lib/$lib" "$cpu_view/lib/$lib"
  done
  ln -sfn "$torch_dir/lib/libtorch_cpu.so" "$cpu_view/lib/libtorch.so"
  unset LIBTORCH_USE_PYTORCH
  export LIBTORCH="$cpu_view"
  # libtorch_cpu itself still needs the CUDA runtime and CUPTI (small) from PyPI's nvidia wheels.
  nvidia="$(dirname "$torch_dir")/nvidia"
  export LD_LIBRARY_PATH="$cpu_view/lib:$nvidia/cuda_runtime/lib:$nvidia/cuda_cupti/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
# libtorch mallocs each tensor one by one. glibc's default mmap threshold rises with the
# largest block freed (up to 32 MiB), after which a training step's activations all come from
# the heap, which keeps what they leave. With a fixed 4 MiB threshold the larger blocks (MLP
# activations, logits) are mapped afresh and unmapped when freed, and TUNEBENCH_GIVE_BACK_MS
# has tunebench hand the rest back every 300 ms (src/memory.rs): together, the 400-step
# quickstart peaks at 1.16 GiB instead of 1.4-1.7, for 14% more training time (BENCHMARKS.md,
# "libtorch's memory"). On flex the threshold only costs time, so both are set here, for the
# processes that run a libtorch build.
export MALLOC_MMAP_THRESHOLD_="${MALLOC_MMAP_THRESHOLD_:-4194304}"
export TUNEBENCH_GIVE_BACK_MS="${TUNEBENCH_GIVE_BACK_MS:-300}"
