"""Discrete BCQ (Fujimoto et al., 2019, "Benchmarking Batch Deep RL Algorithms"), as
ml-jku/OfflineRL ``source/agents/bcq.py``: a Q-network and an imitation network (same 3x256 SELU
torso, separate weights) trained by one Adam on

    Huber(Q(s, a) - [r + gamma (1 - d) Q_target(s', a')]) + CE(pi(.|s), a) + 1e-2 mean(logits^2)

with a' the argmax of the online Q(s', .) over the actions whose pi(a|s') / max pi(.|s') exceeds
the threshold 0.3; the same masked argmax acts. Hard target copy every 100 updates, lr 1e-4.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import struct

from jaxrl_suite.agents.base import DataSpec, Learner
from jaxrl_suite.agents.discrete.common import (
    OFFLINE_BATCH_SIZE, PAPER_ACTIVATION, PAPER_HIDDEN, QState, bootstrap, check_discrete,
    gradient_step, huber, init_q_state, take)
from jaxrl_suite.nets.networks import QNetwork


@dataclasses.dataclass(frozen=True)
class BCQConfig:
    hidden_sizes: tuple[int, ...] = PAPER_HIDDEN
    activation: str = PAPER_ACTIVATION


@struct.dataclass
class BCQHParams:
    learning_rate: float = 1e-4
    gamma: float = 0.99
    target_update_period: float = 100.0
    threshold: float = 0.3
    logit_l2: float = 1e-2  # the code's "1e-2 * actions.pow(2).mean()" on the imitation logits


@struct.dataclass
class BCQState(QState):
    """QState plus the threshold (a copy of the hparam: ``act`` gets no hparams)."""

    threshold: jax.Array


def bcq_greedy(q: jax.Array, logits: jax.Array, threshold: jax.Array) -> jax.Array:
    """Returns [B] int32: argmax_a q[b, a] over the actions with pi(a|s) / max_a' pi(a'|s) >
    threshold, pi = softmax(logits) (so always at least the imitation's most likely action)."""
    ratio = jnp.exp(logits - jnp.max(logits, axis=-1, keepdims=True))  # = pi / max pi
    # The code writes mask * q + (1 - mask) * -9e9; -inf is the same argmax for finite q.
    return jnp.argmax(jnp.where(ratio > threshold, q, -jnp.inf), axis=-1).astype(jnp.int32)


def make_bcq(config: BCQConfig = BCQConfig()) -> Learner:
    """Returns the discrete BCQ learner; ``state.params`` is {"q": ..., "imitation": ...}."""

    def network(spec: DataSpec) -> QNetwork:
        return QNetwork(config.hidden_sizes, check_discrete(spec, "bcq"), config.activation)

    def init(key, spec: DataSpec, hparams: BCQHParams) -> BCQState:
        net, obs = network(spec), jnp.zeros((1,) + spec.observation_shape)
        # The code seeds torch identically before building Critic and Actor (same layer
        # shapes), so both start from the same weights: one key for both reproduces that.
        params = {"q": net.init(key, obs), "imitation": net.init(key, obs)}
        q_state = init_q_state(params, spec, hparams.learning_rate)
        return BCQState(**vars(q_state), threshold=jnp.asarray(hparams.threshold, jnp.float32))

    def update(state: BCQState, batch, key, hparams: BCQHParams):
        del key
        net = network(state.spec)
        next_action = bcq_greedy(net.apply(state.params["q"], batch.next_observations),
                                 net.apply(state.params["imitation"], batch.next_observations),
                                 hparams.threshold)
        next_q = take(net.apply(state.target_params["q"], batch.next_observations), next_action)
        target = jax.lax.stop_gradient(
            bootstrap(batch.rewards, batch.terminals, hparams.gamma, next_q))

        def loss_fn(params):
            q = take(net.apply(params["q"], batch.observations), batch.actions)
            logits = net.apply(params["imitation"], batch.observations)
            q_loss = huber(q - target)
            ce = -jnp.mean(take(jax.nn.log_softmax(logits), batch.actions))
            loss = q_loss + ce + hparams.logit_l2 * jnp.mean(jnp.square(logits))
            return loss, (q_loss, ce, q)

        # The target copy also copies the imitation net; the code keeps no target for it and
        # neither does this update read one (the mask uses the online imitation net).
        state, loss, (q_loss, ce, q) = gradient_step(state, loss_fn, hparams.learning_rate,
                                                     hparams.target_update_period)
        return state, {"loss": loss, "critic_loss": q_loss, "imitation_loss": ce,
                       "q_mean": jnp.mean(q)}

    def act(state: BCQState, obs, key, deterministic: bool = True):
        # The code's evaluation policy (eval epsilon 0) is this masked argmax.
        del key, deterministic
        net = network(state.spec)
        return bcq_greedy(net.apply(state.params["q"], obs),
                          net.apply(state.params["imitation"], obs), state.threshold)

    return Learner("bcq", config, BCQHParams(), init, update, act, discrete=True,
                   batch_size=OFFLINE_BATCH_SIZE)
