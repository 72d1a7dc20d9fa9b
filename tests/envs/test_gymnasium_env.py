"""HostEnv + evaluate_host: every episode counted exactly once under gymnasium 1.x autoreset."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_suite.envs import HostEnv, evaluate_host, make_env, random_policy
from jaxrl_suite.envs.gymnasium_env import reset_seed
from jaxrl_suite.errors import EnvError

import gymnasium as gym

TIME_LIMIT = 40  # the angle policy below ends CartPole episodes after 25-50 steps: both kinds


def angle_policy(params, obs, key):
    """Deterministic CartPole policy: push toward the side the pole leans to."""
    del params, key
    return (obs[:, 2] > 0).astype(jnp.int32)


def single_env_episodes(seed, num_episodes):
    """Returns (returns, lengths) of consecutive episodes of one CartPole env reset with ``seed``
    once, then without a seed, as a gymnasium vector env does for its sub-env."""
    env = gym.make("CartPole-v1", max_episode_steps=TIME_LIMIT)
    returns, lengths = [], []
    obs, _ = env.reset(seed=seed)
    for _ in range(num_episodes):
        total, length, done = 0.0, 0, False
        while not done:
            action = int(angle_policy(None, obs[None], None)[0])
            obs, reward, terminated, truncated, _ = env.step(action)
            total, length, done = total + reward, length + 1, terminated or truncated
        returns.append(total)
        lengths.append(length)
        obs, _ = env.reset()
    return returns, lengths


def expected_lengths(seed, num_envs, num_episodes, reset_steps):
    """Returns the sorted lengths of the episodes a start-order evaluator counts: each slot runs
    episodes back to back (``reset_steps`` extra steps between them); a slot's next episode is
    counted while fewer than ``num_episodes`` have started, in order of the time slots free up
    (ties by slot index)."""
    per_slot = [single_env_episodes(seed + i, num_episodes)[1] for i in range(num_envs)]
    counted = [[] for _ in range(num_envs)]
    free_at = [0] * num_envs
    for _ in range(num_episodes):
        slot = min(range(num_envs), key=lambda i: (free_at[i], i))
        length = per_slot[slot][len(counted[slot])]
        counted[slot].append(length)
        free_at[slot] += length + reset_steps
    return sorted(sum(counted, []))


@pytest.mark.parametrize("autoreset_mode", ["NextStep", "SameStep"])
def test_one_episode_per_sub_env_matches_a_single_env_loop(autoreset_mode):
    num_episodes = 3
    key = jax.random.key(0)
    with make_env("gymnasium/CartPole-v1", num_envs=num_episodes, max_episode_steps=TIME_LIMIT,
                  autoreset_mode=autoreset_mode) as env:
        result = evaluate_host(angle_policy, None, env, key, num_episodes)
    seed = reset_seed(jax.random.split(key)[0], num_episodes)
    expected = [single_env_episodes(seed + i, 1) for i in range(num_episodes)]
    np.testing.assert_array_equal(result.lengths, [lengths[0] for _, lengths in expected])
    np.testing.assert_allclose(result.returns, [returns[0] for returns, _ in expected])
    assert result.returns.dtype == np.float32 and result.lengths.dtype == np.int32


def finish_order_lengths(seed, num_envs, num_episodes, reset_steps):
    """Returns the sorted lengths of the first ``num_episodes`` episodes to FINISH: the biased
    choice (short episodes finish first) that evaluate_host must not make."""
    ends = []
    for i in range(num_envs):
        t = 0
        for length in single_env_episodes(seed + i, num_episodes)[1]:
            t += length
            ends.append((t, i, length))
            t += reset_steps
    return sorted(length for _, _, length in sorted(ends)[:num_episodes])


@pytest.mark.parametrize("autoreset_mode,reset_steps", [("NextStep", 1), ("SameStep", 0)])
def test_reused_sub_envs_count_each_episode_exactly_once(autoreset_mode, reset_steps):
    num_envs, num_episodes = 2, 5
    key = jax.random.key(10)  # a key whose start-order and finish-order episode sets differ
    with make_env("gymnasium/CartPole-v1", num_envs=num_envs, max_episode_steps=TIME_LIMIT,
                  autoreset_mode=autoreset_mode) as env:
        result = evaluate_host(angle_policy, None, env, key, num_episodes)
    assert result.lengths.shape == (num_episodes,)
    np.testing.assert_array_equal(result.returns, result.lengths)  # reward 1 per step
    seed = reset_seed(jax.random.split(key)[0], num_envs)
    expected = expected_lengths(seed, num_envs, num_episodes, reset_steps)
    assert sorted(result.lengths.tolist()) == expected
    assert expected != finish_order_lengths(seed, num_envs, num_episodes, reset_steps)
    assert TIME_LIMIT in result.lengths and min(result.lengths) < TIME_LIMIT  # both end kinds


def test_halfcheetah_random_policy_runs_each_episode_to_its_time_limit():
    import mujoco  # noqa: F401  (the [mujoco] extra the Makefile installs)
    with make_env("gymnasium/HalfCheetah-v5", num_envs=2, max_episode_steps=50) as env:
        assert isinstance(env, HostEnv)
        assert env.spec.name == "gymnasium/HalfCheetah-v5" and env.spec.backend == "gymnasium"
        assert env.spec.observation_shape == (17,) and env.spec.action_dim == 6
        assert env.spec.max_episode_steps == 50
        two = evaluate_host(random_policy(env.spec), None, env, jax.random.key(0), 2)
        three = evaluate_host(random_policy(env.spec), None, env, jax.random.key(1), 3)
    np.testing.assert_array_equal(two.lengths, [50, 50])
    np.testing.assert_array_equal(three.lengths, [50, 50, 50])  # the third reuses a sub-env
    for result in (two, three):
        assert np.all(np.isfinite(result.returns))
        assert len(set(result.returns.tolist())) == result.returns.size  # distinct episodes


def test_policy_with_the_wrong_action_shape_is_rejected():
    with make_env("CartPole-v1", backend="gymnasium", num_envs=2) as env:
        with pytest.raises(EnvError, match="expected shape"):
            evaluate_host(lambda p, obs, k: jnp.zeros((3,), jnp.int32), None, env,
                          jax.random.key(0), 2)
