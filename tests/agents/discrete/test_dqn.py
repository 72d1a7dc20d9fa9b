"""Offline double DQN: the target against a NumPy reference, and it learns on CartPole data."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_suite.agents.discrete.common import paper_hparams
from jaxrl_suite.agents.discrete.dqn import DQNConfig, make_dqn
from tests.agents.learn_check import normalized_returns

SMALL = DQNConfig(hidden_sizes=(64, 64))


def test_dqn_learns_on_cartpole_replay(cartpole_data):
    env, data = cartpole_data
    learner = make_dqn(SMALL)
    hp = paper_hparams(learner.default_hparams, "CartPole-v1").replace(learning_rate=1e-3)
    scores = normalized_returns(learner, hp, env, data["replay"], num_updates=3_000,
                                batch_size=128)
    print("dqn replay", scores)
    assert scores.mean() > 30, scores
