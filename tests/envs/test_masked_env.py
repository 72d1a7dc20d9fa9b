"""Velocity-masked envs hide exactly the velocity dims and change nothing else: stepped with the
same keys and actions as the unmasked env, they give its rewards, flags and observations."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_suite.envs import (
    REFERENCE_RETURNS,
    env_spec,
    make_env,
    make_evaluate,
    random_policy,
    unmasked_observation,
)
from jaxrl_suite.envs import masked
from jaxrl_suite.errors import EnvError

# name -> (unmasked env, the observation dims it keeps, the velocity dims it hides)
CASES = {
    "MaskedPendulum-v1": ("Pendulum-v1", [0, 1], [2]),  # cos θ, sin θ | θ-dot
    "MaskedCartPole-v1": ("CartPole-v1", [0, 2], [1, 3]),  # x, θ | x-dot, θ-dot
}
BATCH, STEPS = 8, 64


def random_rollout(env):
    """Returns jit(key -> per-step (obs, full obs or None, reward, terminated, truncated)
    [T, B, ...]) under uniform random actions drawn from ``key`` (the same for both envs)."""
    policy = random_policy(env.spec)

    def rollout(key):
        reset_key, key = jax.random.split(key)
        obs, state = jax.vmap(env.reset)(jax.random.split(reset_key, BATCH))

        def one_step(state, step_key):
            action_key, env_key = jax.random.split(step_key)
            actions = policy(None, jnp.zeros((BATCH, 1)), action_key)
            obs, state, reward, terminated, truncated = jax.vmap(env.step)(
                state, actions, jax.random.split(env_key, BATCH))
            full = unmasked_observation(state) if isinstance(state, masked.MaskedEnvState) else obs
            return state, (obs, full, reward, terminated, truncated)

        first_full = (unmasked_observation(state) if isinstance(state, masked.MaskedEnvState)
                      else obs)
        return (obs, first_full), jax.lax.scan(one_step, state, jax.random.split(key, STEPS))[1]

    return jax.jit(rollout)


@pytest.mark.parametrize("name", list(CASES))
def test_masked_env_hides_exactly_the_velocities_of_the_same_trajectory(name):
    unmasked_name, kept, hidden = CASES[name]
    assert masked.MASKED_ENVS[name] == (unmasked_name, tuple(kept))
    assert sorted(kept + hidden) == list(range(env_spec(unmasked_name).observation_shape[0]))
    key = jax.random.key(0)
    (obs0, full0), (obs, full, reward, terminated, truncated) = random_rollout(make_env(name))(key)
    (ref0, _), (ref, _, ref_reward, ref_terminated, ref_truncated) = random_rollout(
        make_env(unmasked_name))(key)
    assert obs0.shape == (BATCH, len(kept)) and obs.shape == (STEPS, BATCH, len(kept))
    assert obs.dtype == jnp.float32
    np.testing.assert_array_equal(obs0, ref0[:, kept])
    np.testing.assert_array_equal(obs, ref[..., kept])
    np.testing.assert_array_equal(full0, ref0)  # the full observation rides in the state
    np.testing.assert_array_equal(full, ref)
    np.testing.assert_array_equal(reward, ref_reward)
    np.testing.assert_array_equal(terminated, ref_terminated)
    np.testing.assert_array_equal(truncated, ref_truncated)
    # The hidden dims move (they are velocities), so masking really drops information.
    assert np.ptp(np.asarray(ref[..., hidden])) > 0


@pytest.mark.parametrize("name", list(CASES))
def test_masked_spec_is_the_unmasked_spec_with_the_kept_dims(name):
    unmasked_name, kept, _ = CASES[name]
    spec, unmasked = env_spec(name), env_spec(unmasked_name)
    assert spec == make_env(name).spec
    assert spec.observation_shape == (len(kept),) and spec.name == name
    assert spec.replace(name=unmasked_name, observation_shape=unmasked.observation_shape,
                        ref_min_score=unmasked.ref_min_score) == unmasked
    # The expert is the unmasked env's (a full-state behaviour policy makes the data).
    assert REFERENCE_RETURNS[name][1] == REFERENCE_RETURNS[unmasked_name][1]
    assert masked.unmasked_env(name) == unmasked_name
    with pytest.raises(EnvError, match="takes no options"):
        make_env(name, observation="full")
    with pytest.raises(EnvError, match="unknown masked env"):
        masked.unmasked_env("MaskedAcrobot-v1")


@pytest.mark.parametrize("name", list(CASES))
def test_evaluate_runs_vmapped_and_a_random_policy_scores_as_in_the_unmasked_env(name):
    def run(env):
        fn = jax.jit(jax.vmap(make_evaluate(random_policy(env.spec), env, num_episodes=8)))
        return fn(None, jax.random.split(jax.random.key(1), 2))

    result, reference = run(make_env(name)), run(make_env(CASES[name][0]))
    assert result.returns.shape == (2, 8)
    np.testing.assert_array_equal(result.returns, reference.returns)  # same keys, same MDP
    np.testing.assert_array_equal(result.lengths, reference.lengths)
