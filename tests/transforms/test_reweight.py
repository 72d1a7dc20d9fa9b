"""RW / AW / top-K% probabilities against a NumPy transcription of the authors' code."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_suite.data import from_arrays
from jaxrl_suite.transforms.reweight import (
    advantage_weighted_probs, return_weighted_probs, top_fraction_probs)


@pytest.fixture(scope="module")
def dataset():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 12, size=25)
    n = int(lengths.sum())
    timeouts = np.zeros(n, bool)
    timeouts[np.cumsum(lengths) - 1] = True
    return from_arrays(rng.normal(size=(n, 3)), rng.uniform(-1, 1, (n, 2)),
                       rng.exponential(size=n), np.zeros(n, bool), timeouts,
                       rng.normal(size=(n, 3)))


def trajectories(ds):
    """Python-side split into trajectories, as the authors' split_into_trajectories."""
    obs, rew = np.asarray(ds.observations), np.asarray(ds.rewards)
    ends = np.asarray(ds.terminals | ds.timeouts)
    trajs, cur = [], []
    for t in range(ds.num_transitions):
        cur.append((obs[t], rew[t]))
        if ends[t]:
            trajs.append(cur)
            cur = []
    return trajs


def softmax(x):
    e = np.exp(x - x.max())
    return e / e.sum()


def reference_rw(ds, temp):
    trajs = trajectories(ds)
    rets = np.array([sum(r for _, r in tr) for tr in trajs], np.float64)
    rets = (rets - rets.min()) / (rets.max() - rets.min())
    weights = np.concatenate([[w] * len(tr) for w, tr in zip(rets, trajs)])
    return softmax(weights / temp)


def reference_aw(ds, temp):
    trajs = trajectories(ds)
    rets = np.array([sum(r for _, r in tr) for tr in trajs], np.float64)
    s0 = np.array([tr[0][0] for tr in trajs], np.float64)
    design = np.concatenate([s0, np.ones((len(trajs), 1))], 1)  # LinearRegression: intercept
    v = design @ np.linalg.lstsq(design, rets, rcond=None)[0]
    weights = np.concatenate([[w] * len(tr) for w, tr in zip(rets - v, trajs)])
    weights = (weights - weights.min()) / (weights.max() - weights.min())
    return softmax(weights / temp)


@pytest.mark.parametrize("temp", [0.1, 0.2, 1.0])
def test_return_weighted_matches_reference(dataset, temp):
    np.testing.assert_allclose(return_weighted_probs(dataset, temp), reference_rw(dataset, temp),
                               rtol=2e-4, atol=1e-7)


@pytest.mark.parametrize("temp", [0.1, 1.0])
def test_advantage_weighted_matches_reference(dataset, temp):
    np.testing.assert_allclose(advantage_weighted_probs(dataset, temp),
                               reference_aw(dataset, temp), rtol=2e-3, atol=1e-7)


def test_top_fraction_is_uniform_over_top_trajectories(dataset):
    trajs = trajectories(dataset)
    rets = np.array([sum(r for _, r in tr) for tr in trajs])
    top = set(np.argsort(rets)[::-1][: int(len(trajs) * 0.2)])
    w = np.concatenate([[float(i in top)] * len(tr) for i, tr in enumerate(trajs)])
    np.testing.assert_allclose(top_fraction_probs(dataset, 0.2), w / w.sum(), rtol=1e-5)


def test_temperature_is_traced_and_vmappable(dataset):
    temps = jnp.array([0.1, 0.5, 2.0])
    probs = jax.jit(jax.vmap(return_weighted_probs, in_axes=(None, 0)))(dataset, temps)
    assert probs.shape == (3, dataset.num_transitions)
    for i, t in enumerate([0.1, 0.5, 2.0]):
        np.testing.assert_allclose(probs[i], reference_rw(dataset, t), rtol=2e-4, atol=1e-7)


def test_constant_returns_give_uniform_probabilities():
    n = 10
    ds = from_arrays(np.zeros((n, 1)), np.zeros((n, 1)), np.ones(n),
                     np.array([0, 0, 0, 0, 1] * 2, bool), np.zeros(n, bool), np.zeros((n, 1)))
    np.testing.assert_allclose(return_weighted_probs(ds), np.full(n, 0.1), rtol=1e-6)


def _episodes_dataset(lengths, returns_per_step, obs=None, seed=0):
    rng = np.random.default_rng(seed)
    n = int(np.sum(lengths))
    ends = np.cumsum(lengths) - 1
    timeouts = np.zeros(n, bool)
    timeouts[ends] = True
    rewards = np.repeat(np.asarray(returns_per_step, np.float32), lengths)
    obs = rng.normal(size=(n, 2)) if obs is None else obs
    return from_arrays(obs, rng.uniform(-1, 1, (n, 1)), rewards, np.zeros(n, bool), timeouts,
                       obs)


@pytest.mark.parametrize("lengths, per_step", [
    ([1, 1, 1, 4], [1.0, 2.0, 2.0, 0.5]),   # length-1 episodes and tied returns
    ([7], [1.0]),                            # a single episode
    ([3, 3, 3], [1.0, 1.0, 1.0]),            # all returns tied
])
def test_edge_cases_match_reference_and_jit(lengths, per_step):
    ds = _episodes_dataset(lengths, per_step)
    for fn, ref in ((return_weighted_probs, reference_rw), (advantage_weighted_probs, None)):
        eager = np.asarray(fn(ds, 0.1))
        np.testing.assert_allclose(np.asarray(jax.jit(fn)(ds, 0.1)), eager, rtol=1e-5,
                                   atol=1e-7)
        assert np.isfinite(eager).all() and abs(eager.sum() - 1) < 1e-5
        returns = np.asarray(ds.episode_returns())
        if ref is not None and returns.max() > returns.min():
            np.testing.assert_allclose(eager, ref(ds, 0.1), rtol=2e-4, atol=1e-7)
        if returns.max() == returns.min():  # no signal: uniform, not 0/0
            np.testing.assert_allclose(eager, 1.0 / ds.num_transitions, rtol=1e-5)


def test_duplicate_initial_states_fit_the_mean_return():
    # Every episode starts in the same state: V̂(s0) is the mean return (AW = RW then).
    lengths, per_step = [2, 3, 4], [1.0, 0.0, 3.0]
    obs = np.zeros((9, 2))
    ds = _episodes_dataset(lengths, per_step, obs=obs)
    np.testing.assert_allclose(advantage_weighted_probs(ds, 0.2), return_weighted_probs(ds, 0.2),
                               rtol=1e-4)


def test_weighted_sampling_raises_expert_share_as_the_formula_predicts():
    from jaxrl_suite.data.sampling import sample_indices_weighted, weighted_table

    # A sigma = 10% mixed dataset: 2 high-return episodes of 50 steps, 18 low-return ones.
    lengths = [50] * 20
    per_step = [1.0] * 2 + list(np.random.default_rng(0).uniform(0, 0.3, 18))
    ds = _episodes_dataset(lengths, per_step)
    is_expert = np.repeat(np.arange(20) < 2, 50)
    for fn in (return_weighted_probs, advantage_weighted_probs):
        probs = fn(ds, 0.1)
        predicted = float(np.asarray(probs)[is_expert].sum())
        idx = np.asarray(jax.jit(lambda t, k: sample_indices_weighted(t, k, 100_000))(
            weighted_table(probs), jax.random.PRNGKey(0)))
        share = is_expert[idx].mean()
        assert abs(share - predicted) < 4 * np.sqrt(predicted * (1 - predicted) / 100_000)
        assert share > 0.5 > is_expert.mean()  # up from the uniform 10%


def test_sampling_probs_dispatch(dataset):
    from jaxrl_suite.errors import SuiteError
    from jaxrl_suite.transforms import sampling_probs

    np.testing.assert_allclose(sampling_probs(dataset, "uniform"),
                               np.full(dataset.num_transitions, 1 / dataset.num_transitions))
    np.testing.assert_allclose(sampling_probs(dataset, "rw"), return_weighted_probs(dataset))
    np.testing.assert_allclose(sampling_probs(dataset, "aw", 0.5),
                               advantage_weighted_probs(dataset, 0.5))
    with pytest.raises(SuiteError, match="--sampling"):
        sampling_probs(dataset, "topk")


@pytest.mark.parametrize("scheme, temperature", [("rw", 0.1), ("aw", 0.5), ("rw", 2.0)])
def test_trajectory_mass_is_the_episode_sum_of_transition_probs(dataset, scheme, temperature):
    from jaxrl_suite.transforms import sampling_probs
    from jaxrl_suite.transforms.reweight import trajectory_sampling_mass, trajectory_scores

    mass = trajectory_sampling_mass(dataset, trajectory_scores(dataset, scheme), temperature)
    probs = np.asarray(sampling_probs(dataset, scheme, temperature), np.float64)
    expected = np.bincount(np.asarray(dataset.episode_ids), weights=probs)
    np.testing.assert_allclose(mass, expected, rtol=1e-5, atol=1e-7)
