"""Pieces shared by the discrete learners: the Q-learning state, one gradient step with the
paper's hard target copy, double-Q targets and greedy action selection."""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxrl_suite.agents.base import DataSpec, adam_with_lr
from jaxrl_suite.data.validate import fail

# ml-jku/OfflineRL source/networks/critic.py and actor.py: three 256-unit SELU layers.
PAPER_HIDDEN = (256, 256, 256)
PAPER_ACTIVATION = "selu"
OFFLINE_BATCH_SIZE = 128  # ml-jku/OfflineRL ex_01.py-ex_05.py: batch_size = 128


@struct.dataclass
class QState:
    """params / target_params: the learner's network(s) (a dict when it has several, e.g.
    BCQ's Q and imitation heads); opt_state: Adam (holds the traced lr); step: updates so far."""

    params: Any
    target_params: Any
    opt_state: Any
    spec: DataSpec
    step: jax.Array


def check_discrete(spec: DataSpec, name: str) -> int:
    """Returns the number of actions; raises DatasetError for a continuous dataset."""
    if not spec.discrete or not spec.num_actions:
        fail(name, "actions", "discrete actions (integer indices with num_actions)",
             f"continuous actions of dimension {spec.action_dim}")
    return int(spec.num_actions)


def init_q_state(params: Any, spec: DataSpec, learning_rate: jax.Array) -> QState:
    """Returns a QState whose target starts as a copy of ``params``."""
    return QState(params, params, adam_with_lr(learning_rate).init(params), spec, jnp.int32(0))


def gradient_step(state: QState, loss_fn: Callable[[Any], tuple[jax.Array, Any]],
                  learning_rate: jax.Array, target_update_period: jax.Array
                  ) -> tuple[QState, jax.Array, Any]:
    """Returns (state after one Adam step on ``loss_fn(params) -> (loss, aux)``, loss, aux).

    The target is a hard copy of the online parameters every ``target_update_period`` updates
    (after the update that completes the period), as the paper's agents do.
    """
    (loss, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    updates, opt_state = adam_with_lr(learning_rate).update(grads, state.opt_state)
    params = optax.apply_updates(state.params, updates)
    step = state.step + 1
    copy = (step % jnp.maximum(jnp.round(target_update_period).astype(jnp.int32), 1)) == 0
    target = jax.tree.map(lambda p, t: jnp.where(copy, p, t), params, state.target_params)
    return state.replace(params=params, target_params=target, opt_state=opt_state,
                         step=step), loss, aux


def take(values: jax.Array, actions: jax.Array) -> jax.Array:
    """Returns values[b, actions[b]] for values [B, num_actions, ...] and actions [B]."""
    idx = actions.astype(jnp.int32).reshape(actions.shape + (1,) * (values.ndim - 1))
    return jnp.take_along_axis(values, idx, axis=1)[:, 0]


def bootstrap(rewards: jax.Array, terminals: jax.Array, gamma: jax.Array,
              next_value: jax.Array) -> jax.Array:
    """Returns r + gamma * (1 - terminal) * next_value (next_value [B] or [B, ...])."""
    shape = rewards.shape + (1,) * (next_value.ndim - 1)
    return (rewards.reshape(shape) + gamma * (1.0 - terminals.reshape(shape)) * next_value)


def greedy(values: jax.Array) -> jax.Array:
    """Returns argmax over the last axis as int32."""
    return jnp.argmax(values, axis=-1).astype(jnp.int32)


def huber(x: jax.Array) -> jax.Array:
    """Returns the mean Huber loss with delta 1 (torch's SmoothL1Loss, as the paper's code)."""
    return jnp.mean(optax.huber_loss(x, delta=1.0))


def paper_discount(env_id: str) -> float:
    """Returns the Dataset Perspective's discount for ``env_id``: 0.95 on CartPole and MiniGrid,
    0.99 elsewhere (ml-jku/OfflineRL (8cc8eec) ``discount`` in ex_01.py:15 CartPole 0.95,
    ex_02.py:15 MountainCar 0.99, ex_03.py:15 / ex_04.py:15 MiniGrid 0.95, ex_05.py:15 /
    ex_06.py:15 MinAtar 0.99), for the online DQN and every offline learner alike. A
    velocity-masked env (``envs/masked.py``, e.g. "MaskedCartPole-v1") has its unmasked env's
    discount: the task is the same, only the observation differs."""
    return 0.95 if env_id.removeprefix("Masked").startswith(("CartPole", "MiniGrid")) else 0.99


def paper_hparams(hparams: Any, env_id: str) -> Any:
    """Returns ``hparams`` with the paper's discount for ``env_id`` (``paper_discount``);
    unchanged if it has no gamma."""
    if not hasattr(hparams, "gamma"):
        return hparams
    return hparams.replace(gamma=paper_discount(env_id))
