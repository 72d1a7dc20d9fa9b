"""Datasets: the pytree, validation, file I/O and samplers."""

from jaxrl_suite.data.dataset import Dataset, DatasetMeta, concatenate, from_arrays, summary
from jaxrl_suite.data.io import (
    from_minari_dataset,
    load,
    load_hdf5,
    load_minari,
    load_npz,
    local_minari_ids,
    minari_root,
    save_hdf5,
    save_minari,
    save_npz,
    to_minari_episode_buffers,
)

__all__ = [
    "Dataset",
    "DatasetMeta",
    "concatenate",
    "from_arrays",
    "from_minari_dataset",
    "load",
    "load_hdf5",
    "load_minari",
    "load_npz",
    "local_minari_ids",
    "minari_root",
    "save_hdf5",
    "save_minari",
    "save_npz",
    "summary",
    "to_minari_episode_buffers",
]
