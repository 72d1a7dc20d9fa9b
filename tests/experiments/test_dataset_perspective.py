"""The Dataset Perspective learner study at --scale=tiny: every discrete learner on every
recipe of the tiny suite, its tables and plots; the rank correlation against scipy."""

import csv

import numpy as np
import pytest
from scipy import stats

from experiments import dataset_perspective as dp
from jaxrl_suite.agents import DISCRETE_LEARNERS


def test_spearman_matches_scipy_with_ties():
    rng = np.random.default_rng(0)
    for _ in range(20):
        x = rng.integers(0, 5, 12).astype(float)  # ties
        y = rng.normal(size=12)
        expected = stats.spearmanr(x, y).statistic
        assert dp._spearman(x, y) == pytest.approx(expected, abs=1e-12)
    assert dp._spearman(np.ones(5), np.arange(5.0)) is None  # constant: undefined


def test_tiny_study_trains_every_learner_on_every_recipe(tmp_path):
    out = tmp_path / "dp"
    rows = dp.run_study(dp.SCALES["tiny"], list(DISCRETE_LEARNERS), list(dp.RECIPES), out,
                        root=tmp_path / "minari", log=lambda _: None)
    assert len(rows) == len(DISCRETE_LEARNERS) * len(dp.RECIPES)  # one discrete env (CartPole)
    assert {(r["learner"], r["dataset"]) for r in rows} == {
        (a, r) for a in DISCRETE_LEARNERS for r in dp.RECIPES}
    for r in rows:
        assert np.isfinite([r["tq"], r["saco"], r["score_final"], r["score_paper"]]).all()
        assert r["score_paper"] >= r["score_final"] - 1e-6 or r["diverged_seeds"]
    written = list(csv.DictReader(open(out / "learners.csv")))
    assert len(written) == len(rows) and set(dp.COLUMNS) == set(written[0])
    quality = {r["dataset"]: float(r["saco"]) for r in csv.DictReader(
        open(out / "dataset_quality.csv")) if r["env"] == "CartPole-v1"}
    assert quality["replay"] == 1.0  # SACo is relative to the replay dataset
    assert len(list(csv.DictReader(open(out / "correlations.csv")))) == len(DISCRETE_LEARNERS)
    for name in [f"tq_saco_{a}.png" for a in DISCRETE_LEARNERS] + ["tq_saco_all.png"]:
        assert (out / name).stat().st_size > 1000
