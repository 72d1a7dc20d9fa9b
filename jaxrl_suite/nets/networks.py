"""Flax modules shared by the learners: MLP torso, Q-network, critic ensembles (a leading
member axis), tanh-Gaussian and deterministic actors."""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

ACTIVATIONS = {"relu": nn.relu, "selu": nn.selu, "elu": nn.elu, "tanh": nn.tanh, "gelu": nn.gelu}


def check_activation(name: str) -> None:
    """Raises ValueError unless ``name`` is a known activation."""
    if name not in ACTIVATIONS:
        raise ValueError(f"activation: expected one of {sorted(ACTIVATIONS)}, found '{name}'")


class MLP(nn.Module):
    """Returns features [..., hidden_sizes[-1]] (activation after every layer)."""

    hidden_sizes: Sequence[int]
    activation: str = "relu"

    @nn.compact
    def __call__(self, x):
        act = ACTIVATIONS[self.activation]
        for size in self.hidden_sizes:
            x = act(nn.Dense(size)(x))
        return x


class QNetwork(nn.Module):
    """Returns action values [..., num_actions] for observations [..., obs_dim].

    Flax's default Dense init (LeCun normal kernels, zero biases) matches the Dataset
    Perspective code's Critic (Kaiming-normal fan-in 'linear' kernels, zero biases).
    """

    hidden_sizes: Sequence[int]
    num_actions: int
    activation: str = "selu"

    @nn.compact
    def __call__(self, obs):
        return nn.Dense(self.num_actions)(MLP(self.hidden_sizes, self.activation)(obs))


class _StateActionValue(nn.Module):
    hidden_sizes: Sequence[int]
    activation: str

    @nn.compact
    def __call__(self, obs, action):
        x = jnp.concatenate([obs, action], axis=-1)
        return nn.Dense(1)(MLP(self.hidden_sizes, self.activation)(x))[..., 0]


class CriticEnsemble(nn.Module):
    """Returns Q-values [num_critics, ...] of independently initialised critics (one network
    call for all members: the parameters carry a leading member axis)."""

    hidden_sizes: Sequence[int]
    num_critics: int = 2
    activation: str = "relu"

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
        return ensemble(self.hidden_sizes, self.activation)(obs, action)


class TwinCritic(nn.Module):
    """Returns Q-values [2, ...] of two independently initialised critics (TD3, SAC)."""

    hidden_sizes: Sequence[int]
    activation: str = "relu"

    @nn.compact
    def __call__(self, obs, action):
        return CriticEnsemble(self.hidden_sizes, 2, self.activation, name="ensemble")(obs, action)


class StateValue(nn.Module):
    """Returns V(s) [...] for observations [..., obs_dim]."""

    hidden_sizes: Sequence[int]
    activation: str = "relu"

    @nn.compact
    def __call__(self, obs):
        return nn.Dense(1)(MLP(self.hidden_sizes, self.activation)(obs))[..., 0]


class DeterministicActor(nn.Module):
    """Returns actions in [-1, 1]: tanh of a linear head on an MLP (TD3, BC)."""

    hidden_sizes: Sequence[int]
    action_dim: int
    activation: str = "relu"

    @nn.compact
    def __call__(self, obs):
        return jnp.tanh(nn.Dense(self.action_dim)(MLP(self.hidden_sizes, self.activation)(obs)))


LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0


class TanhGaussianActor(nn.Module):
    """Returns (mean [..., A], log_std [..., A]) of the pre-tanh Gaussian, in [-1, 1] units.

    log_std is squashed smoothly into [LOG_STD_MIN, LOG_STD_MAX] (as in CleanRL's SAC).
    """

    hidden_sizes: Sequence[int]
    action_dim: int
    activation: str = "relu"

    @nn.compact
    def __call__(self, obs):
        x = MLP(self.hidden_sizes, self.activation)(obs)
        mean = nn.Dense(self.action_dim)(x)
        log_std = jnp.tanh(nn.Dense(self.action_dim)(x))
        log_std = LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (log_std + 1.0)
        return mean, log_std


def sample_tanh_gaussian(mean, log_std, key):
    """Returns (action in (-1, 1) [..., A], its log-probability [...]) with the tanh correction."""
    pre_tanh = mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape, mean.dtype)
    log_prob = jax.scipy.stats.norm.logpdf(pre_tanh, mean, jnp.exp(log_std))
    # log|d tanh(u)/du| = log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u)), stable for large |u|.
    log_det = 2.0 * (jnp.log(2.0) - pre_tanh - jax.nn.softplus(-2.0 * pre_tanh))
    return jnp.tanh(pre_tanh), jnp.sum(log_prob - log_det, axis=-1)
