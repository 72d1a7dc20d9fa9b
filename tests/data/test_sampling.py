"""Samplers: uniform and weighted minibatches drawn inside jit; frequencies match probabilities."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from jaxrl_suite.data import from_arrays
from jaxrl_suite.data.sampling import (
    gather, sample_indices_weighted, sample_uniform, sample_weighted, weighted_table)
from jaxrl_suite.errors import DatasetError

N = 37


@pytest.fixture(scope="module")
def dataset():
    rng = np.random.default_rng(0)
    terminals = np.zeros(N, bool)
    terminals[[9, 20, N - 1]] = True
    return from_arrays(
        rng.normal(size=(N, 2)), rng.uniform(-1, 1, (N, 1)), np.arange(N, dtype=np.float32),
        terminals, np.zeros(N, bool), rng.normal(size=(N, 2)))


@pytest.fixture(scope="module")
def draw_weighted():
    # Dataset and table are arguments, never closed over: one compile serves every call.
    return jax.jit(lambda table, key: sample_indices_weighted(table, key, 200_000))


def _chi_square_pvalue(counts, probs):
    probs = np.asarray(probs, np.float64) / np.sum(probs)
    mask = probs > 0
    assert counts[~mask].sum() == 0, "a zero-probability transition was drawn"
    return stats.chisquare(counts[mask], counts.sum() * probs[mask]).pvalue


def test_weighted_frequencies_match_probabilities(draw_weighted):
    rng = np.random.default_rng(1)
    probs = rng.uniform(0, 1, N) ** 3
    probs[[3, 17]] = 0.0
    idx = np.asarray(draw_weighted(weighted_table(jnp.asarray(probs)), jax.random.PRNGKey(0)))
    counts = np.bincount(idx, minlength=N)
    assert _chi_square_pvalue(counts, probs) > 1e-3


def test_weighted_frequencies_for_peaked_weights(draw_weighted):
    probs = np.full(N, 1e-3)
    probs[5] = 1.0
    idx = np.asarray(draw_weighted(weighted_table(jnp.asarray(probs)), jax.random.PRNGKey(1)))
    assert _chi_square_pvalue(np.bincount(idx, minlength=N), probs) > 1e-3


def test_weighted_table_resolves_single_transition_mass_at_scale():
    # 1M transitions: a single float32 cumsum could not resolve one transition's interval.
    n = 1_000_000
    probs = np.ones(n, np.float32)
    probs[-1] = 1000.0  # the last transition: 1000/1000999 of the mass
    table = weighted_table(jnp.asarray(probs))
    idx = np.asarray(jax.jit(lambda t, k: sample_indices_weighted(t, k, 100_000))(
        table, jax.random.PRNGKey(2)))
    hits = (idx == n - 1).sum()
    expect = 100_000 * 1000 / (n - 1 + 1000)
    assert abs(hits - expect) < 5 * np.sqrt(expect)
    assert idx.min() >= 0 and idx.max() < n


def test_sample_weighted_gathers_rows(dataset):
    probs = jnp.zeros(N).at[7].set(1.0)
    batch = jax.jit(sample_weighted, static_argnums=3)(
        dataset, weighted_table(probs), jax.random.PRNGKey(0), 8)
    np.testing.assert_array_equal(batch.rewards, np.full(8, 7.0))
    np.testing.assert_array_equal(batch.observations, np.repeat(dataset.observations[7:8], 8, 0))


def test_uniform_sampler_covers_dataset(dataset):
    batch = jax.jit(sample_uniform, static_argnums=2)(dataset, jax.random.PRNGKey(0), 20_000)
    counts = np.bincount(np.asarray(batch.indices), minlength=N)
    assert stats.chisquare(counts).pvalue > 1e-3
    np.testing.assert_array_equal(batch.rewards, np.asarray(batch.indices, np.float32))
    assert batch.terminals.dtype == jnp.float32


@pytest.mark.parametrize("probs, field_msg", [
    (np.array([0.5, -0.1, 0.6]), "non-negative"),
    (np.array([0.5, np.nan, 0.6]), "finite"),
    (np.zeros(3), "positive total"),
])
def test_bad_weights_raise_dataset_error(probs, field_msg):
    with pytest.raises(DatasetError, match=field_msg):
        weighted_table(jnp.asarray(probs))


def test_weight_count_must_match_dataset(dataset):
    with pytest.raises(DatasetError, match="probs"):
        sample_weighted(dataset, weighted_table(jnp.ones(N + 1)), jax.random.PRNGKey(0), 4)


def test_next_actions_follow_within_episodes(dataset):
    idx = np.arange(N)
    batch = jax.jit(gather)(dataset, idx)
    ends = np.asarray(dataset.terminals | dataset.timeouts)
    acts = np.asarray(dataset.actions)
    expect = np.where(ends[:, None], acts, np.concatenate([acts[1:], acts[-1:]]))
    np.testing.assert_array_equal(batch.next_actions, expect)
