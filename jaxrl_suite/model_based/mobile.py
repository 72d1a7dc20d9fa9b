"""MOBILE (Sun et al., "Model-Bellman Inconsistency for Model-based Offline Reinforcement
Learning", ICML 2023), as its authors' code (yihaosun1124/mobile ``policies/mobile.py``,
``configs/gym/default.py``).

Model rollouts as MOPO's (``mopo.model_data``) but with the model's own rewards; the penalty
is in the critic's target instead: for every model row, the Bellman-inconsistency
u(s, a) = std over the elites k of mean over ``num_samples`` draws of
min_j Q_target_j(s'_k, a'), s'_k ~ model k, a' ~ pi(s'_k) (``compute_lcb``; torch's unbiased
std), so the target is r - beta u + gamma (1 - d) min_j Q_target_j(s', a'), floored at 0 as the
code does (``target_floor``; None for rewards that may be negative, as Pendulum's). Real rows
get no penalty. Defaults (gym config): beta 1, horizon 1, real ratio 0.05, 10 samples, 2
critics of 2x256, actor lr 1e-4, critic lr 3e-4, temperature lr 1e-4, deterministic backup (no
entropy term in the target), 7 models / 5 elites, a model buffer of 50,000 x h x 5 transitions
(``retain_updates`` 5,000 at 50 starts per update; ``train.py`` l. 158).

Temperature: the default ``auto_alpha`` is on (``configs/gym/default.py`` l. 9), so log alpha
starts at 0, alpha = 1 (``train.py`` l. 97), and after each temperature step the alpha used is
exp(log alpha) clamped to [0, 1] (``policies/mobile.py`` l. 195; log alpha itself is not
clamped); 0.2 (``default.py`` l. 8) is the fixed alpha of the tasks that turn auto_alpha off
(``configs/gym/hopper_medium.py``), here ``init_alpha=0.2, alpha_lr=0``.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxrl_suite.agents.base import DataSpec, Learner, adam_with_lr, polyak, sac_policy_step
from jaxrl_suite.agents.edac import EDACHParams, make_edac
from jaxrl_suite.model_based import dynamics, rollouts
from jaxrl_suite.model_based.mopo import (MOPOConfig, MOPOHParams, MOPOState, check_config,
                                          member_masks, model_data, real_rows, rollout_metrics,
                                          sac_config)
from jaxrl_suite.nets.networks import CriticEnsemble, TanhGaussianActor, sample_tanh_gaussian


@dataclasses.dataclass(frozen=True)
class MOBILEConfig(MOPOConfig):
    num_samples: int = 10  # model draws per elite for the Bellman-inconsistency estimate
    deterministic_backup: bool = True
    target_floor: float | None = 0.0  # the code clamps targets at 0 (non-negative rewards)


@struct.dataclass
class MOBILEHParams(MOPOHParams):
    """MOPO's hyperparameters at MOBILE's defaults; penalty_coef is beta of the target's
    penalty, and penalty_index only picks the rollouts' logged (unused) penalty."""

    actor_lr: float = 1e-4
    alpha_lr: float = 1e-4
    init_alpha: float = 1.0  # log alpha = 0 (train.py l. 97)
    max_alpha: float = 1.0  # alpha = min(exp(log alpha), max_alpha) (policies/mobile.py l. 195)
    horizon: float = 1.0


def bellman_inconsistency(next_q: jax.Array, elites: jax.Array) -> jax.Array:
    """Returns [B] the unbiased std over the elite members of the mean over samples of
    next_q [num_samples, M, B] (MOBILE's ``compute_lcb``); elites: [M] bool."""
    per_member = jnp.mean(next_q, axis=0)  # [M, B]
    w = elites.astype(per_member.dtype)[:, None]
    n = jnp.sum(w)
    mean = jnp.sum(w * per_member, axis=0) / jnp.maximum(n, 1.0)
    var = jnp.sum(w * jnp.square(per_member - mean), axis=0) / jnp.maximum(n - 1.0, 1.0)
    return jnp.sqrt(var)


def temperature(log_alpha: jax.Array, max_alpha: jax.Array) -> jax.Array:
    """Returns the alpha MOBILE's code uses, exp(log_alpha) clamped to [0, max_alpha]."""
    return jnp.clip(jnp.exp(log_alpha), 0.0, max_alpha)


def make_mobile(model: dynamics.EnsembleState, env_id: str,
                config: MOBILEConfig = MOBILEConfig(),
                termination: rollouts.TerminationFn | None = None) -> Learner:
    """Returns the MOBILE learner on the trained ensemble ``model`` of env ``env_id``;
    ``termination`` done(obs, action, next_obs) for an env without a rule in
    ``rollouts.TERMINATION_FNS`` (a custom task)."""
    check_config("mobile", config)
    done_fn = termination or rollouts.termination_fn(env_id)
    sac = make_edac(sac_config(config))
    critic = CriticEnsemble(config.hidden_sizes, config.num_critics)

    def sac_hparams(hp: MOBILEHParams) -> EDACHParams:
        return EDACHParams(actor_lr=hp.actor_lr, critic_lr=hp.critic_lr, alpha_lr=hp.alpha_lr,
                           gamma=hp.gamma, tau=hp.tau, eta=0.0, init_alpha=hp.init_alpha,
                           target_entropy_per_dim=hp.target_entropy_per_dim)

    def init(key, spec: DataSpec, hparams: MOBILEHParams) -> MOPOState:
        return MOPOState(sac.init(key, spec, sac_hparams(hparams)),
                         rollouts.empty_buffer(config.capacity,
                                               math.prod(spec.observation_shape),
                                               spec.action_dim), jnp.int32(0))

    def update(state: MOPOState, batch, key, hparams: MOBILEHParams):
        s = state.sac
        spec, pi = s.spec, TanhGaussianActor(config.hidden_sizes, s.spec.action_dim)
        data_key, next_key, model_key, sample_key, actor_key = jax.random.split(key, 5)
        policy = lambda obs, k: sac.act(s, obs, k, False)
        buffer, mixed, steps = model_data(model, config, done_fn, policy, state.buffer, batch,
                                          data_key, hparams, jnp.float32(0.0))
        is_real = real_rows(hparams.real_ratio, batch.rewards.shape[0], buffer.size)
        obs, next_obs = mixed.observations, mixed.next_observations
        action = spec.to_unit(mixed.actions)
        # The clamped alpha of the previous temperature step (1 at the start).
        alpha = temperature(s.log_alpha, hparams.max_alpha)

        def min_target_q(o, k):  # o: [..., obs_dim] -> [...], a' ~ pi(o)
            a, log_pi = sample_tanh_gaussian(*pi.apply(s.actor_params, o), k)
            return jnp.min(critic.apply(s.target_critic_params, o, a), 0), log_pi

        # Bellman inconsistency over the elites' sampled next states.
        _, elites = member_masks(model.holdout_mse, hparams.num_members, hparams.num_elites)
        means, stds = dynamics.predict(model, obs, spec.to_env(action))
        noise = jax.random.normal(model_key, (config.num_samples,) + means.shape)
        draws = means[None, ..., :-1] + obs + stds[None, ..., :-1] * noise[..., :-1]
        q_draws, _ = min_target_q(draws, sample_key)  # [num_samples, M, B]
        penalty = jnp.where(is_real, 0.0, bellman_inconsistency(q_draws, elites))

        next_q, next_log_pi = min_target_q(next_obs, next_key)
        if not config.deterministic_backup:
            next_q = next_q - alpha * next_log_pi
        target = (mixed.rewards - hparams.penalty_coef * penalty
                  + hparams.gamma * (1.0 - mixed.terminals) * next_q)
        if config.target_floor is not None:
            target = jnp.maximum(target, config.target_floor)
        target = jax.lax.stop_gradient(target)

        def critic_loss_fn(params):
            q = critic.apply(params, obs, action)  # [N, B]
            return jnp.mean(jnp.square(q - target[None])), q

        (critic_loss, q), grads = jax.value_and_grad(critic_loss_fn, has_aux=True)(
            s.critic_params)
        critic_opt = adam_with_lr(hparams.critic_lr)
        updates, critic_opt_state = critic_opt.update(grads, s.critic_opt_state)
        critic_params = optax.apply_updates(s.critic_params, updates)
        step = sac_policy_step(s, pi, critic, critic_params, obs, actor_key, alpha,
                               hparams.target_entropy_per_dim * spec.action_dim,
                               adam_with_lr(hparams.actor_lr), adam_with_lr(hparams.alpha_lr))
        s = s.replace(actor_params=step.actor_params, critic_params=critic_params,
                      target_critic_params=polyak(s.target_critic_params, critic_params,
                                                  hparams.tau),
                      log_alpha=step.log_alpha, actor_opt_state=step.actor_opt_state,
                      critic_opt_state=critic_opt_state, alpha_opt_state=step.alpha_opt_state,
                      step=s.step + 1)
        model_rows = jnp.maximum(jnp.sum(~is_real), 1)
        metrics = dict(critic_loss=critic_loss, actor_loss=step.actor_loss, alpha=alpha,
                       q_mean=jnp.mean(q),
                       bellman_penalty=jnp.sum(jnp.where(is_real, 0.0, penalty)) / model_rows,
                       **rollout_metrics(steps, buffer))
        return MOPOState(s, buffer, state.step + 1), metrics

    def act(state: MOPOState, obs, key, deterministic: bool = True):
        return sac.act(state.sac, obs, key, deterministic)

    return Learner("mobile", config, MOBILEHParams(), init, update, act)
