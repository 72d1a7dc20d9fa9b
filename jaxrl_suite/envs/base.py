"""One functional, vmappable environment interface over gymnax, brax (MJX) and gymnasium.

A JAX-native env is a ``JaxEnv``: an ``EnvSpec`` plus two pure functions for ONE environment
(vmap them for many):

    reset(key) -> (obs, state)
    step(state, action, key) -> (obs, state, reward, terminated, truncated)

``step`` never auto-resets: ``obs`` is the true next observation even on the last step, so a
collector can record ``next_observations`` exactly, and ``terminated`` (the MDP ended: do not
bootstrap) is kept apart from ``truncated`` (the time limit cut the episode). Shapes and dtypes:
obs float32 [*observation_shape]; action int32 [] (discrete) or float32 [action_dim]
(continuous, clipped to the bounds by the adapter); reward float32 []; flags bool [].

Gymnasium envs are not JAX-native; ``HostEnv`` wraps a gymnasium vector env for host-side
evaluation of policies trained on, e.g., Minari MuJoCo datasets.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, NamedTuple


@dataclasses.dataclass(frozen=True)
class EnvSpec:
    """Static facts about an env: spaces, time limit and reference returns (None if unknown)."""

    name: str
    backend: str  # "gymnax" | "brax" | "gymnasium"
    observation_shape: tuple[int, ...]
    discrete: bool
    num_actions: int | None = None
    action_dim: int | None = None
    action_low: tuple[float, ...] | None = None
    action_high: tuple[float, ...] | None = None
    max_episode_steps: int = 1000
    ref_min_score: float | None = None  # random-policy mean return
    ref_max_score: float | None = None  # expert-policy mean return

    def replace(self, **kwargs: Any) -> "EnvSpec":
        return dataclasses.replace(self, **kwargs)


class JaxEnv(NamedTuple):
    """A JAX-native env: static spec and pure, vmappable reset/step for one environment."""

    spec: EnvSpec
    reset: Callable[..., Any]  # (key) -> (obs, state)
    step: Callable[..., Any]  # (state, action, key) -> (obs, state, reward, terminated, truncated)


@dataclasses.dataclass
class HostEnv:
    """A host-side env: static spec plus a gymnasium vector env of ``num_envs`` copies.

    Not jittable; evaluate it with ``jaxrl_suite.envs.evaluate_host``, which batches the policy
    over the copies. ``vector_env`` is a ``gymnasium.vector.VectorEnv`` whose autoreset mode is
    ``NextStep`` or ``SameStep``.
    """

    spec: EnvSpec
    vector_env: Any

    @property
    def num_envs(self) -> int:
        return int(self.vector_env.num_envs)

    def close(self) -> None:
        self.vector_env.close()

    def __enter__(self) -> "HostEnv":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()
