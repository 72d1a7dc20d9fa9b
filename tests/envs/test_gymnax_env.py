"""The gymnax adapter keeps the JaxEnv contract, and keeps `terminated` apart from `truncated`."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_suite.envs import env_spec, list_envs, make_env, random_policy

# Every registered gymnax env (env_spec builds nothing heavy for the brax names).
GYMNAX_NAMES = [name for name in list_envs() if env_spec(name).backend == "gymnax"]
BATCH = 8


def rollout_fn(env, policy_fn, num_steps):
    """Returns jit(keys [B] -> per-step (obs, reward, terminated, truncated) [T, B, ...])."""

    def rollout(keys):
        obs, state = jax.vmap(env.reset)(keys)

        def one_step(carry, step_key):
            obs, state = carry
            policy_key, env_key = jax.random.split(step_key)
            actions = policy_fn(None, obs, policy_key)
            obs, state, reward, terminated, truncated = jax.vmap(env.step)(
                state, actions, jax.random.split(env_key, keys.shape[0])
            )
            return (obs, state), (obs, reward, terminated, truncated)

        step_keys = jax.random.split(jax.random.fold_in(keys[0], 1), num_steps)
        return jax.lax.scan(one_step, (obs, state), step_keys)[1]

    return jax.jit(rollout)


@pytest.mark.parametrize("name", GYMNAX_NAMES)
def test_jitted_vmapped_reset_and_step_keep_the_contract(name):
    env = make_env(name)
    spec = env.spec
    keys = jax.random.split(jax.random.key(0), BATCH)
    reset = jax.jit(jax.vmap(env.reset))
    step = jax.jit(jax.vmap(env.step))
    obs, state = reset(keys)
    actions = random_policy(spec)(None, obs, jax.random.key(1))
    next_obs, _, reward, terminated, truncated = step(state, actions, keys)

    for o in (obs, next_obs):
        assert o.shape == (BATCH, *spec.observation_shape)
        assert o.dtype == jnp.float32
    assert reward.shape == (BATCH,) and reward.dtype == jnp.float32
    assert terminated.shape == (BATCH,) and terminated.dtype == jnp.bool_
    assert truncated.shape == (BATCH,) and truncated.dtype == jnp.bool_
    assert np.all(np.isfinite(np.asarray(next_obs)))


def test_pendulum_truncates_at_step_200_and_never_terminates():
    env = make_env("Pendulum-v1")
    assert env.spec.max_episode_steps == 200
    rollout = rollout_fn(env, random_policy(env.spec), num_steps=200)
    _, _, terminated, truncated = rollout(jax.random.split(jax.random.key(0), 4))
    assert not np.any(terminated)
    assert not np.any(truncated[:199])
    assert np.all(truncated[199])


def test_cartpole_with_a_constant_action_terminates_early_and_is_not_truncated():
    env = make_env("CartPole-v1")

    def push_left(params, obs, key):
        del params, key
        return jnp.zeros((obs.shape[0],), jnp.int32)

    rollout = rollout_fn(env, push_left, num_steps=100)
    _, _, terminated, truncated = rollout(jax.random.split(jax.random.key(0), 4))
    first_termination = np.argmax(np.asarray(terminated), axis=0)
    assert np.all(np.any(terminated, axis=0))
    assert np.all(first_termination < 50)  # far below the 500-step limit
    assert not np.any(truncated)


@pytest.fixture(scope="module")
def cartpole_step():
    env = make_env("CartPole-v1")
    return env, jax.jit(env.reset), jax.jit(env.step)


def test_cartpole_truncated_fires_exactly_when_the_step_counter_reaches_the_limit(cartpole_step):
    env, reset, step = cartpole_step
    limit = env.spec.max_episode_steps
    key = jax.random.key(0)
    _, state = reset(key)
    state = state.replace(time=limit - 2)
    _, state, _, terminated, truncated = step(state, 0, key)
    assert int(state.time) == limit - 1
    assert not bool(truncated) and not bool(terminated)
    _, state, _, terminated, truncated = step(state, 1, key)
    assert int(state.time) == limit
    assert bool(truncated) and not bool(terminated)


def test_cartpole_terminal_step_at_the_limit_is_terminated_not_truncated(cartpole_step):
    env, reset, step = cartpole_step
    key = jax.random.key(0)
    _, state = reset(key)
    # The cart is about to leave the track ([-2.4, 2.4]) on the last allowed step.
    state = state.replace(time=env.spec.max_episode_steps - 1, x=2.39, x_dot=2.0)
    _, _, _, terminated, truncated = step(state, 1, key)
    assert bool(terminated) and not bool(truncated)
