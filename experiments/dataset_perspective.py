"""The dataset table of "A Dataset Perspective on Offline RL" (Schweighofer et al., 2022).

Builds (or finds cached) a generated suite, then writes the TQ / SACo table (env x recipe) as
Markdown and CSV under --out (default results/dataset_perspective/):

    .venv/bin/python experiments/dataset_perspective.py                 # the default suite
    .venv/bin/python experiments/dataset_perspective.py --suite=tiny --out=/tmp/dp
"""

from __future__ import annotations

import pathlib

from absl import app, flags

from jaxrl_suite.generate.suite import build_suite
from jaxrl_suite.report import dataset_quality, tables

_SUITE = flags.DEFINE_string("suite", "default", "Generated dataset suite.")
_ROOT = flags.DEFINE_string("minari_root", None, "Local Minari root (default: "
                            "$MINARI_DATASETS_PATH, else Minari's default).")
_OUT = flags.DEFINE_string("out", "results/dataset_perspective", "Output directory.")
_BINS = flags.DEFINE_integer("saco_bins", 100, "Bins per dimension for SACo (0 = exact).")


def main(argv: list[str]) -> None:
    del argv
    build_suite(_SUITE.value, _ROOT.value)
    rows = dataset_quality.suite_quality_rows(_SUITE.value, _ROOT.value, _BINS.value or None)
    out = pathlib.Path(_OUT.value)
    columns = dataset_quality.COLUMNS
    print(tables.write_table(out, "dataset_quality", rows, columns))
    print(f"written to {out}/dataset_quality.{{md,csv}}")


if __name__ == "__main__":
    app.run(main)
