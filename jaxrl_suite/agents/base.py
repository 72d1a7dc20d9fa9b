"""The learner contract: a small immutable object of static config and three pure functions.

    init(key, spec, hparams) -> state          # state: a flax.struct pytree
    update(state, batch, key, hparams) -> (state, metrics: dict[str, scalar])
    act(state, obs [B, *obs_shape], key, deterministic: bool) -> actions [B, A] (env units)

``hparams`` is a flax.struct of scalars, traced through the loop, so ``jax.vmap`` over it turns
one compile into a grid of settings; static choices (network widths, ensemble sizes) live in
the learner's config. Continuous learners work in [-1, 1] action units: ``DataSpec`` holds the
bounds (and observation statistics) that ``to_unit`` / ``to_env`` convert with.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxrl_suite.data.dataset import Dataset
from jaxrl_suite.data.validate import fail


@struct.dataclass
class DataSpec:
    """What a learner needs to know of its data: sizes, action bounds, observation statistics.

    obs_mean, obs_std: [*obs_shape] (observation normalisation, used when a learner asks for
    it, e.g. TD3+BC); action_low/high: [A] env-unit bounds (continuous).
    """

    obs_mean: jax.Array
    obs_std: jax.Array
    action_low: jax.Array
    action_high: jax.Array
    observation_shape: tuple[int, ...] = struct.field(pytree_node=False)
    action_dim: int = struct.field(pytree_node=False)
    discrete: bool = struct.field(pytree_node=False, default=False)
    num_actions: int | None = struct.field(pytree_node=False, default=None)

    def to_unit(self, action: jax.Array) -> jax.Array:
        """Returns env-unit actions rescaled to [-1, 1]."""
        return 2.0 * (action - self.action_low) / (self.action_high - self.action_low) - 1.0

    def to_env(self, unit_action: jax.Array) -> jax.Array:
        """Returns [-1, 1] actions rescaled to the env's bounds."""
        return self.action_low + (unit_action + 1.0) * 0.5 * (self.action_high - self.action_low)

    def normalize(self, obs: jax.Array) -> jax.Array:
        return (obs - self.obs_mean) / self.obs_std


def data_spec(dataset: Dataset) -> DataSpec:
    """Returns the DataSpec of a dataset (host-side; continuous datasets need action bounds,
    else the actions' observed min/max are used)."""
    meta = dataset.meta
    obs = np.asarray(dataset.observations, np.float64)
    if meta.info_dict().get("history_windows"):  # [N, k, obs_dim + 1] (transforms/history.py)
        # Statistics of real steps (every window's current step), the same at each position;
        # the validity flag passes unchanged (mean 0, std 1) for the encoder to read.
        now = obs[:, -1, :-1]
        k = obs.shape[1]
        mean = np.concatenate([np.tile(now.mean(0), (k, 1)), np.zeros((k, 1))], axis=1)
        std = np.concatenate([np.tile(now.std(0) + 1e-3, (k, 1)), np.ones((k, 1))], axis=1)
    else:
        mean, std = obs.mean(axis=0), obs.std(axis=0) + 1e-3  # TD3+BC's normalisation epsilon
    if meta.discrete:
        dim, low, high = 1, np.zeros(1), np.ones(1)
    else:
        act = np.asarray(dataset.actions)
        dim = act.shape[1]
        low = np.asarray(meta.action_low if meta.action_low is not None else act.min(0))
        high = np.asarray(meta.action_high if meta.action_high is not None else act.max(0))
        if not np.all(high > low):
            fail(meta.source, "action_low/action_high", "low < high in every dimension",
                 f"low {low.tolist()}, high {high.tolist()}")
    return DataSpec(
        obs_mean=jnp.asarray(mean, jnp.float32), obs_std=jnp.asarray(std, jnp.float32),
        action_low=jnp.asarray(low, jnp.float32), action_high=jnp.asarray(high, jnp.float32),
        observation_shape=tuple(meta.observation_shape), action_dim=int(dim),
        discrete=bool(meta.discrete), num_actions=meta.num_actions)


class Learner(NamedTuple):
    """A learner: static config plus its pure functions (see the module docstring)."""

    name: str
    config: Any
    default_hparams: Any
    init: Callable[..., Any]
    update: Callable[..., tuple[Any, dict[str, jax.Array]]]
    act: Callable[..., jax.Array]
    discrete: bool = False
    batch_size: int = 256  # the paper's minibatch size: train's default unless --batch_size
    # The reference's reward preprocessing (transforms/rewards.py), applied by train.train.
    reward_transform: str = "none"
    # Offline imitation (ReCOIL, DemoDICE): each update gets an ``ImitationBatch`` (an offline
    # batch, an expert batch from the dataset's demonstrations, initial observations) and the
    # data's rewards are zeroed before training (``data/imitation.py``).
    imitation: bool = False
    # Action chunks (Q-chunking): h > 0 makes ``act`` return h actions [B, h * A] that
    # evaluation executes open loop, and (without ``sample``) each update get a
    # ``data.chunks.ChunkBatch`` of h-step chunks.
    chunk_horizon: int = 0
    # A learner's own minibatch: ``sample(dataset, key, batch_size, hparams) -> batch``, called
    # inside the compiled chunk in place of the engine's sampling (n-step returns over a
    # horizon other than the policy's chunk; DQC's goal-relabelled chunks). Uniform only.
    sample: Callable[..., Any] | None = None
    # Rounds: ``round(state, dataset, key, hparams, step) -> state`` runs before every
    # ``round_every``-th update (the first included), e.g. NEUBAY's model rollouts from
    # dataset histories into the learner's own buffer; train.py says why it costs nothing at
    # the other updates. ``step`` is the (unbatched) global update index.
    round: Callable[..., Any] | None = None
    round_every: int = 0
    # A recurrent policy: ``initial_carry(state, num) -> carry [num, ...]`` and
    # ``act_recurrent(state, obs [B, obs_dim + A + 1], key, deterministic, carry) ->
    # (actions, carry)``, obs carrying the previous action and reward (envs/evaluate.py
    # ``RecurrentPolicy``); ``act`` is then unused by evaluation.
    initial_carry: Callable[..., Any] | None = None
    act_recurrent: Callable[..., Any] | None = None
    # A delayed step (TD3's policy delay): ``delayed = (full, between)``, each with
    # ``update``'s signature. ``full`` runs at the updates whose global index is a multiple of
    # ``update_period`` and always applies the delayed part (actor, targets); ``between`` runs
    # at the others and computes only the rest (the critic), its metrics a subset of
    # ``full``'s. The engine scans over blocks of ``update_period`` updates and calls each
    # where it applies, so nothing is computed to be thrown away (train.py). ``update`` stays
    # the one-update-at-a-time form for callers that step a learner themselves.
    delayed: tuple[Callable[..., Any], Callable[..., Any]] | None = None
    update_period: int = 1
    # Per-dataset defaults a method's authors set: ``dataset_hparams(defaults, dataset_name,
    # meta) -> hparams`` (ReBRAC's betas per D4RL task), applied by ``learner_defaults``
    # before a grid's ``--hp`` values, which win.
    dataset_hparams: Callable[..., Any] | None = None


def learner_defaults(learner: Learner, env_name: str, dataset_name: str,
                     meta: Any) -> Any:
    """Returns the hyperparameters ``learner`` trains with on a dataset unless ``--hp`` says
    otherwise: its ``default_hparams``, with the Dataset Perspective's discount for the env
    when it is a discrete learner (``agents.discrete.common.paper_hparams``) and its own
    per-dataset defaults (``Learner.dataset_hparams``). ``train``, ``sweep`` and every
    experiment take their grid's defaults from here."""
    defaults = learner.default_hparams
    if learner.discrete:
        from jaxrl_suite.agents.discrete.common import paper_hparams

        defaults = paper_hparams(defaults, env_name)
    if learner.dataset_hparams is not None:
        defaults = learner.dataset_hparams(defaults, dataset_name, meta)
    return defaults


def map_updates(learner: Learner, wrap: Callable[[Callable[..., Any]], Callable[..., Any]],
                **changes: Any) -> Learner:
    """Returns ``learner`` with ``wrap`` applied to every update function it has (``update``
    and both of ``delayed``), plus ``changes``: how a wrapper (an auxiliary loss, a test's
    broken variant) reaches whichever function the engine calls."""
    delayed = None if learner.delayed is None else tuple(wrap(f) for f in learner.delayed)
    return learner._replace(update=wrap(learner.update), delayed=delayed, **changes)


def polyak(target: Any, online: Any, tau: jax.Array) -> Any:
    """Returns the soft target update tau * online + (1 - tau) * target, leaf by leaf."""
    return jax.tree.map(lambda t, o: tau * o + (1.0 - tau) * t, target, online)


def adam_with_lr(learning_rate: jax.Array):
    """Returns Adam whose learning rate is a (traced) hyperparameter held in the opt state."""
    import optax

    return optax.inject_hyperparams(optax.adam)(learning_rate=learning_rate)


class SACPolicyStep(NamedTuple):
    """The actor and temperature after one SAC policy step, and the actor loss."""

    actor_params: Any
    actor_opt_state: Any
    log_alpha: jax.Array
    alpha_opt_state: Any
    actor_loss: jax.Array


def temperature_loss(log_alpha: jax.Array, log_pi: jax.Array,
                     target_entropy: jax.Array) -> jax.Array:
    """Returns -log alpha * mean_B(log pi(a|s) + target_entropy), the entropy temperature's loss
    in log space (Haarnoja et al., 2018, Eq. 18, as young-geng/JaxCQL conservative_sac.py:158
    and CORL's SAC-N/EDAC write it): alpha falls while the policy's entropy is under target.

    log_alpha: []; log_pi: [B] (held constant by the caller).
    """
    return -log_alpha * jnp.mean(log_pi + target_entropy)


def sac_policy_step(state: Any, actor: Any, critic: Any, critic_params: Any, obs: jax.Array,
                    key: jax.Array, alpha: jax.Array, target_entropy: jax.Array,
                    actor_opt: Any, alpha_opt: Any) -> SACPolicyStep:
    """Returns SAC's actor step on E[alpha log pi(a|s) - min_i Q_i(s, a)], then its temperature
    step towards ``target_entropy`` (Haarnoja et al., 2018, Eqs. 7 and 18). ``state`` holds
    actor_params, actor_opt_state, log_alpha, alpha_opt_state (CQL, EDAC/SAC-N)."""
    import optax

    from jaxrl_suite.nets.networks import sample_tanh_gaussian

    def actor_loss_fn(params):
        new_action, log_pi = sample_tanh_gaussian(*actor.apply(params, obs), key)
        q_pi = jnp.min(critic.apply(critic_params, obs, new_action), 0)
        return jnp.mean(alpha * log_pi - q_pi), log_pi

    (actor_loss, log_pi), grads = jax.value_and_grad(actor_loss_fn, has_aux=True)(
        state.actor_params)
    updates, actor_opt_state = actor_opt.update(grads, state.actor_opt_state)
    actor_params = optax.apply_updates(state.actor_params, updates)
    alpha_grad = jax.grad(temperature_loss)(state.log_alpha, jax.lax.stop_gradient(log_pi),
                                            target_entropy)
    updates, alpha_opt_state = alpha_opt.update(alpha_grad, state.alpha_opt_state)
    log_alpha = optax.apply_updates(state.log_alpha, updates)
    return SACPolicyStep(actor_params, actor_opt_state, log_alpha, alpha_opt_state, actor_loss)
