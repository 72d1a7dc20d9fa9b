"""NEUBAY's sequence memory: a stack of Linear Recurrent Units (Orvieto et al., "Resurrecting
Recurrent Neural Networks for Long Sequences", ICML 2023) with episode resets inside a tape, as
Ni et al. 2025 ("Long-Horizon Model-Based Offline RL Without Conservatism") use it for the
actor's and critics' history encoder.

Source: twni2016/neubay (5604bad) ``memory/lru.py``, itself after NicolasZucchet/minimal-LRU
``lru/model.py``. Line numbers below are that file's unless another is named.

One LRU layer (``LRU``, lru.py:65-155), complex diagonal recurrence on a d_hidden state::

    lambda = exp(-exp(nu_log) + i exp(theta_log))                     (lru.py:120)
    B_norm = (B_re + i B_im) * exp(gamma_log)[:, None]                (lru.py:121-123)
    h_t    = lambda * h_{t-1} + B_norm x_t                            (lru.py:126-150)
    y_t    = Re(C h_t) + D * x_t,   C = C_re + i C_im                 (lru.py:124, 153)

initialised as lru.py:49-62, 93-116: |lambda|^2 ~ U[r_min^2, r_max^2] (``nu_log_init``), the
phase ~ U[0, max_phase] with max_phase 6.28 (``theta_log_init``, lru.py:84), gamma_log =
log sqrt(1 - |lambda|^2) (``gamma_log_from``), B_re, B_im ~ N(0, 1 / (2 d_model)), C_re, C_im ~
N(0, 1 / d_hidden), D ~ N(0, 1).

Resets: ``start[t]`` true zeroes the state before step t's input is applied, so h_t = B_norm x_t.
The authors fold a "segment holds a start" flag into the scan's operator, which resets the
earlier carry to the identity (1, 0) (``wrapped_associative_update``, lru.py:22-42; the generic
form memory/module.py:61-84). Zeroing the transition of the start step instead,
``a_t = 0 if start[t] else lambda``, gives the same h_t with the plain linear-recurrence
operator (a_i, b_i) . (a_j, b_j) = (a_j a_i, a_j b_i + b_j) (lru.py:14-19); one
``jax.lax.associative_scan`` computes the whole tape in O(log T) depth. The incoming state
h_{-1} enters as h_t = A_t h_{-1} + b_t with (A_t, b_t) the scanned prefix, the same as the
authors' prepending it as element 0 with transition 1 (lru.py:129-150).

``SequenceLayer`` (lru.py:158-185): pre-LayerNorm, LRU, gelu (tanh approximation, jax's
default), GLU out1(x) * sigmoid(out2(x)), residual skip. ``StackedLRU`` (lru.py:188-225):
n_layers of them, each with its own state; NEUBAY's agents put a Linear+LayerNorm+leaky_relu
block before it (online_rl/ac_modules.py:55, online_rl/common.py:9-23), which is the caller's.

Beyond the authors: ``valid`` (optional, [T] bool) marks padding steps that leave the state
unchanged, so a right-padded history's warm-up ends in the state after its last real step. The
authors left-pad with ``start`` true on every padding step (experience/world_buffer.py:272-280),
which works here unchanged; ``valid`` false on left padding also carries the incoming state
through it.

Layer details matched to the equinox layers the authors build on (equinox is not a
dependency): LayerNorm eps 1e-5 with the plain variance E[(x - mean)^2]
(``equinox.nn.LayerNorm``: ``eps=1e-5``, ``jnp.var``), not flax's 1e-6; out1/out2 kernels and
biases U(+-1/sqrt(d_model)) (``equinox.nn.Linear``), not flax's LeCun normal and zero bias.
Random draws follow flax's per-parameter keys, so values differ from the authors' for one seed;
the distributions are theirs.
"""

from __future__ import annotations

import dataclasses
import math

import flax.linen as nn
import jax
import jax.numpy as jnp

# equinox.nn.LayerNorm's default eps (the authors' eqx.nn.LayerNorm(d_model), lru.py:176).
LAYER_NORM_EPS = 1e-5


@dataclasses.dataclass(frozen=True)
class LRUConfig:
    """Static architecture of a StackedLRU (a flax module attribute: hashable). Defaults are
    NEUBAY's D4RL locomotion values (configs/d4rl_loco/base.yaml:64-69; max_phase lru.py:84)."""

    d_model: int = 256  # input and output width of every layer
    d_hidden: int = 128  # complex state width of every layer
    n_layers: int = 2
    r_min: float = 0.0  # smallest |lambda| at init
    r_max: float = 0.9  # largest |lambda| at init ("this affects stability", base.yaml:69)
    max_phase: float = 6.28  # largest arg(lambda) at init

    def __post_init__(self):
        for name in ("d_model", "d_hidden", "n_layers"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"LRUConfig.{name}: expected a positive int, found {value!r}")
        if not 0.0 <= self.r_min <= self.r_max < 1.0:
            # |lambda| = 1 makes gamma_log = log(0) and the recurrence unstable.
            raise ValueError(f"LRUConfig: expected 0 <= r_min <= r_max < 1, found r_min="
                             f"{self.r_min}, r_max={self.r_max}")
        if not self.max_phase > 0.0:
            raise ValueError(f"LRUConfig.max_phase: expected > 0, found {self.max_phase}")


def initial_state(config: LRUConfig, batch_shape: tuple[int, ...] = ()) -> jax.Array:
    """Returns the zero state, complex64 [*batch_shape, n_layers, d_hidden], of a StackedLRU
    (lru.py:221-225 holds a list of n_layers [*shape, 1, d_hidden]; one stacked array here)."""
    return jnp.zeros((*tuple(batch_shape), config.n_layers, config.d_hidden), jnp.complex64)


def nu_log_init(r_min: float, r_max: float):
    """Returns an initializer of nu_log such that |lambda|^2 = exp(-2 exp(nu_log)) is uniform on
    [r_min^2, r_max^2] (lru.py:49-51)."""
    def init(key, shape, dtype=jnp.float32):
        u = jax.random.uniform(key, shape, dtype)
        return jnp.log(-0.5 * jnp.log(u * (r_max**2 - r_min**2) + r_min**2))
    return init


def theta_log_init(max_phase: float):
    """Returns an initializer of theta_log such that arg(lambda) = exp(theta_log) is uniform on
    [0, max_phase] (lru.py:54-56)."""
    def init(key, shape, dtype=jnp.float32):
        return jnp.log(max_phase * jax.random.uniform(key, shape, dtype))
    return init


def lru_eigenvalues(nu_log: jax.Array, theta_log: jax.Array) -> jax.Array:
    """Returns the complex diagonal lambda = exp(-exp(nu_log) + i exp(theta_log)) (lru.py:120);
    |lambda| < 1 for every real nu_log, so the recurrence is stable by construction."""
    return jnp.exp(-jnp.exp(nu_log) + 1j * jnp.exp(theta_log))


def gamma_log_from(nu_log: jax.Array, theta_log: jax.Array) -> jax.Array:
    """Returns gamma_log = log sqrt(1 - |lambda|^2), the input normalisation that keeps a
    unit-variance input's state at unit variance at init (lru.py:59-62)."""
    return jnp.log(jnp.sqrt(1.0 - jnp.abs(lru_eigenvalues(nu_log, theta_log)) ** 2))


def _normal(stddev: float):
    """Returns an initializer of N(0, stddev^2) draws (lru.py:45-46 divides by a norm)."""
    def init(key, shape, dtype=jnp.float32):
        return stddev * jax.random.normal(key, shape, dtype)
    return init


def _symmetric_uniform(bound: float):
    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -bound, bound)
    return init


def _compose(earlier, later):
    """Returns the composition of two affine maps h -> a h + b, ``earlier`` applied first."""
    a_i, b_i = earlier
    a_j, b_j = later
    return a_j * a_i, a_j * b_i + b_j


def linear_recurrence(lam: jax.Array, inputs: jax.Array, start: jax.Array, valid: jax.Array,
                      h_prev: jax.Array) -> jax.Array:
    """Returns the states h [T, H] of h_t = lambda h_{t-1} + inputs_t from h_{-1} = h_prev,
    with h_{t-1} zeroed where ``start`` and the step skipped (h_t = h_{t-1}) where not ``valid``.

    lam: [H] complex; inputs: [T, H] complex; start, valid: [T] bool; h_prev: [H] complex.
    """
    start, valid = start[:, None], valid[:, None]
    a = jnp.where(start, jnp.zeros_like(lam), lam)  # [T, H]: a start forgets h_{t-1}
    a = jnp.where(valid, a, jnp.ones_like(a))
    b = jnp.where(valid, inputs, jnp.zeros_like(inputs))
    a_prefix, b_prefix = jax.lax.associative_scan(_compose, (a, b))
    return a_prefix * h_prev + b_prefix


class LRU(nn.Module):
    """Returns (y [T, d_model] real, h [T, d_hidden] complex64): one Linear Recurrent Unit over
    a tape (lru.py:65-155)."""

    config: LRUConfig

    @nn.compact
    def __call__(self, x, start, valid, h_prev):
        # x: [T, d_model]; start, valid: [T] bool; h_prev: [d_hidden] complex
        cfg = self.config
        d_model, d_hidden = cfg.d_model, cfg.d_hidden
        # Declaration order fixes each parameter's key; gamma_log's init reads the two before.
        theta_log = self.param("theta_log", theta_log_init(cfg.max_phase), (d_hidden,))
        nu_log = self.param("nu_log", nu_log_init(cfg.r_min, cfg.r_max), (d_hidden,))
        gamma_log = self.param("gamma_log", lambda _: gamma_log_from(nu_log, theta_log))
        # [d_hidden, d_model] and [d_model, d_hidden]: the authors' layouts (lru.py:96-115).
        b_std, c_std = 1.0 / math.sqrt(2 * d_model), 1.0 / math.sqrt(d_hidden)
        b_re = self.param("B_re", _normal(b_std), (d_hidden, d_model))
        b_im = self.param("B_im", _normal(b_std), (d_hidden, d_model))
        c_re = self.param("C_re", _normal(c_std), (d_model, d_hidden))
        c_im = self.param("C_im", _normal(c_std), (d_model, d_hidden))
        d = self.param("D", _normal(1.0), (d_model,))

        lam = lru_eigenvalues(nu_log, theta_log).astype(jnp.complex64)
        b_norm = ((b_re + 1j * b_im) * jnp.exp(gamma_log)[:, None]).astype(jnp.complex64)
        c = (c_re + 1j * c_im).astype(jnp.complex64)
        h = linear_recurrence(lam, x.astype(jnp.complex64) @ b_norm.T, start, valid,
                              h_prev.astype(jnp.complex64))
        y = (h @ c.T).real + d * x
        return y, h


class SequenceLayer(nn.Module):
    """Returns (y [T, d_model], h [T, d_hidden] complex64): x + GLU(gelu(LRU(LayerNorm(x))))
    (lru.py:158-185)."""

    config: LRUConfig

    @nn.compact
    def __call__(self, x, start, valid, h_prev):
        # x: [T, d_model]; start, valid: [T] bool; h_prev: [d_hidden] complex
        bound = 1.0 / math.sqrt(self.config.d_model)  # equinox.nn.Linear's init

        def linear(name):
            return nn.Dense(self.config.d_model, kernel_init=_symmetric_uniform(bound),
                            bias_init=_symmetric_uniform(bound), name=name)

        z = nn.LayerNorm(epsilon=LAYER_NORM_EPS, use_fast_variance=False, name="norm")(x)
        z, h = LRU(self.config, name="lru")(z, start, valid, h_prev)
        z = nn.gelu(z)
        z = linear("out1")(z) * nn.sigmoid(linear("out2")(z))
        return x + z, h


class StackedLRU(nn.Module):
    """Returns (y [T, d_model], new_state complex64 [n_layers, d_hidden]): ``config.n_layers``
    SequenceLayers over one tape (lru.py:188-219), new_state the state after the tape's last
    step (after its last valid step when ``valid`` is given).

    One tape; vmap (``jax.vmap(model.apply, in_axes=(None, 0, 0, 0))``) for a batch, as the
    authors do for rollouts (online_rl/ac_modules.py:100-101). Warm-up then stepping, as
    experience/collector.py:115-150: run the history in one call, then T=1 calls that pass the
    returned state back; a state runs on exactly as one long call would.
    """

    config: LRUConfig = LRUConfig()

    @nn.compact
    def __call__(self, x, start, state, valid=None):
        # x: [T, d_model] float; start: [T] bool (zero the state before step t);
        # state: [n_layers, d_hidden] complex (h_{-1}); valid: [T] bool or None (all valid)
        cfg = self.config
        if x.ndim != 2 or x.shape[-1] != cfg.d_model:
            raise ValueError(f"StackedLRU: expected x [T, {cfg.d_model}] (vmap for a batch), "
                             f"found shape {x.shape}")
        steps = x.shape[0]
        if jnp.shape(start) != (steps,):
            raise ValueError(f"StackedLRU: expected start [{steps}], found shape "
                             f"{jnp.shape(start)}")
        if valid is not None and jnp.shape(valid) != (steps,):
            raise ValueError(f"StackedLRU: expected valid [{steps}], found shape "
                             f"{jnp.shape(valid)}")
        if jnp.shape(state) != (cfg.n_layers, cfg.d_hidden):
            raise ValueError(f"StackedLRU: expected state [{cfg.n_layers}, {cfg.d_hidden}] "
                             f"(initial_state(config)), found shape {jnp.shape(state)}")
        start = jnp.asarray(start).astype(bool)
        valid = jnp.ones((steps,), bool) if valid is None else jnp.asarray(valid).astype(bool)
        new_state = []
        for i in range(cfg.n_layers):
            x, h = SequenceLayer(cfg, name=f"layer_{i}")(x, start, valid, state[i])
            new_state.append(h[-1])
        return x, jnp.stack(new_state)
