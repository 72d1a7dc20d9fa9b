"""Vectorised policy evaluation in JAX-native envs, and D4RL-style normalised scores.

``evaluate`` runs all episodes of one evaluation as a single jittable function (vmapped reset,
``lax.scan`` over the time limit, a per-episode done mask), so many seeds or parameter sets
evaluate in one compiled call::

    evaluate_seeds = jax.jit(jax.vmap(make_evaluate(policy_fn, env, num_episodes=16)))
    result = evaluate_seeds(params, keys)          # params, keys: leading axis [S]
    result.returns                                  # [S, 16]

``policy_fn``, ``env`` and ``num_episodes`` are static (Python values closed over, never
traced); ``params`` and ``key`` are traced.

A history-dependent policy (NEUBAY's recurrent agent) is a ``RecurrentPolicy``: it carries a
state across an episode's steps and sees, at step t, the observation with the previous action
(env units, zeros at t = 0) and the previous reward (0 at t = 0) appended, the input of Ni et
al.'s ``ActionRewardWrapper`` (twni2016/neubay ``experience/wrapper.py`` l. 69-140).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import chex
import jax
import jax.numpy as jnp

from jaxrl_suite.envs.base import EnvSpec, JaxEnv
from jaxrl_suite.errors import EnvError

# policy_fn(params, obs [B, *obs_shape] float32, key) -> actions [B] int (discrete) or
# [B, action_dim] float (continuous).
PolicyFn = Callable[[Any, jax.Array, jax.Array], jax.Array]


class RecurrentPolicy(NamedTuple):
    """A policy with memory: ``initial_carry(params, num) -> carry`` (a pytree with a leading
    [num] axis, the state before an episode's first step) and ``step(params, obs [B, obs_dim +
    action_dim + 1], key, carry) -> (actions [B, action_dim], carry)``, obs being the
    observation, the previous action and the previous reward (``previous_action_reward``)."""

    initial_carry: Callable[[Any, int], Any]
    step: Callable[[Any, jax.Array, jax.Array, Any], tuple[jax.Array, Any]]


def previous_action_reward(obs: jax.Array, prev_action: jax.Array,
                           prev_reward: jax.Array) -> jax.Array:
    """Returns [B, obs_dim + action_dim + 1]: obs [B, obs_dim], the previous action [B, A] and
    the previous reward [B] side by side, a ``RecurrentPolicy``'s input."""
    return jnp.concatenate([obs.astype(jnp.float32), prev_action.astype(jnp.float32),
                            prev_reward.astype(jnp.float32)[:, None]], axis=-1)


class EvalResult(NamedTuple):
    """Undiscounted return and length of each evaluation episode."""

    returns: jax.Array  # [num_episodes] float32
    lengths: jax.Array  # [num_episodes] int32


def evaluate(
    policy_fn: PolicyFn, params: Any, env: JaxEnv, key: jax.Array, num_episodes: int,
    chunk: int = 1,
) -> EvalResult:
    """Returns the returns and lengths of ``num_episodes`` episodes of ``policy_fn`` in ``env``.

    Every episode runs for ``env.spec.max_episode_steps`` steps; reward and length stop
    accumulating after its first terminated-or-truncated step (the env does not auto-reset, so
    later steps are discarded). Static: ``policy_fn``, ``env``, ``num_episodes``; traced:
    ``params``, ``key``. Jittable and vmappable over ``(params, key)``.

    ``chunk`` > 1 (static; continuous actions): the policy returns ``chunk`` actions per call
    ([B, chunk * A]), executed open loop over the next ``chunk`` steps (Q-chunking's
    evaluation), then asked again.

    ``policy_fn`` may be a ``RecurrentPolicy`` (continuous actions, ``chunk`` 1): its carry
    and the previous action and reward ride in the scan's carry.
    """
    if not isinstance(env, JaxEnv):
        raise EnvError(
            f"evaluate needs a JAX-native env (JaxEnv), found {type(env).__name__}; "
            "evaluate host-side (gymnasium) envs with evaluate_host"
        )
    num_episodes = int(num_episodes)
    if num_episodes < 1:
        raise EnvError(f"evaluate: num_episodes must be >= 1, found {num_episodes}")
    spec = env.spec
    action_shape = (num_episodes,) if spec.discrete else (num_episodes, spec.action_dim)

    recurrent = isinstance(policy_fn, RecurrentPolicy)
    if recurrent and (spec.discrete or chunk != 1):
        raise EnvError("evaluate: a RecurrentPolicy needs continuous actions and chunk 1")
    reset_key, rollout_key = jax.random.split(key)
    obs, state = jax.vmap(env.reset)(jax.random.split(reset_key, num_episodes))
    batched_step = jax.vmap(env.step)

    def chunked_policy(obs, policy_key, t, plan):
        # a new chunk every ``chunk`` steps; otherwise the next action of the current one
        fresh = lambda: policy_fn(params, obs, policy_key).reshape(plan.shape)  # noqa: E731
        plan = jax.lax.cond(t % chunk == 0, fresh, lambda: plan)
        return plan[:, t % chunk], plan

    def one_step(carry, step_key):
        obs, state, done, returns, lengths, t, plan = carry
        policy_key, env_key = jax.random.split(step_key)
        if recurrent:  # plan holds (policy carry, previous action, previous reward)
            memory, prev_action, prev_reward = plan
            actions, memory = policy_fn.step(
                params, previous_action_reward(obs, prev_action, prev_reward), policy_key, memory)
        elif chunk == 1:
            actions = policy_fn(params, obs, policy_key)
        else:
            actions, plan = chunked_policy(obs, policy_key, t, plan)
        chex.assert_shape(actions, action_shape)
        obs, state, reward, terminated, truncated = batched_step(
            state, actions, jax.random.split(env_key, num_episodes)
        )
        running = jnp.logical_not(done)
        returns = returns + jnp.where(running, reward, 0.0)
        lengths = lengths + running.astype(jnp.int32)
        done = done | terminated | truncated
        if recurrent:
            plan = (memory, actions.astype(jnp.float32), reward.astype(jnp.float32))
        return (obs, state, done, returns, lengths, t + 1, plan), None

    if chunk > 1 and spec.discrete:
        raise EnvError("evaluate: action chunks (chunk > 1) need a continuous action space")
    if recurrent:
        plan = (policy_fn.initial_carry(params, num_episodes),
                jnp.zeros((num_episodes, spec.action_dim), jnp.float32),
                jnp.zeros((num_episodes,), jnp.float32))
    else:
        plan = jnp.zeros((num_episodes, chunk, spec.action_dim or 1), jnp.float32)
    init = (
        obs,
        state,
        jnp.zeros((num_episodes,), bool),
        jnp.zeros((num_episodes,), jnp.float32),
        jnp.zeros((num_episodes,), jnp.int32),
        jnp.int32(0),
        plan,
    )
    step_keys = jax.random.split(rollout_key, spec.max_episode_steps)
    (_, _, _, returns, lengths, _, _), _ = jax.lax.scan(one_step, init, step_keys)
    return EvalResult(returns=returns, lengths=lengths)


def make_evaluate(
    policy_fn: PolicyFn, env: JaxEnv, num_episodes: int
) -> Callable[[Any, jax.Array], EvalResult]:
    """Returns ``evaluate_fn(params, key) -> EvalResult`` with the static arguments bound."""

    def evaluate_fn(params: Any, key: jax.Array) -> EvalResult:
        return evaluate(policy_fn, params, env, key, num_episodes)

    return evaluate_fn


def normalized_score(returns, ref_min, ref_max):
    """Returns ``100 * (returns - ref_min) / (ref_max - ref_min)`` (D4RL's normalised score).

    0 is the random policy's mean return, 100 the expert's (``EnvSpec.ref_min_score`` /
    ``ref_max_score``).
    """
    if ref_min is None or ref_max is None:
        raise EnvError(
            "normalized_score: reference returns unknown (ref_min or ref_max is None); "
            "fill them in jaxrl_suite/envs/registry.py REFERENCE_RETURNS"
        )
    return 100.0 * (returns - ref_min) / (ref_max - ref_min)


def random_policy(spec: EnvSpec) -> PolicyFn:
    """Returns a policy_fn that ignores params and obs and samples uniform actions.

    Discrete: int32 uniform over ``range(num_actions)``; continuous: float32 uniform in
    ``[action_low, action_high]``. Its mean return is an env's ``ref_min_score``.
    """
    if spec.discrete:
        num_actions = int(spec.num_actions)

        def policy_fn(params, obs, key):
            del params
            return jax.random.randint(key, (obs.shape[0],), 0, num_actions, dtype=jnp.int32)

    else:
        low = jnp.asarray(spec.action_low, jnp.float32)
        high = jnp.asarray(spec.action_high, jnp.float32)

        def policy_fn(params, obs, key):
            del params
            return jax.random.uniform(
                key, (obs.shape[0], low.shape[0]), jnp.float32, minval=low, maxval=high
            )

    return policy_fn
