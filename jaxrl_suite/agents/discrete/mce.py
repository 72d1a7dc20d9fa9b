"""Monte-Carlo Estimation (MCE), the Dataset Perspective's ninth learner, as ml-jku/OfflineRL
``source/agents/mce.py``: Q(s, a) is regressed with the Huber loss (torch's SmoothL1Loss,
mce.py:49-53) on the discounted return-to-go of the transition in the data
(``use_remaining_reward=True`` in ex_0*.py; ``source/utils/buffer.py`` ``calc_remaining_reward``
:118-127), with no target network and no bootstrap; the greedy policy of that Q acts
(``eval_eps = 0``, mce.py:23). Adam lr 1e-4, three 256-unit SELU layers (``Critic``).

The return-to-go is the learner's reward preprocessing (``reward_transform="return_to_go"``,
transforms/rewards.py), computed once per dataset with the env's paper discount
(``paper_discount``: 0.95 on CartPole and MiniGrid, 0.99 elsewhere, the ``discount`` of each
ex_0*.py), so MCE has no traced gamma: its targets are fixed before training starts.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxrl_suite.agents.base import DataSpec, Learner, adam_with_lr
from jaxrl_suite.agents.discrete.common import (
    OFFLINE_BATCH_SIZE, PAPER_ACTIVATION, PAPER_HIDDEN, QState, check_discrete,
    greedy, huber, init_q_state, take)
from jaxrl_suite.nets.networks import QNetwork


@dataclasses.dataclass(frozen=True)
class MCEConfig:
    hidden_sizes: tuple[int, ...] = PAPER_HIDDEN
    activation: str = PAPER_ACTIVATION


@struct.dataclass
class MCEHParams:
    learning_rate: float = 1e-4


def mce_loss(q: jax.Array, actions: jax.Array, returns_to_go: jax.Array) -> jax.Array:
    """Returns the scalar Huber loss of Q(s, a) against the return-to-go: q [B, A]
    (differentiated), actions [B] int, returns_to_go [B] (the batch's rewards after the
    ``return_to_go`` transform)."""
    return huber(take(q, actions) - returns_to_go)


def make_mce(config: MCEConfig = MCEConfig()) -> Learner:
    """Returns the MCE learner."""

    def network(spec: DataSpec) -> QNetwork:
        return QNetwork(config.hidden_sizes, check_discrete(spec, "mce"), config.activation)

    def init(key, spec: DataSpec, hparams: MCEHParams) -> QState:
        params = network(spec).init(key, jnp.zeros((1,) + spec.observation_shape))
        return init_q_state(params, spec, hparams.learning_rate)

    def update(state: QState, batch, key, hparams: MCEHParams):
        del key
        q_net = network(state.spec)

        def loss_fn(params):
            q = q_net.apply(params, batch.observations)
            return mce_loss(q, batch.actions, batch.rewards), take(q, batch.actions)

        (loss, q), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        updates, opt_state = adam_with_lr(hparams.learning_rate).update(grads, state.opt_state)
        params = optax.apply_updates(state.params, updates)  # no target network to copy to
        return state.replace(params=params, target_params=params, opt_state=opt_state,
                             step=state.step + 1), {"critic_loss": loss, "q_mean": jnp.mean(q)}

    def act(state: QState, obs, key, deterministic: bool = True):
        del key, deterministic
        return greedy(network(state.spec).apply(state.params, obs))

    return Learner("mce", config, MCEHParams(), init, update, act, discrete=True,
                   batch_size=OFFLINE_BATCH_SIZE, reward_transform="return_to_go")
