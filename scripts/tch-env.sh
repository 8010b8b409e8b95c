# Sourced, not run: sets up libtorch for the `tch` feature (`--device tch-cpu|tch-cuda[:N]`).
# Installs PyPI's torch==2.9.0 (the libtorch torch-sys 0.22 builds against) into a venv of its
# own when missing ($TUNEBENCH_TCH_VENV, default ~/.cache/tunebench-tch-venv), then exports what
# the build (its python on PATH, LIBTORCH_USE_PYTORCH=1) and the binary (LD_LIBRARY_PATH to
# torch's libraries) need. Used by scripts/test.sh (TUNEBENCH_TEST_TCH=1) and
# scripts/quickstart.sh (TUNEBENCH_DEVICE=tch-cpu).
tch_venv="${TUNEBENCH_TCH_VENV:-$HOME/.cache/tunebench-tch-venv}"
if ! "$tch_venv/bin/python" -c "import torch; assert torch.__version__.split('+')[0] == '2.9.0'" 2>/dev/null; then
  echo "installing torch==2.9.0 into $tch_venv (libtorch, for the tch feature)" >&2
  python3 -m venv "$tch_venv"
  "$tch_venv/bin/pip" install --quiet --disable-pip-version-check torch==2.9.0
fi
torch_lib="$("$tch_venv/bin/python" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')"
export PATH="$tch_venv/bin:$PATH" LIBTORCH_USE_PYTORCH=1
export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
