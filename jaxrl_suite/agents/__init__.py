"""Offline learners, one file each, all with the contract of ``agents/base.py``.

``LEARNERS`` maps a CLI id to (module, factory, config class, hparams class); modules load
lazily so that importing the package stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any, NamedTuple

from jaxrl_suite.errors import SuiteError


class LearnerEntry(NamedTuple):
    module: str
    factory: str
    config: str
    hparams: str


# Continuous-action learners (the discrete-action issue adds its own table).
LEARNERS: dict[str, LearnerEntry] = {
    "bc": LearnerEntry("bc", "make_bc", "BCConfig", "BCHParams"),
    "td3bc": LearnerEntry("td3bc", "make_td3bc", "TD3BCConfig", "TD3BCHParams"),
    "iql": LearnerEntry("iql", "make_iql", "IQLConfig", "IQLHParams"),
    "awac": LearnerEntry("awac", "make_awac", "AWACConfig", "AWACHParams"),
    "xql": LearnerEntry("xql", "make_xql", "XQLConfig", "XQLHParams"),
    "fdvl": LearnerEntry("fdvl", "make_fdvl", "FDVLConfig", "FDVLHParams"),
    "cql": LearnerEntry("cql", "make_cql", "CQLConfig", "CQLHParams"),
    "edac": LearnerEntry("edac", "make_edac", "EDACConfig", "EDACHParams"),
    "rebrac": LearnerEntry("rebrac", "make_rebrac", "ReBRACConfig", "ReBRACHParams"),
}


def learner_parts(algo: str) -> tuple[Any, Any, Any]:
    """Returns (factory, config class, hparams class) of the learner ``algo``."""
    if algo not in LEARNERS:
        raise SuiteError(f"flag '--algo': expected one of {sorted(LEARNERS)}, found '{algo}'")
    entry = LEARNERS[algo]
    module = importlib.import_module(f"jaxrl_suite.agents.{entry.module}")
    return (getattr(module, entry.factory), getattr(module, entry.config),
            getattr(module, entry.hparams))
