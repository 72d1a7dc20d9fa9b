#!/usr/bin/env bash
# One prepared accelerator session (see BUILD_NOTES.md "Measured on a GPU"): the same bench
# scripts as on the CPU, sized for a GPU. Expects the suite's extra wheels in .whl/ (the device
# image has jax/flax/optax/chex but not gymnax, brax, mujoco-mjx, distrax); writes logs to $OUT.
source "$(dirname "$0")/device_setup.sh"
python3 -c "import jax; print(jax.__version__, jax.devices())"
step() { name=$1; shift; echo "== $name: $*"; timeout "$@" 2>&1 | tee "$out/$name.log"; }
step saco 90 python3 bench/saco_scale.py --transitions 10000000 --dims 5 --skip-numpy
step dqn_seeds 150 python3 bench/online_experts.py --learner dqn --seeds 64 --steps 30000 --chunk 5000
step ppo_hopper 200 python3 bench/locomotion_experts.py --envs halfcheetah --algorithm ppo \
  --num-timesteps 5000000 --eval-episodes 16
