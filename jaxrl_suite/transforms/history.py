"""Observation histories: each transition's last ``k`` observations, stacked on a new axis.

Zero-padded at episode starts and never crossing an episode boundary: position ``j`` of the
history at transition ``t`` holds ``s_{t-(k-1)+j}`` when that index is still inside ``t``'s
episode (``>= episode_starts[episode_ids[t]]``), and zeros otherwise. One gather with indices
``t - offset`` masked by that condition; no Python loop over transitions, so it is jittable
(``k`` static). The same zero padding is what the SSORL inverse-dynamics model feeds at an
episode's first step (``jaxrl_suite.transforms.labels``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxrl_suite.data.dataset import Dataset
from jaxrl_suite.data.validate import fail


def history_indices(dataset: Dataset, k: int) -> tuple[jax.Array, jax.Array]:
    """Returns (indices [N, k] int32, valid [N, k] bool): oldest first, the current step last.

    ``indices[t, j] = t - (k - 1 - j)``, clamped to 0 where ``valid`` is false (before the
    episode's first step).
    """
    t = jnp.arange(dataset.num_transitions, dtype=jnp.int32)[:, None]  # [N, 1]
    offsets = jnp.arange(k - 1, -1, -1, dtype=jnp.int32)[None, :]  # [1, k]: k-1 ... 0
    indices = t - offsets
    first = dataset.episode_starts[dataset.episode_ids][:, None]  # [N, 1]
    valid = indices >= first
    return jnp.where(valid, indices, 0), valid


def stack_history(observations: jax.Array, indices: jax.Array, valid: jax.Array) -> jax.Array:
    """Returns observations [N, *obs_shape] gathered to [N, k, *obs_shape], zeros where invalid."""
    stacked = observations[indices]  # [N, k, *obs_shape]
    mask = valid.reshape(valid.shape + (1,) * (observations.ndim - 1))
    return jnp.where(mask, stacked, jnp.zeros((), observations.dtype))


def stack_observation_history(dataset: Dataset, k: int) -> Dataset:
    """Returns the dataset with observations [N, k, *obs_shape] (oldest first, current last).

    ``next_observations[t]`` becomes the history ending at ``s_{t+1}``: the last ``k - 1``
    entries of ``observations[t]``'s history, then ``next_observations[t]`` (zero-padded the
    same way). ``meta.observation_shape`` becomes ``(k, *obs_shape)`` and ``meta.info`` records
    ``history=k``. ``k`` is static; the dataset may be traced (``jax.jit(stack_observation_history,
    static_argnums=1)``).
    """
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        fail(dataset.meta.source, "k", "a history length: an int >= 1", repr(k))
    indices, valid = history_indices(dataset, k)
    obs_hist = stack_history(dataset.observations, indices, valid)  # [N, k, *obs_shape]
    # The history ending at s_{t+1} shares s_{t-k+2} ... s_t with the one ending at s_t.
    next_hist = jnp.concatenate([obs_hist[:, 1:], dataset.next_observations[:, None]], axis=1)
    obs_shape = tuple(int(d) for d in dataset.observations.shape[1:])
    meta = dataset.meta.replace(observation_shape=(k, *obs_shape)).with_info(history=k)
    return dataset.replace(observations=obs_hist, next_observations=next_hist, meta=meta)
