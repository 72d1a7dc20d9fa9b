"""MOPO (Yu et al., "MOPO: Model-based Offline Policy Optimization", NeurIPS 2020) with the
uncertainty penalty as a traced choice (Lu et al., "Revisiting Design Choices in Offline
Model-Based RL", ICLR 2022).

SAC (``agents/edac.py`` with two critics and no diversity term) trains on minibatches of which
floor(real_ratio * B) rows come from the dataset (MOPO's ``int(batch_size * real_ratio)``,
tianheyu927/mopo ``mopo/algorithms/mopo.py`` l. 463; OfflineRL-Kit
``offlinerlkit/policy_trainer/mb_policy_trainer.py`` l. 74) and the rest from a buffer of model
rollouts with penalised rewards r - lambda * u(s, a). Every update rolls the current policy out
in the model from ``rollout_starts`` of the minibatch's states: MOPO rolls out 50,000 states
every 1,000 updates (``examples/config/d4rl/base.py`` l. 19-21); 50 per update is the same
rate without a branch (under ``vmap`` a ``lax.cond`` on the step would run the rollout every
update anyway). The buffer keeps MOPO's 5 rollout epochs, i.e. 5,000 updates' worth
(``retain_updates``), at every traced horizon: it is sized for ``max_horizon`` and sampled from
its most recent retain_updates x rollout_starts x horizon transitions (``rollouts`` module
docstring). Horizon, lambda, penalty type, real ratio and the numbers of models and elites in
use are traced hyperparameters, so configurations share one compile and vmap together; the
models in use are the ``num_members`` of lowest holdout error (the rest masked), next states
are drawn from the best ``num_elites`` of those, and the penalty is taken over all models in
use (Lu et al.). Defaults (MOPO / Lu et al.): 7 models, 5 elites, horizon 5, lambda 1, real
ratio 0.05, max-aleatoric penalty, SAC lr 3e-4, 2x256 critics.

The dynamics ensemble is trained before the policy (``dynamics.train_ensemble``) and passed to
``make_mopo``: one model shared by every cell of a run (as the dataset is).
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
from flax import struct

from jaxrl_suite.agents.base import DataSpec, Learner
from jaxrl_suite.agents.edac import EDACConfig, EDACHParams, make_edac
from jaxrl_suite.errors import SuiteError
from jaxrl_suite.model_based import dynamics, rollouts


@dataclasses.dataclass(frozen=True)
class MOPOConfig:
    hidden_sizes: tuple[int, ...] = (256, 256)
    num_critics: int = 2
    max_horizon: int = 5  # static: rollouts run this many steps; hparams.horizon masks them
    rollout_starts: int = 50  # model rollouts started per update (from the real minibatch)
    # Updates' worth of rollouts kept: MOPO's and MOBILE's model_retain_epochs 5 x 1,000.
    retain_updates: int = 5_000
    # Static capacity; None: retain_updates x rollout_starts x max_horizon. When set it fixes the
    # retention instead (buffer_size / (rollout_starts x max_horizon) updates at every horizon).
    buffer_size: int | None = None

    @property
    def capacity(self) -> int:
        """Returns the model buffer's static size in transitions."""
        if self.buffer_size is not None:
            return self.buffer_size
        return self.retain_updates * self.rollout_starts * self.max_horizon


@struct.dataclass
class MOPOHParams:
    actor_lr: float = 3e-4
    critic_lr: float = 3e-4
    alpha_lr: float = 3e-4
    gamma: float = 0.99
    tau: float = 0.005
    init_alpha: float = 1.0
    target_entropy_per_dim: float = -1.0
    penalty_coef: float = 1.0  # lambda
    penalty_index: float = 0.0  # into penalties.PENALTIES (0: max_aleatoric, MOPO's)
    horizon: float = 5.0
    real_ratio: float = 0.05
    num_members: float = 7.0
    num_elites: float = 5.0


@struct.dataclass
class MOPOState:
    sac: struct.PyTreeNode
    buffer: rollouts.ModelBuffer
    step: jax.Array


def member_masks(holdout_mse: jax.Array, num_members: jax.Array, num_elites: jax.Array
                 ) -> tuple[jax.Array, jax.Array]:
    """Returns ([M] models in use, [M] elites among them): the ``num_members`` members of lowest
    holdout error, and the best ``min(num_elites, num_members)`` of those."""
    rank = jnp.argsort(jnp.argsort(holdout_mse))
    in_use = rank < jnp.round(num_members)
    return in_use, rank < jnp.minimum(jnp.round(num_elites), jnp.round(num_members))


def real_rows(real_ratio: jax.Array, batch_size: int, model_size: jax.Array) -> jax.Array:
    """Returns [B] bool, the rows of a mixed minibatch that are real: the first
    floor(real_ratio * B) (MOPO's and OfflineRL-Kit's int()), or all while the model buffer
    is empty."""
    # The 1e-4 absorbs float32 error (0.3 * 10 = 2.9999998), which int() in float64 never sees.
    num_real = jnp.floor(real_ratio * batch_size + 1e-4)
    return (jnp.arange(batch_size) < num_real) | (model_size == 0)


def mix_batches(real, model, real_ratio: jax.Array, model_size: jax.Array):
    """Returns a Batch whose ``real_rows`` are real and the rest model rows.
    model: (obs, act, rew, next, terminals)."""
    b = real.rewards.shape[0]
    use_real = real_rows(real_ratio, b, model_size)
    pick = lambda r, m: jnp.where(use_real.reshape((b,) + (1,) * (r.ndim - 1)), r, m)
    obs, act, rew, nxt, term = model
    return real.replace(observations=pick(real.observations, obs),
                        actions=pick(real.actions, act), rewards=pick(real.rewards, rew),
                        next_observations=pick(real.next_observations, nxt),
                        terminals=pick(real.terminals, term))


def model_data(model: dynamics.EnsembleState, config: MOPOConfig, done_fn, policy,
               buffer: rollouts.ModelBuffer, batch, key, hparams, penalty_coef: jax.Array):
    """Returns (buffer, mixed batch, rollout steps): one update's model rollouts from the
    minibatch's first ``rollout_starts`` states, added to ``buffer``, and a minibatch of which a
    ``hparams.real_ratio`` share is real (rows first) and the rest drawn from the buffer.
    hparams needs horizon, penalty_index, real_ratio, num_members, num_elites (MOPO, MOBILE)."""
    if batch.rewards.shape[0] < config.rollout_starts:
        raise SuiteError(f"model-based learner: batch size {batch.rewards.shape[0]} is below "
                         f"'rollout_starts' ({config.rollout_starts})")
    rollout_key, sample_key = jax.random.split(key)
    in_use, elites = member_masks(model.holdout_mse, hparams.num_members, hparams.num_elites)
    steps = rollouts.rollout(
        model, policy, batch.observations[:config.rollout_starts], rollout_key,
        max_horizon=config.max_horizon, horizon=hparams.horizon,
        penalty_index=hparams.penalty_index, penalty_coef=penalty_coef,
        sample_mask=elites, penalty_mask=in_use, done_fn=done_fn)
    buffer = rollouts.add(buffer, steps)
    window = rollouts.retention_window(buffer.capacity, config.max_horizon, hparams.horizon)
    mixed = mix_batches(batch, rollouts.sample(buffer, sample_key, batch.rewards.shape[0],
                                               window), hparams.real_ratio, buffer.size)
    return buffer, mixed, steps


def rollout_metrics(steps: rollouts.Rollout, buffer: rollouts.ModelBuffer) -> dict:
    """Returns the mean penalty and model reward of the valid rollout steps, and the buffer fill."""
    valid = jnp.maximum(jnp.sum(steps.valid), 1)
    return dict(model_penalty=jnp.sum(steps.penalty * steps.valid) / valid,
                model_reward=jnp.sum(steps.raw_rewards * steps.valid) / valid,
                model_buffer=buffer.size.astype(jnp.float32))


def check_config(name: str, config: MOPOConfig) -> None:
    """Raises SuiteError unless the sizes of ``config`` are positive and its buffer holds one
    update's rollouts at ``max_horizon``."""
    for field in ("max_horizon", "rollout_starts", "retain_updates"):
        if getattr(config, field) < 1:
            raise SuiteError(f"{name}: '{field}': expected >= 1, found {getattr(config, field)}")
    if config.capacity < config.rollout_starts * config.max_horizon:
        raise SuiteError(f"{name}: 'buffer_size' ({config.capacity}) must hold one update's "
                         f"rollouts (rollout_starts x max_horizon = "
                         f"{config.rollout_starts * config.max_horizon})")


def sac_config(config: MOPOConfig) -> EDACConfig:
    """Returns the config of the SAC (SAC-N without diversity) that MOPO and MOBILE optimise
    their policy with: flax's init and the tanh-squashed log-std, what their records ran
    (their references' torch-default init is not reproduced; BUILD_NOTES.md Known gaps)."""
    return EDACConfig(config.hidden_sizes, config.num_critics, diversity=False,
                      param_init="flax", log_std_bound="tanh")


def make_mopo(model: dynamics.EnsembleState, env_id: str,
              config: MOPOConfig = MOPOConfig(),
              termination: rollouts.TerminationFn | None = None) -> Learner:
    """Returns the MOPO learner on the trained ensemble ``model`` of env ``env_id``;
    ``termination`` done(obs, action, next_obs) for an env without a rule in
    ``rollouts.TERMINATION_FNS`` (a custom task)."""
    check_config("mopo", config)
    done_fn = termination or rollouts.termination_fn(env_id)
    sac = make_edac(sac_config(config))

    def sac_hparams(hp: MOPOHParams) -> EDACHParams:
        return EDACHParams(actor_lr=hp.actor_lr, critic_lr=hp.critic_lr, alpha_lr=hp.alpha_lr,
                           gamma=hp.gamma, tau=hp.tau, eta=0.0, init_alpha=hp.init_alpha,
                           target_entropy_per_dim=hp.target_entropy_per_dim)

    def init(key, spec: DataSpec, hparams: MOPOHParams) -> MOPOState:
        if spec.discrete:
            raise SuiteError("mopo: expected a continuous-action dataset")
        obs_dim = math.prod(spec.observation_shape)
        return MOPOState(sac.init(key, spec, sac_hparams(hparams)),
                         rollouts.empty_buffer(config.capacity, obs_dim, spec.action_dim),
                         jnp.int32(0))

    def update(state: MOPOState, batch, key, hparams: MOPOHParams):
        data_key, sac_key = jax.random.split(key)
        policy = lambda obs, k: sac.act(state.sac, obs, k, False)
        buffer, mixed, steps = model_data(model, config, done_fn, policy, state.buffer, batch,
                                          data_key, hparams, hparams.penalty_coef)
        sac_state, metrics = sac.update(state.sac, mixed, sac_key, sac_hparams(hparams))
        return (MOPOState(sac_state, buffer, state.step + 1),
                dict(metrics, **rollout_metrics(steps, buffer)))

    def act(state: MOPOState, obs, key, deterministic: bool = True):
        return sac.act(state.sac, obs, key, deterministic)

    return Learner("mopo", config, MOPOHParams(), init, update, act)
