"""The online learners' shared loop: scanned env steps, and warm-up then learning."""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from jaxrl_suite.nets.networks import check_activation

# env_step(state, key, hparams, learn) -> (state, (metrics, transition))
EnvStep = Callable[[Any, jax.Array, Any, bool], tuple[Any, tuple[Any, Any]]]


def scan_env_steps(env_step: EnvStep, state: Any, key: jax.Array, num_steps: int,
                   hparams: Any, learn: bool) -> tuple[Any, Any, Any]:
    """Returns (state, metrics [num_steps], transitions [num_steps]) after ``num_steps`` env
    steps in one ``lax.scan``, each followed by an update if ``learn``."""
    state, (metrics, transitions) = jax.lax.scan(
        lambda s, k: env_step(s, k, hparams, learn), state, jax.random.split(key, num_steps))
    return state, metrics, transitions


def warmup_then_learn(init: Callable[[jax.Array, Any], Any], env_step: EnvStep,
                      key: jax.Array, hparams: Any, learning_starts: int,
                      total_steps: int) -> tuple[Any, Any, Any]:
    """Returns (final state, metrics [total_steps], transitions [total_steps]): init, a
    collection-only warm-up of ``learning_starts`` steps, then collect + update steps."""
    init_key, warmup_key, learn_key = jax.random.split(key, 3)
    state = init(init_key, hparams)
    state, *warmup = scan_env_steps(env_step, state, warmup_key, learning_starts, hparams, False)
    state, *learning = scan_env_steps(env_step, state, learn_key,
                                      total_steps - learning_starts, hparams, True)
    metrics, transitions = jax.tree.map(
        lambda a, b: jnp.concatenate([a, b]), tuple(warmup), tuple(learning))
    return state, metrics, transitions


def check_loop_config(config: Any, positive: tuple[str, ...]) -> None:
    """Raises ValueError on an unusable online-learner config (checked before tracing)."""
    check_activation(config.activation)
    if not config.hidden_sizes or min(config.hidden_sizes) < 1:
        raise ValueError(f"hidden_sizes: expected positive widths, found {config.hidden_sizes}")
    for name in positive:
        if getattr(config, name) < 1:
            raise ValueError(f"{name}: expected >= 1, found {getattr(config, name)}")
    if config.total_steps <= config.learning_starts:
        raise ValueError(
            f"total_steps: expected more than learning_starts ({config.learning_starts}), "
            f"found {config.total_steps}"
        )
