"""Hand-made results records (the schema of ``jaxrl_suite.sweep.store``) for the report tests."""

from __future__ import annotations

import hashlib
import itertools
from typing import Any

import numpy as np

STEPS = [0, 500, 1000, 1500, 2000]


def record(algo: str, dataset: str, seed: int, score: float | None, *, sampling: str = "uniform",
           overrides: dict[str, float] | None = None, env: str = "CartPole-v1",
           diverged: bool = False, curve: list[float | None] | None = None) -> dict[str, Any]:
    """Returns one record whose final score is ``score`` (curve: a ramp up to it by default)."""
    if curve is None:
        curve = [None if score is None else score * i / (len(STEPS) - 1)
                 for i in range(len(STEPS))]
    config = dict(sweep="test", algo=algo, dataset=dataset, env=env, sampling=sampling,
                  sampling_temperature=None, hparams={}, overrides=dict(overrides or {}),
                  seed=seed, num_updates=STEPS[-1], batch_size=32, eval_every=500,
                  eval_episodes=5)
    key = repr((algo, dataset, seed, sampling, sorted((overrides or {}).items())))
    return {"hash": hashlib.sha256(key.encode()).hexdigest()[:16],
            "config": config,
            "curve": {"step": list(STEPS), "return_mean": [0.0] * len(STEPS), "score": curve},
            "final_return": 0.0, "final_score": score, "diverged": diverged,
            "diverged_at": 100 if diverged else -1, "metrics": {}, "created": "2025-01-01"}


def grid_records(methods: dict[str, float], tasks: list[str], seeds: int,
                 rng: np.random.Generator) -> list[dict[str, Any]]:
    """Returns one record per (method "algo/sampling", task, seed), scores around the method's
    level."""
    out = []
    for (method, level), task, seed in itertools.product(methods.items(), tasks, range(seeds)):
        algo, sampling = method.split("/")
        score = float(np.clip(rng.normal(level, 20.0), -10.0, 130.0))
        out.append(record(algo, task, seed, score, sampling=sampling))
    return out
