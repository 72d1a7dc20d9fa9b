"""Q-chunking and its baselines: QC, QC-FQL, FQL, and their n-step and best-of-N variants
(Li, Zhou & Levine, "Reinforcement Learning with Action Chunking", NeurIPS 2025; Park, Li &
Levine, "Flow Q-Learning", ICML 2025). One learner family, as the authors' code has it
(ColinQiyangLi/qc ``agents/acfql.py``, lines cited), chosen by static config:

  actor_type      "best-of-n"    a flow BC policy; act = the critic's argmax over N Euler
                                 samples (lines 180-204)
                  "distill-ddpg" FQL's one-step policy mu(s, z), trained with
                                 alpha ||mu(s, z) - flow(s, z)||^2 - Q(s, clip(mu(s, z)))
                                 beside the flow's BC loss; act = clip(mu(s, z)) (lines 83-100,
                                 168-178)
  action_chunking True   critic and policy over h-step chunks, executed open loop
                  False  the "n-step" variant: critic and policy over one action, trained on
                         the same h-step returns (lines 25-28, 56-59)
and everything else shared:
  critic  Q_i(s, a) an ensemble of num_qs = 2 GELU MLPs with LayerNorm (lines 262-267);
          y = sum_{j<h} gamma^j r_{t+j} + gamma^h m_{t+h-1} agg_i Q'_i(s_{t+h}, a'),
          a' the policy's action at s_{t+h} (best-of-N scored by the current critic, or
          clip(mu)); loss mean_{i,B}[(Q_i - y)^2 valid_{h-1}] (lines 22-53)
  BC flow the flow-matching loss on the chunk, each step weighted by its validity (chunked;
          lines 54-81), or on the first action (n-step)
  optimiser one Adam over all networks on the summed loss (lines 121-148, 291-296): the
          losses' parameter sets are disjoint and every loss reads the others' pre-update
          parameters, so one Adam per network, each stepped from the pre-update state, gives
          the same update
Defaults (``get_config``, lines 315-345): lr 3e-4, batch 256, 4 x 512 layers for every
network, LayerNorm in the critic only, gamma 0.99, tau 0.005, q_agg mean, flow_steps 10.
The README's commands (lines 42-58) set the variants: QC (best-of-n, N 32, h 5), BFN-n
(best-of-n, N 4, h 5, action_chunking False), BFN (best-of-n, N 4, h 1), QC-FQL (alpha 100,
h 5), FQL-n (alpha 100, h 5, action_chunking False), FQL (alpha 100, h 1); ``scene`` and
``puzzle-3x3`` use sparse rewards (README line 40; ``data.ogbench.singletask_dataset``).
FQL's own code (seohongpark/fql ``agents/fql.py``) is the h = 1 case, with its option
``normalize_q_loss`` (lines 74-76: the Q term divided by stop_grad(mean |Q|)) and its default
alpha 10 (line 264; its README tunes alpha per env: 300 for cube and scene, 1000 for puzzle,
lines 96-104); ``alpha`` is traced here.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxrl_suite.agents.base import DataSpec, Learner, adam_with_lr, polyak
from jaxrl_suite.data.chunks import discounted_sums, sample_chunks
from jaxrl_suite.nets.flow import (GeluMLP, OneStepPolicy, VectorField, best_of_n,
                                   euler_sample, flow_matching_loss)

ACTOR_TYPES = ("best-of-n", "distill-ddpg")


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


def distill_actor_loss(onestep_actions: jax.Array, flow_actions: jax.Array, q: jax.Array,
                       alpha: jax.Array, normalize_q_loss: bool = False) -> jax.Array:
    """Returns alpha mean||mu(s, z) - flow(s, z)||^2 - lam mean_B mean_i Q_i(s, clip(mu)):
    FQL's one-step policy loss without its BC term (fql.py lines 62-76; acfql.py lines 83-97).
    onestep_actions, flow_actions [B, d] (mu unclipped); q [num_qs, B] at clip(mu); lam = 1,
    or 1 / stop_grad(mean |mean_i Q_i|) with ``normalize_q_loss`` (static)."""
    q = jnp.mean(q, axis=0)
    q_loss = -jnp.mean(q)
    if normalize_q_loss:
        q_loss = q_loss / jax.lax.stop_gradient(jnp.mean(jnp.abs(q)))
    return alpha * jnp.mean(jnp.square(onestep_actions - flow_actions)) + q_loss


@dataclasses.dataclass(frozen=True)
class QCConfig:
    """QC (the README's command): best-of-32 over a flow BC chunk policy, h = 5."""

    hidden_sizes: tuple[int, ...] = (512, 512, 512, 512)
    horizon: int = 5  # --horizon_length (static: the chunk's and the return's length)
    actor_type: str = "best-of-n"  # --agent.actor_type
    action_chunking: bool = True  # False: the n-step variant
    num_samples: int = 32  # --agent.actor_num_samples (best-of-n)
    flow_steps: int = 10
    num_qs: int = 2
    q_agg: str = "mean"  # "mean" | "min"
    normalize_q_loss: bool = False  # distill-ddpg only (FQL's option)


@dataclasses.dataclass(frozen=True)
class QCFQLConfig(QCConfig):
    """QC-FQL: FQL's one-step policy over chunks (README: --agent.alpha=100, h = 5)."""

    actor_type: str = "distill-ddpg"


@dataclasses.dataclass(frozen=True)
class FQLConfig(QCConfig):
    """FQL: one action per step, one-step returns (README: --horizon_length=1)."""

    horizon: int = 1
    actor_type: str = "distill-ddpg"


@dataclasses.dataclass(frozen=True)
class FQLNConfig(QCConfig):
    """FQL-n: FQL's policy over one action, on 5-step returns (--agent.action_chunking=False)."""

    actor_type: str = "distill-ddpg"
    action_chunking: bool = False


@dataclasses.dataclass(frozen=True)
class BFNConfig(QCConfig):
    """BFN: best-of-4 over a one-action flow policy, one-step returns."""

    horizon: int = 1
    num_samples: int = 4


@dataclasses.dataclass(frozen=True)
class BFNNConfig(QCConfig):
    """BFN-n: best-of-4 over a one-action flow policy, on 5-step returns."""

    num_samples: int = 4
    action_chunking: bool = False


@struct.dataclass
class QCHParams:
    lr: float = 3e-4
    gamma: float = 0.99
    tau: float = 0.005
    alpha: float = 100.0  # distill-ddpg's distillation weight (the README's 100)


@struct.dataclass
class QCState:
    """The BC flow, the critic and its target, and (distill-ddpg only, else None) the one-step
    policy, each with its Adam state."""

    actor_params: Any  # the BC flow's velocity field
    critic_params: Any
    target_critic_params: Any
    actor_opt_state: optax.OptState
    critic_opt_state: optax.OptState
    onestep_params: Any
    onestep_opt_state: Any
    spec: DataSpec
    step: jax.Array


def _adam_step(params, grads, opt_state, lr):
    updates, opt_state = adam_with_lr(lr).update(grads, opt_state)
    return optax.apply_updates(params, updates), opt_state


def make_qc(config: QCConfig = QCConfig()) -> Learner:
    """Returns the learner of ``config`` (QC by default; see the module docstring)."""
    if config.q_agg not in ("mean", "min"):
        raise ValueError(f"q_agg: expected 'mean' or 'min', found '{config.q_agg}'")
    if config.actor_type not in ACTOR_TYPES:
        raise ValueError(f"actor_type: expected one of {ACTOR_TYPES}, found "
                         f"'{config.actor_type}'")
    if config.horizon < 1:
        raise ValueError(f"horizon: expected >= 1, found {config.horizon}")
    h = config.horizon
    steps = h if config.action_chunking else 1  # actions per policy call and critic input
    distill = config.actor_type == "distill-ddpg"
    critic = ChunkCritic(config.hidden_sizes, config.num_qs)

    def actor(spec: DataSpec):
        return VectorField(config.hidden_sizes, steps * spec.action_dim)

    def onestep(spec: DataSpec):
        return OneStepPolicy(config.hidden_sizes, steps * spec.action_dim)

    def aggregate(qs):
        return jnp.mean(qs, axis=0) if config.q_agg == "mean" else jnp.min(qs, axis=0)

    def choose(spec, state_params, obs, key):
        """The policy's actions [B, steps * A] in [-1, 1] at normalised observations."""
        actor_params, onestep_params, critic_params = state_params
        size = steps * spec.action_dim
        if distill:
            noise = jax.random.normal(key, obs.shape[:-1] + (size,), obs.dtype)
            return jnp.clip(onestep(spec).apply(onestep_params, obs, noise), -1.0, 1.0)
        velocity = lambda o, x, t: actor(spec).apply(actor_params, o, x, t)  # noqa: E731
        score = lambda o, a: aggregate(critic.apply(critic_params, o, a))  # noqa: E731
        return best_of_n(velocity, score, obs, key, size, config.num_samples,
                         config.flow_steps)

    def init(key, spec: DataSpec, hp: QCHParams) -> QCState:
        if spec.discrete:
            raise ValueError(f"{config.actor_type} flow policy: expected continuous actions")
        actor_key, critic_key, onestep_key = jax.random.split(key, 3)
        obs = jnp.zeros((1,) + spec.observation_shape)
        actions = jnp.zeros((1, steps * spec.action_dim))
        actor_params = actor(spec).init(actor_key, obs, actions, jnp.zeros((1, 1)))
        critic_params = critic.init(critic_key, obs, actions)
        onestep_params = onestep_opt = None
        if distill:
            onestep_params = onestep(spec).init(onestep_key, obs, actions)
            onestep_opt = adam_with_lr(hp.lr).init(onestep_params)
        return QCState(actor_params, critic_params, critic_params,
                       adam_with_lr(hp.lr).init(actor_params),
                       adam_with_lr(hp.lr).init(critic_params), onestep_params, onestep_opt,
                       spec, jnp.int32(0))

    def update(state: QCState, batch, key, hp: QCHParams):
        spec = state.spec
        next_key, flow_key, noise_key = jax.random.split(key, 3)
        b = batch.actions.shape[0]
        obs = spec.normalize(batch.observations)
        last_next = spec.normalize(batch.next_observations[:, -1])
        unit = spec.to_unit(batch.actions)  # [B, h, A]
        taken = unit.reshape(b, -1) if config.action_chunking else unit[:, 0]  # [B, steps*A]
        params = (state.actor_params, state.onestep_params, state.critic_params)
        next_actions = choose(spec, params, last_next, next_key)
        next_q = aggregate(critic.apply(state.target_critic_params, last_next, next_actions))
        target = chunk_target(batch.rewards, batch.masks, next_q, hp.gamma)

        def critic_loss_fn(critic_params):
            q = critic.apply(critic_params, obs, taken)  # [num_qs, B]
            return chunk_critic_loss(q, target, batch.valid), q

        (critic_loss, q), grads = jax.value_and_grad(critic_loss_fn, has_aux=True)(
            state.critic_params)
        critic_params, critic_opt = _adam_step(state.critic_params, grads,
                                               state.critic_opt_state, hp.lr)

        def bc_loss_fn(actor_params):
            velocity = lambda o, x, t: actor(spec).apply(actor_params, o, x, t)  # noqa: E731
            if config.action_chunking:
                return flow_matching_loss(velocity, obs, taken, flow_key, batch.valid,
                                          horizon=h)
            return flow_matching_loss(velocity, obs, taken, flow_key)

        actor_loss, grads = jax.value_and_grad(bc_loss_fn)(state.actor_params)
        actor_params, actor_opt = _adam_step(state.actor_params, grads, state.actor_opt_state,
                                             hp.lr)
        metrics = {"critic_loss": critic_loss, "actor_loss": actor_loss,
                   "q_mean": jnp.mean(q), "target_mean": jnp.mean(target)}

        onestep_params, onestep_opt = state.onestep_params, state.onestep_opt_state
        if distill:  # the pre-update flow and critic, as the reference's one summed loss
            noise = jax.random.normal(noise_key, taken.shape, taken.dtype)
            velocity = lambda o, x, t: actor(spec).apply(state.actor_params, o, x, t)  # noqa
            flow_actions = euler_sample(velocity, obs, noise, config.flow_steps)

            def onestep_loss_fn(params):
                mu = onestep(spec).apply(params, obs, noise)
                q_mu = critic.apply(state.critic_params, obs, jnp.clip(mu, -1.0, 1.0))
                return distill_actor_loss(mu, flow_actions, q_mu, hp.alpha,
                                          config.normalize_q_loss)

            distill_loss, grads = jax.value_and_grad(onestep_loss_fn)(onestep_params)
            onestep_params, onestep_opt = _adam_step(onestep_params, grads, onestep_opt, hp.lr)
            metrics["distill_actor_loss"] = distill_loss
        state = state.replace(
            actor_params=actor_params, critic_params=critic_params,
            target_critic_params=polyak(state.target_critic_params, critic_params, hp.tau),
            actor_opt_state=actor_opt, critic_opt_state=critic_opt,
            onestep_params=onestep_params, onestep_opt_state=onestep_opt,
            step=state.step + 1)
        return state, metrics

    def act(state: QCState, obs, key, deterministic: bool = True):
        del deterministic  # the reference samples at evaluation too (best-of-N, or mu(s, z))
        spec = state.spec
        params = (state.actor_params, state.onestep_params, state.critic_params)
        chosen = choose(spec, params, spec.normalize(obs), key)
        actions = spec.to_env(chosen.reshape(obs.shape[0], steps, spec.action_dim))
        return actions.reshape(obs.shape[0], steps * spec.action_dim)

    def sample_returns(dataset, key, batch_size, hparams):
        del hparams  # one action per call, h-step returns: the n-step variant's batches
        return sample_chunks(dataset, key, batch_size, h)

    name = {("best-of-n", True): "qc", ("distill-ddpg", True): "qc_fql",
            ("best-of-n", False): "bfn_n", ("distill-ddpg", False): "fql_n"}[
        (config.actor_type, config.action_chunking)]
    if h == 1:
        name = "fql" if distill else "bfn"
    return Learner(name, config, QCHParams(), init, update, act, batch_size=256,
                   chunk_horizon=steps,
                   sample=None if config.action_chunking else sample_returns)


def make_fql(config: QCConfig = FQLConfig()) -> Learner:
    """Returns FQL (h = 1, the one-step policy); any ``QCConfig`` variant works here too."""
    return make_qc(config)
