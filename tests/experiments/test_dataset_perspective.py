"""The Dataset Perspective learner study at --scale=tiny: discrete learners on every recipe of
the tiny suite, its tables and plots; the rank correlation against scipy."""

import csv

import numpy as np
import pytest
from scipy import stats

from experiments import dataset_perspective as dp
from jaxrl_suite.agents import DISCRETE_LEARNERS
from jaxrl_suite.sweep.store import load_records


def test_spearman_matches_scipy_with_ties():
    rng = np.random.default_rng(0)
    for _ in range(20):
        x = rng.integers(0, 5, 12).astype(float)  # ties
        y = rng.normal(size=12)
        expected = stats.spearmanr(x, y).statistic
        assert dp._spearman(x, y) == pytest.approx(expected, abs=1e-12)
    assert dp._spearman(np.ones(5), np.arange(5.0)) is None  # constant: undefined


# Three learners keep the test's compiles down (each learner has its own learns-test); the
# study's code path is the same for all eight.
LEARNERS = ["bc", "dqn", "crr"]


def test_tiny_study_trains_learners_on_every_recipe(tmp_path, tiny_suite_root):
    out = tmp_path / "dp"
    assert set(LEARNERS) <= set(DISCRETE_LEARNERS)
    rows = dp.run_study(dp.SCALES["tiny"], LEARNERS, list(dp.RECIPES), out,
                        root=tiny_suite_root, log=lambda _: None, progress=False, reps=200)
    assert len(rows) == len(LEARNERS) * len(dp.RECIPES)  # one discrete env (CartPole)
    assert {(r["learner"], r["dataset"]) for r in rows} == {
        (a, r) for a in LEARNERS for r in dp.RECIPES}
    for r in rows:
        assert np.isfinite([r["tq"], r["saco"], r["score_final"], r["score_paper"]]).all()
        assert r["score_paper"] >= r["score_final"] - 1e-6 or r["diverged_seeds"]
    written = list(csv.DictReader(open(out / "learners.csv")))
    assert len(written) == len(rows) and set(dp.COLUMNS) == set(written[0])
    quality = {r["dataset"]: float(r["saco"]) for r in csv.DictReader(
        open(out / "dataset_quality.csv")) if r["env"] == "CartPole-v1"}
    assert quality["replay"] == 1.0  # SACo is relative to the replay dataset
    assert len(list(csv.DictReader(open(out / "correlations.csv")))) == len(LEARNERS)
    assert (out / "tq_saco_all.png").stat().st_size > 1000
    # On the shared results store: one record per learner x dataset x seed, and its report.
    records = load_records(out)
    assert len(records) == len(rows) * dp.SCALES["tiny"].num_seeds
    assert {r["config"]["overrides"]["learning_rate"] for r in records} == {1e-3}
    methods = {r["method"] for r in csv.DictReader(open(out / "report" / "aggregates.csv"))}
    assert methods == set(LEARNERS)
