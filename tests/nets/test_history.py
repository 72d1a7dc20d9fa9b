"""History encoders against slow NumPy references: the frame stack, and the GRU run over the
real steps of each window only (flax GRUCell's equations written out by hand)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_suite.nets.history import EncodeHistory, HistoryEncoder, history_encoder
from jaxrl_suite.nets.networks import DeterministicActor, TwinCritic


def windows(seed, batch=5, k=4, dim=3):
    """Random windows [batch, k, dim + 1]: row b has b % k padded steps before its real ones;
    padded entries hold junk (as after observation normalisation) that must not matter."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch, k, dim)).astype(np.float32)
    flags = np.ones((batch, k, 1), np.float32)
    for b in range(batch):
        flags[b, : b % k] = 0.0
    return np.concatenate([x, flags], axis=-1)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def reference_gru(params, window):
    """Runs flax's GRUCell equations over the window's real steps, from a zero state."""
    p = {name: {k: np.asarray(v, np.float64) for k, v in layer.items()}
         for name, layer in params.items()}
    h = np.zeros(p["hn"]["kernel"].shape[0])
    for step in window:
        if step[-1] == 0:
            continue
        x = step[:-1].astype(np.float64)
        r = sigmoid(x @ p["ir"]["kernel"] + p["ir"]["bias"] + h @ p["hr"]["kernel"])
        z = sigmoid(x @ p["iz"]["kernel"] + p["iz"]["bias"] + h @ p["hz"]["kernel"])
        n = np.tanh(x @ p["in"]["kernel"] + p["in"]["bias"]
                    + r * (h @ p["hn"]["kernel"] + p["hn"]["bias"]))
        h = (1.0 - z) * n + z * h
    return h


@pytest.fixture(scope="module")
def gru():
    module = EncodeHistory(HistoryEncoder("gru", 6))
    params = module.init(jax.random.PRNGKey(0), jnp.zeros((1, 4, 4)))
    return module, params, jax.jit(module.apply)


def test_gru_encoder_equals_the_gru_run_over_real_steps_only(gru):
    module, params, apply = gru
    w = windows(0)
    got = np.asarray(apply(params, w))
    cell = params["params"]["_MaskedGRU_0"]["GRUCell_0"]
    want = np.stack([reference_gru(cell, row) for row in w])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # Junk in the padded entries changes nothing.
    junk = w.copy()
    junk[..., :-1] += 100.0 * (1.0 - junk[..., -1:])
    np.testing.assert_allclose(np.asarray(apply(params, junk)), got, rtol=1e-6, atol=1e-7)


def test_gru_encoder_keeps_leading_axes(gru):
    _, params, apply = gru
    w = windows(1, batch=6)
    flat = np.asarray(apply(params, w))
    np.testing.assert_allclose(np.asarray(apply(params, w.reshape(2, 3, 4, 4))),
                               flat.reshape(2, 3, 6), rtol=1e-6, atol=1e-7)


def test_stack_encoder_is_the_flattened_window_with_padding_zeroed():
    w = windows(2)
    out = np.asarray(EncodeHistory(HistoryEncoder("stack")).apply({}, w))
    want = w.copy()
    want[..., :-1] *= want[..., -1:]
    np.testing.assert_array_equal(out, want.reshape(5, -1))


def test_no_encoder_is_the_identity_and_adds_no_parameters():
    obs = jnp.ones((2, 3))
    np.testing.assert_array_equal(np.asarray(EncodeHistory().apply({}, obs)), np.asarray(obs))
    params = DeterministicActor((8,), 2).init(jax.random.PRNGKey(0), obs)
    assert set(params["params"]) == {"MLP_0", "Dense_0"}


def test_every_critic_member_holds_its_own_encoder():
    critic = TwinCritic((8,), encoder=HistoryEncoder("gru", 5))
    w = windows(3, batch=2)
    params = critic.init(jax.random.PRNGKey(0), w, jnp.zeros((2, 1)))
    kernel = params["params"]["ensemble"]["Vmap_StateActionValue_0"]["EncodeHistory_0"][
        "_MaskedGRU_0"]["GRUCell_0"]["iz"]["kernel"]
    assert kernel.shape == (2, 3, 5) and not np.allclose(kernel[0], kernel[1])
    assert critic.apply(params, w, jnp.zeros((2, 1))).shape == (2, 2)


def test_unknown_encoder_and_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="history_encoder"):
        history_encoder("lstm")
    with pytest.raises(ValueError, match="history_hidden"):
        history_encoder("gru", 0)
    with pytest.raises(ValueError, match="windows"):
        EncodeHistory(HistoryEncoder("stack")).apply({}, jnp.ones((3,)))
