"""Measures the uniform random policy's mean return in gymnasium's MuJoCo v5 envs (C MuJoCo,
the host evaluator), D4RL's ref_min protocol (``scripts/reference_scores/
generate_ref_min_score.py``: 100 episodes of ``env.action_space.sample()``).

    .venv/bin/python bench/reference_returns.py                    # all four, 100 episodes
    .venv/bin/python bench/reference_returns.py --envs Ant-v5 --episodes 200
"""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np

from jaxrl_suite.envs.evaluate import random_policy
from jaxrl_suite.envs.host_eval import HostEvaluator
from jaxrl_suite.envs.mujoco import MUJOCO_ENV_NAMES


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--envs", nargs="+", default=list(MUJOCO_ENV_NAMES))
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print("| env | episodes | random return mean | std | standard error | seconds |")
    print("|---|---|---|---|---|---|")
    for name in args.envs:
        evaluator = HostEvaluator(name)
        start = time.perf_counter()
        returns = evaluator.evaluate(random_policy(evaluator.spec), None,
                                     jax.random.PRNGKey(args.seed)[None], args.episodes)[0]
        seconds = time.perf_counter() - start
        evaluator.close()
        print(f"| {name} | {args.episodes} | {returns.mean():.2f} | {returns.std():.2f} | "
              f"{returns.std() / np.sqrt(len(returns)):.2f} | {seconds:.1f} |")


if __name__ == "__main__":
    main()
