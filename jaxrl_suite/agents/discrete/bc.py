"""Behaviour cloning (discrete), as ml-jku/OfflineRL ``source/agents/bc.py``: cross-entropy of
the data's actions under a softmax policy whose logits come from ``source/networks/actor.py``'s
Actor (three 256-unit SELU layers and a linear head), Adam lr 1e-4. That code's ``policy``
samples from the softmax, in evaluation too; ``BCConfig.sample_when_deterministic`` keeps that.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxrl_suite.agents.base import DataSpec, Learner, adam_with_lr
from jaxrl_suite.agents.discrete.common import (
    OFFLINE_BATCH_SIZE, PAPER_ACTIVATION, PAPER_HIDDEN, check_discrete, greedy)
from jaxrl_suite.nets.history import history_encoder
from jaxrl_suite.nets.networks import QNetwork


@dataclasses.dataclass(frozen=True)
class BCConfig:
    hidden_sizes: tuple[int, ...] = PAPER_HIDDEN
    activation: str = PAPER_ACTIVATION
    # The authors' policy samples a ~ softmax(logits) even when evaluating; False: argmax there.
    sample_when_deterministic: bool = True
    history_encoder: str = "none"  # over history windows: "stack" | "gru" (nets/history.py)
    history_hidden: int = 128  # GRU units


@struct.dataclass
class BCHParams:
    learning_rate: float = 1e-4


@struct.dataclass
class BCState:
    params: dict
    opt_state: optax.OptState
    spec: DataSpec
    step: jax.Array


def cross_entropy(logits: jax.Array, actions: jax.Array) -> jax.Array:
    """Returns the mean over the batch of -log softmax(logits)[b, actions[b]] (torch's
    CrossEntropyLoss); logits [B, num_actions], actions [B] int."""
    log_probs = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.mean(jnp.take_along_axis(log_probs, actions.astype(jnp.int32)[:, None], 1))


def make_bc(config: BCConfig = BCConfig()) -> Learner:
    """Returns the discrete behaviour-cloning learner."""
    encoder = history_encoder(config.history_encoder, config.history_hidden)

    def actor(spec: DataSpec) -> QNetwork:  # the same MLP + linear head; its outputs are logits
        return QNetwork(config.hidden_sizes, check_discrete(spec, "bc"), config.activation,
                        encoder)

    def init(key, spec: DataSpec, hparams: BCHParams) -> BCState:
        params = actor(spec).init(key, jnp.zeros((1,) + spec.observation_shape))
        return BCState(params, adam_with_lr(hparams.learning_rate).init(params), spec,
                       jnp.int32(0))

    def update(state: BCState, batch, key, hparams: BCHParams):
        del key

        def loss_fn(params):
            return cross_entropy(actor(state.spec).apply(params, batch.observations),
                                 batch.actions)

        loss, grads = jax.value_and_grad(loss_fn)(state.params)
        updates, opt_state = adam_with_lr(hparams.learning_rate).update(grads, state.opt_state)
        params = optax.apply_updates(state.params, updates)
        return state.replace(params=params, opt_state=opt_state, step=state.step + 1), {
            "actor_loss": loss}

    def act(state: BCState, obs, key, deterministic: bool = True):
        logits = actor(state.spec).apply(state.params, obs)
        if deterministic and not config.sample_when_deterministic:
            return greedy(logits)
        return jax.random.categorical(key, logits, axis=-1).astype(jnp.int32)

    return Learner("bc", config, BCHParams(), init, update, act, discrete=True,
                   batch_size=OFFLINE_BATCH_SIZE)
