"""Discrete CQL over history windows: does it learn where the observation is complete, and
where the velocities are masked? CQL (64, 64), lr 1e-3, the paper's CartPole discount, on the
first 100 trajectories of one fixed permutation of the default suite's CartPole replay data
(the observation-histories study's n = 100 set, ``experiments/observation_histories.py``):
full state without a history, full state as GRU windows (k = 4), and MaskedCartPole (x and
theta only) as GRU windows; 3 seeds vmapped, batch 256.

    .venv/bin/python bench/history_cql.py               # 2k updates, the study's default
    .venv/bin/python bench/history_cql.py --updates=8000

Prints each arm's final normalised score per seed and its program seconds. Needs the default
suite built (``python -m jaxrl_suite generate --suite=default``).
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from jaxrl_suite.agents.discrete.common import paper_hparams  # noqa: E402
from jaxrl_suite.agents.discrete.cql import CQLConfig, make_cql  # noqa: E402
from jaxrl_suite.data import io  # noqa: E402
from jaxrl_suite.envs.history import with_history  # noqa: E402
from jaxrl_suite.envs.registry import make_env  # noqa: E402
from jaxrl_suite.generate.suite import dataset_id  # noqa: E402
from jaxrl_suite.transforms.history import history_windows, masked_dataset  # noqa: E402
from tests.agents.learn_check import normalized_returns  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=2_000)
    parser.add_argument("--trajectories", type=int, default=100)
    parser.add_argument("--minari_root", default=None)
    args = parser.parse_args()
    source = io.load(dataset_id("default", "CartPole-v1", "replay"), root=args.minari_root)
    order = np.random.default_rng(0).permutation(source.num_episodes)
    data = source.select_episodes(np.sort(order[:args.trajectories]))
    masked = masked_dataset(data, "MaskedCartPole-v1")
    gru = CQLConfig((64, 64), history_encoder="gru", history_hidden=64)
    arms = [("full state, no history", CQLConfig((64, 64)), make_env("CartPole-v1"), data),
            ("full state, GRU k=4", gru, with_history(make_env("CartPole-v1"), 4),
             history_windows(data, 4)),
            ("MaskedCartPole, GRU k=4", gru, with_history(make_env("MaskedCartPole-v1"), 4),
             history_windows(masked, 4))]
    print(f"CartPole replay, {args.trajectories} trajectories ({data.num_transitions} "
          f"transitions), CQL (64, 64), lr 1e-3, {args.updates} updates, 3 seeds\n")
    print("| arm | normalised score per seed | mean | program s |")
    print("|---|---|---|---|")
    for name, config, env, arm_data in arms:
        learner = make_cql(config)
        hparams = paper_hparams(learner.default_hparams, "CartPole-v1").replace(
            learning_rate=1e-3)
        start = time.perf_counter()
        scores = np.asarray(normalized_returns(learner, hparams, env, arm_data,
                                               num_updates=args.updates, num_seeds=3))
        print(f"| {name} | {[round(float(x), 1) for x in scores]} | {scores.mean():.1f} | "
              f"{time.perf_counter() - start:.0f} |", flush=True)


if __name__ == "__main__":
    main()
