"""Discrete CQL (Kumar et al., 2020, CQL(H)), as ml-jku/OfflineRL ``source/agents/cql.py``:
offline double DQN (``dqn.py``: Huber loss to r + gamma (1 - d) Q_target(s', argmax Q(s', .)))
plus alpha * mean_b [logsumexp_a Q(s_b, a) - Q(s_b, a_b)] with alpha 0.1, one Adam (lr 1e-4),
hard target copy every 100 updates, three 256-unit SELU layers; the greedy policy acts.
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
from jaxrl_suite.nets.history import history_encoder
from jaxrl_suite.nets.networks import QNetwork


@dataclasses.dataclass(frozen=True)
class CQLConfig:
    hidden_sizes: tuple[int, ...] = PAPER_HIDDEN
    activation: str = PAPER_ACTIVATION
    history_encoder: str = "none"  # over history windows: "stack" | "gru" (nets/history.py)
    history_hidden: int = 128  # GRU units


@struct.dataclass
class CQLHParams:
    learning_rate: float = 1e-4
    gamma: float = 0.99
    target_update_period: float = 100.0
    alpha: float = 0.1


def cql_penalty(q: jax.Array, actions: jax.Array) -> jax.Array:
    """Returns [B] logsumexp_a q[b, a] - q[b, actions[b]] (q [B, num_actions], actions [B])."""
    return jax.nn.logsumexp(q, axis=-1) - take(q, actions)


def make_cql(config: CQLConfig = CQLConfig()) -> Learner:
    """Returns the discrete CQL learner."""
    encoder = history_encoder(config.history_encoder, config.history_hidden)

    def network(spec: DataSpec) -> QNetwork:
        return QNetwork(config.hidden_sizes, check_discrete(spec, "cql"), config.activation,
                        encoder)

    def init(key, spec: DataSpec, hparams: CQLHParams) -> QState:
        params = network(spec).init(key, jnp.zeros((1,) + spec.observation_shape))
        return init_q_state(params, spec, hparams.learning_rate)

    def update(state: QState, batch, key, hparams: CQLHParams):
        del key
        q_net = network(state.spec)
        next_online = q_net.apply(state.params, batch.next_observations)
        next_target = q_net.apply(state.target_params, batch.next_observations)
        target = jax.lax.stop_gradient(bootstrap(
            batch.rewards, batch.terminals, hparams.gamma, take(next_target, greedy(next_online))))

        def loss_fn(params):
            q_all = q_net.apply(params, batch.observations)
            q = take(q_all, batch.actions)
            td_loss = huber(q - target)
            # The gradient flows through both terms of the penalty, as in the code.
            penalty = jnp.mean(cql_penalty(q_all, batch.actions))
            return td_loss + hparams.alpha * penalty, (td_loss, penalty, q)

        state, loss, (td_loss, penalty, q) = gradient_step(
            state, loss_fn, hparams.learning_rate, hparams.target_update_period)
        return state, {"loss": loss, "critic_loss": td_loss, "cql_penalty": penalty,
                       "q_mean": jnp.mean(q)}

    def act(state: QState, obs, key, deterministic: bool = True):
        # The code's evaluation policy (eval epsilon 0) is the greedy one.
        del key, deterministic
        return greedy(network(state.spec).apply(state.params, obs))

    return Learner("cql", config, CQLHParams(), init, update, act, discrete=True,
                   batch_size=OFFLINE_BATCH_SIZE)
