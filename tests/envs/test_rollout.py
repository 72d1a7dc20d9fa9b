"""The collector: auto-reset, true next observations, episode bookkeeping, circular replay."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl_suite.envs.evaluate import random_policy
from jaxrl_suite.envs.gymnax_env import make_gymnax_env
from jaxrl_suite.online.replay import replay_add, replay_init, replay_sample
from jaxrl_suite.envs.rollout import Transition, init_rollout, rollout
from tests.online.streams import check_stream


def random_rollout(name, num_envs, num_steps, seed=0):
    env = make_gymnax_env(name)
    policy = random_policy(env.spec)
    reset_key, run_key = jax.random.split(jax.random.PRNGKey(seed))

    @jax.jit
    def run(reset_key, run_key):
        state = init_rollout(env, reset_key, num_envs)
        return rollout(env, policy, None, state, run_key, num_steps)

    state, transitions, stats = run(reset_key, run_key)
    return env, run, jax.tree.map(np.asarray, (state, transitions, stats))


def test_cartpole_stream_resets_after_termination():
    _, _, (state, tr, stats) = random_rollout("CartPole-v1", num_envs=4, num_steps=300)
    assert tr.obs.shape == (300, 4, 4) and tr.action.shape == (300, 4)
    assert tr.action.dtype == np.int32 and tr.terminated.dtype == np.bool_
    for i in range(4):
        env_tr, env_stats = jax.tree.map(lambda x: x[:, i], (tr, stats))
        check_stream(env_tr, env_stats, max_steps=500)
        ends = np.nonzero(env_tr.terminated[:-1])[0]
        assert len(ends) > 3  # random CartPole episodes last ~22 steps
        # Terminal next observations leave the bounds; the following obs is a fresh reset.
        cart, angle = env_tr.next_obs[ends, 0], env_tr.next_obs[ends, 2]
        assert np.all((np.abs(cart) > 2.4) | (np.abs(angle) > 0.2094))
        assert np.all(np.abs(env_tr.obs[ends + 1]) <= 0.05)
    assert not tr.truncated.any()
    assert np.all(state.episode_length < 300)


def test_pendulum_stream_truncates_every_200_steps():
    _, _, (_, tr, stats) = random_rollout("Pendulum-v1", num_envs=2, num_steps=450)
    assert tr.action.shape == (450, 2, 1) and tr.action.dtype == np.float32
    assert not tr.terminated.any()
    for i in range(2):
        env_tr, env_stats = jax.tree.map(lambda x: x[:, i], (tr, stats))
        check_stream(env_tr, env_stats, max_steps=200)
        np.testing.assert_array_equal(np.nonzero(env_tr.truncated)[0], [199, 399])


def test_rollout_compiles_once():
    env, run, _ = random_rollout("CartPole-v1", num_envs=2, num_steps=20)
    run(jax.random.PRNGKey(3), jax.random.PRNGKey(4))
    assert run._cache_size() == 1


def test_replay_buffer_overwrites_oldest_and_samples_filled_slots():
    example = Transition(
        obs=jnp.zeros((2,)), action=jnp.int32(0), reward=jnp.float32(0.0),
        next_obs=jnp.zeros((2,)), terminated=jnp.bool_(False), truncated=jnp.bool_(False),
    )
    buffer = replay_init(example, capacity=4)
    for i in range(6):
        buffer = replay_add(buffer, example.replace(reward=jnp.float32(i), action=jnp.int32(i)))
    assert int(buffer.size) == 4 and int(buffer.insert_at) == 2
    np.testing.assert_array_equal(buffer.data.reward, [4.0, 5.0, 2.0, 3.0])
    batch = replay_sample(buffer, jax.random.PRNGKey(0), 256)
    assert set(np.asarray(batch.reward).tolist()) == {2.0, 3.0, 4.0, 5.0}
    np.testing.assert_array_equal(batch.action, batch.reward.astype(np.int32))

    partial = replay_add(replay_init(example, capacity=8), example.replace(reward=jnp.float32(7)))
    np.testing.assert_array_equal(replay_sample(partial, jax.random.PRNGKey(1), 16).reward, 7.0)
