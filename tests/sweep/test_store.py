"""The results store: hashing, append-only atomic records, clear errors on bad input."""

import json
import math

import numpy as np
import pytest

from jaxrl_suite.errors import SuiteError
from jaxrl_suite.sweep.store import (CONFIG_FIELDS, ResultsStore, config_hash,
                                     load_final_evals, load_records)


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


def test_one_writer_at_a_time_and_temp_files_of_a_killed_writer_are_removed(tmp_path):
    store = ResultsStore(tmp_path)
    store.add(_record(seed=0))
    stale = tmp_path / "records" / f".{_record(seed=1)['hash']}.json.k2j3.tmp"
    stale.write_text('{"half": ')
    with store.writing():
        assert not stale.exists()
        assert len(load_records(tmp_path)) == 1
        with pytest.raises(SuiteError, match="another sweep is writing"):
            with ResultsStore(tmp_path).writing():
                pass
    with ResultsStore(tmp_path).writing():  # released
        pass


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
