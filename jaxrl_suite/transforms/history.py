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


def history_windows(dataset: Dataset, k: int) -> Dataset:
    """Returns the dataset with observations [N, k, obs_dim + 1]: the last ``k`` observations
    (oldest first, current last) and, as the last channel, 1.0 where the step lies inside the
    transition's episode and 0.0 where it is padding before the episode's first step.

    The layout that history encoders read (``nets/history.py``) and that the evaluation env
    wrapper builds step by step (``envs/history.py::with_history``): equal windows for equal
    episodes (tests/envs/test_history_env.py). Padded entries hold zeros; the flag is what tells
    them from a zero observation, so an encoder can mask them whatever the observation
    normalisation does. ``next_observations[t]`` is the window ending at ``s_{t+1}``.
    ``meta.observation_shape`` becomes ``(k, obs_dim + 1)`` and ``meta.info`` records
    ``history=k`` and ``history_windows=true`` (``agents/base.py::data_spec`` computes the
    observation statistics over real steps only). Flat observations only (``[N, obs_dim]``).
    """
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        fail(dataset.meta.source, "k", "a history length: an int >= 1", repr(k))
    if dataset.meta.info_dict().get("history_windows"):
        fail(dataset.meta.source, "observations", "observations without history windows",
             "a dataset whose observations are already history windows")
    if dataset.observations.ndim != 2:
        fail(dataset.meta.source, "observations", "flat observations [N, obs_dim] for history "
             "windows", f"shape {tuple(dataset.observations.shape)}")
    indices, valid = history_indices(dataset, k)
    flags = valid.astype(dataset.observations.dtype)[..., None]  # [N, k, 1]
    obs_hist = jnp.concatenate(
        [stack_history(dataset.observations, indices, valid), flags], axis=-1)
    one = jnp.ones((dataset.num_transitions, 1, 1), dataset.observations.dtype)
    next_now = jnp.concatenate([dataset.next_observations[:, None], one], axis=-1)
    next_hist = jnp.concatenate([obs_hist[:, 1:], next_now], axis=1)
    obs_dim = int(dataset.observations.shape[1])
    meta = dataset.meta.replace(observation_shape=(k, obs_dim + 1)).with_info(
        history=k, history_windows=True)
    return dataset.replace(observations=obs_hist, next_observations=next_hist, meta=meta)



def masked_dataset(dataset: Dataset, masked_env: str) -> Dataset:
    """Returns the dataset as the velocity-masked env ``masked_env`` (``envs/masked.py``, e.g.
    "MaskedPendulum-v1") observes it: observations and next observations keep only that env's
    ``kept_indices``, and ``meta.env_id`` names the masked env (data recorded in the unmasked
    env by a full-state behaviour policy, as the POMDP benchmarks do). Rewards, actions and
    episodes are unchanged."""
    from jaxrl_suite.envs.masked import kept_indices, unmasked_env

    expected = unmasked_env(masked_env)
    if dataset.meta.env_id not in (None, expected):
        fail(dataset.meta.source, "env_id", f"data of '{expected}' (the env '{masked_env}' "
             "masks)", repr(dataset.meta.env_id))
    keep = jnp.asarray(kept_indices(masked_env))
    if dataset.observations.ndim != 2 or dataset.observations.shape[1] <= int(keep.max()):
        fail(dataset.meta.source, "observations", f"flat observations with the dims of "
             f"'{expected}'", f"shape {tuple(dataset.observations.shape)}")
    meta = dataset.meta.replace(env_id=masked_env, observation_shape=(int(keep.shape[0]),))
    return dataset.replace(observations=dataset.observations[:, keep],
                           next_observations=dataset.next_observations[:, keep],
                           meta=meta.with_info(masked_from=expected))


def window_length(meta) -> int:
    """Returns k where ``meta`` describes ``history_windows`` data (observations
    [k, obs_dim + 1]), else 0: the eval env must observe the same windows
    (``envs/history.py::with_history``)."""
    info = meta.info_dict()
    return int(info["history"]) if info.get("history_windows") else 0
