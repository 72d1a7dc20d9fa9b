"""Reads out what MOPO learns on the point-reach task (tests/model_based/point_reach.py): trains
the model arm (real ratio 0.05) and the real-only control for one seed each, prints their final
normalised scores and their deterministic actions at a 4 x 3 grid of states beside the unit
vector to the goal (the check behind BUILD_NOTES "Session 17": the winning arm drives at full
speed towards the goal; a constant action would show as the same row everywhere).

    .venv/bin/python bench/point_reach_policy.py --updates=6000
"""

from __future__ import annotations

import argparse
import pathlib
import sys

import jax
import jax.numpy as jnp
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from jaxrl_suite.model_based import dynamics, rollouts  # noqa: E402
from jaxrl_suite.model_based.mopo import MOPOConfig, MOPOHParams, make_mopo  # noqa: E402
from jaxrl_suite.train import TrainConfig, make_train, stack_hparams, train  # noqa: E402
from tests.model_based import point_reach  # noqa: E402
from tests.model_based.test_mopo import SMALL_MODEL  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=6_000)
    args = parser.parse_args()
    env = point_reach.point_reach_env()
    data, behaviour = point_reach.behaviour_dataset(200, speed=0.3, angle_deg=0.0, noise=0.1)
    model, _ = dynamics.train_ensemble(jax.random.PRNGKey(0), data, SMALL_MODEL)
    learner = make_mopo(model, env.spec.name, MOPOConfig((64, 64), rollout_starts=32,
                                                         retain_updates=1_000),
                        termination=rollouts.never)
    base = MOPOHParams(num_members=5, num_elites=3)
    arms = (("model (real ratio 0.05)", base), ("real only", base.replace(real_ratio=1.0)))
    config = TrainConfig(num_updates=args.updates, batch_size=256, eval_every=args.updates,
                         eval_episodes=20)
    result = train(make_train(learner, env, config), data,
                   jax.random.split(jax.random.PRNGKey(0), len(arms)),
                   stack_hparams([hp for _, hp in arms]))
    lo, hi = env.spec.ref_min_score, env.spec.ref_max_score
    scores = 100.0 * (np.asarray(result.eval_returns)[:, -1].mean(-1) - lo) / (hi - lo)
    grid = np.array([[x, y] for x in (-0.9, -0.3, 0.3, 0.9) for y in (-0.9, 0.3, 0.9)],
                    np.float32)
    to_goal = point_reach.unit_to_goal(grid)
    print(f"behaviour {behaviour:.1f}; {args.updates} updates")
    for i, (name, _) in enumerate(arms):
        state = jax.tree.map(lambda x: x[i], result.state.learner)
        actions = np.asarray(learner.act(state, jnp.asarray(grid), jax.random.PRNGKey(0), True))
        print(f"\n{name}: score {scores[i]:.1f}\n  state -> action | unit vector to the goal")
        for p, a, u in zip(grid, actions, to_goal):
            print(f"  {np.round(p, 1)} -> {np.round(a, 2)} | {np.round(u, 2)}")


if __name__ == "__main__":
    main()
