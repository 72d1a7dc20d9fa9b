"""Model-based BO end to end at toy size: each round's configurations train as one vmapped run,
the outputs are written, and a rerun resumes the finished study without evaluating again."""

import json

import jax
import numpy as np

import pytest

from jaxrl_suite.data.dataset import concatenate
from jaxrl_suite.model_based.dynamics import EnsembleConfig
from jaxrl_suite.sweep import mbrl_bo
from jaxrl_suite.train import Trainer


@pytest.mark.slow
def test_mopo_bo_rounds_are_vmapped_runs_and_a_rerun_resumes(pendulum_data, tmp_path,
                                                             monkeypatch):
    _, expert, random = pendulum_data
    data = concatenate([expert, random])
    settings = mbrl_bo.MBRLBOSettings(
        num_trials=4, batch_size=2, num_seeds=2, num_updates=40, eval_every=40,
        eval_episodes=1, train_batch_size=32, max_horizon=3, rollout_starts=8,
        buffer_size=1_000, hidden_sizes=(16, 16),
        ensemble=EnsembleConfig(num_members=3, num_elites=2, hidden_sizes=(16,),
                                weight_decays=(1e-5, 1e-5), max_epochs=3))
    cells_per_call = []
    original = mbrl_bo.train

    def counting_train(trainer: Trainer, dataset, keys, hparams, **kw):
        cells_per_call.append(len(keys))
        return original(trainer, dataset, keys, hparams, **kw)

    monkeypatch.setattr(mbrl_bo, "train", counting_train)
    summary = mbrl_bo.run_mbrl_bo(data, "Pendulum-v1", tmp_path, settings, log=lambda _: None)
    # Two BO rounds of 2 configs x 2 seeds, then the default config and the incumbent on the
    # same fresh seeds, in one run (2 configs x 2 seeds).
    assert cells_per_call == [4, 4, 4]
    assert np.isfinite([summary["best_value"], summary["default_value"],
                        summary["best_value_fresh_seeds"]]).all()
    for name in ("best_config.json", "trials.csv", "trace.png", "summary.json", "study.db"):
        assert (tmp_path / name).exists(), name
    written = json.loads((tmp_path / "summary.json").read_text())
    assert written["best_params"] == summary["best_params"]
    fresh = written["fresh_seeds"]
    assert fresh["seeds"] == [mbrl_bo.FRESH_SEEDS, mbrl_bo.FRESH_SEEDS + 1]
    assert len(fresh["default_scores"]) == len(fresh["incumbent_scores"]) == 2
    assert {"mean", "std", "ci95"} <= set(fresh["gain"])
    cells_per_call.clear()
    again = mbrl_bo.run_mbrl_bo(data, "Pendulum-v1", tmp_path, settings, log=lambda _: None)
    assert cells_per_call == [4]  # only the paired re-score: no trial is redone
    assert again["best_params"] == summary["best_params"]
    assert jax.numpy.isfinite(again["best_value"])


def test_default_and_incumbent_are_compared_on_the_same_seeds_with_their_spread():
    calls = []

    def evaluate(configs, seed_offset=0, per_seed=False):
        calls.append((configs, seed_offset, per_seed))
        shared = np.array([10.0, 30.0, 20.0, 40.0])  # seed noise both configs see
        return [shared.tolist(), (shared + np.array([1.0, 3.0, 2.0, np.nan])).tolist()]

    fresh = mbrl_bo.compare_on_fresh_seeds(evaluate, {"horizon": 3})
    assert calls == [([{}, {"horizon": 3}], mbrl_bo.FRESH_SEEDS, True)]
    assert fresh["default"]["mean"] == 25.0 and fresh["default"]["seeds"] == 4
    assert fresh["incumbent"]["seeds"] == 3  # the diverged (NaN) seed is left out
    gain = fresh["gain"]  # paired: the shared noise cancels, so the spread is small
    assert gain["mean"] == 2.0 and gain["std"] == 1.0 and gain["seeds"] == 3
    assert gain["ci95"][0] < 2.0 < gain["ci95"][1] and gain["ci95"][0] > -1.0
    assert fresh["default"]["std"] > 10 * gain["std"]
