"""A fixed-size, on-device circular replay buffer of ``Transition``s, for the online learners.

Pure functions over a typed state so the buffer lives in a ``lax.scan`` carry (XLA updates it in
place) and vmaps over seeds.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from jaxrl_suite.envs.rollout import Transition


@struct.dataclass
class ReplayBuffer:
    """data: Transition with leading axis [capacity]; insert_at: [] int32 (next slot);
    size: [] int32 (filled slots, <= capacity)."""

    data: Transition
    insert_at: jax.Array
    size: jax.Array

    @property
    def capacity(self) -> int:
        return self.data.reward.shape[0]


def replay_init(example: Transition, capacity: int) -> ReplayBuffer:
    """Returns an empty buffer of ``capacity`` slots shaped like one ``example`` transition."""
    data = jax.tree.map(lambda x: jnp.zeros((capacity,) + x.shape, x.dtype), example)
    return ReplayBuffer(data=data, insert_at=jnp.int32(0), size=jnp.int32(0))


def replay_add(buffer: ReplayBuffer, transition: Transition) -> ReplayBuffer:
    """Returns the buffer with one transition written over the oldest slot once full."""
    data = jax.tree.map(lambda buf, x: buf.at[buffer.insert_at].set(x), buffer.data, transition)
    return buffer.replace(
        data=data,
        insert_at=(buffer.insert_at + 1) % buffer.capacity,
        size=jnp.minimum(buffer.size + 1, buffer.capacity),
    )


def replay_sample(buffer: ReplayBuffer, key: jax.Array, batch_size: int) -> Transition:
    """Returns ``batch_size`` transitions [B, ...] drawn uniformly, with replacement, from the
    filled slots (the caller adds at least one transition first)."""
    idx = jax.random.randint(key, (batch_size,), 0, jnp.maximum(buffer.size, 1))
    return jax.tree.map(lambda x: x[idx], buffer.data)
