"""SSORL proxy labels: the labelled split, the union's layout, and an inverse-dynamics model that
recovers actions on synthetic linear (continuous) and displacement (discrete) dynamics."""

import dataclasses

import distrax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_suite.data import DatasetMeta, from_arrays
from jaxrl_suite.errors import DatasetError
from jaxrl_suite.transforms.labels import (
    InverseDynamicsConfig, idm_inputs, label_error, labelled_episode_indices, labelled_split,
    proxy_label_actions, squashed_gaussian_nll)

# Small and short: the whole file stays within a few tens of seconds on a shared CPU.
# Across 15 (dataset, key) pairs these settings gave errors 4-11% of the constant baseline's.
SMALL = InverseDynamicsConfig(hidden_sizes=(128, 128), batch_size=128, num_steps=1000,
                              eval_every=100, learning_rate=1e-3)


def episodes_dataset(obs, act, nxt, episode_length, meta, rewards=None):
    n = len(obs)
    timeouts = np.zeros(n, bool)
    timeouts[episode_length - 1::episode_length] = True
    rewards = np.random.default_rng(0).normal(size=n) if rewards is None else rewards
    return from_arrays(np.asarray(obs), np.asarray(act), rewards, np.zeros(n, bool), timeouts,
                       np.asarray(nxt), meta=meta)


def linear_dataset(seed, num_episodes=60, length=20, obs_dim=4, action_dim=2):
    """s_{t+1} = A s_t + B a_t + N(0, 0.01^2), actions uniform in [-0.8, 0.8] (bounds ±1).

    B has orthonormal columns: every action direction is equally visible in the state change.
    """
    rng = np.random.default_rng(seed)
    a_mat = 0.9 * np.eye(obs_dim) + rng.normal(0, 0.05, (obs_dim, obs_dim))
    b_mat = np.linalg.qr(rng.normal(0, 1, (obs_dim, action_dim)))[0]
    obs, act, nxt = [], [], []
    for _ in range(num_episodes):
        s = rng.normal(size=obs_dim)
        for _ in range(length):
            a = rng.uniform(-0.8, 0.8, action_dim)
            s_next = a_mat @ s + b_mat @ a + rng.normal(0, 0.01, obs_dim)
            obs.append(s), act.append(a), nxt.append(s_next)
            s = s_next
    meta = DatasetMeta(action_low=(-1.0,) * action_dim, action_high=(1.0,) * action_dim)
    return episodes_dataset(obs, act, nxt, length, meta)


def displacement_dataset(seed, num_episodes=40, length=20, obs_dim=4, num_actions=4):
    """s_{t+1} = 0.9 s_t + M[a_t] + N(0, 0.05^2), actions uniform over 4."""
    rng = np.random.default_rng(seed)
    moves = rng.normal(0, 1, (num_actions, obs_dim))
    obs, act, nxt = [], [], []
    for _ in range(num_episodes):
        s = rng.normal(size=obs_dim)
        for _ in range(length):
            a = rng.integers(num_actions)
            s_next = 0.9 * s + moves[a] + rng.normal(0, 0.05, obs_dim)
            obs.append(s), act.append(a), nxt.append(s_next)
            s = s_next
    return episodes_dataset(obs, np.asarray(act, np.int32), nxt, length,
                            DatasetMeta(num_actions=num_actions))


@pytest.fixture(scope="module")
def linear():
    ds = linear_dataset(0)
    labelled, unlabelled = labelled_split(ds, 0.25, which="lowest_return",
                                          return_threshold=0.5, key=jax.random.key(0))
    result = proxy_label_actions(labelled, unlabelled, jax.random.key(1), SMALL)
    return ds, labelled, unlabelled, result


def returns_dataset(num_episodes=50, length=3):
    """Episodes with distinct returns, in a shuffled order."""
    rng = np.random.default_rng(1)
    per_episode = rng.permutation(num_episodes).astype(np.float32)
    n = num_episodes * length
    rewards = np.repeat(per_episode / length, length)
    return episodes_dataset(rng.normal(size=(n, 2)), rng.uniform(-1, 1, (n, 1)),
                            rng.normal(size=(n, 2)), length, DatasetMeta(), rewards=rewards)


# ---------------------------------------------------------------------------- the split

@pytest.mark.parametrize("seed", range(4))
def test_lowest_return_split_draws_the_share_from_below_the_quantile(seed):
    ds = returns_dataset()
    returns = np.asarray(ds.episode_returns())
    chosen = labelled_episode_indices(ds, 0.1, which="lowest_return", return_threshold=0.5,
                                      key=jax.random.key(seed))
    assert len(chosen) == int(50 * 0.1) == 5
    assert len(np.unique(chosen)) == 5
    lowest_half = np.argsort(returns)[:25]
    assert set(chosen.tolist()) <= set(lowest_half.tolist())


def test_random_split_draws_the_share_from_all_trajectories():
    ds = returns_dataset()
    returns = np.asarray(ds.episode_returns())
    chosen = [labelled_episode_indices(ds, 0.2, which="random", key=jax.random.key(s))
              for s in range(6)]
    assert all(len(c) == 10 and len(np.unique(c)) == 10 for c in chosen)
    above_median = np.concatenate(chosen)[returns[np.concatenate(chosen)] > np.median(returns)]
    assert above_median.size > 0  # not confined to the lowest-return half
    assert len({tuple(c) for c in chosen}) == 6  # the key matters


def test_share_is_capped_by_the_low_return_pool():
    ds = returns_dataset()
    chosen = labelled_episode_indices(ds, 0.6, which="lowest_return", return_threshold=0.3,
                                      key=jax.random.key(0))
    assert len(chosen) == int(50 * 0.3)  # min(int(E * share), int(E * threshold)), as ssorl


def test_split_parts_partition_the_episodes_in_order():
    ds = returns_dataset()
    labelled, unlabelled = labelled_split(ds, 0.1, key=jax.random.key(3))
    chosen = labelled_episode_indices(ds, 0.1, key=jax.random.key(3))
    rest = np.setdiff1d(np.arange(ds.num_episodes), chosen)
    np.testing.assert_array_equal(np.asarray(labelled.episode_returns()),
                                  np.asarray(ds.episode_returns())[chosen])
    np.testing.assert_array_equal(np.asarray(unlabelled.episode_returns()),
                                  np.asarray(ds.episode_returns())[rest])
    assert labelled.num_transitions + unlabelled.num_transitions == ds.num_transitions
    info = labelled.meta.info_dict()
    assert info["labelled_share"] == 0.1 and info["which"] == "lowest_return"
    assert info["action_labels"] == "true"
    assert unlabelled.meta.info_dict()["action_labels"] == "absent"


@pytest.mark.parametrize("kwargs", [dict(labelled_share=0.0), dict(labelled_share=1.0),
                                    dict(labelled_share=0.01), dict(which="best"),
                                    dict(return_threshold=0.0)])
def test_bad_split_settings_are_refused(kwargs):
    with pytest.raises(DatasetError):
        labelled_split(returns_dataset(), **{"labelled_share": 0.1, **kwargs},
                       key=jax.random.key(0))


# ------------------------------------------------------------------------ the IDM pieces

def test_idm_input_pads_the_previous_state_with_a_zero_state_at_episode_starts():
    ds = linear_dataset(1, num_episodes=3, length=4)
    x = np.asarray(idm_inputs(ds, jnp.zeros(4), jnp.ones(4))).reshape(-1, 3, 4)
    obs, nxt = np.asarray(ds.observations), np.asarray(ds.next_observations)
    starts = np.asarray(ds.episode_starts)
    np.testing.assert_array_equal(x[starts, 0], 0.0)
    inside = np.setdiff1d(np.arange(ds.num_transitions), starts)
    np.testing.assert_array_equal(x[inside, 0], obs[inside - 1])
    np.testing.assert_array_equal(x[:, 1], obs)
    np.testing.assert_array_equal(x[:, 2], nxt)
    # Standardised after padding, as ssorl: the padded state becomes -mean / std.
    x = np.asarray(idm_inputs(ds, jnp.full(4, 2.0), jnp.full(4, 4.0))).reshape(-1, 3, 4)
    np.testing.assert_allclose(x[starts, 0], -0.5)


def test_squashed_gaussian_nll_matches_distrax():
    key_m, key_s, key_a = jax.random.split(jax.random.key(0), 3)
    mean = jax.random.normal(key_m, (3,))
    log_std = jax.random.uniform(key_s, (3,), minval=-2, maxval=1)
    a = jax.random.uniform(key_a, (3,), minval=-0.99, maxval=0.99)
    dist = distrax.Transformed(distrax.MultivariateNormalDiag(mean, jnp.exp(log_std)),
                               distrax.Block(distrax.Tanh(), 1))
    np.testing.assert_allclose(squashed_gaussian_nll(mean, log_std, a), -dist.log_prob(a),
                               rtol=1e-5, atol=1e-5)


def test_label_error_is_mse_or_error_rate():
    np.testing.assert_allclose(label_error(jnp.array([[0.0, 1.0]]), jnp.array([[1.0, 1.0]])),
                               0.5)
    np.testing.assert_allclose(label_error(jnp.array([0, 1, 2, 3], jnp.int32),
                                           jnp.array([0, 1, 0, 0], jnp.int32)), 0.5)


# ------------------------------------------------------------------------- proxy labels

def test_union_holds_the_original_transitions_labelled_first(linear):
    ds, labelled, unlabelled, result = linear
    chosen = labelled_episode_indices(ds, 0.25, which="lowest_return", return_threshold=0.5,
                                      key=jax.random.key(0))
    order = np.concatenate([chosen, np.setdiff1d(np.arange(ds.num_episodes), chosen)])
    expected = ds.select_episodes(order)
    union = result.dataset
    for field in ("observations", "next_observations", "rewards", "terminals", "timeouts",
                  "episode_lengths"):
        np.testing.assert_array_equal(np.asarray(getattr(union, field)),
                                      np.asarray(getattr(expected, field)))
    n_lab = labelled.num_transitions
    np.testing.assert_array_equal(result.is_proxy, np.arange(ds.num_transitions) >= n_lab)
    np.testing.assert_array_equal(np.asarray(union.actions)[:n_lab],
                                  np.asarray(expected.actions)[:n_lab])
    np.testing.assert_array_equal(np.asarray(union.actions)[n_lab:],
                                  np.asarray(result.proxy_actions))
    info = union.meta.info_dict()
    assert info["proxy_actions"] is True
    assert info["num_proxy_transitions"] == unlabelled.num_transitions == result.is_proxy.sum()
    assert info["labelled_share"] == 0.25 and info["which"] == "lowest_return"
    assert info["return_threshold"] == 0.5
    assert info["idm_validation_nll"] == pytest.approx(float(result.metrics.best_validation_nll))
    assert "action_labels" not in info
    assert np.all(np.abs(np.asarray(result.proxy_actions)) <= 1.0)  # clipped to the bounds


def test_idm_recovers_continuous_actions_of_linear_dynamics(linear):
    _, labelled, unlabelled, result = linear
    constant = jnp.broadcast_to(jnp.mean(labelled.actions, axis=0), unlabelled.actions.shape)
    error = float(label_error(unlabelled.actions, result.proxy_actions))
    baseline = float(label_error(unlabelled.actions, constant))
    assert error < 0.25 * baseline, (error, baseline)


def test_best_validation_checkpoint_is_kept(linear):
    metrics = linear[3].metrics
    assert metrics.train_loss.shape == (SMALL.num_steps,)
    assert metrics.validation_nll.shape == (SMALL.num_steps // SMALL.eval_every,)
    assert float(metrics.best_validation_nll) == float(jnp.min(metrics.validation_nll))


def test_idm_training_is_seed_deterministic(linear):
    _, labelled, unlabelled, result = linear
    again = proxy_label_actions(labelled, unlabelled, jax.random.key(1), SMALL)
    np.testing.assert_array_equal(np.asarray(again.proxy_actions),
                                  np.asarray(result.proxy_actions))
    np.testing.assert_array_equal(np.asarray(again.metrics.validation_nll),
                                  np.asarray(result.metrics.validation_nll))
    other = proxy_label_actions(labelled, unlabelled, jax.random.key(2), SMALL)
    assert not np.array_equal(np.asarray(other.proxy_actions), np.asarray(result.proxy_actions))


def test_categorical_idm_recovers_discrete_actions():
    ds = displacement_dataset(0)
    labelled, unlabelled = labelled_split(ds, 0.2, key=jax.random.key(0))
    config = dataclasses.replace(SMALL, num_steps=300, eval_every=30)
    result = proxy_label_actions(labelled, unlabelled, jax.random.key(1), config)
    assert result.dataset.actions.dtype == jnp.int32
    accuracy = 1.0 - float(label_error(unlabelled.actions, result.proxy_actions))
    assert accuracy > 0.8, accuracy  # chance: 0.25


def test_proxy_label_refuses_a_single_labelled_trajectory():
    ds = linear_dataset(2, num_episodes=5, length=3)
    with pytest.raises(DatasetError, match="at least 2 labelled"):
        proxy_label_actions(ds.select_episodes([0]), ds.select_episodes([1, 2, 3, 4]),
                    jax.random.key(0), SMALL)
