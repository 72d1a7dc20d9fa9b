"""Flax modules shared by the learners: MLP torso, Q-network, critic ensembles (a leading
member axis), tanh-Gaussian and deterministic actors; and the parameter initialisations of the
learners' reference code, a static choice of each module (``param_init``):

- ``"flax"``: flax's Dense default, LeCun-normal kernels (variance 1 / fan_in) and zero biases.
- ``"corl"``: the EDAC paper's, as CORL ``algorithms/offline/edac.py`` (6afec90) :219-226 and
  :279-284 and tinkoff-ai/ReBRAC ``src/networks.py`` / ``src/nn.py`` (694385b) have it: hidden
  kernels torch's ``nn.Linear`` default U(+-1/sqrt(fan_in)) (ReBRAC's ``pytorch_init``), hidden
  biases 0.1; a critic's or value's output layer U(+-3e-3), an actor's output heads U(+-1e-3),
  kernel and bias alike.
- ``"orthogonal"``: ikostrikov/implicit_q_learning ``common.py`` (09d7002) :15-16 and ``MLP``:
  orthogonal kernels of scale sqrt(2) in every layer, output layers and the policy's mean head
  included (``policy.py``:39), zero biases (the code base of XQL and f-DVL too).
- ``"jaxcql"``: young-geng/JaxCQL ``JaxCQL/model.py`` (bac4299) ``FullyConnectedNetwork``
  :46-80 (its default, ``orthogonal_init=False``): hidden layers flax's default (as
  ``"flax"``), output layers (a critic's; an actor's heads) kernels
  variance_scaling(1e-2, fan_in, uniform), i.e. U(+-sqrt(0.03 / fan_in)), zero biases: every
  network starts near zero output.
"""

from __future__ import annotations

import math
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxrl_suite.nets.history import EncodeHistory, HistoryEncoder

ACTIVATIONS = {"relu": nn.relu, "selu": nn.selu, "elu": nn.elu, "tanh": nn.tanh, "gelu": nn.gelu}
INITS = ("flax", "corl", "orthogonal", "jaxcql")
JAXCQL_OUTPUT_SCALE = 1e-2  # JaxCQL model.py:75-77 variance_scaling(1e-2, 'fan_in', 'uniform')
# Output-layer bounds of the "corl" initialisation (EDAC paper; CORL edac.py:223-226, 283-284).
CORL_VALUE_BOUND, CORL_POLICY_BOUND, CORL_HIDDEN_BIAS = 3e-3, 1e-3, 0.1


def check_init(name: str) -> None:
    """Raises ValueError unless ``name`` is a known initialisation."""
    if name not in INITS:
        raise ValueError(f"init: expected one of {list(INITS)}, found '{name}'")


def _uniform(bound: float):
    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -bound, bound)
    return init


def orthogonal(scale: float = math.sqrt(2.0)):
    """Returns flax's ``nn.initializers.orthogonal(scale)`` for 2-D kernels, computed without
    LAPACK: the Q of the QR decomposition of the same normal draws, with a positive diagonal of
    R (flax's sign fix), by Gram-Schmidt with re-orthogonalisation. Flax's ``jnp.linalg.qr``
    deadlocked on this CPU when the init was vmapped over 3+ seeds inside the training program
    (jax 0.10.2; 1-2 seeds ran), so the learners use this one; equal to flax's to float
    tolerance (tests/nets/test_inits.py)."""
    def init(key, shape, dtype=jnp.float32):
        rows, cols = math.prod(shape[:-1]), shape[-1]
        tall = (rows, cols) if rows >= cols else (cols, rows)
        a = jax.random.normal(key, tall, jnp.float32)
        k = tall[1]

        def column(j, q):
            mask = (jnp.arange(k) < j).astype(a.dtype)
            v = a[:, j]
            for _ in range(2):  # classical Gram-Schmidt, twice: orthogonal to float precision
                v = v - (q * mask) @ ((q * mask).T @ v)
            return q.at[:, j].set(v / jnp.sqrt(jnp.sum(v * v)))

        q = jax.lax.fori_loop(0, k, column, jnp.zeros_like(a))
        q = q if rows >= cols else q.T
        return (scale * q).reshape(shape).astype(dtype)
    return init


def _torch_kernel(key, shape, dtype=jnp.float32):
    """torch nn.Linear's default kernel: U(+-1 / sqrt(fan_in)), fan_in = shape[0] in flax."""
    return _uniform(1.0 / math.sqrt(shape[0]))(key, shape, dtype)


def dense(features: int, init: str = "flax", layer: str = "hidden") -> nn.Dense:
    """Returns a Dense layer initialised as ``init`` says for a ``layer`` of kind "hidden",
    "value" (a critic's or value's output) or "policy" (an actor's output head)."""
    check_init(init)
    if init == "flax":
        return nn.Dense(features)
    if init == "orthogonal":
        return nn.Dense(features, kernel_init=orthogonal(), bias_init=nn.initializers.zeros)
    if init == "jaxcql":
        if layer == "hidden":
            return nn.Dense(features)
        return nn.Dense(features, kernel_init=nn.initializers.variance_scaling(
            JAXCQL_OUTPUT_SCALE, "fan_in", "uniform"), bias_init=nn.initializers.zeros)
    if layer == "hidden":
        return nn.Dense(features, kernel_init=_torch_kernel,
                        bias_init=nn.initializers.constant(CORL_HIDDEN_BIAS))
    bound = CORL_VALUE_BOUND if layer == "value" else CORL_POLICY_BOUND
    return nn.Dense(features, kernel_init=_uniform(bound), bias_init=_uniform(bound))


def check_activation(name: str) -> None:
    """Raises ValueError unless ``name`` is a known activation."""
    if name not in ACTIVATIONS:
        raise ValueError(f"activation: expected one of {sorted(ACTIVATIONS)}, found '{name}'")


class MLP(nn.Module):
    """Returns features [..., hidden_sizes[-1]] (activation after every layer)."""

    hidden_sizes: Sequence[int]
    activation: str = "relu"
    param_init: str = "flax"

    @nn.compact
    def __call__(self, x):
        act = ACTIVATIONS[self.activation]
        for size in self.hidden_sizes:
            x = act(dense(size, self.param_init)(x))
        return x


class QNetwork(nn.Module):
    """Returns action values [..., num_actions] for observations [..., obs_dim].

    Flax's default Dense init (LeCun normal kernels, zero biases) matches the Dataset
    Perspective code's Critic (Kaiming-normal fan-in 'linear' kernels, zero biases).
    """

    hidden_sizes: Sequence[int]
    num_actions: int
    activation: str = "selu"
    encoder: HistoryEncoder = HistoryEncoder()

    @nn.compact
    def __call__(self, obs):
        obs = EncodeHistory(self.encoder)(obs)
        return nn.Dense(self.num_actions)(MLP(self.hidden_sizes, self.activation)(obs))


class _StateActionValue(nn.Module):
    hidden_sizes: Sequence[int]
    activation: str
    param_init: str = "flax"
    encoder: HistoryEncoder = HistoryEncoder()

    @nn.compact
    def __call__(self, obs, action):
        x = jnp.concatenate([EncodeHistory(self.encoder)(obs), action], axis=-1)
        x = MLP(self.hidden_sizes, self.activation, self.param_init)(x)
        return dense(1, self.param_init, "value")(x)[..., 0]


class CriticEnsemble(nn.Module):
    """Returns Q-values [num_critics, ...] of independently initialised critics (one network
    call for all members: the parameters carry a leading member axis)."""

    hidden_sizes: Sequence[int]
    num_critics: int = 2
    activation: str = "relu"
    param_init: str = "flax"
    encoder: HistoryEncoder = HistoryEncoder()  # one per member

    @nn.compact
    def __call__(self, obs, action):
        ensemble = nn.vmap(
            _StateActionValue,
            variable_axes={"params": 0},
            split_rngs={"params": True},
            in_axes=None,
            out_axes=0,
            axis_size=self.num_critics,
        )
        return ensemble(self.hidden_sizes, self.activation, self.param_init,
                        self.encoder)(obs, action)


class TwinCritic(nn.Module):
    """Returns Q-values [2, ...] of two independently initialised critics (TD3, SAC).
    ``num_critics`` 1 is the same network with one member: ``first_critic`` applies it to the
    first member's parameters alone (TD3's actor reads Q1 only, and a sliced call computes
    one member's products instead of both and discarding one)."""

    hidden_sizes: Sequence[int]
    activation: str = "relu"
    param_init: str = "flax"
    encoder: HistoryEncoder = HistoryEncoder()
    num_critics: int = 2

    @nn.compact
    def __call__(self, obs, action):
        return CriticEnsemble(self.hidden_sizes, self.num_critics, self.activation,
                              self.param_init, self.encoder, name="ensemble")(obs, action)


def first_critic(critic: TwinCritic, params, obs, action):
    """Returns Q1 [...] of a TwinCritic's parameters: equal to ``critic.apply(params, obs,
    action)[0]``, computing only the first member (every leaf of a TwinCritic's parameters
    carries the member axis first)."""
    one = critic.clone(num_critics=1)
    return one.apply(jax.tree.map(lambda x: x[:1], params), obs, action)[0]


class StateValue(nn.Module):
    """Returns V(s) [...] for observations [..., obs_dim]."""

    hidden_sizes: Sequence[int]
    activation: str = "relu"
    param_init: str = "flax"
    encoder: HistoryEncoder = HistoryEncoder()

    @nn.compact
    def __call__(self, obs):
        obs = EncodeHistory(self.encoder)(obs)
        x = MLP(self.hidden_sizes, self.activation, self.param_init)(obs)
        return dense(1, self.param_init, "value")(x)[..., 0]


class DeterministicActor(nn.Module):
    """Returns actions in [-1, 1]: tanh of a linear head on an MLP (TD3, BC)."""

    hidden_sizes: Sequence[int]
    action_dim: int
    activation: str = "relu"
    param_init: str = "flax"
    encoder: HistoryEncoder = HistoryEncoder()

    @nn.compact
    def __call__(self, obs):
        obs = EncodeHistory(self.encoder)(obs)
        x = MLP(self.hidden_sizes, self.activation, self.param_init)(obs)
        return jnp.tanh(dense(self.action_dim, self.param_init, "policy")(x))


LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0


LOG_STD_BOUNDS = ("tanh", "clip", "affine")
# JaxCQL model.py:100-134 (bac4299): log std = multiplier * head + offset, both learned scalars
# starting at 1.0 and -1.0 (conservative_sac_main.py policy_log_std_multiplier/offset), then
# clipped to [-20, 2].
AFFINE_LOG_STD_OFFSET, AFFINE_LOG_STD_RANGE = -1.0, (-20.0, 2.0)


class TanhGaussianActor(nn.Module):
    """Returns (mean [..., A], log_std [..., A]) of the pre-tanh Gaussian, in [-1, 1] units.

    ``log_std_bound`` "tanh": the head's output is squashed smoothly into [LOG_STD_MIN,
    LOG_STD_MAX] (CleanRL's SAC; a zero output is log std -1.5); "clip": clipped to that range
    (CORL's edac.py:241; a zero output is log std 0, i.e. the initial std 1 of its near-zero
    head init); "affine": JaxCQL's, multiplier * head + offset with both learned (parameters
    ``log_std_multiplier``, ``log_std_offset``, starting at 1 and -1), clipped to [-20, 2] (a
    zero output is log std -1).
    """

    hidden_sizes: Sequence[int]
    action_dim: int
    activation: str = "relu"
    param_init: str = "flax"
    log_std_bound: str = "tanh"
    encoder: HistoryEncoder = HistoryEncoder()

    @nn.compact
    def __call__(self, obs):
        if self.log_std_bound not in LOG_STD_BOUNDS:
            raise ValueError(f"log_std_bound: expected one of {list(LOG_STD_BOUNDS)}, found "
                             f"'{self.log_std_bound}'")
        obs = EncodeHistory(self.encoder)(obs)
        x = MLP(self.hidden_sizes, self.activation, self.param_init)(obs)
        mean = dense(self.action_dim, self.param_init, "policy")(x)
        log_std = dense(self.action_dim, self.param_init, "policy")(x)
        if self.log_std_bound == "clip":
            return mean, jnp.clip(log_std, LOG_STD_MIN, LOG_STD_MAX)
        if self.log_std_bound == "affine":
            scale = self.param("log_std_multiplier", nn.initializers.ones, ())
            offset = self.param("log_std_offset", nn.initializers.constant(
                AFFINE_LOG_STD_OFFSET), ())
            return mean, jnp.clip(scale * log_std + offset, *AFFINE_LOG_STD_RANGE)
        log_std = LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (jnp.tanh(log_std) + 1.0)
        return mean, log_std


def sample_tanh_gaussian(mean, log_std, key):
    """Returns (action in (-1, 1) [..., A], its log-probability [...]) with the tanh correction."""
    pre_tanh = mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape, mean.dtype)
    log_prob = jax.scipy.stats.norm.logpdf(pre_tanh, mean, jnp.exp(log_std))
    # log|d tanh(u)/du| = log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u)), stable for large |u|.
    log_det = 2.0 * (jnp.log(2.0) - pre_tanh - jax.nn.softplus(-2.0 * pre_tanh))
    return jnp.tanh(pre_tanh), jnp.sum(log_prob - log_det, axis=-1)
