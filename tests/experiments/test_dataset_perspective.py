"""The Dataset Perspective learner study at --scale=tiny: discrete learners on every recipe of
the perspective-tiny suite (CartPole, Breakout-MinAtar), its tables and plots, written to
results/<experiment>/tiny/ beside a copy of the committed results, which stay byte-identical;
the rank correlation against scipy."""

import csv

import numpy as np
import pytest
from scipy import stats

from experiments import dataset_perspective as dp
from experiments.common import spearman
from jaxrl_suite.agents import DISCRETE_LEARNERS
from jaxrl_suite.errors import SuiteError
from jaxrl_suite.sweep.store import load_records
from tests.experiments.committed import CommittedResults


def test_spearman_matches_scipy_with_ties():
    rng = np.random.default_rng(0)
    for _ in range(20):
        x = rng.integers(0, 5, 12).astype(float)  # ties
        y = rng.normal(size=12)
        expected = stats.spearmanr(x, y).statistic
        assert spearman(x, y) == pytest.approx(expected, abs=1e-12)
    assert spearman(np.ones(5), np.arange(5.0)) is None  # constant: undefined


def test_learner_rows_refuse_seeds_whose_curves_differ_in_length():
    def run(seed, steps):
        return dict(config=dict(algo="bc", dataset="CartPole-v1/replay", seed=seed),
                    curve=dict(score=[50.0] * steps), diverged=False)
    quality = {"CartPole-v1/replay": dict(tq=1.0, saco=1.0)}
    assert dp.learner_rows([run(0, 3), run(1, 3)], quality)[0]["score_final"] == 50.0
    with pytest.raises(SuiteError, match=r"bc on CartPole-v1/replay: .*found \[3, 6\]"):
        dp.learner_rows([run(0, 3), run(1, 6)], quality)


# Three learners keep the test's compiles down (each learner has its own learns-test); the
# study's code path is the same for all nine.
LEARNERS = ["bc", "mce", "crr"]


@pytest.mark.slow
def test_tiny_study_trains_learners_on_every_recipe(tmp_path, tiny_suite_root):
    results = CommittedResults(tmp_path, dp.EXPERIMENT)
    out = results.out
    tiny = dp.SCALES["tiny"]
    assert set(LEARNERS) <= set(DISCRETE_LEARNERS)
    # Into a committed folder, the tiny run is refused before it trains or writes.
    with pytest.raises(SuiteError, match=r"classic: record .*num_updates: 400 vs 5000"):
        dp.run_study(tiny, LEARNERS, list(dp.RECIPES), out.parent / "classic",
                     root=tiny_suite_root, log=lambda _: None, progress=False, reps=200)
    rows = dp.run_study(tiny, LEARNERS, list(dp.RECIPES), out,
                        root=tiny_suite_root, log=lambda _: None, progress=False, reps=200)
    envs = ["CartPole-v1", "Breakout-MinAtar"]
    assert len(rows) == len(LEARNERS) * len(dp.RECIPES) * len(envs)
    assert {(r["learner"], r["env"], r["dataset"]) for r in rows} == {
        (a, e, r) for a in LEARNERS for e in envs for r in dp.RECIPES}
    for r in rows:
        assert np.isfinite([r["tq"], r["saco"], r["score_final"], r["score_paper"]]).all()
        assert r["score_paper"] >= r["score_final"] - 1e-6 or r["diverged_seeds"]
    written = list(csv.DictReader(open(out / "learners.csv")))
    assert len(written) == len(rows) and set(dp.COLUMNS) == set(written[0])
    quality = {r["dataset"]: float(r["saco"]) for r in csv.DictReader(
        open(out / "dataset_quality.csv")) if r["env"] == "CartPole-v1"}
    assert quality["replay"] == 1.0  # SACo is relative to the replay dataset
    assert len(list(csv.DictReader(open(out / "correlations.csv")))) == len(LEARNERS)
    wide = list(csv.DictReader(open(out / "scores.csv")))  # env x recipe: TQ, SACo, each score
    assert len(wide) == len(envs) * len(dp.RECIPES) and set(LEARNERS) <= set(wide[0])
    assert (out / "tq_saco_all.png").stat().st_size > 1000
    # On the shared results store: one record per learner x dataset x seed, and its report.
    records = load_records(out)
    assert len(records) == len(rows) * tiny.num_seeds
    assert {r["config"]["overrides"]["learning_rate"] for r in records} == {1e-3}
    assert {(r["config"]["num_updates"], tuple(r["config"]["learner_config"]["hidden_sizes"]))
            for r in records} == {(tiny.num_updates, tiny.hidden_sizes)}
    aggregates = list(csv.DictReader(open(out / "report" / "aggregates.csv")))
    assert {r["method"] for r in aggregates} == set(LEARNERS)
    assert {int(r["runs"]) for r in aggregates} == {tiny.num_seeds}  # tiny records only
    results.assert_only_tiny_written()
