"""Probabilistic dynamics ensembles: Gaussian MLPs predicting the next-state delta and the
reward, members as a leading parameter axis, trained with holdout early stopping in one
compiled loop (PETS, Chua et al., 2018; MBPO, Janner et al., 2019; MOPO, Yu et al., 2020).

Facts mirrored from MOPO's code (tianheyu927/mopo: ``mopo/models/bnn.py``, ``constructor.py``,
``fc.py``) and OfflineRL-Kit (``offlinerlkit/dynamics/ensemble_dynamics.py``,
``offlinerlkit/modules/dynamics_module.py``); no code copied:
  * targets y = (s' - s, r); inputs (s, a) standardised with the training split's mean and std
    (a std below 1e-12 read as 1);
  * 7 members, 5 elites, 4 x 200 swish hidden layers, kernels truncated-normal with std
    1 / (2 sqrt(fan_in)), zero biases;
  * log-variance softly bounded, lv <- max - softplus(max - lv), lv <- min + softplus(lv - min),
    with max/min learned per output dim, shared by the members, initialised at 0.5 / -10;
  * loss: per member, the mean over batch and dims of (mu - y)^2 exp(-lv) + lv, summed over
    members; plus L2 decay wd_l ||W_l||^2 / 2 on each layer's kernel (wd = 2.5e-5, 5e-5, 7.5e-5,
    7.5e-5, 1e-4); plus 0.01 (sum max - sum min) to keep the bounds tight;
  * Adam, lr 1e-3, batch 256; every member trains on its own bootstrap resample of the training
    split, reshuffled each epoch;
  * holdout: min(int(0.2 N), 1000) transitions; a member's parameters are saved when its
    holdout MSE improves by more than 1% (relative); elites = the members of lowest saved MSE.
Choices of this file:
  * targets are standardised too, so the loss, the log-variance bounds and the holdout MSE are
    in standardised units (every output dim weighs alike when elites are chosen); ``predict``
    returns env units;
  * early stopping is per member by default: a member whose holdout MSE has not improved by 1%
    for ``patience`` epochs is frozen (parameters and optimiser state held); MOPO and
    OfflineRL-Kit stop all members together once none improved for 5 epochs, which
    ``per_member_stopping=False`` reproduces. The epoch budget ``max_epochs`` is static (MOPO
    has none, only a wall-clock cap); the epoch loop is a ``lax.while_loop`` that ends when
    every member has stopped (under ``vmap``, when every seed's members have);
  * the last minibatch of an epoch is filled by wrapping round the epoch's order (static
    shapes) instead of being short.

NEUBAY's ensemble (Ni et al., 2025; twni2016/neubay at HEAD, no code copied) is the same loop
with static options, ``neubay_ensemble_config()``:
  * hidden layers Linear -> LayerNorm -> leaky_relu (``offline_world/modules.py`` l. 77-100,
    four blocks of 200, l. 218-232; ``configs/d4rl_loco/base.yaml`` l. 22-23), equinox's default
    Linear init, weights and biases uniform in +-1/sqrt(fan_in) (equinox ``nn/_linear.py``
    ``Linear.__init__``), LayerNorm eps 1e-5 with the exact variance (``nn/_normalisation.py``
    ``LayerNorm``): ``activation="leaky_relu"``, ``layer_norm=True``,
    ``weight_init="uniform_fan_in"``;
  * a log-std head soft-clamped to fixed bounds [-5, 0.25] (``modules.py`` l. 215-216, 256-258,
    ``soft_clamp`` l. 62-74), not learned and not regularised: ``noise_head="logstd"``;
  * loss: the Gaussian NLL 0.5 log 2 pi + log sigma + 0.5 ((y - mu) / sigma)^2, mean over
    members, batch and dims (``offline_world/losses.py`` l. 42-52): ``loss="gaussian_nll"``;
    AdamW, lr 1e-3, decoupled weight decay 5e-5 on every parameter (``cont_ensemble.py``
    l. 145-146; ``base.yaml`` l. 28-29): ``decoupled_weight_decay=5e-5``, no per-layer L2;
  * no bootstrap: every member its own permutation of the whole training split each epoch
    (``cont_ensemble.py`` l. 190-202): ``bootstrap=False``;
  * the net's mean is a delta: next-obs mean (s - mu_s) / sigma_s + delta_mu in the frame where
    the target is (s' - mu_s) / sigma_s (``modules.py`` l. 246-254; ``Scaler`` l. 8-23 uses
    the observation's mean and std for s'), so the obs target is (s' - s) / sigma_s, the
    reward target (r - mu_r) / sigma_r: ``target_frame="obs_scaled"``;
  * holdout min(int(0.2 N), 1000) (``cont_ensemble.py`` l. 84); the untrained members' holdout
    MSE is the first best (l. 158-160, 182): ``best_from_init=True``; all members train until
    none improved its holdout MSE by > 1% for 5 epochs (l. 215-247; ``base.yaml`` l. 25-26):
    ``per_member_stopping=False``; elites = the 100 of lowest holdout MSE (l. 327-332;
    ``base.yaml`` l. 37).
  Deviations kept: the normalisation statistics are the training split's (the authors' Scaler
  sees the whole dataset, holdout included, ``cont_ensemble.py`` l. 69-79); the holdout split is
  drawn from ``key`` (theirs: sklearn with random_state 42, l. 85-87); the epoch budget is
  static (``max_epochs``; theirs unbounded unless ``ensemble.total_epochs`` is set, which their
  README l. 113-132 does at 600-2400 on some datasets); the last minibatch wraps round (theirs
  is short, l. 196); the mean and log-std heads are one Dense of 2 D outputs (theirs two Linear
  layers of D, the same initial distribution and function class).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any, NamedTuple, Sequence

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxrl_suite.data.dataset import Dataset
from jaxrl_suite.data.validate import fail


# The static options of EnsembleConfig that name a variant: field -> allowed values.
_CHOICES = {"activation": ("swish", "leaky_relu"),
            "weight_init": ("truncated_normal", "uniform_fan_in"),
            "noise_head": ("logvar", "logstd"), "loss": ("mopo", "gaussian_nll"),
            "target_frame": ("delta", "obs_scaled")}


@dataclasses.dataclass(frozen=True)
class EnsembleConfig:
    """Static settings of a dynamics ensemble and its training (defaults: MOPO / OfflineRL-Kit;
    ``neubay_ensemble_config()`` gives NEUBAY's).

    weight_decays: one L2 coefficient per layer, hidden layers then the output layer, added to
    the loss (zeros: none).
    max_holdout: cap on the holdout split's size (MOPO's ``max_logging``).
    patience: epochs without a > ``improvement_threshold`` relative holdout improvement after
    which a member stops (MOPO's ``max_epochs_since_update``).
    logvar_bound_coef, max_logvar_init, min_logvar_init: the learned log-variance bounds of
    ``noise_head="logvar"``.
    activation: hidden nonlinearity, "swish" (MOPO) or "leaky_relu" (slope 0.01, NEUBAY).
    layer_norm: a LayerNorm (eps 1e-5) between each hidden Dense and its activation (NEUBAY).
    weight_init: "truncated_normal" (MOPO: kernels std 1 / (2 sqrt(fan_in)), zero biases) or
    "uniform_fan_in" (equinox's Linear: kernels and biases uniform in +-1 / sqrt(fan_in)).
    noise_head: "logvar", log-variance soft-bounded by learned bounds (MOPO), or "logstd",
    log-std soft-clamped to the fixed [min_logstd, max_logstd] (NEUBAY), nothing learned.
    loss: "mopo", per member the mean over batch and dims of (mu - y)^2 exp(-lv) + lv, summed
    over members; or "gaussian_nll", 0.5 log 2 pi + log sigma + 0.5 ((y - mu) / sigma)^2
    averaged over members, batch and dims (NEUBAY).
    decoupled_weight_decay: AdamW's decay on every network parameter (NEUBAY 5e-5); 0 = Adam.
    target_frame: "delta", targets (s' - s, r) standardised by the training split's mean and
    std; or "obs_scaled", ((s' - s) / sigma_s, (r - mu_r) / sigma_r) with sigma_s the
    observation's std (NEUBAY: the net's delta added to the normalised s).
    best_from_init: the untrained members' holdout MSE is the first best, so a member must beat
    its initialisation by the threshold to be saved (NEUBAY); False: the first best is inf.
    """

    num_members: int = 7
    num_elites: int = 5
    hidden_sizes: tuple[int, ...] = (200, 200, 200, 200)
    weight_decays: tuple[float, ...] = (2.5e-5, 5e-5, 7.5e-5, 7.5e-5, 1e-4)
    learning_rate: float = 1e-3
    batch_size: int = 256
    holdout_ratio: float = 0.2
    max_holdout: int = 1000
    max_epochs: int = 400
    patience: int = 5
    improvement_threshold: float = 0.01
    logvar_bound_coef: float = 0.01
    max_logvar_init: float = 0.5
    min_logvar_init: float = -10.0
    bootstrap: bool = True
    per_member_stopping: bool = True
    activation: str = "swish"
    layer_norm: bool = False
    weight_init: str = "truncated_normal"
    noise_head: str = "logvar"
    min_logstd: float = -5.0
    max_logstd: float = 0.25
    loss: str = "mopo"
    decoupled_weight_decay: float = 0.0
    target_frame: str = "delta"
    best_from_init: bool = False

    def __post_init__(self):
        def need(ok: bool, field: str, expected: str) -> None:
            if not ok:
                raise ValueError(f"EnsembleConfig.{field}: expected {expected}, found "
                                 f"{getattr(self, field)!r}")

        need(self.num_members >= 1, "num_members", ">= 1")
        need(1 <= self.num_elites <= self.num_members, "num_elites",
             f"between 1 and num_members ({self.num_members})")
        need(len(self.hidden_sizes) >= 1, "hidden_sizes", "at least one hidden layer")
        need(len(self.weight_decays) == len(self.hidden_sizes) + 1, "weight_decays",
             f"{len(self.hidden_sizes) + 1} values (one per hidden layer, then the output)")
        need(0.0 < self.holdout_ratio < 1.0, "holdout_ratio", "a value in (0, 1)")
        for field in ("batch_size", "max_holdout", "max_epochs", "patience"):
            need(getattr(self, field) >= 1, field, ">= 1")
        for field, choices in _CHOICES.items():
            need(getattr(self, field) in choices, field, f"one of {choices}")
        need(self.min_logstd < self.max_logstd, "min_logstd",
             f"a value below max_logstd ({self.max_logstd})")
        need(self.decoupled_weight_decay >= 0.0, "decoupled_weight_decay", ">= 0 (0 = Adam)")
        # The fixed log-std bounds have no regulariser; a nonzero coefficient would be ignored.
        need(self.noise_head == "logvar" or self.logvar_bound_coef == 0.0, "logvar_bound_coef",
             '0 with noise_head="logstd" (its bounds are fixed, not learned)')

    def holdout_size(self, num_transitions: int) -> int:
        """Returns the number of transitions held out, min(int(ratio N), max_holdout)."""
        return min(int(num_transitions * self.holdout_ratio), self.max_holdout)


def neubay_ensemble_config(num_members: int = 128, num_elites: int = 100,
                           max_epochs: int = 1200, *,
                           hidden_sizes: tuple[int, ...] = (200, 200, 200, 200),
                           **overrides: Any) -> EnsembleConfig:
    """Returns NEUBAY's dynamics ensemble (Ni et al., 2025) as an ``EnsembleConfig``.

    Values from twni2016/neubay ``configs/d4rl_loco/base.yaml`` l. 21-29 and 37 (128 members,
    4 x 200 with LayerNorm, patience 5, threshold 0.01, batch 256, AdamW lr 1e-3 decay 5e-5,
    100 members used in rollouts) and ``offline_world/`` (see the module docstring). Their
    epoch budget is unbounded unless ``ensemble.total_epochs`` is set (README l. 113-132: 600,
    1200 or 2400 on some datasets); here it must be static, 1200 by default. ``overrides``
    replace any other field; no per-layer L2 (``weight_decays`` zeros, sized to
    ``hidden_sizes``).
    """
    fields = dict(
        num_members=num_members, num_elites=num_elites, hidden_sizes=tuple(hidden_sizes),
        weight_decays=(0.0,) * (len(hidden_sizes) + 1), learning_rate=1e-3, batch_size=256,
        holdout_ratio=0.2, max_holdout=1000, max_epochs=max_epochs, patience=5,
        improvement_threshold=0.01, logvar_bound_coef=0.0, bootstrap=False,
        per_member_stopping=False, activation="leaky_relu", layer_norm=True,
        weight_init="uniform_fan_in", noise_head="logstd", min_logstd=-5.0, max_logstd=0.25,
        loss="gaussian_nll", decoupled_weight_decay=5e-5, target_frame="obs_scaled",
        best_from_init=True)
    unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(EnsembleConfig)})
    if unknown:
        raise ValueError(f"neubay_ensemble_config: unknown EnsembleConfig fields {unknown}")
    return EnsembleConfig(**{**fields, **overrides})


def _fan_in_truncated_normal(key: jax.Array, shape: Sequence[int], dtype=jnp.float32):
    # MBPO/MOPO's FC layers: truncated normal with std 1 / (2 sqrt(fan_in)), cut at 2 std.
    std = 0.5 / math.sqrt(shape[0])
    return std * jax.random.truncated_normal(key, -2.0, 2.0, shape, dtype)


def _uniform_fan_in(fan_in: int):
    # equinox's Linear default: kernel and bias uniform in +-1/sqrt(fan_in); a bias initialiser
    # sees only its own shape, hence the closure over fan_in.
    lim = 1.0 / math.sqrt(fan_in)

    def init(key: jax.Array, shape: Sequence[int], dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -lim, lim)
    return init


class GaussianMLP(nn.Module):
    """Returns (mean [..., out_dim], unbounded noise output [..., out_dim]) of one member: a
    raw log-variance (noise_head "logvar") or a raw log-std ("logstd"), bounded by the caller.

    Hidden layer i is Dense ``hidden_i`` -> (LayerNorm ``norm_i``) -> activation.
    """

    hidden_sizes: Sequence[int]
    out_dim: int
    activation: str = "swish"
    layer_norm: bool = False
    weight_init: str = "truncated_normal"

    def _dense(self, size: int, fan_in: int, name: str) -> nn.Dense:
        if self.weight_init == "truncated_normal":
            return nn.Dense(size, kernel_init=_fan_in_truncated_normal, name=name)
        return nn.Dense(size, kernel_init=_uniform_fan_in(fan_in),
                        bias_init=_uniform_fan_in(fan_in), name=name)

    @nn.compact
    def __call__(self, x):
        act = {"swish": nn.swish, "leaky_relu": nn.leaky_relu}[self.activation]
        for i, size in enumerate(self.hidden_sizes):
            x = self._dense(size, x.shape[-1], f"hidden_{i}")(x)
            if self.layer_norm:
                # equinox's LayerNorm: eps 1e-5, variance as E[(x - mean)^2].
                x = nn.LayerNorm(epsilon=1e-5, use_fast_variance=False, name=f"norm_{i}")(x)
            x = act(x)
        out = self._dense(2 * self.out_dim, x.shape[-1], "output")(x)
        mean, logvar = jnp.split(out, 2, axis=-1)
        return mean, logvar


def soft_bound_logvar(logvar: jax.Array, min_logvar: jax.Array,
                      max_logvar: jax.Array) -> jax.Array:
    """Returns ``logvar`` squashed smoothly into the learned bounds (PETS, Chua et al., 2018;
    MOPO's ``bnn.py``), with gradients everywhere, unlike a hard clip.

    The result lies in (min_logvar, max_logvar + softplus(min_logvar - max_logvar)): the
    second softplus can overshoot the upper bound by at most that (~3e-5 for bounds 10 apart).
    """
    logvar = max_logvar - jax.nn.softplus(max_logvar - logvar)
    return min_logvar + jax.nn.softplus(logvar - min_logvar)


def bounded_logvar(raw: jax.Array, config: EnsembleConfig, min_logvar: jax.Array,
                   max_logvar: jax.Array) -> jax.Array:
    """Returns the log-variance of the network's raw noise output under ``config.noise_head``:
    the learned soft bounds for "logvar"; for "logstd", twice the log-std soft-clamped to
    [min_logstd, max_logstd] (NEUBAY ``modules.py`` l. 256-258, ``soft_clamp`` l. 62-74; the
    same two softplus steps as ``soft_bound_logvar``, on the log-std)."""
    if config.noise_head == "logvar":
        return soft_bound_logvar(raw, min_logvar, max_logvar)
    return 2.0 * soft_bound_logvar(raw, jnp.float32(config.min_logstd),
                                   jnp.float32(config.max_logstd))


@struct.dataclass
class EnsembleState:
    """A trained dynamics ensemble (M members, D = obs_dim + 1 outputs: delta then reward).

    params: the members' flax variables with a leading [M] axis (each member's best-holdout
    snapshot); max_logvar, min_logvar: [D] learned bounds (standardised units, shared by the
    members; with noise_head "logstd" the fixed 2 max_logstd, 2 min_logstd); input_mean,
    input_std: [obs_dim + action_dim]; target_mean, target_std: [D] (training split) mapping
    the trained frame to env-unit (delta, reward), y_env = y * target_std + target_mean (with
    target_frame "obs_scaled": mean 0 and the observation std on the delta dims);
    elites: [num_elites] int32, members by ascending holdout MSE; holdout_mse: [M] each
    member's saved holdout MSE (in the trained frame).
    """

    params: Any
    max_logvar: jax.Array
    min_logvar: jax.Array
    input_mean: jax.Array
    input_std: jax.Array
    target_mean: jax.Array
    target_std: jax.Array
    elites: jax.Array
    holdout_mse: jax.Array
    config: EnsembleConfig = struct.field(pytree_node=False)


@struct.dataclass
class TrainMetrics:
    """Training history; E = config.max_epochs, epochs past ``epochs`` never ran.

    train_loss: [E] mean minibatch loss of the epoch (NaN where not run); holdout_mse: [E, M]
    the members' holdout MSE after the epoch (NaN where not run); training: [E, M] whether
    each member was still training in that epoch; epochs: [] int32 epochs run;
    holdout_indices: [H] int32 dataset positions of the holdout split.
    """

    train_loss: jax.Array
    holdout_mse: jax.Array
    training: jax.Array
    epochs: jax.Array
    holdout_indices: jax.Array


@struct.dataclass
class LogVarBounds:
    """The log-variance bounds, [D] each, shared by the members: learned (noise_head "logvar")
    or fixed at twice the log-std bounds ("logstd")."""

    max_logvar: jax.Array
    min_logvar: jax.Array


@struct.dataclass
class _TrainCarry:
    params: Any  # [M, ...] current member parameters
    opt_state: Any  # [M, ...] one Adam state per member, so a frozen member's is held
    bounds: LogVarBounds
    bounds_opt_state: Any
    best_params: Any  # [M, ...] snapshot at each member's best holdout MSE
    best_mse: jax.Array  # [M]
    since_best: jax.Array  # [M] int32, epochs since the last saved improvement
    epoch: jax.Array  # [] int32
    key: jax.Array
    history: TrainMetrics


def _network(config: EnsembleConfig, out_dim: int) -> GaussianMLP:
    return GaussianMLP(tuple(config.hidden_sizes), out_dim, activation=config.activation,
                       layer_norm=config.layer_norm, weight_init=config.weight_init)


def init_members(key: jax.Array, config: EnsembleConfig, in_dim: int, out_dim: int) -> Any:
    """Returns freshly initialised parameters of the M members, leaves with a leading [M] axis,
    for inputs [.., in_dim] (obs_dim + act_dim) and outputs [.., out_dim] (obs_dim + 1)."""
    net = _network(config, out_dim)
    member_keys = jax.random.split(key, config.num_members)
    return jax.vmap(net.init, in_axes=(0, None))(member_keys, jnp.zeros((1, in_dim), jnp.float32))


def ensemble_loss(config: EnsembleConfig, params: Any, bounds: LogVarBounds, x: jax.Array,
                  y: jax.Array, training: jax.Array) -> jax.Array:
    """Returns the scalar training loss of ``config.loss`` (plus the per-layer L2 and the
    bound regulariser of the learned log-variance bounds, where configured).

    params: [M, ...] members; bounds: the log-variance bounds (read only with noise_head
    "logvar"); x: [M, B, I] each member's own minibatch, y: [M, B, D] its targets in the
    trained frame; training: [M] bool, members still learning (a frozen one gives no gradient,
    to its weights or to the shared bounds).
    """
    chex.assert_rank([x, y], 3)
    net = _network(config, y.shape[-1])
    mean, raw = jax.vmap(net.apply)(params, x)
    logvar = bounded_logvar(raw, config, bounds.min_logvar, bounds.max_logvar)
    if config.loss == "mopo":
        per_member = jnp.mean(jnp.square(mean - y) * jnp.exp(-logvar) + logvar, axis=(1, 2))
    else:
        # NEUBAY losses.py l. 49-52: log sigma + 0.5 z^2 with log sigma = lv / 2.
        per_member = jnp.mean(0.5 * math.log(2.0 * math.pi) + 0.5 * logvar
                              + 0.5 * jnp.square(mean - y) * jnp.exp(-logvar), axis=(1, 2))
    if any(config.weight_decays):
        per_member = per_member + jax.vmap(
            lambda p: _weight_decay(p, config.weight_decays))(params)
    total = jnp.sum(training * per_member)
    if config.loss == "gaussian_nll":
        total = total / config.num_members  # a mean over members, as NEUBAY's nll.mean()
    if config.noise_head == "logvar":
        total = total + config.logvar_bound_coef * (jnp.sum(bounds.max_logvar)
                                                    - jnp.sum(bounds.min_logvar))
    return total


def _where_members(flag: jax.Array, new: Any, old: Any) -> Any:
    """Returns ``new`` for members with flag [M] set and ``old`` for the others, leaf by leaf
    (every leaf carries a leading member axis)."""
    def pick(n, o):
        return jnp.where(flag.reshape((-1,) + (1,) * (n.ndim - 1)), n, o)
    return jax.tree.map(pick, new, old)


def _weight_decay(member_params: Any, decays: Sequence[float]) -> jax.Array:
    """Returns sum_l wd_l ||W_l||^2 / 2 over one member's kernels (biases are not decayed)."""
    names = [f"hidden_{i}" for i in range(len(decays) - 1)] + ["output"]
    return sum(wd * 0.5 * jnp.sum(jnp.square(member_params["params"][name]["kernel"]))
               for name, wd in zip(names, decays))


def _check_dataset(dataset: Dataset, config: EnsembleConfig) -> None:
    meta = dataset.meta
    if meta.discrete:
        fail(meta.source, "actions", "continuous actions (the dynamics ensemble models "
             "Box action spaces only)", f"Discrete({meta.num_actions})")
    if len(dataset.observations.shape) != 2:
        fail(meta.source, "observations", "flat observations, shape (N, obs_dim)",
             f"shape {tuple(dataset.observations.shape)}")
    n = dataset.num_transitions
    holdout = config.holdout_size(n)
    if holdout < 1 or n - holdout < 1:
        fail(meta.source, "observations", f"enough transitions for a holdout split of "
             f"{config.holdout_ratio} and a training split (at least "
             f"{math.ceil(1.0 / config.holdout_ratio) + 1})", f"{n} transitions")


def train_ensemble(key: jax.Array, dataset: Dataset,
                   config: EnsembleConfig = EnsembleConfig()) -> tuple[EnsembleState, TrainMetrics]:
    """Returns (the trained ensemble, its training history) on ``dataset``'s transitions.

    One compiled program: a while-loop over epochs (at most ``config.max_epochs``), each a
    ``lax.scan`` over minibatch steps, then the holdout check. Vmappable over ``key``: seed i
    of ``jax.vmap(lambda k: train_ensemble(k, dataset, config))(keys)`` equals a single run
    with ``keys[i]``. Raises DatasetError for discrete actions, non-flat observations, or too
    few transitions to hold some out.
    """
    _check_dataset(dataset, config)
    return _train(key, dataset, config)


def output_shapes(key: jax.Array, dataset: Dataset, config: EnsembleConfig = EnsembleConfig()
                  ) -> tuple[EnsembleState, TrainMetrics]:
    """Returns ``train_ensemble``'s outputs as ``jax.ShapeDtypeStruct`` leaves (static fields
    set), by tracing the training program without running it: a target to restore into."""
    _check_dataset(dataset, config)
    return jax.eval_shape(functools.partial(_train, config=config), key, dataset)


@functools.partial(jax.jit, static_argnames=("config",))
def _train(key: jax.Array, dataset: Dataset,
           config: EnsembleConfig) -> tuple[EnsembleState, TrainMetrics]:
    obs = dataset.observations.astype(jnp.float32)
    inputs = jnp.concatenate([obs, dataset.actions.astype(jnp.float32)], axis=-1)  # [N, I]
    targets = jnp.concatenate([dataset.next_observations.astype(jnp.float32) - obs,
                               dataset.rewards.astype(jnp.float32)[:, None]], axis=-1)  # [N, D]
    n, out_dim = targets.shape
    num_holdout = config.holdout_size(n)
    num_train = n - num_holdout
    m, batch = config.num_members, config.batch_size
    steps = max(1, math.ceil(num_train / batch))
    split_key, init_key, boot_key, loop_key = jax.random.split(key, 4)

    order = jax.random.permutation(split_key, n)
    holdout_idx, train_idx = order[:num_holdout], order[num_holdout:]

    def standardise(x):
        # Statistics of the training split only: the holdout must stay unseen.
        mean, std = jnp.mean(x[train_idx], axis=0), jnp.std(x[train_idx], axis=0)
        std = jnp.where(std < 1e-12, 1.0, std)
        return (x - mean) / std, mean, std

    inputs_n, input_mean, input_std = standardise(inputs)
    if config.target_frame == "delta":
        targets_n, target_mean, target_std = standardise(targets)
    else:
        # NEUBAY's frame: (s' - mu_s) / sigma_s - (s - mu_s) / sigma_s for the obs, with the
        # observation's std (the input's), no mean; the reward standardised.
        obs_dim = obs.shape[-1]
        _, reward_mean, reward_std = standardise(targets[:, obs_dim:])
        target_mean = jnp.concatenate([jnp.zeros((obs_dim,), jnp.float32), reward_mean])
        target_std = jnp.concatenate([input_std[:obs_dim], reward_std])
        targets_n = (targets - target_mean) / target_std
    train_x, train_y = inputs_n[train_idx], targets_n[train_idx]
    holdout_x, holdout_y = inputs_n[holdout_idx], targets_n[holdout_idx]

    net = _network(config, out_dim)
    params = init_members(init_key, config, inputs.shape[-1], out_dim)
    if config.noise_head == "logvar":
        bounds = LogVarBounds(jnp.full((out_dim,), config.max_logvar_init, jnp.float32),
                              jnp.full((out_dim,), config.min_logvar_init, jnp.float32))
    else:  # fixed, kept in the state so that callers read the same fields
        bounds = LogVarBounds(jnp.full((out_dim,), 2.0 * config.max_logstd, jnp.float32),
                              jnp.full((out_dim,), 2.0 * config.min_logstd, jnp.float32))
    learn_bounds = config.noise_head == "logvar"
    bounds_opt = optax.adam(config.learning_rate)
    if config.decoupled_weight_decay > 0.0:
        # NEUBAY cont_ensemble.py l. 145-146: AdamW on every array of the model, biases and
        # LayerNorm scales included (optax's default mask).
        opt = optax.adamw(config.learning_rate, weight_decay=config.decoupled_weight_decay)
    else:
        opt = bounds_opt
    if config.bootstrap:
        # Each member's own resample, with replacement, of the training split (MOPO's idxs).
        rows = jax.random.randint(boot_key, (m, num_train), 0, num_train)
    else:
        rows = jnp.broadcast_to(jnp.arange(num_train), (m, num_train))

    def loss_fn(trainable, x, y, training):
        # x: [M, B, I], y: [M, B, D]; training: [M] members still learning.
        member_params, bnd = trainable
        return ensemble_loss(config, member_params, bnd, x, y, training)

    def holdout_mse(member_params):
        mean, _ = jax.vmap(net.apply, in_axes=(0, None))(member_params, holdout_x)
        return jnp.mean(jnp.square(mean - holdout_y), axis=(1, 2))  # [M]

    def epoch(carry: _TrainCarry) -> _TrainCarry:
        key, shuffle_key = jax.random.split(carry.key)
        training = carry.since_best < config.patience  # [M]
        perms = jax.vmap(jax.random.permutation, in_axes=(0, None))(
            jax.random.split(shuffle_key, m), num_train)
        epoch_rows = jnp.take_along_axis(rows, perms, axis=1)  # [M, T]
        # Static step count: the last minibatch wraps round to the epoch's first rows.
        take = jnp.arange(steps * batch) % num_train
        minibatches = epoch_rows[:, take].reshape(m, steps, batch).transpose(1, 0, 2)

        def sgd_step(state, idx):  # idx: [M, B] training-split positions
            params, opt_state, bnd, bnd_opt_state = state
            loss, (g_params, g_bounds) = jax.value_and_grad(loss_fn)(
                (params, bnd), train_x[idx], train_y[idx], training)
            updates, new_opt_state = jax.vmap(opt.update)(g_params, opt_state, params)
            new_params = optax.apply_updates(params, updates)
            params = _where_members(training, new_params, params)
            opt_state = _where_members(training, new_opt_state, opt_state)
            if learn_bounds:
                updates, bnd_opt_state = bounds_opt.update(g_bounds, bnd_opt_state, bnd)
                bnd = optax.apply_updates(bnd, updates)
            return (params, opt_state, bnd, bnd_opt_state), loss

        (params, opt_state, bnd, bnd_opt_state), losses = jax.lax.scan(
            sgd_step, (carry.params, carry.opt_state, carry.bounds, carry.bounds_opt_state),
            minibatches)
        mse = holdout_mse(params)
        # Relative improvement > threshold, written so that the initial best (inf) works.
        improved = training & (mse < carry.best_mse * (1.0 - config.improvement_threshold))
        if config.per_member_stopping:
            since_best = jnp.where(improved, 0, carry.since_best + 1)
        else:
            since_best = jnp.where(jnp.any(improved), 0, carry.since_best + 1)
        h, e = carry.history, carry.epoch
        history = h.replace(train_loss=h.train_loss.at[e].set(jnp.mean(losses)),
                            holdout_mse=h.holdout_mse.at[e].set(mse),
                            training=h.training.at[e].set(training), epochs=e + 1)
        return carry.replace(
            params=params, opt_state=opt_state, bounds=bnd, bounds_opt_state=bnd_opt_state,
            best_params=_where_members(improved, params, carry.best_params),
            best_mse=jnp.where(improved, mse, carry.best_mse), since_best=since_best,
            epoch=e + 1, key=key, history=history)

    def keep_going(carry: _TrainCarry) -> jax.Array:
        return (carry.epoch < config.max_epochs) & jnp.any(carry.since_best < config.patience)

    e = config.max_epochs
    history = TrainMetrics(
        train_loss=jnp.full((e,), jnp.nan, jnp.float32),
        holdout_mse=jnp.full((e, m), jnp.nan, jnp.float32),
        training=jnp.zeros((e, m), bool), epochs=jnp.int32(0),
        holdout_indices=holdout_idx.astype(jnp.int32))
    if config.best_from_init:  # NEUBAY cont_ensemble.py l. 158-160, 182
        best_mse = holdout_mse(params)
    else:
        best_mse = jnp.full((m,), jnp.inf, jnp.float32)
    carry = _TrainCarry(
        params=params, opt_state=jax.vmap(opt.init)(params), bounds=bounds,
        bounds_opt_state=bounds_opt.init(bounds), best_params=params, best_mse=best_mse,
        since_best=jnp.zeros((m,), jnp.int32), epoch=jnp.int32(0), key=loop_key,
        history=history)
    carry = jax.lax.while_loop(keep_going, epoch, carry)

    state = EnsembleState(
        params=carry.best_params, max_logvar=carry.bounds.max_logvar,
        min_logvar=carry.bounds.min_logvar, input_mean=input_mean, input_std=input_std,
        target_mean=target_mean, target_std=target_std,
        elites=jnp.argsort(carry.best_mse)[:config.num_elites].astype(jnp.int32),
        holdout_mse=carry.best_mse, config=config)
    return state, carry.history


def predict_standardized(state: EnsembleState, obs: jax.Array,
                         action: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Returns (means [M, B, D], bounded log-variances [M, B, D]) in the frame the model was
    trained in (``config.target_frame``), for obs [B, obs_dim], action [B, act_dim].

    With "obs_scaled" the obs means are NEUBAY's delta_mu; their next-obs means differ from
    these by (s - mu_s) / sigma_s, the same for every member, so the std over members of
    these means is NEUBAY's epistemic spread, and sqrt(mean over dims of its square) their
    ``epi_mean`` (``offline_world/modules.py`` l. 312).
    """
    chex.assert_rank([obs, action], 2)
    x = (jnp.concatenate([obs, action], axis=-1) - state.input_mean) / state.input_std
    net = _network(state.config, state.target_mean.shape[-1])
    mean, raw = jax.vmap(net.apply, in_axes=(0, None))(state.params, x)
    return mean, bounded_logvar(raw, state.config, state.min_logvar, state.max_logvar)


def predict(state: EnsembleState, obs: jax.Array,
            action: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Returns every member's Gaussian (means [M, B, obs_dim + 1], stds [M, B, obs_dim + 1])
    in env units: the next-observation delta s' - s first, the reward last.

    obs: [B, obs_dim]; action: [B, act_dim] (env units).
    """
    mean, logvar = predict_standardized(state, obs, action)
    return (mean * state.target_std + state.target_mean,
            jnp.exp(0.5 * logvar) * state.target_std)


def elite_mask(state: EnsembleState) -> jax.Array:
    """Returns [M] bool, true for the elite members."""
    return jnp.zeros((state.config.num_members,), bool).at[state.elites].set(True)


class ModelStep(NamedTuple):
    """One model step of B transitions: next_obs [B, obs_dim], reward [B], every member's
    Gaussian in the next-state frame (means, stds [M, B, obs_dim + 1], s + delta then the
    reward), and member [B] int32, the member each transition was drawn from."""

    next_obs: jax.Array
    reward: jax.Array
    means: jax.Array
    stds: jax.Array
    member: jax.Array


def draw_members(means: jax.Array, stds: jax.Array, key: jax.Array,
                 member_mask: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Returns (sample [B, D], member [B] int32): per batch element a member drawn uniformly
    from ``member_mask`` ([M], nonzero = may be drawn) and one draw of its Gaussian
    means[member] + stds[member] * eps (MOPO ``fake_env.py``: ``model_inds``; OfflineRL-Kit
    ``ensemble_dynamics.py``: ``random_elite_idxs``). means, stds: [M, B, D]."""
    chex.assert_rank([means, stds], 3)
    mask = jnp.asarray(member_mask) != 0
    chex.assert_shape(mask, (means.shape[0],))
    member_key, noise_key = jax.random.split(key)
    batch = means.shape[1]
    member = jax.random.categorical(member_key, jnp.where(mask, 0.0, -jnp.inf), shape=(batch,))
    rows = jnp.arange(batch)
    noise = jax.random.normal(noise_key, means.shape[1:], means.dtype)
    return means[member, rows] + stds[member, rows] * noise, member.astype(jnp.int32)


def sample_step(state: EnsembleState, obs: jax.Array, action: jax.Array, key: jax.Array,
                member_mask: jax.Array | None = None) -> ModelStep:
    """Returns one model step (``ModelStep``), each transition drawn from its own member.

    As MOPO's ``FakeEnv.step``: per batch element a member is drawn uniformly from
    ``member_mask`` ([M] bool/float, nonzero = may be drawn; default the elites) and its
    Gaussian sampled; ``member`` says which, so a penalty can score the transition the rollout
    took (``ll_var``) or compare its member with the rest (``loo_kl``). The means are in the
    next-state frame for every member, so ``jnp.concatenate([next_obs, reward[:, None]], -1)``
    is a ``sample`` in the frame of ``means``.
    obs: [B, obs_dim]; action: [B, act_dim] (env units).
    """
    means, stds = predict(state, obs, action)
    means = means.at[..., :-1].add(obs)
    mask = elite_mask(state) if member_mask is None else member_mask
    sample, member = draw_members(means, stds, key, mask)
    return ModelStep(sample[:, :-1], sample[:, -1], means, stds, member)


def step(state: EnsembleState, obs: jax.Array, action: jax.Array, key: jax.Array,
         member_mask: jax.Array | None = None
         ) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """Returns (next_obs [B, obs_dim], reward [B], means [M, B, obs_dim + 1],
    stds [M, B, obs_dim + 1]): ``sample_step`` without the drawn members."""
    out = sample_step(state, obs, action, key, member_mask)
    return out.next_obs, out.reward, out.means, out.stds
