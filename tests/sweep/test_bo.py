"""Batched BO driver: finds a known optimum, resumes after a kill with neither duplicates nor
gaps, records non-finite values as failed, validates search spaces, writes its outputs."""

import json
import math
import pathlib
import signal
import subprocess
import sys
import textwrap

import optuna
import pytest

from jaxrl_suite.errors import SuiteError
from jaxrl_suite.model_based.penalties import PENALTIES
from jaxrl_suite.model_based.mopo import MOPOHParams
from jaxrl_suite.sweep.bo import (MBRL_SPACE, Categorical, Float, Int, SearchSpace, mbrl_space,
                                  mopo_overrides, run_bo, write_bo_outputs)

SPACE = SearchSpace(x=Float(-5.0, 5.0), n=Int(1, 20), c=Categorical(("a", "b", "c")))
BONUS = {"a": 0.0, "b": 0.5, "c": 0.2}
OPTIMUM = 0.5  # unique, at x = 1.3, n = 7, c = "b"
TOL = 0.05     # within it only c = "b", n = 7 and |x - 1.3| < 0.224


def synthetic(config):
    return -(config["x"] - 1.3) ** 2 - 0.1 * (config["n"] - 7) ** 2 + BONUS[config["c"]]


class Objective:
    """Batched objective that records every call; ``interrupt_on`` raises on that call (1-based)."""

    def __init__(self, fn=synthetic, interrupt_on=None):
        self.fn, self.interrupt_on, self.calls = fn, interrupt_on, []

    def __call__(self, configs):
        self.calls.append([dict(c) for c in configs])
        if len(self.calls) == self.interrupt_on:
            raise KeyboardInterrupt
        return [self.fn(c) for c in configs]


def _complete(result):
    return [(t.number, t.params, t.value) for t in result.trials if t.state == "COMPLETE"]


def test_batched_tpe_finds_known_optimum_within_120_trials():
    objective = Objective()
    result = run_bo(objective, SPACE, num_trials=120, batch_size=8, study_name="synthetic",
                    seed=0, log=None)
    assert [len(call) for call in objective.calls] == [8] * 15  # one call per round
    assert result.best_value >= OPTIMUM - TOL
    assert result.best_params["c"] == "b" and result.best_params["n"] == 7
    assert abs(result.best_params["x"] - 1.3) < 0.23
    # Not luck of the budget: random search with the same seed and budget stays outside TOL.
    random = run_bo(Objective(), SPACE, num_trials=120, batch_size=8, study_name="random",
                    seed=0, sampler=optuna.samplers.RandomSampler(seed=0), log=None)
    assert random.best_value < OPTIMUM - TOL


def test_last_round_is_the_remainder_and_rounds_are_recorded():
    objective = Objective()
    result = run_bo(objective, SPACE, num_trials=20, batch_size=8, study_name="remainder",
                    seed=1, log=None)
    assert [len(call) for call in objective.calls] == [8, 8, 4]
    assert [t.number for t in result.trials] == list(range(20))
    assert [t.round for t in result.trials] == [0] * 8 + [1] * 8 + [2] * 4
    # The configs the objective saw are the trials' params, in trial order.
    assert [c for call in objective.calls for c in call] == [t.params for t in result.trials]


def test_resume_after_kill_ends_with_exactly_the_budget_and_no_duplicates_or_gaps(tmp_path):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    kwargs = dict(num_trials=24, batch_size=8, study_name="resume", seed=3, storage=storage,
                  log=None)
    killed = Objective(interrupt_on=3)
    with pytest.raises(KeyboardInterrupt):
        run_bo(killed, SPACE, **kwargs)
    stored = optuna.load_study(study_name="resume", storage=storage).trials
    assert [t.state.name for t in stored] == ["COMPLETE"] * 16 + ["RUNNING"] * 8
    first_rounds = [(t.number, t.params, t.value) for t in stored[:16]]

    resumed = Objective()
    result = run_bo(resumed, SPACE, **kwargs)
    # The interrupted round is redone as it was asked: one call, the same 8 configs.
    assert resumed.calls == [killed.calls[2]]
    assert [t.number for t in result.trials] == list(range(24))
    assert [t.state for t in result.trials] == ["COMPLETE"] * 24
    params = [tuple(sorted(t.params.items())) for t in result.trials]
    assert len(set(params)) == 24
    assert _complete(result)[:16] == first_rounds
    # And it is the study an uninterrupted run draws (the sampler is re-seeded per round).
    whole = run_bo(Objective(), SPACE, **{**kwargs, "storage": None})
    assert _complete(whole) == _complete(result)

    def never(configs):
        raise AssertionError("a finished study must not call the objective")

    again = run_bo(never, SPACE, **kwargs)
    assert _complete(again) == _complete(result)


def test_sigkill_mid_round_leaves_a_resumable_study(tmp_path):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    script = textwrap.dedent(f"""
        import os, signal
        from jaxrl_suite.sweep.bo import SearchSpace, Float, run_bo
        calls = []
        def objective(configs):
            calls.append(configs)
            if len(calls) == 2:
                os.kill(os.getpid(), signal.SIGKILL)
            return [-(c["x"] - 1.0) ** 2 for c in configs]
        run_bo(objective, SearchSpace(x=Float(-5.0, 5.0)), num_trials=16, batch_size=8,
               study_name="killed", seed=0, storage={storage!r}, log=None)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120,
                          cwd=pathlib.Path(__file__).parents[2])
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    objective = Objective(fn=lambda c: -(c["x"] - 1.0) ** 2)
    result = run_bo(objective, SearchSpace(x=Float(-5.0, 5.0)), num_trials=16, batch_size=8,
                    study_name="killed", seed=0, storage=storage, log=None)
    assert [len(call) for call in objective.calls] == [8]
    assert [(t.number, t.state) for t in result.trials] == [(i, "COMPLETE") for i in range(16)]


@pytest.mark.parametrize("mode, state", [("fail", "FAIL"), ("prune", "PRUNED")])
def test_non_finite_values_are_failed_and_never_the_incumbent(mode, state):
    def diverging(config):  # maximise: +inf would win if it were told as a value
        return {"a": math.nan, "c": math.inf}.get(config["c"], synthetic(config))

    result = run_bo(Objective(diverging), SPACE, num_trials=24, batch_size=8,
                    study_name="nonfinite", seed=0, non_finite=mode, log=None)
    assert len(result.trials) == 24  # failed trials count towards the budget: the study ends
    for t in result.trials:
        if t.params["c"] == "b":
            assert t.state == "COMPLETE" and math.isfinite(t.value)
        else:
            assert t.state == state
            assert (math.isnan(t.value) if t.params["c"] == "a" else t.value == math.inf)
    assert result.best_params["c"] == "b"
    assert result.best_value == max(t.value for t in result.trials if t.state == "COMPLETE")


@pytest.mark.parametrize("name, spec, expected", [
    ("lr", Float(1e-3, 1e-3), "low < high"),
    ("lr", Float(1e-2, 1e-3), "low < high"),
    ("horizon", Int(50, 1), "low < high"),
    ("penalty", Categorical(()), "at least one Categorical choice"),
    ("penalty", Categorical("max_aleatoric"), "sequence"),
    ("penalty", Categorical((["a"],)), "None, bool, int, float or str"),
    ("penalty", Categorical(("a", "a")), "distinct"),
    ("penalty_coef", Float(0.0, 1.0, log=True), "low > 0"),
    ("num_members", Int(0, 7, log=True), "low >= 1"),
    ("real_ratio", Float(math.nan, 1.0), "finite"),
    ("num_members", Int(1.0, 7), "int"),
    ("horizon", (1, 50), "a Float, Int or Categorical"),
])
def test_bad_search_space_raises_suite_error_naming_the_parameter(name, spec, expected):
    with pytest.raises(SuiteError, match=f"parameter '{name}'.*{expected}"):
        SearchSpace({"ok": Float(0.0, 1.0), name: spec})


def test_empty_search_space_raises():
    with pytest.raises(SuiteError, match="at least one parameter"):
        SearchSpace({})


def test_stored_study_with_another_space_or_direction_raises(tmp_path):
    kwargs = dict(num_trials=2, batch_size=2, study_name="s", seed=0, out_dir=tmp_path,
                  log=None)
    run_bo(Objective(), SPACE, **kwargs)
    assert (tmp_path / "study.db").exists()  # the default storage
    with pytest.raises(SuiteError, match="parameter 'n'"):
        run_bo(Objective(), SearchSpace({**SPACE, "n": Int(1, 30)}), **kwargs)
    with pytest.raises(SuiteError, match="direction 'minimize'"):
        run_bo(Objective(), SPACE, direction="minimize", **kwargs)


def test_objective_returning_the_wrong_number_of_values_raises():
    with pytest.raises(SuiteError, match="expected 4 values"):
        run_bo(lambda configs: [0.0] * (len(configs) - 1), SPACE, num_trials=4, batch_size=4,
               study_name="short", seed=0, log=None)


def test_mbrl_space_is_lu_et_al_five_choices_over_the_suite_penalties():
    assert list(MBRL_SPACE) == ["penalty", "penalty_coef", "horizon", "num_members",
                                "real_ratio"]
    assert MBRL_SPACE["penalty"].choices == PENALTIES
    assert MBRL_SPACE["num_members"] == Int(2, 7)
    assert mbrl_space(max_members=5)["num_members"] == Int(2, 5)
    assert mbrl_space(max_horizon=5)["horizon"] == Int(1, 5)
    assert set(MBRL_SPACE.distributions()) == set(MBRL_SPACE)


def test_mopo_overrides_map_a_config_onto_mopo_hparams():
    config = {"penalty": "loo_kl", "penalty_coef": 2.5, "horizon": 10, "num_members": 4,
              "real_ratio": 0.3}
    hparams = MOPOHParams().replace(**mopo_overrides(config))
    assert PENALTIES[int(hparams.penalty_index)] == "loo_kl"
    assert (hparams.penalty_coef, hparams.horizon, hparams.num_members, hparams.real_ratio) == (
        2.5, 10.0, 4.0, 0.3)
    with pytest.raises(SuiteError, match="parameter 'penalty'"):
        mopo_overrides({"penalty": "mopo"})


def test_write_bo_outputs_writes_three_files_atomically(tmp_path):
    def objective(configs):
        return [math.nan if i == 0 else synthetic(c) for i, c in enumerate(configs)]

    result = run_bo(objective, SPACE, num_trials=12, batch_size=4, study_name="out", seed=0,
                    log=None)
    paths = write_bo_outputs(result, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "best_config.json", "trace.png", "trials.csv"]  # no temp file left behind
    best = json.loads(paths["best_config"].read_text())
    assert best["best_params"] == result.best_params and best["best_value"] == result.best_value
    assert best["num_trials"] == {"COMPLETE": 9, "FAIL": 3}
    rows = paths["trials"].read_text().splitlines()
    assert rows[0] == "number,round,state,value,x,n,c" and len(rows) == 13
    assert rows[1].startswith("0,0,FAIL,nan,")
    assert paths["trace"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_trial_killed_inside_ask_is_failed_and_not_counted(tmp_path):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    kwargs = dict(num_trials=8, batch_size=4, study_name="inside_ask", seed=0, storage=storage,
                  log=None)
    run_bo(Objective(), SPACE, **{**kwargs, "num_trials": 4})
    # A kill between ask's suggestions leaves a RUNNING trial with only some params.
    study = optuna.load_study(study_name="inside_ask", storage=storage)
    study.ask({"x": SPACE.distributions()["x"]})
    result = run_bo(Objective(), SPACE, **kwargs)
    assert [t.state for t in result.trials] == ["COMPLETE"] * 4 + ["FAIL"] + ["COMPLETE"] * 4
    assert optuna.load_study(study_name="inside_ask", storage=storage).trials[4].user_attrs[
        "abandoned"] == "interrupted inside ask"
