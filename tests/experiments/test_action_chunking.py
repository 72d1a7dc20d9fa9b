"""The action-chunking study: its sweeps (the single-task learners on every relabelled task,
DQC's variants with reproduce.py's cube hyperparameters and oracle goals), its tables beside
the authors' released numbers on hand-made records, and (slow tier) the tiny study end to end
(generated OGBench data, training, host evaluation) beside a copy of the committed results,
which stay byte-identical."""

import csv

import numpy as np
import pytest

pytest.importorskip("ogbench")

from experiments import action_chunking as ac  # noqa: E402
from experiments.common import load_reference  # noqa: E402
from jaxrl_suite.sweep.store import load_records  # noqa: E402
from tests.experiments.committed import CommittedResults  # noqa: E402

TINY = ac.SCALES["tiny"]


class _Data:
    def __init__(self, width):
        self.observations = np.zeros((2, width), np.float32)


def test_sweeps_cover_every_task_and_variant():
    datasets = {ac.goal_name("cube-double"): _Data(37)}
    specs = ac.sweep_specs(TINY, datasets)
    single, goal = specs
    assert single.algos == tuple(ac.SINGLE_TASK_METHODS)
    assert single.datasets == ("cube-double-play/task1",)
    assert goal.algos == tuple(ac.GOAL_METHODS) and goal.grid == ac.GOAL_HPARAMS
    assert goal.learner_config["goal_dims"] == (19, 20, 21, 28, 29, 30)  # the two cubes' xyz
    paper = ac.SCALES["paper"]
    datasets = {ac.goal_name(d.env): _Data(19 + 9 * n)
                for d, n in zip(paper.goal_conditioned, (2, 3))}
    single, *goals = ac.sweep_specs(paper, datasets)
    assert len(single.datasets) == 15 and single.hidden_sizes is None
    assert single.batch_size == 256 and {g.batch_size for g in goals} == {4096}
    assert len(goals[1].learner_config["goal_dims"]) == 9  # cube-triple


def _record(sweep, algo, dataset, seed, score):
    return dict(config=dict(sweep=f"{ac.EXPERIMENT}_{sweep}", algo=algo, dataset=dataset,
                            seed=seed, hparams={}), final_score=score, diverged=False)


def test_tables_beside_the_released_numbers():
    rng = np.random.default_rng(0)
    records, expected = [], {}
    for seed in range(3):
        for algo in ac.SINGLE_TASK_METHODS:
            for dataset in ("cube-double-play/task1", "scene-play/task1"):
                score = float(rng.uniform(0, 100))
                records.append(_record("single_task", algo, dataset, seed, score))
                expected.setdefault((algo, dataset), []).append(score)
        for algo in ac.GOAL_METHODS:
            records.append(_record("goal_conditioned", algo, "cube-double-play/oraclerep",
                                   seed, 10.0 * seed))
    rows, aggregates = ac.single_task_rows(records, reps=50)
    reference, _ = load_reference("action_chunking_qc")
    paper = {(r["task"], r["method"]): float(r["success"]) for r in reference}
    assert len(rows) == 10 and len(aggregates) == len(ac.SINGLE_TASK_METHODS)
    for r in rows:
        dataset = f"{r['domain']}-play/{r['task']}"
        assert r["success"] == pytest.approx(np.mean(expected[(r["method"], dataset)]))
        assert r["paper"] == paper[(f"{r['domain']}-play-{r['task']}", r["paper_name"])]
    qc = next(r for r in rows if r["method"] == "qc" and r["domain"] == "cube-double")
    assert qc["paper"] == 82.5  # QC's cube-double task 1 at 1M offline steps
    goal = ac.goal_rows(records)
    assert [r["method"] for r in goal] == list(ac.GOAL_METHODS)
    assert {r["paper_domain"] for r in goal} == {"cube-triple"}  # cube-double is not in DQC's
    assert {r["success"] for r in goal} == {10.0}
    lines = ac.finding_lines(aggregates, goal)
    assert lines[0].startswith("Ours, single-task") and "dqc_ns on cube-double" in lines[1]


@pytest.mark.slow
def test_tiny_study_end_to_end(tmp_path):
    results = CommittedResults(tmp_path, ac.EXPERIMENT)
    out = results.out
    result = ac.run_study(TINY, out, tmp_path / "data", log=lambda _: None, progress=False,
                          reps=50)
    records = load_records(out)
    assert len(records) == TINY.num_seeds * (len(ac.SINGLE_TASK_METHODS) + len(ac.GOAL_METHODS))
    dqc = [r for r in records if r["config"]["algo"] == "dqc"]
    assert {r["config"]["env"] for r in dqc} == {"cube-double-oraclerep-v0"}
    assert all(r["config"]["hparams"]["kappa_b"] == 0.93 for r in dqc)
    single = [r for r in records if r["config"]["algo"] == "qc"]
    assert {r["config"]["env"] for r in single} == {"cube-double-singletask-task1-v0"}
    assert all(0.0 <= r["final_score"] <= 100.0 for r in records)  # success rates in %
    written = list(csv.DictReader(open(out / "single_task.csv")))
    assert set(ac.TASK_COLUMNS) == set(written[0]) and len(result["goal_conditioned"]) == 4
    assert (out / "single_task_aggregates.png").stat().st_size > 1000
    assert "ColinQiyangLi/qc" in (out / "findings.md").read_text()
    results.assert_only_tiny_written()
