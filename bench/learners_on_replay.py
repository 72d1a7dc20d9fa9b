"""Scores of learners at their paper defaults on the test suite's replay data (the measurements
behind the critic-sensitive learns-tests; BUILD_NOTES "Learners proven").

    .venv/bin/python bench/learners_on_replay.py --data=pendulum --learners=bc,td3bc \
        --updates=10000 --eval_every=5000 --seeds=8
    .venv/bin/python bench/learners_on_replay.py --data=cartpole --learners=bc,cql,dqn \
        --updates=12000 --eval_every=4000
    .venv/bin/python bench/learners_on_replay.py --file=expert --learners=cql \
        --updates=20000 --eval_every=4000      # the expert data instead (CQL's budget there)

The data are built exactly as the tests build them (tests/conftest.py, the discrete conftest)
into --cache (once). Each learner trains ``--seeds`` vmapped seeds; the table gives the
normalised score (0 random, 100 expert) per seed at every evaluation and the mean. Networks
(64, 64); continuous learners batch 256, discrete 128 (their paper minibatch). ReBRAC takes
``rebrac.REPLAY_BETAS`` as in the tests. ``--frozen_critic`` trains the tests' broken variant.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

import jax
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.cached_data import test_data_folder  # noqa: E402
from jaxrl_suite.data import io  # noqa: E402
from jaxrl_suite.envs.registry import make_env  # noqa: E402
from jaxrl_suite.train import TrainConfig, make_train, stack_hparams, train  # noqa: E402


def continuous(name):
    from tests.agents.critic_check import CASES, S
    from jaxrl_suite.agents.bc import BCConfig, BCHParams, make_bc
    if name == "bc":
        return make_bc(BCConfig(S)), BCHParams()
    make, hparams, _, _ = CASES[name]
    return make(), hparams


def discrete(name):
    import importlib
    from jaxrl_suite.agents import DISCRETE_LEARNERS
    from jaxrl_suite.agents.discrete.common import paper_hparams
    entry = DISCRETE_LEARNERS[name]
    module = importlib.import_module(f"jaxrl_suite.agents.{entry.module}")
    learner = getattr(module, entry.factory)(getattr(module, entry.config)(hidden_sizes=(64, 64)))
    return learner, paper_hparams(learner.default_hparams, "CartPole-v1")


def dataset(kind: str, cache: pathlib.Path, file: str = "replay"):
    return io.load(test_data_folder(cache, kind) / f"{file}.npz")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=("pendulum", "cartpole"), default="pendulum")
    parser.add_argument("--learners", default="bc,td3bc,iql")
    parser.add_argument("--updates", type=int, default=5_000)
    parser.add_argument("--eval_every", type=int, default=None)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--frozen_critic", action="store_true")
    parser.add_argument("--file", choices=("replay", "expert", "random"), default="replay",
                        help="which of the tests' datasets (default: the replay data)")
    parser.add_argument("--cache", default=str(ROOT / "bench" / ".cache" / "replay_data"))
    args = parser.parse_args()
    data = dataset(args.data, pathlib.Path(args.cache), args.file)
    env = make_env("Pendulum-v1" if args.data == "pendulum" else "CartPole-v1")
    lo, hi = data.meta.ref_min_score, data.meta.ref_max_score
    for name in args.learners.split(","):
        learner, hparams = (continuous if args.data == "pendulum" else discrete)(name)
        if args.frozen_critic:
            from tests.agents.critic_check import frozen_critic
            learner = frozen_critic(learner)
        config = TrainConfig(num_updates=args.updates, batch_size=learner.batch_size
                             if args.data == "cartpole" else 256,
                             eval_every=args.eval_every or args.updates,
                             eval_episodes=args.episodes)
        start = time.time()
        result = train(make_train(learner, env, config), data,
                       jax.random.split(jax.random.PRNGKey(0), args.seeds),
                       stack_hparams([hparams] * args.seeds))
        scores = 100.0 * (result.eval_returns.mean(axis=-1) - lo) / (hi - lo)  # [S, evals]
        print(f"{learner.name} on {args.data} {args.file} ({time.time() - start:.0f} s; diverged "
              f"seeds: {int(result.diverged.sum())})")
        for step, column in zip(result.eval_steps, scores.T):
            print(f"  {int(step):>6} updates: mean {np.nanmean(column):6.1f}  seeds "
                  f"{[round(float(x), 1) for x in column]}")


if __name__ == "__main__":
    main()
