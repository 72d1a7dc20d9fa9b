#!/usr/bin/env bash
# Model-based throughput on an accelerator (BUILD_NOTES.md): bench/model_based_throughput.py at
# q = 8 and 64 configurations. Expects the suite's extra wheels in .whl/ (see device_run.sh).
source "$(dirname "$0")/device_setup.sh"
for q in 8 64; do
  timeout "${MB_TIMEOUT:-150}" python3 bench/model_based_throughput.py --q "$q" \
    --starts 50000 --updates 500 2>&1 | grep -v Warning | tee -a "$out/model_based.log"
done
