"""gymnax classic-control envs behind the suite's ``JaxEnv`` interface (gymnax >= 1.0)."""

from __future__ import annotations

import gymnax
import jax.numpy as jnp
import numpy as np

from jaxrl_suite.envs.base import EnvSpec, JaxEnv
from jaxrl_suite.errors import EnvError


def make_gymnax_env(name: str, spec: EnvSpec | None = None) -> JaxEnv:
    """Returns the gymnax env ``name`` (e.g. "CartPole-v1") as a JaxEnv, without auto-reset.

    ``spec`` overrides the derived spec (e.g. to attach measured reference returns).
    """
    try:
        env, params = gymnax.make(name)
    except Exception as exc:  # gymnax raises a bare ValueError for unknown ids
        raise EnvError(f"unknown gymnax env '{name}': {exc}") from None
    spec = spec or gymnax_spec(name, env, params)

    def reset(key):
        obs, state = env.reset_env(key, params)
        return obs.astype(jnp.float32), state

    if spec.discrete:
        def to_env_action(action):
            return jnp.asarray(action, jnp.int32)
    else:
        low = jnp.asarray(spec.action_low, jnp.float32)
        high = jnp.asarray(spec.action_high, jnp.float32)

        def to_env_action(action):
            # gymnax continuous envs take [action_dim]; clip as gymnasium's envs do.
            return jnp.clip(jnp.asarray(action, jnp.float32).reshape(low.shape), low, high)

    def step(state, action, key):
        obs, state, reward, terminated, _ = env.step_env(key, state, to_env_action(action), params)
        truncated = env.is_truncated(state, params)
        return (
            obs.astype(jnp.float32),
            state,
            jnp.asarray(reward, jnp.float32).reshape(()),
            jnp.asarray(terminated, bool).reshape(()),
            jnp.logical_and(truncated, jnp.logical_not(terminated)).reshape(()),
        )

    return JaxEnv(spec=spec, reset=reset, step=step)


def gymnax_spec(name: str, env, params) -> EnvSpec:
    """Returns the EnvSpec read off a gymnax env's spaces and default parameters."""
    act_space = env.action_space(params)
    obs_shape = tuple(int(d) for d in env.observation_space(params).shape)
    common = dict(
        name=name,
        backend="gymnax",
        observation_shape=obs_shape,
        max_episode_steps=int(params.max_steps_in_episode),
    )
    if isinstance(act_space, gymnax.environments.spaces.Discrete):
        return EnvSpec(discrete=True, num_actions=int(act_space.n), **common)
    shape = act_space.shape if act_space.shape else (1,)
    dim = int(np.prod(shape))
    low = np.broadcast_to(np.asarray(act_space.low, np.float32), (dim,))
    high = np.broadcast_to(np.asarray(act_space.high, np.float32), (dim,))
    return EnvSpec(
        discrete=False,
        action_dim=dim,
        action_low=tuple(float(x) for x in low),
        action_high=tuple(float(x) for x in high),
        **common,
    )

