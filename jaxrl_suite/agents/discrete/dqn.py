"""Offline DQN with the double-Q target (Mnih et al., 2015; van Hasselt et al., 2016), as the
Dataset Perspective's baseline (ml-jku/OfflineRL ``source/agents/dqn.py``): Huber loss on
Q(s, a) - [r + gamma (1 - d) Q_target(s', argmax_a' Q(s', a'))], Adam lr 1e-4, hard target copy
every 100 updates, three 256-unit SELU layers; the greedy policy acts.
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
class DQNConfig:
    hidden_sizes: tuple[int, ...] = PAPER_HIDDEN
    activation: str = PAPER_ACTIVATION


@struct.dataclass
class DQNHParams:
    learning_rate: float = 1e-4
    gamma: float = 0.99
    target_update_period: float = 100.0


def make_dqn(config: DQNConfig = DQNConfig()) -> Learner:
    """Returns the offline double DQN learner."""

    def network(spec: DataSpec) -> QNetwork:
        return QNetwork(config.hidden_sizes, check_discrete(spec, "dqn"), config.activation)

    def init(key, spec: DataSpec, hparams: DQNHParams) -> QState:
        params = network(spec).init(key, jnp.zeros((1,) + spec.observation_shape))
        return init_q_state(params, spec, hparams.learning_rate)

    def update(state: QState, batch, key, hparams: DQNHParams):
        del key
        q_net = network(state.spec)
        next_online = q_net.apply(state.params, batch.next_observations)
        next_target = q_net.apply(state.target_params, batch.next_observations)
        target = bootstrap(batch.rewards, batch.terminals, hparams.gamma,
                           take(next_target, greedy(next_online)))

        def loss_fn(params):
            q = take(q_net.apply(params, batch.observations), batch.actions)
            return huber(q - jax.lax.stop_gradient(target)), q

        state, loss, q = gradient_step(state, loss_fn, hparams.learning_rate,
                                       hparams.target_update_period)
        return state, {"critic_loss": loss, "q_mean": jnp.mean(q)}

    def act(state: QState, obs, key, deterministic: bool = True):
        del key, deterministic
        return greedy(network(state.spec).apply(state.params, obs))

    return Learner("dqn", config, DQNHParams(), init, update, act, discrete=True,
                   batch_size=OFFLINE_BATCH_SIZE)
