"""Dataset-quality metrics of "A Dataset Perspective on Offline RL" (Schweighofer et al., 2022):
trajectory quality (TQ) and state-action coverage (SACo). Jittable; no Python loop over data."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxrl_suite.data.dataset import Dataset
from jaxrl_suite.data.validate import fail

SACO_BINS = 100  # the authors' evaluator digitises each dimension into 100 bins


def trajectory_quality(
    dataset: Dataset, ref_min: float | None = None, ref_max: float | None = None
) -> jax.Array:
    """Returns TQ = (mean episode return - ref_min) / (ref_max - ref_min), a scalar.

    Schweighofer et al. (2022), Sec. 3 / ml-jku/OfflineRL `source/plotting/create_plots.py`:
    ref_min is the random dataset's mean return and ref_max the online policy's best return; by
    default the dataset's Minari ``ref_min_score`` / ``ref_max_score`` play those roles.
    """
    ref_min = dataset.meta.ref_min_score if ref_min is None else ref_min
    ref_max = dataset.meta.ref_max_score if ref_max is None else ref_max
    if ref_min is None or ref_max is None:
        fail(dataset.meta.source, "ref_min_score/ref_max_score",
             "reference returns (from the dataset's metadata or given explicitly) to compute TQ",
             "none")
    if not ref_max != ref_min:
        fail(dataset.meta.source, "ref_min_score/ref_max_score", "two different values",
             f"both {ref_min}")
    return (jnp.mean(dataset.episode_returns()) - ref_min) / (ref_max - ref_min)


def state_action_rows(dataset: Dataset) -> jax.Array:
    """Returns [N, obs_size + action_size] float32 rows: flattened state, then action."""
    n = dataset.num_transitions
    obs = dataset.observations.reshape(n, -1).astype(jnp.float32)
    act = dataset.actions.reshape(n, -1).astype(jnp.float32)
    return jnp.concatenate([obs, act], axis=1)


# Rows wider than this are grouped by a 64-bit hash before the exact adjacent comparison: a
# sort with one key per dimension (``jnp.lexsort`` over 401 keys for MinAtar's 10x10x4
# observations and an action) runs for tens of minutes on a CPU over 200k rows.
LEXSORT_MAX_DIMS = 16


def _fmix32(h: jax.Array) -> jax.Array:
    """MurmurHash3's 32-bit finaliser (uint32 in, uint32 out, wrapping arithmetic)."""
    h = h ^ (h >> 16)
    h = h * jnp.uint32(0x85EBCA6B)
    h = h ^ (h >> 13)
    h = h * jnp.uint32(0xC2B2AE35)
    return h ^ (h >> 16)


def row_hashes(rows: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Returns two uint32 hashes [N] of each float32 row [N, D]: per element, its bits mixed
    with a per-dimension salt (``_fmix32``), summed over the row (mod 2^32); equal rows get
    equal hashes."""
    rows = rows.astype(jnp.float32)
    # -0.0 == 0.0 must hash alike (``x + 0.0`` may be simplified away under jit)
    bits = jax.lax.bitcast_convert_type(jnp.where(rows == 0, 0.0, rows), jnp.uint32)
    dims = jnp.arange(rows.shape[1], dtype=jnp.uint32)
    salt1 = _fmix32(dims * jnp.uint32(0x9E3779B9) + jnp.uint32(1))
    salt2 = _fmix32(dims * jnp.uint32(0x7FEB352D) + jnp.uint32(0x165667B1))
    h1 = jnp.sum(_fmix32(bits ^ salt1), axis=1, dtype=jnp.uint32)
    h2 = jnp.sum(_fmix32(bits + salt2), axis=1, dtype=jnp.uint32)
    return h1, h2


def count_unique_rows(rows: jax.Array) -> jax.Array:
    """Returns the number of distinct rows of ``rows`` [N, D] (sort-based, jittable).

    Rows are sorted so that equal rows are adjacent, then adjacent rows are compared in full.
    Up to ``LEXSORT_MAX_DIMS`` columns the sort is a lexicographic one over every column (exact).
    Wider rows are sorted by two 32-bit hashes (``row_hashes``): equal rows share them, so the
    count is exact unless two different rows collide in all 64 bits (probability ~N^2 / 2^65,
    ~1e-9 at N = 200k) and, sorted between copies of each other, are counted twice.
    """
    rows = rows + 0.0  # -0.0 and 0.0 are the same state
    if rows.shape[1] <= LEXSORT_MAX_DIMS:
        # lexsort sorts by its last key first; any consistent key order groups equal rows.
        order = jnp.lexsort(tuple(rows[:, d] for d in range(rows.shape[1])))
    else:
        h1, h2 = row_hashes(rows)
        order = jnp.lexsort((h2, h1))
    s = rows[order]
    new_row = jnp.any(s[1:] != s[:-1], axis=1)
    return 1 + jnp.sum(new_row, dtype=jnp.int32)


def discretise(rows: jax.Array, low: jax.Array, high: jax.Array,
               bins: int = SACO_BINS) -> jax.Array:
    """Returns rows digitised per dimension into ``bins`` edges between ``low`` and ``high``.

    As the authors' evaluator: ``np.digitize(x, np.linspace(low, high, bins))`` per dimension.
    """
    edges = jnp.linspace(low, high, bins, axis=-1)  # [D, bins]
    return jax.vmap(lambda col, e: jnp.digitize(col, e), in_axes=(1, 0), out_axes=1)(
        rows, edges).astype(jnp.float32)


def unique_state_actions(dataset: Dataset, bins: int | None = None,
                         limits: tuple[jax.Array, jax.Array] | None = None) -> jax.Array:
    """Returns the number of unique (state, action) pairs; exact unless ``bins`` is given.

    With ``bins``, each dimension is first digitised between ``limits`` (low [D], high [D]),
    by default this dataset's own per-dimension min/max.
    """
    rows = state_action_rows(dataset)
    if bins is not None:
        low, high = limits if limits is not None else (rows.min(axis=0), rows.max(axis=0))
        rows = discretise(rows, low, high, bins)
    return count_unique_rows(rows)


def state_action_coverage(dataset: Dataset, reference: Dataset,
                          bins: int | None = None) -> jax.Array:
    """Returns SACo = u_sa(dataset) / u_sa(reference), a scalar.

    Schweighofer et al. (2022), Sec. 3: the reference is the same env's replay dataset (SACo 1
    by construction; others may exceed 1). The paper's code counts approximately (HyperLogLog)
    after binning; this counts exactly, and with ``bins`` digitises both datasets between the
    reference's per-dimension min/max, as the authors' evaluator does.
    """
    if state_action_rows(dataset).shape[1] != state_action_rows(reference).shape[1]:
        fail(reference.meta.source, "observations/actions",
             f"the same state-action size as {dataset.meta.source or 'the dataset'}",
             "a different one")
    limits = None
    if bins is not None:
        ref_rows = state_action_rows(reference)
        limits = (ref_rows.min(axis=0), ref_rows.max(axis=0))
    mine = unique_state_actions(dataset, bins, limits)
    theirs = unique_state_actions(reference, bins, limits)
    return mine / theirs
