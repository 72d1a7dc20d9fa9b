"""``make demo``: the suite's main job on its self-generated default datasets.

Builds (or finds cached) the default dataset suite in the local Minari root, then prints the
dataset-quality table of "A Dataset Perspective on Offline RL": per env and recipe, episodes,
transitions, mean return, TQ and SACo (relative to the env's replay dataset). The table is also
written as Markdown and CSV under ``--out`` (default results/generated/demo).
"""

from __future__ import annotations

import pathlib
import time

from jaxrl_suite.generate.suite import build_suite
from jaxrl_suite.report import dataset_quality, tables

DEFAULT_OUT = pathlib.Path("results/generated/demo")


def run(suite: str = "default", root=None, out=None, saco_bins: int | None = 100) -> int:
    """Returns 0 after building the suite and printing its TQ/SACo table."""
    start = time.perf_counter()
    build_suite(suite, root)
    rows = dataset_quality.suite_quality_rows(suite, root, saco_bins)
    columns = dataset_quality.COLUMNS
    out = pathlib.Path(out) if out else DEFAULT_OUT
    md = tables.write_table(out, "dataset_quality", rows, columns)
    print(f"\nDataset quality of the '{suite}' suite (TQ: normalised mean return; SACo: unique "
          f"state-action pairs relative to the replay dataset, "
          f"{f'{saco_bins} bins per dimension' if saco_bins else 'exact values'})\n")
    print(md)
    print(f"\nwritten to {out}/dataset_quality.{{md,csv}} in {time.perf_counter() - start:.0f} s")
    return 0
