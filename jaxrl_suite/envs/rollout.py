"""Returns stacked transitions from ``num_envs`` JaxEnvs stepped in parallel, with auto-reset.

``JaxEnv.step`` never resets, so the collector does: each transition records the TRUE next
observation (``next_obs``, also on an episode's last step), and an env whose episode ended
(terminated or truncated) is reset before the next step, so the next transition's ``obs`` is a
fresh initial observation. Within an episode ``next_obs[t]`` equals ``obs[t + 1]`` up to float
rounding: XLA on CPU may fuse the env's dynamics into both consumers and round them differently
in the last bit (seen with Pendulum's angular velocity; an optimization_barrier does not stop
it). Everything here is pure and jittable; ``env``, ``policy_fn`` and ``num_steps`` are static
(close over them or mark them static).

    policy_fn(policy_params, obs, key) -> actions     # obs: [N, *obs_shape] -> [N] or [N, A]

Shared by the online learners (one env, one step per update) and by dataset collection.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from jaxrl_suite.envs.base import JaxEnv
from jaxrl_suite.envs.evaluate import PolicyFn


@struct.dataclass
class Transition:
    """One step of experience; leading axes [..., N] as produced (e.g. [T, N] from rollout).

    obs, next_obs: [*obs_shape] float32; action: [] int32 or [A] float32; reward: [] float32;
    terminated (MDP ended, do not bootstrap) and truncated (time limit) : [] bool, never both.
    """

    obs: jax.Array
    action: jax.Array
    reward: jax.Array
    next_obs: jax.Array
    terminated: jax.Array
    truncated: jax.Array


@struct.dataclass
class EpisodeStats:
    """Per-step episode bookkeeping; leading axes as for Transition.

    done: [] bool, an episode ended at this step; episode_return: [] float32 and
    episode_length: [] int32, of the episode that ended here (0 where done is False).
    """

    done: jax.Array
    episode_return: jax.Array
    episode_length: jax.Array


@struct.dataclass
class RolloutState:
    """What the collector carries between steps, for N envs.

    obs: [N, *obs_shape], the observation the policy acts on next (already reset after an end);
    env_state: the envs' state pytree, leading axis N; episode_return: [N] float32 and
    episode_length: [N] int32 of the running (unfinished) episodes.
    """

    obs: jax.Array
    env_state: Any
    episode_return: jax.Array
    episode_length: jax.Array


def init_rollout(env: JaxEnv, key: jax.Array, num_envs: int) -> RolloutState:
    """Returns ``num_envs`` freshly reset envs, each from its own key."""
    obs, env_state = jax.vmap(env.reset)(jax.random.split(key, num_envs))
    return RolloutState(
        obs=obs,
        env_state=env_state,
        episode_return=jnp.zeros((num_envs,), jnp.float32),
        episode_length=jnp.zeros((num_envs,), jnp.int32),
    )


def step_envs(
    env: JaxEnv, state: RolloutState, actions: jax.Array, key: jax.Array
) -> tuple[RolloutState, Transition, EpisodeStats]:
    """Returns (next carry, transitions [N], episode stats [N]) after one step of every env.

    Learners that choose actions themselves (e.g. uniform warm-up) call this; others use
    ``collect_step``. Envs whose episode ended here are reset in the returned carry.
    """
    num_envs = state.episode_return.shape[0]
    step_key, reset_key = jax.random.split(key)
    next_obs, env_state, reward, terminated, truncated = jax.vmap(env.step)(
        state.env_state, actions, jax.random.split(step_key, num_envs)
    )
    done = jnp.logical_or(terminated, truncated)
    episode_return = state.episode_return + reward
    episode_length = state.episode_length + 1

    reset_obs, reset_state = jax.vmap(env.reset)(jax.random.split(reset_key, num_envs))

    def where_done(fresh, old):
        mask = done.reshape(done.shape + (1,) * (old.ndim - 1))
        return jnp.where(mask, fresh, old)

    carry = RolloutState(
        obs=where_done(reset_obs, next_obs),
        env_state=jax.tree.map(where_done, reset_state, env_state),
        episode_return=jnp.where(done, 0.0, episode_return),
        episode_length=jnp.where(done, 0, episode_length),
    )
    transition = Transition(
        obs=state.obs,
        action=actions,
        reward=reward,
        next_obs=next_obs,
        terminated=terminated,
        truncated=truncated,
    )
    stats = EpisodeStats(
        done=done,
        episode_return=jnp.where(done, episode_return, 0.0),
        episode_length=jnp.where(done, episode_length, 0),
    )
    return carry, transition, stats


def collect_step(
    env: JaxEnv,
    policy_fn: PolicyFn,
    policy_params: Any,
    state: RolloutState,
    key: jax.Array,
) -> tuple[RolloutState, Transition, EpisodeStats]:
    """Returns (next carry, transitions [N], stats [N]) after the policy acts once in every env."""
    policy_key, env_key = jax.random.split(key)
    actions = policy_fn(policy_params, state.obs, policy_key)
    return step_envs(env, state, actions, env_key)


def rollout(
    env: JaxEnv,
    policy_fn: PolicyFn,
    policy_params: Any,
    state: RolloutState,
    key: jax.Array,
    num_steps: int,
    with_stats: bool = True,
) -> tuple[RolloutState, Transition, EpisodeStats | None]:
    """Returns (final carry, transitions [num_steps, N], stats [num_steps, N]) in one lax.scan.

    ``with_stats=False`` (static) skips stacking the per-step episode statistics (stats is then
    None): a dataset collector derives episodes from the flags, and the extra [T, N] outputs
    cost ~30% of throughput at batch 1,024 on a CPU (bench/collect_throughput.py).
    """

    def body(carry, step_key):
        carry, transition, stats = collect_step(env, policy_fn, policy_params, carry, step_key)
        return carry, (transition, stats if with_stats else None)

    state, (transitions, stats) = jax.lax.scan(body, state, jax.random.split(key, num_steps))
    return state, transitions, stats
