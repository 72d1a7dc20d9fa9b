#!/usr/bin/env bash
# Issue 19's accelerator figures in one call (BUILD_NOTES "Session 15"): engine throughput of
# TD3+BC and IQL at 1 to 4,096 seeds and of CQL and EDAC at 1 to 512, at the default matmul
# precision and at full float32 (--matmul_precision=highest), the cost of a checkpoint, and
# XLA's memory plan per seed. Not yet run on a device: its steps' timeouts add to 470 s, under
# the 10-minute call limit.
#
# Before the call, here (no GPU needed): the suite's extra wheels, which the device image lacks
# (it has jax, flax, optax, chex, numpy; this list is not yet exercised, extend it if an
# import fails there):
#   .venv/bin/pip download --no-deps -d .whl -c constraints.txt gymnax brax mujoco mujoco-mjx \
#     distrax dm-tree etils gymnasium ml_collections tqdm trimesh navix
# then run it with the device tool: command `bash bench/device_scaleout.sh`, carry [".whl"].
source "$(dirname "$0")/device_setup.sh"
python3 -c "import jax; print(jax.__version__, jax.devices())"
step() { name=$1; shift; echo "== $name: $*"; timeout "$@" 2>&1 | tee "$out/$name.log"; }
step engine_default 200 python3 bench/train_throughput.py --algos td3bc,iql,cql,edac \
  --seeds 1,64,512,4096 --cql-seeds 1,64,512 --updates 1000 --peer ''
step engine_highest 120 python3 bench/train_throughput.py --algos td3bc \
  --seeds 1,512,4096 --updates 1000 --peer '' --precision highest
step checkpoint 90 python3 bench/checkpoint_cost.py --seeds 64,1024 --chunks 4 --eval_every 1000
step memory 60 python3 bench/learner_memory.py --seeds 1,256
