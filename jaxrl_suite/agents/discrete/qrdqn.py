"""Offline QR-DQN, two variants.

``qrdqn`` is Dabney et al.'s QR-DQN ("Distributional RL with Quantile Regression", AAAI 2018,
Algorithm 1), as google/dopamine ``dopamine/jax/agents/quantile/quantile_agent.py`` (5873f54)
has it: N = 200 quantiles per action (``num_atoms=200``, :143); the target network's mean over
quantiles picks a' and its quantiles of a' are bootstrapped (``target_distribution``, :57-61);
the quantile midpoints tau_i = (2i - 1) / 2N (:104-106, Lemma 2) weight the Huber errors by the
*current* quantile i (``tau_hat[None, :, None]``, :108-110); summed over i, averaged over the
target quantiles j (:113). Huber kappa 1. The optimiser, minibatch and target period are the
suite's offline discrete protocol (the Dataset Perspective's: Adam lr 1e-4, batch 128, hard
target copy every 100 updates), not dopamine's online Atari ones (lr 5e-5, period 10k).

``qrdqn_mljku`` is the variant ml-jku/OfflineRL runs (``source/agents/qrdqn.py``, 8cc8eec, and
``source/networks/critic.py::QrCritic``), which the Dataset Perspective study uses: 50 quantiles
(:18); a double-Q target, the *online* net's mean over quantiles picking a' (:78-81);
tau_j = j / N, j = 1..N (:37), not the midpoints; and tau broadcast against the last axis of the
[B, N_current, N_target] TD errors (:106), i.e. indexed by the *target* quantile, so that every
current quantile solves the same problem. Loss summed over the current quantiles, averaged over
the target ones (:107), as Dabney's.

Both act greedily on the mean over quantiles.
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
    """Dabney et al.'s QR-DQN (``qrdqn``); see the module docstring."""

    hidden_sizes: tuple[int, ...] = PAPER_HIDDEN
    activation: str = PAPER_ACTIVATION
    num_quantiles: int = 200
    mljku_taus: bool = False  # True: tau_j = j / N indexed by the target quantile
    double_q: bool = False  # True: the online net picks a' (the target net otherwise)


@dataclasses.dataclass(frozen=True)
class QRDQNMLJKUConfig(QRDQNConfig):
    """ml-jku/OfflineRL's variant (``qrdqn_mljku``); see the module docstring."""

    num_quantiles: int = 50
    mljku_taus: bool = True
    double_q: bool = True


@struct.dataclass
class QRDQNHParams:
    learning_rate: float = 1e-4
    gamma: float = 0.99
    target_update_period: float = 100.0


def quantile_taus(num_quantiles: int, mljku: bool = False) -> jax.Array:
    """Returns [N] quantile levels: (2i - 1) / 2N (Dabney's midpoints) or j / N (ml-jku)."""
    i = jnp.arange(1, num_quantiles + 1, dtype=jnp.float32)
    return i / num_quantiles if mljku else (2.0 * i - 1.0) / (2.0 * num_quantiles)


def qrdqn_loss(quantiles, next_online, next_target, actions, rewards, terminals, gamma, taus,
               tau_on_target: bool = False, double_q: bool = False) -> jax.Array:
    """Returns the scalar quantile Huber loss of one batch.

    quantiles: [B, A, N] online quantiles at s (the differentiated input); next_online,
    next_target: [B, A, N] online / target quantiles at s'; actions [B]; rewards, terminals [B];
    taus [N]; tau_on_target: index tau by the target quantile (ml-jku) or the current one
    (Dabney); double_q: the online net's mean picks a' (ml-jku) or the target net's (Dabney).
    """
    next_action = greedy(jnp.mean(next_online if double_q else next_target, axis=-1))
    target = jax.lax.stop_gradient(
        bootstrap(rewards, terminals, gamma, take(next_target, next_action)))  # [B, N]
    current = take(quantiles, actions)  # [B, N]
    td = target[:, None, :] - current[:, :, None]  # [B, i (current), j (target)]
    tau = taus[None, None, :] if tau_on_target else taus[None, :, None]
    weight = jnp.abs(tau - (jax.lax.stop_gradient(td) < 0).astype(td.dtype))
    return jnp.mean(jnp.sum(weight * optax.huber_loss(td, delta=1.0), axis=1))


def make_qrdqn(config: QRDQNConfig = QRDQNConfig(), name: str = "qrdqn") -> Learner:
    """Returns the offline QR-DQN learner of ``config`` (Dabney's by default)."""
    n = config.num_quantiles
    taus = quantile_taus(n, config.mljku_taus)

    def quantiles(spec: DataSpec, params, obs):  # [B, A, N], QrCritic's reshape
        num_actions = check_discrete(spec, name)
        out = QNetwork(config.hidden_sizes, num_actions * n, config.activation).apply(params, obs)
        return out.reshape(out.shape[:-1] + (num_actions, n))

    def init(key, spec: DataSpec, hparams: QRDQNHParams) -> QState:
        net = QNetwork(config.hidden_sizes, check_discrete(spec, name) * n, config.activation)
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
                              batch.terminals, hparams.gamma, taus, config.mljku_taus,
                              config.double_q), z

        state, loss, z = gradient_step(state, loss_fn, hparams.learning_rate,
                                       hparams.target_update_period)
        return state, {"critic_loss": loss, "q_mean": jnp.mean(take(z, batch.actions))}

    def act(state: QState, obs, key, deterministic: bool = True):
        del key, deterministic
        return greedy(jnp.mean(quantiles(state.spec, state.params, obs), axis=-1))

    return Learner(name, config, QRDQNHParams(), init, update, act, discrete=True,
                   batch_size=OFFLINE_BATCH_SIZE)


def make_qrdqn_mljku(config: QRDQNConfig = QRDQNMLJKUConfig()) -> Learner:
    """Returns ml-jku/OfflineRL's QR-DQN variant (``qrdqn_mljku``)."""
    return make_qrdqn(config, "qrdqn_mljku")
