#!/usr/bin/env bash
# The quickstart's fine-tune in Hugging Face PEFT (bench/peft_quickstart.py): the same model,
# prepared data, steps and LoRA settings as configs/quickstart.toml, timed stage by stage, with
# the base and tuned accuracies on the same test queries. Run it after the quickstart, whose
# prepared data and linked model it reads:
#
#   scripts/quickstart.sh && /usr/bin/time -v bench/peft_quickstart.sh [RUN_DIR]
#
# TUNEBENCH_MAX_STEPS overrides the config's max_steps, as for `tunebench run` (the libtorch
# quickstart trains 400: `TUNEBENCH_MAX_STEPS=400 bench/peft_quickstart.sh`).
#
# The PyTorch side runs in the venv of bench/torch-venv.sh (made on first use).
# Nothing else should run meanwhile: both sides use every core.
set -euo pipefail
cd "$(dirname "$0")/.."
python="$(bench/torch-venv.sh)"
exec "$python" bench/peft_quickstart.py "$@"
