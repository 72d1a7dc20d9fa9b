"""The Revisiting-MBRL study at --scale=tiny: the penalty x horizon grid as one run and a BO
study per dataset, with their tables, written to results/<experiment>/tiny/ beside a copy of the
committed default results, which stay byte-identical."""

import csv

import numpy as np
import pytest

from experiments import revisiting_mbrl as rm
from jaxrl_suite.errors import SuiteError
from jaxrl_suite.model_based import dynamics
from jaxrl_suite.sweep.runner import run_sweep
from jaxrl_suite.model_based.penalties import PENALTIES
from jaxrl_suite.sweep.store import load_records
from tests.experiments.committed import CommittedResults

pytestmark = pytest.mark.slow  # the full tier (`make test-all`, CI): see tests/conftest.py


def test_tiny_study_writes_the_grid_and_the_bo_table(tmp_path, tiny_suite_root, monkeypatch):
    results = CommittedResults(tmp_path, rm.EXPERIMENT)
    out = results.out
    scale = rm.SCALES["tiny"]
    # Into the committed default folder, the tiny run is refused before it trains or writes.
    with pytest.raises(SuiteError, match=r"default: record .*num_updates: 40 vs 5000"):
        rm.run_study(scale, out.parent / "default", root=tiny_suite_root, log=lambda _: None,
                     progress=False, reps=200)
    grid, bo_rows = rm.run_study(scale, out, root=tiny_suite_root, log=lambda _: None,
                                 progress=False, reps=200)
    assert len(grid) == len(PENALTIES) * len(scale.horizons) * len(scale.datasets)
    assert np.isfinite([r["score"] for r in grid]).all()
    assert len({(r["penalty"], r["horizon"]) for r in grid}) == len(grid)
    (row,) = bo_rows
    assert row["trials"] == scale.settings.num_trials
    assert np.isfinite([row["bo_score"], row["bo_incumbent"], row["default_score"]]).all()
    assert row["penalty"] in PENALTIES and 1 <= row["horizon"] <= scale.settings.max_horizon
    written = list(csv.DictReader(open(out / "bo_vs_default.csv")))
    assert written[0]["dataset"] == "replay"
    assert (out / "bo" / "Pendulum-v1-replay" / "trace.png").exists()
    assert len(list(csv.DictReader(open(out / "penalty_horizon.csv")))) == len(grid)
    # The grid's runs are records of the shared store (one per cell x seed), with a report.
    records = load_records(out)
    assert len(records) == len(grid) * scale.settings.num_seeds
    assert all("ensemble" in r["config"] for r in records)
    assert {r["config"]["num_updates"] for r in records} == {scale.settings.num_updates}
    aggregates = list(csv.DictReader(open(out / "report" / "aggregates.csv")))
    assert len(aggregates) == len(grid)  # a method per penalty x horizon cell, tiny runs only
    assert {int(r["runs"]) for r in aggregates} == {scale.settings.num_seeds}
    results.assert_only_tiny_written()
    # A re-run of the finished grid finds every record by hash without training a model.

    def no_model(*args, **kwargs):
        raise AssertionError("a finished sweep trained a dynamics model")

    monkeypatch.setattr(dynamics, "train_ensemble", no_model)
    again = run_sweep(rm.grid_spec(scale), out, root=tiny_suite_root, log=lambda _: None,
                      progress=False)
    assert again["trained"] == 0 and again["skipped"] == again["programs"]
