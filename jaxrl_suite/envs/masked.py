"""Velocity-masked POMDP variants of gymnax classic control: the same env, fewer observed dims.

``MaskedPendulum-v1`` observes (cos θ, sin θ) of Pendulum-v1's (cos θ, sin θ, θ-dot);
``MaskedCartPole-v1`` observes (x, θ) of CartPole-v1's (x, x-dot, θ, θ-dot). Dynamics, rewards,
termination and time limits are the underlying gymnax env's, untouched: only the observation
loses the velocity dims, so a memoryless policy faces a POMDP (the usual velocity-masking
benchmark). ``MASKED_ENVS`` holds, per name, the unmasked env and the static list of kept
observation indices.

Data collection with a full-state behaviour policy (e.g. the unmasked env's expert): the
wrapper's state keeps the full observation, ``unmasked_observation(state)`` returns it
([*unmasked observation_shape] float32, for one env or a vmapped batch), and
``unmasked_env(name)`` builds the env it came from. Stepping a masked env with the same keys and
actions as its unmasked env gives the same rewards, flags and full observations.
"""

from __future__ import annotations

from typing import Any

import flax
import jax
import jax.numpy as jnp

from jaxrl_suite.envs.base import EnvSpec, JaxEnv
from jaxrl_suite.errors import EnvError

# name -> (unmasked env name, kept observation indices)
MASKED_ENVS: dict[str, tuple[str, tuple[int, ...]]] = {
    "MaskedPendulum-v1": ("Pendulum-v1", (0, 1)),  # cos θ, sin θ; hides θ-dot
    "MaskedCartPole-v1": ("CartPole-v1", (0, 2)),  # x, θ; hides x-dot and θ-dot
}
MASKED_ENV_NAMES = tuple(MASKED_ENVS)


@flax.struct.dataclass
class MaskedEnvState:
    """The unmasked env's state plus its full observation of that state."""

    env_state: Any
    full_observation: jax.Array  # float32 [*unmasked observation_shape]


def unmasked_env(name: str) -> str:
    """Returns the name of the env that masked env ``name`` hides dims of."""
    return _entry(name)[0]


def kept_indices(name: str) -> tuple[int, ...]:
    """Returns the indices of the unmasked observation that masked env ``name`` observes."""
    return _entry(name)[1]


def unmasked_observation(state: MaskedEnvState) -> jax.Array:
    """Returns the full (unmasked) observation of a masked env's state: what a full-state
    behaviour policy acts on while its data are recorded with the masked observation."""
    return state.full_observation


def masked_spec(name: str, unmasked: EnvSpec) -> EnvSpec:
    """Returns the spec of masked env ``name``: ``unmasked``'s, renamed, observing the kept dims."""
    keep = kept_indices(name)
    if len(unmasked.observation_shape) != 1 or max(keep) >= unmasked.observation_shape[0]:
        raise EnvError(f"masked env '{name}': indices {keep} do not fit the flat observation "
                       f"{unmasked.observation_shape} of '{unmasked.name}'")
    return unmasked.replace(name=name, observation_shape=(len(keep),))


def mask_observations(name: str, env: JaxEnv) -> JaxEnv:
    """Returns ``env`` (the unmasked env of ``name``) observing only ``kept_indices(name)``."""
    spec = masked_spec(name, env.spec)
    keep = jnp.asarray(kept_indices(name))

    def reset(key):
        obs, env_state = env.reset(key)
        return obs[keep], MaskedEnvState(env_state=env_state, full_observation=obs)

    def step(state, action, key):
        obs, env_state, reward, terminated, truncated = env.step(state.env_state, action, key)
        state = MaskedEnvState(env_state=env_state, full_observation=obs)
        return obs[keep], state, reward, terminated, truncated

    return JaxEnv(spec=spec, reset=reset, step=step)


def _entry(name: str) -> tuple[str, tuple[int, ...]]:
    if name not in MASKED_ENVS:
        raise EnvError(f"unknown masked env '{name}': expected one of {', '.join(MASKED_ENVS)}")
    return MASKED_ENVS[name]
