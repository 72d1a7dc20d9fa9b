"""TD3+BC (Fujimoto & Gu, "A Minimalist Approach to Offline Reinforcement Learning", 2021).

Actor loss -lambda * Q(s, pi(s)) + (pi(s) - a)^2 with lambda = alpha / mean|Q| (Eq. 3); TD3's
clipped double-Q target with target-policy smoothing; delayed actor and target updates.
Defaults from the paper / the authors' code (sfujim/TD3_BC): alpha 2.5, lr 3e-4, batch 256,
gamma 0.99, tau 0.005, policy noise 0.2, noise clip 0.5, policy delay 2, normalised states.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxrl_suite.agents.base import DataSpec, Learner, adam_with_lr, polyak
from jaxrl_suite.errors import SuiteError
from jaxrl_suite.nets.networks import DeterministicActor, TwinCritic, first_critic


@dataclasses.dataclass(frozen=True)
class TD3BCConfig:
    hidden_sizes: tuple[int, ...] = (256, 256)
    policy_delay: int = 2  # static: it picks when the actor updates


@struct.dataclass
class TD3BCHParams:
    alpha: float = 2.5
    actor_lr: float = 3e-4
    critic_lr: float = 3e-4
    gamma: float = 0.99
    tau: float = 0.005
    policy_noise: float = 0.2
    noise_clip: float = 0.5


@struct.dataclass
class TD3BCState:
    actor_params: dict
    critic_params: dict
    target_actor_params: dict
    target_critic_params: dict
    actor_opt_state: optax.OptState
    critic_opt_state: optax.OptState
    spec: DataSpec
    step: jax.Array


def init_actor_critic(actor, critic, key, spec: DataSpec, actor_lr, critic_lr) -> TD3BCState:
    """Returns a TD3-style state: actor and critic, their copies as targets, Adam states
    (shared by TD3+BC and ReBRAC, which differ in networks and losses, not in state)."""
    actor_key, critic_key = jax.random.split(key)
    obs = jnp.zeros((1,) + spec.observation_shape)
    actor_params = actor.init(actor_key, obs)
    critic_params = critic.init(critic_key, obs, jnp.zeros((1, spec.action_dim)))
    return TD3BCState(
        actor_params, critic_params, actor_params, critic_params,
        adam_with_lr(actor_lr).init(actor_params), adam_with_lr(critic_lr).init(critic_params),
        spec, jnp.int32(0))


def td3bc_actor_loss(q_pi: jax.Array, pi_action: jax.Array, data_action: jax.Array,
                     alpha: jax.Array) -> jax.Array:
    """Returns -lambda * mean_B Q1(s, pi(s)) + mean_{B,A} (pi(s) - a)^2, lambda = alpha /
    mean|Q1| held constant (Fujimoto & Gu 2021, Eq. 3; sfujim/TD3_BC TD3_BC.py:141-143: the
    first critic only, and an MSE averaged over batch and action dimensions).

    q_pi: [B]; pi_action, data_action: [B, A] in [-1, 1] units.
    """
    lam = alpha / jax.lax.stop_gradient(jnp.mean(jnp.abs(q_pi)))
    return -lam * jnp.mean(q_pi) + jnp.mean(jnp.square(pi_action - data_action))


def delayed_updates(critic_step: Callable, actor_step: Callable, policy_delay: int):
    """Returns (update, full, between) of a TD3-style learner (TD3BCState) from its two steps.

    ``critic_step(state, batch, key, hparams) -> (critic_params, critic_opt_state, metrics,
    aux)``; ``actor_step(state, critic_params, aux, hparams) -> (actor_params,
    actor_opt_state, actor_loss)``, the actor stepped against the freshly updated critic (TD3,
    sfujim/TD3_BC TD3_BC.py:128-160). ``full`` = critic step, actor step, both soft target
    updates; ``between`` = the critic step alone (``Learner.delayed``). ``update`` is one
    update at a time: the actor part applies when ``state.step % policy_delay == 0`` (computed
    always, kept by a select: the form for callers stepping the learner themselves)."""

    def advance(state: TD3BCState, critic_params, critic_opt_state, actor, tau, do_actor):
        state = state.replace(critic_params=critic_params, critic_opt_state=critic_opt_state,
                              step=state.step + 1)
        if actor is None:
            return state
        pick = (lambda new, old: new) if do_actor is True else (
            lambda new, old: jax.tree.map(lambda n, o: jnp.where(do_actor, n, o), new, old))
        actor_params = pick(actor[0], state.actor_params)
        return state.replace(
            actor_params=actor_params, actor_opt_state=pick(actor[1], state.actor_opt_state),
            target_actor_params=pick(polyak(state.target_actor_params, actor_params, tau),
                                     state.target_actor_params),
            target_critic_params=pick(polyak(state.target_critic_params, critic_params, tau),
                                      state.target_critic_params))

    def both(state, batch, key, hparams, do_actor):
        critic_params, critic_opt_state, metrics, aux = critic_step(state, batch, key, hparams)
        actor_params, actor_opt_state, actor_loss = actor_step(state, critic_params, aux,
                                                               hparams)
        new = advance(state, critic_params, critic_opt_state, (actor_params, actor_opt_state),
                      hparams.tau, do_actor)
        return new, {**metrics, "actor_loss": actor_loss}

    def full(state, batch, key, hparams):
        return both(state, batch, key, hparams, True)

    def between(state, batch, key, hparams):
        critic_params, critic_opt_state, metrics, _ = critic_step(state, batch, key, hparams)
        return advance(state, critic_params, critic_opt_state, None, hparams.tau, False), metrics

    def update(state, batch, key, hparams):
        return both(state, batch, key, hparams, (state.step % policy_delay) == 0)

    return update, full, between


def delayed_learner_fields(update, full, between, policy_delay: int) -> dict:
    """Returns the Learner fields of a TD3-style learner: the engine's blocks of
    ``policy_delay`` updates (``Learner.delayed``), or plain ``full`` at delay 1."""
    if policy_delay < 1:
        raise SuiteError(f"policy_delay: expected an integer >= 1, found {policy_delay}")
    if policy_delay == 1:
        return dict(update=full)
    return dict(update=update, delayed=(full, between), update_period=policy_delay)


def make_td3bc(config: TD3BCConfig = TD3BCConfig()) -> Learner:
    """Returns the TD3+BC learner."""
    critic = TwinCritic(config.hidden_sizes)

    def actor(spec: DataSpec):
        return DeterministicActor(config.hidden_sizes, spec.action_dim)

    def init(key, spec: DataSpec, hparams: TD3BCHParams) -> TD3BCState:
        return init_actor_critic(actor(spec), critic, key, spec, hparams.actor_lr,
                                 hparams.critic_lr)

    def critic_step(state: TD3BCState, batch, key, hparams: TD3BCHParams):
        spec = state.spec
        obs, next_obs = spec.normalize(batch.observations), spec.normalize(batch.next_observations)
        action = spec.to_unit(batch.actions)

        # Clipped double-Q target with target-policy smoothing (TD3).
        noise = jnp.clip(hparams.policy_noise * jax.random.normal(key, action.shape),
                         -hparams.noise_clip, hparams.noise_clip)
        next_action = jnp.clip(actor(spec).apply(state.target_actor_params, next_obs) + noise,
                               -1.0, 1.0)
        next_q = jnp.min(critic.apply(state.target_critic_params, next_obs, next_action), axis=0)
        target = batch.rewards + hparams.gamma * (1.0 - batch.terminals) * next_q

        def critic_loss_fn(params):
            q = critic.apply(params, obs, action)  # [2, B]
            return jnp.mean(jnp.square(q - jax.lax.stop_gradient(target)[None])), q

        (critic_loss, q), grads = jax.value_and_grad(critic_loss_fn, has_aux=True)(
            state.critic_params)
        updates, critic_opt_state = adam_with_lr(hparams.critic_lr).update(
            grads, state.critic_opt_state)
        return (optax.apply_updates(state.critic_params, updates), critic_opt_state,
                {"critic_loss": critic_loss, "q_mean": jnp.mean(q)}, (obs, action))

    def actor_step(state: TD3BCState, critic_params, aux, hparams: TD3BCHParams):
        # lambda * Q + BC against the updated critic.
        obs, action = aux
        pi = actor(state.spec)

        def actor_loss_fn(params):
            pi_action = pi.apply(params, obs)
            q_pi = first_critic(critic, critic_params, obs, pi_action)  # Q1 alone
            return td3bc_actor_loss(q_pi, pi_action, action, hparams.alpha)

        actor_loss, grads = jax.value_and_grad(actor_loss_fn)(state.actor_params)
        updates, actor_opt_state = adam_with_lr(hparams.actor_lr).update(
            grads, state.actor_opt_state)
        return optax.apply_updates(state.actor_params, updates), actor_opt_state, actor_loss

    def act(state: TD3BCState, obs, key, deterministic: bool = True):
        del key, deterministic
        spec = state.spec
        return spec.to_env(actor(spec).apply(state.actor_params, spec.normalize(obs)))

    update, full, between = delayed_updates(critic_step, actor_step, config.policy_delay)
    return Learner("td3bc", config, TD3BCHParams(), init, act=act,
                   **delayed_learner_fields(update, full, between, config.policy_delay))
