"""AWAC (Nair, Gupta, Dalal & Levine, "AWAC: Accelerating Online Reinforcement Learning with
Offline Datasets", 2020), offline.

  Q:  L_Q = E[ (r + gamma (1 - d) min_j Q_target_j(s', a') - Q_i(s, a))^2 ],  a' ~ pi(s')
  pi: L_pi = -E[ min(exp(A(s, a) / lambda), 100) log pi(a|s) ],                  (Eq. 13)
      A(s, a) = min_j Q_j(s, a) - min_j Q_j(s, a~),  a~ ~ pi(s)    (critic after its update)
  Q_target <- polyak(Q_target, Q, tau)

Defaults from CORL ``algorithms/offline/awac.py`` (the paper's lambda = 1.0): awac_lambda 1.0,
exp_adv_max 100, lr 3e-4 (actor and critics), gamma 0.99, tau 5e-3, three 256-unit layers.
Policy as CORL's: a Gaussian with an unsquashed mean and a learned state-independent log-std
(init 0, clipped to [-20, 2]); sampled actions are clipped to [-1, 1]; the mean acts at
evaluation. The AWR loss, the policy and its log-density are IQL's (``agents/iql.py``).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxrl_suite.agents.base import DataSpec, Learner, adam_with_lr, polyak
from jaxrl_suite.agents.iql import (GaussianPolicy, awr_actor_loss, gaussian_act,
                                    gaussian_log_prob)
from jaxrl_suite.nets.networks import TwinCritic


@dataclasses.dataclass(frozen=True)
class AWACConfig:
    hidden_sizes: tuple[int, ...] = (256, 256, 256)


@struct.dataclass
class AWACHParams:
    awac_lambda: float = 1.0
    exp_adv_max: float = 100.0
    actor_lr: float = 3e-4
    critic_lr: float = 3e-4
    gamma: float = 0.99
    tau: float = 5e-3


@struct.dataclass
class AWACState:
    actor_params: dict
    critic_params: dict
    target_critic_params: dict
    actor_opt_state: optax.OptState
    critic_opt_state: optax.OptState
    spec: DataSpec
    step: jax.Array


def make_awac(config: AWACConfig = AWACConfig()) -> Learner:
    """Returns the AWAC learner."""
    critic = TwinCritic(config.hidden_sizes)

    def actor(spec: DataSpec):
        return GaussianPolicy(config.hidden_sizes, spec.action_dim, tanh_mean=False,
                              log_std_min=-20.0, log_std_max=2.0)

    def init(key, spec: DataSpec, hparams: AWACHParams) -> AWACState:
        actor_key, critic_key = jax.random.split(key)
        obs = jnp.zeros((1,) + spec.observation_shape)
        actor_params = actor(spec).init(actor_key, obs)
        critic_params = critic.init(critic_key, obs, jnp.zeros((1, spec.action_dim)))
        return AWACState(actor_params, critic_params, critic_params,
                         adam_with_lr(hparams.actor_lr).init(actor_params),
                         adam_with_lr(hparams.critic_lr).init(critic_params), spec, jnp.int32(0))

    def sample(params, spec, obs, key):
        mean, log_std = actor(spec).apply(params, obs)
        noise = jax.random.normal(key, mean.shape, mean.dtype)
        return jnp.clip(mean + jnp.exp(log_std) * noise, -1.0, 1.0)

    def update(state: AWACState, batch, key, hparams: AWACHParams):
        next_key, pi_key = jax.random.split(key)
        spec = state.spec
        obs, next_obs = spec.normalize(batch.observations), spec.normalize(batch.next_observations)
        action = spec.to_unit(batch.actions)

        # Critic: SAC-style twin target without the entropy term.
        next_action = sample(state.actor_params, spec, next_obs, next_key)
        next_q = jnp.min(critic.apply(state.target_critic_params, next_obs, next_action), axis=0)
        target = batch.rewards + hparams.gamma * (1.0 - batch.terminals) * next_q

        def critic_loss_fn(params):
            q = critic.apply(params, obs, action)  # [2, B]
            return jnp.mean(jnp.sum(jnp.square(q - target[None]), axis=0)), q

        (critic_loss, q), grads = jax.value_and_grad(critic_loss_fn, has_aux=True)(
            state.critic_params)
        updates, critic_opt_state = adam_with_lr(hparams.critic_lr).update(
            grads, state.critic_opt_state)
        critic_params = optax.apply_updates(state.critic_params, updates)

        # Actor: advantage-weighted likelihood of the data's actions.
        v = jnp.min(critic.apply(critic_params, obs, sample(state.actor_params, spec, obs,
                                                            pi_key)), axis=0)
        advantage = jnp.min(critic.apply(critic_params, obs, action), axis=0) - v

        def actor_loss_fn(params):
            mean, log_std = actor(spec).apply(params, obs)
            return awr_actor_loss(gaussian_log_prob(mean, log_std, action), advantage,
                                  1.0 / hparams.awac_lambda, hparams.exp_adv_max)

        actor_loss, grads = jax.value_and_grad(actor_loss_fn)(state.actor_params)
        updates, actor_opt_state = adam_with_lr(hparams.actor_lr).update(
            grads, state.actor_opt_state)
        state = state.replace(
            actor_params=optax.apply_updates(state.actor_params, updates),
            critic_params=critic_params,
            target_critic_params=polyak(state.target_critic_params, critic_params, hparams.tau),
            actor_opt_state=actor_opt_state, critic_opt_state=critic_opt_state,
            step=state.step + 1)
        return state, {"critic_loss": critic_loss, "actor_loss": actor_loss,
                       "q_mean": jnp.mean(q), "advantage_mean": jnp.mean(advantage)}

    def act(state: AWACState, obs, key, deterministic: bool = True):
        return gaussian_act(actor(state.spec), state, obs, key, deterministic)

    return Learner("awac", config, AWACHParams(), init, update, act)
