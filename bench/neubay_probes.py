"""NEUBAY on the Pendulum expert + random mix (the learns-test's data): final normalised scores
per seed for a few traced settings, one vmapped run (the numbers behind the learns-test's
budget and settings, tests/model_based/test_neubay.py).

    .venv/bin/python bench/neubay_probes.py [--updates 3000] [--seeds 3]
"""

from __future__ import annotations

import argparse
import sys
import time

import jax
import numpy as np

sys.path.insert(0, ".")

from tests.conftest import _build  # noqa: E402  (the test session's Pendulum data)

from jaxrl_suite.data import io  # noqa: E402
from jaxrl_suite.data.dataset import concatenate  # noqa: E402
from jaxrl_suite.envs.registry import make_env  # noqa: E402
from jaxrl_suite.model_based import dynamics  # noqa: E402
from jaxrl_suite.model_based.neubay import NEUBAYConfig, NEUBAYHParams, make_neubay  # noqa
from jaxrl_suite.nets.lru import LRUConfig  # noqa: E402
from jaxrl_suite.train import TrainConfig, make_train, stack_hparams, train  # noqa: E402

BASE = dict(num_elites=3.0, critic_enc_lr=3e-4, critic_head_lr=1e-3, actor_enc_lr=3e-4,
            actor_head_lr=1e-3, alpha_lr=1e-3, real_weight=0.5)
SETTINGS = {
    "base": {},
    "real_weight=0.8": dict(real_weight=0.8),
    "real_weight=0.2": dict(real_weight=0.2),
    "penalty=1": dict(penalty_coef=1.0),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--updates", type=int, default=3000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--data", default="/tmp/neubay_probe_data")
    args = parser.parse_args()
    import pathlib

    folder = pathlib.Path(args.data)
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "random.npz").exists():
        _build(folder)
    data = concatenate([io.load(folder / "expert.npz"), io.load(folder / "random.npz")])
    env = make_env("Pendulum-v1")
    model, _ = dynamics.train_ensemble(jax.random.PRNGKey(0), data, dynamics.EnsembleConfig(
        num_members=5, num_elites=3, hidden_sizes=(64, 64),
        weight_decays=(2.5e-5, 5e-5, 1e-4), max_epochs=30))
    learner = make_neubay(model, "Pendulum-v1", data, NEUBAYConfig(
        memory=LRUConfig(d_model=32, d_hidden=16), head_hidden=64, num_critics=10,
        tape_length=256, rollouts_per_round=8, horizon=200, num_updates=args.updates))
    cells = [NEUBAYHParams(**{**BASE, **v}) for v in SETTINGS.values()]
    hparams = stack_hparams([c for c in cells for _ in range(args.seeds)])
    keys = jax.random.split(jax.random.PRNGKey(0), args.seeds)
    keys = np.tile(np.asarray(keys), (len(cells), 1))
    config = TrainConfig(num_updates=args.updates, batch_size=256,
                         eval_every=args.updates // 3, eval_episodes=10)
    start = time.perf_counter()
    result = train(make_train(learner, env, config), data, keys, hparams)
    lo, hi = data.meta.ref_min_score, data.meta.ref_max_score
    scores = 100 * (result.eval_returns.mean(-1) - lo) / (hi - lo)  # [cells*seeds, evals]
    print(f"{args.updates} updates, {len(cells)} settings x {args.seeds} seeds, "
          f"{time.perf_counter() - start:.0f} s (round_every {learner.round_every})")
    for i, name in enumerate(SETTINGS):
        rows = scores[i * args.seeds:(i + 1) * args.seeds]
        print(f"{name:18s} " + " | ".join(
            "/".join(f"{x:.0f}" for x in rows[:, e]) for e in range(rows.shape[1])))


if __name__ == "__main__":
    main()
