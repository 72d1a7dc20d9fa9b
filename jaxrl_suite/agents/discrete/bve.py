"""Behaviour Value Estimation (Gulcehre et al., 2021) as ml-jku/OfflineRL
``source/agents/bve.py``: SARSA-style evaluation of the behaviour policy, Huber loss on
Q(s, a) - [r + gamma (1 - d) Q(s', a')] with a' the data's next action and the bootstrap taken
from the online network itself (that code keeps no target network), Adam lr 1e-4, three
256-unit SELU layers; the greedy policy of that Q acts (one step of policy improvement).

Where an episode is cut by a time limit the data holds no next action; ``Batch.next_actions``
then repeats the current one. The authors' buffer never bootstraps there (gym's ``done`` was
True at time limits), so this proxy only matters for datasets that bootstrap at timeouts.
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
class BVEConfig:
    hidden_sizes: tuple[int, ...] = PAPER_HIDDEN
    activation: str = PAPER_ACTIVATION


@struct.dataclass
class BVEHParams:
    learning_rate: float = 1e-4
    gamma: float = 0.99


def bve_loss(q, next_q, actions, next_actions, rewards, terminals, gamma) -> jax.Array:
    """Returns the scalar Huber loss of one batch: q [B, A] at s (differentiated), next_q
    [B, A] at s' (not differentiated), actions, next_actions [B] int, rewards, terminals [B]."""
    target = bootstrap(rewards, terminals, gamma, take(next_q, next_actions))
    return huber(take(q, actions) - jax.lax.stop_gradient(target))


def make_bve(config: BVEConfig = BVEConfig()) -> Learner:
    """Returns the BVE learner."""

    def network(spec: DataSpec) -> QNetwork:
        return QNetwork(config.hidden_sizes, check_discrete(spec, "bve"), config.activation)

    def init(key, spec: DataSpec, hparams: BVEHParams) -> QState:
        params = network(spec).init(key, jnp.zeros((1,) + spec.observation_shape))
        return init_q_state(params, spec, hparams.learning_rate)

    def update(state: QState, batch, key, hparams: BVEHParams):
        del key
        q_net = network(state.spec)
        next_q = q_net.apply(state.params, batch.next_observations)  # online: no target net

        def loss_fn(params):
            q = q_net.apply(params, batch.observations)
            return bve_loss(q, next_q, batch.actions, batch.next_actions, batch.rewards,
                            batch.terminals, hparams.gamma), take(q, batch.actions)

        # Period 1: target_params just mirrors params (QState's slot, never read here).
        state, loss, q = gradient_step(state, loss_fn, hparams.learning_rate, 1.0)
        return state, {"critic_loss": loss, "q_mean": jnp.mean(q)}

    def act(state: QState, obs, key, deterministic: bool = True):
        del key, deterministic
        return greedy(network(state.spec).apply(state.params, obs))

    return Learner("bve", config, BVEHParams(), init, update, act, discrete=True,
                   batch_size=OFFLINE_BATCH_SIZE)
