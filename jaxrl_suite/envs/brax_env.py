"""brax locomotion envs (MJX physics by default) behind the suite's ``JaxEnv`` interface.

brax's own ``EpisodeWrapper`` folds the time limit into ``done``; this adapter instead wraps the
raw env, takes ``terminated`` from the raw env's ``done`` (the robot fell) and raises
``truncated`` from its own step counter, so the two stay apart.

brax is imported inside the factory: importing ``jaxrl_suite.envs`` stays cheap.
"""

from __future__ import annotations

from typing import Any

import flax
import jax
import jax.numpy as jnp

from jaxrl_suite.envs.base import EnvSpec, JaxEnv
from jaxrl_suite.errors import EnvError

BRAX_ENV_NAMES = ("hopper", "halfcheetah", "walker2d", "ant")

# Observation and action sizes of the default-constructed envs (brax 0.14), so that
# ``registry.env_spec`` need not load a MuJoCo model; tests check them against the built envs.
BRAX_SIZES = {
    "hopper": (11, 3),
    "halfcheetah": (17, 6),
    "walker2d": (17, 6),
    "ant": (27, 8),
}


@flax.struct.dataclass
class BraxEnvState:
    """The wrapped brax ``State`` plus the number of steps taken in this episode."""

    brax_state: Any  # brax.envs.State
    step_count: jax.Array  # int32 []


def brax_spec(
    name: str, observation_size: int, action_size: int, episode_length: int
) -> EnvSpec:
    """Returns the EnvSpec of a brax env with actions in [-1, 1]^action_size."""
    return EnvSpec(
        name=name,
        backend="brax",
        observation_shape=(int(observation_size),),
        discrete=False,
        action_dim=int(action_size),
        action_low=(-1.0,) * int(action_size),
        action_high=(1.0,) * int(action_size),
        max_episode_steps=int(episode_length),
    )


def make_brax_env(
    name: str,
    episode_length: int = 1000,
    backend: str = "mjx",
    spec: EnvSpec | None = None,
    **env_kwargs: Any,
) -> JaxEnv:
    """Returns the brax env ``name`` (e.g. "hopper") as a JaxEnv, truncated at ``episode_length``.

    ``backend`` is brax's physics pipeline ("mjx", "generalized", "positional", "spring");
    ``env_kwargs`` go to the brax env's constructor; ``spec`` overrides the derived spec.
    """
    import brax.envs  # deferred: pulls in MuJoCo / MJX

    if name not in BRAX_ENV_NAMES:
        raise EnvError(f"unknown brax env '{name}': expected one of {', '.join(BRAX_ENV_NAMES)}")
    if int(episode_length) < 1:
        raise EnvError(f"brax env '{name}': episode_length must be >= 1, found {episode_length}")
    try:
        env = brax.envs.get_environment(name, backend=backend, **env_kwargs)
    except Exception as exc:
        raise EnvError(f"cannot build brax env '{name}' (backend '{backend}'): {exc}") from exc
    action_size = int(env.action_size)
    if spec is None:
        # brax's ``observation_size`` runs ``reset`` eagerly, op by op (~20 s on CPU for MJX);
        # tracing it abstractly costs well under a second.
        obs_shape = jax.eval_shape(env.reset, jax.random.key(0)).obs.shape
        spec = brax_spec(name, obs_shape[-1], action_size, episode_length)
    limit = int(episode_length)

    def reset(key):
        brax_state = _strong_types(env.reset(key))
        obs = brax_state.obs.astype(jnp.float32)
        return obs, BraxEnvState(brax_state=brax_state, step_count=jnp.zeros((), jnp.int32))

    def step(state, action, key):
        del key  # brax dynamics are deterministic given the action
        action = jnp.clip(jnp.asarray(action, jnp.float32).reshape((action_size,)), -1.0, 1.0)
        # brax envs update ``metrics`` in place; give them a fresh dict so the caller's state
        # is left untouched outside jit.
        prev = state.brax_state.replace(metrics=dict(state.brax_state.metrics))
        brax_state = _strong_types(env.step(prev, action))
        step_count = state.step_count + 1
        terminated = brax_state.done.reshape(()) > 0.5
        truncated = jnp.logical_and(step_count >= limit, jnp.logical_not(terminated))
        return (
            brax_state.obs.astype(jnp.float32),
            BraxEnvState(brax_state=brax_state, step_count=step_count),
            jnp.asarray(brax_state.reward, jnp.float32).reshape(()),
            terminated,
            truncated,
        )

    return JaxEnv(spec=spec, reset=reset, step=step)


def _strong_types(tree):
    # brax's step returns some weakly typed scalars (e.g. ``done``) where reset returns strong
    # ones; a ``lax.scan`` carry needs both to agree, and a jitted step would otherwise retrace.
    return jax.tree.map(lambda x: jnp.asarray(x, dtype=jnp.result_type(x)), tree)
