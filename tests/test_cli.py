"""The CLI: one clear line and exit 2 on bad input, no traceback; info's JSON contract."""

import json
import re
import subprocess
import sys

import numpy as np
import pytest

from jaxrl_suite.data import DatasetMeta, from_arrays, save_npz


def run_cli(*args, cwd=None):
    proc = subprocess.run([sys.executable, "-m", "jaxrl_suite", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=300)
    return proc.returncode, proc.stdout, proc.stderr


def cartpole_npz(path, ends, seed, n=40):
    """Writes a random 40-transition CartPole-v1 dataset whose episodes end (terminal) at
    ``ends``; returns its path."""
    rng = np.random.default_rng(seed)
    terminals = np.zeros(n, bool)
    terminals[list(ends)] = True
    save_npz(from_arrays(rng.normal(size=(n, 4)).astype(np.float32), rng.integers(0, 2, n),
                         np.ones(n, np.float32), terminals, np.zeros(n, bool),
                         meta=DatasetMeta(env_id="CartPole-v1", ref_min_score=20.0,
                                          ref_max_score=500.0)), path)
    return path


@pytest.fixture(scope="module")
def npz_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(0)
    n = 40
    terminals = np.zeros(n, bool)
    terminals[[9, 19, 29, 39]] = True
    arrays = dict(observations=rng.normal(size=(n, 3)).astype(np.float32),
                  actions=rng.integers(0, 2, n), rewards=np.ones(n, np.float32),
                  terminals=terminals, timeouts=np.zeros(n, bool))
    good = root / "good.npz"
    save_npz(from_arrays(**arrays, meta=DatasetMeta(env_id="CartPole-v1", ref_min_score=0.0,
                                                    ref_max_score=20.0)), good)
    bad = root / "bad.npz"
    np.savez(bad, **{**arrays, "rewards": np.ones(n + 1, np.float32)})
    return good, bad


def test_info_json_has_the_documented_keys(npz_files):
    good, _ = npz_files
    rc, out, err = run_cli("info", f"--dataset={good}", f"--reference={good}", "--json")
    assert rc == 0, err
    facts = json.loads(out)
    assert {"episodes", "transitions", "return_mean", "return_std", "tq", "saco"} <= set(facts)
    assert facts["episodes"] == 4 and facts["transitions"] == 40
    assert facts["tq"] == pytest.approx(0.5) and facts["saco"] == 1.0


def test_bad_file_prints_one_line_without_traceback(npz_files):
    _, bad = npz_files
    rc, out, err = run_cli("info", f"--dataset={bad}")
    assert rc == 2
    lines = [l for l in err.strip().splitlines() if l.strip()]
    assert len(lines) == 1 and "Traceback" not in err
    assert str(bad) in lines[0] and "rewards" in lines[0]


def test_debug_flag_shows_traceback(npz_files):
    _, bad = npz_files
    rc, _, err = run_cli("info", f"--dataset={bad}", "--debug")
    assert rc != 0 and "Traceback" in err and "DatasetError" in err


def test_unknown_command_and_missing_dataset_are_one_line_errors(tmp_path):
    rc, _, err = run_cli("frobnicate")
    assert rc == 2 and "expected one of" in err and "Traceback" not in err
    rc, _, err = run_cli("info", f"--dataset={tmp_path / 'missing.npz'}")
    assert rc == 2 and "missing.npz" in err and "Traceback" not in err


def test_help_lists_the_commands_and_each_commands_own_flags():
    from jaxrl_suite import cli

    rc, out, err = run_cli("--help")
    assert rc == 0, err
    for name, cmd in cli.COMMANDS.items():  # a line each: name, then what it does
        assert re.search(rf"^  {name} +{re.escape(cmd.summary.split()[0])} ", out, re.M), name
    rc, train_help, err = run_cli("train", "--help")
    assert rc == 0 and train_help == cli.command_help("train") + "\n"
    every = {f for c in cli.COMMANDS.values() for f in c.flags}
    for name, cmd in cli.COMMANDS.items():
        text = cli.command_help(name)
        assert cmd.summary.split()[0] in text and f"example:\n  python -m jaxrl_suite {name}" in text
        listed = {line.split("=")[0].strip().lstrip("-").replace("[no]", "")
                  for line in text.splitlines() if line.startswith("  --")}
        assert listed == set(cmd.flags) | set(cli.GLOBAL_FLAGS), name  # its own flags only
        assert not (listed & (every - set(cmd.flags))), name
    assert "(default: 4)" in cli.command_help("train")  # --num_seeds' default


def test_errors_come_in_the_order_a_user_fixes_them(tmp_path):
    missing = tmp_path / "missing.npz"
    rc, _, err = run_cli("train", "--algo=foo", f"--dataset={missing}")
    assert rc == 2 and "'--algo'" in err and "'foo'" in err and "td3bc" in err
    rc, _, err = run_cli("train", "--algo=td3bc")
    assert rc == 2 and "'--dataset'" in err and "--out" not in err
    rc, _, err = run_cli("train", "--algo=td3bc", f"--dataset={missing}")
    assert rc == 2 and "missing.npz" in err and "--out" not in err
    rc, _, err = run_cli("bo", "--algo=td3bc", f"--dataset={missing}")
    assert rc == 2 and "'--algo'" in err and "mopo" in err  # bo tunes model-based learners only
    rc, _, err = run_cli("train", "--algo=td3bc", "--trials=3", f"--dataset={missing}")
    assert rc == 2 and "--trials is for bo" in err and "Traceback" not in err


@pytest.mark.slow  # full tier: 15-46 s in the fast tier (BUILD_NOTES "Session 13")
def test_train_writes_metrics_and_a_final_table_over_a_grid(tmp_path):
    import csv

    rng = np.random.default_rng(0)
    n = 400
    timeouts = np.zeros(n, bool)
    timeouts[199::200] = True
    data = tmp_path / "pendulum.npz"
    save_npz(from_arrays(rng.normal(size=(n, 3)), rng.uniform(-2, 2, (n, 1)), rng.normal(size=n),
                         np.zeros(n, bool), timeouts, rng.normal(size=(n, 3)),
                         meta=DatasetMeta(env_id="Pendulum-v1", action_low=(-2.0,),
                                          action_high=(2.0,), ref_min_score=-1200.0,
                                          ref_max_score=-150.0)), data)
    out = tmp_path / "run"
    rc, stdout, err = run_cli("train", "--algo=bc", f"--dataset={data}", "--num_seeds=2",
                              "--steps=40", "--eval_every=20", "--eval_episodes=1",
                              "--batch_size=16", "--hp.learning_rate=1e-3,1e-4", f"--out={out}")
    assert rc == 0, err
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    assert len(rows) == 2 * 2 * 2  # cells x seeds x evaluations
    assert {r["learning_rate"] for r in rows} == {"0.001", "0.0001"}
    assert all(r["normalized_return"] != "nan" for r in rows)
    assert (out / "final.md").read_text().count("\n") == 4 and (out / "checkpoints").is_dir()
    with np.load(out / "final_returns.npz") as final:  # --final_eval_episodes' default, 1000
        assert final["returns"].shape == (4, 1000) and np.isfinite(final["returns"]).all()
        assert list(final["cell"]) == [0, 0, 1, 1] and list(final["seed"]) == [0, 1, 0, 1]
        means = final["returns"].mean(axis=1)
    finals = list(csv.DictReader(open(out / "final.csv")))
    assert float(finals[1]["final_eval_return"]) == pytest.approx(means[2:].mean(), rel=1e-4)
    assert finals[0]["final_eval_normalized"] != "nan"
    config = json.loads((out / "config.json").read_text())
    assert len(config["dataset_fingerprint"]) == 32 and "commit" in config["code_version"]
    rc, stdout, err = run_cli("train", "--algo=bc", f"--dataset={data}", "--num_seeds=1",
                              "--steps=20", "--eval_every=20", "--eval_episodes=1",
                              "--batch_size=16", "--final_eval_episodes=0",
                              cwd=tmp_path)  # no --out: a new runs/ folder
    assert rc == 0, err
    made = list((tmp_path / "runs").glob("train-bc-pendulum-*/metrics.csv"))
    assert len(made) == 1 and f"writing to {made[0].parent.relative_to(tmp_path)}" in stdout
    assert not (made[0].parent / "final_returns.npz").exists()  # 0: no final evaluation
    rc, _, err = run_cli("train", "--algo=bc", f"--dataset={data}", "--hp.nope=1",
                         f"--out={out}")
    assert rc == 2 and "--hp.nope" in err and "Traceback" not in err
    # The RW temperature is a grid axis of any learner, traced: one program for the grid.
    rc, _, err = run_cli("train", "--algo=bc", f"--dataset={data}", "--num_seeds=1",
                         "--steps=20", "--eval_every=20", "--eval_episodes=1",
                         "--batch_size=16", "--final_eval_episodes=0", "--sampling=rw",
                         "--hp.sampling_temperature=0.05,0.2", f"--out={tmp_path / 'rw'}")
    assert rc == 0, err
    rows = list(csv.DictReader(open(tmp_path / "rw" / "metrics.csv")))
    assert [r["sampling_temperature"] for r in rows] == ["0.05", "0.2"]
    rc, _, err = run_cli("train", "--algo=bc", f"--dataset={data}",
                         "--hp.sampling_temperature=0.05,0.2", f"--out={out}")
    assert rc == 2 and "--sampling=rw or aw" in err and "Traceback" not in err
    rc, _, err = run_cli("train", "--algo=bc", f"--dataset={data}",
                         "--env=MountainCarContinuous-v0", f"--out={out}")
    assert rc == 2 and "observation shape (2,)" in err and "Traceback" not in err


def test_train_picks_the_discrete_variant_by_the_datasets_action_space(tmp_path):
    import csv

    good = cartpole_npz(tmp_path / "cartpole.npz", ends=[19, 39], seed=0)
    out = tmp_path / "run"
    rc, _, err = run_cli("train", "--algo=cql", f"--dataset={good}", "--num_seeds=1",
                         "--steps=10", "--eval_every=10", "--eval_episodes=1", f"--out={out}")
    assert rc == 0, err
    config = json.loads((out / "config.json").read_text())
    assert config["batch_size"] == 128  # no --batch_size: the discrete learners' paper minibatch
    assert config["defaults"]["gamma"] == pytest.approx(0.95)  # the paper's CartPole discount
    assert "target_update_period" in config["defaults"]  # discrete CQL, not SAC-based CQL
    assert len(list(csv.DictReader(open(out / "metrics.csv")))) == 1
    rc, _, err = run_cli("train", "--algo=td3bc", f"--dataset={good}", f"--out={out}")
    assert rc == 2 and "for discrete actions" in err and "continuous" in err
    assert "Traceback" not in err


@pytest.mark.slow  # three CLI trainings (~110 s); the fast tier has the in-process errors
def test_train_with_history_windows_records_them_and_refuses_learners_without_an_encoder(
        tmp_path):
    good = cartpole_npz(tmp_path / "cartpole.npz", ends=[7, 19, 39], seed=1)
    out = tmp_path / "run"
    rc, _, err = run_cli("train", "--algo=bc", f"--dataset={good}", "--num_seeds=1",
                         "--steps=10", "--eval_every=10", "--eval_episodes=1",
                         "--final_eval_episodes=0", "--history=3", "--history_encoder=gru",
                         f"--out={out}")
    assert rc == 0, err
    config = json.loads((out / "config.json").read_text())
    assert config["history"] == 3 and config["history_encoder"] == "gru"
    rc, _, err = run_cli("train", "--algo=cql", f"--dataset={good}", "--num_seeds=1",
                         "--steps=10", "--eval_every=10", "--eval_episodes=1",
                         "--final_eval_episodes=0", "--history=3", "--history_encoder=gru",
                         "--bisimulation", "--hp.bisim_weight=0,0.5",
                         f"--out={tmp_path / 'bisim'}")
    assert rc == 0, err
    header = (tmp_path / "bisim" / "metrics.csv").read_text().splitlines()[0]
    assert "bisim_loss" in header and "bisim_weight" in header
    rc, _, err = run_cli("train", "--algo=dqn", f"--dataset={good}", "--history=3",
                         f"--out={out}")
    assert rc == 2 and "'dqn' has no history encoder" in err and "Traceback" not in err
    rc, _, err = run_cli("train", "--algo=bc", f"--dataset={good}", "--bisimulation",
                         f"--out={out}")
    assert rc == 2 and "expected --history" in err and "Traceback" not in err


def test_sweep_and_report_errors_are_one_line(tmp_path):
    rc, _, err = run_cli("sweep")
    assert rc == 2 and "--spec" in err and "Traceback" not in err
    spec = tmp_path / "bad_spec.py"
    spec.write_text("from ml_collections import ConfigDict\n\ndef get_config():\n"
                    "    return ConfigDict(dict(name='b', algos=('td3bc',), datasets=('a/b',),"
                    " sampling=('best',)))\n")
    rc, _, err = run_cli("sweep", f"--spec={spec}")
    assert rc == 2 and "field 'sampling'" in err and "Traceback" not in err
    rc, _, err = run_cli("report")
    assert rc == 2 and "--results" in err
    rc, _, err = run_cli("report", f"--results={tmp_path / 'none'}")
    assert rc == 2 and "expected a results directory" in err and "Traceback" not in err


def test_report_warns_when_merging_code_versions_or_dataset_contents(tmp_path):
    from jaxrl_suite.sweep.store import ResultsStore, config_hash
    from tests.report.records import record

    for name, commit, fingerprint in (("a", "1" * 40, "f" * 32), ("b", "2" * 40, "e" * 32)):
        store = ResultsStore(tmp_path / name)
        for seed in (0, 1) if name == "a" else (2, 3):
            r = record("bc", "d", seed, 10.0 + seed)
            r["config"].update(learner_config={}, dataset_source="d", dataset_transitions=10)
            r["hash"] = config_hash(r["config"])
            r.update(code_version=dict(commit=commit, dirty=False, package="0.1.0"),
                     dataset_fingerprint=fingerprint)
            assert store.add(r)
    rc, _, err = run_cli("report", f"--results={tmp_path / 'a'}", f"--out={tmp_path / 'r1'}",
                         "--reps=20")
    assert rc == 0 and "warning" not in err, err
    rc, _, err = run_cli("report", f"--results={tmp_path / 'a'}", f"--results={tmp_path / 'b'}",
                         f"--out={tmp_path / 'r2'}", "--reps=20")
    assert rc == 0, err
    lines = [line for line in err.splitlines() if line.startswith("warning: report:")]
    assert len(lines) == 2
    assert "2 code versions" in lines[0] and "dataset 'd'" in lines[1]
