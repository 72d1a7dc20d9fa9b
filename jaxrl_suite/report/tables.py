"""Plain tables: rows of dicts rendered as Markdown, CSV or LaTeX (booktabs), written
atomically."""

from __future__ import annotations

import csv
import io
import os
import pathlib
from typing import Any, Sequence

from jaxrl_suite.data.io import atomic_write
from jaxrl_suite.errors import SuiteError

FORMATS = ("md", "csv", "tex")


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
    """Writes ``text`` to ``path`` atomically (``data.io.atomic_write``); returns the path."""
    return atomic_write(path, lambda tmp: pathlib.Path(tmp).write_text(text))


# Every character LaTeX treats specially in text mode; escaped one character at a time, so
# an escape's own backslash is never escaped again.
_LATEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                  "^": r"\textasciicircum{}"}


def latex_escape(text: str) -> str:
    """Returns ``text`` with LaTeX's special characters (& % $ # _ { } ~ ^ \\) escaped."""
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in text)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def latex_table(rows: Sequence[dict[str, Any]], columns: Sequence[str],
                caption: str | None = None) -> str:
    """Returns ``rows`` as a booktabs LaTeX tabular (inside a ``table`` float with the caption
    when ``caption`` is given); numeric columns are right-aligned, cells escaped."""
    align = "".join("r" if rows and all(_is_number(r.get(c)) or r.get(c) is None for r in rows)
                    else "l" for c in columns)
    lines = [rf"\begin{{tabular}}{{{align}}}", r"\toprule",
             " & ".join(latex_escape(str(c)) for c in columns) + r" \\", r"\midrule"]
    lines += [" & ".join(latex_escape(_cell(r.get(c))) for c in columns) + r" \\" for r in rows]
    lines += [r"\bottomrule", r"\end{tabular}"]
    if caption is None:
        return "\n".join(lines)
    return "\n".join([r"\begin{table}[t]", r"\centering", rf"\caption{{{latex_escape(caption)}}}",
                      *lines, r"\end{table}"])


def interval_cell(value: float, lo: float, hi: float, digits: int = 1) -> str:
    """Returns "value [lo, hi]" with ``digits`` decimals."""
    return f"{value:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def interval_rows(rows: Sequence[dict[str, Any]], names: Sequence[str], digits: int = 1
                  ) -> list[dict[str, Any]]:
    """Returns copies of ``rows`` where each of ``names`` is the "value [lo, hi]" cell of the
    row's ``name``, ``name_lo`` and ``name_hi``."""
    return [{**r, **{n: interval_cell(r[n], r[f"{n}_lo"], r[f"{n}_hi"], digits) for n in names}}
            for r in rows]


def write_table(directory: str | os.PathLike, name: str, rows: Sequence[dict[str, Any]],
                columns: Sequence[str], formats: Sequence[str] = ("md", "csv"),
                caption: str | None = None) -> str:
    """Returns the Markdown text of ``rows`` after writing ``<name>.<format>`` in
    ``directory`` for each of ``formats`` ("md", "csv", "tex"; ``caption`` goes to "tex")."""
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise SuiteError(f"table '{name}': field 'formats': expected some of {FORMATS}, found "
                         f"{unknown}")
    md = markdown_table(rows, columns)
    render = {"md": lambda: md + "\n", "csv": lambda: csv_text(rows, columns),
              "tex": lambda: latex_table(rows, columns, caption) + "\n"}
    for fmt in formats:
        write_text(pathlib.Path(directory) / f"{name}.{fmt}", render[fmt]())
    return md
