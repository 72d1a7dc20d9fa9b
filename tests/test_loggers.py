"""Experiment tracking (loggers.py): ``train`` with --logger=csv,tensorboard,wandb writes, as
each chunk ends, TensorBoard scalars equal to metrics.csv's per-cell means over seeds, and an
offline W&B run logging the same tags; unknown or missing loggers are
one-line errors; a sweep program logs the mean over its rows."""

import csv
import pathlib
import struct

import numpy as np
import pytest

from jaxrl_suite.data.dataset import DatasetMeta, from_arrays
from jaxrl_suite.errors import SuiteError
from jaxrl_suite.loggers import cell_scalars, check_loggers
from jaxrl_suite.run import run_training


def read_scalars(folder: pathlib.Path) -> dict[str, dict[int, float]]:
    """Returns {tag: {step: value}} from the TFRecord event files under ``folder`` (each record:
    u64 length, u32 crc, an Event proto, u32 crc)."""
    from tensorboardX.proto import event_pb2

    out: dict[str, dict[int, float]] = {}
    for path in sorted(folder.rglob("events.out.tfevents.*")):
        data = path.read_bytes()
        i = 0
        while i < len(data):
            (length,) = struct.unpack("<Q", data[i:i + 8])
            event = event_pb2.Event.FromString(data[i + 12:i + 12 + length])
            i += 12 + length + 4
            for value in event.summary.value:
                out.setdefault(value.tag, {})[int(event.step)] = value.simple_value
    return out


def _dataset(n=400, seed=0):
    rng = np.random.default_rng(seed)
    timeouts = np.zeros(n, bool)
    timeouts[99::100] = True
    return from_arrays(
        rng.normal(size=(n, 3)).astype(np.float32), rng.uniform(-2, 2, (n, 1)).astype(np.float32),
        -rng.uniform(0, 10, n).astype(np.float32), np.zeros(n, bool), timeouts,
        meta=DatasetMeta(env_id="Pendulum-v1", observation_shape=(3,), action_dim=1,
                         action_low=(-2.0,), action_high=(2.0,), ref_min_score=-1200.0,
                         ref_max_score=-150.0))


def test_cell_scalars_are_per_cell_means_over_healthy_seeds():
    returns = np.array([[1.0, 3.0], [5.0, 5.0], [10.0, 10.0], [7.0, 9.0]])  # 2 cells x 2 seeds
    diverged = np.array([False, False, True, False])
    got = cell_scalars(returns, diverged, {"loss": np.array([1.0, 2.0, 30.0, 4.0])}, 2,
                       lambda r: r / 10.0)
    assert got == {"eval/diverged_seeds/cell0": 0.0, "eval/return_mean/cell0": 3.5,
                   "eval/normalized_return/cell0": 0.35, "update/loss/cell0": 1.5,
                   "eval/diverged_seeds/cell1": 1.0, "eval/return_mean/cell1": 8.0,
                   "eval/normalized_return/cell1": 0.8, "update/loss/cell1": 4.0}


def test_unknown_or_missing_loggers_are_one_line_errors(monkeypatch):
    with pytest.raises(SuiteError, match=r"flag '--logger': expected entries of .* \['mlflow'\]"):
        check_loggers(["csv", "mlflow"])
    assert check_loggers(["csv", "tensorboard", "tensorboard"]) == ["tensorboard"]
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "wandb" else real(name, *a))
    with pytest.raises(SuiteError, match=r"\['wandb'\] need\(s\) the package\(s\) \['wandb'\]"):
        check_loggers(["wandb"])


def test_train_logs_each_chunk_to_tensorboard_and_offline_wandb(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    out = tmp_path / "run"
    run_training(algo="bc", dataset=_dataset(), dataset_name="synthetic", env_name="Pendulum-v1",
                 out=str(out), num_seeds=2, num_updates=30, eval_every=10, eval_episodes=2,
                 batch_size=32, sampling="uniform", sampling_temperature=None,
                 hp_specs=["learning_rate=1e-3,3e-4"], loggers=["csv", "tensorboard", "wandb"],
                 log=lambda *_: None)
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    scalars = read_scalars(out / "tensorboard")
    for cell in (0, 1):
        for step in (10, 20, 30):
            mine = [float(r["return_mean"]) for r in rows
                    if int(r["cell"]) == cell and int(r["step"]) == step]
            assert len(mine) == 2
            np.testing.assert_allclose(scalars[f"eval/return_mean/cell{cell}"][step],
                                       np.mean(mine), rtol=1e-5)
            np.testing.assert_allclose(scalars[f"update/actor_loss/cell{cell}"][step], np.mean(
                [float(r["actor_loss"]) for r in rows
                 if int(r["cell"]) == cell and int(r["step"]) == step]), rtol=1e-5)
    # The offline run's log (wandb's binary record stream, which `wandb sync` uploads) holds
    # every tag the TensorBoard files hold; its values are the same dict (Trackers.log).
    runs = list((out / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(runs) == 1
    content = runs[0].read_bytes()
    assert all(tag.encode() in content for tag in scalars), sorted(scalars)


def test_a_sweep_program_logs_the_mean_over_its_rows(tmp_path, tiny_suite_root):
    from jaxrl_suite.sweep import runner
    from jaxrl_suite.sweep.store import load_records

    spec = runner.SweepSpec(name="tracked", suite="tiny", algos=("bc",),
                            datasets=("Pendulum-v1/replay",), num_seeds=2, num_updates=200,
                            eval_every=100, eval_episodes=1, batch_size=32, hidden_sizes=(16,))
    runner.run_sweep(spec, tmp_path, root=tiny_suite_root, log=lambda _: None, progress=False,
                     loggers=["tensorboard"])
    folders = [p.name for p in (tmp_path / "tensorboard").iterdir()]
    assert folders == ["tracked-bc-Pendulum-v1_replay-uniform"]
    scalars = read_scalars(tmp_path / "tensorboard")
    records = load_records(tmp_path)
    for j, step in enumerate((100, 200)):
        np.testing.assert_allclose(scalars["eval/return_mean/cell0"][step], np.mean(
            [r["curve"]["return_mean"][j] for r in records]), rtol=1e-5)
