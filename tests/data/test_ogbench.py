"""OGBench files read without the ogbench package: the raw layout its generators write, the
compact and regular layouts its loader returns, single-task rewards/masks and shard
directories, each written by the test and checked against a slow NumPy transcription of
``ogbench/utils.py::load_dataset``; clear errors on bad files."""

import numpy as np
import pytest

from jaxrl_suite.data import io
from jaxrl_suite.data.ogbench import env_name, load_ogbench, ogbench_info, shard_paths
from jaxrl_suite.errors import DatasetError

LENGTHS = (5, 1, 4, 3)


def _raw(seed=0, lengths=LENGTHS):
    """Rows as generate_manipspace.py writes them: obs before each action, terminals on each
    trajectory's last row (its next observation never saved)."""
    rng = np.random.default_rng(seed)
    n = sum(lengths)
    terminals = np.zeros(n, bool)
    terminals[np.cumsum(lengths) - 1] = True
    return dict(observations=rng.normal(size=(n, 4)).astype(np.float32),
                actions=rng.uniform(-1, 1, size=(n, 2)).astype(np.float32),
                terminals=terminals, qpos=rng.normal(size=(n, 3)).astype(np.float32))


def _regular_reference(raw):
    """ogbench/utils.py:84-90, transcribed."""
    terminals = raw["terminals"].astype(np.float32)
    ob_mask = (1.0 - terminals).astype(bool)
    next_ob_mask = np.concatenate([[False], ob_mask[:-1]])
    return dict(observations=raw["observations"][ob_mask],
                next_observations=raw["observations"][next_ob_mask],
                actions=raw["actions"][ob_mask],
                terminals=np.concatenate([terminals[1:], [1.0]])[ob_mask])


def _compact_reference(raw):
    """ogbench/utils.py:71-73, transcribed."""
    terminals = raw["terminals"].astype(np.float32)
    new_terminals = np.concatenate([terminals[1:], [1.0]])
    return dict(observations=raw["observations"], actions=raw["actions"],
                valids=1.0 - terminals, terminals=np.minimum(terminals + new_terminals, 1.0))


def _check(dataset, expected):
    np.testing.assert_array_equal(dataset.observations, expected["observations"])
    np.testing.assert_array_equal(dataset.next_observations, expected["next_observations"])
    np.testing.assert_array_equal(dataset.actions, expected["actions"])
    # each trajectory's last transition ends its episode by timeout; no env termination
    np.testing.assert_array_equal(dataset.timeouts, expected["terminals"].astype(bool))
    assert not np.asarray(dataset.terminals).any()
    assert (np.asarray(dataset.rewards) == 0).all()


@pytest.mark.parametrize("layout", ["raw", "compact", "regular"])
def test_each_layout_reads_as_ogbench_loads_it(tmp_path, layout):
    raw = _raw()
    regular = _regular_reference(raw)
    stored = {"raw": raw, "compact": _compact_reference(raw), "regular": regular}[layout]
    path = tmp_path / "cube-double-play-v0.npz"
    np.savez_compressed(path, **stored)
    dataset = io.load(path)  # io.load hands OGBench files to the OGBench reader
    _check(dataset, regular)
    assert dataset.num_transitions == sum(LENGTHS) - len(LENGTHS)
    # the one-row trajectory has no transition: three episodes remain
    assert dataset.num_episodes == 3
    assert dataset.meta.env_id == "cube-double-v0"
    assert ogbench_info(dataset) == {"ogbench_layout": layout, "rewards": "absent"}


def test_single_task_rewards_and_masks(tmp_path):
    regular = _regular_reference(_raw())
    n = len(regular["actions"])
    success = np.zeros(n, bool)
    success[[2, 6]] = True
    path = tmp_path / "scene-play-v0.npz"
    np.savez(path, **regular, rewards=success.astype(np.float32) - 1.0,
             masks=1.0 - success.astype(np.float32))
    dataset = load_ogbench(path, env_id="scene-singletask-task2-v0")
    np.testing.assert_array_equal(dataset.rewards, success - 1.0)
    np.testing.assert_array_equal(dataset.terminals, success)  # no bootstrap past success
    assert dataset.meta.env_id == "scene-singletask-task2-v0"
    assert ogbench_info(dataset)["rewards"] == "single-task"


def test_shards_are_the_sorted_training_files(tmp_path):
    root = tmp_path / "cube-triple-play-100m-v0"
    root.mkdir()
    for i in (2, 0, 1):
        np.savez(root / f"shard-{i:03d}.npz", **_raw(i))
    np.savez(root / "shard-000-val.npz", **_raw(9))
    shards = shard_paths(root)
    assert [p.name for p in shards] == [f"shard-{i:03d}.npz" for i in range(3)]
    first = load_ogbench(shards[0])
    _check(first, _regular_reference(_raw(0)))
    assert first.meta.env_id == "cube-triple-v0"
    with pytest.raises(DatasetError, match="shards.*no .npz file"):
        shard_paths(tmp_path / "empty")


def test_env_names():
    assert env_name("cube-double-play-v0") == "cube-double-v0"
    assert env_name("puzzle-4x4-noisy-v0") == "puzzle-4x4-v0"
    assert env_name("cube-quadruple-play-100m-v0") == "cube-quadruple-v0"
    with pytest.raises(ValueError, match="OGBench dataset name"):
        env_name("halfcheetah")


def test_bad_files_name_the_field(tmp_path):
    raw = _raw()
    cases = {
        "terminals": dict(raw, terminals=np.r_[raw["terminals"][:-1], False]),
        "actions": dict(raw, actions=raw["actions"][:-1]),
        "masks": dict(_regular_reference(raw), rewards=np.zeros(len(raw["actions"]) - 4),
                      masks=np.ones(3)),
        "rewards": dict(_regular_reference(raw), masks=np.ones(len(raw["actions"]) - 4)),
    }
    for field, arrays in cases.items():
        path = tmp_path / f"{field}-play-v0.npz"
        np.savez(path, **arrays)
        with pytest.raises(DatasetError, match=f"{field}-play-v0.npz: field '{field}'"):
            load_ogbench(path)
    flags = dict(raw, terminals=raw["terminals"].astype(np.float32) * 2)
    np.savez(tmp_path / "flags-play-v0.npz", **flags)
    with pytest.raises(DatasetError, match="field 'terminals': expected 0/1 values"):
        load_ogbench(tmp_path / "flags-play-v0.npz")
