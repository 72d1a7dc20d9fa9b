"""Datasets: the pytree, validation, file I/O and samplers."""

from jaxrl_suite.data.dataset import Dataset, DatasetMeta, concatenate, from_arrays, summary

__all__ = ["Dataset", "DatasetMeta", "concatenate", "from_arrays", "summary"]
