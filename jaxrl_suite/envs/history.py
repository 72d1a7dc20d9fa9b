"""History windows at evaluation: a JaxEnv wrapper whose observation is the window of the
last ``k`` observations that ``transforms/history.py::history_windows`` builds from a dataset.

Layout ``[k, obs_dim + 1]``, oldest first, the current step last; the last channel is 1.0 on
real steps, 0.0 on the padding before the episode's first step (padding observations are
zeros). ``reset`` starts a fresh window (padding, then the first observation); ``step`` drops
the oldest entry and appends the new observation, so a window never crosses an episode
boundary (``step`` never auto-resets; ``evaluate`` resets a finished episode itself). Being
part of the env state, the window rides through ``evaluate`` inside jit and vmap. An episode
recorded through this wrapper and one rebuilt from the dataset give equal windows
(tests/envs/test_history_env.py).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxrl_suite.envs.base import JaxEnv
from jaxrl_suite.errors import EnvError


class HistoryState(NamedTuple):
    env_state: Any
    window: jax.Array  # [k, obs_dim + 1]


def with_history(env: JaxEnv, k: int) -> JaxEnv:
    """Returns ``env`` observing history windows [k, obs_dim + 1] (flat observations only)."""
    if not isinstance(env, JaxEnv):
        raise EnvError(f"history windows: env '{env.spec.name}' is evaluated on the host; "
                       "history-conditioned policies evaluate in JAX envs only "
                       "(--eval_backend=jax)")
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise EnvError(f"history windows: expected a history length k >= 1, found {k!r}")
    if len(env.spec.observation_shape) != 1:
        raise EnvError(f"history windows: env '{env.spec.name}' has observations of shape "
                       f"{env.spec.observation_shape}; expected flat [obs_dim]")
    dim = int(env.spec.observation_shape[0])

    def entry(obs):
        return jnp.concatenate([obs.astype(jnp.float32), jnp.ones((1,), jnp.float32)])

    def reset(key):
        obs, state = env.reset(key)
        window = jnp.zeros((k, dim + 1), jnp.float32).at[-1].set(entry(obs))
        return window, HistoryState(state, window)

    def step(state: HistoryState, action, key):
        obs, env_state, reward, terminated, truncated = env.step(state.env_state, action, key)
        window = jnp.concatenate([state.window[1:], entry(obs)[None]], axis=0)
        return window, HistoryState(env_state, window), reward, terminated, truncated

    spec = env.spec.replace(observation_shape=(k, dim + 1))
    return JaxEnv(spec=spec, reset=reset, step=step)
