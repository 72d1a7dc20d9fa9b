"""The results store: hashing, append-only atomic records, clear errors on bad input, several
writers at once (claims, exclusive records, dead writers' temp files)."""

import json
import math
import os
import pathlib
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from jaxrl_suite.errors import SuiteError
from jaxrl_suite.sweep.store import (CONFIG_FIELDS, STALE_TEMP_S, ResultsStore, config_hash,
                                     load_final_evals, load_records, writer_tag)


def _record(seed=0, **changes):
    config = {f: None for f in CONFIG_FIELDS}
    config.update(sweep="s", algo="td3bc", dataset="d", env="Pendulum-v1", sampling="uniform",
                  hparams={"alpha": 2.5}, overrides={}, seed=seed, num_updates=10)
    config.update(changes)
    return {"hash": config_hash(config), "config": config, "final_score": float("nan"),
            "curve": {"step": [5, 10], "score": [1.0, math.inf]}}


def test_config_hash_ignores_key_order_and_sees_every_value():
    a = {"x": 1, "y": {"b": 2.0, "a": [1, 2]}}
    b = {"y": {"a": [1, 2], "b": 2.0}, "x": 1}
    assert config_hash(a) == config_hash(b)
    assert config_hash(a) != config_hash({**a, "x": 2})
    assert config_hash({"v": -0.0}) == config_hash({"v": 0.0})
    assert len(config_hash(a)) == 16


def test_add_is_append_only_and_records_are_strict_json(tmp_path):
    store = ResultsStore(tmp_path)
    first = _record(seed=0)
    assert store.add(first) is True
    assert store.add({**first, "final_score": 99.0}) is False  # never overwritten
    assert store.add(_record(seed=1)) is True
    assert store.done() == {first["hash"], _record(seed=1)["hash"]}
    text = (tmp_path / "records" / f"{first['hash']}.json").read_text()
    assert json.loads(text)["final_score"] is None  # NaN stored as null, not invalid JSON
    assert "NaN" not in text and "Infinity" not in text
    assert not list((tmp_path / "records").glob(".*tmp"))  # no temp files left
    records = load_records(tmp_path)
    assert [r["config"]["seed"] for r in records] == [0, 1]


def test_bad_records_are_refused_with_the_field_named(tmp_path):
    store = ResultsStore(tmp_path)
    bad_hash = {**_record(), "hash": "0" * 16}
    with pytest.raises(SuiteError, match="field 'hash'"):
        store.add(bad_hash)
    partial = _record()
    del partial["config"]["seed"]
    with pytest.raises(SuiteError, match=r"missing \['seed'\]"):
        store.add(partial)
    (tmp_path / "records").mkdir(exist_ok=True)
    (tmp_path / "records" / "broken.json").write_text("{\"hash\": ")
    with pytest.raises(SuiteError, match="broken.json"):
        load_records(tmp_path)
    with pytest.raises(SuiteError, match="expected a results directory"):
        load_records(tmp_path / "nowhere")


def test_temp_files_of_dead_writers_are_removed_and_live_writers_kept(tmp_path):
    store = ResultsStore(tmp_path)
    store.add(_record(seed=0))
    records = tmp_path / "records"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    host = writer_tag().split("~")[0]
    name = f".{_record(seed=1)['hash']}.json"
    of_dead = records / f"{name}.{host}~{int(dead.stdout)}.k2j3_x.tmp"
    of_live = records / f"{name}.{writer_tag()}.ab_c9.tmp"  # this process: alive
    elsewhere = records / f"{name}.otherhost~1.zz1.tmp"
    untagged_old = records / f"{name}.q8w.tmp"
    for path in (of_dead, of_live, elsewhere, untagged_old):
        path.write_text('{"half": ')
    old = time.time() - STALE_TEMP_S - 60
    os.utime(untagged_old, (old, old))
    with store.writing():
        assert not of_dead.exists() and not untagged_old.exists()
        assert of_live.exists() and elsewhere.exists()  # a live write, a recent remote one
        assert len(load_records(tmp_path)) == 1
        with ResultsStore(tmp_path).writing():  # several writers at once
            pass


def test_a_claim_excludes_others_names_its_owner_and_dies_with_its_holder(tmp_path):
    store = ResultsStore(tmp_path)
    claim = store.claim("p0", dict(process_id=3))
    assert claim is not None
    assert store.claim("p0") is None  # held, even by another claim of this process
    owner = store.claim_owner("p0")
    assert owner["pid"] == os.getpid() and owner["process_id"] == 3
    other = store.claim("p1")
    assert other is not None
    other.release()
    claim.release()
    assert not (tmp_path / "claims").exists()
    again = store.claim("p0")
    assert again is not None
    again.release()
    # A process killed while holding a claim leaves its file; the next one to ask takes it.
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from jaxrl_suite.sweep.store import "
         "ResultsStore; c = ResultsStore(sys.argv[1]).claim('p2'); print(c is not None, "
         "flush=True); time.sleep(60)", str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "True"
        assert store.claim("p2") is None
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    finally:
        holder.kill()
    assert (tmp_path / "claims" / "p2.lock").exists()
    taken = store.claim("p2")
    assert taken is not None and store.claim_owner("p2")["pid"] == os.getpid()
    taken.release()


def test_two_writers_of_one_hash_leave_one_whole_record(tmp_path, monkeypatch):
    store = ResultsStore(tmp_path)
    first = _record(seed=0)
    real_exists = pathlib.Path.exists
    # Both writers passed the exists() check; the second's exclusive create must lose.
    monkeypatch.setattr(pathlib.Path, "exists",
                        lambda self: False if self.suffix == ".json" else real_exists(self))
    assert store.add(first) is True
    assert store.add({**first, "final_score": 99.0}) is False
    monkeypatch.undo()
    assert json.loads((tmp_path / "records" / f"{first['hash']}.json").read_text())[
        "final_score"] is None
    assert not list((tmp_path / "records").glob(".*tmp"))


# A writer of the concurrency test: claims programs in its own random order, "trains" each
# (a short sleep) and writes its rows' records and final evaluations, as run_sweep does.
WRITER = """
import random, sys, time
import numpy as np
from jaxrl_suite.sweep.store import CONFIG_FIELDS, ResultsStore, config_hash

root, seed, programs, rows = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rng = random.Random(seed)
store = ResultsStore(root)
with store.writing():
    order = list(range(programs))
    rng.shuffle(order)
    for p in order:
        claim = store.claim(f"program{p}", dict(process_id=seed))
        if claim is None:
            continue
        try:
            done = store.done()
            for r in range(rows):
                config = {f: None for f in CONFIG_FIELDS}
                config.update(sweep="c", algo="bc", dataset=f"d{p}", seed=r, hparams={})
                h = config_hash(config)
                if h in done:
                    continue
                time.sleep(rng.uniform(0, 0.01))
                returns = np.full(50, 10.0 * p + r, np.float32)
                store.add(dict(hash=h, config=config, final_return=float(returns.mean()),
                               curve=dict(step=list(range(200)))), dict(returns=returns))
        finally:
            claim.release()
"""


def test_four_concurrent_writers_with_random_kills_leave_a_complete_whole_store(tmp_path):
    programs, rows = 16, 6
    rng = np.random.default_rng(0)

    def start(i):
        return subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), str(i),
                                 str(programs), str(rows)])

    writers = [start(i) for i in range(4)]
    victims = [int(v) for v in rng.choice(4, size=2, replace=False)]
    try:
        for victim in victims:  # two killed mid-way, at random moments
            records = tmp_path / "records"
            deadline = time.time() + 60
            while time.time() < deadline and (
                    not records.is_dir() or len(list(records.glob("*.json")))
                    < rng.integers(5, 30)):
                time.sleep(0.005)
            writers[victim].send_signal(signal.SIGKILL)
        codes = [w.wait(timeout=120) for w in writers]
    finally:
        for w in writers:
            w.kill()
    assert all(c == 0 or (i in victims and c == -signal.SIGKILL) for i, c in enumerate(codes))
    assert -signal.SIGKILL in codes, codes  # at least one died holding work
    # A rerun of one writer picks up what the killed ones held (their claims died with them).
    assert start(9).wait(timeout=120) == 0
    with ResultsStore(tmp_path).writing():  # removes the killed writers' temp files
        pass
    files = sorted((tmp_path / "records").glob("*.json"))
    loaded = load_records(tmp_path)  # every record file is whole JSON
    assert len(files) == len(loaded) == programs * rows
    assert {(r["config"]["dataset"], r["config"]["seed"]) for r in loaded} == {
        (f"d{p}", r) for p in range(programs) for r in range(rows)}
    finals = load_final_evals(tmp_path)  # every evaluation file is a whole npz
    assert set(finals) == {f.stem for f in files}
    for record in loaded:
        np.testing.assert_array_equal(finals[record["hash"]]["returns"],
                                      record["final_return"])
    assert not list((tmp_path / "records").glob(".*tmp"))
    assert not (tmp_path / "claims").exists()  # the last release removes the folder


def test_final_evaluations_go_beside_their_record_and_orphans_are_ignored(tmp_path):
    store = ResultsStore(tmp_path)
    record = _record(seed=0)
    returns = np.array([1.0, 2.5, np.nan], np.float32)
    assert store.add(record, {"returns": returns, "scores": returns * 2}) is True
    assert store.done() == {record["hash"]}  # the npz is not a record
    finals = load_final_evals(tmp_path)
    np.testing.assert_array_equal(finals[record["hash"]]["scores"], returns * 2)
    assert finals[record["hash"]]["returns"].dtype == np.float32
    # A kill between the two writes leaves a returns file without its record: not loaded.
    (tmp_path / "records" / "0123456789abcdef.npz").write_bytes(
        (tmp_path / "records" / f"{record['hash']}.npz").read_bytes())
    assert set(load_final_evals(tmp_path)) == {record["hash"]}
    with pytest.raises(SuiteError, match="final_eval"):
        store.add(_record(seed=1), {"scores": returns})
    with pytest.raises(SuiteError, match="final_eval"):
        store.add(_record(seed=1), {"returns": returns[:, None]})
    assert store.done() == {record["hash"]}  # refused before anything was written
