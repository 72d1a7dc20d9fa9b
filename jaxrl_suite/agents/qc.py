"""Q-chunking, "QC" (Li, Zhou & Levine, "Reinforcement Learning with Action Chunking",
NeurIPS 2025): a critic over h-step action chunks and a flow-matching BC policy over chunks,
the chunk executed open loop and chosen best-of-N by the critic. A chunked learner
(``Learner.chunk_horizon``): each update gets a ``data.chunks.ChunkBatch``; ``act`` returns
h actions that evaluation executes one per step.

As the authors' code (ColinQiyangLi/qc ``agents/acfql.py`` with ``actor_type="best-of-n"``,
the README's QC command ``--agent.actor_type=best-of-n --agent.actor_num_samples=32
--horizon_length=5``; lines cited):
  critic  Q_i(s, a_{t:t+h}) on the flattened chunk, an ensemble of num_qs = 2 GELU MLPs with
          LayerNorm (``Value``, lines 262-267); target y = sum_{j<h} gamma^j r_{t+j}
          + gamma^h m_{t+h-1} agg_i Q'_i(s_{t+h}, a'), a' the best-of-N chunk at s_{t+h} (scored
          by the current critic, aggregated by ``q_agg`` = mean); loss mean_{i,B}[(Q_i - y)^2
          valid_{h-1}] (lines 22-53)
  actor   the BC flow-matching loss on the chunk, each step weighted by its validity
          (lines 54-81; no distillation or Q term for best-of-N, lines 83-100)
  act     N = 32 Euler-sampled chunks (flow_steps 10), the critic's argmax (lines 180-204)
Defaults (``get_config``, lines 315-345): lr 3e-4 (one Adam for both networks), batch 256,
4 x 512 layers for actor and critic, LayerNorm in the critic only, gamma 0.99, tau 0.005.
Not reproduced yet: the n-step variant (``action_chunking=False``: a one-action policy trained
on h-step returns) and QC-FQL's one-step distilled policy.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxrl_suite.agents.awac import AWACState
from jaxrl_suite.agents.base import DataSpec, Learner, adam_with_lr, polyak
from jaxrl_suite.data.chunks import discounted_sums
from jaxrl_suite.nets.flow import GeluMLP, VectorField, best_of_n, flow_matching_loss


class ChunkCritic(nn.Module):
    """Returns Q-values [num_qs, ...] of (observations [..., o], chunks [..., h * A])."""

    hidden_sizes: Sequence[int]
    num_qs: int = 2
    layer_norm: bool = True

    @nn.compact
    def __call__(self, obs, actions):
        ensemble = nn.vmap(GeluMLP, variable_axes={"params": 0}, split_rngs={"params": True},
                           in_axes=None, out_axes=0, axis_size=self.num_qs)
        x = jnp.concatenate([obs, actions], axis=-1)
        return ensemble(self.hidden_sizes, 1, self.layer_norm)(x)[..., 0]


def chunk_target(rewards: jax.Array, masks: jax.Array, next_q: jax.Array, gamma: jax.Array
                 ) -> jax.Array:
    """Returns y = sum_{j<h} gamma^j r_j + gamma^h m_{h-1} Q'(s_{t+h}, a'): rewards, masks
    [B, h] (per step; masks running), next_q [B]."""
    h = rewards.shape[-1]
    return discounted_sums(rewards, gamma)[:, -1] + gamma ** h * masks[:, -1] * next_q


def chunk_critic_loss(q: jax.Array, target: jax.Array, valid: jax.Array) -> jax.Array:
    """Returns mean_{i, B}[(Q_i - y)^2 valid_{h-1}]: q [num_qs, B], target [B], valid [B, h]."""
    return jnp.mean(jnp.square(q - target[None]) * valid[None, :, -1])


@dataclasses.dataclass(frozen=True)
class QCConfig:
    hidden_sizes: tuple[int, ...] = (512, 512, 512, 512)
    horizon: int = 5  # --horizon_length (static: the chunk's shape)
    num_samples: int = 32  # --agent.actor_num_samples
    flow_steps: int = 10
    num_qs: int = 2
    q_agg: str = "mean"  # "mean" | "min"


@struct.dataclass
class QCHParams:
    lr: float = 3e-4
    gamma: float = 0.99
    tau: float = 0.005


QCState = AWACState  # actor, critic, target critic, their Adam states, spec, step


def make_qc(config: QCConfig = QCConfig()) -> Learner:
    """Returns the QC learner (best-of-N over a flow BC policy on action chunks)."""
    if config.q_agg not in ("mean", "min"):
        raise ValueError(f"q_agg: expected 'mean' or 'min', found '{config.q_agg}'")
    h = config.horizon
    critic = ChunkCritic(config.hidden_sizes, config.num_qs)

    def actor(spec: DataSpec):
        return VectorField(config.hidden_sizes, h * spec.action_dim)

    def aggregate(qs):
        return jnp.mean(qs, axis=0) if config.q_agg == "mean" else jnp.min(qs, axis=0)

    def choose(spec, actor_params, critic_params, obs, key):
        velocity = lambda o, x, t: actor(spec).apply(actor_params, o, x, t)  # noqa: E731
        score = lambda o, a: aggregate(critic.apply(critic_params, o, a))  # noqa: E731
        return best_of_n(velocity, score, obs, key, h * spec.action_dim, config.num_samples,
                         config.flow_steps)

    def init(key, spec: DataSpec, hp: QCHParams) -> QCState:
        if spec.discrete:
            raise ValueError("QC: expected continuous actions")
        actor_key, critic_key = jax.random.split(key)
        obs = jnp.zeros((1,) + spec.observation_shape)
        chunk = jnp.zeros((1, h * spec.action_dim))
        actor_params = actor(spec).init(actor_key, obs, chunk, jnp.zeros((1, 1)))
        critic_params = critic.init(critic_key, obs, chunk)
        return QCState(actor_params, critic_params, critic_params,
                       adam_with_lr(hp.lr).init(actor_params),
                       adam_with_lr(hp.lr).init(critic_params), spec, jnp.int32(0))

    def update(state: QCState, batch, key, hp: QCHParams):
        spec = state.spec
        next_key, flow_key = jax.random.split(key)
        obs = spec.normalize(batch.observations)
        last_next = spec.normalize(batch.next_observations[:, -1])
        chunk = spec.to_unit(batch.actions).reshape(batch.actions.shape[0], -1)  # [B, h * A]
        next_chunk = choose(spec, state.actor_params, state.critic_params, last_next, next_key)
        next_q = aggregate(critic.apply(state.target_critic_params, last_next, next_chunk))
        target = chunk_target(batch.rewards, batch.masks, next_q, hp.gamma)

        def critic_loss_fn(params):
            q = critic.apply(params, obs, chunk)  # [num_qs, B]
            return chunk_critic_loss(q, target, batch.valid), q

        (critic_loss, q), grads = jax.value_and_grad(critic_loss_fn, has_aux=True)(
            state.critic_params)
        updates, critic_opt = adam_with_lr(hp.lr).update(grads, state.critic_opt_state)
        critic_params = optax.apply_updates(state.critic_params, updates)

        def actor_loss_fn(params):
            velocity = lambda o, x, t: actor(spec).apply(params, o, x, t)  # noqa: E731
            return flow_matching_loss(velocity, obs, chunk, flow_key, batch.valid, horizon=h)

        actor_loss, grads = jax.value_and_grad(actor_loss_fn)(state.actor_params)
        updates, actor_opt = adam_with_lr(hp.lr).update(grads, state.actor_opt_state)
        actor_params = optax.apply_updates(state.actor_params, updates)
        state = state.replace(
            actor_params=actor_params, critic_params=critic_params,
            target_critic_params=polyak(state.target_critic_params, critic_params, hp.tau),
            actor_opt_state=actor_opt, critic_opt_state=critic_opt, step=state.step + 1)
        return state, {"critic_loss": critic_loss, "actor_loss": actor_loss,
                       "q_mean": jnp.mean(q), "target_mean": jnp.mean(target)}

    def act(state: QCState, obs, key, deterministic: bool = True):
        del deterministic  # QC's policy always samples its N candidates
        spec = state.spec
        chunk = choose(spec, state.actor_params, state.critic_params, spec.normalize(obs), key)
        actions = spec.to_env(chunk.reshape(obs.shape[0], h, spec.action_dim))
        return actions.reshape(obs.shape[0], h * spec.action_dim)

    return Learner("qc", config, QCHParams(), init, update, act, batch_size=256,
                   chunk_horizon=h)
