"""The locomotion learners study at --scale=tiny: all eight learners (model-based ones with
their dynamics ensemble) train with seeds vmapped on a D4RL-recipe Hopper-v5 dataset of the
mujoco-tiny suite, evaluate in C MuJoCo and report D4RL-normalised scores beside CORL's and
OfflineRL-Kit's numbers; a re-run trains nothing. The study runs in results/<experiment>/tiny/
beside a copy of the committed default results, which it must leave byte-identical (and refuse
to mix with)."""

import math

import pytest

from experiments import locomotion_learners as ll
from experiments.common import load_reference
from jaxrl_suite.errors import SuiteError
from jaxrl_suite.sweep.store import load_records
from tests.experiments.committed import CommittedResults

pytestmark = pytest.mark.slow  # the full tier (`make test-all`, CI): see tests/conftest.py

SCALE = ll.SCALES["tiny"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, mujoco_tiny_built):
    """Returns (the Minari root, the CommittedResults it ran in, first run's (rows, summaries),
    second run's) of the tiny study at its default results directory, on the mujoco-tiny suite
    the session built once (conftest)."""
    root, _ = mujoco_tiny_built
    results = CommittedResults(tmp_path_factory.mktemp("loco"), ll.EXPERIMENT)
    first, second = [ll.run_study(SCALE, results.out, root, log=lambda _: None, progress=False)
                     for _ in range(2)]
    return root, results, first, second


@pytest.fixture(scope="module")
def study(tiny_run):
    """Returns (out, first run's (rows, summaries), second run's)."""
    _, results, first, second = tiny_run
    return results.out, first, second


def test_tiny_run_leaves_the_committed_results_alone_and_reads_only_tiny_records(tiny_run):
    root, results, (rows, _), _ = tiny_run
    results.assert_only_tiny_written()
    assert {int(r["updates"]) for r in rows} == {SCALE.num_updates}
    assert {r["config"]["num_updates"] for r in load_records(results.out)} == {SCALE.num_updates}
    # The committed default store holds a Hopper BC run: refused naming its settings.
    with pytest.raises(SuiteError, match=r"default: record .* \(bc on Hopper-v5/medium-replay\) "
                       r"is of another setting than this run \(num_updates: 20 vs 10000"):
        ll.run_study(SCALE, results.out.parent / "default", root, algos=("bc",),
                     log=lambda _: None, progress=False)
    results.assert_only_tiny_written()


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


def test_table_only_trains_nothing_and_leaves_out_rows_without_runs(tiny_run):
    import dataclasses

    root, results, (rows, _), _ = tiny_run
    algos = ("bc", "td3bc")
    again, summaries = ll.run_study(SCALE, results.out, root, algos=algos, log=lambda _: None,
                                    progress=False, table_only=True)
    assert summaries == [] and again == [r for r in rows if r["algo"] in algos]
    unseen = dataclasses.replace(SCALE, eval_every=SCALE.eval_every * 2)  # other hashes
    assert ll.run_study(unseen, results.out, root, algos=algos, log=lambda _: None,
                        progress=False, table_only=True) == ([], [])
    results.assert_only_tiny_written()
