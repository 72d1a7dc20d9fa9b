"""History-conditioned BC where the observation hides the velocity: full-state BC, memoryless
BC and BC over 4-observation windows (frame stack, GRU) on the Pendulum expert's data as
``MaskedPendulum-v1`` observes it (tests/conftest.py's data, cached under --cache), the setting
of tests/agents/test_history_learners.py's learns-test (64-unit layers, 4k updates, 3 seeds).

    .venv/bin/python bench/history_bc.py
    .venv/bin/python bench/history_bc.py --updates=8000 --history=2,4,8

Prints each arm's D4RL-style normalised final score per seed (100 = the expert) and its
program seconds (compile, training and evaluation).
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from jaxrl_suite.agents.bc import BCConfig, BCHParams, make_bc  # noqa: E402
from jaxrl_suite.data import io  # noqa: E402
from jaxrl_suite.envs.history import with_history  # noqa: E402
from jaxrl_suite.envs.registry import make_env  # noqa: E402
from jaxrl_suite.transforms.history import history_windows, masked_dataset  # noqa: E402
from bench.cached_data import DEFAULT_CACHE, test_data_folder  # noqa: E402
from tests.agents.learn_check import normalized_returns  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=4_000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--history", default="4", help="window lengths of the history arms")
    parser.add_argument("--cache", default=str(DEFAULT_CACHE))
    args = parser.parse_args()
    expert = io.load(test_data_folder(args.cache) / "expert.npz")
    masked = masked_dataset(expert, "MaskedPendulum-v1")
    env, masked_env = make_env("Pendulum-v1"), make_env("MaskedPendulum-v1")
    arms = [("full state", BCConfig((64, 64)), env, expert),
            ("masked, memoryless", BCConfig((64, 64)), masked_env, masked)]
    for k in (int(x) for x in args.history.split(",")):
        for encoder in ("stack", "gru"):
            arms.append((f"masked, {encoder} k={k}",
                         BCConfig((64, 64), history_encoder=encoder, history_hidden=64),
                         with_history(masked_env, k), history_windows(masked, k)))
    print(f"Pendulum expert data ({expert.num_transitions} transitions), BC (64, 64), "
          f"{args.updates} updates, {args.seeds} seeds\n")
    print("| arm | normalised score per seed | mean | program s |")
    print("|---|---|---|---|")
    for name, config, arm_env, data in arms:
        start = time.perf_counter()
        scores = np.asarray(normalized_returns(make_bc(config), BCHParams(), arm_env, data,
                                               num_updates=args.updates,
                                               num_seeds=args.seeds))
        print(f"| {name} | {[round(float(x), 1) for x in scores]} | {scores.mean():.1f} | "
              f"{time.perf_counter() - start:.0f} |", flush=True)


if __name__ == "__main__":
    main()
