"""Model-based BO end to end at toy size: each round's configurations train as one vmapped run,
the outputs are written, and a rerun resumes the finished study without evaluating again."""

import json

import jax
import numpy as np

from jaxrl_suite.data.dataset import concatenate
from jaxrl_suite.model_based.dynamics import EnsembleConfig
from jaxrl_suite.sweep import mbrl_bo
from jaxrl_suite.train import Trainer


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
    # Two BO rounds of 2 configs x 2 seeds, then the default config and the incumbent on fresh
    # seeds (1 x 2 seeds each).
    assert cells_per_call == [4, 4, 2, 2]
    assert np.isfinite([summary["best_value"], summary["default_value"],
                        summary["best_value_fresh_seeds"]]).all()
    for name in ("best_config.json", "trials.csv", "trace.png", "summary.json", "study.db"):
        assert (tmp_path / name).exists(), name
    assert json.loads((tmp_path / "summary.json").read_text())["best_params"] == \
        summary["best_params"]
    cells_per_call.clear()
    again = mbrl_bo.run_mbrl_bo(data, "Pendulum-v1", tmp_path, settings, log=lambda _: None)
    assert cells_per_call == [2, 2]  # only the two re-scores: no trial is redone
    assert again["best_params"] == summary["best_params"]
    assert jax.numpy.isfinite(again["best_value"])
