"""Bad dataset files: each fault, written to disk by the test, raises DatasetError naming the
file and the offending field, never a raw numpy / zipfile / h5py exception."""

import json
import os
import zipfile

import h5py
import minari
import numpy as np
import pytest
from gymnasium import spaces
from minari.data_collector import EpisodeBuffer

from jaxrl_suite.data import from_arrays, load, load_minari, save_hdf5, save_minari, save_npz
from jaxrl_suite.data import io as data_io
from jaxrl_suite.errors import DatasetError

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

N = 10  # two episodes: t=0..3 ends by termination, t=4..9 by timeout


def _good_arrays():
    rng = np.random.default_rng(0)
    terminals = np.zeros(N, bool)
    timeouts = np.zeros(N, bool)
    terminals[3] = timeouts[9] = True
    return dict(
        observations=rng.normal(size=(N, 3)).astype(np.float32),
        actions=rng.uniform(-1, 1, (N, 2)).astype(np.float32),
        rewards=rng.normal(size=N).astype(np.float32),
        next_observations=rng.normal(size=(N, 3)).astype(np.float32),
        terminals=terminals,
        timeouts=timeouts,
    )


def _minari_ready():
    """Returns a small Dataset whose next observations Minari can store (derived, D4RL-style)."""
    arrays = _good_arrays()
    del arrays["next_observations"]
    return from_arrays(**arrays)


def _write_npz(path, arrays, meta=None):
    extra = {} if meta is None else {data_io.NPZ_META_KEY: np.array(json.dumps(meta))}
    np.savez(path, **arrays, **extra)


def _write_hdf5(path, arrays, meta=None):
    with h5py.File(path, "w") as h5:
        for key, value in arrays.items():
            value = np.asarray(value)
            h5.create_dataset(key, data=value.astype("S") if value.dtype.kind == "U" else value)
        if meta is not None:
            h5.attrs[data_io.HDF5_META_ATTR] = json.dumps(meta)


WRITERS = {"npz": _write_npz, "hdf5": _write_hdf5}


def _assert_names(excinfo, source, field):
    err = excinfo.value
    assert err.field == field, str(err)
    assert f"field '{field}'" in str(err)
    assert str(source) in str(err)


def _drop(key):
    return lambda a: {k: v for k, v in a.items() if k != key}


def _set(key, fn):
    return lambda a: {**a, key: fn(a)}


def _poke(key, index, value):
    def mutate(a):
        arr = a[key].copy()
        arr[index] = value
        return {**a, key: arr}
    return mutate


def _discrete(a):
    return {**a, "actions": np.array([0, 1, 2, 3, 0, 1, 2, 0, 1, 2])}


BAD_ARRAYS = {
    # name: (mutation of the good arrays, metadata stored in the file, field the error names)
    "missing_key": (_drop("rewards"), None, "rewards"),
    "length_mismatch": (_set("rewards", lambda a: a["rewards"][:-1]), None, "rewards"),
    "rewards_rank_2": (_set("rewards", lambda a: np.ones((N, 2), np.float32)), None, "rewards"),
    "observations_rank_1": (_set("observations", lambda a: a["observations"][:, 0]), None,
                            "observations"),
    "string_actions": (_set("actions", lambda a: np.array(["left"] * N)), None, "actions"),
    "terminal_flag_2": (_set("terminals", lambda a: a["terminals"].astype(np.int8) * 2), None,
                        "terminals"),
    "nan_observation": (_poke("observations", (2, 1), np.nan), None, "observations"),
    "inf_reward": (_poke("rewards", 5, np.inf), None, "rewards"),
    "empty": (lambda a: {k: v[:0] for k, v in a.items()}, None, "observations"),
    "action_outside_declared_bounds": (
        _poke("actions", (4, 1), 1.5), {"action_low": [-1, -1], "action_high": [1, 1]},
        "actions"),
    "discrete_action_not_below_num_actions": (_discrete, {"discrete": True, "num_actions": 3},
                                              "actions"),
    "last_episode_unterminated": (_poke("timeouts", 9, False), None, "terminals/timeouts"),
}


@pytest.mark.parametrize("fmt", sorted(WRITERS))
@pytest.mark.parametrize("case", sorted(BAD_ARRAYS))
def test_bad_arrays_in_file_name_file_and_field(tmp_path, fmt, case):
    mutate, meta, field = BAD_ARRAYS[case]
    path = tmp_path / f"bad.{fmt}"
    WRITERS[fmt](path, mutate(_good_arrays()), meta)
    with pytest.raises(DatasetError) as excinfo:
        load(path)
    _assert_names(excinfo, path, field)


@pytest.mark.parametrize("fmt", sorted(WRITERS))
def test_good_file_with_partial_metadata_loads(tmp_path, fmt):
    """The control for the table above: the unmutated arrays load, with the stored bounds."""
    path = tmp_path / f"good.{fmt}"
    WRITERS[fmt](path, _good_arrays(), {"action_low": [-1, -1], "action_high": [1, 1]})
    dataset = load(path)
    assert dataset.num_transitions == N and dataset.meta.action_high == (1.0, 1.0)


@pytest.mark.parametrize("fmt", ["npz", "hdf5", "h5"])
def test_missing_file(tmp_path, fmt):
    path = tmp_path / f"absent.{fmt}"
    with pytest.raises(DatasetError) as excinfo:
        load(path)
    _assert_names(excinfo, path, "<file>")


def _saved(tmp_path, fmt):
    dataset = from_arrays(**_good_arrays())
    path = tmp_path / f"d.{fmt}"
    return (save_npz if fmt == "npz" else save_hdf5)(dataset, path)


@pytest.mark.parametrize("fmt", ["npz", "hdf5"])
def test_file_cut_in_half(tmp_path, fmt):
    path = _saved(tmp_path, fmt)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError) as excinfo:
        load(path)
    _assert_names(excinfo, path, "<file>")


@pytest.mark.parametrize("fmt", ["npz", "hdf5"])
def test_random_bytes(tmp_path, fmt):
    path = tmp_path / f"noise.{fmt}"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, np.uint8).tobytes())
    with pytest.raises(DatasetError) as excinfo:
        load(path)
    _assert_names(excinfo, path, "<file>")


def test_hdf5_with_zip_header_is_not_mistaken(tmp_path):
    """An npz renamed .hdf5 is refused by the HDF5 reader, not read as an archive."""
    path = tmp_path / "renamed.hdf5"
    path.write_bytes(_saved(tmp_path, "npz").read_bytes())
    with pytest.raises(DatasetError) as excinfo:
        load(path)
    _assert_names(excinfo, path, "<file>")


def test_npz_corrupt_entry_names_the_entry(tmp_path):
    path = _saved(tmp_path, "npz")
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("observations.npy")
    data = bytearray(path.read_bytes())
    # local header (30 bytes + name + extra), then the .npy header (128 bytes), then the data
    local_extra = int.from_bytes(data[info.header_offset + 28: info.header_offset + 30], "little")
    offset = info.header_offset + 30 + len(info.filename) + local_extra + 128 + 8
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(DatasetError) as excinfo:
        load(path)
    _assert_names(excinfo, path, "observations")


def test_npz_pickled_entry_is_refused_not_unpickled(tmp_path):
    path = tmp_path / "pickled.npz"
    arrays = _good_arrays()
    ragged = np.empty(N, dtype=object)
    ragged[:] = [np.zeros(i % 3 + 1) for i in range(N)]
    np.savez(path, **{**arrays, "observations": ragged})
    with pytest.raises(DatasetError) as excinfo:
        load(path)
    _assert_names(excinfo, path, "observations")
    assert "pickled" in str(excinfo.value)


def test_hdf5_group_where_an_array_belongs(tmp_path):
    path = tmp_path / "group.hdf5"
    arrays = _good_arrays()
    with h5py.File(path, "w") as h5:
        for key, value in arrays.items():
            if key == "actions":
                h5.create_dataset("actions/joint_0", data=value[:, 0])
            else:
                h5.create_dataset(key, data=value)
    with pytest.raises(DatasetError) as excinfo:
        load(path)
    _assert_names(excinfo, path, "actions")


@pytest.mark.parametrize("fmt", sorted(WRITERS))
def test_malformed_metadata(tmp_path, fmt):
    path = tmp_path / f"meta.{fmt}"
    WRITERS[fmt](path, _good_arrays())
    meta_field = data_io.NPZ_META_KEY if fmt == "npz" else data_io.HDF5_META_ATTR
    if fmt == "npz":
        np.savez(path, **_good_arrays(), **{meta_field: np.array("{not json")})
    else:
        with h5py.File(path, "a") as h5:
            h5.attrs[meta_field] = json.dumps({"num_actions": "three"})
    with pytest.raises(DatasetError) as excinfo:
        load(path)
    _assert_names(excinfo, path, meta_field)


def test_unknown_extension(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("observations,actions\n")
    with pytest.raises(DatasetError, match="unknown extension '.csv'") as excinfo:
        load(path)
    _assert_names(excinfo, path, "<file>")


def test_minari_id_not_stored_locally_is_never_downloaded(tmp_path, monkeypatch):
    save_minari(_minari_ready(), "suite/present-v0", root=tmp_path)

    def no_download(*args, **kwargs):
        pytest.fail("a download was attempted")

    monkeypatch.setattr(minari.storage.hosting, "download_dataset", no_download)
    monkeypatch.setattr(minari.storage.hosting, "get_cloud_storage", no_download)
    monkeypatch.setattr(minari, "download_dataset", no_download)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    for loader in (load, load_minari):
        with pytest.raises(DatasetError) as excinfo:
            loader("D4RL/door/human-v2", root=tmp_path)
        _assert_names(excinfo, "D4RL/door/human-v2", "dataset_id")
        assert str(tmp_path) in str(excinfo.value)
        assert "suite/present-v0" in str(excinfo.value)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_minari_flag_before_episode_end(tmp_path):
    from minari.dataset.minari_storage import MinariStorage

    rng = np.random.default_rng(0)
    terminations = np.array([False, True, False, True])  # terminated at step 1 of 4
    storage = MinariStorage.new(
        tmp_path / "data", observation_space=spaces.Box(-np.inf, np.inf, (3,), np.float32),
        action_space=spaces.Discrete(2))
    storage.update_metadata({"dataset_id": "mid-v0", "minari_version": minari.__version__})
    storage.update_episodes([EpisodeBuffer(
        observations=rng.normal(size=(5, 3)).astype(np.float32), actions=np.zeros(4, np.int64),
        rewards=np.zeros(4, np.float32), terminations=terminations,
        truncations=np.zeros(4, bool),
    )])
    with pytest.raises(DatasetError) as excinfo:
        load(tmp_path)
    _assert_names(excinfo, tmp_path, "terminations/truncations (episode 0)")


def test_minari_corrupt_storage(tmp_path):
    path = save_minari(_minari_ready(), "suite/corrupt-v0", root=tmp_path)
    main = path / "data" / "main_data.hdf5"
    main.write_bytes(main.read_bytes()[:200])
    with pytest.raises(DatasetError) as excinfo:
        load(path)
    _assert_names(excinfo, path, "<file>")


@pytest.mark.parametrize("dataset_id", ["no-version", "../escape-v0", "a b-v0"])
def test_minari_save_rejects_malformed_id(tmp_path, dataset_id):
    with pytest.raises(DatasetError) as excinfo:
        save_minari(_minari_ready(), dataset_id, root=tmp_path)
    _assert_names(excinfo, dataset_id, "dataset_id")
    assert os.listdir(tmp_path) == []
