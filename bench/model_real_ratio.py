"""Does the model help? MOPO and MOBILE at the default real ratio (0.05) against a real-data-only
control (real ratio 1.0, same budget, same seeds) on the test suite's Pendulum expert data, the
sparse point-goal random walks (tests/agents/sparse_goal.py) or single-policy data of the dense
point-reach task (tests/model_based/point_reach.py; the measurement behind
tests/model_based/test_model_helps.py and BUILD_NOTES "Model-based fidelity", "Session 17").

    .venv/bin/python bench/model_real_ratio.py --learners=mopo,mobile --seeds=6 --updates=5000
    .venv/bin/python bench/model_real_ratio.py --task=point_reach --speed=0.3 --angle=0 \
        --noise=0.1 --learners=mopo --seeds=6 --updates=10000 --eval_every=2000 \
        --episodes=20 --lrs=3e-4 --coefs=1       # and --learners=mobile --lrs=default

The dynamics ensemble is built as tests/model_based/test_mopo.py builds it (SMALL_MODEL), on
the task's data (Pendulum: tests/conftest.py's expert data, cached under --cache). One vmapped
program per learner holds every cell: learning rate (--lrs) x arm (real-only; model at each
--coefs penalty coefficient) x seed; seeds are paired across arms. Prints per cell the
normalised score (0 random, 100 expert) at every evaluation, and per arm the mean over seeds of
the final score and of the mean over evaluations (the area under the curve), with the paired
difference to the real-only control and its standard error over seeds.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.cached_data import DEFAULT_CACHE, test_data_folder  # noqa: E402
from jaxrl_suite.data import io  # noqa: E402
from jaxrl_suite.envs.registry import make_env  # noqa: E402
from jaxrl_suite.model_based import dynamics, rollouts  # noqa: E402
from jaxrl_suite.model_based.mobile import MOBILEConfig, MOBILEHParams, make_mobile  # noqa: E402
from jaxrl_suite.model_based.mopo import MOPOConfig, MOPOHParams, make_mopo  # noqa: E402
from jaxrl_suite.train import TrainConfig, make_train, stack_hparams, train  # noqa: E402
from tests.agents import sparse_goal  # noqa: E402
from tests.model_based import point_reach  # noqa: E402


def learner_and_hparams(name: str, model, env_id: str, termination=None):
    # The tests' settings (tests/model_based/test_mopo.py): width (64, 64), 32 rollout starts,
    # 1,000 updates of rollouts retained, 5 members / 3 elites; MOBILE 2 draws per elite and no
    # target floor (both tasks' rewards are negative).
    if name == "mopo":
        return (make_mopo(model, env_id, MOPOConfig((64, 64), rollout_starts=32,
                                                    retain_updates=1_000), termination),
                MOPOHParams(num_members=5, num_elites=3))
    return (make_mobile(model, env_id, MOBILEConfig(
        (64, 64), rollout_starts=32, retain_updates=1_000, num_samples=2, target_floor=None),
        termination), MOBILEHParams(num_members=5, num_elites=3))


def task_data(task: str, args):
    """Returns (env, dataset, termination rule or None, description) of ``task``."""
    if task == "pendulum":
        data = io.load(test_data_folder(args.cache) / "expert.npz")
        return make_env("Pendulum-v1"), data, None, "Pendulum expert data"
    if task == "point_reach":
        data, score = point_reach.behaviour_dataset(args.data_episodes, args.speed, args.angle,
                                                    args.noise)
        return (point_reach.point_reach_env(), data, rollouts.never,
                f"point-reach behaviour data (speed {args.speed}, angle {args.angle}, noise "
                f"{args.noise}; behaviour scores {score:.1f})")
    data, success = sparse_goal.random_walk_dataset(300)
    return (sparse_goal.point_goal_env(), data, sparse_goal.reached,
            f"point-goal random walks ({100 * success:.0f}% succeed)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", default="mopo,mobile")
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--updates", type=int, default=5_000)
    parser.add_argument("--eval_every", type=int, default=1_000)
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--lrs", default="1e-3,3e-4",
                        help="actor = critic = alpha lr per cell, or 'default'")
    parser.add_argument("--coefs", default="1,5", help="penalty coefficients of the model arm")
    parser.add_argument("--cache", default=str(DEFAULT_CACHE))
    parser.add_argument("--task", default="pendulum",
                        choices=("pendulum", "point_goal", "point_reach"))
    parser.add_argument("--data_episodes", type=int, default=200, help="point_reach")
    parser.add_argument("--speed", type=float, default=0.3, help="point_reach behaviour")
    parser.add_argument("--angle", type=float, default=0.0, help="point_reach behaviour")
    parser.add_argument("--noise", type=float, default=0.1, help="point_reach behaviour")
    args = parser.parse_args()
    env, data, termination, described = task_data(args.task, args)
    from tests.model_based.test_mopo import SMALL_MODEL
    model, _ = dynamics.train_ensemble(jax.random.PRNGKey(0), data, SMALL_MODEL)
    lo, hi = data.meta.ref_min_score, data.meta.ref_max_score
    # "default": the learner's own learning rates (MOBILE: actor and alpha 1e-4, critic 3e-4).
    lrs = [None if x == "default" else float(x) for x in args.lrs.split(",")]
    arms = [("real only", 1.0, 0.0)] + [(f"model, coef {c}", 0.05, float(c))
                                        for c in args.coefs.split(",")]
    print(f"{described}: {len(data.rewards)} transitions; {args.seeds} paired seeds, "
          f"{args.updates} updates, evaluation every {args.eval_every} ({args.episodes} "
          f"episodes); jax {jax.__version__} on {jax.devices()[0].platform}")
    for name in args.learners.split(","):
        learner, base = learner_and_hparams(name, model, env.spec.name, termination)
        cells = [(base if lr is None else base.replace(actor_lr=lr, critic_lr=lr, alpha_lr=lr)
                  ).replace(real_ratio=ratio,
                            penalty_coef=coef if ratio < 1.0 else base.penalty_coef)
                 for lr in lrs for _, ratio, coef in arms for _ in range(args.seeds)]
        config = TrainConfig(num_updates=args.updates, batch_size=256,
                             eval_every=args.eval_every, eval_episodes=args.episodes)
        seed_keys = jax.random.split(jax.random.PRNGKey(0), args.seeds)
        keys = jnp.concatenate([seed_keys] * (len(lrs) * len(arms)))
        start = time.perf_counter()
        result = train(make_train(learner, env, config), data, keys, stack_hparams(cells))
        seconds = time.perf_counter() - start
        scores = 100.0 * (np.asarray(result.eval_returns).mean(-1) - lo) / (hi - lo)
        scores = scores.reshape(len(lrs), len(arms), args.seeds, -1)
        print(f"\n## {name} ({len(cells)} cells in one program, {seconds:.0f} s; diverged "
              f"{int(np.asarray(result.diverged).sum())})")
        print("| lr | arm | final (mean +- se) | mean over evaluations | final - real only "
              "(paired, +- se) | mean-over-evals - real only |")
        print("|---|---|---|---|---|---|")
        for i, lr in enumerate(lrs):
            control_final, control_auc = scores[i, 0, :, -1], scores[i, 0].mean(-1)
            for j, (arm, _, _) in enumerate(arms):
                final, auc = scores[i, j, :, -1], scores[i, j].mean(-1)
                se = lambda x: x.std(ddof=1) / np.sqrt(len(x))
                d_final, d_auc = final - control_final, auc - control_auc
                diff = (f"{d_final.mean():+.1f} +- {se(d_final):.1f} | "
                        f"{d_auc.mean():+.1f} +- {se(d_auc):.1f}") if j else "| "
                print(f"| {lr or 'default'} | {arm} | {final.mean():.1f} +- {se(final):.1f} | "
                      f"{auc.mean():.1f} | {diff} |")
            for j, (arm, _, _) in enumerate(arms):
                print(f"   lr {lr or 'default'} {arm}: per seed per evaluation "
                      f"{np.round(scores[i, j], 1).tolist()}")


if __name__ == "__main__":
    main()
