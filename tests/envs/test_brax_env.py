"""The brax (MJX) adapter: contract, truncation at a short episode_length, termination, clipping.

MJX compiles slowly on CPU (~5-10 s per compiled rollout), so the whole module shares ONE
compiled evaluation, whose episodes differ only in a constant action.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_suite.envs import BraxEnvState, env_spec, make_env, make_evaluate

EPISODE_LENGTH = 20
SCAN_STEPS = 25  # scan past the limit: evaluate must still count EPISODE_LENGTH steps
# One constant action per pair of episodes: rest, full torque, full negative torque, and -5
# (which the adapter clips to -1).
CONSTANT_ACTIONS = jnp.array([0.0, 1.0, -1.0, -5.0])
REST, FORWARD, BACKWARD, CLIPPED = (slice(2 * i, 2 * i + 2) for i in range(4))


@pytest.fixture(scope="module")
def hopper():
    # No reset noise: episodes with the same action are identical, so they compare exactly.
    return make_env("hopper", episode_length=EPISODE_LENGTH, reset_noise_scale=0.0)


@pytest.fixture(scope="module")
def constant_action_results(hopper):
    env = hopper._replace(spec=hopper.spec.replace(max_episode_steps=SCAN_STEPS))

    def constant_policy(actions, obs, key):
        del key  # actions: [4] -> episode i gets actions[i // 2] on every joint
        per_episode = jnp.repeat(actions, obs.shape[0] // actions.shape[0])
        return jnp.broadcast_to(per_episode[:, None], (obs.shape[0], env.spec.action_dim))

    evaluate_fn = make_evaluate(constant_policy, env, num_episodes=2 * CONSTANT_ACTIONS.size)
    result = jax.jit(evaluate_fn)(CONSTANT_ACTIONS, jax.random.key(0))
    return jax.tree.map(np.asarray, result)


def test_reset_and_step_keep_the_contract(hopper):
    spec = hopper.spec
    key = jax.random.key(0)
    obs, state = jax.eval_shape(hopper.reset, key)
    next_obs, next_state, reward, terminated, truncated = jax.eval_shape(
        hopper.step, state, jnp.zeros(spec.action_dim), key
    )
    assert isinstance(state, BraxEnvState)
    for o in (obs, next_obs):
        assert o.shape == spec.observation_shape and o.dtype == jnp.float32
    assert reward.shape == () and reward.dtype == jnp.float32
    assert terminated.shape == () and terminated.dtype == jnp.bool_
    assert truncated.shape == () and truncated.dtype == jnp.bool_
    # Same state avals after reset and after step: a scan carry, and no retrace of step.
    assert jax.tree.structure(state) == jax.tree.structure(next_state)
    assert jax.tree.leaves(state) == jax.tree.leaves(next_state)


def test_spec_matches_the_static_size_table(hopper):
    assert hopper.spec == env_spec("hopper", episode_length=EPISODE_LENGTH)
    assert hopper.spec.backend == "brax" and hopper.spec.max_episode_steps == EPISODE_LENGTH


@pytest.mark.slow
def test_standing_hopper_is_truncated_at_episode_length(constant_action_results):
    lengths, returns = constant_action_results.lengths, constant_action_results.returns
    assert np.all(lengths[REST] == EPISODE_LENGTH)
    assert np.all(lengths[FORWARD] == EPISODE_LENGTH)
    assert np.all(np.isfinite(returns))
    assert np.all(returns[REST] > 0)  # healthy reward 1 per step


@pytest.mark.slow
def test_falling_hopper_terminates_before_the_limit(constant_action_results):
    assert np.all(constant_action_results.lengths[BACKWARD] < EPISODE_LENGTH)


@pytest.mark.slow
def test_actions_are_clipped_to_the_unit_box(constant_action_results):
    # Unclipped, -5 would cost 25x the control penalty of -1 (brax charges the raw action).
    np.testing.assert_array_equal(
        constant_action_results.lengths[CLIPPED], constant_action_results.lengths[BACKWARD]
    )
    np.testing.assert_allclose(
        constant_action_results.returns[CLIPPED], constant_action_results.returns[BACKWARD],
        rtol=1e-6,
    )
