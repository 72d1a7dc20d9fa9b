"""Critic-sensitive learns-tests (IQL, AWAC, XQL, f-DVL): each learner at its paper defaults beats
BC on the Pendulum replay data by a stated margin, and IQL with a frozen critic fails the same
check (the data, the scaled settings and the measured scores: tests/agents/critic_check.py)."""

import numpy as np
import pytest

from tests.agents.critic_check import (CASES, bc_on_replay, beats_bc, frozen_critic,
                                       scores_on_replay)

NAMES = ['iql', 'awac', 'xql', 'fdvl']


@pytest.fixture(scope="module")
def bc(pendulum_replay):
    return bc_on_replay(pendulum_replay)


@pytest.mark.parametrize("name", NAMES)
def test_learner_beats_bc_on_replay_data(name, pendulum_replay, bc):
    make, hparams, updates, margin = CASES[name]
    scores = scores_on_replay(make(), hparams, pendulum_replay, updates)
    print(name, np.round(scores, 1), "bc", np.round(bc, 1))
    assert beats_bc(scores, bc, margin), (name, scores, bc)


def test_a_frozen_critic_fails_the_same_check(pendulum_replay, bc):
    make, hparams, updates, margin = CASES['iql']
    scores = scores_on_replay(frozen_critic(make()), hparams, pendulum_replay, updates)
    print('iql', "frozen critic", np.round(scores, 1), "bc", np.round(bc, 1))
    assert not beats_bc(scores, bc, margin), (scores, bc)
