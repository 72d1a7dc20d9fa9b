"""What every paper experiment shares: the paper's reference numbers beside ours."""

from __future__ import annotations

import csv
import math
import pathlib
import time
from typing import Any, Sequence

from jaxrl_suite.report import tables
from jaxrl_suite.report.stats import FAILED_RUN_SCORE

REFERENCE_DIR = pathlib.Path(__file__).resolve().parent.parent / "results" / "reference"


def load_reference(name: str) -> tuple[list[dict[str, str]], str]:
    """Returns (rows, source) of ``results/reference/<name>.csv``: its data rows and the
    citation in its leading ``# source:`` comment lines."""
    path = REFERENCE_DIR / f"{name}.csv"
    lines = path.read_text().splitlines()
    source = " ".join(l.lstrip("# ").removeprefix("source:").strip()
                      for l in lines if l.startswith("#"))
    rows = list(csv.DictReader(l for l in lines if not l.startswith("#")))
    return rows, source


def beside_reference(rows: Sequence[dict[str, Any]], reference: Sequence[dict[str, str]],
                     keys: Sequence[str], theirs: str,
                     out_column: str = "paper") -> list[dict[str, Any]]:
    """Returns ``rows`` each with ``out_column`` = the reference row's ``theirs`` value whose
    ``keys`` match (as strings), or None where the paper has no comparable number."""
    index = {tuple(r[k] for k in keys): r[theirs] for r in reference}
    merged = []
    for row in rows:
        value = index.get(tuple(str(row[k]) for k in keys))
        merged.append({**row, out_column: float(value) if value not in (None, "") else None})
    return merged


def final_score(record: dict[str, Any]) -> float:
    """Returns the record's final normalised score; a diverged run's missing one is a failure
    (``report.stats.FAILED_RUN_SCORE``), as the report counts it."""
    score = record.get("final_score")
    score = math.nan if score is None else float(score)
    return FAILED_RUN_SCORE if record.get("diverged") and not math.isfinite(score) else score


def print_study(rows: Sequence[dict[str, Any]], columns: Sequence[str], reference: str,
                reference_label: str, note: str, summaries: Sequence[dict[str, Any]],
                start: float, out: pathlib.Path) -> None:
    """Prints a study's table, its reference's citation, its setting note and what trained."""
    _, source = load_reference(reference)
    print(tables.markdown_table(rows, columns))
    print(f"{reference_label}: {source}")
    print(note)
    trained = sum(s["trained"] for s in summaries)
    skipped = sum(s["skipped"] for s in summaries)
    print(f"{trained} programs trained, {skipped} skipped, in {time.perf_counter() - start:.0f} "
          f"s; written to {out}/")
