"""Plain tables: rows of dicts rendered as Markdown or CSV, written atomically."""

from __future__ import annotations

import csv
import io
import os
import pathlib
from typing import Any, Sequence


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def markdown_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """Returns ``rows`` as a GitHub Markdown table with the given column order."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def csv_text(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """Returns ``rows`` as CSV text (full precision) with the given column order."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def write_text(path: str | os.PathLike, text: str) -> pathlib.Path:
    """Writes ``text`` to ``path`` atomically (temp file then rename); returns the path."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return path


def write_table(directory: str | os.PathLike, name: str, rows: Sequence[dict[str, Any]],
                columns: Sequence[str]) -> str:
    """Writes ``rows`` as ``<name>.md`` and ``<name>.csv`` in ``directory``; returns the
    Markdown text."""
    md = markdown_table(rows, columns)
    write_text(pathlib.Path(directory) / f"{name}.md", md + "\n")
    write_text(pathlib.Path(directory) / f"{name}.csv", csv_text(rows, columns))
    return md
