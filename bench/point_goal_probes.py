"""The probes behind the action-chunking learns-tests (``tests/agents/test_chunked_learns.py``)
and BUILD_NOTES "Session 12": BC and the QC family on the sparse point-goal task
(``tests/agents/sparse_goal.py``: 300 random walks, 9% successful; OGBench's single-task
rewards), (64, 64) networks, batch 256, 3 seeds vmapped, 20 evaluation episodes; prints each
learner's final success rates (%) per seed and its wall time.

    .venv/bin/python bench/point_goal_probes.py --updates=2000 --algos=bc,fql,qc_fql,qc
    .venv/bin/python bench/point_goal_probes.py --updates=2000 --algos=fql,qc_fql,fql_n,bfn_n \
        --alpha=10
    .venv/bin/python bench/point_goal_probes.py --updates=6000 --algos=fql,bfn --alpha=10

``--alpha`` is the one-step (distill-ddpg) learners' distillation weight (default: the suite's,
QC's README's 100).
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from jaxrl_suite.agents import learner_parts  # noqa: E402
from jaxrl_suite.agents.bc import BCConfig, BCHParams, make_bc  # noqa: E402
from tests.agents.learn_check import normalized_returns  # noqa: E402
from tests.agents.sparse_goal import point_goal_env, random_walk_dataset  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=2000)
    parser.add_argument("--algos", default="bc,qc")
    parser.add_argument("--alpha", type=float, default=None)
    parser.add_argument("--episodes", type=int, default=300, help="random walks in the data")
    args = parser.parse_args()
    env = point_goal_env()
    data, success = random_walk_dataset(args.episodes)
    print(f"data: {data.num_transitions} transitions, {100 * success:.1f}% of walks succeed")
    for algo in args.algos.split(","):
        if algo == "bc":
            learner, hparams = make_bc(BCConfig((64, 64))), BCHParams()
        else:
            factory, config_cls, hparams_cls = learner_parts(algo)
            learner = factory(config_cls(hidden_sizes=(64, 64)))
            hparams = hparams_cls() if args.alpha is None else hparams_cls(alpha=args.alpha)
        start = time.perf_counter()
        scores = normalized_returns(learner, hparams, env, data, num_updates=args.updates,
                                    eval_episodes=20)
        print(f"{algo}: {np.round(scores, 1)} ({time.perf_counter() - start:.0f} s)",
              flush=True)


if __name__ == "__main__":
    main()
