"""TQ and SACo against slow, obvious NumPy references on random inputs."""

import jax
import numpy as np
import pytest

from jaxrl_suite.data import DatasetMeta, from_arrays
from jaxrl_suite.transforms.quality import (
    count_unique_rows, state_action_coverage, trajectory_quality, unique_state_actions)


def random_dataset(seed, n_episodes=30, discrete=True, duplicate_share=0.5, meta=None):
    """A dataset whose states/actions repeat often, so that uniqueness matters."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 15, size=n_episodes)
    n = int(lengths.sum())
    pool = rng.integers(-3, 3, size=(8, 2)).astype(np.float32)
    obs = np.where(rng.uniform(size=(n, 1)) < duplicate_share,
                   pool[rng.integers(0, 8, n)], rng.normal(size=(n, 2))).astype(np.float32)
    actions = (rng.integers(0, 3, n) if discrete
               else rng.integers(-1, 2, size=(n, 1)).astype(np.float32))
    terminals = np.zeros(n, bool)
    terminals[np.cumsum(lengths) - 1] = True
    return from_arrays(obs, actions, rng.normal(size=n), terminals, np.zeros(n, bool),
                       obs.copy(), meta=meta)


def numpy_unique_pairs(ds, bins=None, limits=None):
    rows = np.concatenate([np.asarray(ds.observations).reshape(ds.num_transitions, -1),
                           np.asarray(ds.actions).reshape(ds.num_transitions, -1)], 1)
    rows = rows.astype(np.float32)
    if bins is not None:
        low, high = limits if limits is not None else (rows.min(0), rows.max(0))
        rows = np.stack([np.digitize(rows[:, d], np.linspace(low[d], high[d], bins))
                         for d in range(rows.shape[1])], 1)
    return len({tuple(r) for r in rows.tolist()})


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("discrete", [True, False])
def test_unique_state_actions_matches_python_set(seed, discrete):
    ds = random_dataset(seed, discrete=discrete)
    assert int(unique_state_actions(ds)) == numpy_unique_pairs(ds)
    assert int(unique_state_actions(ds, bins=10)) == numpy_unique_pairs(ds, bins=10)


def test_count_unique_rows_is_jittable_and_treats_signed_zero_equal():
    rows = np.array([[0.0, 1.0], [-0.0, 1.0], [1.0, 0.0], [1.0, 0.0], [2.0, 2.0]], np.float32)
    assert int(jax.jit(count_unique_rows)(rows)) == 3


def test_saco_matches_reference_ratio():
    ds, ref = random_dataset(3), random_dataset(4, n_episodes=60)
    assert float(state_action_coverage(ds, ref)) == pytest.approx(
        numpy_unique_pairs(ds) / numpy_unique_pairs(ref))
    assert float(state_action_coverage(ref, ref)) == 1.0
    # Binned SACo digitises both datasets between the reference's per-dimension min/max.
    rows = lambda d: np.concatenate([np.asarray(d.observations),
                                     np.asarray(d.actions, np.float32)[:, None]], 1)
    limits = (rows(ref).min(0), rows(ref).max(0))
    assert float(state_action_coverage(ds, ref, bins=100)) == pytest.approx(
        numpy_unique_pairs(ds, 100, limits) / numpy_unique_pairs(ref, 100, limits))


def test_trajectory_quality_matches_python_loop():
    meta = DatasetMeta(ref_min_score=-2.0, ref_max_score=3.0)
    ds = random_dataset(5, meta=meta)
    rewards, ends = np.asarray(ds.rewards), np.asarray(ds.terminals | ds.timeouts)
    returns, acc = [], 0.0
    for r, e in zip(rewards, ends):
        acc += r
        if e:
            returns.append(acc)
            acc = 0.0
    expect = (np.mean(returns) + 2.0) / 5.0
    assert float(trajectory_quality(ds)) == pytest.approx(expect, rel=1e-5)
    assert float(trajectory_quality(ds, ref_min=0.0, ref_max=1.0)) == pytest.approx(
        np.mean(returns), rel=1e-5)


def test_trajectory_quality_without_references_names_the_field():
    from jaxrl_suite.errors import DatasetError
    with pytest.raises(DatasetError, match="ref_min_score"):
        trajectory_quality(random_dataset(6))


def test_unique_count_scales_to_a_million_rows():
    rng = np.random.default_rng(0)
    rows = rng.integers(0, 50, size=(1_000_000, 3)).astype(np.float32)
    expect = len(np.unique(rows, axis=0))
    assert int(jax.jit(count_unique_rows)(rows)) == expect


def test_unique_count_of_wide_rows_matches_numpy():
    # MinAtar-wide rows (400 observation dims + an action) take the hashed sort: few distinct
    # values per dimension, many duplicates, rows that differ in one dimension only, -0.0.
    from jaxrl_suite.transforms.quality import LEXSORT_MAX_DIMS

    rng = np.random.default_rng(1)
    base = rng.integers(0, 3, size=(300, 401)).astype(np.float32)
    rows = base[rng.integers(0, 300, 3_000)]
    rows[::7, 5] += 1.0  # near-duplicates
    rows[::11, 0] = -0.0 * rows[::11, 0]
    assert rows.shape[1] > LEXSORT_MAX_DIMS
    expect = len(np.unique(rows + 0.0, axis=0))
    assert int(jax.jit(count_unique_rows)(rows)) == expect
