"""Proxy action labels of "Semi-Supervised Offline RL with Action-Free Trajectories" (Zheng et
al., ICML 2023; code: facebookresearch/ssorl): keep the actions of a few trajectories, train an
inverse-dynamics model (IDM) p(a_t | s_{t-1}, s_t, s_{t+1}) on them, and label the others with
its predicted mean.

Choices, following the authors' code (``data.py``, ``inverse_model_seq.py``, ``model/mlp.py``,
``config/config.yaml``) unless said otherwise:

* Labelled split (``setup_action_label``): of ``E`` trajectories, ``int(E * labelled_share)``
  are labelled, drawn uniformly without replacement from the ``int(E * return_threshold)``
  lowest-return ones (fewer if that pool is smaller). ``which="random"`` draws the same number
  from all trajectories. The share is of *all trajectories*, not of transitions. (ssorl's loader
  also drops the single lowest-return trajectory, a leftover of its top-X% filter; not copied.)
* IDM input: the window (s_{t-1}, s_t, s_{t+1}), each state standardised by the mean and std
  (+1e-6) of every observation in both parts (states are known for all trajectories). At an
  episode's first step s_{t-1} is a zero *raw* state, padded before standardising, as ssorl
  does (``get_transition``, ``num_past_transitions=1``); here it comes from
  ``stack_observation_history(dataset, 2)``. s_{t+1} is ``next_observations[t]``; ssorl instead reads
  ``observations[t+1]`` and, at an episode's last step, slides the window back to
  (0, s_{t-1}, s_t); here every step sees the aligned window.
* IDM (``DiagGaussianDistribution``): two MLPs of the same shape (mean, log-std), ReLU, one
  dropout layer after the last hidden layer, log-std = tanh mapped into [-5, 2], and a
  tanh-squashed Gaussian over actions rescaled to [-1, 1] from the metadata's bounds, targets
  clamped to 1e-6 inside them. NLL = -sum over action dims of log p, in those [-1, 1] units
  (as ssorl, whose MuJoCo bounds are [-1, 1]). Flax's default init (LeCun normal) replaces
  ssorl's orthogonal init. The proxy label is tanh(mean) mapped back and clipped to the bounds.
* Training: Adam lr 1e-4, batch 1024, 100 steps, validation NLL every 10 steps on 10% of the
  labelled trajectories held out, best parameters kept (ssorl also validates after step 1).
  Batches are drawn uniformly with replacement (ssorl shuffles epochs); at least one trajectory
  is held out (ssorl's ``int(0.1 * n)`` leaves none, and crashes, below 10 labelled ones).
* Discrete action spaces (the suite's extension; the paper is continuous-only): one MLP giving
  logits, cross-entropy loss, the argmax as the proxy label.

Recording: a Dataset holds fixed fields, so the per-transition mask comes back beside it
(``ProxyLabelResult.is_proxy``) and ``meta.info`` records ``proxy_actions``,
``num_proxy_transitions``, ``labelled_share``, ``which``, ``return_threshold`` and
``idm_validation_nll``.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from jaxrl_suite.data.dataset import Dataset, DatasetMeta, concatenate
from jaxrl_suite.data.validate import fail
from jaxrl_suite.nets.networks import MLP
from jaxrl_suite.transforms.history import stack_observation_history

WHICH = ("lowest_return", "random")
LABELLED_SHARE = 0.1  # ssorl config.yaml: data.action_available_perc
RETURN_THRESHOLD = 0.5  # ssorl config.yaml: data.action_available_threshold
_ACTION_EPS = 1e-6  # ssorl utils.py: action_range = [low + 1e-6, high - 1e-6] (atanh stays finite)
_SPLIT_INFO_KEYS = ("action_labels",)  # per-part facts that make no sense for the union


# --------------------------------------------------------------------------------------------
# The labelled split
# --------------------------------------------------------------------------------------------

def labelled_episode_indices(
    dataset: Dataset,
    labelled_share: float = LABELLED_SHARE,
    *,
    which: str = "lowest_return",
    return_threshold: float = RETURN_THRESHOLD,
    key: jax.Array,
) -> np.ndarray:
    """Returns the sorted indices [L] of the episodes that keep their actions (host-side).

    Zheng et al. (2023) / ssorl ``data.py::setup_action_label``: ``L = min(int(E *
    labelled_share), pool)``, drawn uniformly without replacement from a pool of the ``pool =
    int(E * return_threshold)`` lowest-return episodes (``which="lowest_return"``; ties broken by
    position) or of all ``E`` episodes (``which="random"``).
    """
    src = dataset.meta.source
    if which not in WHICH:
        fail(src, "which", f"one of {WHICH}", repr(which))
    if not 0.0 < labelled_share < 1.0:
        fail(src, "labelled_share", "a share of trajectories strictly between 0 and 1",
             repr(labelled_share))
    if which == "lowest_return" and not 0.0 < return_threshold <= 1.0:
        fail(src, "return_threshold", "a return quantile in (0, 1]", repr(return_threshold))
    num_episodes = dataset.num_episodes
    if which == "lowest_return":
        returns = np.asarray(dataset.episode_returns())
        pool = np.argsort(returns, kind="stable")[: int(num_episodes * return_threshold)]
    else:
        pool = np.arange(num_episodes)
    size = min(int(num_episodes * labelled_share), pool.size)
    if size < 1:
        fail(src, "labelled_share", f"at least one labelled trajectory (int({num_episodes} "
             f"episodes x share) >= 1, from a pool of {pool.size})", f"{labelled_share}")
    chosen = jax.random.choice(key, jnp.asarray(pool), (size,), replace=False)
    return np.sort(np.asarray(chosen))


def labelled_split(
    dataset: Dataset,
    labelled_share: float = LABELLED_SHARE,
    *,
    which: str = "lowest_return",
    return_threshold: float = RETURN_THRESHOLD,
    key: jax.Array,
) -> tuple[Dataset, Dataset]:
    """Returns (labelled, unlabelled): the episodes of ``labelled_episode_indices`` and the
    rest, each in the original order.

    Zheng et al. (2023): the paper's default keeps the actions of 10% of trajectories
    drawn from the lowest-return 50%. Both parts still hold the file's actions (so the proxy
    labels can be scored); ``meta.info`` records the split's settings and ``action_labels``
    ("true" or "absent"), which tells ``proxy_label_actions`` nothing it needs but tells a reader which
    part is which.
    """
    chosen = labelled_episode_indices(dataset, labelled_share, which=which,
                                      return_threshold=return_threshold, key=key)
    rest = np.setdiff1d(np.arange(dataset.num_episodes), chosen)
    settings = dict(labelled_share=labelled_share, which=which,
                    return_threshold=return_threshold if which == "lowest_return" else None)
    labelled = dataset.select_episodes(chosen)
    unlabelled = dataset.select_episodes(rest)
    return (labelled.replace(meta=labelled.meta.with_info(action_labels="true", **settings)),
            unlabelled.replace(meta=unlabelled.meta.with_info(action_labels="absent",
                                                              **settings)))


# --------------------------------------------------------------------------------------------
# The inverse-dynamics model
# --------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class InverseDynamicsConfig:
    """Static IDM settings. Defaults: Zheng et al. (2023) / ssorl ``config/config.yaml``
    (``inverse_model``: hidden_dims [1024, 1024], dropout 0.1, lr 1e-4, batch_size 1024,
    total_train_iters 100, validation_perc 0.1; evaluated every 10 iterations)."""

    hidden_sizes: tuple[int, ...] = (1024, 1024)
    dropout: float = 0.1
    learning_rate: float = 1e-4
    batch_size: int = 1024
    num_steps: int = 100
    eval_every: int = 10
    validation_share: float = 0.1
    log_std_min: float = -5.0  # ssorl DiagGaussianDistribution log_std_bounds
    log_std_max: float = 2.0
    tanh_squash: bool = True  # ssorl's SquashedNormal; needs action bounds in the metadata


@dataclasses.dataclass(frozen=True)
class ActionSpace:
    """Static facts about the actions the IDM predicts (hashable, from DatasetMeta)."""

    discrete: bool
    size: int  # num_actions (discrete) or action_dim (continuous)
    low: tuple[float, ...] | None = None
    high: tuple[float, ...] | None = None


def action_space(meta: DatasetMeta) -> ActionSpace:
    """Returns the ActionSpace of a dataset's metadata."""
    if meta.discrete:
        return ActionSpace(True, int(meta.num_actions))
    return ActionSpace(False, int(meta.action_dim), meta.action_low, meta.action_high)


class GaussianInverseDynamics(nn.Module):
    """Returns (mean [..., A], log_std [..., A]) of the pre-squash Gaussian over a_t.

    Zheng et al. (2023) / ssorl ``DiagGaussianDistribution``: separate mean and log-std
    MLPs, dropout after the last hidden layer, log-std tanh-mapped into [log_std_min, max].
    """

    hidden_sizes: tuple[int, ...]
    action_dim: int
    dropout: float
    log_std_min: float
    log_std_max: float

    @nn.compact
    def __call__(self, x, deterministic: bool):
        def head(name):
            h = MLP(self.hidden_sizes, name=f"{name}_torso")(x)
            h = nn.Dropout(self.dropout)(h, deterministic=deterministic)
            return nn.Dense(self.action_dim, name=f"{name}_out")(h)

        mean = head("mean")
        log_std = jnp.tanh(head("log_std"))
        log_std = self.log_std_min + 0.5 * (self.log_std_max - self.log_std_min) * (log_std + 1.0)
        return mean, log_std


class CategoricalInverseDynamics(nn.Module):
    """Returns logits [..., num_actions] over a_t (the suite's discrete-action extension)."""

    hidden_sizes: tuple[int, ...]
    num_actions: int
    dropout: float

    @nn.compact
    def __call__(self, x, deterministic: bool):
        h = MLP(self.hidden_sizes)(x)
        h = nn.Dropout(self.dropout)(h, deterministic=deterministic)
        return nn.Dense(self.num_actions)(h)


def inverse_dynamics_model(config: InverseDynamicsConfig, space: ActionSpace) -> nn.Module:
    """Returns the IDM module for an action space: categorical or (squashed) Gaussian."""
    if space.discrete:
        return CategoricalInverseDynamics(config.hidden_sizes, space.size, config.dropout)
    return GaussianInverseDynamics(config.hidden_sizes, space.size, config.dropout,
                                   config.log_std_min, config.log_std_max)


def squashed_gaussian_nll(mean: jax.Array, log_std: jax.Array, a: jax.Array) -> jax.Array:
    """Returns -log p(a) of a tanh-squashed diagonal Gaussian, a scalar (one example).

    mean, log_std, a: [A], with a in (-1, 1). As ssorl's ``SquashedNormal.log_likelihood``.
    """
    u = jnp.arctanh(a)
    log_prob = jax.scipy.stats.norm.logpdf(u, mean, jnp.exp(log_std))
    # log|d tanh(u)/du| = 2 (log 2 - u - softplus(-2u)), stable for large |u|.
    log_det = 2.0 * (jnp.log(2.0) - u - jax.nn.softplus(-2.0 * u))
    return -jnp.sum(log_prob - log_det)


def gaussian_nll(mean: jax.Array, log_std: jax.Array, a: jax.Array) -> jax.Array:
    """Returns -log p(a) of a diagonal Gaussian, a scalar (one example; [A] inputs)."""
    return -jnp.sum(jax.scipy.stats.norm.logpdf(a, mean, jnp.exp(log_std)))


def categorical_nll(logits: jax.Array, a: jax.Array) -> jax.Array:
    """Returns -log p(a) = the cross-entropy of logits [K] at the integer action a []."""
    return -jax.nn.log_softmax(logits)[a]


def _example_nll(config: InverseDynamicsConfig, space: ActionSpace) -> Callable:
    if space.discrete:
        return categorical_nll
    nll = squashed_gaussian_nll if config.tanh_squash else gaussian_nll
    return lambda out, a: nll(out[0], out[1], a)


def idm_inputs(dataset: Dataset, state_mean: jax.Array, state_std: jax.Array) -> jax.Array:
    """Returns the IDM input [N, 3 * D]: standardised (s_{t-1}, s_t, s_{t+1}), flattened.

    s_{t-1} is a zero raw state at an episode's first step (ssorl pads with zeros before
    standardising); s_{t+1} is ``next_observations[t]``. state_mean, state_std: [D], D the
    flattened observation size.
    """
    n = dataset.num_transitions
    past_and_now = stack_observation_history(dataset, 2).observations.reshape(n, 2, -1)
    window = jnp.concatenate(
        [past_and_now, dataset.next_observations.reshape(n, 1, -1)], axis=1)  # [N, 3, D]
    return ((window - state_mean) / state_std).reshape(n, -1)


def _model_actions(actions: jax.Array, config: InverseDynamicsConfig,
                   space: ActionSpace) -> jax.Array:
    """Returns actions in the units the IDM predicts: [-1, 1] (clamped) when bounded."""
    if space.discrete or space.low is None:
        return actions
    low, high = jnp.asarray(space.low), jnp.asarray(space.high)
    scaled = 2.0 * (actions - low) / (high - low) - 1.0
    limit = 1.0 - _ACTION_EPS if config.tanh_squash else 1.0
    return jnp.clip(scaled, -limit, limit)


@struct.dataclass
class IDMTrainState:
    """params: IDM parameters; opt_state: Adam state."""

    params: Any
    opt_state: Any


@struct.dataclass
class IDMMetrics:
    """train_loss: [num_steps] minibatch NLL; validation_nll: [num_steps // eval_every], mean
    per-transition NLL on the held-out trajectories after each chunk; best_validation_nll: []."""

    train_loss: jax.Array
    validation_nll: jax.Array
    best_validation_nll: jax.Array


@functools.partial(jax.jit, static_argnames=("config", "space"))
def train_inverse_dynamics(
    key: jax.Array,
    train_inputs: jax.Array,
    train_actions: jax.Array,
    val_inputs: jax.Array,
    val_actions: jax.Array,
    *,
    config: InverseDynamicsConfig,
    space: ActionSpace,
) -> tuple[Any, IDMMetrics]:
    """Returns (best params, IDMMetrics): Adam on the NLL, the parameters with the lowest
    validation NLL kept (Zheng et al., 2023 / ssorl ``train_inverse_model``).

    One ``lax.scan`` over chunks of ``eval_every`` steps, each an inner ``lax.scan`` over
    updates, the validation NLL computed between them. train_inputs: [N, 3 * D]; train_actions:
    [N, A] in model units (``_model_actions``) or [N] int; val_*: likewise, [M, ...].
    """
    model = inverse_dynamics_model(config, space)
    tx = optax.adam(config.learning_rate)
    k_init, k_chunks = jax.random.split(key)
    params = model.init(k_init, train_inputs[:1], deterministic=True)["params"]
    state = IDMTrainState(params=params, opt_state=tx.init(params))
    num_train = train_inputs.shape[0]

    def loss_fn(params, x, a, k_dropout):
        out = model.apply({"params": params}, x, deterministic=False, rngs={"dropout": k_dropout})
        return jnp.mean(jax.vmap(_example_nll(config, space))(out, a))

    def update(state, key):
        k_idx, k_dropout = jax.random.split(key)
        idx = jax.random.randint(k_idx, (config.batch_size,), 0, num_train)
        loss, grads = jax.value_and_grad(loss_fn)(
            state.params, train_inputs[idx], train_actions[idx], k_dropout)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        return IDMTrainState(optax.apply_updates(state.params, updates), opt_state), loss

    def validation_nll(params):
        def one(xa):  # one example; lax.map vmaps it over batches
            out = model.apply({"params": params}, xa[0], deterministic=True)
            return _example_nll(config, space)(out, xa[1])
        return jnp.mean(jax.lax.map(one, (val_inputs, val_actions),
                                    batch_size=4 * config.batch_size))

    def chunk(carry, key):
        state, best_params, best_nll = carry
        state, losses = jax.lax.scan(update, state, jax.random.split(key, config.eval_every))
        nll = validation_nll(state.params)
        better = nll < best_nll
        best_params = jax.tree_util.tree_map(
            lambda new, old: jnp.where(better, new, old), state.params, best_params)
        return (state, best_params, jnp.where(better, nll, best_nll)), (losses, nll)

    num_chunks = config.num_steps // config.eval_every
    (_, best_params, best_nll), (losses, nlls) = jax.lax.scan(
        chunk, (state, params, jnp.asarray(jnp.inf, jnp.float32)),
        jax.random.split(k_chunks, num_chunks))
    return best_params, IDMMetrics(losses.reshape(-1), nlls, best_nll)


@functools.partial(jax.jit, static_argnames=("config", "space"))
def predict_actions(params: Any, inputs: jax.Array, *, config: InverseDynamicsConfig,
                    space: ActionSpace) -> jax.Array:
    """Returns proxy actions for IDM inputs [N, 3 * D]: the predicted mean squashed, mapped to
    the action bounds and clipped to them [N, A] (Zheng et al., 2023), or the argmax [N]
    int32 for discrete actions."""
    model = inverse_dynamics_model(config, space)

    def one(x):  # one example; lax.map vmaps it over batches
        return model.apply({"params": params}, x, deterministic=True)

    out = jax.lax.map(one, inputs, batch_size=4 * config.batch_size)
    if space.discrete:
        return jnp.argmax(out, axis=-1).astype(jnp.int32)
    mean = out[0]
    if config.tanh_squash:
        mean = jnp.tanh(mean)
    if space.low is None:
        return mean
    low, high = jnp.asarray(space.low), jnp.asarray(space.high)
    return jnp.clip(low + 0.5 * (mean + 1.0) * (high - low), low, high)


# --------------------------------------------------------------------------------------------
# Proxy labelling
# --------------------------------------------------------------------------------------------

class ProxyLabelResult(NamedTuple):
    """dataset: the labelled episodes, then the unlabelled ones with proxy actions;
    is_proxy: [N] bool, True where the action is a proxy; proxy_actions: the labels given to the
    unlabelled part, in its order; params: the kept IDM parameters; metrics: IDMMetrics."""

    dataset: Dataset
    is_proxy: np.ndarray
    proxy_actions: jax.Array
    params: Any
    metrics: IDMMetrics


def _check_parts(labelled: Dataset, unlabelled: Dataset, config: InverseDynamicsConfig) -> None:
    src = unlabelled.meta.source
    a, b = labelled.meta, unlabelled.meta
    if (a.observation_shape, a.discrete, a.num_actions if a.discrete else a.action_dim) != (
            b.observation_shape, b.discrete, b.num_actions if b.discrete else b.action_dim):
        fail(src, "observations/actions", "the labelled part's observation shape and action "
             "space", "different ones")
    if labelled.num_episodes < 2:
        fail(a.source, "episodes", "at least 2 labelled trajectories (one is held out to "
             "validate the inverse-dynamics model)", f"{labelled.num_episodes}")
    if config.num_steps < 1 or config.eval_every < 1 or config.num_steps % config.eval_every:
        fail(None, "num_steps/eval_every", "num_steps a positive multiple of eval_every",
             f"{config.num_steps} / {config.eval_every}")
    if not 0.0 < config.validation_share < 1.0:
        fail(None, "validation_share", "a share strictly between 0 and 1",
             repr(config.validation_share))
    if not a.discrete and config.tanh_squash and (a.action_low is None or a.action_high is None):
        fail(a.source, "action_low/action_high", "action bounds in the metadata (the "
             "tanh-squashed IDM predicts in them; or set tanh_squash=False)", "none")


def proxy_label_actions(
    dataset_labelled: Dataset,
    dataset_unlabelled: Dataset,
    key: jax.Array,
    config: InverseDynamicsConfig = InverseDynamicsConfig(),
) -> ProxyLabelResult:
    """Returns a ProxyLabelResult: the union with the unlabelled part's actions replaced by an
    inverse-dynamics model's proxies, the proxy mask and the IDM's metrics.

    Zheng et al. (2023) / ssorl ``train_inverse_model`` and
    ``predict_actions_unlabeled_trajs``. Host-side: splits the labelled episodes into train and
    validation, then runs the jitted training and labelling. ``meta.info`` of the union records
    ``proxy_actions``, ``num_proxy_transitions``, ``labelled_share``, ``which``,
    ``return_threshold`` (from ``labelled_split``, or the episode share and "given" otherwise)
    and ``idm_validation_nll``.
    """
    _check_parts(dataset_labelled, dataset_unlabelled, config)
    space = action_space(dataset_labelled.meta)
    k_val, k_train = jax.random.split(key)

    obs = jnp.concatenate([dataset_labelled.observations, dataset_unlabelled.observations])
    obs = obs.reshape(obs.shape[0], -1)
    state_mean, state_std = jnp.mean(obs, axis=0), jnp.std(obs, axis=0) + 1e-6

    num_val = max(1, int(dataset_labelled.num_episodes * config.validation_share))
    val_episodes = jax.random.choice(k_val, dataset_labelled.num_episodes, (num_val,),
                                     replace=False)
    is_val = np.isin(np.asarray(dataset_labelled.episode_ids), np.asarray(val_episodes))
    inputs = idm_inputs(dataset_labelled, state_mean, state_std)
    actions = _model_actions(dataset_labelled.actions, config, space)
    params, metrics = train_inverse_dynamics(
        k_train, inputs[~is_val], actions[~is_val], inputs[is_val], actions[is_val],
        config=config, space=space)

    proxy = predict_actions(params, idm_inputs(dataset_unlabelled, state_mean, state_std),
                            config=config, space=space)
    settings = dataset_labelled.meta.info_dict()
    meta = dataset_labelled.meta.replace(
        info=tuple((k, v) for k, v in dataset_labelled.meta.info if k not in _SPLIT_INFO_KEYS))
    meta = meta.with_info(
        proxy_actions=True,
        num_proxy_transitions=dataset_unlabelled.num_transitions,
        labelled_share=settings.get("labelled_share", dataset_labelled.num_episodes / (
            dataset_labelled.num_episodes + dataset_unlabelled.num_episodes)),
        which=settings.get("which", "given"),
        return_threshold=settings.get("return_threshold"),
        idm_validation_nll=float(metrics.best_validation_nll),
    )
    union = concatenate([dataset_labelled, dataset_unlabelled.replace(actions=proxy)], meta=meta)
    is_proxy = np.concatenate([np.zeros(dataset_labelled.num_transitions, bool),
                               np.ones(dataset_unlabelled.num_transitions, bool)])
    return ProxyLabelResult(union, is_proxy, proxy, params, metrics)


def label_error(true_actions: jax.Array, proxy_actions: jax.Array) -> jax.Array:
    """Returns the proxy labels' error, a scalar: the mean squared error over transitions and
    action dims for continuous actions (ssorl's ``mse``), the error rate for integer actions."""
    if jnp.issubdtype(jnp.asarray(true_actions).dtype, jnp.integer):
        return jnp.mean((true_actions != proxy_actions).astype(jnp.float32))
    return jnp.mean(jnp.square(jnp.asarray(true_actions, jnp.float32) - proxy_actions))
