"""The Dataset pytree: transitions with a leading axis, episode structure and static metadata.

A Dataset is built once on the host (validated in NumPy, so a user error never surfaces as a
traceback from inside JAX), then lives once in device memory and is passed *as an argument* into
jitted code, where every seed shares it.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxrl_suite.data import validate

FIELDS = ("observations", "actions", "rewards", "next_observations", "terminals", "timeouts")


@dataclasses.dataclass(frozen=True)
class DatasetMeta:
    """Static description of a dataset: its env, spaces, action bounds and reference returns.

    Hashable (tuples only), so that it can ride along in the Dataset's treedef as static data.
    ``ref_min_score`` / ``ref_max_score`` are Minari's names for the random-policy and
    expert-policy mean returns that normalised scores are computed against.
    """

    env_id: str | None = None
    observation_shape: tuple[int, ...] = ()
    discrete: bool = False
    num_actions: int | None = None  # discrete action spaces: actions are ints in [0, num_actions)
    action_dim: int | None = None  # continuous action spaces: actions are [action_dim] floats
    action_low: tuple[float, ...] | None = None
    action_high: tuple[float, ...] | None = None
    ref_min_score: float | None = None
    ref_max_score: float | None = None
    source: str | None = None  # the file or Minari id it was read from, for error messages
    info: tuple[tuple[str, str], ...] = ()  # free-form facts (recipe parameters...), JSON values

    def info_dict(self) -> dict[str, Any]:
        """Returns ``info`` decoded into a plain dict."""
        return {k: json.loads(v) for k, v in self.info}

    def with_info(self, **kwargs: Any) -> "DatasetMeta":
        """Returns a copy with ``kwargs`` merged into ``info`` (values must be JSON-serialisable)."""
        merged = self.info_dict()
        merged.update(kwargs)
        return dataclasses.replace(
            self, info=tuple(sorted((k, json.dumps(v)) for k, v in merged.items()))
        )

    def replace(self, **kwargs: Any) -> "DatasetMeta":
        return dataclasses.replace(self, **kwargs)


@struct.dataclass
class Dataset:
    """Offline transitions with episode structure.

    observations:      [N, *obs_shape] float32
    actions:           [N, action_dim] float32 (continuous) or [N] int32 (discrete)
    rewards:           [N] float32
    next_observations: [N, *obs_shape] float32
    terminals:         [N] bool   true environment termination (no bootstrapping past it)
    timeouts:          [N] bool   episode cut by a time limit (bootstrapping continues)
    episode_ids:       [N] int32  index of the episode each transition belongs to
    episode_starts:    [E] int32  index of each episode's first transition
    episode_lengths:   [E] int32
    """

    observations: jax.Array
    actions: jax.Array
    rewards: jax.Array
    next_observations: jax.Array
    terminals: jax.Array
    timeouts: jax.Array
    episode_ids: jax.Array
    episode_starts: jax.Array
    episode_lengths: jax.Array
    meta: DatasetMeta = struct.field(pytree_node=False, default=DatasetMeta())

    @property
    def num_transitions(self) -> int:
        return int(self.rewards.shape[0])

    @property
    def num_episodes(self) -> int:
        return int(self.episode_starts.shape[0])

    def episode_returns(self) -> jax.Array:
        """Returns the undiscounted return of every episode, [E], in one segment sum."""
        return jax.ops.segment_sum(
            self.rewards, self.episode_ids, num_segments=self.num_episodes,
            indices_are_sorted=True,
        )

    def episode_of(self, values_per_episode: jax.Array) -> jax.Array:
        """Returns a per-episode array [E, ...] spread to transitions [N, ...]."""
        return values_per_episode[self.episode_ids]

    def to_numpy(self) -> dict[str, np.ndarray]:
        """Returns the six transition fields as host NumPy arrays."""
        return {name: np.asarray(getattr(self, name)) for name in FIELDS}

    def fingerprint(self) -> str:
        """Returns the content hash of the transitions (32 hex digits of BLAKE2b over the six
        fields' names, dtypes, shapes and bytes; the episode structure follows from them).

        Equal for equal arrays whatever the file or name; metadata is left out. One pass over
        the data (~0.1 s per 100 MB); computed per run, from the arrays actually trained on,
        so a transform that replaces an array cannot leave a stale value behind.
        """
        import hashlib

        digest = hashlib.blake2b(digest_size=16)
        for name, array in self.to_numpy().items():
            array = np.ascontiguousarray(array)
            digest.update(f"{name}:{array.dtype.str}:{array.shape};".encode())
            digest.update(memoryview(array).cast("B"))
        return digest.hexdigest()

    def select_episodes(self, episode_indices: Any) -> "Dataset":
        """Returns a new Dataset holding the given episodes (host-side, in the given order)."""
        idx = np.asarray(episode_indices, dtype=np.int64)
        starts = np.asarray(self.episode_starts)[idx]
        lengths = np.asarray(self.episode_lengths)[idx]
        take = (
            np.concatenate([np.arange(s, s + n) for s, n in zip(starts, lengths)])
            if idx.size
            else np.zeros((0,), np.int64)
        )
        arrays = {k: v[take] for k, v in self.to_numpy().items()}
        return from_arrays(**arrays, meta=self.meta)


def episode_structure(
    terminals: np.ndarray, timeouts: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Returns (episode_ids [N], episode_starts [E], episode_lengths [E]) from end flags."""
    ends = np.logical_or(terminals, timeouts)
    end_idx = np.flatnonzero(ends)
    starts = np.concatenate([[0], end_idx[:-1] + 1]).astype(np.int32)
    lengths = (end_idx + 1 - starts).astype(np.int32)
    # An episode's id is the number of episode ends strictly before it.
    episode_ids = (np.cumsum(ends) - ends).astype(np.int32)
    return episode_ids, starts, lengths


def from_arrays(
    observations: Any,
    actions: Any,
    rewards: Any,
    terminals: Any,
    timeouts: Any,
    next_observations: Any | None = None,
    *,
    meta: DatasetMeta | None = None,
    source: str | None = None,
) -> Dataset:
    """Returns a validated Dataset built from host arrays (D4RL field names).

    Raises DatasetError naming ``source``, the field and the expectation on any bad input. If
    ``next_observations`` is absent it is derived D4RL-style (next_obs[t] = obs[t + 1] inside an
    episode); an episode's last transition has no successor in the file, so it is dropped when
    the episode ended by timeout (as D4RL's ``qlearning_dataset`` does), and gets its own
    observation when it ended by termination (where the target never bootstraps from it).
    """
    meta = meta or DatasetMeta()
    if source is not None:
        meta = meta.replace(source=source)
    arrays = validate.validate_arrays(
        dict(
            observations=observations,
            actions=actions,
            rewards=rewards,
            terminals=terminals,
            timeouts=timeouts,
            next_observations=next_observations,
        ),
        meta,
    )
    if arrays["next_observations"] is None:
        arrays = _derive_next_observations(arrays, meta.source)
    meta = _infer_meta(arrays, meta)
    episode_ids, starts, lengths = episode_structure(arrays["terminals"], arrays["timeouts"])
    return Dataset(
        **{k: jnp.asarray(v) for k, v in arrays.items()},
        episode_ids=jnp.asarray(episode_ids),
        episode_starts=jnp.asarray(starts),
        episode_lengths=jnp.asarray(lengths),
        meta=meta,
    )


def _derive_next_observations(arrays: dict[str, np.ndarray], source: str | None) -> dict:
    obs, term, tout = arrays["observations"], arrays["terminals"], arrays["timeouts"]
    next_obs = np.concatenate([obs[1:], obs[-1:]], axis=0)
    term_end = term.copy()
    next_obs[term_end] = obs[term_end]
    keep = ~(tout & ~term)
    # The transition before a dropped timeout transition now ends its episode by timeout.
    new_timeout = np.zeros_like(tout)
    new_timeout[:-1] = tout[1:] & ~term[1:] & ~(term[:-1] | tout[:-1])
    out = {k: v[keep] for k, v in arrays.items() if v is not None}
    out["next_observations"] = next_obs[keep]
    out["timeouts"] = (tout & term)[keep] | new_timeout[keep]
    if out["rewards"].shape[0] == 0:
        validate.fail(source, "timeouts", "at least one transition left after dropping "
                      "timeout transitions that have no next observation", "none left")
    return out


def _infer_meta(arrays: dict[str, np.ndarray], meta: DatasetMeta) -> DatasetMeta:
    obs_shape = tuple(int(d) for d in arrays["observations"].shape[1:])
    discrete = arrays["actions"].dtype == np.int32
    updates: dict[str, Any] = dict(observation_shape=obs_shape, discrete=bool(discrete))
    if discrete:
        if meta.num_actions is None:
            updates["num_actions"] = int(arrays["actions"].max()) + 1
    else:
        updates["action_dim"] = int(arrays["actions"].shape[1])
    return meta.replace(**updates)


def concatenate(datasets: list[Dataset], meta: DatasetMeta | None = None) -> Dataset:
    """Returns the episodes of all datasets, in order, as one Dataset (host-side)."""
    if not datasets:
        validate.fail(None, "datasets", "a non-empty list of datasets", "an empty list")
    arrays = {
        k: np.concatenate([d.to_numpy()[k] for d in datasets], axis=0) for k in FIELDS
    }
    return from_arrays(**arrays, meta=meta or datasets[0].meta)


def summary(dataset: Dataset) -> Mapping[str, Any]:
    """Returns a dict of the facts ``info`` prints: sizes, return statistics and spaces."""
    returns = np.asarray(dataset.episode_returns())
    lengths = np.asarray(dataset.episode_lengths)
    m = dataset.meta
    out: dict[str, Any] = {
        "source": m.source,
        "env_id": m.env_id,
        "episodes": dataset.num_episodes,
        "transitions": dataset.num_transitions,
        "terminal_episodes": int(np.asarray(dataset.terminals).sum()),
        "timeout_episodes": int(np.asarray(dataset.timeouts & ~dataset.terminals).sum()),
        "return_mean": float(returns.mean()),
        "return_std": float(returns.std()),
        "return_min": float(returns.min()),
        "return_max": float(returns.max()),
        "length_mean": float(lengths.mean()),
        "observation_shape": list(m.observation_shape),
        "action_space": (
            f"Discrete({m.num_actions})" if m.discrete
            else f"Box(low={list(m.action_low) if m.action_low else None}, "
                 f"high={list(m.action_high) if m.action_high else None}, "
                 f"shape=({m.action_dim},))"
        ),
        "ref_min_score": m.ref_min_score,
        "ref_max_score": m.ref_max_score,
    }
    if m.ref_min_score is not None and m.ref_max_score is not None:
        span = m.ref_max_score - m.ref_min_score
        out["normalized_return_mean"] = float(100.0 * (returns.mean() - m.ref_min_score) / span)
    return out
