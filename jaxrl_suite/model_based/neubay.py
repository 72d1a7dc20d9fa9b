"""NEUBAY (Ni, Derman, Jain, Taboga, Ravanbakhsh & Bacon, "Long-Horizon Model-Based Offline
Reinforcement Learning Without Conservatism", arXiv 2512.04341; code twni2016/neubay, read at
its HEAD for every fact below, cited as file:line).

The neutral Bayesian recipe: a large dynamics ensemble stands in for the posterior over world
models; each imagined rollout lives in ONE member, drawn when the rollout starts
(``offline_world/cont_ensemble.py:45-50``: rollout n of N*B is member n // B throughout); a
rollout starts at the end of a real history (a trajectory prefix of the dataset, uniformly over
its positions, ``experience/world_buffer.py:240-256``) on which the recurrent agent is warmed
up (``experience/collector.py:115-129``), and runs until the env's true termination rule, the
time limit (1,000 in D4RL) counted from the history's own timestep, or the step whose
epistemic uncertainty exceeds a threshold calibrated on the dataset (``cont_ensemble.py:
334-359, 435-447``; the step that crosses it is kept, flagged truncated). No reward penalty by
default: r - (lambda / mean dataset uncertainty) * u, lambda = 0 (``cont_ensemble.py:365-366,
432``), traced here so the conservative variant is one grid value away.

The uncertainty is ``epi_mean``: sqrt(mean over output dims of the variance over members of
their predicted means), in the standardised frame the ensemble was trained in
(``offline_world/modules.py:311-315``), over the members in use (the ``num_elites`` of lowest
holdout MSE, ``cont_ensemble.py:327-332``; traced and masked here, so planning-ensemble sizes
share one compile). The threshold is its ``unc_quantile`` quantile over the dataset's
transitions (1.0: the maximum; negative: no truncation), numpy's linear interpolation as
``jnp.quantile``.

The agent (``offline_cont.py``, ``online_rl/ac_modules.py``, ``online_rl/ac_losses.py``) is
recurrent SAC with REDQ's critic ensemble: its input at step t is (s_t, a_{t-1}, r_{t-1})
(``experience/wrapper.py:69-140``; zeros at t = 0), fed through Linear-LayerNorm-leaky_relu to
a 2-layer LRU (``nets/lru.py``), separately for the actor and the critic; 10 critic heads
(2 x 256 Linear-LayerNorm-leaky_relu, output init scale 0.01), targets from the min of 2 heads
drawn without replacement per update (``ac_losses.py:49-65``), Huber TD loss averaged over the
heads, the actor against the mean of all heads, entropy in the backup. Training samples a
*tape*: whole trajectories (history then rollout) drawn uniformly from the buffer and
concatenated up to 2,048 steps (``experience/agent_buffer.py:101-129``); transitions are
masked where the next step starts a trajectory, and losses mix real (history) and imagined
(rollout) transitions as w * mean_real + (1 - w) * mean_imagined (``ac_losses.py:76-95``).
Optimisers (``online_rl/common.py:81-95``, ``offline_cont.py:149-209``): AdamW per parameter
group (encoder lr 1e-5, heads 1e-4), each group's gradients NaN-zeroed and clipped at global
norm 1,000, learning rates on a cosine decay over the run (critic to 1.0x, actor to 0.0x);
temperature 0.2, learned towards -|A| x ratio with Adam (lr 1e-4) unless fixed (per-task
``target_alpha_ratio: null``: ``alpha_lr`` = 0 here).

Scheduling (the suite's one deviation, stated): the authors collect 100 rollouts, then run
ceil(0.05 x collected transitions) updates (``offline_cont.py:277-296``), so the number of
updates per round varies. Under the cell vmap that would make every cell wait for the longest;
here a round of ``rollouts_per_round`` rollouts runs every ``round_every`` updates (static,
``Learner.round``), ``round_every`` = utd x rollouts x the dataset's mean trajectory length by
default (the transitions a round adds when rollouts end where the data's episodes end), and
the realised ratio is reported (``utd``) so the difference can be read off.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from jaxrl_suite.agents.base import DataSpec, Learner
from jaxrl_suite.errors import SuiteError
from jaxrl_suite.model_based import dynamics, rollouts
from jaxrl_suite.nets.lru import LAYER_NORM_EPS, LRUConfig, StackedLRU, initial_state
from jaxrl_suite.nets.networks import sample_tanh_gaussian


@dataclasses.dataclass(frozen=True)
class NEUBAYConfig:
    """Static settings (defaults: ``configs/d4rl_loco/base.yaml``)."""

    memory: LRUConfig = LRUConfig()  # model.memory: d_model 256, d_hidden 128, 2 layers
    head_hidden: int = 256  # model.head_d_hidden
    head_layers: int = 2  # model.head_n_layers
    num_critics: int = 10  # model.num_critics (REDQ)
    sampled_critics: int = 2  # model.sampled_critics
    tape_length: int = 2048  # train.batch_size: transitions per update, one tape
    buffer_size: int = 40_000_000  # train.buffer_size (capped at what the run can fill)
    rollouts_per_round: int = 100  # collect.parallel_size
    utd: float = 0.05  # train.utd: updates per collected transition
    horizon: int = 1000  # the env's time limit: rollouts stop at it, trajectories fit in it
    round_every: int = 0  # updates per round; 0: from utd and the data (module docstring)
    num_updates: int = 2_000_000  # train.grad_steps: the cosine decay's length
    uncertainty_chunk: int = 1024  # dataset rows per ensemble call when calibrating
    length_bins: int = 10  # bins of the rollout-length histogram (metrics rollout_len_bin<i>)

    def __post_init__(self):
        for name in ("head_hidden", "head_layers", "num_critics", "sampled_critics",
                     "tape_length", "buffer_size", "rollouts_per_round", "horizon",
                     "num_updates", "uncertainty_chunk", "length_bins"):
            if getattr(self, name) < 1:
                raise SuiteError(f"neubay: '{name}': expected >= 1, found "
                                 f"{getattr(self, name)}")
        if self.sampled_critics > self.num_critics:
            raise SuiteError(f"neubay: 'sampled_critics' ({self.sampled_critics}) must not "
                             f"exceed 'num_critics' ({self.num_critics})")
        if self.tape_length < 2:
            raise SuiteError(f"neubay: 'tape_length': expected >= 2, found {self.tape_length}")
        if not self.utd > 0 or self.round_every < 0:
            raise SuiteError(f"neubay: expected utd > 0 and round_every >= 0, found "
                             f"{self.utd}, {self.round_every}")


@struct.dataclass
class NEUBAYHParams:
    """Traced settings (defaults: ``configs/d4rl_loco/base.yaml``; per-task values in
    ``configs/d4rl_loco/task/*.yaml``, ``TASK_HPARAMS``)."""

    critic_enc_lr: float = 1e-5
    critic_head_lr: float = 1e-4
    actor_enc_lr: float = 1e-5
    actor_head_lr: float = 1e-4
    critic_lr_ratio: float = 1.0  # cosine decay's final fraction
    actor_lr_ratio: float = 0.0
    alpha_lr: float = 1e-4  # 0: the fixed temperature of target_alpha_ratio: null
    init_alpha: float = 0.2
    target_entropy_ratio: float = 1.0  # target entropy -|A| x this
    weight_decay: float = 0.0
    gradient_scale: float = 1000.0  # per-group global-norm clip
    gamma: float = 0.99
    tau: float = 0.005
    real_weight: float = 0.05  # w: the real (history) share of every loss
    unc_quantile: float = 1.0  # truncation threshold's dataset quantile; < 0: none
    penalty_coef: float = 0.0  # lambda, in units of the dataset's mean uncertainty
    num_elites: float = 100.0  # collect.ensemble_size: members in use (of lowest holdout MSE)


# configs/d4rl_loco/task/*.yaml: the authors' tuned values per D4RL dataset (alpha_lr 0 where
# the file sets target_alpha_ratio: null, i.e. the fixed temperature 0.2).
TASK_HPARAMS: dict[str, dict[str, float]] = {}


def _task(name, enc_lr, real_weight, fixed_alpha=False):
    values = dict(critic_enc_lr=enc_lr, actor_enc_lr=enc_lr, real_weight=real_weight)
    if fixed_alpha:
        values["alpha_lr"] = 0.0
    TASK_HPARAMS[name] = values


_task("hopper-medium-v2", 1e-6, 0.8, fixed_alpha=True)
_task("halfcheetah-medium-v2", 3e-5, 0.8)
_task("walker2d-medium-replay-v2", 1e-6, 0.5)
_task("hopper-random-v2", 1e-5, 0.5, fixed_alpha=True)


# ----------------------------------------------------------------------------- networks


def _fan_in_uniform(fan_in: int, scale: float = 1.0):
    """Equinox's Linear init (weights and biases U(+-sqrt(scale / fan_in))); scale 0.01 is the
    critic output's ``final_linear`` (``online_rl/common.py:26-47``)."""
    bound = math.sqrt(scale / fan_in)

    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


class Block(nn.Module):
    """Linear -> LayerNorm -> leaky_relu (``online_rl/common.py:9-23``)."""

    features: int

    @nn.compact
    def __call__(self, x):
        init = _fan_in_uniform(x.shape[-1])
        x = nn.Dense(self.features, kernel_init=init, bias_init=init)(x)
        x = nn.LayerNorm(epsilon=LAYER_NORM_EPS)(x)
        return nn.leaky_relu(x)


class Encoder(nn.Module):
    """Returns (features [T, d_model], memory [layers, d_hidden]) of one tape: the input block
    then the LRU stack (``RecurrentCritic``/``RecurrentActor``'s ``pre`` and ``memory``)."""

    memory: LRUConfig

    @nn.compact
    def __call__(self, x, start, carry, valid=None):
        return StackedLRU(self.memory)(Block(self.memory.d_model)(x), start, carry, valid)


class CriticHead(nn.Module):
    """Returns Q [T] of one head from features and actions [T, d_model + A]."""

    hidden: int
    layers: int

    @nn.compact
    def __call__(self, x):
        for _ in range(self.layers):
            x = Block(self.hidden)(x)
        kernel = _fan_in_uniform(x.shape[-1], scale=0.01)
        return nn.Dense(1, kernel_init=kernel, bias_init=nn.initializers.zeros)(x)[..., 0]


class ActorHead(nn.Module):
    """Returns (mean, log_std) [T, A], log_std clipped to [-5, 2] (``ac_modules.py:206-208``)."""

    hidden: int
    layers: int
    action_dim: int

    @nn.compact
    def __call__(self, x):
        for _ in range(self.layers):
            x = Block(self.hidden)(x)
        init = _fan_in_uniform(x.shape[-1])
        out = nn.Dense(2 * self.action_dim, kernel_init=init, bias_init=init)(x)
        mean, log_std = jnp.split(out, 2, axis=-1)
        return mean, jnp.clip(log_std, -5.0, 2.0)


def huber(x: jax.Array) -> jax.Array:
    """Returns the Huber loss of TD errors at delta 1 (``online_rl/common.py:50-51``)."""
    return jnp.where(jnp.abs(x) < 1.0, 0.5 * jnp.square(x), jnp.abs(x) - 0.5)


def mixed_mean(values: jax.Array, start: jax.Array, real: jax.Array,
               real_weight: jax.Array) -> jax.Array:
    """Returns w * mean(values over real transitions) + (1 - w) * mean(values over imagined
    ones), both over a tape's trainable transitions: values [T - 1] at positions 0..T-2, a
    position masked out where position + 1 starts a trajectory (``ac_losses.py:76-95``; each
    count floored at 1). start, real: [T] bool."""
    mask = 1.0 - start[1:].astype(jnp.float32)
    real_mask = mask * real[:-1].astype(jnp.float32)
    imag_mask = mask - real_mask
    real_mean = jnp.sum(values * real_mask) / jnp.maximum(jnp.sum(real_mask), 1.0)
    imag_mean = jnp.sum(values * imag_mask) / jnp.maximum(jnp.sum(imag_mask), 1.0)
    return real_weight * real_mean + (1.0 - real_weight) * imag_mean


def redq_target(rewards: jax.Array, terminals: jax.Array, next_qs: jax.Array,
                next_log_pi: jax.Array, alpha: jax.Array, gamma: jax.Array) -> jax.Array:
    """Returns r + (1 - d) gamma (min_m Q'_m(h', a') - alpha log pi(a'|h')): REDQ's target over
    the sampled target heads (``ac_losses.py:58-71``). rewards, terminals, next_log_pi: [T];
    next_qs: [M, T] (the M sampled heads)."""
    next_q = jnp.min(next_qs, axis=0) - alpha * next_log_pi
    return rewards + (1.0 - terminals.astype(jnp.float32)) * gamma * next_q


# ----------------------------------------------------------------------------- buffer


@struct.dataclass
class TapeBuffer:
    """A flat ring of trajectory entries [C, ...] and the ring of their trajectories [E].

    Entry j of a trajectory: obs = (s_j, a_{j-1}, r_{j-1}) [D]; action a_j [A] (unit);
    reward r_j (penalised where imagined); terminal d_{j+1}; start (j == 0); real (the
    transition j -> j+1 is the dataset's). A trajectory's last entry is its final observation,
    the rest copied from the entry before (never trained on). Trajectories are written whole
    at ``written`` (entries so far); one is intact while its first entry is within the last C
    written, and only intact ones are sampled (the authors' buffer pops whole trajectories,
    ``agent_buffer.py:184-199``)."""

    obs: jax.Array
    action: jax.Array
    reward: jax.Array
    terminal: jax.Array
    start: jax.Array
    real: jax.Array
    traj_first: jax.Array  # [E] int32: absolute index of each trajectory's first entry
    traj_length: jax.Array  # [E] int32
    written: jax.Array  # [] int32: entries written so far
    trajectories: jax.Array  # [] int32: trajectories written so far

    @property
    def capacity(self) -> int:
        return self.reward.shape[0]


def empty_tape_buffer(capacity: int, obs_dim: int, action_dim: int,
                      max_trajectories: int) -> TapeBuffer:
    """Returns an empty TapeBuffer of ``capacity`` entries and ``max_trajectories`` records."""
    z = lambda *shape, dtype=jnp.float32: jnp.zeros((capacity,) + shape, dtype)  # noqa: E731
    return TapeBuffer(z(obs_dim + action_dim + 1), z(action_dim), z(), z(dtype=bool),
                      z(dtype=bool), z(dtype=bool),
                      jnp.zeros((max_trajectories,), jnp.int32),
                      jnp.zeros((max_trajectories,), jnp.int32), jnp.int32(0), jnp.int32(0))


class Trajectories(struct.PyTreeNode):
    """P trajectories of at most L entries, in the buffer's entry layout: obs [P, L, D], action
    [P, L, A], reward, terminal, real [P, L]; length [P] int32 (entries used)."""

    obs: jax.Array
    action: jax.Array
    reward: jax.Array
    terminal: jax.Array
    real: jax.Array
    length: jax.Array


def add_trajectories(buffer: TapeBuffer, trajs: Trajectories) -> TapeBuffer:
    """Returns the buffer with each trajectory's first ``length`` entries written, one after
    another, at its write position (ring order; entries beyond a length are dropped)."""
    p, width = trajs.reward.shape
    c, e = buffer.capacity, buffer.traj_first.shape[0]
    offsets = jnp.cumsum(trajs.length) - trajs.length  # [P] exclusive
    j = jnp.arange(width)[None, :]
    keep = j < trajs.length[:, None]
    slots = jnp.where(keep, (buffer.written + offsets[:, None] + j) % c, c).reshape(-1)
    write = lambda dst, src: dst.at[slots].set(  # noqa: E731
        src.reshape((p * width,) + src.shape[2:]), mode="drop")
    records = (buffer.trajectories + jnp.arange(p)) % e
    return buffer.replace(
        obs=write(buffer.obs, trajs.obs), action=write(buffer.action, trajs.action),
        reward=write(buffer.reward, trajs.reward),
        terminal=write(buffer.terminal, trajs.terminal),
        start=write(buffer.start, jnp.broadcast_to(j == 0, (p, width))),
        real=write(buffer.real, trajs.real),
        traj_first=buffer.traj_first.at[records].set(buffer.written + offsets),
        traj_length=buffer.traj_length.at[records].set(trajs.length),
        written=buffer.written + jnp.sum(trajs.length),
        trajectories=buffer.trajectories + p)


def intact_trajectories(buffer: TapeBuffer) -> jax.Array:
    """Returns [] int32 the number of most recent trajectories still whole in the ring."""
    e = buffer.traj_first.shape[0]
    age = (buffer.trajectories - 1 - jnp.arange(e)) % e  # record r's age (0 = newest)
    written = age < jnp.minimum(buffer.trajectories, e)
    whole = buffer.traj_first >= buffer.written - buffer.capacity
    return jnp.sum(written & whole).astype(jnp.int32)


class Tape(struct.PyTreeNode):
    """One training tape of T entries (``TapeBuffer`` layout): obs [T, D], action [T, A],
    reward, terminal, start, real [T]."""

    obs: jax.Array
    action: jax.Array
    reward: jax.Array
    terminal: jax.Array
    start: jax.Array
    real: jax.Array


def sample_tape(buffer: TapeBuffer, key: jax.Array, length: int) -> Tape:
    """Returns a tape of ``length`` entries: trajectories drawn uniformly (with replacement)
    from the intact ones, concatenated, the last one cut at ``length``
    (``agent_buffer.py:101-129``). Every trajectory has at least 2 entries, so length // 2 + 1
    draws always fill it."""
    draws = length // 2 + 1
    e = buffer.traj_first.shape[0]
    n = jnp.maximum(intact_trajectories(buffer), 1)
    age = jax.random.randint(key, (draws,), 0, n)
    record = (buffer.trajectories - 1 - age) % e
    lengths = jnp.maximum(buffer.traj_length[record], 1)
    ends = jnp.cumsum(lengths)
    pos = jnp.arange(length)
    k = jnp.searchsorted(ends, pos, side="right")
    within = pos - (ends[k] - lengths[k])
    idx = (buffer.traj_first[record][k] + within) % buffer.capacity
    return Tape(buffer.obs[idx], buffer.action[idx], buffer.reward[idx], buffer.terminal[idx],
                buffer.start[idx], buffer.real[idx])


# ----------------------------------------------------------------------------- state


@struct.dataclass
class RoundStats:
    """The last round's rollouts (and the calibration), reported with every update."""

    horizon_mean: jax.Array  # model steps per rollout
    horizon_q25: jax.Array
    horizon_q50: jax.Array
    horizon_q75: jax.Array
    horizon_max: jax.Array
    truncated_by_uncertainty: jax.Array  # share of rollouts (with >= 1 step) ended so
    terminated: jax.Array  # share ended by the termination rule
    model_reward: jax.Array  # mean raw model reward per imagined step
    uncertainty: jax.Array  # mean u per imagined step
    round_transitions: jax.Array  # the authors' data_size: entries written - rollouts
    utd: jax.Array  # updates per collected transition realised by the round


@struct.dataclass
class Calibration:
    """Per cell, from the dataset: the truncation threshold and the mean uncertainty."""

    threshold: jax.Array
    mean_uncertainty: jax.Array


@struct.dataclass
class NEUBAYState:
    actor: Any
    critic: Any
    target_critic: Any
    actor_opt: Any  # {"encoder": adam state, "head": adam state}
    critic_opt: Any
    log_alpha: jax.Array
    alpha_opt: Any
    buffer: TapeBuffer
    calibration: Calibration
    stats: RoundStats
    length_counts: jax.Array  # [length_bins] rollouts per horizon bin, all rounds so far
    updates: jax.Array  # [] int32 gradient updates so far (the cosine decay's step)
    spec: DataSpec


# ----------------------------------------------------------------------------- rollouts


def members_in_use(holdout_mse: jax.Array, num_elites: jax.Array) -> jax.Array:
    """Returns [M] bool: the ``num_elites`` members of lowest holdout MSE (traced count)."""
    rank = jnp.argsort(jnp.argsort(holdout_mse))
    return rank < jnp.clip(jnp.round(num_elites), 1, holdout_mse.shape[0])


def epistemic_uncertainty(std_means: jax.Array, in_use: jax.Array) -> jax.Array:
    """Returns [B] ``epi_mean``: sqrt(mean over dims of the variance over the members in use
    of their predicted means) (``modules.py:311-312``; numpy's population variance).
    std_means: [M, B, D] in the ensemble's training frame; in_use: [M] bool."""
    w = in_use.astype(jnp.float32)[:, None, None]
    n = jnp.sum(w)
    mean = jnp.sum(w * std_means, axis=0) / n
    var = jnp.sum(w * jnp.square(std_means - mean), axis=0) / n
    return jnp.sqrt(jnp.mean(var, axis=-1))


def dataset_uncertainties(model: dynamics.EnsembleState, dataset, in_use: jax.Array,
                          chunk: int) -> jax.Array:
    """Returns [N] the uncertainty of every dataset transition, ``chunk`` rows per call."""
    n = dataset.num_transitions
    steps = -(-n // chunk)
    rows = jnp.minimum(jnp.arange(steps * chunk), n - 1).reshape(steps, chunk)

    def one(idx):
        means, _ = dynamics.predict_standardized(
            model, dataset.observations[idx].astype(jnp.float32),
            dataset.actions[idx].astype(jnp.float32))
        return epistemic_uncertainty(means, in_use)

    return jax.lax.map(one, rows).reshape(-1)[:n]


def calibrate(model: dynamics.EnsembleState, dataset, in_use: jax.Array,
              quantile: jax.Array, chunk: int = 1024) -> Calibration:
    """Returns the truncation threshold (the ``quantile`` quantile, numpy's linear
    interpolation, of the dataset's uncertainties; inf for a negative quantile) and their
    mean (``cont_ensemble.py:336-366``). Time-limit transitions are left out, as the
    authors' world-model data leave them out (``world_buffer.py:99-101``)."""
    u = dataset_uncertainties(model, dataset, in_use, chunk)
    keep = ~dataset.timeouts
    count = jnp.maximum(jnp.sum(keep), 1)
    ordered = jnp.sort(jnp.where(keep, u, jnp.inf))
    pos = jnp.clip(quantile, 0.0, 1.0) * (count - 1).astype(jnp.float32)
    lo = jnp.floor(pos).astype(jnp.int32)
    hi = jnp.minimum(lo + 1, count - 1)
    value = ordered[lo] + (pos - lo) * (ordered[hi] - ordered[lo])
    return Calibration(jnp.where(quantile < 0, jnp.inf, value),
                       jnp.sum(jnp.where(keep, u, 0.0)) / count)


def sample_histories(dataset, key: jax.Array, spec: DataSpec, num: int,
                     horizon: int) -> tuple[Trajectories, jax.Array, jax.Array]:
    """Returns (``num`` trajectories holding their histories, u [num], done [num]): prefixes
    s_0..s_u of dataset episodes (capped at ``horizon`` steps, ``world_buffer.py:163-168``),
    u uniform over the episodes' positions 0..T (``world_buffer.py:252-256``: a whole episode
    when u = T, then ``done``), laid out as ``horizon + 1`` entries each; entries past u hold
    data the rollout overwrites."""
    width = horizon + 1
    ep_len = jnp.minimum(dataset.episode_lengths, horizon)
    positions = ep_len + 1
    ends = jnp.cumsum(positions)
    g = jax.random.randint(key, (num,), 0, ends[-1])
    ep = jnp.searchsorted(ends, g, side="right")
    u = g - (ends[ep] - positions[ep])
    t_len, first = ep_len[ep], dataset.episode_starts[ep]
    j = jnp.arange(width)[None, :]
    row = first[:, None] + jnp.minimum(j, t_len[:, None] - 1)  # transition j (j < T)
    last = first + t_len - 1
    obs = jnp.where((j < t_len[:, None])[..., None], dataset.observations[row],
                    dataset.next_observations[last][:, None])
    action = spec.to_unit(dataset.actions[row].astype(jnp.float32))
    reward = dataset.rewards[row].astype(jnp.float32)
    prev_a = jnp.concatenate([jnp.zeros_like(action[:, :1]), action[:, :-1]], axis=1)
    prev_r = jnp.concatenate([jnp.zeros_like(reward[:, :1]), reward[:, :-1]], axis=1)
    aug = jnp.concatenate([obs.astype(jnp.float32), prev_a, prev_r[..., None]], axis=-1)
    in_history = j < u[:, None]
    terminal = dataset.terminals[row] & in_history
    trajs = Trajectories(aug, jnp.where(in_history[..., None], action, 0.0),
                         jnp.where(in_history, reward, 0.0), terminal, in_history, u + 1)
    return trajs, u, u == t_len


# ----------------------------------------------------------------------------- factory


def mean_trajectory_length(dataset, horizon: int) -> float:
    """Returns the expected entry count of a round's trajectory when rollouts end where the
    data's episodes do: the episode length (capped at ``horizon``) of a history drawn uniformly
    over positions, i.e. weighted by length + 1, plus its final observation."""
    lengths = np.minimum(np.asarray(dataset.episode_lengths, np.float64), horizon)
    return float(np.sum(lengths * (lengths + 1)) / np.sum(lengths + 1))


def make_neubay(model: dynamics.EnsembleState, env_id: str, dataset,
                config: NEUBAYConfig = NEUBAYConfig()) -> Learner:
    """Returns the NEUBAY learner on the trained ensemble ``model`` of env ``env_id`` (its
    termination rule is needed), sized for ``dataset`` (its rollout starts come from the
    dataset passed to every round)."""
    done_fn = rollouts.termination_fn(env_id)
    lengths = np.asarray(dataset.episode_lengths)
    if lengths.size == 0 or int(lengths.max()) > 10 * config.horizon:
        raise SuiteError(f"neubay: dataset episodes of up to {int(lengths.max(initial=0))} "
                         f"steps; expected at most the env horizon ({config.horizon}) "
                         "(flag --hp / config 'horizon')")
    if dataset.meta.discrete:
        raise SuiteError("neubay: expected a continuous-action dataset")
    p, width = config.rollouts_per_round, config.horizon + 1
    round_every = config.round_every or max(
        1, int(round(config.utd * p * mean_trajectory_length(dataset, config.horizon))))
    rounds = -(-config.num_updates // round_every)
    capacity = int(min(config.buffer_size, rounds * p * width))
    if capacity < width * p:
        raise SuiteError(f"neubay: 'buffer_size' ({capacity}) must hold one round "
                         f"({p} trajectories of up to {width} entries)")
    max_trajectories = capacity // 2 + p
    a_dim = int(dataset.actions.shape[-1])
    encoder = Encoder(config.memory)
    critic_head = CriticHead(config.head_hidden, config.head_layers)
    actor_head = ActorHead(config.head_hidden, config.head_layers, a_dim)
    zero_memory = initial_state(config.memory)

    # -- networks on one tape: obs [T, D], start [T] -> ...
    def features(params, obs, start, carry=zero_memory, valid=None):
        return encoder.apply(params, obs, start, carry, valid)

    def critic_apply(params, obs, start, action):  # -> Q [heads, T]
        y, _ = features(params["encoder"], obs, start)
        x = jnp.concatenate([y, action], axis=-1)
        return jax.vmap(critic_head.apply, in_axes=(0, None))(params["heads"], x)

    def actor_sample(params, obs, start, key):  # -> (actions [T, A] in (-1, 1), log pi [T])
        y, _ = features(params["encoder"], obs, start)
        return sample_tanh_gaussian(*actor_head.apply(params["head"], y), key)

    def adamw(params, grads, opt_state, lr, hp: NEUBAYHParams):
        # online_rl/common.py:81-95: zero_nans, clip_by_global_norm, adamw (decoupled decay).
        grads = jax.tree.map(lambda g: jnp.where(jnp.isnan(g), 0.0, g), grads)
        norm = optax.global_norm(grads)
        grads = jax.tree.map(lambda g: g * jnp.minimum(1.0, hp.gradient_scale / norm), grads)
        updates, opt_state = optax.scale_by_adam(eps=1e-8).update(grads, opt_state)
        params = jax.tree.map(lambda w, u: w - lr * (u + hp.weight_decay * w), params, updates)
        return params, opt_state

    def cosine_lr(lr, ratio, updates):
        # optax.cosine_decay_schedule(lr, num_updates, alpha=ratio) at step ``updates``.
        frac = jnp.minimum(updates, config.num_updates) / config.num_updates
        return lr * ((1.0 - ratio) * 0.5 * (1.0 + jnp.cos(jnp.pi * frac)) + ratio)

    def step_groups(params, grads, opt_state, enc_lr, head_lr, head_name, ratio, updates, hp):
        new, new_opt = {}, {}
        for name, lr in (("encoder", enc_lr), (head_name, head_lr)):
            new[name], new_opt[name] = adamw(params[name], grads[name], opt_state[name],
                                             cosine_lr(lr, ratio, updates), hp)
        return new, new_opt

    def init(key, spec: DataSpec, hparams: NEUBAYHParams) -> NEUBAYState:
        if spec.discrete or len(spec.observation_shape) != 1:
            raise SuiteError("neubay: expected flat observations and continuous actions")
        obs_dim = spec.observation_shape[0]
        d_in = obs_dim + spec.action_dim + 1
        k_ae, k_ah, k_ce, k_ch = jax.random.split(key, 4)
        t = jnp.zeros((2, d_in)), jnp.zeros((2,), bool)
        enc_a = encoder.init(k_ae, *t, zero_memory)
        enc_c = encoder.init(k_ce, *t, zero_memory)
        feat = jnp.zeros((2, config.memory.d_model))
        actor = {"encoder": enc_a, "head": actor_head.init(k_ah, feat)}
        heads = jax.vmap(critic_head.init, in_axes=(0, None))(
            jax.random.split(k_ch, config.num_critics),
            jnp.zeros((2, config.memory.d_model + spec.action_dim)))
        critic = {"encoder": enc_c, "heads": heads}
        adam = optax.scale_by_adam(eps=1e-8)
        zero = jnp.float32(0.0)
        stats = RoundStats(*([zero] * len(dataclasses.fields(RoundStats))))
        log_alpha = jnp.log(jnp.asarray(hparams.init_alpha, jnp.float32))
        return NEUBAYState(
            actor=actor, critic=critic, target_critic=critic,
            actor_opt={name: adam.init(actor[name]) for name in actor},
            critic_opt={name: adam.init(critic[name]) for name in critic},
            log_alpha=log_alpha, alpha_opt=optax.scale_by_adam().init(log_alpha),
            buffer=empty_tape_buffer(capacity, obs_dim, spec.action_dim, max_trajectories),
            calibration=Calibration(jnp.float32(jnp.inf), jnp.float32(1.0)), stats=stats,
            length_counts=jnp.zeros((config.length_bins,), jnp.int32), updates=jnp.int32(0),
            spec=spec)

    def round_fn(state: NEUBAYState, dataset, key, hp: NEUBAYHParams, step) -> NEUBAYState:
        spec = state.spec
        in_use = members_in_use(model.holdout_mse, hp.num_elites)
        calib = jax.lax.cond(
            step == 0,
            lambda: calibrate(model, dataset, in_use, hp.unc_quantile, config.uncertainty_chunk),
            lambda: state.calibration)
        hist_key, warm_key, member_key, roll_key = jax.random.split(key, 4)
        trajs, u, done0 = sample_histories(dataset, hist_key, spec, p, config.horizon)
        # One member per rollout, uniform over those in use, for the whole rollout.
        member = jax.random.categorical(member_key, jnp.where(in_use, 0.0, -jnp.inf), shape=(p,))
        penalty = hp.penalty_coef / calib.mean_uncertainty
        rows = jnp.arange(p)

        # Warm-up: the actor's memory over s_0..s_u, and a_u ~ pi(h_u) (collector.py:115-129).
        valid = jnp.arange(width)[None, :] <= u[:, None]
        start = jnp.broadcast_to(jnp.arange(width) == 0, (p, width))
        y, memory = jax.vmap(lambda o, s, v: features(state.actor["encoder"], o, s,
                                                      zero_memory, v))(trajs.obs, start, valid)
        y_u = y[rows, u]
        action, _ = sample_tanh_gaussian(*actor_head.apply(state.actor["head"], y_u), warm_key)
        obs_dim = spec.observation_shape[0]
        s = trajs.obs[rows, u, :obs_dim]

        def body(carry):
            k, s, action, memory, trajs, alive, steps, term, trunc, sums, key = carry
            key, noise_key, act_key = jax.random.split(key, 3)
            env_action = spec.to_env(action)
            std_means, logvar = dynamics.predict_standardized(model, s, env_action)
            unc = epistemic_uncertainty(std_means, in_use)
            mean = std_means[member, rows] * model.target_std + model.target_mean
            std = jnp.exp(0.5 * logvar[member, rows]) * model.target_std
            sample = mean + std * jax.random.normal(noise_key, mean.shape)
            next_s, raw_r = s + sample[:, :-1], sample[:, -1]
            done = done_fn(s, env_action, next_s)
            tau = u + k + 1  # the env timestep after this step
            cut = unc > calib.threshold
            new_term, new_trunc = done, (tau >= config.horizon) | cut
            pos = u + k
            put = lambda arr, val: arr.at[rows, pos].set(  # noqa: E731
                jnp.where(alive.reshape((p,) + (1,) * (val.ndim - 1)), val, arr[rows, pos]))
            next_aug = jnp.concatenate([next_s, action, raw_r[:, None]], axis=-1)
            trajs = trajs.replace(
                action=put(trajs.action, action),
                reward=put(trajs.reward, raw_r - penalty * unc),
                terminal=put(trajs.terminal, new_term),
                obs=trajs.obs.at[rows, pos + 1].set(
                    jnp.where(alive[:, None], next_aug, trajs.obs[rows, pos + 1])))
            live = alive.astype(jnp.float32)
            sums = sums + jnp.stack([jnp.sum(live * raw_r), jnp.sum(live * unc)])
            steps = steps + alive.astype(jnp.int32)
            ended = alive & (new_term | new_trunc)
            term = term | (alive & new_term)
            trunc = trunc | (alive & ~new_term & cut)
            alive = alive & ~ended
            # The next action from h_{t+1}: one recurrent step.
            y, memory = jax.vmap(lambda o, m: features(state.actor["encoder"], o[None],
                                                       jnp.zeros((1,), bool), m))(
                next_aug, memory)
            action, _ = sample_tanh_gaussian(*actor_head.apply(state.actor["head"], y[:, 0]),
                                             act_key)
            return k + 1, next_s, action, memory, trajs, alive, steps, term, trunc, sums, key

        alive0 = ~done0
        init = (jnp.int32(0), s, action, memory, trajs, alive0, jnp.zeros((p,), jnp.int32),
                jnp.zeros((p,), bool), jnp.zeros((p,), bool), jnp.zeros((2,)), roll_key)
        _, _, _, _, trajs, _, steps, term, trunc, sums, _ = jax.lax.while_loop(
            lambda c: jnp.any(c[5]) & (c[0] < config.horizon), body, init)
        # Entries: s_0..s_{u+steps}; the last copies the one before (world_buffer.py:214-219,
        # collector.py:226-234), never trained on.
        length = u + steps + 1
        last, prev = length - 1, jnp.maximum(length - 2, 0)
        copy = lambda arr: arr.at[rows, last].set(arr[rows, prev])  # noqa: E731
        trajs = trajs.replace(action=copy(trajs.action), reward=copy(trajs.reward),
                              terminal=copy(trajs.terminal), real=copy(trajs.real),
                              length=length)
        buffer = add_trajectories(state.buffer, trajs)
        rolled = steps > 0
        n_rolled = jnp.maximum(jnp.sum(rolled), 1)
        n_steps = jnp.maximum(jnp.sum(steps), 1)
        q = jnp.quantile(steps.astype(jnp.float32), jnp.array([0.25, 0.5, 0.75, 1.0]))
        data_size = jnp.sum(length) - p
        stats = RoundStats(
            horizon_mean=jnp.mean(steps.astype(jnp.float32)), horizon_q25=q[0],
            horizon_q50=q[1], horizon_q75=q[2], horizon_max=q[3],
            truncated_by_uncertainty=jnp.sum(trunc & rolled) / n_rolled,
            terminated=jnp.sum(term & rolled) / n_rolled,
            model_reward=sums[0] / n_steps, uncertainty=sums[1] / n_steps,
            round_transitions=data_size.astype(jnp.float32),
            utd=round_every / jnp.maximum(data_size, 1).astype(jnp.float32))
        bins = jnp.minimum(steps * config.length_bins // (config.horizon + 1),
                           config.length_bins - 1)
        counts = state.length_counts + jnp.zeros_like(state.length_counts).at[bins].add(1)
        return state.replace(buffer=buffer, calibration=calib, stats=stats,
                             length_counts=counts)

    # -- one gradient update on one tape (ac_losses.py:181-243)

    def update(state: NEUBAYState, batch, key, hp: NEUBAYHParams):
        del batch  # NEUBAY trains on its own buffer's tapes
        tape_key, next_key, pick_key, actor_key = jax.random.split(key, 4)
        tape = sample_tape(state.buffer, tape_key, config.tape_length)
        alpha = jnp.exp(state.log_alpha)
        next_action, next_log_pi = actor_sample(state.actor, tape.obs, tape.start, next_key)
        picked = jax.random.choice(pick_key, config.num_critics, (config.sampled_critics,),
                                   replace=False)
        target = dict(state.target_critic,
                      heads=jax.tree.map(lambda x: x[picked], state.target_critic["heads"]))
        next_qs = critic_apply(target, tape.obs, tape.start, next_action)[:, 1:]
        y = jax.lax.stop_gradient(redq_target(tape.reward[:-1], tape.terminal[:-1], next_qs,
                                              next_log_pi[1:], alpha, hp.gamma))

        def critic_loss(params):
            qs = critic_apply(params, tape.obs, tape.start, tape.action)[:, :-1]
            loss = mixed_mean(jnp.mean(huber(qs - y[None]), axis=0), tape.start, tape.real,
                              hp.real_weight)
            return loss, qs[0]

        (q_loss, q0), grads = jax.value_and_grad(critic_loss, has_aux=True)(state.critic)
        critic, critic_opt = step_groups(state.critic, grads, state.critic_opt,
                                         hp.critic_enc_lr, hp.critic_head_lr, "heads",
                                         hp.critic_lr_ratio, state.updates, hp)
        target_critic = jax.tree.map(lambda t, o: hp.tau * o + (1.0 - hp.tau) * t,
                                     state.target_critic, critic)

        def actor_loss(params):
            action, log_pi = actor_sample(params, tape.obs, tape.start, actor_key)
            q = jnp.mean(critic_apply(critic, tape.obs, tape.start, action)[:, :-1], axis=0)
            loss = mixed_mean(alpha * log_pi[:-1] - q, tape.start, tape.real, hp.real_weight)
            return loss, log_pi

        (pi_loss, log_pi), grads = jax.value_and_grad(actor_loss, has_aux=True)(state.actor)
        actor, actor_opt = step_groups(state.actor, grads, state.actor_opt, hp.actor_enc_lr,
                                       hp.actor_head_lr, "head", hp.actor_lr_ratio,
                                       state.updates, hp)
        # ac_losses.py:152-178: alpha * (entropy - target), mixed; Adam on log alpha.
        target_entropy = -float(state.spec.action_dim) * hp.target_entropy_ratio
        entropy = -jax.lax.stop_gradient(log_pi[:-1])
        alpha_grad = alpha * mixed_mean(entropy - target_entropy, tape.start, tape.real,
                                        hp.real_weight)
        step, alpha_opt = optax.scale_by_adam().update(alpha_grad, state.alpha_opt)
        log_alpha = state.log_alpha - hp.alpha_lr * step
        mask = 1.0 - tape.start[1:].astype(jnp.float32)
        threshold = state.calibration.threshold
        metrics = dict(critic_loss=q_loss, actor_loss=pi_loss, alpha=alpha,
                       entropy=mixed_mean(entropy, tape.start, tape.real, hp.real_weight),
                       q_mean=jnp.sum(q0 * mask) / jnp.maximum(jnp.sum(mask), 1.0),
                       # -1: no truncation (a non-finite metric would read as divergence)
                       threshold=jnp.where(jnp.isfinite(threshold), threshold, -1.0),
                       **{k: v for k, v in dataclasses.asdict(state.stats).items()},
                       # share of all rollouts so far per length bin (horizon / bins wide)
                       **{f"rollout_len_bin{i}": share for i, share in enumerate(
                           state.length_counts / jnp.maximum(jnp.sum(state.length_counts), 1))})
        return state.replace(actor=actor, critic=critic, target_critic=target_critic,
                             actor_opt=actor_opt, critic_opt=critic_opt, log_alpha=log_alpha,
                             alpha_opt=alpha_opt, updates=state.updates + 1), metrics

    # -- acting: a recurrent policy over (s_t, a_{t-1}, r_{t-1})

    def initial_carry(state: NEUBAYState, num: int):
        del state
        return initial_state(config.memory, (num,))

    def act_recurrent(state: NEUBAYState, obs, key, deterministic: bool, carry):
        # obs: [B, obs_dim + A + 1], the previous action in env units (envs/evaluate.py).
        spec = state.spec
        obs_dim = spec.observation_shape[0]
        prev = spec.to_unit(obs[:, obs_dim:obs_dim + spec.action_dim])
        x = jnp.concatenate([obs[:, :obs_dim], prev, obs[:, -1:]], axis=-1)
        y, carry = jax.vmap(lambda o, m: features(state.actor["encoder"], o[None],
                                                  jnp.zeros((1,), bool), m))(x, carry)
        mean, log_std = actor_head.apply(state.actor["head"], y[:, 0])
        sampled, _ = sample_tanh_gaussian(mean, log_std, key)
        action = jnp.tanh(mean) if deterministic else sampled
        return spec.to_env(action), carry

    def act(state: NEUBAYState, obs, key, deterministic: bool = True):
        # An episode's first step (no history yet): zero previous action and reward.
        pad = jnp.zeros((obs.shape[0], state.spec.action_dim + 1), jnp.float32)
        carry = initial_carry(state, obs.shape[0])
        return act_recurrent(state, jnp.concatenate([obs, pad], axis=-1), key, deterministic,
                             carry)[0]

    def sample(dataset, key, batch_size, hparams):
        del dataset, key, batch_size, hparams
        return ()

    return Learner("neubay", config, NEUBAYHParams(), init, update, act,
                   batch_size=config.tape_length, sample=sample, round=round_fn,
                   round_every=round_every, initial_carry=initial_carry,
                   act_recurrent=act_recurrent)
