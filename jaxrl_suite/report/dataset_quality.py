"""The TQ / SACo table of a generated suite (Schweighofer et al., 2022, Table/Fig. of datasets)."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from jaxrl_suite.data import io
from jaxrl_suite.generate.suite import dataset_id, get_suite, suite_dataset_ids
from jaxrl_suite.transforms.quality import state_action_coverage, trajectory_quality

COLUMNS = ("env", "dataset", "episodes", "transitions", "return_mean", "return_std", "tq",
           "saco")


def dataset_quality(dataset, reference=None, bins: int | None = None) -> dict[str, Any]:
    """Returns the ``info --json`` facts of one dataset: sizes, return stats, TQ and SACo.

    TQ is None when the dataset has no reference returns; SACo is None without a reference.
    """
    returns = np.asarray(dataset.episode_returns())
    m = dataset.meta
    has_refs = m.ref_min_score is not None and m.ref_max_score is not None
    return dict(
        episodes=dataset.num_episodes,
        transitions=dataset.num_transitions,
        return_mean=float(returns.mean()),
        return_std=float(returns.std()),
        tq=float(trajectory_quality(dataset)) if has_refs else None,
        saco=(float(state_action_coverage(dataset, reference, bins))
              if reference is not None else None),
    )


def suite_quality_rows(suite: str, root: Any = None, bins: int | None = None,
                       envs: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Returns one row per dataset of a built suite (of ``envs`` only, when given): env,
    dataset name, sizes, returns, TQ and SACo relative to the env's replay dataset."""
    spec = get_suite(suite)
    rows = []
    for env_name, ids in suite_dataset_ids(spec, envs).items():
        reference = io.load_minari(dataset_id(suite, env_name, "replay"), root=root)
        for ds_id in ids:
            ds = reference if ds_id.endswith("/replay-v0") else io.load_minari(ds_id, root=root)
            name = ds_id.rsplit("/", 1)[-1].rsplit("-v", 1)[0]
            rows.append(dict(env=env_name, dataset=name, **dataset_quality(ds, reference, bins)))
    return rows
