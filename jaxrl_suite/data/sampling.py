"""Minibatch samplers, drawn inside jit from a key. The dataset is always an argument.

Weighted sampling uses a two-level inverse-CDF table (blocks of transitions, then transitions
inside a block). A single float32 cumulative sum over millions of transitions loses the width of
individual intervals to rounding (the running total's error exceeds one transition's mass); two
levels of ~sqrt(N) entries each keep every interval resolvable, and sampling stays two binary
searches per draw, with no per-draw O(N) work.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxrl_suite.data.dataset import Dataset
from jaxrl_suite.data.validate import fail


@struct.dataclass
class Batch:
    """A minibatch of transitions.

    observations: [B, *obs_shape]; actions: [B, action_dim] or [B]; rewards: [B];
    next_observations: [B, *obs_shape]; terminals: [B] float32 (1.0 = do not bootstrap);
    indices: [B] int32, positions in the dataset (for per-transition side arrays);
    next_actions: [B, ...] the data's action at the next step of the same episode (the
    current action where the episode ends there, where no next action exists; ReBRAC's critic
    penalty uses it only where it bootstraps).
    """

    observations: jax.Array
    actions: jax.Array
    rewards: jax.Array
    next_observations: jax.Array
    terminals: jax.Array
    indices: jax.Array
    next_actions: jax.Array


@struct.dataclass
class ImitationBatch:
    """What an imitation learner (``Learner.imitation``) gets per update: ``offline`` [B] drawn
    uniformly from the whole mixture, ``expert`` [B] from its demonstrations, and
    ``initial_observations`` [B, *obs_shape], first observations of uniformly drawn episodes
    (DemoDICE's initial-state term)."""

    offline: Batch
    expert: Batch
    initial_observations: jax.Array


def sample_imitation(dataset: Dataset, demo_range: jax.Array, key: jax.Array,
                     batch_size: int) -> ImitationBatch:
    """Returns an ImitationBatch of ``batch_size`` per part; ``demo_range`` int32 [2] holds the
    demonstrations' transitions [start, stop) (traced, so mixtures share one compile)."""
    offline_key, expert_key, init_key = jax.random.split(key, 3)
    offline = jax.random.randint(offline_key, (batch_size,), 0, dataset.num_transitions)
    expert = jax.random.randint(expert_key, (batch_size,), demo_range[0], demo_range[1])
    episodes = jax.random.randint(init_key, (batch_size,), 0, dataset.num_episodes)
    return ImitationBatch(gather(dataset, offline), gather(dataset, expert),
                          dataset.observations[dataset.episode_starts[episodes]])


def gather(dataset: Dataset, indices: jax.Array) -> Batch:
    """Returns the transitions at ``indices`` [B] as a Batch."""
    return Batch(
        observations=dataset.observations[indices],
        actions=dataset.actions[indices],
        rewards=dataset.rewards[indices],
        next_observations=dataset.next_observations[indices],
        terminals=dataset.terminals[indices].astype(jnp.float32),
        indices=indices.astype(jnp.int32),
        next_actions=_next_actions(dataset, indices),
    )


def _next_actions(dataset: Dataset, indices: jax.Array) -> jax.Array:
    last = dataset.num_transitions - 1
    ends = dataset.terminals[indices] | dataset.timeouts[indices]
    following = dataset.actions[jnp.minimum(indices + 1, last)]
    current = dataset.actions[indices]
    ends = ends.reshape(ends.shape + (1,) * (current.ndim - 1))
    return jnp.where(ends, current, following)


def sample_uniform(dataset: Dataset, key: jax.Array, batch_size: int) -> Batch:
    """Returns ``batch_size`` transitions drawn uniformly with replacement."""
    idx = jax.random.randint(key, (batch_size,), 0, dataset.num_transitions)
    return gather(dataset, idx)


@struct.dataclass
class WeightedTable:
    """Two-level inverse CDF of per-transition probabilities (see the module docstring).

    block_cdf: [C] cumulative mass of blocks; within_cdf: [C, K] cumulative mass inside each
    block; last_index: [C] last transition with positive mass in each block (guards rounding).
    """

    block_cdf: jax.Array
    within_cdf: jax.Array
    last_index: jax.Array
    num_transitions: int = struct.field(pytree_node=False)


def weighted_table(probs: jax.Array) -> WeightedTable:
    """Returns the sampling table for per-transition weights ``probs`` [N] (any positive scale).

    Jittable (the weights may depend on traced hyperparameters, e.g. a temperature). When called
    on concrete weights, they are checked first: finite, non-negative, with positive total.
    """
    if not isinstance(probs, jax.core.Tracer):
        _check_probs(np.asarray(probs))
    n = int(probs.shape[0])
    k = max(1, int(math.ceil(math.sqrt(n))))
    c = int(math.ceil(n / k))
    padded = jnp.zeros((c * k,), jnp.float32).at[:n].set(jnp.asarray(probs, jnp.float32))
    blocks = padded.reshape(c, k)
    # Normalise first so the cumulative sums live in [0, 1] whatever the weights' scale.
    blocks = blocks / jnp.sum(blocks)
    within = jnp.cumsum(blocks, axis=1)
    block_cdf = jnp.cumsum(within[:, -1])
    positions = jnp.arange(c * k).reshape(c, k)
    last_in_block = jnp.max(jnp.where(blocks > 0, positions, -1), axis=1)
    # A block without mass is never chosen; point it at the previous block's last index anyway.
    last_index = jax.lax.cummax(last_in_block, axis=0)
    return WeightedTable(block_cdf, within, last_index, n)


def sample_indices_weighted(table: WeightedTable, key: jax.Array, batch_size: int) -> jax.Array:
    """Returns [batch_size] transition indices drawn with replacement from the table."""
    k_block, k_within = jax.random.split(key)
    u_block = jax.random.uniform(k_block, (batch_size,)) * table.block_cdf[-1]
    block = jnp.searchsorted(table.block_cdf, u_block, side="right")
    block = jnp.minimum(block, table.block_cdf.shape[0] - 1)
    row = table.within_cdf[block]  # [B, K]
    u_within = jax.random.uniform(k_within, (batch_size,)) * row[:, -1]
    pos = jax.vmap(lambda r, u: jnp.searchsorted(r, u, side="right"))(row, u_within)
    idx = block * table.within_cdf.shape[1] + pos
    # Rounding can push u onto the total; clamp to the last transition with mass.
    return jnp.minimum(idx, table.last_index[block]).astype(jnp.int32)


def sample_indices_by_episode(dataset: Dataset, episode_table: WeightedTable, key: jax.Array,
                              batch_size: int) -> jax.Array:
    """Returns [batch_size] transition indices: an episode drawn from ``episode_table`` (one
    weight per episode, [E]), then a transition uniformly inside it. For weights constant
    within an episode (RW/AW) this is per-transition weighted sampling with an [E] table."""
    k_episode, k_step = jax.random.split(key)
    episode = sample_indices_weighted(episode_table, k_episode, batch_size)
    length = dataset.episode_lengths[episode]
    step = jnp.floor(jax.random.uniform(k_step, (batch_size,)) * length).astype(jnp.int32)
    return dataset.episode_starts[episode] + jnp.minimum(step, length - 1)


def sample_weighted(
    dataset: Dataset, table: WeightedTable, key: jax.Array, batch_size: int
) -> Batch:
    """Returns ``batch_size`` transitions drawn with replacement, P(i) ∝ the table's weights."""
    if table.num_transitions != dataset.num_transitions:
        fail(dataset.meta.source, "probs", f"{dataset.num_transitions} weights (one per "
             "transition)", f"{table.num_transitions}")
    return gather(dataset, sample_indices_weighted(table, key, batch_size))


def _check_probs(p: np.ndarray) -> None:
    if p.ndim != 1:
        fail(None, "probs", "shape (N,): one weight per transition", f"shape {p.shape}")
    if p.size == 0:
        fail(None, "probs", "at least one weight", "an empty array")
    if not np.all(np.isfinite(p)):
        fail(None, "probs", "finite weights", "a non-finite weight")
    if np.any(p < 0):
        fail(None, "probs", "non-negative weights", f"minimum {p.min()}")
    if not p.sum() > 0:
        fail(None, "probs", "a positive total weight", "all weights zero")
