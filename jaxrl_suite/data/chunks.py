"""Action-chunk minibatches for chunked critics and policies (Q-chunking, Li, Zhou & Levine,
NeurIPS 2025; Decoupled Q-chunking, Li, Park & Levine, ICLR 2026), drawn inside jit.

As QC's ``utils/datasets.py::Dataset.sample_sequence`` (ColinQiyangLi/qc, lines 92-154): a
start t is drawn uniformly from [0, N - h], and for i = 0..h-1 over the rows t..t+h-1
  rewards[i]   = r_{t+i}; ``discounted_sums(rewards, gamma)[i]`` = sum_{j <= i} gamma^j r_{t+j}
               (QC's ``rewards``: the learner applies its own, traced, discount)
  masks[i]     = min_{j <= i} (1 - terminal_{t+j})   (0 once the env terminated: no bootstrap)
  ends[i]      = max_{j <= i} end_{t+j}             (QC's ``terminals``: an episode ended)
  valid[i]     = 1 - ends[i - 1], valid[0] = 1      (0 for rows past the episode's end)
  actions[i], next_observations[i] = the rows' own
with ``end`` = terminal or timeout (a trajectory's last transition; QC's datasets mark it in
``terminals`` and the env's termination in ``masks``). A chunk therefore never uses a row of
the next episode as if it followed: those rows are flagged invalid, and a learner bootstraps
from next_observations[i] at the last valid i, with gamma^(i+1) and masks[i].
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from jaxrl_suite.data.dataset import Dataset


@struct.dataclass
class ChunkBatch:
    """B chunks of h steps: observations [B, *obs] (each chunk's first), actions [B, h, A],
    rewards (per step) / masks / ends / valid [B, h] (the module docstring), next_observations
    [B, h, *obs], indices [B] (each chunk's first row)."""

    observations: jax.Array
    actions: jax.Array
    rewards: jax.Array
    masks: jax.Array
    ends: jax.Array
    valid: jax.Array
    next_observations: jax.Array
    indices: jax.Array


def discounted_sums(rewards: jax.Array, discount: jax.Array) -> jax.Array:
    """Returns sum_{j <= i} discount^j rewards[..., j] for every i: [..., h]."""
    powers = discount ** jnp.arange(rewards.shape[-1], dtype=rewards.dtype)
    return jnp.cumsum(rewards * powers, axis=-1)


def gather_chunks(dataset: Dataset, starts: jax.Array, horizon: int) -> ChunkBatch:
    """Returns the chunks of ``horizon`` rows beginning at ``starts`` [B] (each <= N - h)."""
    rows = starts[:, None] + jnp.arange(horizon)[None, :]  # [B, h]
    terminal = dataset.terminals[rows].astype(jnp.float32)
    end = (dataset.terminals[rows] | dataset.timeouts[rows]).astype(jnp.float32)
    rewards = dataset.rewards[rows]
    masks = jax.lax.cummin(1.0 - terminal, axis=1)
    ends = jax.lax.cummax(end, axis=1)
    valid = jnp.concatenate([jnp.ones_like(ends[:, :1]), 1.0 - ends[:, :-1]], axis=1)
    return ChunkBatch(observations=dataset.observations[starts], actions=dataset.actions[rows],
                      rewards=rewards, masks=masks, ends=ends, valid=valid,
                      next_observations=dataset.next_observations[rows],
                      indices=starts.astype(jnp.int32))


def sample_chunks(dataset: Dataset, key: jax.Array, batch_size: int,
                  horizon: int) -> ChunkBatch:
    """Returns ``batch_size`` chunks whose starts are uniform over [0, N - horizon]."""
    if horizon < 1 or horizon > dataset.num_transitions:
        raise ValueError(f"chunk horizon: expected 1 <= h <= {dataset.num_transitions} "
                         f"transitions, found {horizon}")
    starts = jax.random.randint(key, (batch_size,), 0, dataset.num_transitions - horizon + 1)
    return gather_chunks(dataset, starts, horizon)
