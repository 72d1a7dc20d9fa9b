"""Decoupled Q-chunking, "DQC" (Li, Park & Levine, ICLR 2026): a critic over long chunks of h
actions (fast value propagation), distilled into a critic over the policy's short prefix of
h_a actions, which scores best-of-N samples of a goal-free flow BC policy; goal-conditioned,
with sparse rewards and Q-values in [0, 1] held as logits. A chunked learner: each update gets
a ``data.goals.GoalChunkBatch`` (``Learner.sample`` draws it), ``act`` returns h_a actions.

As the authors' code (ColinQiyangLi/dqc at df89825, ``agents/dqc.py``; lines cited), for a
start s_t, goal g, chunk a_{t:t+h}, backup horizon k (h, or the step the goal is reached inside
the chunk), r = gamma^k success, m = 1 - success (``utils/datasets.py:213-262``):
  chunk critic   Q_h^i(s, g, a_{t:t+h}) logits, i < num_qs: BCE toward
                 y = clip(r + gamma^k m sigmoid(V(s_{t+k}, g)), 0, 1)    (lines 41-67)
  action critic  Q_a^i(s, g, a_{t:t+h_a}) toward member i of sigmoid(Q_h): "expectile"
                 |kappa_d - 1(y < q)| BCE(Q_a, y), or "quantile" |kappa_d - 1(y < q)|
                 |Q_a - logit(clip(y, 1e-5, 1 - 1e-5))|, times valids[h_a - 1] (lines 69-98);
                 without the chunk critic, toward y itself (lines 75-81: QC for h_a = h,
                 NS for h_a = 1, OS for h = h_a = 1, the README's variants)
  value          V(s, g) logits, an implicit backup of the TARGET action critic on the data's
                 prefix, q = agg_i sigmoid(Q'_a^i) (mean or min): "quantile"
                 |kappa_b - 1(q < v)| |V - logit q|, or "expectile" |kappa_b - 1(q < v)|
                 BCE(V, q), times valids[h_a - 1] (lines 102-131)
  actor          flow BC on the prefix, goal-free (``actor_bc`` gets goals=None, line 314),
                 each sample weighted by valids[h_a - 1] (lines 135-149)
  target         Q'_a <- tau Q_a + (1 - tau) Q'_a, Q_a as it was BEFORE this step's gradient
                 step (lines 175-182, 193: ``self.network`` is the old network)
  act            N goal-free flow samples of the prefix, the argmax of agg_i Q_a^i LOGITS
                 (the online action critic; lines 14-24, 208-247)
Every term reads the other networks at the step's starting parameters, undifferentiated (they
are called without ``grad_params``), so the one Adam on the summed loss (lines 151-173, 324)
gives each network the gradient of its own loss alone; one Adam over the four networks here is
that optimiser (Adam is elementwise, so it equals one Adam per network too).
Defaults (``get_config``, lines 339-383): lr 3e-4, batch 4096, 4 x 1024 GELU layers with
LayerNorm for actor and critics, gamma 0.999, tau 0.005, num_qs 2, q_agg mean, flow_steps 10,
goals 0.2 current / 0.5 future (uniform) / 0.3 random, h = 25, h_a = 1, expectile distillation
(kappa_d 0.5), quantile backup (kappa_b 0.9), best-of-32. The README's DQC command: h_a = 5,
q_agg min, kappa_b 0.93, kappa_d 0.8 (cube-quadruple). Observations are not normalised;
actions are clipped to [-1 + 1e-5, 1 - 1e-5] (``main.py:95-97``).
Traced choices: kappa_b, kappa_d and the aggregation (``q_agg_min``: 0 mean, 1 min; values in
between mix the two, in probability space for the backup and in logits for act's scores).
The aggregated target's logit is computed stably (log-sum-exp of log-sigmoids): the authors'
log(q) - log(1 - q) is +inf once q rounds to 1 in float32; the gradient is the same. The
authors read ``valids[..., ac_action_dim - 1]``, ac_action_dim = h_a A (lines 93-147; JAX clamps
the index into [0, h)); here valids[h_a - 1]: every valid of CGCDataset's starts is 1, so both
read 1.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxrl_suite.agents.base import DataSpec, Learner, adam_with_lr, polyak
from jaxrl_suite.agents.qc import ChunkCritic
from jaxrl_suite.data.goals import GoalChunkBatch, sample_goal_chunks
from jaxrl_suite.nets.flow import GeluMLP, VectorField, best_of_n, flow_matching_loss

ACTION_EPS = 1e-5  # main.py:96
PROB_EPS = 1e-5  # the distillation target's clip before its logit (line 87)
LOSS_TYPES = ("expectile", "quantile")


@dataclasses.dataclass(frozen=True)
class DQCConfig:
    actor_hidden_sizes: tuple[int, ...] = (1024, 1024, 1024, 1024)
    value_hidden_sizes: tuple[int, ...] = (1024, 1024, 1024, 1024)  # all three critics
    layer_norm: bool = True  # the critics'
    actor_layer_norm: bool = True
    num_qs: int = 2
    flow_steps: int = 10
    best_of_n: int = 32
    backup_horizon: int = 25  # h: the chunk critic's chunk and the n-step backup
    policy_chunk_size: int = 1  # h_a: the action critic's and the policy's chunk
    use_chunk_critic: bool = True
    distill_method: str = "expectile"  # the action critic's loss
    implicit_backup_type: str = "quantile"  # the value's loss
    goal_dims: tuple[int, ...] | None = None  # observation entries of the goal (None: all)
    geometric_goals: bool = False  # value_geom_sample
    hidden_sizes: tuple[int, ...] | None = None  # replaces both widths (a sweep's override)

    @property
    def actor_sizes(self) -> tuple[int, ...]:
        return tuple(self.hidden_sizes or self.actor_hidden_sizes)

    @property
    def value_sizes(self) -> tuple[int, ...]:
        return tuple(self.hidden_sizes or self.value_hidden_sizes)


# The README's and experiments/reproduce.py's variants (static: h, h_a, the chunk critic); their
# per-domain kappa_b / kappa_d / q_agg are hyperparameters (reproduce.py lines 36-118, 133-140).
@dataclasses.dataclass(frozen=True)
class DQCH25A5Config(DQCConfig):
    """DQC h = 25, h_a = 5 (the README's DQC command)."""

    policy_chunk_size: int = 5


@dataclasses.dataclass(frozen=True)
class DQCQCConfig(DQCConfig):
    """QC h = 5 in DQC's code: one critic over the policy's 5-step chunk."""

    backup_horizon: int = 5
    policy_chunk_size: int = 5
    use_chunk_critic: bool = False


@dataclasses.dataclass(frozen=True)
class DQCNSConfig(DQCConfig):
    """NS n = 25: a one-action critic and policy on 25-step returns."""

    use_chunk_critic: bool = False


@struct.dataclass
class DQCHParams:
    lr: float = 3e-4
    discount: float = 0.999
    tau: float = 0.005
    kappa_b: float = 0.9
    kappa_d: float = 0.5
    p_cur: float = 0.2
    p_traj: float = 0.5  # p_random = 1 - p_cur - p_traj
    q_agg_min: float = 0.0  # 0: mean over the ensemble, 1: min (init's value is kept in the
    # state for update and act alike, as Adam's state keeps lr: act gets no hparams)


class GoalValue(nn.Module):
    """Returns V(s, g) logits [...] of observations [..., o] and goals [..., g]."""

    hidden_sizes: Sequence[int]
    layer_norm: bool = True

    @nn.compact
    def __call__(self, obs, goals):
        x = jnp.concatenate([obs, goals], axis=-1)
        return GeluMLP(self.hidden_sizes, 1, self.layer_norm)(x)[..., 0]


class DQCNetworks(NamedTuple):
    """The flax modules: critics take ([obs, goal], actions), as ``GCValue`` concatenates."""

    actor: VectorField  # v(s, x, t) over the h_a-prefix, goal-free
    chunk_critic: ChunkCritic | None  # Q_h over the h-chunk
    action_critic: ChunkCritic  # Q_a over the h_a-prefix (and its target)
    value: GoalValue


@struct.dataclass
class DQCParams:
    """The trained parameters (one Adam over all four); chunk_critic None without it."""

    actor: Any
    chunk_critic: Any
    action_critic: Any
    value: Any


@struct.dataclass
class DQCState:
    params: DQCParams
    target_action_critic: Any
    opt_state: Any
    q_agg_min: jax.Array  # DQCHParams.q_agg_min at init
    spec: DataSpec
    step: jax.Array


@struct.dataclass
class DQCInputs:
    """One batch in the networks' units: obs [B, o], goals [B, g], chunks [B, h * A] and
    their prefixes [B, h_a * A] in [-1, 1], next_obs [B, o] (at t + k), valid [B]
    (valids[h_a - 1]), rewards, masks, backup_horizon [B]."""

    obs: jax.Array
    goals: jax.Array
    chunks: jax.Array
    prefixes: jax.Array
    next_obs: jax.Array
    valid: jax.Array
    rewards: jax.Array
    masks: jax.Array
    backup_horizon: jax.Array


@struct.dataclass
class DQCTargets:
    """What each loss regresses on, from the step's starting parameters: backup [B] (y),
    distill [B] (y; None with the chunk critic, whose sigmoid Q_h ``dqc_loss`` takes from the
    chunk critic's own forward pass), backup_q / backup_q_logit [B] (agg of the target action
    critic, probability and logit)."""

    backup: jax.Array
    distill: jax.Array | None
    backup_q: jax.Array
    backup_q_logit: jax.Array


def bce_loss(logits: jax.Array, targets: jax.Array) -> jax.Array:
    """Returns -(y log sigmoid(l) + (1 - y) log sigmoid(-l)) elementwise (lines 33-39)."""
    return -(targets * jax.nn.log_sigmoid(logits) + (1.0 - targets) * jax.nn.log_sigmoid(-logits))


def asymmetric_weight(targets: jax.Array, predictions: jax.Array, kappa: jax.Array) -> jax.Array:
    """Returns kappa where target >= prediction, else 1 - kappa (probabilities; lines 90, 120)."""
    return jnp.where(targets >= predictions, kappa, 1.0 - kappa)


def backup_target(rewards: jax.Array, masks: jax.Array, backup_horizon: jax.Array,
                  next_v_logits: jax.Array, discount: jax.Array) -> jax.Array:
    """Returns y = clip(r + gamma^k m sigmoid(V(s_{t+k}, g)), 0, 1) [B] (lines 45-51)."""
    powers = discount ** backup_horizon.astype(next_v_logits.dtype)
    return jnp.clip(rewards + powers * masks * jax.nn.sigmoid(next_v_logits), 0.0, 1.0)


def chunk_critic_loss(q_logits: jax.Array, targets: jax.Array) -> jax.Array:
    """Returns mean_{i, B} BCE(Q_h^i, y): q_logits [num_qs, B], targets [B] (lines 53-57)."""
    return jnp.mean(bce_loss(q_logits, targets[None]))


def distill_loss(q_logits: jax.Array, targets: jax.Array, valid: jax.Array,
                 kappa_d: jax.Array, method: str) -> jax.Array:
    """Returns the action critic's implicit-max distillation loss (lines 83-98): q_logits
    [num_qs, B], targets [num_qs, B] or [B] (probabilities), valid [B]; ``method`` static."""
    weight = asymmetric_weight(targets, jax.nn.sigmoid(q_logits), kappa_d)
    if method == "expectile":
        loss = bce_loss(q_logits, targets)
    else:
        clipped = jnp.clip(targets, PROB_EPS, 1.0 - PROB_EPS)
        loss = jnp.abs(q_logits - (jnp.log(clipped) - jnp.log(1.0 - clipped)))
    return jnp.mean(weight * loss * valid)


def aggregate_q(q_logits: jax.Array, min_share: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Returns (q, logit q) [B] of q = (1 - w) mean_i sigmoid(Q^i) + w min_i sigmoid(Q^i),
    w = ``min_share``, of q_logits [num_qs, B] (lines 104-113); the logit in log space."""
    probs = jax.nn.sigmoid(q_logits)
    q = (1.0 - min_share) * jnp.mean(probs, 0) + min_share * jnp.min(probs, 0)
    log_mean_share = jnp.log(1.0 - min_share) - jnp.log(q_logits.shape[0])
    log_min_share = jnp.log(min_share)  # -inf at w = 0: logaddexp then keeps the mean alone
    lowest = jnp.min(q_logits, 0)  # min_i sigmoid(Q^i) = sigmoid(min_i Q^i)
    log_q = jnp.logaddexp(
        log_mean_share + jax.scipy.special.logsumexp(jax.nn.log_sigmoid(q_logits), 0),
        log_min_share + jax.nn.log_sigmoid(lowest))
    log_not_q = jnp.logaddexp(  # 1 - q, with 1 - sigmoid(x) = sigmoid(-x)
        log_mean_share + jax.scipy.special.logsumexp(jax.nn.log_sigmoid(-q_logits), 0),
        log_min_share + jax.nn.log_sigmoid(-lowest))
    return q, log_q - log_not_q


def value_loss(v_logits: jax.Array, backup_q: jax.Array, backup_q_logit: jax.Array,
               valid: jax.Array, kappa_b: jax.Array, method: str) -> jax.Array:
    """Returns the value's implicit backup loss (lines 115-128): v_logits, backup_q (q),
    backup_q_logit (logit q), valid [B]; ``method`` static."""
    weight = asymmetric_weight(backup_q, jax.nn.sigmoid(v_logits), kappa_b)
    if method == "expectile":
        loss = bce_loss(v_logits, backup_q)
    else:
        loss = jnp.abs(v_logits - backup_q_logit)
    return jnp.mean(weight * loss * valid)


def dqc_networks(config: DQCConfig, action_dim: int) -> DQCNetworks:
    """Returns the modules of ``config`` for actions of ``action_dim``."""
    critic = lambda: ChunkCritic(config.value_sizes, config.num_qs,  # noqa: E731
                                 config.layer_norm)
    return DQCNetworks(
        actor=VectorField(config.actor_sizes, config.policy_chunk_size * action_dim,
                          config.actor_layer_norm),
        chunk_critic=critic() if config.use_chunk_critic else None,
        action_critic=critic(),
        value=GoalValue(config.value_sizes, config.layer_norm))


def dqc_inputs(spec: DataSpec, batch: GoalChunkBatch, config: DQCConfig) -> DQCInputs:
    """Returns the batch in the networks' units (actions to [-1, 1], clipped as main.py)."""
    units = jnp.clip(spec.to_unit(batch.action_chunks), -1.0 + ACTION_EPS, 1.0 - ACTION_EPS)
    chunks = units.reshape(units.shape[0], -1)  # [B, h * A]
    return DQCInputs(
        obs=batch.observations, goals=batch.goals, chunks=chunks,
        prefixes=chunks[:, :config.policy_chunk_size * spec.action_dim],
        next_obs=batch.next_observations, valid=batch.valids[:, config.policy_chunk_size - 1],
        rewards=batch.rewards, masks=batch.masks, backup_horizon=batch.backup_horizon)


def dqc_targets(nets: DQCNetworks, config: DQCConfig, params: DQCParams,
                target_action_critic: Any, x: DQCInputs, hp: DQCHParams,
                min_share: jax.Array) -> DQCTargets:
    """Returns the regression targets, all from ``params`` as they are (no gradient)."""
    with_goal = jnp.concatenate([x.obs, x.goals], -1)
    backup = backup_target(x.rewards, x.masks, x.backup_horizon,
                           nets.value.apply(params.value, x.next_obs, x.goals), hp.discount)
    # With the chunk critic, the distillation target is sigmoid(Q_h) at these same parameters:
    # ``dqc_loss`` takes it from the chunk critic's own forward pass (one pass, not two).
    distill = None if config.use_chunk_critic else backup
    q, q_logit = aggregate_q(
        nets.action_critic.apply(target_action_critic, with_goal, x.prefixes), min_share)
    return jax.lax.stop_gradient(DQCTargets(backup, distill, q, q_logit))


def dqc_loss(params: DQCParams, nets: DQCNetworks, config: DQCConfig, targets: DQCTargets,
             x: DQCInputs, key: jax.Array, hp: DQCHParams) -> tuple[jax.Array, dict]:
    """Returns (the summed loss, its terms and statistics), as ``total_loss`` (lines 151-173)."""
    with_goal = jnp.concatenate([x.obs, x.goals], -1)
    parts = {}
    distill = targets.distill
    if config.use_chunk_critic:
        q_h = nets.chunk_critic.apply(params.chunk_critic, with_goal, x.chunks)
        parts["chunk_critic_loss"] = chunk_critic_loss(q_h, targets.backup)
        parts["chunk_q_mean"] = jnp.mean(jax.nn.sigmoid(q_h))
        distill = jax.lax.stop_gradient(jax.nn.sigmoid(q_h))  # Q_h before this step's update
    q_a = nets.action_critic.apply(params.action_critic, with_goal, x.prefixes)
    parts["action_critic_loss"] = distill_loss(q_a, distill, x.valid, hp.kappa_d,
                                               config.distill_method)
    v = nets.value.apply(params.value, x.obs, x.goals)
    parts["value_loss"] = value_loss(v, targets.backup_q, targets.backup_q_logit, x.valid,
                                     hp.kappa_b, config.implicit_backup_type)

    def velocity(o, noisy, t):
        return nets.actor.apply(params.actor, o, noisy, t)

    h_a = config.policy_chunk_size
    parts["actor_loss"] = flow_matching_loss(
        velocity, x.obs, x.prefixes, key, jnp.repeat(x.valid[:, None], h_a, 1), horizon=h_a)
    loss = sum(v for k, v in parts.items() if k.endswith("_loss"))
    parts.update(q_mean=jnp.mean(jax.nn.sigmoid(q_a)), v_mean=jnp.mean(jax.nn.sigmoid(v)),
                 adv=jnp.mean(targets.backup_q - jax.nn.sigmoid(v)),
                 target_mean=jnp.mean(targets.backup))
    return loss, parts


def make_dqc(config: DQCConfig = DQCConfig()) -> Learner:
    """Returns the DQC learner (its QC / NS / OS variants with ``use_chunk_critic=False``)."""
    h, h_a = config.backup_horizon, config.policy_chunk_size
    for name in ("distill_method", "implicit_backup_type"):
        if getattr(config, name) not in LOSS_TYPES:
            raise ValueError(f"DQC {name}: expected one of {LOSS_TYPES}, found "
                             f"'{getattr(config, name)}'")
    if not 1 <= h_a <= h:
        raise ValueError(f"DQC: expected 1 <= policy_chunk_size <= backup_horizon, found "
                         f"policy_chunk_size {h_a}, backup_horizon {h}")
    for name in ("num_qs", "flow_steps", "best_of_n"):
        if getattr(config, name) < 1:
            raise ValueError(f"DQC {name}: expected >= 1, found {getattr(config, name)}")
    if config.goal_dims is not None and not config.goal_dims:
        raise ValueError("DQC goal_dims: expected None (the whole observation) or indices")

    def check_spec(spec: DataSpec) -> int:
        if spec.discrete or len(spec.observation_shape) != 1:
            raise ValueError(f"DQC: expected continuous actions and flat observations, found "
                             f"discrete={spec.discrete}, observations {spec.observation_shape}")
        o = spec.observation_shape[0]
        if config.goal_dims is not None and max(config.goal_dims) >= o:
            raise ValueError(f"DQC goal_dims: expected indices < {o}, found {config.goal_dims}")
        return o if config.goal_dims is None else len(config.goal_dims)

    def init(key, spec: DataSpec, hp: DQCHParams) -> DQCState:
        g = check_spec(spec)
        nets = dqc_networks(config, spec.action_dim)
        actor_key, chunk_key, action_key, value_key = jax.random.split(key, 4)
        obs, goals = jnp.zeros((1,) + spec.observation_shape), jnp.zeros((1, g))
        with_goal = jnp.concatenate([obs, goals], -1)
        prefix = jnp.zeros((1, h_a * spec.action_dim))
        params = DQCParams(
            actor=nets.actor.init(actor_key, obs, prefix, jnp.zeros((1, 1))),
            chunk_critic=(nets.chunk_critic.init(chunk_key, with_goal,
                                                 jnp.zeros((1, h * spec.action_dim)))
                          if config.use_chunk_critic else None),
            action_critic=nets.action_critic.init(action_key, with_goal, prefix),
            value=nets.value.init(value_key, obs, goals))
        return DQCState(params, params.action_critic, adam_with_lr(hp.lr).init(params),
                        jnp.asarray(hp.q_agg_min, jnp.float32), spec, jnp.int32(0))

    def update(state: DQCState, batch: GoalChunkBatch, key, hp: DQCHParams):
        nets = dqc_networks(config, state.spec.action_dim)
        x = dqc_inputs(state.spec, batch, config)
        targets = dqc_targets(nets, config, state.params, state.target_action_critic, x, hp,
                              state.q_agg_min)
        (loss, parts), grads = jax.value_and_grad(dqc_loss, has_aux=True)(
            state.params, nets, config, targets, x, key, hp)
        updates, opt_state = adam_with_lr(hp.lr).update(grads, state.opt_state)
        state = state.replace(
            params=optax.apply_updates(state.params, updates), opt_state=opt_state,
            target_action_critic=polyak(state.target_action_critic,
                                        state.params.action_critic, hp.tau),
            step=state.step + 1)
        return state, {"loss": loss, **parts}

    def act(state: DQCState, obs, key, deterministic: bool = True):
        del deterministic  # the best of N samples, always
        spec = state.spec
        o, g = spec.observation_shape[0], check_spec(spec)
        if obs.shape[-1] != o + g:
            raise ValueError(f"DQC act: expected [observation, goal] of width {o} + {g}, "
                             f"found {obs.shape[-1]}")
        nets = dqc_networks(config, spec.action_dim)
        w = state.q_agg_min

        def velocity(with_goal, noisy, t):  # the policy never sees the goal
            return nets.actor.apply(state.params.actor, with_goal[..., :o], noisy, t)

        def score(with_goal, prefixes):  # [B, N, o + g], [B, N, d] -> [B, N]
            q = nets.action_critic.apply(state.params.action_critic, with_goal, prefixes)
            return (1.0 - w) * jnp.mean(q, 0) + w * jnp.min(q, 0)

        prefix = best_of_n(velocity, score, obs, key, h_a * spec.action_dim, config.best_of_n,
                           config.flow_steps)
        actions = spec.to_env(prefix.reshape(obs.shape[0], h_a, spec.action_dim))
        return actions.reshape(obs.shape[0], h_a * spec.action_dim)

    def sample(dataset, key, batch_size: int, hp: DQCHParams) -> GoalChunkBatch:
        return sample_goal_chunks(dataset, key, batch_size, h, hp.p_cur, hp.p_traj,
                                  hp.discount, config.goal_dims, config.geometric_goals)

    return Learner("dqc", config, DQCHParams(), init, update, act, batch_size=4096,
                   chunk_horizon=h_a, sample=sample)
