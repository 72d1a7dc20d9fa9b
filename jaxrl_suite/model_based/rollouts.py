"""Model rollouts into a fixed-size on-device buffer (MBPO, Janner et al., 2019; MOPO, Yu et
al., 2020), with the rollout horizon, penalty type and weight and the active members traced.

``rollout`` runs ``max_horizon`` (static) model steps from a batch of start states under the
current policy, and marks step t of a rollout valid while t < ``horizon`` (traced) and no
earlier step terminated; the reward written is the penalised r - lambda * u(s, a), u from
``penalties.transition_penalty`` (each penalty on its own output dims, ``ll_var`` scoring the
transition taken, ``loo_kl`` using the member that produced it). ``add`` writes only the valid
transitions into a ring buffer (invalid ones are scattered out of bounds and dropped), so
shapes stay static for any horizon. Termination comes from the env's known rule
(``termination_fn``), as MOPO's static functions: the model predicts no ``done``.

Retention. The references keep a first-in-first-out model buffer of
``rollout_batch_size * rollout_length * model_retain_epochs`` transitions (OfflineRL-Kit
``run_example/run_mopo.py`` l. 188 and ``run_mobile.py`` l. 206, the MOBILE authors'
``train.py`` l. 158; MOPO ``mopo/algorithms/mopo.py`` l. 378-380), i.e. the last
``model_retain_epochs`` rollout rounds whatever the horizon: 50,000 x h x 5, one round every
1,000 updates (``rollout_freq``; MOPO ``examples/config/d4rl/base.py`` l. 19-21, MOBILE
``configs/gym/default.py`` l. 24-29). The horizon is traced here, the capacity static, so the
buffer is sized for ``max_horizon`` and ``sample`` draws only from the most recent ``window``
entries, window = capacity * h / max_horizon (``retention_window``): at capacity =
retain_updates * rollout_starts * max_horizon that is retain_updates * rollout_starts * h, the
references' buffer at horizon h, so every horizon of a sweep sees the same number of updates'
worth of rollouts. Like the references' buffer, the window counts transitions, so rollouts cut
short by termination leave it holding more than that many updates' worth.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
from flax import struct

from jaxrl_suite.errors import SuiteError
from jaxrl_suite.model_based import dynamics, penalties

TerminationFn = Callable[[jax.Array, jax.Array, jax.Array], jax.Array]


def never(obs, action, next_obs):
    """The rule of an env that never terminates (also for a custom task's rollouts)."""
    return jnp.zeros(next_obs.shape[:-1], bool)


def _mountain_car(obs, action, next_obs):  # gymnax: position >= 0.45 and velocity >= 0
    return (next_obs[..., 0] >= 0.45) & (next_obs[..., 1] >= 0.0)


def _hopper(obs, action, next_obs):  # MOPO static_fns/hopper.py (obs: z, angle, ...)
    healthy = (jnp.all(jnp.isfinite(next_obs), -1) & jnp.all(jnp.abs(next_obs[..., 1:]) < 100, -1)
               & (next_obs[..., 0] > 0.7) & (jnp.abs(next_obs[..., 1]) < 0.2))
    return ~healthy


def _walker2d(obs, action, next_obs):  # MOPO static_fns/walker2d.py
    z, angle = next_obs[..., 0], next_obs[..., 1]
    return ~((z > 0.8) & (z < 2.0) & (angle > -1.0) & (angle < 1.0))


def _ant(obs, action, next_obs):  # MOPO static_fns/ant.py (obs[0] = torso z)
    z = next_obs[..., 0]
    return ~(jnp.all(jnp.isfinite(next_obs), -1) & (z >= 0.2) & (z <= 1.0))


# Envs whose termination rule is known; an env missing here is refused rather than assumed
# never to terminate. Gymnasium's v5 observations start as MOPO's (v3) did: qpos without x
# (and y for Ant), so z and the torso angle lead and the same rules apply.
TERMINATION_FNS: dict[str, TerminationFn] = {
    "Pendulum-v1": never, "MountainCarContinuous-v0": _mountain_car,
    "halfcheetah": never, "hopper": _hopper, "walker2d": _walker2d,
    "HalfCheetah-v5": never, "Hopper-v5": _hopper, "Walker2d-v5": _walker2d, "Ant-v5": _ant,
}


def termination_fn(env_id: str) -> TerminationFn:
    """Returns the termination rule done(obs, action, next_obs) -> [B] bool of ``env_id``."""
    if env_id not in TERMINATION_FNS:
        raise SuiteError(f"model rollouts: env '{env_id}': expected one of "
                         f"{sorted(TERMINATION_FNS)} (a known termination rule)")
    return TERMINATION_FNS[env_id]


@struct.dataclass
class ModelBuffer:
    """A ring buffer of model transitions: observations, actions, (penalised) rewards,
    next_observations [C, ...], terminals [C] float; ptr: next write slot; size: filled slots."""

    observations: jax.Array
    actions: jax.Array
    rewards: jax.Array
    next_observations: jax.Array
    terminals: jax.Array
    ptr: jax.Array
    size: jax.Array

    @property
    def capacity(self) -> int:
        return self.rewards.shape[0]


def empty_buffer(capacity: int, obs_dim: int, action_dim: int) -> ModelBuffer:
    """Returns an empty ModelBuffer of ``capacity`` transitions."""
    z = lambda *shape: jnp.zeros((capacity,) + shape, jnp.float32)
    return ModelBuffer(z(obs_dim), z(action_dim), z(), z(obs_dim), z(), jnp.int32(0),
                       jnp.int32(0))


@struct.dataclass
class Rollout:
    """[H, N] model transitions of N rollouts of ``max_horizon`` steps, ``valid`` [H, N] bool;
    ``penalty`` [H, N] the uncertainty u(s, a) (before lambda), ``raw_rewards`` the model's and
    ``member`` [H, N] int32 the ensemble member each transition was drawn from."""

    observations: jax.Array
    actions: jax.Array
    rewards: jax.Array
    next_observations: jax.Array
    terminals: jax.Array
    valid: jax.Array
    penalty: jax.Array
    raw_rewards: jax.Array
    member: jax.Array


def rollout(model: dynamics.EnsembleState, policy: Callable[[jax.Array, jax.Array], jax.Array],
            start_obs: jax.Array, key: jax.Array, *, max_horizon: int, horizon: jax.Array,
            penalty_index: jax.Array, penalty_coef: jax.Array, sample_mask: jax.Array,
            penalty_mask: jax.Array, done_fn: TerminationFn) -> Rollout:
    """Returns ``max_horizon`` model steps from ``start_obs`` [N, obs_dim].

    policy(obs [N, obs_dim], key) -> actions [N, A] (env units). horizon, penalty_index (into
    ``penalties.PENALTIES``), penalty_coef: traced scalars; sample_mask: [M] the members next
    states are drawn from (MOPO: the elites); penalty_mask: [M] the members the penalty is taken
    over (Lu et al.: all the models in use, not only the elites); ``sample_mask`` must lie
    within it, so that ``loo_kl``'s member is an active one.
    """
    index = jnp.clip(jnp.round(penalty_index).astype(jnp.int32), 0, len(penalties.PENALTIES) - 1)

    def one_step(carry, t):
        obs, alive, key = carry
        key, act_key, model_key = jax.random.split(key, 3)
        action = policy(obs, act_key)
        out = dynamics.sample_step(model, obs, action, model_key, sample_mask)
        taken = jnp.concatenate([out.next_obs, out.reward[:, None]], axis=-1)
        u = penalties.transition_penalty(index, out.means, out.stds, sample=taken,
                                         member=out.member, mask=penalty_mask)
        done = done_fn(obs, action, out.next_obs)
        valid = alive & (t < horizon)
        steps = Rollout(obs, action, out.reward - penalty_coef * u, out.next_obs,
                        done.astype(jnp.float32), valid, u, out.reward, out.member)
        return (out.next_obs, alive & ~done, key), steps

    alive = jnp.ones(start_obs.shape[:1], bool)
    _, steps = jax.lax.scan(one_step, (start_obs, alive, key), jnp.arange(max_horizon))
    return steps


def add(buffer: ModelBuffer, steps: Rollout) -> ModelBuffer:
    """Returns the buffer with the valid transitions of ``steps`` written at its pointer (ring
    order; the oldest are overwritten once full)."""
    valid = steps.valid.reshape(-1)
    flat = lambda x: x.reshape((-1,) + x.shape[2:])
    offset = jnp.cumsum(valid) - 1
    slots = jnp.where(valid, (buffer.ptr + offset) % buffer.capacity, buffer.capacity)
    count = jnp.sum(valid).astype(jnp.int32)
    write = lambda dst, src: dst.at[slots].set(flat(src), mode="drop")
    return buffer.replace(
        observations=write(buffer.observations, steps.observations),
        actions=write(buffer.actions, steps.actions),
        rewards=write(buffer.rewards, steps.rewards),
        next_observations=write(buffer.next_observations, steps.next_observations),
        terminals=write(buffer.terminals, steps.terminals),
        ptr=(buffer.ptr + count) % buffer.capacity,
        size=jnp.minimum(buffer.size + count, buffer.capacity))


def retention_window(capacity: int, max_horizon: int, horizon: jax.Array) -> jax.Array:
    """Returns [] int32 the number of most recent transitions ``sample`` draws from at a
    traced ``horizon``: capacity * h / max_horizon, h = the number of rollout steps the horizon
    keeps (ceil, clipped to [0, max_horizon]); the module docstring says why."""
    steps = jnp.clip(jnp.ceil(horizon), 0, max_horizon).astype(jnp.int32)
    return (capacity * steps) // max_horizon


def sample(buffer: ModelBuffer, key: jax.Array, batch_size: int,
           window: jax.Array | int | None = None) -> tuple[jax.Array, ...]:
    """Returns (obs, actions, rewards, next_obs, terminals) [batch_size, ...] drawn uniformly
    from the ``window`` most recently written transitions (default: the whole filled part;
    index 0 while the buffer is empty: callers mask those rows)."""
    n = buffer.size if window is None else jnp.minimum(buffer.size, window)
    age = jax.random.randint(key, (batch_size,), 0, jnp.maximum(n, 1))  # 0 = the newest
    idx = (buffer.ptr - 1 - age) % buffer.capacity
    return (buffer.observations[idx], buffer.actions[idx], buffer.rewards[idx],
            buffer.next_observations[idx], buffer.terminals[idx])
