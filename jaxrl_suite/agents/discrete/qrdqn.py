"""Offline QR-DQN (Dabney et al., 2018) as ml-jku/OfflineRL ``source/agents/qrdqn.py`` and
``source/networks/critic.py::QrCritic``: 50 quantiles per action, double-Q target (the online
net's mean over quantiles picks a', the target net's quantiles of a' are bootstrapped),
quantile Huber loss with kappa 1 (torch's SmoothL1Loss), summed over the current quantiles and
averaged over the target ones; Adam lr 1e-4, hard target copy every 100 updates; the greedy
action of the mean over quantiles acts.

That code's loss differs from the paper's in two ways, which ``authors_taus=True`` (default)
keeps: tau_j = j / N (j = 1..N), not the midpoints (2i - 1) / 2N, and tau broadcasts against
the last axis of the [B, N_current, N_target] TD errors, i.e. is indexed by the *target*
quantile, so every current quantile solves the same problem. ``authors_taus=False`` gives
Dabney et al.'s loss: midpoints, indexed by the current quantile.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxrl_suite.agents.base import DataSpec, Learner
from jaxrl_suite.agents.discrete.common import (
    OFFLINE_BATCH_SIZE, PAPER_ACTIVATION, PAPER_HIDDEN, QState, bootstrap, check_discrete,
    gradient_step, greedy, init_q_state, take)
from jaxrl_suite.nets.networks import QNetwork


@dataclasses.dataclass(frozen=True)
class QRDQNConfig:
    hidden_sizes: tuple[int, ...] = PAPER_HIDDEN
    activation: str = PAPER_ACTIVATION
    num_quantiles: int = 50
    authors_taus: bool = True  # see the module docstring


@struct.dataclass
class QRDQNHParams:
    learning_rate: float = 1e-4
    gamma: float = 0.99
    target_update_period: float = 100.0


def quantile_taus(num_quantiles: int, authors: bool = True) -> jax.Array:
    """Returns [N] quantile levels: j / N (the authors' code) or (2i - 1) / 2N (midpoints)."""
    i = jnp.arange(1, num_quantiles + 1, dtype=jnp.float32)
    return i / num_quantiles if authors else (2.0 * i - 1.0) / (2.0 * num_quantiles)


def qrdqn_loss(quantiles, next_online, next_target, actions, rewards, terminals, gamma, taus,
               tau_on_target: bool = True) -> jax.Array:
    """Returns the scalar quantile Huber loss of one batch.

    quantiles: [B, A, N] online quantiles at s (the differentiated input); next_online,
    next_target: [B, A, N] online / target quantiles at s'; actions [B]; rewards, terminals [B];
    taus [N]; tau_on_target: index tau by the target quantile (authors) or the current one.
    """
    next_action = greedy(jnp.mean(next_online, axis=-1))
    target = jax.lax.stop_gradient(
        bootstrap(rewards, terminals, gamma, take(next_target, next_action)))  # [B, N]
    current = take(quantiles, actions)  # [B, N]
    td = target[:, None, :] - current[:, :, None]  # [B, i (current), j (target)]
    tau = taus[None, None, :] if tau_on_target else taus[None, :, None]
    weight = jnp.abs(tau - (jax.lax.stop_gradient(td) < 0).astype(td.dtype))
    return jnp.mean(jnp.sum(weight * optax.huber_loss(td, delta=1.0), axis=1))


def make_qrdqn(config: QRDQNConfig = QRDQNConfig()) -> Learner:
    """Returns the offline QR-DQN learner."""
    n = config.num_quantiles
    taus = quantile_taus(n, config.authors_taus)

    def quantiles(spec: DataSpec, params, obs):  # [B, A, N], QrCritic's reshape
        num_actions = check_discrete(spec, "qrdqn")
        out = QNetwork(config.hidden_sizes, num_actions * n, config.activation).apply(params, obs)
        return out.reshape(out.shape[:-1] + (num_actions, n))

    def init(key, spec: DataSpec, hparams: QRDQNHParams) -> QState:
        net = QNetwork(config.hidden_sizes, check_discrete(spec, "qrdqn") * n, config.activation)
        params = net.init(key, jnp.zeros((1,) + spec.observation_shape))
        return init_q_state(params, spec, hparams.learning_rate)

    def update(state: QState, batch, key, hparams: QRDQNHParams):
        del key
        spec = state.spec
        next_online = quantiles(spec, state.params, batch.next_observations)
        next_target = quantiles(spec, state.target_params, batch.next_observations)

        def loss_fn(params):
            z = quantiles(spec, params, batch.observations)
            return qrdqn_loss(z, next_online, next_target, batch.actions, batch.rewards,
                              batch.terminals, hparams.gamma, taus, config.authors_taus), z

        state, loss, z = gradient_step(state, loss_fn, hparams.learning_rate,
                                       hparams.target_update_period)
        return state, {"critic_loss": loss, "q_mean": jnp.mean(take(z, batch.actions))}

    def act(state: QState, obs, key, deterministic: bool = True):
        del key, deterministic
        return greedy(jnp.mean(quantiles(state.spec, state.params, obs), axis=-1))

    return Learner("qrdqn", config, QRDQNHParams(), init, update, act, discrete=True,
                   batch_size=OFFLINE_BATCH_SIZE)
