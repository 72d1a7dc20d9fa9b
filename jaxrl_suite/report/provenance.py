"""Warnings for a report that merges records which are not one measurement: records of
different code versions, or of one dataset name whose content differs between records."""

from __future__ import annotations

import collections
from typing import Any, Mapping, Sequence

from jaxrl_suite.provenance import UNKNOWN, version_label


def _counted(counter: collections.Counter) -> str:
    return ", ".join(f"{value} ({n} record{'s' * (n != 1)})"
                     for value, n in sorted(counter.items()))


def provenance_warnings(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """Returns one line per problem: the records span several code versions, or a dataset
    name maps to several content fingerprints. Records written before these fields existed
    count as "unknown" (a store of only such records gives no warning)."""
    notes = []
    versions = collections.Counter(version_label(r.get("code_version")) for r in records)
    if len(versions) > 1:
        notes.append(f"report: merging records of {len(versions)} code versions: "
                     f"{_counted(versions)}; scores may differ by code, not only by method")
    by_dataset: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for r in records:
        fingerprint = r.get("dataset_fingerprint") or UNKNOWN
        by_dataset[str(r["config"].get("dataset"))][fingerprint[:12]] += 1
    for name, fingerprints in sorted(by_dataset.items()):
        if len(fingerprints) > 1:
            notes.append(f"report: dataset '{name}' has {len(fingerprints)} different contents "
                         f"among the merged records (fingerprints {_counted(fingerprints)}); "
                         "its scores are not one task")
    return notes
