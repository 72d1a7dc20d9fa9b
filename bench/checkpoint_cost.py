"""What saving the whole vmapped state after every chunk costs a training run, and what
``--checkpoint_interval`` (``checkpoint.interval()``, default 120 s) saves.

    .venv/bin/python bench/checkpoint_cost.py [--seeds 8,64] [--hidden 256] [--chunks 8]
        [--eval_every 500]

For each seed count: TD3+BC at two ``hidden``-unit layers (Pendulum-shaped data: the hidden
layers dominate the state) trains ``chunks`` chunks of ``eval_every`` updates through
``train.train`` three times after a warm-up that compiles: without a checkpoint directory,
saving after every chunk (interval 0, what every run did before the interval existed), and at
the default interval (which saves the last chunk only, when the run is shorter than it). It
prints the state's bytes, seconds per save (orbax: device-to-host copy plus disk write,
blocking) and each run's seconds, and the share of an every-chunk run spent saving. The
device's update speed decides that share: the same bytes per save against a GPU's faster
chunks weigh more (see BUILD_NOTES for measured GPU rates).
"""

from __future__ import annotations

import argparse
import pathlib
import shutil
import sys
import tempfile
import time

import jax
import numpy as np

sys.path.insert(0, ".")

from jaxrl_suite import checkpoint  # noqa: E402
from jaxrl_suite.agents.td3bc import TD3BCConfig, make_td3bc  # noqa: E402
from jaxrl_suite.data import DatasetMeta, from_arrays  # noqa: E402
from jaxrl_suite.envs.registry import make_env  # noqa: E402
from jaxrl_suite.train import TrainConfig, make_train, stack_hparams, train  # noqa: E402


def pendulum_shaped(n: int = 100_000):
    rng = np.random.default_rng(0)
    timeouts = np.zeros(n, bool)
    timeouts[199::200] = True
    return from_arrays(rng.normal(size=(n, 3)), rng.uniform(-2, 2, (n, 1)), rng.normal(size=n),
                       np.zeros(n, bool), timeouts, rng.normal(size=(n, 3)),
                       meta=DatasetMeta(env_id="Pendulum-v1", action_low=(-2.0,),
                                        action_high=(2.0,)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", default="8,64")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--chunks", type=int, default=8)
    parser.add_argument("--eval_every", type=int, default=500)
    args = parser.parse_args()
    ds = pendulum_shaped()
    learner = make_td3bc(TD3BCConfig(hidden_sizes=(args.hidden, args.hidden)))
    trainer = make_train(learner, make_env("Pendulum-v1"), TrainConfig(
        num_updates=args.chunks * args.eval_every, eval_every=args.eval_every,
        eval_episodes=1))
    print(f"jax {jax.__version__} on {jax.devices()[0].device_kind}; TD3+BC "
          f"{args.hidden}x{args.hidden}, {args.chunks} chunks of {args.eval_every} updates; "
          f"default interval {checkpoint.DEFAULT_INTERVAL_S:g} s")
    print("| seeds | state MB | no checkpoint s | every chunk s | saves | s per save | "
          "default interval s | saving share of every-chunk run |")
    print("|---|---|---|---|---|---|---|---|")
    scratch = pathlib.Path(tempfile.mkdtemp(prefix="ckpt_bench_"))
    try:
        for seeds in (int(s) for s in args.seeds.split(",")):
            keys = jax.random.split(jax.random.PRNGKey(0), seeds)
            hp = stack_hparams([learner.default_hparams] * seeds)
            train(trainer, ds, keys, hp)  # compiles
            times = {}
            for name, kwargs in (("none", {}),
                                 ("every", dict(checkpoint_interval_s=0.0)),
                                 ("default", dict(checkpoint_interval_s=None))):
                where = scratch / f"{seeds}-{name}"
                if name != "none":
                    kwargs["checkpoint_dir"] = where
                start = time.perf_counter()
                result = train(trainer, ds, keys, hp, **kwargs)
                jax.block_until_ready(result.state)
                times[name] = time.perf_counter() - start
                shutil.rmtree(where, ignore_errors=True)
            state_mb = sum(x.nbytes for x in jax.tree.leaves(result.state)) / 1e6
            per_save = (times["every"] - times["none"]) / args.chunks
            share = (times["every"] - times["none"]) / times["every"]
            print(f"| {seeds} | {state_mb:.0f} | {times['none']:.2f} | {times['every']:.2f} | "
                  f"{args.chunks} | {per_save:.3f} | {times['default']:.2f} | "
                  f"{100 * share:.0f}% |")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
