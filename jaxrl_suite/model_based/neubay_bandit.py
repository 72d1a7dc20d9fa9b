"""NEUBAY's bandit illustration (Ni et al. 2025, "Long-Horizon Model-Based Offline RL Without
Conservatism", arXiv 2512.04341, Section 3 and Figure 3; README "Quickstart on the toy
example"): a recurrent DDQN agent trained only in a reward ensemble fitted to data that never
pulled arm 1, then evaluated on real bandits whose arm 1 is better or worse than arm 0.

Source: twni2016/neubay (5604bad), cited file:line. What is reproduced:

* Bandit and data (``offline_world/bandit_data.py``): two Bernoulli arms, reward 1 with
  probability p[a] else 0 (:12-42), episodes of 100 steps (:45-46), the dataset 10 episodes of
  a [0.5, 0.5] bandit always pulling arm 0 (:49-56, :65-80). Generated here from
  ``BanditConfig.data_seed``; the repo's ``bandit.pkl`` is not read.
* Reward ensemble (``offline_world/bandit_ensemble.py``, ``offline_world/modules.py:62-204``,
  ``offline_world/losses.py``): 128 members (bandit_ensemble.py:105) of two blocks Linear ->
  LayerNorm -> leaky_relu of 16 units on the one-hot arm, then mu and log sigma soft-clamped to
  [-5, 0.25] (modules.py:62-133); Gaussian NLL (losses.py:6-52); AdamW lr 1e-3, weight decay
  1e-4, batch 128, each member its own permutation per epoch (bandit_ensemble.py:146-183); an
  80/20 split fixed across seeds (:92-94); per-member best snapshot on validation NLL and early
  stopping when no member improves it by more than 0.001 for 5 epochs, at most 500 epochs
  (:158-214). The 100 members of lowest validation NLL are used, best first (:302-310).
* Imagined rollouts (bandit_ensemble.py:21-58, :317-349): 100 in parallel, rollout n in member
  n // (100 / 100) for its whole episode (:43-47); reward mu + eps sigma - penalty_coef * unc,
  unc = ``epi_mean`` = std over the members in use of mu for the pulled arm (modules.py:185);
  the agent sees (0, one-hot previous arm, previous *raw* reward), arm 0 and reward 0 before the
  first pull (:22-27, experience/wrapper.py:102, :120-129).
* Agent (``offline_bandit.py``, ``configs/offline_bandit.yaml``, ``online_rl/q_modules.py``,
  ``online_rl/q_losses.py``, ``online_rl/common.py``): Linear-LayerNorm-leaky_relu then a
  2-layer LRU (d_model 256, d_hidden 128, r_max 0.9), a dueling head of 2 x 256 blocks with
  value and advantage outputs initialised at scale 0.01 (q_modules.py:10-38, common.py:43-47);
  DDQN on tapes of 1,000 entries: argmax from the online network, value from the target,
  Huber loss masked where the next entry starts an episode (q_losses.py:8-50); AdamW per
  parameter group (encoder 3e-6, head 1e-4, weight decay 0), each group's gradients NaN-zeroed
  and clipped at global norm 1.0, cosine schedule to ratio 1.0 (constant) (common.py:81-95,
  offline_bandit.py:138-164); gamma 0.99, Polyak tau 0.005 (q_losses.py:62); epsilon-greedy
  collection, epsilon from 1.0 to 0.1 linearly over the first 10% of the 20,000 grad steps,
  fixed within a round at its start (offline_bandit.py:257-269, q_modules.py:135-179).
* Schedule (offline_bandit.py:178-305): each round collects 100 rollouts of 100 steps
  (10,000 transitions, the terminal observation not counted, experience/collector.py:69-70),
  then runs ceil(0.02 x 10,000) = 200 grad steps; the loop stops once grad steps *exceed*
  20,000 (:254), so it runs 101 rounds (20,200 steps). Here one ``lax.scan`` over rounds, each a
  collection then a ``lax.scan`` of grad steps, reproduces that schedule exactly.
* Evaluation (``experience/evaluator.py:10-102``, offline_bandit.py:32-51, :180-238): greedy
  agent, 20 real episodes for each arm-1 probability in (0.01, 0.15, 0.3, 0.45, 0.55, 0.7, 0.85,
  0.99) with arm 0 at 0.5; per probability the mean episode reward and the best-arm rate (the
  share of pulls of the better arm).

The penalty grid shares each seed's ensemble: ``train`` trains it from ``key`` alone, so under
``make_bandit_grid``'s ``vmap(vmap(train, (None, 0)), (0, None))`` the inner vmap over
hyperparameters leaves the ensemble's computation unbatched (vmap batches only what depends on
a batched input): it is trained once per seed inside the one compiled program.

Deviations (each also at its line): the 80/20 split is a fixed JAX permutation (PRNGKey 42),
not sklearn's ``random_state=42``; one fixed dataset from ``data_seed`` (the authors' one
pickle); the tape buffer samples whole intact trajectories from a ring (neubay.TapeBuffer)
where the authors pop whole episodes from a deque (same distribution once full);
evaluation at ``num_evals`` points (the authors evaluate every 200 grad steps); the learned-
world greedy evaluation the authors log (offline_bandit.py:185-190) is not run; random draws
differ from the authors' for one seed, the distributions are theirs.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import json
import math
import os
import pathlib
import time
from typing import Any, Callable, Sequence

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from jaxrl_suite.data.io import atomic_write
from jaxrl_suite.errors import SuiteError
# _fan_in_uniform: equinox.nn.Linear's init (and the authors' final_linear at scale 0.01),
# private in neubay.py; reused rather than copied.
from jaxrl_suite.model_based.neubay import (Block, Encoder, TapeBuffer, Trajectories,
                                            _fan_in_uniform, add_trajectories,
                                            empty_tape_buffer, huber, sample_tape)
from jaxrl_suite.nets.lru import LRUConfig, initial_state

NUM_ARMS = 2
EVAL_PROBS = (0.01, 0.15, 0.3, 0.45, 0.55, 0.7, 0.85, 0.99)  # offline_bandit.py:32
SPLIT_SEED = 42  # bandit_ensemble.py:92-94: one train/validation split for every seed
MIN_LOG_SIGMA, MAX_LOG_SIGMA = -5.0, 0.25  # modules.py:108-109


@dataclasses.dataclass(frozen=True)
class BanditConfig:
    """Static sizes and counts (defaults: the authors', files cited per field)."""

    # bandit and offline data (offline_world/bandit_data.py)
    episode_length: int = 100  # TimeLimit max_episode_steps (:46)
    data_episodes: int = 10  # n_envs (:65), one episode each
    data_probs: tuple[float, float] = (0.5, 0.5)  # (:67); arm 0's is also the eval's
    data_seed: int = 0  # the one dataset every seed trains on (the authors' one pickle)
    # reward ensemble (bandit_ensemble.py:100-113, collect.ensemble_size)
    members: int = 128
    elites: int = 100  # members in use, lowest validation NLL first
    model_hidden: int = 16
    model_epochs: int = 500
    model_patience: int = 5  # epochs without improvement before stopping
    model_improve: float = 0.001  # absolute validation-NLL improvement that counts
    model_batch: int = 128
    model_lr: float = 1e-3
    model_weight_decay: float = 1e-4
    valid_fraction: float = 0.2
    # agent (configs/offline_bandit.yaml)
    memory: LRUConfig = LRUConfig(d_model=256, d_hidden=128, n_layers=2, r_min=0.0, r_max=0.9)
    head_hidden: int = 256  # model.head_d_hidden
    head_layers: int = 2  # model.head_n_layers
    rollouts_per_round: int = 100  # collect.parallel_size
    tape_length: int = 1000  # train.batch_size: entries per tape
    buffer_size: int = 1_000_000  # train.buffer_size, in entries
    utd: float = 0.02  # train.utd: grad steps per collected transition
    grad_steps: int = 20_000  # train.grad_steps: the loop's bound, eps and cosine schedules
    gradient_scale: float = 1.0  # per-group global-norm clip
    weight_decay: float = 0.0
    adam_eps: float = 1e-8
    # evaluation (configs/offline_bandit.yaml eval, offline_bandit.py:32)
    eval_probs: tuple[float, ...] = EVAL_PROBS
    eval_episodes: int = 20  # eval.real_episodes, per probability
    num_evals: int = 6  # learning-curve points, first at 0 grad steps, last the final

    def __post_init__(self):
        for name in ("episode_length", "data_episodes", "members", "elites", "model_hidden",
                     "model_epochs", "model_patience", "model_batch", "head_hidden",
                     "head_layers", "rollouts_per_round", "tape_length", "buffer_size",
                     "grad_steps", "eval_episodes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise SuiteError(f"neubay_bandit: '{name}': expected a positive int, found "
                                 f"{value!r}")
        if len(self.data_probs) != NUM_ARMS or not all(0 <= p <= 1 for p in self.data_probs):
            raise SuiteError(f"neubay_bandit: 'data_probs': expected {NUM_ARMS} probabilities, "
                             f"found {self.data_probs!r}")
        if not self.eval_probs or not all(0 <= p <= 1 for p in self.eval_probs):
            raise SuiteError(f"neubay_bandit: 'eval_probs': expected probabilities, found "
                             f"{self.eval_probs!r}")
        if self.elites > self.members:
            raise SuiteError(f"neubay_bandit: 'elites' ({self.elites}) must not exceed "
                             f"'members' ({self.members})")
        if self.rollouts_per_round % self.elites:
            # bandit_ensemble.py:324: each member in use gets the same number of rollouts.
            raise SuiteError(f"neubay_bandit: 'rollouts_per_round' ({self.rollouts_per_round})"
                             f" must be a multiple of 'elites' ({self.elites})")
        n = self.data_episodes * self.episode_length
        n_valid = math.ceil(self.valid_fraction * n)
        if not 0 < n_valid < n:
            raise SuiteError(f"neubay_bandit: 'valid_fraction' {self.valid_fraction} leaves no "
                             f"training or validation transitions of {n}")
        if self.tape_length < 2 or self.num_evals < 2:
            raise SuiteError("neubay_bandit: expected tape_length >= 2 and num_evals >= 2, "
                             f"found {self.tape_length}, {self.num_evals}")
        if not self.utd > 0:
            raise SuiteError(f"neubay_bandit: 'utd': expected > 0, found {self.utd}")
        if self.buffer_size < self.rollouts_per_round * (self.episode_length + 1):
            raise SuiteError(f"neubay_bandit: 'buffer_size' ({self.buffer_size}) must hold one "
                             f"round ({self.rollouts_per_round} x {self.episode_length + 1})")

    @property
    def steps_per_round(self) -> int:
        """Grad steps after each round: ceil(utd x transitions collected), offline_bandit.py:
        280-283 (the same Python float product, so 0.02 x 10,000 gives exactly 200)."""
        return math.ceil(self.rollouts_per_round * self.episode_length * self.utd)

    @property
    def num_rounds(self) -> int:
        """Rounds the authors' loop runs: it stops once grad steps exceed ``grad_steps``
        (offline_bandit.py:254), i.e. floor(grad_steps / steps_per_round) + 1 rounds."""
        return self.grad_steps // self.steps_per_round + 1

    @property
    def eval_rounds(self) -> tuple[int, ...]:
        """Rounds before which the agent is evaluated (``num_rounds``: after the last),
        evenly spaced from 0 to ``num_rounds``."""
        points = np.linspace(0, self.num_rounds, self.num_evals).round().astype(int)
        return tuple(sorted(set(points.tolist())))

    @property
    def eval_grad_steps(self) -> tuple[int, ...]:
        """Grad steps at the learning-curve points."""
        return tuple(r * self.steps_per_round for r in self.eval_rounds)


@struct.dataclass
class BanditHParams:
    """Traced settings (defaults: configs/offline_bandit.yaml; the README sweeps penalty_coef
    and enc_lr)."""

    penalty_coef: float = 0.0  # collect.penalty_coef: reward - coef * epi_mean
    enc_lr: float = 3e-6  # train.enc_lr: input block and LRU
    head_lr: float = 1e-4  # train.head_lr
    lr_ratio: float = 1.0  # cosine decay's final fraction (1.0: constant)
    gamma: float = 0.99
    tau: float = 0.005  # train.target_tau
    eps_start: float = 1.0
    eps_end: float = 0.1
    eps_end_ratio: float = 0.1  # share of grad_steps over which epsilon anneals


def stack_hparams(hparams: Sequence[BanditHParams]) -> BanditHParams:
    """Returns the hyperparameter settings stacked on a leading axis [H] (float32)."""
    return jax.tree.map(lambda *xs: jnp.asarray(xs, jnp.float32), *hparams)


# ----------------------------------------------------------------------------- bandit, data


@struct.dataclass
class BanditData:
    """Offline episodes: actions [E, T] int32, rewards [E, T] float32 (reward of each pull)."""

    actions: jax.Array
    rewards: jax.Array


def pull(key: jax.Array, probs: jax.Array, actions: jax.Array) -> jax.Array:
    """Returns float32 rewards, 1 with probability probs[..., a] else 0 (bandit_data.py:36-42).
    probs: [..., A]; actions: [...] int."""
    p = jnp.take_along_axis(probs, actions[..., None], axis=-1)[..., 0]
    return jax.random.bernoulli(key, p).astype(jnp.float32)


def generate_bandit_data(key: jax.Array, config: BanditConfig) -> BanditData:
    """Returns ``data_episodes`` episodes of ``episode_length`` pulls of arm 0 in the
    ``data_probs`` bandit (bandit_data.py:49-80, VectorNaiveAgent)."""
    shape = (config.data_episodes, config.episode_length)
    actions = jnp.zeros(shape, jnp.int32)
    probs = jnp.broadcast_to(jnp.asarray(config.data_probs, jnp.float32), shape + (NUM_ARMS,))
    return BanditData(actions, pull(key, probs, actions))


def bandit_dataset(config: BanditConfig) -> BanditData:
    """Returns the one offline dataset (from ``config.data_seed``)."""
    return generate_bandit_data(jax.random.PRNGKey(config.data_seed), config)


# ----------------------------------------------------------------------------- reward ensemble


def soft_clamp(x: jax.Array, low: float, high: float) -> jax.Array:
    """Returns x squashed into (low, high) by two softplus steps, gradient kept
    (modules.py:62-74, after PETS)."""
    x = high - jax.nn.softplus(high - x)
    return low + jax.nn.softplus(x - low)


class RewardModel(nn.Module):
    """Returns (mu [B], sigma [B]) of one member from one-hot arms [B, A] (modules.py:103-133):
    two Blocks, then mu and soft-clamped log sigma."""

    hidden: int

    @nn.compact
    def __call__(self, x):
        x = Block(self.hidden)(x)
        x = Block(self.hidden)(x)
        init = _fan_in_uniform(self.hidden)
        mu = nn.Dense(1, kernel_init=init, bias_init=init, name="mu")(x)[..., 0]
        log_sigma = nn.Dense(1, kernel_init=init, bias_init=init, name="log_sigma")(x)[..., 0]
        return mu, jnp.exp(soft_clamp(log_sigma, MIN_LOG_SIGMA, MAX_LOG_SIGMA))


def gaussian_nll(mu: jax.Array, sigma: jax.Array, y: jax.Array) -> jax.Array:
    """Returns the elementwise Gaussian negative log-likelihood (losses.py:14-22)."""
    return 0.5 * jnp.log(2 * jnp.pi) + jnp.log(sigma) + 0.5 * jnp.square((y - mu) / sigma)


@struct.dataclass
class RewardEnsemble:
    """Trained members (each its best validation snapshot): params [M, ...], their validation
    NLL [M], and the epochs run."""

    params: Any
    valid_nll: jax.Array
    epochs: jax.Array


def ensemble_predict(config: BanditConfig, params, x: jax.Array):
    """Returns (mu, sigma) [M, B] of every member on the same one-hot arms x [B, A]
    (``forward_same_data``, modules.py:161-190)."""
    model = RewardModel(config.model_hidden)
    return jax.vmap(model.apply, in_axes=(0, None))(params, x)


def split_transitions(data: BanditData, valid_fraction: float):
    """Returns (x_train [n_tr, A], y_train [n_tr], x_valid [n_va, A], y_valid [n_va]): the
    dataset's transitions as one-hot arms and rewards, split by a permutation fixed across
    seeds (bandit_ensemble.py:85-98: sklearn's shuffle with random_state 42 there, a JAX
    permutation of PRNGKey(42) here; the validation part is the first ceil(fraction n))."""
    x = jax.nn.one_hot(data.actions.reshape(-1), NUM_ARMS, dtype=jnp.float32)
    y = data.rewards.reshape(-1).astype(jnp.float32)
    n = y.shape[0]
    n_valid = math.ceil(valid_fraction * n)  # sklearn's test_size: ceil(0.2 n)
    order = jax.random.permutation(jax.random.PRNGKey(SPLIT_SEED), n)
    valid, train = order[:n_valid], order[n_valid:]
    return x[train], y[train], x[valid], y[valid]


@struct.dataclass
class _FitState:
    epoch: jax.Array
    wait: jax.Array
    params: Any
    opt_state: Any
    best_params: Any
    best_nll: jax.Array
    key: jax.Array


def train_reward_ensemble(key: jax.Array, data: BanditData,
                          config: BanditConfig) -> RewardEnsemble:
    """Returns the reward ensemble fitted to ``data`` (bandit_ensemble.py:100-217): every
    member its best validation snapshot, early-stopped when no member improved its validation
    NLL by more than ``model_improve`` for ``model_patience`` epochs."""
    x_train, y_train, x_valid, y_valid = split_transitions(data, config.valid_fraction)
    m, n_train, batch = config.members, y_train.shape[0], config.model_batch
    model = RewardModel(config.model_hidden)
    init_key, key = jax.random.split(key)
    params = jax.vmap(model.init, in_axes=(0, None))(jax.random.split(init_key, m),
                                                     x_train[:1])
    opt = optax.adamw(config.model_lr, eps=1e-8, weight_decay=config.model_weight_decay)

    def valid_nll(p):  # [M]: losses.py:6-25
        mu, sigma = ensemble_predict(config, p, x_valid)
        return jnp.mean(gaussian_nll(mu, sigma, y_valid[None]), axis=-1)

    def step(carry, batch):  # idx: [M, b] rows per member; weight: [b] (0 on padding)
        p, opt_state = carry
        idx, weight = batch

        def loss(p):  # losses.py:42-52: the mean over members and (real) rows
            mu, sigma = jax.vmap(model.apply)(p, x_train[idx])
            nll = gaussian_nll(mu, sigma, y_train[idx])
            return jnp.sum(nll * weight) / (m * jnp.sum(weight))

        grads = jax.grad(loss)(p)
        updates, opt_state = opt.update(grads, opt_state, p)
        return (optax.apply_updates(p, updates), opt_state), None

    # ceil(n / batch) batches an epoch, the last one short (bandit_ensemble.py:166, :177): padded
    # to full size with zero weight, so one scan body serves all of them.
    num_batches = -(-n_train // batch)
    pad = num_batches * batch - n_train
    weight = (jnp.arange(num_batches * batch) < n_train).astype(jnp.float32)
    weight = weight.reshape(num_batches, batch)

    def epoch(s: _FitState) -> _FitState:
        key, perm_key = jax.random.split(s.key)
        perms = jax.vmap(lambda k: jax.random.permutation(k, n_train))(
            jax.random.split(perm_key, m))  # bandit_ensemble.py:170-174
        perms = jnp.pad(perms, ((0, 0), (0, pad)))
        batches = perms.reshape(m, num_batches, batch).swapaxes(0, 1)
        (p, opt_state), _ = jax.lax.scan(step, (s.params, s.opt_state), (batches, weight))
        nll = valid_nll(p)
        improved = (s.best_nll - nll) > config.model_improve  # :191
        pick = lambda new, old: jnp.where(  # noqa: E731
            improved.reshape((m,) + (1,) * (new.ndim - 1)), new, old)
        return _FitState(epoch=s.epoch + 1,
                         wait=jnp.where(jnp.any(improved), 0, s.wait + 1),
                         params=p, opt_state=opt_state,
                         best_params=jax.tree.map(pick, p, s.best_params),
                         best_nll=jnp.where(improved, nll, s.best_nll), key=key)

    start = _FitState(jnp.int32(0), jnp.int32(0), params, opt.init(params), params,
                      valid_nll(params), key)
    end = jax.lax.while_loop(
        lambda s: (s.epoch < config.model_epochs) & (s.wait < config.model_patience),
        epoch, start)
    # bandit_ensemble.py:304-307 ranks the saved members by a fresh validation pass.
    return RewardEnsemble(end.best_params, valid_nll(end.best_params), end.epoch)


@struct.dataclass
class RewardWorld:
    """The members in use, best validation NLL first, as per-arm tables (the inputs are one-hot
    arms, so a member's whole function is its row): mu, sigma [N, A]; uncertainty [A] =
    ``epi_mean``, the std over the N members of mu (modules.py:185, ddof 0)."""

    mu: jax.Array
    sigma: jax.Array
    uncertainty: jax.Array


def make_world(config: BanditConfig, ensemble: RewardEnsemble) -> RewardWorld:
    """Returns the RewardWorld of the ``config.elites`` members of lowest validation NLL
    (bandit_ensemble.py:304-310: argsort, then rollout n uses the n // B-th of them)."""
    elites = jnp.argsort(ensemble.valid_nll)[:config.elites]
    mu, sigma = ensemble_predict(config, ensemble.params, jnp.eye(NUM_ARMS))  # [M, A]
    mu, sigma = mu[elites], sigma[elites]
    return RewardWorld(mu, sigma, jnp.std(mu, axis=0))


# ----------------------------------------------------------------------------- agent


class QHead(nn.Module):
    """Returns Q [T, A]: Blocks, then the dueling combination V + A - mean(A) of value and
    advantage outputs at init scale 0.01, zero bias (q_modules.py:10-38)."""

    hidden: int
    layers: int
    num_actions: int

    @nn.compact
    def __call__(self, x):
        for _ in range(self.layers):
            x = Block(self.hidden)(x)
        init = _fan_in_uniform(self.hidden, scale=0.01)  # common.py:43-47 final_linear
        value = nn.Dense(1, kernel_init=init, bias_init=nn.initializers.zeros, name="value")(x)
        adv = nn.Dense(self.num_actions, kernel_init=init, bias_init=nn.initializers.zeros,
                       name="advantage")(x)
        return value + adv - jnp.mean(adv, axis=-1, keepdims=True)


@struct.dataclass
class QParams:
    """The two optimiser groups (offline_bandit.py:149-163): ``encoder`` (input block and
    LRU, ``pre`` and ``memory``) and ``head``."""

    encoder: Any
    head: Any


class QNetwork(struct.PyTreeNode):
    """The recurrent Q-network's pure functions: ``init(key) -> QParams``;
    ``tape(params, obs [T, D], start [T]) -> Q [T, A]`` from a zero memory;
    ``step(params, obs [B, D], start [B], memory [B, L, H]) -> (Q [B, A], memory)``."""

    init: Callable = struct.field(pytree_node=False)
    tape: Callable = struct.field(pytree_node=False)
    step: Callable = struct.field(pytree_node=False)


def obs_dim() -> int:
    """Returns the agent's input width: dummy observation, one-hot previous arm, previous
    reward (experience/wrapper.py:69-140)."""
    return 1 + NUM_ARMS + 1


def agent_obs(prev_action: jax.Array, prev_reward: jax.Array) -> jax.Array:
    """Returns [B, 1 + A + 1]: (0, one-hot previous arm, previous raw reward)."""
    b = prev_action.shape[0]
    return jnp.concatenate([jnp.zeros((b, 1)), jax.nn.one_hot(prev_action, NUM_ARMS),
                            prev_reward[:, None].astype(jnp.float32)], axis=-1)


def make_q_network(config: BanditConfig) -> QNetwork:
    """Returns the RecurrentQNetwork (q_modules.py:41-112): Block and LRU (neubay.Encoder),
    then the dueling head."""
    encoder = Encoder(config.memory)
    head = QHead(config.head_hidden, config.head_layers, NUM_ARMS)
    zero_memory = initial_state(config.memory)

    def init(key):
        k_enc, k_head = jax.random.split(key)
        enc = encoder.init(k_enc, jnp.zeros((2, obs_dim())), jnp.zeros((2,), bool),
                           zero_memory)
        return QParams(enc, head.init(k_head, jnp.zeros((2, config.memory.d_model))))

    def tape(params, obs, start):
        y, _ = encoder.apply(params.encoder, obs, start, zero_memory)
        return head.apply(params.head, y)

    def step(params, obs, start, memory):
        y, memory = jax.vmap(lambda o, s, h: encoder.apply(params.encoder, o[None], s[None],
                                                           h))(obs, start, memory)
        return head.apply(params.head, y[:, 0]), memory

    return QNetwork(init, tape, step)


def epsilon_at(grad_steps: jax.Array, hp: BanditHParams, total_grad_steps: int) -> jax.Array:
    """Returns epsilon after ``grad_steps`` updates: linear from eps_start to eps_end over the
    first eps_end_ratio x total_grad_steps, then constant (offline_bandit.py:257-269,
    q_modules.py:135-136)."""
    progress = jnp.minimum(grad_steps / (total_grad_steps * hp.eps_end_ratio), 1.0)
    return hp.eps_start + (hp.eps_end - hp.eps_start) * progress


def ddqn_tape_target(q_online: jax.Array, q_target: jax.Array, reward: jax.Array,
                     terminal: jax.Array, start: jax.Array, gamma: jax.Array):
    """Returns (target [T-1], mask [T-1]) of double DQN on one tape (q_losses.py:22-43):
    target_t = r_t + (1 - d_t) gamma Q_target(h_{t+1}, argmax_a Q_online(h_{t+1}, a)), masked
    (0) where entry t + 1 starts an episode. q_online, q_target: [T, A]; reward, terminal,
    start: [T] (entry t's reward and termination after its action)."""
    chex.assert_rank(q_online, 2)
    chex.assert_equal_shape([q_online, q_target])
    chex.assert_shape([reward, terminal, start], (q_online.shape[0],))
    a_t = jnp.argmax(jax.lax.stop_gradient(q_online[1:]), axis=-1)
    q_next = jnp.take_along_axis(q_target[1:], a_t[:, None], axis=-1)[:, 0]
    target = reward[:-1] + (1.0 - terminal[:-1].astype(jnp.float32)) * gamma * q_next
    return jax.lax.stop_gradient(target), 1.0 - start[1:].astype(jnp.float32)


def masked_mean(x: jax.Array, mask: jax.Array) -> jax.Array:
    """Returns sum(x mask) / sum(mask) (q_losses.py:43), the denominator floored at 1."""
    return jnp.sum(x * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def _adamw(params, grads, opt_state, lr, config: BanditConfig):
    """Returns (params, opt_state) after one optimiser step of one group (common.py:87-95):
    zero_nans, clip_by_global_norm(gradient_scale), AdamW (decoupled decay)."""
    grads = jax.tree.map(lambda g: jnp.where(jnp.isnan(g), 0.0, g), grads)
    norm = optax.global_norm(grads)
    scale = jnp.where(norm < config.gradient_scale, 1.0, config.gradient_scale / norm)
    grads = jax.tree.map(lambda g: g * scale, grads)
    updates, opt_state = optax.scale_by_adam(eps=config.adam_eps).update(grads, opt_state)
    params = jax.tree.map(lambda w, u: w - lr * (u + config.weight_decay * w), params, updates)
    return params, opt_state


def cosine_lr(lr: jax.Array, ratio: jax.Array, step: jax.Array, decay_steps: int) -> jax.Array:
    """Returns optax.cosine_decay_schedule(lr, decay_steps, alpha=ratio) at ``step``."""
    frac = jnp.minimum(step, decay_steps) / decay_steps
    return lr * ((1.0 - ratio) * 0.5 * (1.0 + jnp.cos(jnp.pi * frac)) + ratio)


# ----------------------------------------------------------------------------- rollouts


class Rollouts(struct.PyTreeNode):
    """P imagined episodes: trajs (neubay.Trajectories, T + 1 entries each, the last the
    final observation with action and reward copied); raw_return [P] (unpenalised); member [P]
    (row of the world each rollout used); arm1_share [P]."""

    trajs: Trajectories
    raw_return: jax.Array
    member: jax.Array
    arm1_share: jax.Array


def collect(net: QNetwork, params: QParams, world: RewardWorld, key: jax.Array,
            epsilon: jax.Array, penalty_coef: jax.Array, config: BanditConfig) -> Rollouts:
    """Returns ``rollouts_per_round`` epsilon-greedy episodes of ``episode_length`` pulls in
    the learned world (experience/collector.py:22-96 with bandit_ensemble.py:21-58): rollout n
    lives in member n // (P / N) throughout; reward mu + eps sigma - penalty_coef * unc; the
    agent's next input carries the raw reward."""
    p, t_len = config.rollouts_per_round, config.episode_length
    member = jnp.arange(p) // (p // world.mu.shape[0])
    memory = initial_state(config.memory, (p,))

    def body(carry, step_key):
        obs, start, memory = carry
        rand_key, coin_key, noise_key = jax.random.split(step_key, 3)
        q, memory = net.step(params, obs, start, memory)
        greedy = jnp.argmax(q, axis=-1)  # q_modules.py:165-178
        explore = jax.random.uniform(coin_key, (p,)) < epsilon
        action = jnp.where(explore, jax.random.randint(rand_key, (p,), 0, NUM_ARMS), greedy)
        mu, sigma = world.mu[member, action], world.sigma[member, action]
        raw = mu + jax.random.normal(noise_key, (p,)) * sigma
        reward = raw - penalty_coef * world.uncertainty[action]
        next_obs = agent_obs(action, raw)
        return (next_obs, jnp.zeros((p,), bool), memory), (obs, action, reward, raw)

    obs0 = agent_obs(jnp.zeros((p,), jnp.int32), jnp.zeros((p,)))  # bandit_ensemble.py:22-27
    (last_obs, _, _), (obs, action, reward, raw) = jax.lax.scan(
        body, (obs0, jnp.ones((p,), bool), memory), jax.random.split(key, t_len))
    # [T, P, ...] -> [P, T + 1, ...], the final entry copying the last action and reward
    # (collector.py:77-81).
    obs = jnp.concatenate([obs, last_obs[None]], axis=0).swapaxes(0, 1)
    action = jnp.concatenate([action, action[-1:]], axis=0).swapaxes(0, 1)
    reward = jnp.concatenate([reward, reward[-1:]], axis=0).swapaxes(0, 1)
    trajs = Trajectories(obs=obs, action=jax.nn.one_hot(action, NUM_ARMS),
                         reward=reward, terminal=jnp.zeros_like(reward, bool),
                         real=jnp.zeros_like(reward, bool),
                         length=jnp.full((p,), t_len + 1, jnp.int32))
    return Rollouts(trajs, jnp.sum(raw, axis=0), member,
                    jnp.mean((action[:, :-1] == 1).astype(jnp.float32), axis=1))


def evaluate(net: QNetwork, params: QParams, key: jax.Array, config: BanditConfig):
    """Returns (reward [K], best_arm_rate [K]) of the greedy agent over ``eval_episodes`` real
    episodes per arm-1 probability in ``eval_probs`` (arm 0 at data_probs[0]): the mean episode
    reward and the share of pulls of the better arm (evaluator.py:10-102,
    offline_bandit.py:215-238; arm 1 is better where its probability exceeds 0.5)."""
    k, e, t_len = len(config.eval_probs), config.eval_episodes, config.episode_length
    arm1 = jnp.asarray(config.eval_probs, jnp.float32)
    probs = jnp.stack([jnp.full((k,), config.data_probs[0], jnp.float32), arm1], axis=-1)
    probs = jnp.repeat(probs, e, axis=0)  # [K * E, A]
    b = k * e

    def body(carry, step_key):
        obs, start, memory = carry
        q, memory = net.step(params, obs, start, memory)
        action = jnp.argmax(q, axis=-1)  # GreedyAgent, q_modules.py:115-132
        reward = pull(step_key, probs, action)
        return (agent_obs(action, reward), jnp.zeros((b,), bool), memory), (action, reward)

    obs0 = agent_obs(jnp.zeros((b,), jnp.int32), jnp.zeros((b,)))
    _, (actions, rewards) = jax.lax.scan(
        body, (obs0, jnp.ones((b,), bool), initial_state(config.memory, (b,))),
        jax.random.split(key, t_len))
    episode_reward = jnp.sum(rewards, axis=0).reshape(k, e).mean(axis=1)
    best = (arm1 > 0.5).astype(jnp.int32)  # offline_bandit.py:230
    hits = (actions.reshape(t_len, k, e) == best[None, :, None]).astype(jnp.float32)
    return episode_reward, jnp.mean(hits, axis=(0, 2))


# ----------------------------------------------------------------------------- training


@struct.dataclass
class AgentState:
    q: QParams
    target: QParams
    opt: QParams  # Adam states per group
    buffer: TapeBuffer
    updates: jax.Array  # [] int32 grad steps so far


@struct.dataclass
class BanditResult:
    """One cell's outcome. reward, best_arm_rate [K]: the final greedy evaluation per eval
    prob; curve_reward, curve_best_arm_rate [C, K] at ``config.eval_grad_steps`` (the last row
    the final); member_mu, member_sigma [M, A]: every member's prediction per arm (for a
    histogram like bandit_ensemble.py:238-266); elites [N] int32 (members in use, best first);
    valid_nll [M]; ensemble_epochs []; per round [R]: loss, q_mean (mean over its grad steps),
    epsilon, rollout_return (raw, mean over rollouts), rollout_arm1 (share of arm-1 pulls)."""

    reward: jax.Array
    best_arm_rate: jax.Array
    curve_reward: jax.Array
    curve_best_arm_rate: jax.Array
    member_mu: jax.Array
    member_sigma: jax.Array
    elites: jax.Array
    valid_nll: jax.Array
    ensemble_epochs: jax.Array
    loss: jax.Array
    q_mean: jax.Array
    epsilon: jax.Array
    rollout_return: jax.Array
    rollout_arm1: jax.Array


def make_bandit_train(config: BanditConfig = BanditConfig()):
    """Returns ``train(key, hparams) -> BanditResult``: the dataset (fixed by
    ``config.data_seed``), the reward ensemble (from ``key``), then ``num_rounds`` rounds of
    collection and ``steps_per_round`` DDQN updates, evaluated at ``config.eval_rounds``; one
    jittable program. Vmap it over hyperparameters with ``key`` unbatched (as
    ``make_bandit_grid``) and the ensemble is trained once per key."""
    net = make_q_network(config)
    p, t_len = config.rollouts_per_round, config.episode_length
    rounds, per_round = config.num_rounds, config.steps_per_round
    capacity = min(config.buffer_size, rounds * p * (t_len + 1))
    max_trajectories = capacity // (t_len + 1) + p
    eval_before = jnp.asarray([r for r in config.eval_rounds if r < rounds], jnp.int32)
    adam = optax.scale_by_adam(eps=config.adam_eps)

    def update(state: AgentState, key, hp: BanditHParams):
        # The barrier keeps XLA from fusing the tape's gathers into the network's loops, which
        # roughly doubles compile time and gains nothing at run time.
        tape = jax.lax.optimization_barrier(sample_tape(state.buffer, key, config.tape_length))
        action = jnp.argmax(tape.action, axis=-1)

        def loss_fn(q_params):  # q_losses.py:8-50
            q = net.tape(q_params, tape.obs, tape.start)
            target, mask = ddqn_tape_target(q, net.tape(state.target, tape.obs, tape.start),
                                            tape.reward, tape.terminal, tape.start, hp.gamma)
            q_taken = jnp.take_along_axis(q[:-1], action[:-1, None], axis=-1)[:, 0]
            return masked_mean(huber(q_taken - target), mask), masked_mean(q_taken, mask)

        (loss, q_mean), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.q)
        enc, enc_opt = _adamw(state.q.encoder, grads.encoder, state.opt.encoder,
                              cosine_lr(hp.enc_lr, hp.lr_ratio, state.updates,
                                        config.grad_steps), config)
        head, head_opt = _adamw(state.q.head, grads.head, state.opt.head,
                                cosine_lr(hp.head_lr, hp.lr_ratio, state.updates,
                                          config.grad_steps), config)
        q = QParams(enc, head)
        target = jax.tree.map(lambda t, o: (1.0 - hp.tau) * t + hp.tau * o, state.target, q)
        return state.replace(q=q, target=target, opt=QParams(enc_opt, head_opt),
                             updates=state.updates + 1), (loss, q_mean)

    def train(key: jax.Array, hparams: BanditHParams) -> BanditResult:
        hp = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), hparams)
        ens_key, init_key, loop_key, eval_key = jax.random.split(key, 4)
        ensemble = train_reward_ensemble(ens_key, bandit_dataset(config), config)
        world = make_world(config, ensemble)
        q = net.init(init_key)  # the target starts as a copy (offline_bandit.py:122-132)
        state = AgentState(q, q, QParams(adam.init(q.encoder), adam.init(q.head)),
                           empty_tape_buffer(capacity, 1, NUM_ARMS, max_trajectories),
                           jnp.int32(0))
        k = len(config.eval_probs)

        def run_eval(state, i):
            return evaluate(net, state.q, jax.random.fold_in(eval_key, i), config)

        def round_body(state: AgentState, xs):
            i, round_key = xs
            # The predicate is the scan index (unbatched under vmap), so this stays a cond.
            evaluated = jax.lax.cond(jnp.any(i == eval_before), run_eval,
                                     lambda *_: (jnp.zeros((k,)), jnp.zeros((k,))), state, i)
            collect_key, update_key = jax.random.split(round_key)
            eps = epsilon_at(state.updates, hp, config.grad_steps)
            rollouts = collect(net, state.q, world, collect_key, eps, hp.penalty_coef, config)
            state = state.replace(buffer=add_trajectories(state.buffer, rollouts.trajs))
            state, (loss, q_mean) = jax.lax.scan(
                lambda s, kk: update(s, kk, hp), state, jax.random.split(update_key, per_round))
            out = (evaluated, jnp.mean(loss), jnp.mean(q_mean), eps,
                   jnp.mean(rollouts.raw_return), jnp.mean(rollouts.arm1_share))
            return state, out

        state, (evals, loss, q_mean, eps, ret, arm1) = jax.lax.scan(
            round_body, state, (jnp.arange(rounds), jax.random.split(loop_key, rounds)))
        final = run_eval(state, rounds)
        rows = np.asarray([r for r in config.eval_rounds if r < rounds])
        curve_reward = jnp.concatenate([evals[0][rows], final[0][None]], axis=0)
        curve_rate = jnp.concatenate([evals[1][rows], final[1][None]], axis=0)
        mu, sigma = ensemble_predict(config, ensemble.params, jnp.eye(NUM_ARMS))
        return BanditResult(
            reward=final[0], best_arm_rate=final[1], curve_reward=curve_reward,
            curve_best_arm_rate=curve_rate, member_mu=mu, member_sigma=sigma,
            elites=jnp.argsort(ensemble.valid_nll)[:config.elites].astype(jnp.int32),
            valid_nll=ensemble.valid_nll, ensemble_epochs=ensemble.epochs, loss=loss,
            q_mean=q_mean, epsilon=eps, rollout_return=ret, rollout_arm1=arm1)

    return train


@functools.lru_cache(maxsize=8)
def make_bandit_grid(config: BanditConfig = BanditConfig()):
    """Returns ``grid(keys [S], hparams [H]) -> BanditResult [S, H, ...]``, jitted: one
    program over seeds x settings, each seed's ensemble trained once and shared by its H
    settings (vmap leaves the key-only computation unbatched over H). Cached per config, so a
    second call with the same shapes reuses the compiled program."""
    train = make_bandit_train(config)
    return jax.jit(jax.vmap(jax.vmap(train, in_axes=(None, 0)), in_axes=(0, None)))


# ----------------------------------------------------------------------------- study


@dataclasses.dataclass(frozen=True)
class BanditStudy:
    """A (penalty x encoder learning rate) grid x seeds at one scale: the static config, the
    penalties and encoder learning rates swept (the authors sweep both and report each
    penalty's best learning rate: README "Quickstart on the toy example"), the seeds, and the
    other hyperparameters (authors' defaults)."""

    config: BanditConfig
    penalties: tuple[float, ...]
    seeds: tuple[int, ...]
    enc_lrs: tuple[float, ...] = (3e-6,)
    hparams: BanditHParams = BanditHParams()
    note: str = ""

    @property
    def cells(self) -> tuple[tuple[float, float], ...]:
        """The (penalty_coef, enc_lr) of each hyperparameter cell, penalty-major."""
        return tuple((c, lr) for c in self.penalties for lr in self.enc_lrs)


# Penalties: the paper's Figure 3 grid is {0, 0.1, 0.5, 2.5} (assets/bandit.png); the README's
# {0, 0.04, 0.2, 1.0, 5.0} is the continuous-control ablation's.
STUDY_SCALES: dict[str, BanditStudy] = {
    "tiny": BanditStudy(
        BanditConfig(episode_length=20, members=8, elites=4, model_epochs=50,
                     memory=LRUConfig(d_model=16, d_hidden=16, n_layers=1), head_hidden=32,
                     head_layers=1, rollouts_per_round=8, tape_length=100, utd=0.05,
                     grad_steps=200, eval_episodes=5, num_evals=3),
        penalties=(0.0, 1.0), seeds=(0, 1),
        note="tests only (compile-bound): 20-step episodes, 8 members (4 in use), 8 rollouts "
             "a round, one LRU layer of d_model 16, head 1 x 32, 208 grad steps"),
    "default": BanditStudy(
        BanditConfig(memory=LRUConfig(d_model=32, d_hidden=32, n_layers=2, r_max=0.9),
                     head_hidden=64, tape_length=250, num_evals=11),
        penalties=(0.0, 0.1, 0.5), seeds=(0, 1), enc_lrs=(3e-6, 3e-5, 3e-4),
        note="fits a 2-core CPU in ~15 min: LRU d_model 32 / d_hidden 32 (paper 256 / 128), "
             "head 2 x 64 (paper 2 x 256), tapes of 250 entries (paper 1,000), 2 seeds, "
             "penalties {0, 0.1, 0.5} (Figure 3's first three), each at encoder learning rates "
             "{3e-6 (the config's), 3e-5, 3e-4} (the authors tune it; best shown); kept: the "
             "data, the ensemble "
             "(128 members, 100 in use), the rounds (100 rollouts x 100 steps, 200 grad steps "
             "each, 101 rounds = 20,200 grad steps: Q-values need them, tau 0.005 and gamma "
             "0.99 propagate slowly), every learning rate, tau, gamma, epsilon schedule and the "
             "evaluation"),
    "paper": BanditStudy(
        BanditConfig(), penalties=(0.0, 0.1, 0.5, 2.5), seeds=(0, 1, 2),
        enc_lrs=(1e-6, 3e-6, 1e-5, 3e-5),
        note="the authors' settings (configs/offline_bandit.yaml, 101 rounds = 20,200 grad "
             "steps), Figure 3's penalties, each at 4 encoder learning rates around the "
             "config's 3e-6 (best shown), 3 seeds (the README runs 3 in parallel)"),
}


def study_inputs(study: BanditStudy):
    """Returns (keys [S], hparams [H]) of a study: PRNGKey(seed) per seed, and the base
    hyperparameters at each of ``study.cells``."""
    keys = jnp.stack([jax.random.PRNGKey(s) for s in study.seeds])
    hparams = stack_hparams([study.hparams.replace(penalty_coef=float(c), enc_lr=float(lr))
                             for c, lr in study.cells])
    return keys, hparams


def best_cells(result: BanditResult, study: BanditStudy) -> list[int]:
    """Returns, per penalty, the index in ``study.cells`` of its encoder learning rate with the
    highest final reward (mean over seeds and arm-1 probabilities): the authors' "best
    result" over the enc_lr sweep."""
    mean = np.asarray(result.reward).mean(axis=(0, 2))  # [H]
    best = []
    for coef in study.penalties:
        idx = [h for h, (c, _) in enumerate(study.cells) if c == coef]
        best.append(max(idx, key=lambda h: mean[h]))
    return best


def _band(values: np.ndarray):
    """Returns (mean, low, high) over axis 0 (seeds): the mean and the min-max range."""
    return values.mean(axis=0), values.min(axis=0), values.max(axis=0)


def plot_bandit(result: BanditResult, study: BanditStudy, path) -> pathlib.Path:
    """Returns ``path`` after writing the study's figure: best-arm rate and return (per step)
    against arm 1's probability, one line per penalty at its best encoder learning rate
    (``best_cells``; mean over seeds, min-max band); the
    members' predicted mean rewards per arm (first seed); and the learning curves at five of
    the probabilities (as the paper's Figure 3)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    cfg = study.config
    probs = np.asarray(cfg.eval_probs)
    t_len = cfg.episode_length
    fig = Figure(figsize=(17, 8.5), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    top, bottom = fig.subfigures(2, 1)
    ax_rate, ax_ret, ax_hist = top.subplots(1, 3)
    colors = [f"C{i}" for i in range(len(study.penalties))]
    rate = np.asarray(result.best_arm_rate)  # [S, H, K]
    ret = np.asarray(result.reward) / t_len
    best = best_cells(result, study)
    for i, h in enumerate(best):
        coef, lr = study.cells[h]
        for ax, values in ((ax_rate, rate[:, h]), (ax_ret, ret[:, h])):
            mean, low, high = _band(values)
            ax.plot(probs, mean, "o-", color=colors[i], label=f"penalty {coef:g} (enc lr {lr:g})")
            ax.fill_between(probs, low, high, color=colors[i], alpha=0.2)
    ax_ret.plot(probs, np.maximum(probs, cfg.data_probs[0]), "k--", lw=1, label="best arm")
    ax_ret.axhline(cfg.data_probs[0], color="gray", ls=":", lw=1, label="always arm 0")
    for ax, label in ((ax_rate, "best-arm rate"), (ax_ret, "return / T")):
        ax.axvline(cfg.data_probs[0], color="gray", lw=0.5)
        ax.set_xlabel("arm-1 probability $p_1^*$ (arm 0: %g)" % cfg.data_probs[0])
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    ax_rate.set_ylim(-0.02, 1.02)
    ax_rate.legend(title=f"mean, min-max over {len(study.seeds)} seeds", fontsize=8)
    ax_ret.legend(fontsize=8)
    mu = np.asarray(result.member_mu)[0, 0]  # [M, A], first seed (shared over penalties)
    elites = np.asarray(result.elites)[0, 0]
    bins = np.arange(-1.0, 1.0 + 1e-9, 0.03)  # bandit_ensemble.py:254-258 (binwidth 0.03)
    for arm in range(NUM_ARMS):
        ax_hist.hist(np.clip(mu[elites, arm], -1, 1), bins=bins, alpha=0.6, label=f"arm {arm}")
    ax_hist.set_xlabel("member's predicted mean reward (members in use, seed %d)"
                       % study.seeds[0])
    ax_hist.set_ylabel("members")
    ax_hist.legend(fontsize=8)
    shown = [p for p in (0.01, 0.3, 0.55, 0.7, 0.99) if p in cfg.eval_probs] or list(probs[:5])
    axes = np.atleast_1d(bottom.subplots(1, len(shown)))
    steps = np.asarray(cfg.eval_grad_steps)
    curve = np.asarray(result.curve_reward) / t_len  # [S, H, C, K]
    for ax, p in zip(axes, shown):
        k = cfg.eval_probs.index(p)
        for i, h in enumerate(best):
            mean, low, high = _band(curve[:, h, :, k])
            ax.plot(steps, mean, color=colors[i], label=f"{study.cells[h][0]:g}")
            ax.fill_between(steps, low, high, color=colors[i], alpha=0.2)
        ax.set_title(f"$p_1^* = {p:g}$", color="green" if p > 0.5 else "red")
        ax.set_xlabel("grad steps")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("return / T")
    axes[0].legend(title="penalty", fontsize=8)
    fig.suptitle("NEUBAY bandit (Ni et al. 2025, Sec. 3): agents trained in a reward ensemble "
                 "fitted to arm-0-only data, evaluated greedily on real bandits")

    def write(tmp):
        fig.savefig(tmp, format="png")

    return atomic_write(path, write)


def study_table(result: BanditResult, study: BanditStudy) -> list[dict]:
    """Returns one row per (penalty, encoder lr, seed, eval prob): penalty_coef, enc_lr, seed,
    eval_prob, reward (mean episode reward), best_arm_rate."""
    reward, rate = np.asarray(result.reward), np.asarray(result.best_arm_rate)
    return [dict(penalty_coef=float(coef), enc_lr=float(lr), seed=int(seed),
                 eval_prob=float(p), reward=float(reward[s, h, k]),
                 best_arm_rate=float(rate[s, h, k]))
            for h, (coef, lr) in enumerate(study.cells)
            for s, seed in enumerate(study.seeds)
            for k, p in enumerate(study.config.eval_probs)]


def run_bandit_study(scale: str, out_dir, progress_fn: Callable[[str], None] | None = None
                     ) -> dict:
    """Returns a summary (settings, wall time, per-penalty means) after running the study
    ``STUDY_SCALES[scale]`` as one compiled program over seeds x (penalty, encoder lr) cells
    and writing ``bandit.csv`` (penalty_coef, enc_lr, seed, eval_prob, reward, best_arm_rate),
    ``bandit.png`` and ``bandit.json`` (the summary) under ``out_dir``."""
    if scale not in STUDY_SCALES:
        raise SuiteError(f"neubay_bandit: unknown scale {scale!r}; expected one of "
                         f"{sorted(STUDY_SCALES)}")
    study = STUDY_SCALES[scale]
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    say = progress_fn or (lambda _: None)
    keys, hparams = study_inputs(study)
    cfg = study.config
    say(f"neubay bandit '{scale}': {len(study.seeds)} seeds x {len(study.penalties)} penalties "
        f"x {len(study.enc_lrs)} encoder lrs, "
        f"{cfg.num_rounds} rounds x {cfg.steps_per_round} grad steps")
    load_before = _load_average()
    start = time.perf_counter()
    result = jax.device_get(make_bandit_grid(cfg)(keys, hparams))
    wall = time.perf_counter() - start
    rows = study_table(result, study)

    def write_csv(tmp):
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)

    atomic_write(out / "bandit.csv", write_csv)
    plot_bandit(result, study, out / "bandit.png")
    means = {}
    for h, (coef, lr) in enumerate(study.cells):
        means[f"penalty {coef:g}, enc_lr {lr:g}"] = {
            f"{p:g}": dict(reward=float(np.mean(result.reward[:, h, k])),
                           best_arm_rate=float(np.mean(result.best_arm_rate[:, h, k])))
            for k, p in enumerate(cfg.eval_probs)}
    summary = dict(
        scale=scale, note=study.note, wall_s=round(wall, 1),
        wall_note="one call: compile and run, seeds x cells as one jit(vmap(vmap(train)))",
        device=str(jax.devices()[0]), cpu_count=_cpu_count(),
        load_average_before=load_before, load_average_after=_load_average(),
        penalties=list(study.penalties), enc_lrs=list(study.enc_lrs), seeds=list(study.seeds),
        best_enc_lr={f"{study.cells[h][0]:g}": study.cells[h][1]
                     for h in best_cells(result, study)},
        hparams={f.name: getattr(study.hparams, f.name)
                 for f in dataclasses.fields(study.hparams)},
        config=dataclasses.asdict(cfg), rounds=cfg.num_rounds,
        grad_steps_run=cfg.num_rounds * cfg.steps_per_round,
        eval_grad_steps=list(cfg.eval_grad_steps),
        ensemble_epochs=[int(e) for e in np.asarray(result.ensemble_epochs)[:, 0]],
        mean_over_seeds=means)
    atomic_write(out / "bandit.json",
                 lambda tmp: pathlib.Path(tmp).write_text(json.dumps(summary, indent=1) + "\n"))
    say(f"neubay bandit '{scale}': {wall:.1f} s, wrote {out}")
    return summary


def _load_average() -> list[float] | None:
    """Returns the host's 1/5/15-minute load averages (context for a wall time), or None."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def _cpu_count() -> int | None:
    return os.cpu_count()
