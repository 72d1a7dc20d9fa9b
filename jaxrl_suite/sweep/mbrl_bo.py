"""Bayesian optimisation of a model-based learner's configuration (Lu et al., ICLR 2022, Sec. 6),
each round's q configurations trained as ONE vmapped compiled run.

The dynamics ensemble is trained once on the dataset; every configuration of the search space
(penalty type, lambda, horizon, models in use, real ratio) is a traced hyperparameter of the
learner, so a round of q configurations x seeds is one ``train`` call of q * seeds cells, and
all rounds of the same size reuse one compile. The objective is the mean over seeds of the final
normalised evaluation return in the real (JAX) env, as the paper's BO uses online evaluations.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
from typing import Any, Callable

import jax
import numpy as np

from jaxrl_suite.data.dataset import Dataset
from jaxrl_suite.envs.registry import make_eval_env
from jaxrl_suite.errors import SuiteError
from jaxrl_suite.model_based import MODEL_BASED, make_model_based
from jaxrl_suite.report import tables
from jaxrl_suite.sweep import bo
from jaxrl_suite.train import TrainConfig, make_train, stack_hparams, train


FRESH_SEEDS = 1_000  # seed offset of re-scores: seeds no BO trial used


@dataclasses.dataclass(frozen=True)
class MBRLBOSettings:
    """Static settings of a model-based BO run (the learner's budget per evaluation)."""

    algo: str = "mopo"
    num_trials: int = 64
    batch_size: int = 8
    num_seeds: int = 2
    num_updates: int = 10_000
    eval_every: int = 10_000
    eval_episodes: int = 5
    train_batch_size: int = 256
    max_horizon: int = 10  # static rollout length; the space's horizon goes up to it
    rollout_starts: int = 50
    buffer_size: int = 100_000
    hidden_sizes: tuple[int, ...] = (256, 256)
    seed: int = 0
    ensemble: Any = None  # dynamics.EnsembleConfig; None: the algo's (7 models; neubay 128)
    eval_backend: str = "auto"  # registry.resolve_eval_backend
    # NEUBAY only: static config fields ((name, value) pairs, e.g. ("rollouts_per_round", 8));
    # its tape length is ``train_batch_size`` and its horizon the eval env's time limit.
    neubay_config: tuple[tuple[str, Any], ...] = ()
    ensemble_cache: str | None = None  # model_based/cache.py directory; None: no cache


def make_objective(dataset: Dataset, env_id: str, settings: MBRLBOSettings,
                   log: Callable[[str], None] = print):
    """Returns (objective_batch, search space, evaluate) after training the dynamics ensemble
    once: objective_batch(configs) trains a list of configurations (x seeds) in one vmapped run
    and returns each one's mean final normalised return; evaluate(configs, seed_offset) does
    the same with other seeds (an unbiased re-score of a selected config; {} = the defaults),
    and with ``per_seed=True`` returns each configuration's score per seed [configs][seeds]
    (NaN for a diverged seed) instead of their means."""
    if settings.algo not in MODEL_BASED:
        raise SuiteError(f"bo: flag '--algo': expected one of {sorted(MODEL_BASED)}, "
                         f"found '{settings.algo}'")
    lo, hi = dataset.meta.ref_min_score, dataset.meta.ref_max_score
    if lo is None or hi is None:
        raise SuiteError(f"bo: dataset '{dataset.meta.source}': field 'ref_min_score/"
                         f"ref_max_score': expected reference returns to normalise scores")
    key = jax.random.PRNGKey(settings.seed)
    env = make_eval_env(env_id, settings.eval_backend)
    if settings.algo == "neubay":
        overrides = dict(num_updates=settings.num_updates, horizon=env.spec.max_episode_steps,
                         tape_length=settings.train_batch_size, **dict(settings.neubay_config))
    else:
        overrides = dict(hidden_sizes=settings.hidden_sizes, max_horizon=settings.max_horizon,
                         rollout_starts=settings.rollout_starts,
                         buffer_size=settings.buffer_size)
    learner, model = make_model_based(
        settings.algo, dataset, env_id, jax.random.fold_in(key, 1), log=log,
        ensemble_config=settings.ensemble, config_overrides=overrides,
        cache_dir=settings.ensemble_cache)
    if settings.algo == "neubay":
        space, to_hparams = bo.neubay_space(max_members=model.config.num_elites), \
            bo.neubay_overrides
    else:
        space = bo.mbrl_space(max_members=model.config.num_members,
                              max_horizon=settings.max_horizon)
        to_hparams = bo.mopo_overrides
    trainer = make_train(learner, env, TrainConfig(
        num_updates=settings.num_updates, batch_size=settings.train_batch_size,
        eval_every=settings.eval_every, eval_episodes=settings.eval_episodes))

    def scores(cells: list[Any], seed_offset: int = 0, per_seed: bool = False) -> list:
        seeds = settings.seed + seed_offset + np.arange(settings.num_seeds)
        keys = jax.vmap(jax.random.PRNGKey)(np.tile(seeds, len(cells)))
        hparams = stack_hparams([c for c in cells for _ in range(settings.num_seeds)])
        result = train(trainer, dataset, keys, hparams)
        final = result.eval_returns[:, -1].mean(axis=-1).reshape(len(cells), settings.num_seeds)
        final = np.where(result.diverged.reshape(final.shape), np.nan, final)
        if per_seed:
            return (100.0 * (final - lo) / (hi - lo)).tolist()
        return [float(x) for x in 100.0 * (final.mean(axis=1) - lo) / (hi - lo)]

    def evaluate(configs: list[dict[str, Any]], seed_offset: int = 0,
                 per_seed: bool = False) -> list:
        return scores([learner.default_hparams.replace(**to_hparams(c))
                       for c in configs], seed_offset, per_seed)

    return evaluate, space, evaluate


def _spread(scores: np.ndarray) -> dict[str, Any]:
    """Returns the mean, std (ddof 1) and 95% Student-t interval of the mean of per-seed
    ``scores`` [seeds] (diverged seeds, NaN, left out; NaN where fewer than two remain)."""
    from scipy import stats

    ok = scores[np.isfinite(scores)]
    mean = float(np.mean(ok)) if ok.size else float("nan")
    if ok.size < 2:
        return dict(mean=mean, std=float("nan"), ci95=[float("nan")] * 2, seeds=int(ok.size))
    std = float(np.std(ok, ddof=1))
    half = float(stats.t.ppf(0.975, ok.size - 1)) * std / np.sqrt(ok.size)
    return dict(mean=mean, std=std, ci95=[mean - half, mean + half], seeds=int(ok.size))


def compare_on_fresh_seeds(evaluate: Callable[..., list], best_params: dict[str, Any],
                           seed_offset: int = FRESH_SEEDS) -> dict[str, Any]:
    """Returns the default config and the incumbent scored on the SAME fresh seeds, in one
    vmapped run: per-seed scores, each one's mean/std/95% CI over seeds, and the paired
    gain (incumbent - default, seed by seed: common random numbers cancel the shared seed
    noise) with its own spread; a gain whose CI holds 0 is not told apart from noise."""
    default, incumbent = (np.asarray(s, np.float64) for s in
                          evaluate([{}, best_params], seed_offset, per_seed=True))
    return dict(seeds=list(range(seed_offset, seed_offset + default.size)),
                default_scores=default.tolist(), incumbent_scores=incumbent.tolist(),
                default=_spread(default), incumbent=_spread(incumbent),
                gain=_spread(incumbent - default))


def run_mbrl_bo(dataset: Dataset, env_id: str, out: str | pathlib.Path,
                settings: MBRLBOSettings = MBRLBOSettings(), *, storage: str | None = None,
                study_name: str | None = None, heartbeat: int | None = bo.DEFAULT_HEARTBEAT_S,
                log: Callable[[str], None] = print) -> dict[str, Any]:
    """Returns {"best_params", "best_value", "default_value", "best_value_fresh_seeds",
    "fresh_seeds"} after a BO study (resumed if its storage holds it) and writing
    best_config.json, trials.csv, trace.png and summary.json. The incumbent's value is the best
    of many noisy evaluations (biased upwards); ``best_value_fresh_seeds`` and
    ``default_value`` score the incumbent and the default config on the same seeds the study
    never saw, in one run; ``fresh_seeds`` (``compare_on_fresh_seeds``) holds their per-seed
    scores, spreads and the paired gain. Processes given the same ``storage`` and ``study_name``
    share the study (``bo.run_bo``; ``heartbeat`` in seconds, None: off), and each returns once
    the whole study is evaluated."""
    out = pathlib.Path(out)
    objective_batch, space, evaluate = make_objective(dataset, env_id, settings, log)
    result = bo.run_bo(objective_batch, space, num_trials=settings.num_trials,
                       batch_size=settings.batch_size, seed=settings.seed, storage=storage,
                       out_dir=out, study_name=study_name or f"{settings.algo}-{env_id}",
                       heartbeat=heartbeat, log=log)
    bo.write_bo_outputs(result, out)
    summary = dict(algo=settings.algo, env=env_id, dataset=dataset.meta.source,
                   best_params=result.best_params, best_value=result.best_value,
                   settings=dataclasses.asdict(settings))
    fresh = compare_on_fresh_seeds(evaluate, result.best_params)
    summary.update(default_value=fresh["default"]["mean"],
                   best_value_fresh_seeds=fresh["incumbent"]["mean"], fresh_seeds=fresh)
    tables.write_text(out / "summary.json", json.dumps(summary, indent=1, default=str))
    return summary
