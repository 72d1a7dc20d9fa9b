"""One learner's update rate on one dataset: a jitted ``lax.scan`` of --updates updates (uniform
minibatches drawn in the scan), one seed, timed after its compile, best of --repeats.

    .venv/bin/python bench/update_rate.py --algos=td3bc,cql \
        --dataset=jaxrl_suite/mujoco-small/halfcheetah/medium-replay-v0

Each learner at its defaults (its own widths), batch 256 unless --batch_size.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

import jax

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from jaxrl_suite.agents import learner_parts  # noqa: E402
from jaxrl_suite.agents.base import data_spec  # noqa: E402
from jaxrl_suite.data import io  # noqa: E402
from jaxrl_suite.data.sampling import sample_uniform  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algos", default="td3bc,cql")
    parser.add_argument("--dataset", default="jaxrl_suite/mujoco-small/halfcheetah/"
                                             "medium-replay-v0")
    parser.add_argument("--updates", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch_size", type=int, default=256)
    args = parser.parse_args()
    data = io.load(args.dataset)
    spec = data_spec(data)
    print(f"{args.dataset}: {len(data.rewards)} transitions, batch {args.batch_size}, "
          f"{jax.devices()[0]}")
    for algo in args.algos.split(","):
        factory, config_cls, _ = learner_parts(algo, discrete=data.meta.discrete)
        learner = factory(config_cls())
        hparams = learner.default_hparams
        state = learner.init(jax.random.PRNGKey(0), spec, hparams)

        def body(st, key):
            batch_key, update_key = jax.random.split(key)
            batch = sample_uniform(data, batch_key, args.batch_size)
            return learner.update(st, batch, update_key, hparams)[0], None

        run = jax.jit(lambda st, keys: jax.lax.scan(body, st, keys)[0])
        keys = jax.random.split(jax.random.PRNGKey(1), args.updates)
        jax.block_until_ready(run(state, keys))  # compile
        best = float("inf")
        for _ in range(args.repeats):
            start = time.perf_counter()
            jax.block_until_ready(run(state, keys))
            best = min(best, time.perf_counter() - start)
        print(f"{algo}: {args.updates / best:.1f} updates/s (1 seed, best of {args.repeats})")


if __name__ == "__main__":
    main()
