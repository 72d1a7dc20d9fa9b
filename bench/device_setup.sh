# Sourced by the bench/device_*.sh scripts: installs the suite's extra wheels from .whl/ (the
# device image has jax/flax/optax/chex but not gymnax, brax, mujoco-mjx, distrax) into
# /tmp/site, prints the accelerator, and sets $out (the device tool's $OUT, else /tmp).
set -u
export PYTHONUNBUFFERED=1 PYTHONPATH=/tmp/site:$PWD
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site .whl/*.whl || exit 1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
out=${OUT:-/tmp}
