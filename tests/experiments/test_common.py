"""What the experiments share: each scale's default results folder, and a results store that
holds one setting (no training: fake records through the store API)."""

import pathlib

import pytest

from experiments import common
from jaxrl_suite.errors import SuiteError
from jaxrl_suite.sweep.store import ResultsStore, config_hash


def _config(**changes):
    config = dict(sweep="dataset_perspective", algo="bc", dataset="CartPole-v1/replay",
                  env="CartPole-v1", sampling="uniform", sampling_temperature=None,
                  hparams={"learning_rate": 1e-3}, overrides={"learning_rate": 1e-3}, seed=0,
                  num_updates=400, batch_size=128, eval_every=200, eval_episodes=3,
                  learner_config={"hidden_sizes": [32, 32]},
                  dataset_source="jaxrl_suite/tiny/cartpole/replay-v0",
                  dataset_transitions=2_000)
    return {**config, **changes}


def _planned(*configs):
    return {config_hash(c): c for c in configs}


def _store(out, *configs):
    store = ResultsStore(out)
    for c in configs:
        store.add(dict(hash=config_hash(c), config=c, curve={}, final_score=1.0))


def test_default_results_dir_is_per_experiment_and_scale():
    assert common.results_dir("semi_supervised", "tiny") == pathlib.Path(
        "results/semi_supervised/tiny")
    assert common.results_dir("x", "paper", results_root="/r") == pathlib.Path("/r/x/paper")
    assert common.results_dir("x", "paper", out="/elsewhere") == pathlib.Path("/elsewhere")


def test_records_of_another_scale_in_the_results_dir_are_refused_in_one_line(tmp_path):
    default = _config(num_updates=5_000, eval_every=1_000, eval_episodes=10,
                      learner_config={"hidden_sizes": [64, 64]},
                      dataset_source="jaxrl_suite/default/cartpole/replay-v0")
    _store(tmp_path, default, {**default, "seed": 1})
    with pytest.raises(SuiteError) as info:
        common.refuse_other_settings(tmp_path, _planned(_config(), _config(seed=1)))
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{tmp_path}: record ")
    assert "(bc on CartPole-v1/replay)" in message
    assert ("num_updates: 400 vs 5000; learner_config.hidden_sizes: [32, 32] vs [64, 64]; "
            "eval_every: 200 vs 1000; and 2 more") in message
    assert "own results directory" in message


def test_another_scale_of_the_study_on_other_runs_is_refused(tmp_path):
    _store(tmp_path, _config(algo="dqn", dataset="Acrobot-v1/replay", eval_every=1_000))
    with pytest.raises(SuiteError, match=r"\(dqn on Acrobot-v1/replay\) .*eval_every: 200 vs 1000"):
        common.refuse_other_settings(tmp_path, _planned(_config()))
    common.refuse_other_settings(tmp_path, _planned(_config(sweep="another study")))


def test_a_planned_runs_own_conflict_is_named_before_the_studys(tmp_path):
    _store(tmp_path, _config(algo="a_first", eval_every=1_000), _config(num_updates=5_000))
    with pytest.raises(SuiteError, match=r"\(bc on CartPole-v1/replay\) .*num_updates: 400 vs"):
        common.refuse_other_settings(tmp_path, _planned(_config()))


def test_a_renamed_sweep_of_the_same_runs_is_refused(tmp_path):
    _store(tmp_path, _config(sweep="semi_supervised-tiny-0000aaaa"))
    with pytest.raises(SuiteError, match='sweep: "semi_supervised-tiny-1111bbbb" vs '
                                         '"semi_supervised-tiny-0000aaaa"'):
        common.refuse_other_settings(tmp_path, _planned(
            _config(sweep="semi_supervised-tiny-1111bbbb")))


def test_the_same_setting_with_more_seeds_cells_or_learners_is_accepted(tmp_path):
    _store(tmp_path, _config(), _config(seed=3), _config(algo="dqn", num_updates=9,
                                                        learner_config={"hidden_sizes": [8]}),
           _config(overrides={"learning_rate": 3e-4}, hparams={"learning_rate": 3e-4}))
    common.refuse_other_settings(tmp_path, _planned(_config(), _config(seed=1)))
    common.refuse_other_settings(tmp_path / "none", _planned(_config()))  # no store yet
