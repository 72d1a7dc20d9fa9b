"""Sweeps: spec parsing and overrides, cell expansion, and the store's guarantees under a kill:
a sweep killed mid-way and re-run ends with no duplicated and no missing records, and a program
stopped after a chunk resumes to the same results as an uninterrupted one."""

import contextlib
import importlib.util
import types
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from ml_collections import ConfigDict

from jaxrl_suite import checkpoint
from jaxrl_suite.agents.td3bc import TD3BCHParams
from jaxrl_suite.errors import SuiteError
from jaxrl_suite.sweep import runner
from jaxrl_suite.sweep.store import load_records, writer_tag

SPEC_FILE = '''
from ml_collections import ConfigDict

def get_config():
    return ConfigDict(dict(
        name="killtest", suite="tiny", algos=("bc",),
        datasets=("Pendulum-v1/mixed-sigma5pct", "Pendulum-v1/mixed-sigma50pct",
                  "Pendulum-v1/replay"),
        sampling=("uniform", "rw"), grid={"bc": ("learning_rate=0.001,0.0003",)},
        num_seeds=2, num_updates=300, eval_every=100, eval_episodes=1, batch_size=32,
        hidden_sizes=(16,), seed=0))
'''


def _spec_module(path):
    spec = importlib.util.spec_from_file_location("sweep_spec", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_spec_from_config_reads_fields_and_flag_style_lists():
    spec = runner.spec_from_config(ConfigDict(dict(
        name="x", algos=("td3bc,iql",), datasets="a/b,c/d", hidden_sizes=(8, 8),
        grid={"td3bc": "alpha=1,2"}, num_updates=10, eval_every=5)))
    assert spec.algos == ("td3bc", "iql") and spec.datasets == ("a/b", "c/d")
    assert spec.grid == {"td3bc": ("alpha=1,2",)} and spec.hidden_sizes == (8, 8)


@pytest.mark.parametrize("fields, match", [
    (dict(colour="red"), r"fields \['colour'\]"),
    (dict(sampling=("uniform", "best")), "field 'sampling'"),
    (dict(num_updates=10, eval_every=3), "multiple of eval_every"),
    (dict(grid={"cql": ("alpha=1",)}), r"keys \['cql'\] name no algorithm"),
    (dict(algos=()), "field 'algos'"),
    (dict(learner_config={"param_inti": "flax"}), r"keys \['param_inti'\] are fields of no"),
])
def test_bad_specs_name_the_field(fields, match):
    base = dict(name="x", algos=("td3bc",), datasets=("a/b",), num_updates=10, eval_every=5)
    with pytest.raises(SuiteError, match=match):
        runner.spec_from_config({**base, **fields})


def test_a_learner_config_value_the_learner_refuses_is_a_suite_error_naming_it():
    spec = runner.SweepSpec(name="x", algos=("iql",), datasets=("a/b",),
                            learner_config={"param_init": "kaiming"})
    continuous = types.SimpleNamespace(meta=types.SimpleNamespace(discrete=False))
    with pytest.raises(SuiteError, match=r"'learner_config' for iql: .*'kaiming'"):
        runner._learner(spec, "iql", continuous, "Pendulum-v1", print)


def test_cells_are_the_grid_crossed_with_seeded_random_draws():
    spec = runner.SweepSpec(name="x", algos=("td3bc", "iql"), datasets=("a/b",),
                            grid={"td3bc": ("alpha=1,2.5",), "*": ("gamma=0.9,0.99",)},
                            random={"*": {"tau": "loguniform:0.001:0.01"}}, num_random=3)
    cells, overrides = runner.hparam_cells(spec, "td3bc", TD3BCHParams())
    assert len(cells) == 2 * 2 * 3
    assert {(o["gamma"], o["alpha"]) for o in overrides} == {
        (d, a) for d in (0.9, 0.99) for a in (1.0, 2.5)}
    taus = sorted({o["tau"] for o in overrides})
    assert len(taus) == 3 and all(0.001 <= t <= 0.01 for t in taus)
    assert all(float(c.tau) == o["tau"] and float(c.alpha) == o["alpha"]
               for c, o in zip(cells, overrides))
    again = runner.hparam_cells(spec, "td3bc", TD3BCHParams())[1]
    assert again == overrides  # draws are seeded: a re-run expands to the same cells
    with pytest.raises(SuiteError, match="loguniform"):
        runner.hparam_cells(runner.SweepSpec(
            name="x", algos=("td3bc",), datasets=("a/b",), random={"td3bc": {"tau": "beta:1"}},
            num_random=1), "td3bc", TD3BCHParams())


@pytest.mark.slow  # full tier: 15-46 s in the fast tier (BUILD_NOTES "Session 13")
def test_killed_sweep_rerun_has_no_duplicated_and_no_missing_records(tmp_path, tiny_suite_root):
    spec_path = tmp_path / "killtest.py"
    spec_path.write_text(SPEC_FILE)
    out = tmp_path / "results"
    env = {**os.environ, "MINARI_DATASETS_PATH": str(tiny_suite_root)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "jaxrl_suite", "sweep", f"--spec={spec_path}", f"--out={out}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:  # kill -9 as soon as the first program's records are on disk
        deadline = time.time() + 240
        while time.time() < deadline and proc.poll() is None:
            if len(list((out / "records").glob("*.json"))) if (out / "records").is_dir() else 0:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the sweep ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    spec = runner.spec_from_config(_spec_module(spec_path).get_config())
    expected = len(spec.datasets) * len(spec.sampling) * 2 * spec.num_seeds
    before = load_records(out)
    assert 0 < len(before) < expected
    summary = runner.run_sweep(spec, out, root=tiny_suite_root, log=lambda _: None,
                               progress=False)
    # The kill may land inside the first program's record writes: it is then resumed, not
    # skipped, so only the total is fixed.
    assert summary["trained"] >= 1
    assert summary["trained"] + summary["skipped"] == len(spec.datasets) * len(spec.sampling)
    files = list((out / "records").glob("*.json"))
    records = [json.loads(f.read_text()) for f in files]  # every file is whole JSON
    assert len(records) == expected
    keys = {(r["config"]["dataset"], r["config"]["sampling"],
             r["config"]["overrides"]["learning_rate"], r["config"]["seed"]) for r in records}
    assert keys == {(d, s, lr, seed) for d in spec.datasets for s in spec.sampling
                    for lr in (0.001, 0.0003) for seed in (0, 1)}
    assert {r["hash"] for r in records} == {f.stem for f in files}
    assert {r["config"]["dataset_source"] for r in records} == {
        f"jaxrl_suite/tiny/pendulum/{d.split('/')[1]}-v0" for d in spec.datasets}
    assert all(np.isfinite(r["final_return"]) and len(r["curve"]["step"]) == 3
               for r in records)
    # Provenance outside the config (the hash is unchanged): code version, dataset content.
    assert all(r["code_version"]["package"] and "commit" in r["code_version"] for r in records)
    for d in spec.datasets:
        assert len({r["dataset_fingerprint"] for r in records
                    if r["config"]["dataset"] == d}) == 1
    assert len({r["dataset_fingerprint"] for r in records}) == len(spec.datasets)
    assert not list((out / "records").glob(".*tmp"))
    assert not (out / "checkpoints").exists()  # finished programs leave no checkpoint
    again = runner.run_sweep(spec, out, root=tiny_suite_root, log=lambda _: None,
                             progress=False)
    assert again["trained"] == 0 and again["records"] == 0


def test_program_stopped_after_a_chunk_resumes_to_the_uninterrupted_result(
        tmp_path, tiny_suite_root, monkeypatch):
    monkeypatch.setattr(checkpoint, "_interval_s", 0.0)  # --checkpoint_interval=0: every chunk
    spec = runner.SweepSpec(name="resume", suite="tiny", algos=("bc",),
                            datasets=("Pendulum-v1/replay",), num_seeds=2, num_updates=300,
                            eval_every=100, eval_episodes=1, batch_size=32, hidden_sizes=(16,))
    quiet = dict(root=tiny_suite_root, log=lambda _: None, progress=False)
    runner.run_sweep(spec, tmp_path / "a", stop_after_chunks=1, **quiet)
    assert not (tmp_path / "a" / "records").exists()
    assert any((tmp_path / "a" / "checkpoints").iterdir())  # chunk 1 is saved
    resumed = runner.run_sweep(spec, tmp_path / "a", **quiet)
    assert resumed["records"] == 2
    runner.run_sweep(spec, tmp_path / "b", **quiet)
    a, b = load_records(tmp_path / "a"), load_records(tmp_path / "b")
    assert [r["hash"] for r in a] == [r["hash"] for r in b]
    for ra, rb in zip(a, b):
        np.testing.assert_allclose(ra["curve"]["return_mean"], rb["curve"]["return_mean"],
                                   rtol=1e-5)


def test_kill_while_writing_records_resumes_the_checkpoint_and_leaves_none(
        tmp_path, tiny_suite_root, monkeypatch):
    spec = runner.SweepSpec(name="resume", suite="tiny", algos=("bc",),
                            datasets=("Pendulum-v1/replay",), num_seeds=3, num_updates=200,
                            eval_every=100, eval_episodes=1, batch_size=32, hidden_sizes=(16,))
    quiet = dict(root=tiny_suite_root, log=lambda _: None, progress=False)
    real_add = runner.ResultsStore.add

    def add_one_then_die(self, record, final_eval=None):
        if self.done():
            raise KeyboardInterrupt  # a kill between two record writes
        return real_add(self, record, final_eval)

    monkeypatch.setattr(runner.ResultsStore, "add", add_one_then_die)
    with pytest.raises(KeyboardInterrupt):
        runner.run_sweep(spec, tmp_path, **quiet)
    monkeypatch.setattr(runner.ResultsStore, "add", real_add)
    assert len(load_records(tmp_path)) == 1
    (rows_file,) = (tmp_path / "checkpoints").glob("*.rows.json")
    assert len(json.loads(rows_file.read_text())) == 3  # the checkpoint holds all three rows
    again = runner.run_sweep(spec, tmp_path, **quiet)
    assert again["records"] == 2 and len(load_records(tmp_path)) == 3
    assert not (tmp_path / "checkpoints").exists()


def test_kill_after_the_records_before_the_checkpoint_is_removed_leaves_none(
        tmp_path, tiny_suite_root, monkeypatch):
    spec = runner.SweepSpec(name="resume", suite="tiny", algos=("bc",),
                            datasets=("Pendulum-v1/replay",), num_seeds=2, num_updates=200,
                            eval_every=100, eval_episodes=1, batch_size=32, hidden_sizes=(16,))
    quiet = dict(root=tiny_suite_root, log=lambda _: None, progress=False)
    real_discard = runner._discard_checkpoint

    def die(directory):
        raise KeyboardInterrupt  # a kill once every record is written

    monkeypatch.setattr(runner, "_discard_checkpoint", die)
    with pytest.raises(KeyboardInterrupt):
        runner.run_sweep(spec, tmp_path, **quiet)
    monkeypatch.setattr(runner, "_discard_checkpoint", real_discard)
    assert len(load_records(tmp_path)) == 2 and any((tmp_path / "checkpoints").iterdir())
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    host = writer_tag().split("~")[0]  # a write a kill cut short, by a writer now dead
    (tmp_path / "records" / f".x.json.{host}~{dead}.abc.tmp").write_text("{")
    again = runner.run_sweep(spec, tmp_path, **quiet)
    assert again["trained"] == 0 and again["skipped"] == 1
    assert not (tmp_path / "checkpoints").exists()
    assert not list((tmp_path / "records").glob(".*tmp"))


def test_dataset_quality_rows_equal_the_suite_table_and_share_the_sweeps_reads(
        tiny_suite_root, monkeypatch):
    from jaxrl_suite.data import io
    from jaxrl_suite.report.dataset_quality import suite_quality_rows

    spec = runner.SweepSpec(name="q", suite="tiny", algos=("bc",),
                            datasets=("Pendulum-v1/mixed-sigma5pct", "Pendulum-v1/expert"),
                            num_updates=10, eval_every=5)
    reads = []
    real_load = io.load
    monkeypatch.setattr(io, "load", lambda target, **kw: reads.append(target) or real_load(
        target, **kw))
    loader = runner.DatasetLoader(spec, tiny_suite_root, lambda _: None)
    loader.load("Pendulum-v1/expert")  # as run_sweep would have
    rows = runner.dataset_quality_rows(spec, saco_bins=20, loader=loader)
    assert len(reads) == len(set(reads)) == 3  # the two datasets and the replay reference, once
    table = {r["dataset"]: r for r in suite_quality_rows("tiny", tiny_suite_root, bins=20)
             if r["env"] == "Pendulum-v1"}
    assert [r["dataset"] for r in rows] == list(spec.datasets)
    for row in rows:
        expected = table[row["recipe"]]
        assert row["tq"] == pytest.approx(expected["tq"])
        assert row["saco"] == pytest.approx(expected["saco"])


@pytest.mark.slow  # full tier: 15-46 s in the fast tier (BUILD_NOTES "Session 13")
def test_a_sweep_trains_history_windows_with_the_bisimulation_weight_as_a_grid(tmp_path):
    # In-memory window data (CartPole-sized), a GRU encoder by learner_config, the
    # bisimulation loss on every learner, its weight a grid axis: one program, records naming
    # the auxiliary loss and reporting it, the eval env observing the windows.
    from jaxrl_suite.data import DatasetMeta, from_arrays
    from jaxrl_suite.transforms.history import history_windows

    rng = np.random.default_rng(0)
    n = 60
    terminals = np.zeros(n, bool)
    terminals[[9, 29, 59]] = True
    data = history_windows(from_arrays(
        rng.normal(size=(n, 4)).astype(np.float32), rng.integers(0, 2, n),
        np.ones(n, np.float32), terminals, np.zeros(n, bool),
        meta=DatasetMeta(env_id="CartPole-v1", ref_min_score=20.0, ref_max_score=500.0)), 3)
    spec = runner.SweepSpec(
        name="bisim", algos=("bc",), datasets=("windows",), suite=None, num_seeds=1,
        num_updates=4, eval_every=4, eval_episodes=1, batch_size=8, hidden_sizes=(8,),
        learner_config={"history_encoder": "gru", "history_hidden": 4},
        auxiliary=("bisimulation",), grid={"bc": ("bisim_weight=0,0.5",)})
    summary = runner.run_sweep(spec, tmp_path, datasets={"windows": data}, progress=False,
                               log=lambda s: None)
    assert summary["programs"] == 1 and summary["records"] == 2
    records = load_records(tmp_path)
    assert sorted(r["config"]["hparams"]["bisim_weight"] for r in records) == [0.0, 0.5]
    assert all(r["config"]["auxiliary"] == ["bisimulation"] for r in records)
    with pytest.raises(SuiteError, match="field 'auxiliary'"):
        runner.SweepSpec(name="x", algos=("bc",), datasets=("a/b",), auxiliary=("vae",))


def test_committed_records_keep_their_learner_config_under_todays_config_classes():
    # A new config field must not change what records store (and so their hashes) where it
    # is at its "off" value: every committed record's learner_config must be what the runner
    # writes today for the same values.
    import glob
    import pathlib

    from jaxrl_suite.agents import learner_parts
    from jaxrl_suite.envs.registry import env_spec, is_ogbench_env
    from jaxrl_suite.model_based import MODEL_BASED

    results = pathlib.Path(__file__).resolve().parents[2] / "results"
    checked = 0
    for path in sorted(glob.glob(str(results / "*" / "*" / "records" / "*.json"))):
        config = json.loads(pathlib.Path(path).read_text())["config"]
        if config["algo"] in MODEL_BASED:
            continue
        discrete = not is_ogbench_env(config["env"]) and env_spec(config["env"]).discrete
        _, config_cls, _ = learner_parts(config["algo"], discrete=discrete)
        stored = config["learner_config"]
        learner_config = runner.learner_config_of_record(config_cls, stored)
        assert runner._record_learner_config(learner_config) == stored, path
        checked += 1
    assert checked > 100
    # CQL: a record without the init fields ran flax's (before session 16); today's default,
    # JaxCQL's, is stored.
    cql = learner_parts("cql")[1]
    earlier = runner.learner_config_of_record(cql, {"hidden_sizes": [256, 256]})
    assert (earlier.param_init, earlier.log_std_bound) == ("flax", "tanh")
    assert "param_init" not in runner._record_learner_config(earlier)
    today = runner._record_learner_config(cql())
    assert (today["param_init"], today["log_std_bound"]) == ("jaxcql", "affine")
    with_encoder = runner._record_learner_config(learner_parts("bc")[1](history_encoder="gru"))
    assert with_encoder["history_encoder"] == "gru" and with_encoder["history_hidden"] == 128


def test_a_rerun_on_other_contents_of_a_dataset_is_refused_before_it_trains(tmp_path):
    # Record hashes key a dataset by name and size: a regenerated suite (other bits under the
    # same names) must not merge its results with the old ones; a rerun that trains nothing
    # merges nothing and is allowed.
    from jaxrl_suite.data import DatasetMeta, from_arrays

    def cartpole(reward):
        rng = np.random.default_rng(0)
        n = 40
        terminals = np.zeros(n, bool)
        terminals[[19, 39]] = True
        return from_arrays(rng.normal(size=(n, 4)).astype(np.float32), rng.integers(0, 2, n),
                           np.full(n, reward, np.float32), terminals, np.zeros(n, bool),
                           meta=DatasetMeta(env_id="CartPole-v1", ref_min_score=20.0,
                                            ref_max_score=500.0))

    def spec(seeds):
        return runner.SweepSpec(name="contents", algos=("bc",), datasets=("d",), suite=None,
                                num_seeds=seeds, num_updates=4, eval_every=4, eval_episodes=1,
                                batch_size=8, hidden_sizes=(8,))

    quiet = dict(progress=False, log=lambda s: None)
    runner.run_sweep(spec(1), tmp_path, datasets={"d": cartpole(1.0)}, **quiet)
    (first,) = load_records(tmp_path)
    with pytest.raises(SuiteError, match=rf"{first['hash']} \(bc on d\) was trained on other "
                                         r"contents.*fingerprint [0-9a-f]{12}, now"):
        runner.run_sweep(spec(2), tmp_path, datasets={"d": cartpole(2.0)}, **quiet)
    assert len(load_records(tmp_path)) == 1
    again = runner.run_sweep(spec(1), tmp_path, datasets={"d": cartpole(2.0)}, **quiet)
    assert again["trained"] == 0 and again["skipped"] == 1
    more = runner.run_sweep(spec(2), tmp_path, datasets={"d": cartpole(1.0)}, **quiet)
    assert more["records"] == 1 and len(load_records(tmp_path)) == 2


def test_a_compiled_loop_is_dropped_after_the_last_program_that_uses_it(tmp_path, monkeypatch):
    # A compiled XLA CPU program holds hundreds of memory mappings: a study that kept every
    # program's loop alive crashed in LLVM at Linux's default vm.max_map_count. Programs run
    # dataset by dataset; CartPole's loop must be gone when Acrobot's is built.
    import gc
    import weakref

    from jaxrl_suite.data import DatasetMeta, from_arrays

    def data(env, obs_dim, num_actions):
        rng = np.random.default_rng(0)
        terminals = np.zeros(40, bool)
        terminals[[19, 39]] = True
        return from_arrays(rng.normal(size=(40, obs_dim)).astype(np.float32),
                           rng.integers(0, num_actions, 40), np.ones(40, np.float32),
                           terminals, np.zeros(40, bool),
                           meta=DatasetMeta(env_id=env, ref_min_score=-500.0,
                                            ref_max_score=500.0))

    from jaxrl_suite import train as train_module

    alive_at_build, loops = [], []
    real = train_module.make_train

    def tracking_make_train(*args, **kwargs):
        gc.collect()
        alive_at_build.append(sum(ref() is not None for ref in loops))
        trainer = real(*args, **kwargs)
        loops.append(weakref.ref(trainer.run_chunk))
        return trainer

    monkeypatch.setattr(train_module, "make_train", tracking_make_train)
    spec = runner.SweepSpec(name="drop", algos=("bc",), datasets=("cartpole", "acrobot"),
                            suite=None, num_seeds=1, num_updates=4, eval_every=4,
                            eval_episodes=1, batch_size=8, hidden_sizes=(8,))
    summary = runner.run_sweep(spec, tmp_path, progress=False, log=lambda s: None, datasets={
        "cartpole": data("CartPole-v1", 4, 2), "acrobot": data("Acrobot-v1", 6, 3)})
    assert summary["trained"] == 2 and alive_at_build == [0, 0]


PART_SPEC_FILE = SPEC_FILE.replace('name="killtest"', 'name="parttest"').replace(
    '"Pendulum-v1/mixed-sigma50pct",\n', "")


def _claim_of(out, pid):
    """Returns whether a claim file under ``out`` names ``pid`` as its holder."""
    for path in (out / "claims").glob("*.lock") if (out / "claims").is_dir() else ():
        with contextlib.suppress(OSError, json.JSONDecodeError):
            if json.loads(path.read_text()).get("pid") == pid:
                return True
    return False


@pytest.mark.slow
def test_a_sweep_split_over_two_processes_writes_the_one_process_record_set(
        tmp_path, tiny_suite_root):
    """Two `sweep --num_processes=2` processes write one store at once; the second is killed
    while it holds a program and rerun: the store then holds exactly the records one process
    writes, equal to them."""
    spec_path = tmp_path / "parttest.py"
    spec_path.write_text(PART_SPEC_FILE)
    out = tmp_path / "split"
    env = {**os.environ, "MINARI_DATASETS_PATH": str(tiny_suite_root)}

    def start(i):
        return subprocess.Popen(
            [sys.executable, "-m", "jaxrl_suite", "sweep", f"--spec={spec_path}", f"--out={out}",
             "--num_processes=2", f"--process_id={i}"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    procs = [start(0), start(1)]
    try:
        deadline = time.time() + 300
        while time.time() < deadline and procs[1].poll() is None and not _claim_of(
                out, procs[1].pid):
            time.sleep(0.05)
        assert procs[1].poll() is None, "process 1 ended before it could be killed"
        procs[1].send_signal(signal.SIGKILL)
        assert procs[1].wait() == -signal.SIGKILL
        assert procs[0].wait(timeout=600) == 0
    finally:
        for p in procs:
            p.kill()
    assert start(1).wait(timeout=600) == 0  # the rerun takes over the killed claim
    spec = runner.spec_from_config(_spec_module(spec_path).get_config())
    one = runner.run_sweep(spec, tmp_path / "one", root=tiny_suite_root, log=lambda _: None,
                           progress=False)
    assert one["trained"] == 4
    split, single = load_records(out), load_records(tmp_path / "one")
    assert len(split) == len(single) == 4 * 2 * spec.num_seeds  # 4 programs x 2 lrs x seeds
    assert sorted(f.stem for f in (out / "records").glob("*.json")) == sorted(
        r["hash"] for r in single)
    for a, b in zip(split, single):
        assert a["hash"] == b["hash"]
        np.testing.assert_allclose(a["final_return"], b["final_return"], rtol=1e-5)
        np.testing.assert_allclose(a["curve"]["return_mean"], b["curve"]["return_mean"],
                                   rtol=1e-5)
    assert not (out / "claims").exists()
    assert not list((out / "records").glob(".*tmp")) and not (out / "checkpoints").exists()


def test_partition_reads_flags_or_a_slurm_array_and_refuses_bad_pairs():
    assert runner.partition(None, None, {}) is None
    assert runner.partition(3, 2, {}) == (2, 3)
    slurm = {"SLURM_ARRAY_TASK_ID": "7", "SLURM_ARRAY_TASK_MIN": "5",
             "SLURM_ARRAY_TASK_COUNT": "4"}
    assert runner.partition(None, None, slurm) == (2, 4)
    assert runner.partition(2, 0, slurm) == (0, 2)  # flags win
    with pytest.raises(SuiteError, match="expected both or neither"):
        runner.partition(2, None, {})
    with pytest.raises(SuiteError, match="0 <= process_id < num_processes"):
        runner.partition(2, 2, {})
    with pytest.raises(SuiteError, match="SLURM_ARRAY_TASK_COUNT"):
        runner.partition(None, None, {"SLURM_ARRAY_TASK_ID": "1"})
