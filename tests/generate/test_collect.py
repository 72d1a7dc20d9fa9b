"""stream_to_dataset / collect: episode layout, end flags and exact chaining vs a Python loop."""

import jax
import numpy as np
import pytest

from jaxrl_suite.data import DatasetMeta
from jaxrl_suite.envs.rollout import Transition
from jaxrl_suite.generate.collect import collect, stream_to_dataset
from jaxrl_suite.envs.registry import make_env
from jaxrl_suite.envs.evaluate import random_policy


def synthetic_stream(rng, num_steps, num_envs):
    obs = rng.normal(size=(num_steps, num_envs, 2)).astype(np.float32)
    terminated = rng.uniform(size=(num_steps, num_envs)) < 0.1
    truncated = (rng.uniform(size=(num_steps, num_envs)) < 0.05) & ~terminated
    return Transition(
        obs=obs, action=rng.integers(0, 3, (num_steps, num_envs)).astype(np.int32),
        reward=rng.normal(size=(num_steps, num_envs)).astype(np.float32),
        next_obs=obs + 1.0, terminated=terminated, truncated=truncated)


def python_layout(tr, keep_unfinished):
    """Slow reference: walk each env's stream, keep whole episodes (or all)."""
    rows = []
    num_steps, num_envs = tr.reward.shape
    for n in range(num_envs):
        episode = []
        for t in range(num_steps):
            episode.append((n, t))
            if tr.terminated[t, n] or tr.truncated[t, n]:
                rows += episode
                episode = []
        if keep_unfinished:
            rows += episode
    return rows


@pytest.mark.parametrize("keep_unfinished", [False, True])
def test_stream_layout_matches_python_loop(keep_unfinished):
    tr = synthetic_stream(np.random.default_rng(0), 60, 5)
    ds = stream_to_dataset(tr, DatasetMeta(num_actions=3), keep_unfinished=keep_unfinished)
    rows = python_layout(tr, keep_unfinished)
    n_idx, t_idx = np.array(rows).T
    np.testing.assert_array_equal(ds.observations, tr.obs[t_idx, n_idx])
    np.testing.assert_array_equal(ds.actions, tr.action[t_idx, n_idx])
    np.testing.assert_array_equal(ds.terminals, tr.terminated[t_idx, n_idx])
    ends = ds.terminals | ds.timeouts
    # Chained exactly inside episodes; the recorded next observation at episode ends.
    inside = ~np.asarray(ends[:-1])
    np.testing.assert_array_equal(ds.next_observations[:-1][inside], ds.observations[1:][inside])
    np.testing.assert_array_equal(ds.next_observations[np.asarray(ends)],
                                  tr.next_obs[t_idx, n_idx][np.asarray(ends)])
    if keep_unfinished:  # each env's unfinished tail ends with a timeout flag
        expected_timeouts = tr.truncated.copy()
        expected_timeouts[-1] |= ~(tr.terminated[-1] | tr.truncated[-1])
        np.testing.assert_array_equal(ds.timeouts, expected_timeouts[t_idx, n_idx])


def test_num_transitions_cut_ends_with_timeout():
    tr = synthetic_stream(np.random.default_rng(1), 80, 4)
    ds = stream_to_dataset(tr, DatasetMeta(num_actions=3), num_transitions=37)
    assert ds.num_transitions == 37
    assert bool(ds.terminals[-1] | ds.timeouts[-1])


@pytest.fixture(scope="module")
def cartpole_random():
    env = make_env("CartPole-v1")
    return env, collect(env, random_policy(env.spec), None, jax.random.PRNGKey(0), 3_000,
                        num_envs=16)


def test_collect_flags_terminal_vs_timeout(cartpole_random):
    env, ds = cartpole_random
    assert ds.num_transitions == 3_000
    lengths = np.asarray(ds.episode_lengths)
    last = np.asarray(ds.episode_starts + ds.episode_lengths - 1)
    terminal_end = np.asarray(ds.terminals)[last]
    # A random CartPole policy falls long before the 500-step limit: every episode but the cut
    # last one ends by termination, and no transition is both.
    assert terminal_end[:-1].all()
    assert not np.any(np.asarray(ds.terminals & ds.timeouts))
    assert (lengths < env.spec.max_episode_steps).all()


def test_collect_pendulum_episodes_truncate_at_limit():
    env = make_env("Pendulum-v1")
    ds = collect(env, random_policy(env.spec), None, jax.random.PRNGKey(1), 1_000, num_envs=4)
    assert not np.asarray(ds.terminals).any()
    np.testing.assert_array_equal(ds.episode_lengths, [200] * 5)
    assert np.asarray(ds.timeouts).sum() == 5
