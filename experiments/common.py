"""What every paper experiment shares: the paper's reference numbers beside ours."""

from __future__ import annotations

import csv
import pathlib
from typing import Any, Sequence

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
