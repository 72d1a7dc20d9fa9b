"""The locomotion learners study at --scale=tiny: all eight learners (model-based ones with
their dynamics ensemble) train with seeds vmapped on a D4RL-recipe Hopper-v5 dataset of the
mujoco-tiny suite, evaluate in C MuJoCo and report D4RL-normalised scores beside CORL's and
OfflineRL-Kit's numbers; a re-run trains nothing."""

import math

import pytest

from experiments import locomotion_learners as ll
from experiments.common import load_reference
from jaxrl_suite.sweep.store import load_records

SCALE = ll.SCALES["tiny"]


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("loco_root")
    out = tmp_path_factory.mktemp("loco")
    first = ll.run_study(SCALE, out, root, log=lambda _: None, progress=False)
    second = ll.run_study(SCALE, out, root, log=lambda _: None, progress=False)
    return out, first, second


def test_every_learner_scores_every_seed(study):
    out, (rows, summaries), _ = study
    records = load_records(out)
    assert {(r["config"]["algo"], r["config"]["seed"]) for r in records} == {
        (a, s) for a in ll.ALGOS for s in range(SCALE.num_seeds)}
    for row in rows:
        assert row["seeds"] == SCALE.num_seeds and row["diverged"] == 0, row
        assert math.isfinite(row["score"]) and row["seconds"] > 0, row
    assert sum(s["trained"] for s in summaries) == len(ll.ALGOS)


def test_rerun_trains_nothing(study):
    _, (rows, _), (again, summaries) = study
    assert sum(s["trained"] for s in summaries) == 0
    assert again == rows


def test_reference_rows_cover_every_learner_and_task():
    reference, source = load_reference(ll.REFERENCE)
    assert "CORL" in source and "OfflineRL-Kit" in source
    tasks = {f"{robot}-{level}-v2" for robot in ("halfcheetah", "hopper", "walker2d")
             for level in ("medium", "medium-replay", "medium-expert")}
    for algo in ll.ALGOS:
        assert {r["task"] for r in reference if r["algo"] == algo} == tasks, algo
    paper = ll.SCALES["paper"]
    rows = ll.score_rows([], paper, ll.ALGOS)
    assert all(r["reference"] is not None for r in rows)
    assert pytest.approx(next(r["reference"] for r in rows if (r["algo"], r["env"], r["level"])
                              == ("td3bc", "Hopper-v5", "medium-replay"))) == 64.42
