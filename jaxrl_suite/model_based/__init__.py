"""Model-based offline RL: probabilistic dynamics ensembles (``dynamics``), the uncertainty
penalties computed from their outputs (``penalties``), model rollouts into an on-device buffer
(``rollouts``) and the learners MOPO (``mopo``) and MOBILE (``mobile``) on the shared engine.

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
}


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
                     log=print) -> tuple[Any, Any]:
    """Returns (learner, trained EnsembleState): the dynamics ensemble of ``algo`` trained on
    ``dataset`` (default ``EnsembleConfig()``), then the learner on it for env ``env_id``
    with ``model_based_config``."""
    import jax
    import numpy as np

    from jaxrl_suite.model_based import dynamics

    entry = MODEL_BASED[algo]
    module = importlib.import_module(f"jaxrl_suite.model_based.{entry.module}")
    config = model_based_config(algo, dataset, config_overrides, log)
    ensemble_config = ensemble_config or dynamics.EnsembleConfig()
    model, metrics = dynamics.train_ensemble(key, dataset, ensemble_config)
    jax.block_until_ready(model)
    log(f"{algo}: dynamics ensemble of {ensemble_config.num_members} trained "
        f"{int(metrics.epochs)} epochs; holdout MSE {np.round(np.asarray(model.holdout_mse), 4)}")
    return getattr(module, entry.factory)(model, env_id, config), model
