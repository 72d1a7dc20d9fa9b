#!/usr/bin/env bash
# Training-engine throughput on an accelerator (BUILD_NOTES.md "Measured on a GPU"): the CPU
# script, with 1 to 4,096 seeds. Expects the suite's extra wheels in .whl/ (see device_run.sh).
set -u
export PYTHONUNBUFFERED=1 PYTHONPATH=/tmp/site:$PWD
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site .whl/*.whl || exit 1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
out=${OUT:-/tmp}
timeout "${ENGINE_TIMEOUT:-420}" python3 bench/train_throughput.py --algos td3bc,iql \
  --seeds "${SEEDS:-1,64,512,4096}" --updates "${UPDATES:-1000}" --peer '' 2>&1 \
  | tee "$out/engine.log"
