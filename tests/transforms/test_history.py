"""Observation histories against a slow, obvious per-transition NumPy reference."""

import jax
import numpy as np
import pytest

from jaxrl_suite.data import from_arrays
from jaxrl_suite.errors import DatasetError
from jaxrl_suite.agents.base import data_spec
from jaxrl_suite.transforms.history import (
    history_windows, masked_dataset, stack_observation_history)
from jaxrl_suite.transforms.reweight import top_trajectories


def random_dataset(seed, obs_shape=(3,)):
    """Random episodes of lengths 1..6 (several of length 1), ending by terminal or timeout."""
    rng = np.random.default_rng(seed)
    lengths = np.concatenate([[1, 1], rng.integers(1, 7, size=12), [1]])
    rng.shuffle(lengths)
    n = int(lengths.sum())
    ends = np.cumsum(lengths) - 1
    terminals = np.zeros(n, bool)
    timeouts = np.zeros(n, bool)
    by_terminal = rng.random(len(ends)) < 0.5
    terminals[ends[by_terminal]] = True
    timeouts[ends[~by_terminal]] = True
    # Observations never zero, so a zero in the output can only be padding.
    obs = rng.uniform(1.0, 2.0, (n, *obs_shape)).astype(np.float32)
    next_obs = rng.uniform(1.0, 2.0, (n, *obs_shape)).astype(np.float32)
    return from_arrays(obs, rng.uniform(-1, 1, (n, 2)), rng.normal(size=n), terminals,
                       timeouts, next_obs), lengths


def reference_history(ds, k):
    """Walks each episode step by step, as one would by hand."""
    obs = np.asarray(ds.observations)
    nxt = np.asarray(ds.next_observations)
    out_obs = np.zeros((len(obs), k, *obs.shape[1:]), np.float32)
    out_next = np.zeros_like(out_obs)
    start = 0
    for length in np.asarray(ds.episode_lengths):
        episode_obs = [obs[start + i] for i in range(length)]
        for i in range(length):
            seq = episode_obs[: i + 1]  # s_0 .. s_i
            next_seq = seq + [nxt[start + i]]  # s_0 .. s_i, s_{i+1}
            for j in range(k):  # j = 0 oldest, k - 1 current
                back = k - 1 - j
                if back < len(seq):
                    out_obs[start + i, j] = seq[len(seq) - 1 - back]
                if back < len(next_seq):
                    out_next[start + i, j] = next_seq[len(next_seq) - 1 - back]
        start += length
    return out_obs, out_next


@pytest.mark.parametrize("k", [1, 2, 4])
@pytest.mark.parametrize("seed", [0, 1])
def test_history_matches_reference(k, seed):
    ds, lengths = random_dataset(seed)
    assert (lengths == 1).any() and (lengths < 4).any()  # length-1 episodes, k > length
    out = stack_observation_history(ds, k)
    want_obs, want_next = reference_history(ds, k)
    np.testing.assert_array_equal(np.asarray(out.observations), want_obs)
    np.testing.assert_array_equal(np.asarray(out.next_observations), want_next)
    assert out.meta.observation_shape == (k, 3)
    assert out.meta.info_dict()["history"] == k
    # Everything else is untouched.
    for field in ("actions", "rewards", "terminals", "timeouts", "episode_ids",
                  "episode_starts", "episode_lengths"):
        np.testing.assert_array_equal(np.asarray(getattr(out, field)),
                                      np.asarray(getattr(ds, field)))


def test_history_of_one_is_the_observations_with_a_unit_axis():
    ds, _ = random_dataset(2)
    out = stack_observation_history(ds, 1)
    np.testing.assert_array_equal(np.asarray(out.observations),
                                  np.asarray(ds.observations)[:, None])
    np.testing.assert_array_equal(np.asarray(out.next_observations),
                                  np.asarray(ds.next_observations)[:, None])


def test_history_of_image_like_observations_matches_reference():
    ds, _ = random_dataset(3, obs_shape=(2, 2))
    out = stack_observation_history(ds, 3)
    want_obs, want_next = reference_history(ds, 3)
    assert out.observations.shape == (ds.num_transitions, 3, 2, 2)
    np.testing.assert_array_equal(np.asarray(out.observations), want_obs)
    np.testing.assert_array_equal(np.asarray(out.next_observations), want_next)


def test_history_under_jit_matches_eager_and_does_not_retrace():
    ds, _ = random_dataset(4)
    traces = []

    def fn(d):
        traces.append(1)
        return stack_observation_history(d, 4)

    jitted = jax.jit(fn)
    eager = stack_observation_history(ds, 4)
    out = jitted(ds)
    out = jitted(ds)
    assert len(traces) == 1
    np.testing.assert_array_equal(np.asarray(out.observations), np.asarray(eager.observations))
    np.testing.assert_array_equal(np.asarray(out.next_observations),
                                  np.asarray(eager.next_observations))
    assert out.meta == eager.meta


@pytest.mark.parametrize("k", [0, -1, 2.0])
def test_bad_history_length_is_refused(k):
    ds, _ = random_dataset(5)
    with pytest.raises(DatasetError, match="'k'"):
        stack_observation_history(ds, k)


@pytest.mark.parametrize("k", [1, 3, 5])
@pytest.mark.parametrize("seed", [0, 1])
def test_history_windows_are_the_reference_history_with_a_real_step_flag(k, seed):
    # Short episodes (lengths 1..6) and k up to 5: most windows hold padding, and a window that
    # mixed two episodes would hold a neighbour's (never zero) observation where the reference
    # has padding.
    ds, _ = random_dataset(seed)
    out = history_windows(ds, k)
    want_obs, want_next = reference_history(ds, k)
    for got, want in ((out.observations, want_obs), (out.next_observations, want_next)):
        got = np.asarray(got)
        assert got.shape == (ds.num_transitions, k, 4)
        np.testing.assert_array_equal(got[..., :-1], want)
        # Observations are never zero, so the reference's zeros are exactly the padding.
        np.testing.assert_array_equal(got[..., -1], (want != 0).all(-1).astype(np.float32))
    assert out.meta.observation_shape == (k, 4)
    assert out.meta.info_dict()["history_windows"] is True
    # Each window's current step is real, and a window's flags rise once: padding then steps.
    flags = np.asarray(out.observations)[..., -1]
    assert (flags[:, -1] == 1).all() and (np.diff(flags, axis=1) >= 0).all()


def test_history_windows_refuse_non_flat_observations_and_a_second_windowing():
    ds, _ = random_dataset(3, obs_shape=(2, 2))
    with pytest.raises(DatasetError, match="flat observations"):
        history_windows(ds, 2)
    flat, _ = random_dataset(3)
    with pytest.raises(DatasetError, match="already history windows"):
        history_windows(history_windows(flat, 2), 2)
    with pytest.raises(DatasetError, match="'k'"):
        history_windows(flat, 0)


def test_data_spec_of_windows_normalises_with_real_step_statistics_and_keeps_the_flag():
    ds, _ = random_dataset(6)
    spec = data_spec(history_windows(ds, 3))
    obs = np.asarray(ds.observations, np.float64)
    mean, std = np.asarray(spec.obs_mean), np.asarray(spec.obs_std)
    assert mean.shape == std.shape == (3, 4)
    for position in range(3):  # the same statistics at every position
        np.testing.assert_allclose(mean[position, :3], obs.mean(0), rtol=1e-5)
        np.testing.assert_allclose(std[position, :3], obs.std(0) + 1e-3, rtol=1e-5)
    np.testing.assert_array_equal(mean[:, 3], 0.0)
    np.testing.assert_array_equal(std[:, 3], 1.0)


def test_top_trajectories_keeps_the_best_episodes_whole():
    ds, lengths = random_dataset(7)
    returns = np.asarray(ds.episode_returns())
    out = top_trajectories(ds, 0.25)
    keep = max(1, int(ds.num_episodes * 0.25))
    assert out.num_episodes == keep
    np.testing.assert_allclose(np.sort(np.asarray(out.episode_returns())),
                               np.sort(returns)[-keep:], rtol=1e-6)
    np.testing.assert_array_equal(np.sort(np.asarray(out.episode_lengths)),
                                  np.sort(lengths[np.argsort(-returns)[:keep]]))
    assert out.meta.info_dict()["top_fraction"] == 0.25
    with pytest.raises(DatasetError, match="'fraction'"):
        top_trajectories(ds, 0.0)


def test_masked_dataset_keeps_the_masked_envs_dims_only():
    ds, _ = random_dataset(8, obs_shape=(3,))
    ds = ds.replace(meta=ds.meta.replace(env_id="Pendulum-v1"))
    out = masked_dataset(ds, "MaskedPendulum-v1")
    np.testing.assert_array_equal(np.asarray(out.observations), np.asarray(ds.observations)[:, :2])
    np.testing.assert_array_equal(np.asarray(out.next_observations),
                                  np.asarray(ds.next_observations)[:, :2])
    assert out.meta.env_id == "MaskedPendulum-v1" and out.meta.observation_shape == (2,)
    with pytest.raises(DatasetError, match="env_id"):
        masked_dataset(ds, "MaskedCartPole-v1")
