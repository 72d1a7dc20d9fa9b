"""Offline learners, one file each, all with the contract of ``agents/base.py``.

``LEARNERS`` (continuous actions) and ``DISCRETE_LEARNERS`` (discrete actions, in
``agents/discrete/``) map a CLI id to (module, factory, config class, hparams class); where an id
is in both (bc, cql), the dataset's action space picks the variant. Modules load lazily so that
importing the package stays cheap.
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


# Continuous-action learners.
LEARNERS: dict[str, LearnerEntry] = {
    "bc": LearnerEntry("bc", "make_bc", "BCConfig", "BCHParams"),
    "td3bc": LearnerEntry("td3bc", "make_td3bc", "TD3BCConfig", "TD3BCHParams"),
    "iql": LearnerEntry("iql", "make_iql", "IQLConfig", "IQLHParams"),
    "awac": LearnerEntry("awac", "make_awac", "AWACConfig", "AWACHParams"),
    "xql": LearnerEntry("xql", "make_xql", "XQLConfig", "XQLHParams"),
    "fdvl": LearnerEntry("fdvl", "make_fdvl", "FDVLConfig", "FDVLHParams"),  # chi-square
    "fdvl_tv": LearnerEntry("fdvl", "make_fdvl", "FDVLTVConfig", "FDVLHParams"),
    "cql": LearnerEntry("cql", "make_cql", "CQLConfig", "CQLHParams"),
    "edac": LearnerEntry("edac", "make_edac", "EDACConfig", "EDACHParams"),
    "rebrac": LearnerEntry("rebrac", "make_rebrac", "ReBRACConfig", "ReBRACHParams"),
    # Offline imitation (an expert-demonstration mixture: data/imitation.py; no rewards).
    "recoil": LearnerEntry("recoil", "make_recoil", "ReCOILConfig", "ReCOILHParams"),
    "demodice": LearnerEntry("demodice", "make_demodice", "DemoDICEConfig", "DemoDICEHParams"),
    # Action chunks (data/chunks.py; evaluation executes each chunk open loop).
    "qc": LearnerEntry("qc", "make_qc", "QCConfig", "QCHParams"),
    "qc_fql": LearnerEntry("qc", "make_qc", "QCFQLConfig", "QCHParams"),
    "fql": LearnerEntry("qc", "make_qc", "FQLConfig", "QCHParams"),
    "fql_n": LearnerEntry("qc", "make_qc", "FQLNConfig", "QCHParams"),  # n-step returns
    "bfn": LearnerEntry("qc", "make_qc", "BFNConfig", "QCHParams"),
    "bfn_n": LearnerEntry("qc", "make_qc", "BFNNConfig", "QCHParams"),
    # Goal-conditioned action chunks (DQC; data.goals.sample_goal_chunks; [obs, goal] inputs).
    "dqc_ha1": LearnerEntry("dqc", "make_dqc", "DQCConfig", "DQCHParams"),  # h 25, h_a 1
    "dqc": LearnerEntry("dqc", "make_dqc", "DQCH25A5Config", "DQCHParams"),  # h 25, h_a 5
    "dqc_qc": LearnerEntry("dqc", "make_dqc", "DQCQCConfig", "DQCHParams"),  # QC h 5
    "dqc_ns": LearnerEntry("dqc", "make_dqc", "DQCNSConfig", "DQCHParams"),  # NS n 25
}


# Discrete-action learners ("A Dataset Perspective on Offline RL", ml-jku/OfflineRL).
DISCRETE_LEARNERS: dict[str, LearnerEntry] = {
    "bc": LearnerEntry("discrete.bc", "make_bc", "BCConfig", "BCHParams"),
    "dqn": LearnerEntry("discrete.dqn", "make_dqn", "DQNConfig", "DQNHParams"),
    "qrdqn": LearnerEntry("discrete.qrdqn", "make_qrdqn", "QRDQNConfig", "QRDQNHParams"),
    "qrdqn_mljku": LearnerEntry("discrete.qrdqn", "make_qrdqn_mljku", "QRDQNMLJKUConfig",
                                "QRDQNHParams"),
    "rem": LearnerEntry("discrete.rem", "make_rem", "REMConfig", "REMHParams"),
    "bcq": LearnerEntry("discrete.bcq", "make_bcq", "BCQConfig", "BCQHParams"),
    "cql": LearnerEntry("discrete.cql", "make_cql", "CQLConfig", "CQLHParams"),
    "crr": LearnerEntry("discrete.crr", "make_crr", "CRRConfig", "CRRHParams"),
    "bve": LearnerEntry("discrete.bve", "make_bve", "BVEConfig", "BVEHParams"),
    "mce": LearnerEntry("discrete.mce", "make_mce", "MCEConfig", "MCEHParams"),
}


def learner_parts(algo: str, discrete: bool = False) -> tuple[Any, Any, Any]:
    """Returns (factory, config class, hparams class) of the learner ``algo`` for continuous
    (``discrete`` False) or discrete actions."""
    table, other = (DISCRETE_LEARNERS, LEARNERS) if discrete else (LEARNERS, DISCRETE_LEARNERS)
    kind = "discrete" if discrete else "continuous"
    if algo not in table:
        hint = (f" ('{algo}' is for {'continuous' if discrete else 'discrete'} actions)"
                if algo in other else "")
        raise SuiteError(f"flag '--algo': expected one of {sorted(table)} for {kind} "
                         f"actions, found '{algo}'{hint}")
    entry = table[algo]
    module = importlib.import_module(f"jaxrl_suite.agents.{entry.module}")
    return (getattr(module, entry.factory), getattr(module, entry.config),
            getattr(module, entry.hparams))
