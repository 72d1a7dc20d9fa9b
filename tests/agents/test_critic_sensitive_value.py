"""Critic-sensitive learns-tests (IQL, AWAC, XQL, f-DVL): each learner at its paper defaults beats
BC on the Pendulum replay data by a stated margin, and IQL with a frozen critic fails the same
check (the data, the scaled settings and the measured scores: tests/agents/critic_check.py)."""

import pytest

from tests.agents.critic_check import critic_tests

pytestmark = pytest.mark.slow  # the full tier (`make test-all`, CI): see tests/conftest.py

bc, test_learner_beats_bc_on_replay_data, test_a_frozen_critic_fails_the_same_check = \
    critic_tests(['iql', 'awac', 'xql', 'fdvl'], 'iql')
