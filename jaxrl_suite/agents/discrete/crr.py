"""Discrete CRR (Wang et al., 2020), as ml-jku/OfflineRL ``source/agents/crr.py``: a critic
trained by Huber loss to r + gamma (1 - d) Q_target(s', a'), a' ~ pi_target(.|s') (one sample),
and an actor trained by the weighted cross-entropy mean_b [1{A(s_b, a_b) > 0} CE(pi(.|s_b), a_b)]
with A(s, a) = Q(s, a) - mean_j Q(s, a_j), a_1..a_m ~ pi(.|s), m = 4 (the code's "binary" and
"mean" styles; its commented-out "exp" and "max" styles are config options). Both updates read
the networks before the step; targets of both are hard copies every 100 updates; lr 1e-4, three
256-unit SELU layers. The code's evaluation policy samples from pi (``sample_at_eval``).
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

EXP_WEIGHT_MAX = 20.0  # CRR paper's clip of exp(A / beta); the code's exp style has none


@dataclasses.dataclass(frozen=True)
class CRRConfig:
    hidden_sizes: tuple[int, ...] = PAPER_HIDDEN
    activation: str = PAPER_ACTIVATION
    num_samples: int = 4  # m: sampled actions of the advantage baseline
    binary: bool = True  # 1{A > 0} weights (the code); False: min(exp(A / beta), 20)
    max_baseline: bool = False  # mean over the m samples (the code); True: max
    sample_at_eval: bool = True  # act samples pi even when deterministic (the code's eval)


@struct.dataclass
class CRRHParams:
    learning_rate: float = 1e-4
    gamma: float = 0.99
    target_update_period: float = 100.0
    beta: float = 1.0  # read by the exp weights only


def crr_weights(q: jax.Array, sampled: jax.Array, actions: jax.Array, beta: jax.Array,
                binary: bool = True, max_baseline: bool = False) -> jax.Array:
    """Returns [B] actor weights f(A(s_b, a_b)) with A = q[b, a_b] - mean (or max) over j of
    q[b, sampled[j, b]]; f = 1{A > 0} (binary) or min(exp(A / beta), 20).
    q: [B, num_actions]; sampled: [m, B] int; actions: [B] int."""
    # A as mean_j (or min_j) of Q(s, a) - Q(s, a_j): the same value, but exactly 0 when every
    # a_j is the data's action (Q(s, a) - mean_j Q(s, a_j) is +-1 ulp in float32 there, which
    # flips the binary weight at random).
    gaps = take(q, actions)[None] - jax.vmap(lambda a: take(q, a))(sampled)  # [m, B]
    advantage = jnp.min(gaps, axis=0) if max_baseline else jnp.mean(gaps, axis=0)
    if binary:  # torch.heaviside(A, 0): 0 at A == 0
        return (advantage > 0).astype(q.dtype)
    return jnp.minimum(jnp.exp(advantage / beta), EXP_WEIGHT_MAX)


def make_crr(config: CRRConfig = CRRConfig()) -> Learner:
    """Returns the discrete CRR learner; ``state.params`` is {"q": ..., "actor": ...}."""

    def network(spec: DataSpec) -> QNetwork:
        return QNetwork(config.hidden_sizes, check_discrete(spec, "crr"), config.activation)

    def init(key, spec: DataSpec, hparams: CRRHParams) -> QState:
        net, obs = network(spec), jnp.zeros((1,) + spec.observation_shape)
        # The code seeds torch identically before building Critic and Actor (same layer
        # shapes), so both start from the same weights: one key for both reproduces that.
        return init_q_state({"q": net.init(key, obs), "actor": net.init(key, obs)}, spec,
                            hparams.learning_rate)

    def update(state: QState, batch, key, hparams: CRRHParams):
        net = network(state.spec)
        baseline_key, next_key = jax.random.split(key)
        obs, next_obs = batch.observations, batch.next_observations
        sampled = jax.random.categorical(baseline_key, net.apply(state.params["actor"], obs),
                                         shape=(config.num_samples, obs.shape[0]))
        weights = jax.lax.stop_gradient(crr_weights(
            net.apply(state.params["q"], obs), sampled, batch.actions, hparams.beta,
            config.binary, config.max_baseline))
        next_action = jax.random.categorical(next_key,
                                             net.apply(state.target_params["actor"], next_obs))
        next_q = take(net.apply(state.target_params["q"], next_obs), next_action)
        target = jax.lax.stop_gradient(
            bootstrap(batch.rewards, batch.terminals, hparams.gamma, next_q))

        def loss_fn(params):
            ce = -take(jax.nn.log_softmax(net.apply(params["actor"], obs)), batch.actions)
            actor_loss = jnp.mean(ce * weights)
            q = take(net.apply(params["q"], obs), batch.actions)
            critic_loss = huber(q - target)
            return critic_loss + actor_loss, (critic_loss, actor_loss, q)

        # The code steps two Adams (actor, then critic); the losses touch disjoint parameters
        # and Adam is elementwise with one step count, so one Adam on their sum is identical.
        state, loss, (critic_loss, actor_loss, q) = gradient_step(
            state, loss_fn, hparams.learning_rate, hparams.target_update_period)
        return state, {"loss": loss, "critic_loss": critic_loss, "actor_loss": actor_loss,
                       "weight_mean": jnp.mean(weights), "q_mean": jnp.mean(q)}

    def act(state: QState, obs, key, deterministic: bool = True):
        logits = network(state.spec).apply(state.params["actor"], obs)
        if deterministic and not config.sample_at_eval:
            return greedy(logits)
        return jax.random.categorical(key, logits).astype(jnp.int32)

    return Learner("crr", config, CRRHParams(), init, update, act, discrete=True,
                   batch_size=OFFLINE_BATCH_SIZE)
