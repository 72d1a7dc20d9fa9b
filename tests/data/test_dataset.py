"""Dataset pytree: episode structure, returns, D4RL-style next-observation derivation."""

import jax
import numpy as np
import pytest

from jaxrl_suite.data import DatasetMeta, concatenate, from_arrays, summary
from jaxrl_suite.data.dataset import episode_structure


def _random_episodes(rng, lengths, obs_dim=3, act_dim=2):
    n = sum(lengths)
    ends = np.cumsum(lengths) - 1
    terminals = np.zeros(n, bool)
    timeouts = np.zeros(n, bool)
    for i, e in enumerate(ends):
        (terminals if i % 2 == 0 else timeouts)[e] = True
    return dict(
        observations=rng.normal(size=(n, obs_dim)).astype(np.float32),
        actions=rng.uniform(-1, 1, size=(n, act_dim)).astype(np.float32),
        rewards=rng.normal(size=n).astype(np.float32),
        next_observations=rng.normal(size=(n, obs_dim)).astype(np.float32),
        terminals=terminals,
        timeouts=timeouts,
    )


def test_episode_structure_matches_python_loop():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 20, size=50).tolist()
    arrays = _random_episodes(rng, lengths)
    ids, starts, lens = episode_structure(arrays["terminals"], arrays["timeouts"])
    expect_ids = []
    for i, n in enumerate(lengths):
        expect_ids += [i] * n
    np.testing.assert_array_equal(ids, expect_ids)
    np.testing.assert_array_equal(lens, lengths)
    np.testing.assert_array_equal(starts, np.concatenate([[0], np.cumsum(lengths)[:-1]]))


def test_episode_returns_equal_numpy_reference_and_jit():
    rng = np.random.default_rng(1)
    lengths = rng.integers(1, 30, size=40).tolist()
    arrays = _random_episodes(rng, lengths)
    ds = from_arrays(**arrays)
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    expect = [arrays["rewards"][a:b].sum() for a, b in zip(bounds[:-1], bounds[1:])]
    np.testing.assert_allclose(ds.episode_returns(), expect, rtol=1e-5, atol=1e-5)
    jitted = jax.jit(lambda d: d.episode_returns())(ds)
    np.testing.assert_allclose(jitted, expect, rtol=1e-5, atol=1e-5)


def test_discrete_actions_are_int32_and_meta_inferred():
    rng = np.random.default_rng(2)
    arrays = _random_episodes(rng, [5, 7])
    arrays["actions"] = rng.integers(0, 3, size=12)
    ds = from_arrays(**arrays, meta=DatasetMeta(num_actions=4))
    assert ds.actions.dtype == np.int32 and ds.meta.discrete and ds.meta.num_actions == 4
    assert ds.meta.observation_shape == (3,)


def test_derived_next_observations_follow_d4rl_convention():
    obs = np.arange(7, dtype=np.float32)[:, None]
    terminals = np.array([0, 0, 1, 0, 0, 0, 0], bool)   # episode 0: t=0..2 ends by termination
    timeouts = np.array([0, 0, 0, 0, 0, 0, 1], bool)    # episode 1: t=3..6 ends by timeout
    ds = from_arrays(obs, np.zeros((7, 1)), np.ones(7), terminals, timeouts)
    # The timeout-final transition (t=6) has no successor in the file: dropped, t=5 ends by timeout.
    np.testing.assert_array_equal(np.asarray(ds.observations)[:, 0], [0, 1, 2, 3, 4, 5])
    np.testing.assert_array_equal(np.asarray(ds.next_observations)[:, 0], [1, 2, 2, 4, 5, 6])
    np.testing.assert_array_equal(ds.terminals, [0, 0, 1, 0, 0, 0])
    np.testing.assert_array_equal(ds.timeouts, [0, 0, 0, 0, 0, 1])
    np.testing.assert_array_equal(ds.episode_lengths, [3, 3])


def test_select_and_concatenate_episodes_roundtrip():
    rng = np.random.default_rng(3)
    ds = from_arrays(**_random_episodes(rng, [4, 6, 3]))
    parts = [ds.select_episodes([0]), ds.select_episodes([1, 2])]
    back = concatenate(parts)
    for k, v in ds.to_numpy().items():
        np.testing.assert_array_equal(back.to_numpy()[k], v)
    rev = ds.select_episodes([2, 0])
    np.testing.assert_array_equal(rev.episode_lengths, [3, 4])


def test_summary_reports_normalised_return():
    rng = np.random.default_rng(4)
    meta = DatasetMeta(env_id="X", ref_min_score=0.0, ref_max_score=10.0)
    arrays = _random_episodes(rng, [5, 5])
    arrays["rewards"] = np.ones(10, np.float32)
    s = summary(from_arrays(**arrays, meta=meta))
    assert s["episodes"] == 2 and s["transitions"] == 10
    assert s["return_mean"] == pytest.approx(5.0)
    assert s["normalized_return_mean"] == pytest.approx(50.0)
