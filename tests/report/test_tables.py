"""Tables: LaTeX escapes its special characters with one booktabs row per record; write_table
keeps its Markdown+CSV default and writes LaTeX only when asked."""

import pytest

from jaxrl_suite.errors import SuiteError
from jaxrl_suite.report import tables

ROWS = [dict(method="iql_rw", score=12.5, note="50% & #1"),
        dict(method="bc", score=3, note=None)]
COLUMNS = ("method", "score", "note")


def test_latex_table_escapes_and_has_one_row_per_record():
    tex = tables.latex_table(ROWS, COLUMNS, caption="scores_% of max")
    body = [line for line in tex.splitlines() if line.endswith(r"\\")]
    assert len(body) == 1 + len(ROWS)  # header and one line per row
    assert r"iql\_rw & 12.5 & 50\% \& \#1 \\" in body
    assert r"\caption{scores\_\% of max}" in tex
    assert tex.index(r"\toprule") < tex.index(r"\midrule") < tex.index(r"\bottomrule")
    assert r"\begin{tabular}{lrl}" in tex


def test_latex_table_without_caption_is_a_bare_tabular():
    tex = tables.latex_table(ROWS, COLUMNS)
    assert tex.startswith(r"\begin{tabular}") and tex.endswith(r"\end{tabular}")


def test_latex_escape_never_escapes_an_escape():
    assert tables.latex_escape("a\\b_{c}") == r"a\textbackslash{}b\_\{c\}"


def test_write_table_defaults_to_markdown_and_csv(tmp_path):
    md = tables.write_table(tmp_path, "t", ROWS, COLUMNS)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv", "t.md"]
    assert (tmp_path / "t.md").read_text() == md + "\n"
    tables.write_table(tmp_path, "u", ROWS, COLUMNS, formats=("md", "csv", "tex"))
    assert r"iql\_rw" in (tmp_path / "u.tex").read_text()
    with pytest.raises(SuiteError, match=r"formats.*\['pdf'\]"):
        tables.write_table(tmp_path, "v", ROWS, COLUMNS, formats=("pdf",))


def test_interval_rows_render_value_and_interval():
    rows = tables.interval_rows([dict(method="a", iqm=51.234, iqm_lo=40.0, iqm_hi=60.06)],
                                ["iqm"])
    assert rows == [dict(method="a", iqm="51.2 [40.0, 60.1]", iqm_lo=40.0, iqm_hi=60.06)]
