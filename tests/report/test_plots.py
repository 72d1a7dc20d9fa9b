"""Plots: every figure is a PNG written atomically (no temp file left), drawn without pyplot's
global figures, from the inputs the report and the BO driver produce."""

import csv
import io
import sys

import numpy as np
import pytest

from jaxrl_suite.errors import SuiteError
from jaxrl_suite.report import plots, stats
from tests.report.records import grid_records, record

PNG = b"\x89PNG\r\n\x1a\n"


def _assert_png(path, directory):
    assert path.read_bytes()[:8] == PNG
    assert [p.name for p in directory.iterdir() if p.name.startswith(".")] == []


def _pyplot_figures():
    pyplot = sys.modules.get("matplotlib.pyplot")
    return pyplot.get_fignums() if pyplot else []


@pytest.fixture(scope="module")
def records():
    return grid_records({"bc/uniform": 30.0, "iql/uniform": 60.0}, ["a", "b"], 4,
                        np.random.default_rng(0))


def test_result_plots_are_pngs_without_pyplot_figures(tmp_path, records):
    before = _pyplot_figures()
    scores, _ = stats.score_matrices(records)
    rows = stats.aggregate_table(scores, reps=50)
    paths = [plots.learning_curves(records, tmp_path / "curves.png", reps=20),
             plots.performance_profile_plot(scores, tmp_path / "profile.png", reps=20),
             plots.aggregate_plot(rows, tmp_path / "aggregates.png")]
    for p in paths:
        _assert_png(p, tmp_path)
    assert _pyplot_figures() == before


def test_tq_saco_scatter_draws_one_panel_per_learner_even_with_missing_values(tmp_path):
    rows = [dict(learner=l, env=e, dataset=d, tq=tq, saco=saco, score=s)
            for l in ("bc", "iql", "cql")
            for e, d, tq, saco, s in (("CartPole-v1", "replay", 0.4, 1.0, 55.0),
                                      ("CartPole-v1", "expert", 1.0, 0.2, None),
                                      ("Acrobot-v1", "noisy", 0.7, 0.6, 130.0),
                                      ("Acrobot-v1", "random", None, 0.5, 1.0))]
    _assert_png(plots.tq_saco_scatter(rows, tmp_path / "tq.png"), tmp_path)
    with pytest.raises(SuiteError, match=r"missing \['score'\]"):
        plots.tq_saco_scatter([{k: v for k, v in rows[0].items() if k != "score"}],
                              tmp_path / "bad.png")


def test_bo_trace_plot_reads_rows_of_trials_csv(tmp_path):
    text = ("number,round,state,value,x\n0,0,COMPLETE,1.5,0.1\n1,0,FAIL,nan,0.2\n"
            "2,1,COMPLETE,2.5,0.3\n3,1,PRUNED,,0.4\n4,,RUNNING,,0.5\n")
    rows = list(csv.DictReader(io.StringIO(text)))
    _assert_png(plots.bo_trace_plot(rows, tmp_path / "trace.png"), tmp_path)
    _assert_png(plots.bo_trace_plot(rows, tmp_path / "trace_min.png", direction="minimize"),
                tmp_path)
    with pytest.raises(SuiteError, match="direction"):
        plots.bo_trace_plot(rows, tmp_path / "x.png", direction="up")


def test_learning_curves_raise_for_a_dataset_without_reference_returns(tmp_path):
    recs = [record("iql", "a", s, None) for s in (0, 1)]
    with pytest.raises(SuiteError, match="no reference returns"):
        plots.learning_curves(recs, tmp_path / "c.png", reps=10)


def test_interval_lines_and_scatter_panels_draw_one_panel_per_key(tmp_path):
    line = {"x": [10, 30, 100], "y": [1.0, 2.0, 3.0], "lo": [0.5, 1.5, 2.5],
            "hi": [1.5, 2.5, 3.5]}
    panels = {"A": {"bc": line, "cql": line}, "B": {"bc": line}, "C": {"cql": line},
              "D": {"bc": line}}  # four panels: two rows, two blank axes
    _assert_png(plots.interval_lines_plot(panels, tmp_path / "lines.png", xlabel="n",
                                          ylabel="score", xscale="log", title="t"), tmp_path)
    points = {"A": {"bc": ([0.1, 1.0], [3.0, 4.0])}, "B": {"cql": ([2.0], [1.0])}}
    _assert_png(plots.scatter_panels_plot(points, tmp_path / "scatter.png", xlabel="loss",
                                          ylabel="score", xscale="log"), tmp_path)
    for draw in (plots.interval_lines_plot, plots.scatter_panels_plot):
        with pytest.raises(SuiteError, match="field 'panels'"):
            draw({"A": {}}, tmp_path / "bad.png", xlabel="x", ylabel="y")
