"""Flow-matching behaviour policies over (chunks of) actions, as Q-chunking and Decoupled
Q-chunking use them (ColinQiyangLi/qc ``agents/acfql.py`` and ``utils/networks.py``; the same
pieces in ColinQiyangLi/dqc), one definition for every chunked learner.

  velocity field  v(s, x, t) = MLP([s, x, t])          (``ActorVectorField``, networks.py:217-260:
                  GELU layers, variance-scaling(1, fan_avg, uniform) kernels, optional LayerNorm
                  after each hidden activation, ``MLP`` lines 64-80)
  BC flow loss    x_0 ~ N(0, I), t ~ U(0, 1), x_t = (1 - t) x_0 + t x_1, target x_1 - x_0:
                  mean over the chunk's valid steps of (v(s, x_t, t) - (x_1 - x_0))^2
                  (acfql.py:63-81; x_1 = the chunk's actions flattened to [h * A])
  Euler sampler   x <- x + v(s, x, i / K) / K for i = 0..K-1 from x = noise, clipped to [-1, 1]
                  (``compute_flow_actions``, acfql.py:208-224; K = ``flow_steps``, static)
  best-of-N       N samples per state, each scored by a critic, the argmax kept
                  (``sample_actions`` "best-of-n", acfql.py:180-204)
"""

from __future__ import annotations

from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

_KERNEL = nn.initializers.variance_scaling(1.0, "fan_avg", "uniform")  # networks.py:8-10


class GeluMLP(nn.Module):
    """QC's ``MLP``: Dense -> GELU (-> LayerNorm) per hidden layer, a linear last layer."""

    hidden_sizes: Sequence[int]
    out: int
    layer_norm: bool = False

    @nn.compact
    def __call__(self, x):
        for size in self.hidden_sizes:
            x = nn.gelu(nn.Dense(size, kernel_init=_KERNEL)(x))
            if self.layer_norm:
                x = nn.LayerNorm()(x)
        return nn.Dense(self.out, kernel_init=_KERNEL)(x)


class VectorField(nn.Module):
    """Returns v(s, x, t) [..., action_size] for observations [..., obs], noisy actions
    [..., action_size] and times [..., 1]."""

    hidden_sizes: Sequence[int]
    action_size: int  # h * A for a chunk of h actions
    layer_norm: bool = False

    @nn.compact
    def __call__(self, obs, actions, times):
        x = jnp.concatenate([obs, actions, times], axis=-1)
        return GeluMLP(self.hidden_sizes, self.action_size, self.layer_norm)(x)


class OneStepPolicy(nn.Module):
    """Returns actions [..., action_size] of observations [..., obs] and noise [..., action_size]
    in one network call: FQL's one-step policy (``actor_onestep_flow``, seohongpark/fql
    ``agents/fql.py`` lines 217-222: an ``ActorVectorField`` called without times), trained
    to match the flow's Euler samples of the same noise and to raise Q."""

    hidden_sizes: Sequence[int]
    action_size: int
    layer_norm: bool = False

    @nn.compact
    def __call__(self, obs, noise):
        x = jnp.concatenate([obs, noise], axis=-1)
        return GeluMLP(self.hidden_sizes, self.action_size, self.layer_norm)(x)


VelocityFn = Callable[[jax.Array, jax.Array, jax.Array], jax.Array]  # (obs, x, t) -> v
ScoreFn = Callable[[jax.Array, jax.Array], jax.Array]  # (obs [.., N, o], a [.., N, d]) -> [.., N]


def flow_matching_loss(velocity: VelocityFn, obs: jax.Array, actions: jax.Array,
                       key: jax.Array, step_weights: jax.Array | None = None,
                       horizon: int = 1) -> jax.Array:
    """Returns the BC flow-matching loss of ``velocity`` on (obs [B, o], actions [B, h * A]).

    ``step_weights`` [B, h] (e.g. a chunk's ``valid`` flags) weight each step's squared
    error; the mean runs over B x h x A, as QC's loss (invalid steps count as zeros)."""
    noise_key, time_key = jax.random.split(key)
    x0 = jax.random.normal(noise_key, actions.shape, actions.dtype)
    t = jax.random.uniform(time_key, (actions.shape[0], 1), actions.dtype)
    error = jnp.square(velocity(obs, (1.0 - t) * x0 + t * actions, t) - (actions - x0))
    if step_weights is not None:
        error = error.reshape(actions.shape[0], horizon, -1) * step_weights[..., None]
    return jnp.mean(error)


def euler_sample(velocity: VelocityFn, obs: jax.Array, noise: jax.Array,
                 flow_steps: int) -> jax.Array:
    """Returns actions in [-1, 1] [..., d]: ``flow_steps`` Euler steps of ``velocity`` from
    ``noise`` [..., d] at observations [..., o] (``flow_steps`` static)."""
    x = noise
    for i in range(flow_steps):
        t = jnp.full(x.shape[:-1] + (1,), i / flow_steps, x.dtype)
        x = x + velocity(obs, x, t) / flow_steps
    return jnp.clip(x, -1.0, 1.0)


def best_of_n(velocity: VelocityFn, score: ScoreFn, obs: jax.Array, key: jax.Array,
              action_size: int, num_samples: int, flow_steps: int) -> jax.Array:
    """Returns [B, action_size]: of ``num_samples`` flow samples per observation [B, o], the one
    ``score`` (a critic, aggregated over its ensemble by the caller) rates highest."""
    noise = jax.random.normal(key, obs.shape[:-1] + (num_samples, action_size), obs.dtype)
    tiled = jnp.repeat(obs[..., None, :], num_samples, axis=-2)
    samples = euler_sample(velocity, tiled, noise, flow_steps)  # [B, N, d]
    best = jnp.argmax(score(tiled, samples), axis=-1)  # [B]
    return jnp.take_along_axis(samples, best[..., None, None], axis=-2)[..., 0, :]
