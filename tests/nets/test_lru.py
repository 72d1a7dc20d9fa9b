"""NEUBAY's stacked LRU (nets/lru.py) against a slow NumPy loop of its recurrence with resets,
and the properties rollouts rely on: one call equals the same tape in pieces or step by step,
a reset cuts the past, padding leaves the state alone, vmap equals a loop, grads flow, and the
init has the authors' statistics (twni2016/neubay memory/lru.py:49-62, 93-116)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_suite.nets.lru import (LAYER_NORM_EPS, LRUConfig, StackedLRU, gamma_log_from,
                                  initial_state, lru_eigenvalues)

CONFIG = LRUConfig(d_model=8, d_hidden=4, n_layers=2, r_min=0.0, r_max=0.9)
T = 40
RTOL, ATOL = 2e-4, 2e-5  # float32 against complex128


def tape(seed, steps=T, reset_prob=0.15):
    """Returns (x [steps, d_model], start [steps] bool, state [n_layers, d_hidden] complex64):
    random inputs, random episode starts, a random (non-zero) incoming state."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(steps, CONFIG.d_model)).astype(np.float32)
    start = rng.random(steps) < reset_prob
    state = (rng.normal(size=(CONFIG.n_layers, CONFIG.d_hidden))
             + 1j * rng.normal(size=(CONFIG.n_layers, CONFIG.d_hidden))).astype(np.complex64)
    return x, start, state


@pytest.fixture(scope="module")
def model():
    return StackedLRU(CONFIG)


@pytest.fixture(scope="module")
def params(model):
    """Initialised parameters, every leaf then perturbed so that LayerNorm's scale and bias
    (ones and zeros at init) take part in the reference comparison."""
    x, start, state = tape(0, steps=3)
    variables = jax.jit(model.init)(jax.random.PRNGKey(0), x, start, state)
    leaves, treedef = jax.tree.flatten(variables["params"])
    keys = jax.random.split(jax.random.PRNGKey(1), len(leaves))
    leaves = [leaf + 0.1 * jax.random.normal(k, leaf.shape) for leaf, k in zip(leaves, keys)]
    return jax.tree.unflatten(treedef, leaves)


@pytest.fixture(scope="module")
def apply(model):
    """Jitted (params, x [T, d], start [T], state[, valid]) -> (y, new_state)."""
    return jax.jit(lambda p, x, start, state, valid=None:
                   model.apply({"params": p}, x, start, state, valid))


@pytest.fixture(scope="module")
def apply_batch(model):
    """Jitted apply vmapped over tapes: x [B, T, d], start [B, T], state [B, L, H]."""
    return jax.jit(jax.vmap(lambda p, x, start, state, valid=None:
                            model.apply({"params": p}, x, start, state, valid),
                            in_axes=(None, 0, 0, 0, 0)))


def gelu_tanh(x):
    """jax.nn.gelu's default (approximate=True) formula."""
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def reference_stack(params, x, start, state, valid=None):
    """Returns (y [T, d_model], new_state [n_layers, d_hidden]) of the SequenceLayer stack by an
    obvious per-step loop in float64 / complex128."""
    p = jax.tree.map(lambda v: np.asarray(v, np.float64), params)
    valid = np.ones(len(x), bool) if valid is None else valid
    x = np.asarray(x, np.float64)
    new_state = []
    for i in range(CONFIG.n_layers):
        layer = p[f"layer_{i}"]
        lru = layer["lru"]
        lam = np.exp(-np.exp(lru["nu_log"]) + 1j * np.exp(lru["theta_log"]))
        b_norm = (lru["B_re"] + 1j * lru["B_im"]) * np.exp(lru["gamma_log"])[:, None]
        c = lru["C_re"] + 1j * lru["C_im"]
        h = np.asarray(state[i], np.complex128)
        out = np.empty_like(x)
        for t in range(len(x)):
            u = (x[t] - x[t].mean()) / np.sqrt(x[t].var() + LAYER_NORM_EPS)
            u = u * layer["norm"]["scale"] + layer["norm"]["bias"]
            if valid[t]:
                if start[t]:
                    h = np.zeros_like(h)
                h = lam * h + b_norm @ u
            z = gelu_tanh((c @ h).real + lru["D"] * u)
            glu = ((z @ layer["out1"]["kernel"] + layer["out1"]["bias"])
                   * sigmoid(z @ layer["out2"]["kernel"] + layer["out2"]["bias"]))
            out[t] = x[t] + glu
        x = out
        new_state.append(h)
    return x, np.stack(new_state)


@pytest.mark.parametrize("seed", [1, 2])
def test_associative_scan_matches_numpy_loop_with_resets(params, apply, seed):
    x, start, state = tape(seed)
    start[0] = seed == 2  # one tape ignores its incoming state from the first step
    y, new_state = apply(params, x, start, state)
    y_ref, state_ref = reference_stack(params, x, start, state)
    assert y.dtype == jnp.float32 and new_state.dtype == jnp.complex64
    assert y.shape == (T, CONFIG.d_model) and new_state.shape == (CONFIG.n_layers, CONFIG.d_hidden)
    np.testing.assert_allclose(y, y_ref, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(new_state, state_ref, rtol=RTOL, atol=ATOL)


def test_padding_steps_match_numpy_loop_and_leave_state_unchanged(params, apply):
    x, start, state = tape(3)
    valid = np.random.default_rng(3).random(T) < 0.7
    valid[-5:] = False  # a right-padded tail: the state after the last real step comes out
    y, new_state = apply(params, x, start, state, valid)
    y_ref, state_ref = reference_stack(params, x, start, state, valid)
    np.testing.assert_allclose(y, y_ref, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(new_state, state_ref, rtol=RTOL, atol=ATOL)


def test_one_call_equals_pieces_and_single_steps(params, apply):
    x, start, state = tape(4)
    y_full, state_full = apply(params, x, start, state)

    pieces, s = [], state
    for lo, hi in zip([0, 7, 19, 20, 33], [7, 19, 20, 33, T]):
        y, s = apply(params, x[lo:hi], start[lo:hi], s)
        pieces.append(y)
    np.testing.assert_allclose(np.concatenate(pieces), y_full, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(s, state_full, rtol=RTOL, atol=ATOL)

    steps, s = [], state
    for t in range(T):
        y, s = apply(params, x[t:t + 1], start[t:t + 1], s)
        steps.append(y)
    np.testing.assert_allclose(np.concatenate(steps), y_full, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(s, state_full, rtol=RTOL, atol=ATOL)


def test_reset_makes_later_outputs_independent_of_the_past(params, apply):
    x, start, state = tape(5)
    reset = 17
    start[reset] = True
    x_other, start_other, state_other = tape(6)
    x_other[reset:], start_other[reset:] = x[reset:], start[reset:]
    y, new_state = apply(params, x, start, state)
    y_other, new_state_other = apply(params, x_other, start_other, state_other)
    assert not np.allclose(y[:reset], y_other[:reset])
    np.testing.assert_allclose(y[reset:], y_other[reset:], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(new_state, new_state_other, rtol=1e-6, atol=1e-6)


def test_vmap_over_tapes_equals_loop_of_single_tapes(params, apply, apply_batch):
    tapes = [tape(10 + b) for b in range(3)]
    x, start, state = (np.stack(parts) for parts in zip(*tapes))
    valid = np.ones(start.shape, bool)
    valid[1, 30:] = False  # one right-padded tape
    y, new_state = apply_batch(params, x, start, state, valid)
    for b in range(3):
        y_b, state_b = apply(params, x[b], start[b], state[b], valid[b])
        np.testing.assert_allclose(y[b], y_b, rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(new_state[b], state_b, rtol=RTOL, atol=ATOL)


def test_warm_up_over_padded_histories_then_steps(params, apply, apply_batch):
    """Histories of different lengths padded to one width, warmed up in one vmapped call,
    then stepped with T=1, equal each history and its continuation run alone from zeros."""
    width, lengths, more = 12, [12, 5, 1], 4
    x, start, _ = tape(20, steps=width + more)
    start[:] = False
    cases = []  # (padded x, start, valid) per history
    for n in lengths:
        real = slice(width - n, width)
        # The authors' left padding: zeros with start true throughout, valid everywhere.
        left_x = np.zeros((width, CONFIG.d_model), np.float32)
        left_x[real] = x[real]
        left_start = np.ones(width, bool)
        left_start[real] = start[real]
        left_start[width - n] = True
        cases.append((left_x, left_start, np.ones(width, bool)))
        # Right padding: the same history first, junk after it, masked out by valid.
        right_x = np.full((width, CONFIG.d_model), 7.0, np.float32)
        right_x[:n] = x[real]
        right_start = np.zeros(width, bool)
        right_start[0] = True
        cases.append((right_x, right_start, np.arange(width) < n))
    xs, starts, valids = (np.stack(parts) for parts in zip(*cases))
    states = initial_state(CONFIG, (len(cases),))
    assert states.shape == (len(cases), CONFIG.n_layers, CONFIG.d_hidden)
    assert states.dtype == jnp.complex64
    _, states = apply_batch(params, xs, starts, states, valids)
    outputs = []
    for t in range(width, width + more):
        step_x = np.repeat(x[None, t:t + 1], len(cases), axis=0)
        y, states = apply_batch(params, step_x, np.zeros((len(cases), 1), bool), states,
                                np.ones((len(cases), 1), bool))
        outputs.append(y[:, 0])
    outputs = np.stack(outputs, axis=1)  # [cases, more, d_model]
    for k, n in enumerate(np.repeat(lengths, 2)):
        own_start = start[width - n:].copy()
        own_start[0] = True
        y_ref, state_ref = reference_stack(params, x[width - n:], own_start,
                                           np.zeros((CONFIG.n_layers, CONFIG.d_hidden)))
        np.testing.assert_allclose(outputs[k], y_ref[n:], rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(states[k], state_ref, rtol=RTOL, atol=ATOL)


def test_grads_are_finite_and_reach_every_parameter(params):
    model = StackedLRU(CONFIG)
    x, start, state = tape(7)

    def loss(p):
        y, new_state = model.apply({"params": p}, x, start, state)
        return jnp.sum(y ** 2) + jnp.sum(jnp.abs(new_state) ** 2)

    grads = jax.jit(jax.grad(loss))(params)
    for path, g in jax.tree_util.tree_leaves_with_path(grads):
        assert g.dtype == jnp.float32, path
        assert np.all(np.isfinite(g)), path
        assert np.any(g != 0), path


def test_second_call_with_same_shapes_does_not_retrace(params, model):
    traces = []

    def run(p, x, start, state):
        traces.append(1)
        return model.apply({"params": p}, x, start, state)

    run = jax.jit(run)
    for seed in (8, 9):
        x, start, state = tape(seed, steps=6)
        run(params, x, start, state)
    assert len(traces) == 1


def test_init_statistics_follow_the_authors():
    config = LRUConfig(d_model=256, d_hidden=512, n_layers=2, r_min=0.4, r_max=0.9)
    model = StackedLRU(config)
    params = jax.jit(model.init)(jax.random.PRNGKey(3), jnp.zeros((1, 256)),
                                 jnp.zeros((1,), bool), initial_state(config))["params"]
    layers = [params[f"layer_{i}"] for i in range(config.n_layers)]
    lru = {k: np.concatenate([np.ravel(layer["lru"][k]) for layer in layers])
           for k in layers[0]["lru"]}
    radius = np.abs(np.asarray(lru_eigenvalues(lru["nu_log"], lru["theta_log"])))
    assert radius.min() >= config.r_min - 1e-6 and radius.max() <= config.r_max + 1e-6
    # |lambda|^2 ~ U[r_min^2, r_max^2]: mean 0.485, standard error 0.006 over 1024 draws
    assert abs(np.mean(radius ** 2) - (config.r_min ** 2 + config.r_max ** 2) / 2) < 0.03
    phase = np.exp(lru["theta_log"])
    assert phase.min() >= 0.0 and phase.max() <= config.max_phase
    assert abs(phase.mean() - config.max_phase / 2) < 0.3
    np.testing.assert_allclose(lru["gamma_log"], np.log(np.sqrt(1.0 - radius ** 2)), rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(gamma_log_from(lru["nu_log"], lru["theta_log"]), lru["gamma_log"],
                               rtol=1e-6)  # jitted init against eager: an ulp apart
    for name, std in [("B_re", 1 / math.sqrt(2 * 256)), ("B_im", 1 / math.sqrt(2 * 256)),
                      ("C_re", 1 / math.sqrt(512)), ("C_im", 1 / math.sqrt(512)), ("D", 1.0)]:
        assert abs(lru[name].std() / std - 1.0) < (0.1 if name == "D" else 0.02), name
    bound = 1 / math.sqrt(256)  # equinox.nn.Linear: U(+-1/sqrt(fan_in)), kernel and bias
    for layer in layers:
        for out in ("out1", "out2"):
            for leaf in (layer[out]["kernel"], layer[out]["bias"]):
                assert np.abs(leaf).max() <= bound
            assert abs(np.std(layer[out]["kernel"]) / (bound / math.sqrt(3)) - 1.0) < 0.02
        np.testing.assert_array_equal(layer["norm"]["scale"], 1.0)
        np.testing.assert_array_equal(layer["norm"]["bias"], 0.0)


def test_default_config_is_neubays_d4rl_locomotion_one():
    config = LRUConfig()
    assert (config.d_model, config.d_hidden, config.n_layers) == (256, 128, 2)
    assert (config.r_min, config.r_max, config.max_phase) == (0.0, 0.9, 6.28)
    assert hash(config) == hash(LRUConfig())


@pytest.mark.parametrize("fields", [dict(r_max=1.0), dict(r_min=0.5, r_max=0.4),
                                    dict(r_min=-0.1), dict(d_hidden=0), dict(n_layers=2.0),
                                    dict(max_phase=0.0)])
def test_config_rejects_invalid_values(fields):
    with pytest.raises(ValueError, match="LRUConfig"):
        LRUConfig(**fields)


def test_wrong_shapes_raise_before_tracing_goes_on(params, model):
    x, start, state = tape(11, steps=5)
    for args in [(x[None], start, state), (x, start[:4], state), (x, start, state[0]),
                 (x[:, :3], start, state)]:
        with pytest.raises(ValueError, match="StackedLRU"):
            model.apply({"params": params}, *args)
