"""Dataset file I/O: exact round trips through npz, D4RL-style HDF5 and Minari (HDF5 and Arrow
storage), metadata preservation, Minari interoperability, dispatch and atomic saves."""

import dataclasses
import os

import h5py
import minari
import numpy as np
import pytest
from gymnasium import spaces
from minari.data_collector import EpisodeBuffer

from jaxrl_suite.data import (
    DatasetMeta,
    from_arrays,
    from_minari_dataset,
    load,
    load_hdf5,
    load_minari,
    load_npz,
    save_hdf5,
    save_minari,
    save_npz,
    to_minari_episode_buffers,
)
from jaxrl_suite.data import io as data_io
from jaxrl_suite.errors import DatasetError

# minari nags about missing authors, permalinks and eval envs: irrelevant to these checks.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

OBS_DIM, ACT_DIM, NUM_ACTIONS = 3, 2, 4
EPISODE_ENDS = ("terminal", "timeout", "both", "terminal")


def _minari_episodes(rng, lengths, discrete):
    """Returns Minari-layout episodes (T + 1 observations) in the suite's dtypes."""
    episodes = []
    for i, steps in enumerate(lengths):
        end = EPISODE_ENDS[i % len(EPISODE_ENDS)]
        terminations = np.zeros(steps, bool)
        truncations = np.zeros(steps, bool)
        terminations[-1] = end in ("terminal", "both")
        truncations[-1] = end in ("timeout", "both")
        actions = (rng.integers(0, NUM_ACTIONS, steps).astype(np.int64) if discrete
                   else rng.uniform(-1, 1, (steps, ACT_DIM)).astype(np.float32))
        episodes.append(dict(
            observations=rng.normal(size=(steps + 1, OBS_DIM)).astype(np.float32),
            actions=actions,
            rewards=rng.normal(size=steps).astype(np.float32),
            terminations=terminations,
            truncations=truncations,
        ))
    return episodes


def _meta(discrete):
    meta = DatasetMeta(env_id="toy/Chain-v0", ref_min_score=-12.5, ref_max_score=80.0)
    meta = meta.with_info(recipe="noisy", sigma=0.3, behaviour={"seed": 7})
    if discrete:
        return meta.replace(discrete=True, num_actions=NUM_ACTIONS)
    return meta.replace(action_low=(-1.0, -1.0), action_high=(1.0, 1.0))


def _dataset(discrete, lengths=(5, 3, 1, 6, 4)):
    episodes = _minari_episodes(np.random.default_rng(len(lengths)), lengths, discrete)
    cat = lambda key, sl=slice(None): np.concatenate([e[key][sl] for e in episodes])
    return from_arrays(
        observations=cat("observations", slice(None, -1)),
        next_observations=cat("observations", slice(1, None)),
        actions=cat("actions"), rewards=cat("rewards"),
        terminals=cat("terminations"), timeouts=cat("truncations"),
        meta=_meta(discrete),
    )


def _assert_same_arrays(got, want):
    got_arrays, want_arrays = got.to_numpy(), want.to_numpy()
    for key, value in want_arrays.items():
        assert got_arrays[key].dtype == value.dtype, key
        assert np.array_equal(got_arrays[key], value), key
    for key in ("episode_ids", "episode_starts", "episode_lengths"):
        assert np.array_equal(getattr(got, key), getattr(want, key)), key


def _assert_same_episodes(got_episodes, want_episodes):
    got_episodes, want_episodes = list(got_episodes), list(want_episodes)
    assert len(got_episodes) == len(want_episodes)
    for got, want in zip(got_episodes, want_episodes):
        for key in ("observations", "actions", "rewards", "terminations", "truncations"):
            g, w = np.asarray(_field(got, key)), np.asarray(_field(want, key))
            assert g.dtype == w.dtype, key
            assert np.array_equal(g, w), key


def _field(episode, key):
    return episode[key] if isinstance(episode, dict) else getattr(episode, key)


def _minari_episodes_on_disk(path):
    stored = minari.MinariDataset(path / "data")
    return list(stored.storage.get_episodes(stored.episode_indices))


@pytest.mark.parametrize("discrete", [False, True], ids=["continuous", "discrete"])
@pytest.mark.parametrize("fmt", ["npz", "hdf5"])
def test_file_roundtrip_preserves_arrays_and_meta(tmp_path, fmt, discrete):
    dataset = _dataset(discrete)
    save, load_file = (save_npz, load_npz) if fmt == "npz" else (save_hdf5, load_hdf5)
    path = save(dataset, tmp_path / f"d.{fmt}")
    back = load_file(path)
    _assert_same_arrays(back, dataset)
    assert back.meta == dataset.meta.replace(source=str(path))
    # and once more: file -> Dataset -> file keeps the arrays bit-identical
    again = load_file(save(back, tmp_path / f"again.{fmt}"))
    _assert_same_arrays(again, dataset)
    assert sorted(os.listdir(tmp_path)) == sorted([f"d.{fmt}", f"again.{fmt}"])  # no temp files


@pytest.mark.parametrize("discrete", [False, True], ids=["continuous", "discrete"])
@pytest.mark.parametrize("data_format", ["hdf5", "arrow"])
def test_minari_roundtrip_preserves_arrays_and_meta(tmp_path, data_format, discrete):
    dataset = _dataset(discrete)
    path = save_minari(dataset, "suite/chain-v0", root=tmp_path, data_format=data_format)
    assert path == tmp_path / "suite" / "chain-v0"
    back = load_minari("suite/chain-v0", root=tmp_path)
    _assert_same_arrays(back, dataset)
    assert back.meta == dataset.meta.replace(source="suite/chain-v0")
    # Minari -> Dataset -> Minari: the second dataset's episodes equal the first's exactly.
    save_minari(back, "suite/chain-v1", root=tmp_path, data_format=data_format)
    _assert_same_episodes(_minari_episodes_on_disk(tmp_path / "suite" / "chain-v1"),
                          _minari_episodes_on_disk(path))


@pytest.mark.parametrize("discrete", [False, True], ids=["continuous", "discrete"])
@pytest.mark.parametrize("data_format", ["hdf5", "arrow"])
def test_minari_built_by_minari_survives_dataset_roundtrip(tmp_path, monkeypatch, data_format,
                                                           discrete):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path))
    episodes = _minari_episodes(np.random.default_rng(0), [4, 7, 2, 5], discrete)
    action_space = (spaces.Discrete(NUM_ACTIONS) if discrete
                    else spaces.Box(-1.0, 1.0, (ACT_DIM,), np.float32))
    original = minari.create_dataset_from_buffers(
        "native/chain-v0", [EpisodeBuffer(**e) for e in episodes],
        observation_space=spaces.Box(-np.inf, np.inf, (OBS_DIM,), np.float32),
        action_space=action_space, data_format=data_format,
    )
    dataset = from_minari_dataset(original)
    assert dataset.meta.discrete == discrete and dataset.num_episodes == len(episodes)
    if not discrete:
        assert dataset.meta.action_low == (-1.0, -1.0)
    _assert_same_episodes(to_minari_episode_buffers(dataset), episodes)
    save_minari(dataset, "native/chain-v1", data_format=data_format)  # root from the env var
    _assert_same_episodes(minari.load_dataset("native/chain-v1").iterate_episodes(),
                          original.iterate_episodes())


def test_minari_env_spec_fills_env_id_bounds_and_reference_scores(tmp_path, monkeypatch):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path))
    rng = np.random.default_rng(1)
    buffers = [EpisodeBuffer(
        observations=rng.normal(size=(6, 3)).astype(np.float32),
        actions=rng.uniform(-2, 2, (5, 1)).astype(np.float32),
        rewards=rng.normal(size=5).astype(np.float32),
        terminations=np.zeros(5, bool), truncations=np.arange(5) == 4,
    )]
    minari.create_dataset_from_buffers("classic/pendulum/random-v0", buffers, env="Pendulum-v1",
                                       ref_min_score=-1500.0, ref_max_score=-150.0)
    meta = load("classic/pendulum/random-v0").meta
    assert meta.env_id == "Pendulum-v1"
    assert meta.action_low == (-2.0,) and meta.action_high == (2.0,)
    assert (meta.ref_min_score, meta.ref_max_score) == (-1500.0, -150.0)


def test_minari_reference_scores_are_read_by_minari(tmp_path, monkeypatch):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path))
    save_minari(_dataset(discrete=False), "suite/scored-v0")
    stored = minari.load_dataset("suite/scored-v0")
    assert stored.storage.metadata["ref_min_score"] == -12.5
    assert stored.storage.metadata["ref_max_score"] == 80.0
    np.testing.assert_allclose(minari.get_normalized_score(stored, np.array([-12.5, 80.0])),
                               [0.0, 1.0])
    assert "suite/scored-v0" in minari.list_local_datasets()


def test_minari_root_env_var_is_read_at_call_time(tmp_path, monkeypatch):
    first, second = tmp_path / "first", tmp_path / "second"
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(first))
    save_minari(_dataset(discrete=True), "suite/where-v0")
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(second))
    save_minari(_dataset(discrete=True), "suite/where-v0")
    assert (first / "suite" / "where-v0" / "data" / "metadata.json").is_file()
    assert (second / "suite" / "where-v0" / "data" / "metadata.json").is_file()
    assert load("suite/where-v0").meta.source == "suite/where-v0"


def test_minari_explicit_root_beats_env_var(tmp_path, monkeypatch):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "env"))
    save_minari(_dataset(discrete=True), "suite/explicit-v0", root=tmp_path / "explicit")
    assert (tmp_path / "explicit" / "suite" / "explicit-v0").is_dir()
    assert not (tmp_path / "env").exists()
    load_minari("suite/explicit-v0", root=tmp_path / "explicit")


def test_load_dispatches_on_extension_and_minari_directory(tmp_path):
    dataset = _dataset(discrete=False)
    paths = [
        save_npz(dataset, tmp_path / "d.npz"),
        save_hdf5(dataset, tmp_path / "d.hdf5"),
        save_hdf5(dataset, tmp_path / "d.h5"),
        save_minari(dataset, "suite/dispatch-v0", root=tmp_path / "minari"),
        tmp_path / "minari" / "suite" / "dispatch-v0" / "data",
    ]
    for path in paths:
        _assert_same_arrays(load(path), dataset)
        _assert_same_arrays(load(str(path)), dataset)
    _assert_same_arrays(load("suite/dispatch-v0", root=tmp_path / "minari"), dataset)


def test_d4rl_hdf5_extra_groups_are_ignored(tmp_path):
    dataset = _dataset(discrete=False)
    path = tmp_path / "d4rl.hdf5"
    with h5py.File(path, "w") as h5:
        for key, value in dataset.to_numpy().items():
            h5.create_dataset(key, data=value)
        h5.create_dataset("infos/qpos", data=np.zeros((dataset.num_transitions, 2)))
        h5.create_dataset("metadata/algorithm", data="SAC")
        h5["metadata"].attrs["policy"] = "expert"
    back = load(path)
    _assert_same_arrays(back, dataset)
    assert back.meta.env_id is None and back.meta.source == str(path)


def test_bare_npz_without_next_observations_derives_them_d4rl_style(tmp_path):
    obs = np.arange(8, dtype=np.float32)[:, None] * np.ones((1, 2), np.float32)
    # episode 0: t=0..2 ends by termination; episode 1: t=3..5 by timeout; episode 2: t=6..7
    terminals = np.array([0, 0, 1, 0, 0, 0, 0, 1], bool)
    timeouts = np.array([0, 0, 0, 0, 0, 1, 0, 0], bool)
    path = tmp_path / "bare.npz"
    np.savez(path, observations=obs, actions=np.zeros((8, 1), np.float32),
             rewards=np.arange(8, dtype=np.float32), terminals=terminals, timeouts=timeouts)
    dataset = load(path)
    # next_obs[t] == obs[t + 1] inside episodes; a terminal's next observation is itself (never
    # bootstrapped); the timeout-final t=5 has no successor in the file and is dropped, so t=4
    # now ends its episode by timeout.
    np.testing.assert_array_equal(np.asarray(dataset.observations)[:, 0], [0, 1, 2, 3, 4, 6, 7])
    np.testing.assert_array_equal(np.asarray(dataset.next_observations)[:, 0],
                                  [1, 2, 2, 4, 5, 7, 7])
    np.testing.assert_array_equal(dataset.rewards, [0, 1, 2, 3, 4, 6, 7])
    np.testing.assert_array_equal(dataset.terminals, [0, 0, 1, 0, 0, 0, 1])
    np.testing.assert_array_equal(dataset.timeouts, [0, 0, 0, 0, 1, 0, 0])
    np.testing.assert_array_equal(dataset.episode_lengths, [3, 2, 2])
    assert dataset.meta.source == str(path) and dataset.meta.info == ()


def test_to_minari_buffers_refuse_next_observations_minari_cannot_store():
    dataset = _dataset(discrete=False)
    arrays = {k: np.array(v) for k, v in dataset.to_numpy().items()}
    arrays["next_observations"][1] += 1.0  # t=1 is inside episode 0
    with pytest.raises(DatasetError, match="field 'next_observations'.*transition 1"):
        to_minari_episode_buffers(from_arrays(**arrays, meta=dataset.meta))


def test_minari_episode_without_end_flag_is_marked_truncated(tmp_path):
    episodes = _minari_episodes(np.random.default_rng(2), [3, 4], discrete=True)
    episodes[1]["terminations"][:] = False
    episodes[1]["truncations"][:] = False
    storage = _raw_minari_storage(tmp_path / "raw" / "data", discrete=True)
    storage.update_episodes([EpisodeBuffer(**e) for e in episodes])
    dataset = load(tmp_path / "raw")
    np.testing.assert_array_equal(dataset.timeouts, [0, 0, 0, 0, 0, 0, 1])
    np.testing.assert_array_equal(dataset.episode_lengths, [3, 4])


def _raw_minari_storage(data_path, discrete):
    from minari.dataset.minari_storage import MinariStorage

    data_path.parent.mkdir(parents=True)
    storage = MinariStorage.new(
        data_path, observation_space=spaces.Box(-np.inf, np.inf, (OBS_DIM,), np.float32),
        action_space=spaces.Discrete(NUM_ACTIONS) if discrete
        else spaces.Box(-1, 1, (ACT_DIM,), np.float32),
    )
    storage.update_metadata({"dataset_id": "raw-v0", "minari_version": minari.__version__})
    return storage


@pytest.mark.parametrize("fmt", ["npz", "hdf5"])
def test_failed_save_keeps_previous_file_and_leaves_no_temp(tmp_path, monkeypatch, fmt):
    dataset = _dataset(discrete=True)
    path = tmp_path / f"d.{fmt}"
    (save_npz if fmt == "npz" else save_hdf5)(dataset, path)
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full (simulated)")

    if fmt == "npz":
        monkeypatch.setattr(np, "savez", crash)
    else:
        monkeypatch.setattr(h5py.Group, "create_dataset", crash)
    with pytest.raises(OSError, match="simulated"):
        (save_npz if fmt == "npz" else save_hdf5)(_dataset(discrete=False), path)
    assert os.listdir(tmp_path) == [path.name]
    assert path.read_bytes() == before


def test_failed_minari_save_leaves_nothing(tmp_path, monkeypatch):
    from minari.dataset._storages.hdf5_storage import HDF5Storage

    def crash(*args, **kwargs):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(HDF5Storage, "update_episodes", crash)
    with pytest.raises(OSError, match="simulated"):
        save_minari(_dataset(discrete=True), "suite/crash-v0", root=tmp_path)
    assert os.listdir(tmp_path / "suite") == ["namespace_metadata.json"]


def test_minari_save_refuses_to_overwrite(tmp_path):
    save_minari(_dataset(discrete=True), "suite/once-v0", root=tmp_path)
    with pytest.raises(DatasetError, match="field 'dataset_id'.*existing dataset"):
        save_minari(_dataset(discrete=True), "suite/once-v0", root=tmp_path)


def test_saved_files_get_the_mode_a_plain_open_would_give(tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    dataset = _dataset(discrete=True)
    for path in (save_npz(dataset, tmp_path / "d.npz"), save_hdf5(dataset, tmp_path / "d.h5")):
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    path = save_minari(dataset, "suite/mode-v0", root=tmp_path)
    assert path.stat().st_mode & 0o777 == 0o777 & ~umask


def test_every_meta_field_but_source_is_persisted():
    persisted = {f.name for f in dataclasses.fields(DatasetMeta)} - {"source"}
    assert set(data_io._META_CHECKS) == persisted
    assert set(data_io._meta_to_dict(_meta(discrete=True))) == persisted
