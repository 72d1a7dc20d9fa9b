"""Online learners whose experience and final policies become offline datasets.

``make_dqn`` (discrete)
and ``make_sac`` (continuous) train an expert in one compiled ``lax.scan`` and return it with
the stream of every transition it saw (the "replay" dataset of Schweighofer et al., 2022).
"""

from jaxrl_suite.online.dqn import (
    DQN,
    DQNConfig,
    DQNHParams,
    DQNMetrics,
    DQNOutput,
    DQNState,
    dqn_hparams,
    make_dqn,
)
from jaxrl_suite.online.replay import ReplayBuffer, replay_add, replay_init, replay_sample
from jaxrl_suite.online.sac import (
    SAC,
    SACConfig,
    SACHParams,
    SACMetrics,
    SACOutput,
    SACState,
    make_sac,
)

__all__ = [
    "DQN",
    "DQNConfig",
    "DQNHParams",
    "DQNMetrics",
    "DQNOutput",
    "DQNState",
    "ReplayBuffer",
    "SAC",
    "SACConfig",
    "SACHParams",
    "SACMetrics",
    "SACOutput",
    "SACState",
    "dqn_hparams",
    "make_dqn",
    "make_sac",
    "replay_add",
    "replay_init",
    "replay_sample",
]
