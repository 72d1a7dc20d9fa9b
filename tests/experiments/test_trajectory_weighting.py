"""The trajectory-weighting study at --scale=tiny: CQL, IQL and TD3+BC with uniform, RW and AW
sampling on every mixed-sigma dataset of the tiny suite, through the sweep store (a re-run
trains nothing), its table beside the paper's numbers, and the reference file. The study runs
in results/<experiment>/tiny/ beside a copy of the committed default results, which it must
leave byte-identical (and refuse to mix with)."""

import collections
import csv
import math

import pytest

from experiments import trajectory_weighting as tw
from experiments.common import load_reference
from jaxrl_suite.errors import SuiteError
from jaxrl_suite.generate.recipes import MIXED_SIGMAS
from jaxrl_suite.sweep.runner import SAMPLING
from jaxrl_suite.sweep.store import load_records
from tests.experiments.committed import CommittedResults, digests

SCALE = tw.SCALES["tiny"]
PROGRAMS_PER_ALGO = len(MIXED_SIGMAS) * len(SAMPLING)


@pytest.fixture(scope="module")
def tiny_run(tiny_suite_root, tmp_path_factory):
    """Returns (the CommittedResults it ran in, first run's (rows, summaries), second run's) of
    the whole tiny study at its default results directory."""
    results = CommittedResults(tmp_path_factory.mktemp("tw"), tw.EXPERIMENT)
    first, second = [tw.run_study(SCALE, results.out, tiny_suite_root, log=lambda _: None,
                                  progress=False, report_reps=50) for _ in range(2)]
    return results, first, second


@pytest.fixture(scope="module")
def committed(tiny_run):
    return tiny_run[0]


@pytest.fixture(scope="module")
def study(tiny_run):
    """Returns (out, first run's (rows, summaries), second run's) of the whole tiny study."""
    results, first, second = tiny_run
    return results.out, first, second


@pytest.mark.slow
def test_tiny_run_leaves_the_committed_results_alone_and_reports_only_tiny_records(committed):
    committed.assert_only_tiny_written()
    for name in ["report"] + [f"report/{a}" for a in tw.ALGOS]:
        aggregates = list(csv.DictReader(open(committed.out / name / "aggregates.csv")))
        assert {int(r["runs"]) for r in aggregates} == {SCALE.num_seeds}, name
        assert {int(r["tasks"]) for r in aggregates} == {len(tw.DATASETS)}, name


def test_tiny_run_into_the_committed_default_folder_is_refused_before_training(
        tmp_path, tiny_suite_root):
    # Its own copy of the committed results (not the tiny run's): the refusal comes from
    # planning alone, so this test stays in the fast tier.
    committed = CommittedResults(tmp_path, tw.EXPERIMENT)
    with pytest.raises(SuiteError, match=r"default: record .*num_updates: 200 vs [25]000"):
        tw.run_study(SCALE, committed.out.parent / "default", tiny_suite_root,
                     log=lambda _: None, progress=False, report_reps=50)
    assert digests(committed.root) == committed.before  # nothing trained or written


@pytest.mark.slow
def test_one_record_per_algo_dataset_sampling_and_seed(study):
    out, _, _ = study
    records = load_records(out)
    keys = collections.Counter((r["config"]["algo"], r["config"]["dataset"],
                                r["config"]["sampling"], r["config"]["seed"]) for r in records)
    expected = {(a, d, s, seed) for a in tw.ALGOS for d in tw.DATASETS.values()
                for s in SAMPLING for seed in range(SCALE.num_seeds)}
    assert set(keys) == expected
    assert max(keys.values()) == 1
    for r in records:  # each learner ran at the paper's temperature for it
        assert r["config"]["sampling_temperature"] == tw.TEMPERATURES[r["config"]["algo"]]
        assert r["config"]["sweep"] == tw.SWEEP


@pytest.mark.slow
def test_table_has_every_algo_sampling_sigma_row_with_finite_scores(study):
    out, (rows, _), _ = study
    sigmas = [tw.sigma_pct(s) for s in MIXED_SIGMAS] + ["mean"]
    assert [(r["algo"], r["sampling"], r["sigma_pct"]) for r in rows] == [
        (a, s, p) for a in tw.ALGOS for s in SAMPLING for p in sigmas]
    for r in rows:
        assert math.isfinite(r["score"])
        assert r["updates"] == str(SCALE.num_updates)
        assert r["seeds"] == SCALE.num_seeds * (len(MIXED_SIGMAS) if r["sigma_pct"] == "mean"
                                                else 1)
        assert math.isfinite(r["vs_uniform"])
        if r["sampling"] == "uniform":
            assert r["vs_uniform"] == 0.0
        # The paper reports uniform and AW, not RW.
        assert (r["paper"] is None) == (r["sampling"] == "rw")
    written = list(csv.DictReader(open(out / f"{tw.SWEEP}.csv")))
    assert len(written) == len(rows)
    assert (out / f"{tw.SWEEP}.md").exists()
    assert (out / "report" / "aggregates.md").exists()
    assert all((out / "report" / a / "probability_of_improvement.csv").exists() for a in tw.ALGOS)


@pytest.mark.slow
def test_second_run_trains_nothing(study):
    _, (rows, first), (again, second) = study
    assert [s["trained"] for s in first] == [PROGRAMS_PER_ALGO] * len(tw.ALGOS)
    assert [(s["trained"], s["skipped"], s["records"]) for s in second] == \
        [(0, PROGRAMS_PER_ALGO, 0)] * len(tw.ALGOS)
    assert again == rows


def test_each_learner_runs_at_its_paper_temperature_and_scale_budget():
    specs = tw.sweep_specs(tw.SCALES["default"])
    assert [(s.algos, s.sampling_temperature, s.num_updates) for s in specs] == [
        (("cql",), 0.2, 2_000), (("iql",), 0.1, 5_000), (("td3bc",), 0.1, 5_000)]
    assert all(s.datasets == tuple(tw.DATASETS.values()) and s.sampling == SAMPLING
               for s in specs)


def test_reference_has_uniform_and_aw_for_each_algo_and_sigma():
    rows, _ = load_reference(tw.REFERENCE)
    keys = [(r["algo"], r["sampling"], r["sigma_pct"]) for r in rows]
    assert sorted(keys) == sorted((a, s, tw.sigma_pct(p)) for a in tw.ALGOS
                                  for s in ("uniform", "aw") for p in MIXED_SIGMAS)
    scores = {k: float(r["score"]) for k, r in zip(keys, rows)}
    assert scores[("cql", "uniform", "1")] == 16.32 and scores[("td3bc", "aw", "50")] == 89.53
    # AW beats uniform at every sigma for every learner in the paper's reruns.
    assert all(scores[(a, "aw", p)] > scores[(a, "uniform", p)] for a, _, p in keys)


def test_load_reference_reads_the_source_line():
    _, source = load_reference(tw.REFERENCE)
    assert source.startswith("Hong et al., ICLR 2023")
    assert "Improbable-AI/harness-offline-rl" in source
    assert "#" not in source and "source:" not in source


def test_paper_mean_row_is_the_mean_of_its_four_sigmas():
    reference, _ = load_reference(tw.REFERENCE)
    rows = tw.with_reference([dict(algo="iql", sampling=s, sigma_pct="mean", score=1.0)
                              for s in SAMPLING], reference)
    paper = {r["sampling"]: r["paper"] for r in rows}
    assert paper["uniform"] == pytest.approx((25.54 + 40.72 + 56.33 + 82.97) / 4)
    assert paper["aw"] == pytest.approx((36.03 + 79.95 + 86.61 + 89.87) / 4)
    assert paper["rw"] is None
    assert {r["sampling"]: r["paper_vs_uniform"] for r in rows}["aw"] == pytest.approx(
        paper["aw"] - paper["uniform"])
