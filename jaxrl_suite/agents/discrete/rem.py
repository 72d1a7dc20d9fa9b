"""Offline REM, Random Ensemble Mixture (Agarwal et al., 2020), as ml-jku/OfflineRL
``source/agents/rem.py`` and ``source/networks/critic.py::RemCritic``: 200 heads on one torso;
in training every forward pass mixes the heads with fresh alphas ~ U[0, 1)^H / sum; double-Q
target (the online mixture at s' picks a', the target net's mixture of a' is bootstrapped),
Huber loss, Adam lr 1e-4, hard target copy every 100 updates; the greedy action of the mean
over heads acts.

As in that code (RemCritic draws its alphas inside ``forward``), one update draws three
independent mixtures: online at s', target at s', online at s. Agarwal et al. use one mixture
for both the online and target estimates of an update; we keep the authors' code.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import struct

from jaxrl_suite.agents.base import DataSpec, Learner
from jaxrl_suite.agents.discrete.common import (
    OFFLINE_BATCH_SIZE, PAPER_ACTIVATION, PAPER_HIDDEN, QState, bootstrap, check_discrete,
    gradient_step, greedy, huber, init_q_state, take)
from jaxrl_suite.nets.networks import QNetwork


@dataclasses.dataclass(frozen=True)
class REMConfig:
    hidden_sizes: tuple[int, ...] = PAPER_HIDDEN
    activation: str = PAPER_ACTIVATION
    num_heads: int = 200


@struct.dataclass
class REMHParams:
    learning_rate: float = 1e-4
    gamma: float = 0.99
    target_update_period: float = 100.0


def rem_alphas(key: jax.Array, num_heads: int) -> jax.Array:
    """Returns [3, H] convex weights, rows U[0, 1)^H normalised to sum 1: the mixtures of the
    online net at s', the target net at s' and the online net at s."""
    alphas = jax.random.uniform(key, (3, num_heads))
    return alphas / jnp.sum(alphas, axis=-1, keepdims=True)


def mix_heads(heads: jax.Array, alphas: jax.Array) -> jax.Array:
    """Returns sum_h alphas[h] * heads[:, h, :], [B, A], for heads [B, H, A] and alphas [H]."""
    return jnp.einsum("bha,h->ba", heads, alphas)


def rem_loss(heads, next_online, next_target, actions, rewards, terminals, gamma,
             alphas) -> jax.Array:
    """Returns the scalar Huber loss of one batch.

    heads: [B, H, A] online heads at s (the differentiated input); next_online, next_target:
    [B, H, A] online / target heads at s'; actions [B]; rewards, terminals [B]; alphas [3, H]
    (``rem_alphas``).
    """
    next_action = greedy(mix_heads(next_online, alphas[0]))
    target = bootstrap(rewards, terminals, gamma,
                       take(mix_heads(next_target, alphas[1]), next_action))
    current = take(mix_heads(heads, alphas[2]), actions)
    return huber(current - jax.lax.stop_gradient(target))


def make_rem(config: REMConfig = REMConfig()) -> Learner:
    """Returns the offline REM learner."""
    h = config.num_heads

    def network(spec: DataSpec) -> QNetwork:
        return QNetwork(config.hidden_sizes, check_discrete(spec, "rem") * h, config.activation)

    def heads(spec: DataSpec, params, obs):  # [B, H, A], RemCritic's view
        out = network(spec).apply(params, obs)
        return out.reshape(out.shape[:-1] + (h, out.shape[-1] // h))

    def init(key, spec: DataSpec, hparams: REMHParams) -> QState:
        params = network(spec).init(key, jnp.zeros((1,) + spec.observation_shape))
        return init_q_state(params, spec, hparams.learning_rate)

    def update(state: QState, batch, key, hparams: REMHParams):
        spec = state.spec
        alphas = rem_alphas(key, h)
        next_online = heads(spec, state.params, batch.next_observations)
        next_target = heads(spec, state.target_params, batch.next_observations)

        def loss_fn(params):
            q = heads(spec, params, batch.observations)
            return rem_loss(q, next_online, next_target, batch.actions, batch.rewards,
                            batch.terminals, hparams.gamma, alphas), q

        state, loss, q = gradient_step(state, loss_fn, hparams.learning_rate,
                                       hparams.target_update_period)
        return state, {"critic_loss": loss,
                       "q_mean": jnp.mean(take(jnp.mean(q, axis=1), batch.actions))}

    def act(state: QState, obs, key, deterministic: bool = True):
        del key, deterministic
        return greedy(jnp.mean(heads(state.spec, state.params, obs), axis=1))

    return Learner("rem", config, REMHParams(), init, update, act, discrete=True,
                   batch_size=OFFLINE_BATCH_SIZE)
