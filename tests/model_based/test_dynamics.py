"""Dynamics ensemble on Pendulum random data: accuracy against a mean baseline, more member
disagreement off the data, elites, log-variance bounds, per-member early stopping, and seeds
vmapped equal to single runs. Small nets, a few seconds per training run."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_suite.data.dataset import from_arrays
from jaxrl_suite.envs.registry import make_env
from jaxrl_suite.errors import DatasetError
from jaxrl_suite.generate.recipes import random_dataset
from jaxrl_suite.model_based import dynamics, penalties

SMALL = dynamics.EnsembleConfig(num_members=5, num_elites=3, hidden_sizes=(64, 64),
                                weight_decays=(2.5e-5, 5e-5, 1e-4), max_epochs=150)
TINY = dynamics.EnsembleConfig(num_members=3, num_elites=2, hidden_sizes=(16, 16),
                               weight_decays=(2.5e-5, 5e-5, 1e-4), batch_size=64,
                               max_epochs=40, patience=2, improvement_threshold=0.1)


@pytest.fixture(scope="module")
def pendulum():
    """Returns (train Dataset [2,000], test Dataset [1,000]) of the random Pendulum policy."""
    env = make_env("Pendulum-v1")
    return (random_dataset(env, jax.random.PRNGKey(0), 2000),
            random_dataset(env, jax.random.PRNGKey(1), 1000))


@pytest.fixture(scope="module")
def trained(pendulum):
    state, metrics = dynamics.train_ensemble(jax.random.PRNGKey(0), pendulum[0], SMALL)
    return state, metrics


def _delta_and_reward(data):
    return np.concatenate([np.asarray(data.next_observations - data.observations),
                           np.asarray(data.rewards)[:, None]], axis=1)


def test_heldout_prediction_error_far_below_mean_baseline(pendulum, trained):
    train, test = pendulum
    state, _ = trained
    means, _ = dynamics.predict(state, test.observations, test.actions)
    prediction = np.asarray(means[state.elites].mean(axis=0))
    truth = _delta_and_reward(test)
    baseline = _delta_and_reward(train).mean(axis=0)  # predict the training mean
    # Next state: s + mean delta is the baseline; reward: the mean reward.
    state_err = np.mean((prediction[:, :-1] - truth[:, :-1]) ** 2)
    state_base = np.mean((baseline[:-1] - truth[:, :-1]) ** 2)
    reward_err = np.mean((prediction[:, -1] - truth[:, -1]) ** 2)
    reward_base = np.mean((baseline[-1] - truth[:, -1]) ** 2)
    print(f"next-state MSE {state_err:.3g} vs baseline {state_base:.3g}; "
          f"reward MSE {reward_err:.3g} vs baseline {reward_base:.3g}")
    assert state_err < 0.01 * state_base
    assert reward_err < 0.2 * reward_base


def test_members_disagree_more_out_of_distribution(pendulum, trained):
    _, test = pendulum
    state, _ = trained
    # Pendulum's data: cos, sin in [-1, 1], angular velocity in [-8, 8], torque in [-2, 2].
    far_obs, far_action = 5.0 * test.observations, 5.0 * test.actions
    key = jax.random.PRNGKey(0)
    _, _, means_in, stds_in = dynamics.step(state, test.observations, test.actions, key)
    _, _, means_out, stds_out = dynamics.step(state, far_obs, far_action, key)
    ratios = {}
    for name in ("ensemble_std", "max_pairwise_diff"):
        fn = penalties.PENALTY_FUNCTIONS[name]
        inside = float(jnp.mean(fn(means_in[..., :-1], stds_in[..., :-1])))
        outside = float(jnp.mean(fn(means_out[..., :-1], stds_out[..., :-1])))
        ratios[name] = outside / inside
        print(f"{name}: in-distribution {inside:.3g}, out-of-distribution {outside:.3g}")
    assert all(r > 5.0 for r in ratios.values()), ratios


def test_elites_are_the_lowest_holdout_members(pendulum, trained):
    train, _ = pendulum
    state, metrics = trained
    mse = np.asarray(state.holdout_mse)
    assert list(np.asarray(state.elites)) == list(np.argsort(mse)[:SMALL.num_elites])
    # Recomputed from the saved parameters on the holdout split, in standardised units.
    idx = np.asarray(metrics.holdout_indices)
    assert len(idx) == SMALL.holdout_size(train.num_transitions) == 400
    means, _ = dynamics.predict_standardized(state, train.observations[idx], train.actions[idx])
    truth = (_delta_and_reward(train)[idx] - state.target_mean) / state.target_std
    recomputed = np.mean((np.asarray(means) - np.asarray(truth)) ** 2, axis=(1, 2))
    np.testing.assert_allclose(recomputed, mse, rtol=1e-4)
    # The saved MSE is one the member reached at some epoch.
    history = np.asarray(metrics.holdout_mse)[: int(metrics.epochs)]
    assert all(np.any(np.isclose(history[:, i], mse[i], rtol=1e-6)) for i in range(len(mse)))


def test_logvar_stays_within_learned_bounds(pendulum, trained):
    _, test = pendulum
    state, _ = trained
    lo, hi = np.asarray(state.min_logvar), np.asarray(state.max_logvar)
    # The bounds are learned: both moved off their initial values.
    assert np.all(hi != SMALL.max_logvar_init) and np.all(lo != SMALL.min_logvar_init)
    assert np.all(lo < hi)
    slack = np.log1p(np.exp(lo - hi))  # the soft bound's largest overshoot above hi
    for scale in (1.0, 100.0):  # on the data, and far enough off it to reach the bounds
        _, logvar = dynamics.predict_standardized(state, scale * test.observations,
                                                  scale * test.actions)
        logvar = np.asarray(logvar)
        # >= rather than >: far off the data softplus underflows onto the bound in float32.
        assert np.all(logvar >= lo) and np.all(logvar <= hi + slack + 1e-6)


def test_step_draws_from_the_masked_member(pendulum, trained):
    _, test = pendulum
    state, _ = trained
    obs, action = test.observations[:200], test.actions[:200]
    non_elite = int(np.setdiff1d(np.arange(SMALL.num_members), np.asarray(state.elites))[0])
    one_hot = jnp.zeros(SMALL.num_members, bool).at[non_elite].set(True)
    next_obs, reward, means, stds = dynamics.step(state, obs, action, jax.random.PRNGKey(1),
                                                  member_mask=one_hot)
    assert next_obs.shape == obs.shape and reward.shape == (200,)
    assert means.shape == stds.shape == (SMALL.num_members, 200, obs.shape[1] + 1)
    sample = jnp.concatenate([next_obs, reward[:, None]], axis=-1)
    z = np.asarray((sample - means[non_elite]) / stds[non_elite])
    assert np.all(np.abs(z) < 6.0)  # a draw from that member's Gaussian
    assert 0.5 < np.std(z) < 1.5


def test_draw_members_returns_the_member_each_sample_came_from():
    # Members 10 apart with zero std: a sample is its member's mean, exactly.
    m, b, d = 5, 4_000, 3
    means = jnp.broadcast_to(10.0 * jnp.arange(m, dtype=jnp.float32)[:, None, None], (m, b, d))
    mask = jnp.array([True, False, True, True, False])
    sample, member = dynamics.draw_members(means, jnp.zeros_like(means), jax.random.PRNGKey(0),
                                           mask)
    member = np.asarray(member)
    np.testing.assert_array_equal(np.asarray(sample), 10.0 * member[:, None].repeat(d, 1))
    counts = np.bincount(member, minlength=m)
    assert counts[1] == counts[4] == 0  # never a masked-out member
    assert np.all(np.abs(counts[[0, 2, 3]] / b - 1 / 3) < 0.03)  # uniform over the others


def test_frozen_members_stop_changing(pendulum):
    train, _ = pendulum
    for per_member in (True, False):
        config = dataclasses.replace(TINY, per_member_stopping=per_member)
        _, metrics = dynamics.train_ensemble(jax.random.PRNGKey(5), train, config)
        epochs = int(metrics.epochs)
        training = np.asarray(metrics.training)[:epochs]
        mse = np.asarray(metrics.holdout_mse)[:epochs]
        if per_member:  # members stop at different epochs
            assert len(set(training.sum(axis=0))) > 1
        else:  # MOPO's joint stopping: every member stops together
            assert np.all(training == training[:, :1])
        for i in range(config.num_members):
            stopped = np.flatnonzero(~training[:, i])
            if stopped.size:  # once stopped, never restarted and never changed
                first = stopped[0]
                assert not training[first:, i].any()
                np.testing.assert_array_equal(mse[first:, i], mse[first - 1, i])
        # Early stopping ended the loop before the budget; unrun epochs are left NaN.
        assert epochs < config.max_epochs
        assert np.all(np.isnan(np.asarray(metrics.train_loss)[epochs:]))


def test_vmapped_seeds_match_single_runs(pendulum):
    train = pendulum[0]
    keys = jax.random.split(jax.random.PRNGKey(5), 2)
    batched = jax.vmap(lambda k: dynamics.train_ensemble(k, train, TINY))(keys)
    for i in range(2):
        single = dynamics.train_ensemble(keys[i], train, TINY)
        seed_i = jax.tree.map(lambda x: x[i], batched)
        print(f"seed {i}: {int(single[1].epochs)} epochs")
        assert int(seed_i[1].epochs) == int(single[1].epochs)
        np.testing.assert_array_equal(np.asarray(seed_i[0].elites), np.asarray(single[0].elites))
        for got, want in zip(jax.tree.leaves(seed_i), jax.tree.leaves(single)):
            np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-4, atol=1e-5)


def test_discrete_or_tiny_datasets_are_rejected():
    n = 20
    discrete = from_arrays(
        observations=np.zeros((n, 3), np.float32), actions=np.zeros((n,), np.int32),
        rewards=np.zeros(n, np.float32), terminals=np.zeros(n, bool),
        timeouts=np.arange(n) == n - 1, next_observations=np.zeros((n, 3), np.float32))
    with pytest.raises(DatasetError, match="continuous actions"):
        dynamics.train_ensemble(jax.random.PRNGKey(0), discrete, TINY)
    tiny = from_arrays(
        observations=np.zeros((3, 3), np.float32), actions=np.zeros((3, 1), np.float32),
        rewards=np.zeros(3, np.float32), terminals=np.zeros(3, bool),
        timeouts=np.arange(3) == 2, next_observations=np.zeros((3, 3), np.float32))
    with pytest.raises(DatasetError, match="holdout"):
        dynamics.train_ensemble(jax.random.PRNGKey(0), tiny, TINY)
