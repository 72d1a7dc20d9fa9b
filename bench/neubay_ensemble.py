"""NEUBAY's posterior ensemble at the paper's size on this machine: 128 members of 4 x 200
(LayerNorm, leaky ReLU), trained on a locomotion dataset for a few epochs; prints seconds per
epoch (the compiled loop's first epoch includes the compile, so two runs of different epoch
counts are differenced), the parameter memory and the planning ensemble's uncertainty pass over
the dataset (the calibration NEUBAY runs once per run).

    .venv/bin/python bench/neubay_ensemble.py [--dataset=<name>] [--members=128 --elites=100]

The dataset defaults to the suite's ``mujoco-small`` HalfCheetah medium-replay (40k
transitions; ``generate --suite=mujoco-small`` builds it).
"""

from __future__ import annotations

import argparse
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, ".")

from jaxrl_suite.data import io  # noqa: E402
from jaxrl_suite.model_based import dynamics  # noqa: E402
from jaxrl_suite.model_based.neubay import calibrate, members_in_use  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset",
                        default="jaxrl_suite/mujoco-small/halfcheetah/medium-replay-v0")
    parser.add_argument("--minari_root", default=None)
    parser.add_argument("--members", type=int, default=128)
    parser.add_argument("--elites", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    data = io.load(args.dataset, root=args.minari_root)
    print(f"{args.dataset}: {data.num_transitions} transitions, jax {jax.__version__}, "
          f"{jax.devices()[0].device_kind}")
    seconds = {}
    for epochs in (1, args.epochs):
        config = dynamics.neubay_ensemble_config(args.members, args.elites, epochs,
                                                 patience=10_000)
        start = time.perf_counter()
        model, metrics = dynamics.train_ensemble(jax.random.PRNGKey(0), data, config)
        jax.block_until_ready(model)
        seconds[epochs] = time.perf_counter() - start
        print(f"{epochs} epoch(s): {seconds[epochs]:.1f} s (compile included), "
              f"holdout MSE median {float(np.median(np.asarray(model.holdout_mse))):.4f}")
    per_epoch = (seconds[args.epochs] - seconds[1]) / (args.epochs - 1)
    params = sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(model.params))
    print(f"per epoch: {per_epoch:.1f} s; parameters {params / 2**20:.1f} MiB "
          f"({args.members} members); Adam state ~2x that while training")
    in_use = members_in_use(model.holdout_mse, jnp.float32(args.elites))
    calib = jax.jit(lambda m, d: calibrate(m, d, in_use, jnp.float32(1.0)))
    jax.block_until_ready(calib(model, data))
    start = time.perf_counter()
    out = jax.block_until_ready(calib(model, data))
    print(f"calibration over the dataset ({args.elites} members): "
          f"{time.perf_counter() - start:.2f} s; threshold {float(out.threshold):.4f}, "
          f"mean uncertainty {float(out.mean_uncertainty):.4f}")


if __name__ == "__main__":
    main()
