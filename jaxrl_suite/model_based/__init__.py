"""Model-based offline RL: probabilistic dynamics ensembles (``dynamics``), the uncertainty
penalties computed from their outputs (``penalties``), model rollouts into an on-device buffer
(``rollouts``) and the learners MOPO (``mopo``), MOBILE (``mobile``) and NEUBAY (``neubay``) on
the shared engine.

``MODEL_BASED`` maps a CLI id to (module, factory, config class, hparams class); such a learner
needs its dynamics ensemble trained on the dataset first: ``make_model_based`` does both.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any, NamedTuple


class ModelBasedEntry(NamedTuple):
    module: str
    factory: str
    config: str
    hparams: str


MODEL_BASED: dict[str, ModelBasedEntry] = {
    "mopo": ModelBasedEntry("mopo", "make_mopo", "MOPOConfig", "MOPOHParams"),
    "mobile": ModelBasedEntry("mobile", "make_mobile", "MOBILEConfig", "MOBILEHParams"),
    "neubay": ModelBasedEntry("neubay", "make_neubay", "NEUBAYConfig", "NEUBAYHParams"),
}


def default_ensemble_config(algo: str, **overrides: Any) -> Any:
    """Returns the dynamics ensemble ``algo``'s paper trains, with ``overrides``: NEUBAY's 128
    LayerNorm members (100 used; ``dynamics.neubay_ensemble_config``, which sizes its decay
    tuple to ``hidden_sizes``), else MOPO's 7 (5 elites)."""
    from jaxrl_suite.model_based import dynamics

    if algo == "neubay":
        return dynamics.neubay_ensemble_config(**overrides)
    return dynamics.EnsembleConfig(**overrides)


def model_based_config(algo: str, dataset: Any, config_overrides: dict | None = None,
                       log=print) -> Any:
    """Returns the config ``algo``'s learner gets on ``dataset`` (its config class with
    ``config_overrides``), known before any dynamics model is trained."""
    import numpy as np

    entry = MODEL_BASED[algo]
    module = importlib.import_module(f"jaxrl_suite.model_based.{entry.module}")
    overrides = dict(config_overrides or {})
    if algo == "mobile" and "target_floor" not in overrides and float(
            np.min(np.asarray(dataset.rewards))) < 0.0:
        # MOBILE's code floors critic targets at 0, right only for non-negative rewards.
        log("mobile: the dataset has negative rewards; target floor off")
        overrides["target_floor"] = None
    return dataclasses.replace(getattr(module, entry.config)(), **overrides)


def make_model_based(algo: str, dataset: Any, env_id: str, key: Any, *,
                     ensemble_config: Any = None, config_overrides: dict | None = None,
                     cache_dir: Any = None, log=print) -> tuple[Any, Any]:
    """Returns (learner, trained EnsembleState): the dynamics ensemble of ``algo`` trained on
    ``dataset`` (default ``default_ensemble_config(algo)``), or loaded from ``cache_dir``
    where an earlier run trained it on the same data, config and key
    (``model_based/cache.py``), then the learner on it for env ``env_id`` with
    ``model_based_config``."""
    import jax
    import numpy as np

    from jaxrl_suite.model_based.cache import load_or_train_ensemble

    entry = MODEL_BASED[algo]
    module = importlib.import_module(f"jaxrl_suite.model_based.{entry.module}")
    config = model_based_config(algo, dataset, config_overrides, log)
    ensemble_config = ensemble_config or default_ensemble_config(algo)
    model, metrics, loaded = load_or_train_ensemble(key, dataset, ensemble_config, cache_dir,
                                                    log=log)
    jax.block_until_ready(model)
    mse = np.asarray(model.holdout_mse)
    log(f"{algo}: dynamics ensemble of {ensemble_config.num_members} "
        f"{'loaded' if loaded else 'trained'} ({int(metrics.epochs)} epochs); holdout MSE "
        f"min {mse.min():.4f} median {np.median(mse):.4f} max {mse.max():.4f}")
    factory = getattr(module, entry.factory)
    if algo == "neubay":  # its rollout starts and round size come from the dataset
        return factory(model, env_id, dataset, config), model
    return factory(model, env_id, config), model
