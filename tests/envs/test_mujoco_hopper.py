"""Hopper-v5 on MJX agrees with gymnasium's C-MuJoCo Hopper-v5 (see mujoco_check for the
tolerances and why)."""

import numpy as np
import pytest

from tests.envs import mujoco_check as mc

NAME = "Hopper-v5"


@pytest.fixture(scope="module")
def port():
    return mc.Port(NAME)


def test_spec_matches_gymnasium_and_the_size_table(port):
    import gymnasium

    from jaxrl_suite.envs import env_spec
    from jaxrl_suite.envs.mujoco import OBSERVATION_SIZES

    gym_env = gymnasium.make(NAME)
    spec = port.env.spec
    assert spec.observation_shape == gym_env.observation_space.shape == (OBSERVATION_SIZES[NAME],)
    np.testing.assert_array_equal(spec.action_low, gym_env.action_space.low)
    np.testing.assert_array_equal(spec.action_high, gym_env.action_space.high)
    assert env_spec(NAME) == spec.replace(max_episode_steps=1000)
    assert gym_env.spec.max_episode_steps == 1000 and spec.backend == "mjx"


def test_steps_from_gymnasium_states_agree(port):
    obs_err, rew_err, terms, gym_obs = mc.synced_step_errors(port)
    state_dims = 11
    ok = obs_err[..., :state_dims] <= mc.ATOL + mc.RTOL * np.abs(gym_obs[..., :state_dims])
    assert ok.all(), f"worst error {{obs_err.max():.2e}}"
    assert rew_err.max() < 1e-3
    np.testing.assert_array_equal(terms[..., 0], terms[..., 1])


def test_return_distribution_of_a_fixed_policy_matches_gymnasium(port):
    W, b = mc.linear_policy(port.env.spec.observation_shape[0], port.env.spec.action_dim)
    ours, our_lengths = mc.mjx_returns(port, W, b, 32)
    theirs, their_lengths = mc.gym_returns(port, W, b, 32)
    mc.assert_same_mean(ours, theirs, "return")
    mc.assert_same_mean(our_lengths.astype(float), their_lengths.astype(float), "length")


def test_health_check_fires_on_the_same_states_as_gymnasium(port):
    mc.check_health_agrees(port)


def test_model_rollout_termination_rule_matches_gymnasium():
    mc.check_model_termination_rule_agrees(NAME)
