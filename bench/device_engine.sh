#!/usr/bin/env bash
# Training-engine throughput on an accelerator (BUILD_NOTES.md "Measured on a GPU"): the CPU
# script, with 1 to 4,096 seeds. Expects the suite's extra wheels in .whl/ (see device_run.sh).
source "$(dirname "$0")/device_setup.sh"
timeout "${ENGINE_TIMEOUT:-420}" python3 bench/train_throughput.py --algos td3bc,iql \
  --seeds "${SEEDS:-1,64,512,4096}" --updates "${UPDATES:-1000}" --peer '' 2>&1 \
  | tee "$out/engine.log"
