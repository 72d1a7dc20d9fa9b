"""NEUBAY's dynamics ensemble (``dynamics.neubay_ensemble_config``) against NumPy transcriptions
of the authors' code (twni2016/neubay ``offline_world/modules.py`` ContModel, Scaler and
soft_clamp; ``losses.py`` get_train_loss, get_mse_and_unc): the loss, the LayerNorm + leaky_relu
network with its clamped log-std, the obs_scaled frame through ``predict``, joint early
stopping, vmapped seeds; the default (MOPO) path's network and loss unchanged; and the on-disk
ensemble cache (``model_based.cache``). Pendulum random data, 300 transitions, 6 members of
16 x 16: one training compile shared by the module."""

import dataclasses
import json
import math
import re
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_suite.data.dataset import from_arrays
from jaxrl_suite.envs.registry import make_env
from jaxrl_suite.generate.recipes import random_dataset
from jaxrl_suite.model_based import cache, dynamics

# The authors' settings at a test's size; threshold 0.2 and patience 2 so that joint early
# stopping ends the run (at about 20 epochs) before the budget.
CONFIG = dynamics.neubay_ensemble_config(6, 4, max_epochs=40, hidden_sizes=(16, 16),
                                         batch_size=64, patience=2, improvement_threshold=0.2)
OBS_DIM, ACT_DIM = 3, 1  # Pendulum
MIN_LOGSTD, MAX_LOGSTD = -5.0, 0.25  # modules.py l. 215-216


@pytest.fixture(scope="module")
def data():
    return random_dataset(make_env("Pendulum-v1"), jax.random.PRNGKey(0), 300)


@pytest.fixture(scope="module")
def trained(data):
    state, metrics = dynamics.train_ensemble(jax.random.PRNGKey(0), data, CONFIG)
    return state, metrics


# --- NumPy transcriptions of the authors' code, float64, one member at a time ---------------

def _softplus(x):
    return np.logaddexp(0.0, x)


def np_soft_clamp(x, lo, hi):  # modules.py l. 62-74
    x = hi - _softplus(hi - x)
    return lo + _softplus(x - lo)


def _member(params, i):
    return jax.tree.map(lambda p: np.asarray(p[i], np.float64), params)["params"]


def np_cont_model(member, x, obs_dim=OBS_DIM):
    """Returns (mu, sigma) of ContModel.__call__ (modules.py l. 240-259) for normalised inputs
    x [B, I]: blocks Linear -> LayerNorm (eps 1e-5) -> leaky_relu (l. 77-100), mu the delta plus
    the normalised obs, log-sigma soft-clamped. Our output Dense holds both heads (D each)."""
    h = x
    layer = 0
    while f"hidden_{layer}" in member:
        h = h @ member[f"hidden_{layer}"]["kernel"] + member[f"hidden_{layer}"]["bias"]
        mean = h.mean(-1, keepdims=True)
        var = ((h - mean) ** 2).mean(-1, keepdims=True)
        h = (h - mean) / np.sqrt(var + 1e-5) * member[f"norm_{layer}"]["scale"] \
            + member[f"norm_{layer}"]["bias"]
        h = np.where(h >= 0, h, 0.01 * h)
        layer += 1
    out = h @ member["output"]["kernel"] + member["output"]["bias"]
    d = out.shape[-1] // 2
    delta_mu, raw_logsigma = out[:, :d], out[:, d:]
    mu = np.concatenate([delta_mu[:, :-1] + x[:, :obs_dim], delta_mu[:, -1:]], axis=-1)
    return mu, np.exp(np_soft_clamp(raw_logsigma, MIN_LOGSTD, MAX_LOGSTD))


def np_neubay_nll(params, x, y_theirs):
    """Returns get_train_loss (losses.py l. 42-52): the NLL's mean over members, batch, dims."""
    terms = []
    for i in range(x.shape[0]):
        mu, sigma = np_cont_model(_member(params, i), x[i])
        terms.append(0.5 * np.log(2 * np.pi) + np.log(sigma)
                     + 0.5 * ((y_theirs[i] - mu) / sigma) ** 2)
    return float(np.mean(terms))


def _random_params(key, config, scale=0.3):
    # Initial parameters plus noise, so that LayerNorm's scale and bias are not 1 and 0.
    params = dynamics.init_members(key, config, OBS_DIM + ACT_DIM, OBS_DIM + 1)
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.PRNGKey(7), len(leaves))
    return jax.tree.unflatten(tree, [p + scale * jax.random.normal(k, p.shape)
                                     for p, k in zip(leaves, keys)])


def _bounds(config, out_dim=OBS_DIM + 1):
    return dynamics.LogVarBounds(jnp.full((out_dim,), config.max_logvar_init),
                                 jnp.full((out_dim,), config.min_logvar_init))


# --- the configuration -----------------------------------------------------------------------

def test_preset_holds_the_authors_settings():
    c = dynamics.neubay_ensemble_config()
    assert (c.num_members, c.num_elites, c.hidden_sizes) == (128, 100, (200,) * 4)
    assert (c.patience, c.improvement_threshold, c.batch_size, c.learning_rate) == (
        5, 0.01, 256, 1e-3)
    assert c.decoupled_weight_decay == 5e-5 and not any(c.weight_decays)
    assert (c.activation, c.layer_norm, c.weight_init) == ("leaky_relu", True, "uniform_fan_in")
    assert (c.noise_head, c.min_logstd, c.max_logstd, c.loss) == (
        "logstd", -5.0, 0.25, "gaussian_nll")
    assert (c.target_frame, c.bootstrap, c.per_member_stopping, c.best_from_init) == (
        "obs_scaled", False, False, True)
    assert c.holdout_size(10_000) == 1000 and c.holdout_size(1000) == 200


def test_bad_options_raise_naming_the_field():
    with pytest.raises(ValueError, match=r"EnsembleConfig\.activation: expected one of"):
        dynamics.EnsembleConfig(activation="relu")
    with pytest.raises(ValueError, match=r"EnsembleConfig\.target_frame"):
        dynamics.EnsembleConfig(target_frame="next_obs")
    with pytest.raises(ValueError, match=r"EnsembleConfig\.logvar_bound_coef: expected 0"):
        dynamics.EnsembleConfig(noise_head="logstd")
    with pytest.raises(ValueError, match=r"EnsembleConfig\.min_logstd"):
        dynamics.neubay_ensemble_config(min_logstd=1.0)
    with pytest.raises(ValueError, match=r"unknown EnsembleConfig fields \['hidden'\]"):
        dynamics.neubay_ensemble_config(hidden=64)


# --- a. the loss -------------------------------------------------------------------------------

def test_neubay_loss_equals_numpy_reference_of_the_authors_nll():
    rng = np.random.default_rng(0)
    m, b = CONFIG.num_members, 32
    params = _random_params(jax.random.PRNGKey(1), CONFIG)
    x = rng.normal(size=(m, b, OBS_DIM + ACT_DIM)).astype(np.float32) * 2.0
    y = rng.normal(size=(m, b, OBS_DIM + 1)).astype(np.float32)  # our frame: obs delta
    loss = jax.jit(dynamics.ensemble_loss, static_argnums=0)(
        CONFIG, params, _bounds(CONFIG), x, y, jnp.ones(m, bool))
    # The authors' frame: the obs target is the normalised s', the net's mean delta + s.
    y_theirs = y.astype(np.float64).copy()
    y_theirs[..., :OBS_DIM] += x[..., :OBS_DIM]
    want = np_neubay_nll(params, x.astype(np.float64), y_theirs)
    print(f"loss {float(loss):.6f} vs NumPy {want:.6f}")
    np.testing.assert_allclose(float(loss), want, rtol=2e-5)


def test_default_config_keeps_mopo_network_and_loss():
    config = dynamics.EnsembleConfig(num_members=3, num_elites=2, hidden_sizes=(8, 8),
                                     weight_decays=(2.5e-5, 5e-5, 1e-4))
    params = _random_params(jax.random.PRNGKey(2), config, scale=0.1)
    assert set(params["params"]) == {"hidden_0", "hidden_1", "output"}  # no LayerNorm
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 16, OBS_DIM + ACT_DIM)).astype(np.float32)
    y = rng.normal(size=(3, 16, OBS_DIM + 1)).astype(np.float32)
    bounds = _bounds(config)
    loss = float(dynamics.ensemble_loss(config, params, bounds, x, y, jnp.ones(3, bool)))
    want = 0.0
    for i in range(3):
        p = _member(params, i)
        h = x[i].astype(np.float64)
        for name in ("hidden_0", "hidden_1"):
            h = h @ p[name]["kernel"] + p[name]["bias"]
            h = h / (1.0 + np.exp(-h))  # swish
        out = h @ p["output"]["kernel"] + p["output"]["bias"]
        mean, lv = out[:, :4], out[:, 4:]
        lv = np_soft_clamp(lv, config.min_logvar_init, config.max_logvar_init)
        want += np.mean((mean - y[i]) ** 2 * np.exp(-lv) + lv)
        want += sum(wd * 0.5 * np.sum(p[n]["kernel"] ** 2)
                    for n, wd in zip(("hidden_0", "hidden_1", "output"), config.weight_decays))
    want += config.logvar_bound_coef * 4 * (config.max_logvar_init - config.min_logvar_init)
    np.testing.assert_allclose(loss, want, rtol=2e-5)


# --- b. the network ---------------------------------------------------------------------------

def test_network_is_layernorm_leaky_relu_with_equinox_init():
    params = dynamics.init_members(jax.random.PRNGKey(3), CONFIG, OBS_DIM + ACT_DIM,
                                   OBS_DIM + 1)["params"]
    assert set(params) == {"hidden_0", "norm_0", "hidden_1", "norm_1", "output"}
    for name, fan_in in (("hidden_0", OBS_DIM + ACT_DIM), ("hidden_1", 16), ("output", 16)):
        lim = 1.0 / math.sqrt(fan_in)
        for leaf in ("kernel", "bias"):  # equinox: both uniform in +-1/sqrt(fan_in)
            w = np.asarray(params[name][leaf])
            assert np.all(np.abs(w) <= lim) and np.max(np.abs(w)) > 0.8 * lim, (name, leaf)
    for i in range(2):
        np.testing.assert_array_equal(np.asarray(params[f"norm_{i}"]["scale"]), 1.0)
        np.testing.assert_array_equal(np.asarray(params[f"norm_{i}"]["bias"]), 0.0)


def test_forward_matches_numpy_and_log_std_stays_in_fixed_bounds(data, trained):
    state, _ = trained
    obs, act = np.asarray(data.observations[:64]), np.asarray(data.actions[:64])
    means, logvar = dynamics.predict_standardized(state, obs, act)
    x = (np.concatenate([obs, act], -1) - np.asarray(state.input_mean)) / np.asarray(
        state.input_std)
    for i in range(CONFIG.num_members):
        mu, sigma = np_cont_model(_member(state.params, i), x.astype(np.float64))
        mu[:, :OBS_DIM] -= x[:, :OBS_DIM]  # back to the delta the net outputs
        np.testing.assert_allclose(np.asarray(means[i]), mu, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(np.asarray(0.5 * logvar[i]), np.log(sigma), rtol=1e-4,
                                   atol=1e-5)
    # The bounds are fixed, not learned.
    np.testing.assert_array_equal(np.asarray(state.max_logvar), 2 * MAX_LOGSTD)
    np.testing.assert_array_equal(np.asarray(state.min_logvar), 2 * MIN_LOGSTD)
    slack = np.log1p(np.exp(MIN_LOGSTD - MAX_LOGSTD))  # the soft clamp's overshoot above max
    for scale in (1.0, 100.0):
        _, lv = dynamics.predict_standardized(state, scale * obs, scale * act)
        logstd = 0.5 * np.asarray(lv)
        assert np.all(logstd >= MIN_LOGSTD) and np.all(logstd <= MAX_LOGSTD + slack + 1e-6)
    # Raw outputs far past either end reach the bounds (LayerNorm keeps the net's own small);
    # above, soft_clamp's second softplus overshoots by softplus(min - max) ~ 0.0052, in the
    # authors' code as here.
    raw = jnp.linspace(-50.0, 50.0, 101)
    logstd = 0.5 * np.asarray(dynamics.bounded_logvar(raw, CONFIG, None, None))
    np.testing.assert_allclose(logstd[[0, -1]], [MIN_LOGSTD, MAX_LOGSTD + slack], atol=1e-5)
    np.testing.assert_allclose(logstd, np_soft_clamp(np.asarray(raw, np.float64), MIN_LOGSTD,
                                                     MAX_LOGSTD), atol=1e-5)
    assert np.all(np.diff(logstd) >= 0)


# --- c. the obs_scaled frame --------------------------------------------------------------------

def test_obs_scaled_predict_matches_the_authors_scaler_round_trip(data, trained):
    state, metrics = trained
    obs, act = np.asarray(data.observations), np.asarray(data.actions)
    train_rows = np.setdiff1d(np.arange(data.num_transitions),
                              np.asarray(metrics.holdout_indices))
    obs_std = np.std(obs[train_rows].astype(np.float64), axis=0)
    rew = np.asarray(data.rewards, np.float64)[train_rows]
    # Scaler (modules.py l. 8-23): the obs target shares the input's obs mean and std.
    np.testing.assert_allclose(np.asarray(state.input_std[:OBS_DIM]), obs_std, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(state.target_std), [*obs_std, rew.std()], rtol=1e-5)
    np.testing.assert_allclose(np.asarray(state.target_mean), [0, 0, 0, rew.mean()],
                               rtol=1e-5, atol=1e-6)
    out_mean = np.concatenate([np.asarray(state.input_mean[:OBS_DIM]), [rew.mean()]])
    out_std = np.asarray(state.target_std, np.float64)

    o, a = obs[:64], act[:64]
    means, stds = dynamics.predict(state, o, a)
    x = (np.concatenate([o, a], -1) - np.asarray(state.input_mean)) / np.asarray(state.input_std)
    for i in range(CONFIG.num_members):
        mu, sigma = np_cont_model(_member(state.params, i), x.astype(np.float64))
        # LearnedContEnv.step (cont_ensemble.py l. 426): inverse_transform_outputs.
        next_and_reward = mu * out_std + out_mean
        want = np.concatenate([next_and_reward[:, :OBS_DIM] - o, next_and_reward[:, -1:]], -1)
        np.testing.assert_allclose(np.asarray(means[i]), want, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(np.asarray(stds[i]), sigma * out_std, rtol=1e-4, atol=1e-6)
    step = dynamics.sample_step(state, o, a, jax.random.PRNGKey(0))
    np.testing.assert_allclose(np.asarray(step.means[..., :OBS_DIM]),
                               np.asarray(means[..., :OBS_DIM]) + o, rtol=1e-6, atol=1e-6)


# --- training: holdout MSE, joint stopping, elites, seeds ---------------------------------------

def test_holdout_mse_and_joint_stopping_follow_the_authors_loop(data, trained):
    state, metrics = trained
    epochs = int(metrics.epochs)
    print(f"{epochs} epochs; holdout MSE {np.round(np.asarray(state.holdout_mse), 4)}")
    assert epochs < CONFIG.max_epochs  # stopped early
    training = np.asarray(metrics.training)[:epochs]
    assert training.all()  # every member trains until all stop together
    history = np.asarray(metrics.holdout_mse)[:epochs]
    best = np.minimum.accumulate(history, axis=0)
    # Stopped because no member beat its saved best by 20% in the last `patience` epochs.
    saved = np.asarray(state.holdout_mse)
    assert np.all(history[-CONFIG.patience:] >= saved * (1 - CONFIG.improvement_threshold))
    assert np.all(saved >= best[-1] - 1e-7)
    # get_mse_and_unc (losses.py l. 28-39) in the authors' frame, on the saved parameters.
    idx = np.asarray(metrics.holdout_indices)
    obs, act = np.asarray(data.observations)[idx], np.asarray(data.actions)[idx]
    x = (np.concatenate([obs, act], -1) - np.asarray(state.input_mean)) / np.asarray(
        state.input_std)
    y = np.concatenate([np.asarray(data.next_observations)[idx],
                        np.asarray(data.rewards)[idx, None]], -1)
    out_mean = np.concatenate([np.asarray(state.input_mean[:OBS_DIM]),
                               np.asarray(state.target_mean[-1:])])
    y = (y - out_mean) / np.asarray(state.target_std)
    mse = [np.mean((y - np_cont_model(_member(state.params, i), x)[0]) ** 2)
           for i in range(CONFIG.num_members)]
    np.testing.assert_allclose(saved, mse, rtol=1e-4)
    assert list(np.asarray(state.elites)) == list(np.argsort(saved)[:CONFIG.num_elites])


def test_vmapped_seeds_match_single_runs(data, trained):
    keys = jnp.stack([jax.random.PRNGKey(0), jax.random.PRNGKey(1)])
    batched = jax.vmap(lambda k: dynamics.train_ensemble(k, data, CONFIG))(keys)
    singles = [trained, dynamics.train_ensemble(keys[1], data, CONFIG)]
    for i, single in enumerate(singles):
        seed_i = jax.tree.map(lambda x: x[i], batched)
        assert int(seed_i[1].epochs) == int(single[1].epochs)
        for got, want in zip(jax.tree.leaves(seed_i), jax.tree.leaves(single)):
            np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-4, atol=1e-5)


# --- e. the cache ---------------------------------------------------------------------------

class _Trained(Exception):
    pass


def _no_training(*args, **kwargs):
    raise _Trained("train_ensemble was called")


@pytest.fixture(scope="module")
def cached(data, tmp_path_factory):
    """Returns (cache_dir, state, metrics, log lines) after one call that trained and saved."""
    cache_dir = tmp_path_factory.mktemp("dynamics_cache")
    lines = []
    state, metrics, loaded = cache.load_or_train_ensemble(jax.random.PRNGKey(0), data, CONFIG,
                                                          cache_dir, log=lines.append)
    assert not loaded and "saved" in lines[-1]
    return cache_dir, state, metrics, lines


def test_second_call_loads_equal_arrays_without_training(data, cached, monkeypatch):
    cache_dir, state, metrics, _ = cached
    monkeypatch.setattr(dynamics, "train_ensemble", _no_training)
    lines = []
    # A typed key with the same words finds the same entry.
    got_state, got_metrics, loaded = cache.load_or_train_ensemble(
        jax.random.key(0), data, CONFIG, cache_dir, log=lines.append)
    assert loaded and "loaded" in lines[-1]
    assert got_state.config == CONFIG
    assert jax.tree.structure((got_state, got_metrics)) == jax.tree.structure((state, metrics))
    for got, want in zip(jax.tree.leaves((got_state, got_metrics)),
                         jax.tree.leaves((state, metrics))):
        assert np.asarray(got).dtype == np.asarray(want).dtype
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    entry, = [p for p in cache_dir.iterdir()]
    manifest = json.loads((entry / "manifest.json").read_text())
    assert manifest["dataset_fingerprint"] == data.fingerprint()
    assert manifest["epochs"] == int(metrics.epochs) and manifest["wall_seconds"] > 0
    assert manifest["config"]["num_members"] == CONFIG.num_members


def test_other_config_dataset_or_key_misses_the_cache(data, cached, monkeypatch):
    cache_dir, _, _, _ = cached
    monkeypatch.setattr(dynamics, "train_ensemble", _no_training)
    arrays = data.to_numpy()
    other_data = from_arrays(**{**arrays, "rewards": arrays["rewards"] + 1.0}, meta=data.meta)
    for key, dataset, config in (
            (jax.random.PRNGKey(0), data, dataclasses.replace(CONFIG, max_epochs=41)),
            (jax.random.PRNGKey(0), data, dataclasses.replace(CONFIG, target_frame="delta")),
            (jax.random.PRNGKey(0), other_data, CONFIG),
            (jax.random.PRNGKey(1), data, CONFIG)):
        with pytest.raises(_Trained):
            cache.load_or_train_ensemble(key, dataset, config, cache_dir, log=lambda _: None)
    assert len(list(cache_dir.iterdir())) == 1  # nothing written, nothing left behind


def test_damaged_or_foreign_entries_raise_naming_the_path(data, cached, tmp_path, monkeypatch):
    cache_dir, _, _, _ = cached
    monkeypatch.setattr(dynamics, "train_ensemble", _no_training)
    entry, = [p for p in cache_dir.iterdir()]
    copy = tmp_path / entry.name
    shutil.copytree(entry, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    (copy / "manifest.json").write_text(json.dumps({**manifest, "dataset_fingerprint": "0"}))
    where = re.escape(str(copy))
    with pytest.raises(cache.CacheError, match=f"{where}.*other inputs.*dataset_fingerprint"):
        cache.load_or_train_ensemble(jax.random.PRNGKey(0), data, CONFIG, tmp_path)
    (copy / "manifest.json").write_text(json.dumps(manifest))
    (copy / "arrays" / "_METADATA").write_text("{truncated")  # orbax's tree metadata damaged
    with pytest.raises(cache.CacheError, match=f"{where}.*do not restore"):
        cache.load_or_train_ensemble(jax.random.PRNGKey(0), data, CONFIG, tmp_path)
    (copy / "manifest.json").unlink()
    with pytest.raises(cache.CacheError, match=f"{where}.*manifest.json"):
        cache.load_or_train_ensemble(jax.random.PRNGKey(0), data, CONFIG, tmp_path)


def test_no_cache_dir_trains_and_writes_nothing(data, tmp_path, monkeypatch):
    outputs = (object(), object())
    monkeypatch.setattr(dynamics, "train_ensemble", lambda key, dataset, config: outputs)
    state, metrics, loaded = cache.load_or_train_ensemble(jax.random.PRNGKey(0), data, CONFIG,
                                                          None)
    assert (state, metrics, loaded) == (*outputs, False)
    with pytest.raises(ValueError, match="one PRNG key"):
        cache.load_or_train_ensemble(jax.random.split(jax.random.PRNGKey(0), 2), data, CONFIG,
                                     tmp_path)
