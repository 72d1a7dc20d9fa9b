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


def count_unique_rows(rows: jax.Array) -> jax.Array:
    """Returns the exact number of distinct rows of ``rows`` [N, D] (sort-based, jittable)."""
    rows = rows + 0.0  # -0.0 and 0.0 are the same state
    # lexsort sorts by its last key first; any consistent key order groups equal rows together.
    order = jnp.lexsort(tuple(rows[:, d] for d in range(rows.shape[1])))
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
