"""write_report: writes every table and figure for a realistic sweep, and returns the
aggregate table with one "value [lo, hi]" row per method."""

import re

import numpy as np
import pytest

from jaxrl_suite.errors import SuiteError
from jaxrl_suite.report import summary
from tests.report.records import grid_records, record

METHODS = {"bc/uniform": 30.0, "iql/uniform": 55.0, "iql/rw": 70.0}
TASKS = ["replay", "expert", "noisy", "random"]


@pytest.mark.slow  # full tier: 15-46 s in the fast tier (BUILD_NOTES "Session 13")
def test_write_report_writes_every_file_and_lists_each_method(tmp_path):
    records = grid_records(METHODS, TASKS, 16, np.random.default_rng(0))
    records[3] = record("bc", TASKS[0], 3, None, diverged=True)
    quality = [dict(env="CartPole-v1", dataset=t, tq=0.2 * i, saco=1.0 - 0.2 * i)
               for i, t in enumerate(TASKS)]
    md = summary.write_report(records, tmp_path, dataset_quality_rows=quality)

    expected = {f"{name}.{ext}" for name in ("aggregates", "per_task",
                                             "probability_of_improvement")
                for ext in ("md", "csv", "tex")}
    expected |= {"learning_curves.png", "performance_profile.png", "aggregates.png",
                 "tq_saco.png"}
    assert {p.name for p in tmp_path.iterdir()} == expected
    for method in METHODS:
        line = next(line for line in md.splitlines() if line.startswith(f"| {method} |"))
        assert len(re.findall(r"-?\d+\.\d \[-?\d+\.\d, -?\d+\.\d\]", line)) == 4
        assert "| 16 | 4 |" in line
    per_task = (tmp_path / "per_task.csv").read_text().splitlines()
    assert len(per_task) == 1 + len(METHODS) * len(TASKS)
    assert "bc/uniform,replay,CartPole-v1,16,1," in "\n".join(per_task)
    poi = (tmp_path / "probability_of_improvement.csv").read_text().splitlines()
    assert [line.split(",")[:2] for line in poi[1:]] == [["iql/rw", "bc/uniform"],
                                                          ["iql/uniform", "bc/uniform"]]


def test_write_report_of_one_method_skips_probability_of_improvement(tmp_path):
    records = grid_records({"iql/uniform": 50.0}, ["a", "b"], 3, np.random.default_rng(1))
    md = summary.write_report(records, tmp_path, reps=50)
    assert "iql/uniform" in md
    assert not (tmp_path / "probability_of_improvement.md").exists()
    assert not (tmp_path / "tq_saco.png").exists()
    with pytest.raises(SuiteError, match="baseline"):
        summary.write_report(records, tmp_path, reps=20, baseline="bc/uniform")


def test_tq_saco_rows_match_minari_ids_to_quality_rows():
    scores = {"iql": np.array([[10.0, 20.0], [30.0, 40.0]])}
    tasks = ["suite/CartPole-v1/expert-v0", "suite/CartPole-v1/replay-v0"]
    envs = {t: "CartPole-v1" for t in tasks}
    quality = [dict(env="CartPole-v1", dataset="replay", tq=0.5, saco=1.0)]
    rows = summary.tq_saco_rows(scores, tasks, envs, quality)
    assert rows == [dict(learner="iql", env="CartPole-v1", dataset="replay", tq=0.5, saco=1.0,
                         score=30.0)]
    with pytest.raises(SuiteError, match="dataset_quality_rows"):
        summary.tq_saco_rows(scores, tasks, envs, [dict(env="Acrobot-v1", dataset="replay",
                                                        tq=0.1, saco=0.1)])
