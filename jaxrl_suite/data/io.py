"""Dataset files: D4RL-style npz and HDF5, and local Minari datasets (HDF5 or Arrow storage).

Every reader turns a file fault (missing, truncated, corrupt, a field of the wrong kind) into a
``DatasetError`` naming the file and the field (``"<file>"`` for whole-file faults), then hands
the arrays to ``from_arrays``, which does all content validation. Every writer is atomic: it
writes beside the target and renames, so a crash never leaves a partial dataset behind.

Minari is read and written on the local disk only; nothing here ever downloads.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import pathlib
import re
import shutil
import tempfile
from typing import Any, Callable, Iterator, Mapping

import h5py
import numpy as np

from jaxrl_suite.data import validate
from jaxrl_suite.data.dataset import FIELDS, Dataset, DatasetMeta, episode_structure, from_arrays
from jaxrl_suite.errors import DatasetError

PathLike = str | os.PathLike

# D4RL's field names; next_observations is optional (derived D4RL-style when absent).
ARRAY_KEYS = ("observations", "actions", "rewards", "terminals", "timeouts", "next_observations")
NPZ_META_KEY = "__meta__"
HDF5_META_ATTR = "jaxrl_suite_meta"
MINARI_META_KEY = "jaxrl_suite_meta"
WHOLE_FILE = "<file>"

# Minari's id grammar, (namespace/)name-v<version>, with the version required: minari 0.5.4's
# parse_dataset_id crashes on ids without one.
_MINARI_ID = re.compile(r"^(?:[-_\w][-_\w/]*[-_\w]+/)?[-_\w]+?-v\d+$")


# ---------------------------------------------------------------------------------------------
# Shared helpers: error wrapping, atomic writes, metadata as JSON.


@contextlib.contextmanager
def _reading(source: str, field: str) -> Iterator[None]:
    """Yields once; an exception a library raises inside becomes a DatasetError for ``field``."""
    try:
        yield
    except DatasetError:
        raise
    except (FileNotFoundError, IsADirectoryError) as exc:
        raise DatasetError(source, field, "an existing dataset file",
                           f"none ({type(exc).__name__})") from None
    except Exception as exc:  # zipfile, zlib, h5py, numpy format errors: all mean a bad file
        if isinstance(exc, ValueError) and "allow_pickle" in str(exc):
            # numpy refused to unpickle an object array: that is a wrong kind, not corruption
            raise DatasetError(source, field, "a numeric array", "pickled objects (never "
                               "loaded: unpickling can run arbitrary code)") from None
        raise DatasetError(source, field, "a readable, uncorrupted dataset file",
                           f"a truncated or corrupt file ({type(exc).__name__}: {exc})") from None


def atomic_write(path: PathLike, write: Callable[[str], None], *, exclusive: bool = False,
                 tag: str = "") -> pathlib.Path:
    """Returns ``path`` after ``write(temp_path)`` succeeded and the temp file replaced it.

    ``exclusive``: never replace an existing ``path``: the temp file is hard-linked onto it
    (create-exclusive, atomic) and FileExistsError raised, the temp removed, when ``path``
    exists. ``tag`` goes into the temp file's name (``.<name>.<tag>.<random>.tmp``), e.g. the
    writer's host and pid so that a cleanup can tell a dead writer's leftovers."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Same directory as the target, so os.replace is a rename within one filesystem (atomic).
    prefix = f".{path.name}.{tag}." if tag else f".{path.name}."
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=".tmp")
    os.close(fd)
    try:
        # mkstemp makes the file private (0600); give it the mode a plain open() would have.
        os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else 0o666 & ~_umask())
        write(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)  # the rename must not reach the disk before the data does
        finally:
            os.close(fd)
        if exclusive:
            os.link(tmp, path)  # FileExistsError when another writer got there first
            os.unlink(tmp)
        else:
            os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0o022)  # the only portable way to read the umask is to set it
    os.umask(mask)
    return mask


def _meta_to_dict(meta: DatasetMeta) -> dict[str, Any]:
    """Returns every DatasetMeta field but ``source`` (which is where it is read from next)."""
    out = dataclasses.asdict(meta)
    out.pop("source")
    out["info"] = [list(pair) for pair in meta.info]
    return out


def _tuples(value: Any) -> Any:
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


# One check per persisted DatasetMeta field (all but ``source``); a test keeps the two in step.
_META_CHECKS: dict[str, Callable[[Any], bool]] = {
    "env_id": lambda v: v is None or isinstance(v, str),
    "observation_shape": lambda v: isinstance(v, tuple) and all(isinstance(d, int) for d in v),
    "discrete": lambda v: isinstance(v, bool),
    "num_actions": lambda v: v is None or (isinstance(v, int) and v > 0),
    "action_dim": lambda v: v is None or (isinstance(v, int) and v > 0),
    "action_low": lambda v: v is None or (
        isinstance(v, tuple) and all(isinstance(x, (int, float)) for x in v)),
    "action_high": lambda v: v is None or (
        isinstance(v, tuple) and all(isinstance(x, (int, float)) for x in v)),
    "ref_min_score": lambda v: v is None or isinstance(v, (int, float)),
    "ref_max_score": lambda v: v is None or isinstance(v, (int, float)),
    "info": lambda v: isinstance(v, tuple) and all(
        isinstance(p, tuple) and len(p) == 2 and all(isinstance(s, str) for s in p) for p in v),
}


def _meta_from_dict(raw: Any, source: str, field: str) -> DatasetMeta:
    """Returns the DatasetMeta stored as ``raw``; unknown keys (a newer writer) are ignored."""
    if not isinstance(raw, Mapping):
        validate.fail(source, field, "a JSON object of DatasetMeta fields", type(raw).__name__)
    values: dict[str, Any] = {}
    for name, is_valid in _META_CHECKS.items():
        if name in raw:
            value = _tuples(raw[name])
            if not is_valid(value):
                validate.fail(source, field, f"a valid '{name}' entry", repr(raw[name]))
            if name in ("action_low", "action_high") and value is not None:
                value = tuple(float(x) for x in value)  # hand-written JSON may hold ints
            values[name] = value
    return DatasetMeta(source=source, **values)


def _meta_from_json(text: Any, source: str, field: str) -> DatasetMeta:
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    if not isinstance(text, str):
        validate.fail(source, field, "a JSON string", type(text).__name__)
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        validate.fail(source, field, "valid JSON", f"{exc}")
    return _meta_from_dict(raw, source, field)


def _missing_file(source: str) -> DatasetError:
    return DatasetError(source, WHOLE_FILE, "an existing dataset file", "no such file")


# ---------------------------------------------------------------------------------------------
# npz


def _is_ogbench(keys: set[str]) -> bool:
    """An OGBench file (``data/ogbench.py``): per-step rows with trajectory-end terminals and
    no ``timeouts`` (D4RL-style files have them), or ogbench's compact layout (``valids``)."""
    return {"observations", "actions", "terminals"} <= keys and (
        "valids" in keys or "timeouts" not in keys and NPZ_META_KEY not in keys)


def load_npz(path: PathLike) -> Dataset:
    """Returns the validated Dataset stored in a D4RL-style ``.npz`` archive.

    Keys: observations, actions, rewards, terminals, timeouts (required), next_observations
    (optional, else derived D4RL-style), ``__meta__`` (optional DatasetMeta JSON, as written by
    ``save_npz``). Other keys are ignored. Pickled (object) entries are refused, never unpickled.
    An OGBench file (no ``timeouts``; ``_is_ogbench``) is read by ``data.ogbench.load_ogbench``.
    """
    source = str(path)
    if not os.path.isfile(path):
        raise _missing_file(source)
    with _reading(source, WHOLE_FILE):
        archive = np.load(path, allow_pickle=False)
    if not isinstance(archive, np.lib.npyio.NpzFile):
        validate.fail(source, WHOLE_FILE, "an .npz archive of named arrays",
                      "a single .npy array")
    with archive:
        if _is_ogbench(set(archive.files)):
            from jaxrl_suite.data.ogbench import load_ogbench

            return load_ogbench(path)
        # Absent keys stay None, so that from_arrays names the missing field.
        arrays: dict[str, Any] = dict.fromkeys(ARRAY_KEYS)
        for key in ARRAY_KEYS:
            if key in archive.files:
                with _reading(source, key):
                    arrays[key] = archive[key]
        meta = None
        if NPZ_META_KEY in archive.files:
            with _reading(source, NPZ_META_KEY):
                entry = archive[NPZ_META_KEY]
            if entry.ndim != 0 or entry.dtype.kind not in "US":
                validate.fail(source, NPZ_META_KEY, "a JSON string", f"shape {entry.shape} "
                              f"dtype {entry.dtype}")
            meta = _meta_from_json(entry.item(), source, NPZ_META_KEY)
    return from_arrays(**arrays, meta=meta, source=source)


def save_npz(dataset: Dataset, path: PathLike) -> pathlib.Path:
    """Returns ``path`` after writing the Dataset and its metadata to it atomically (.npz)."""
    arrays = dataset.to_numpy()
    meta_json = json.dumps(_meta_to_dict(dataset.meta), sort_keys=True)

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:  # a file object: np.savez would append .npz to a name
            np.savez(f, **arrays, **{NPZ_META_KEY: np.array(meta_json)})

    return atomic_write(path, write)


# ---------------------------------------------------------------------------------------------
# HDF5 (D4RL layout: one dataset per field at the root)


def load_hdf5(path: PathLike) -> Dataset:
    """Returns the validated Dataset stored in a D4RL-style HDF5 file.

    Reads the D4RL fields from the file's root; groups D4RL files also hold (``infos/``,
    ``metadata/``) are ignored. DatasetMeta is read from the root attribute
    ``jaxrl_suite_meta`` when present (as written by ``save_hdf5``).
    """
    source = str(path)
    if not os.path.isfile(path):
        raise _missing_file(source)
    with _reading(source, WHOLE_FILE):
        h5 = h5py.File(path, "r")
    with h5:
        # Absent keys stay None, so that from_arrays names the missing field.
        arrays: dict[str, Any] = dict.fromkeys(ARRAY_KEYS)
        for key in ARRAY_KEYS:
            with _reading(source, WHOLE_FILE):
                present = key in h5
            if not present:
                continue
            with _reading(source, key):
                node = h5[key]
                if not isinstance(node, h5py.Dataset):
                    validate.fail(source, key, "an HDF5 dataset (array)",
                                  f"an HDF5 {type(node).__name__}")
                arrays[key] = node[()]
        meta = None
        with _reading(source, HDF5_META_ATTR):
            raw_meta = h5.attrs.get(HDF5_META_ATTR)
        if raw_meta is not None:
            meta = _meta_from_json(raw_meta, source, HDF5_META_ATTR)
    dataset = from_arrays(**arrays, meta=meta, source=source)
    return _with_d4rl_facts(dataset, source) if meta is None else dataset


def _with_d4rl_facts(dataset: Dataset, source: str) -> Dataset:
    """Returns ``dataset`` with env id and D4RL's reference returns attached when its file
    name is a D4RL one (``hopper_medium-v2.hdf5``); unchanged otherwise."""
    from jaxrl_suite.data.d4rl import parse_d4rl_name

    name = parse_d4rl_name(source)
    if name is None:
        return dataset
    meta = dataset.meta.replace(env_id=dataset.meta.env_id or name.env_id,
                                ref_min_score=name.ref_min_score,
                                ref_max_score=name.ref_max_score)
    return dataset.replace(meta=meta.with_info(d4rl=name.dataset_id))


def save_hdf5(dataset: Dataset, path: PathLike) -> pathlib.Path:
    """Returns ``path`` after writing the Dataset to it atomically as a D4RL-style HDF5 file."""
    arrays = dataset.to_numpy()
    meta_json = json.dumps(_meta_to_dict(dataset.meta), sort_keys=True)

    def write(tmp: str) -> None:
        with h5py.File(tmp, "w") as h5:
            for key, value in arrays.items():
                h5.create_dataset(key, data=value)
            h5.attrs[HDF5_META_ATTR] = meta_json

    return atomic_write(path, write)


# ---------------------------------------------------------------------------------------------
# Minari (local only)


def minari_root(root: PathLike | None = None) -> pathlib.Path:
    """Returns the Minari root: ``root``, else $MINARI_DATASETS_PATH, else minari's default.

    The environment variable is read at call time, so setting it after import takes effect.
    """
    if root is not None:
        return pathlib.Path(root)
    env_root = os.environ.get("MINARI_DATASETS_PATH")
    if env_root:
        return pathlib.Path(env_root)
    return pathlib.Path(os.path.expanduser("~"), ".minari", "datasets")


def local_minari_ids(root: PathLike | None = None) -> list[str]:
    """Returns the ids of the Minari datasets stored under the root, sorted."""
    base = minari_root(root)
    found: list[str] = []

    def walk(directory: pathlib.Path, prefix: str) -> None:
        if (directory / "data").is_dir():  # minari's own test for "this is a dataset"
            found.append(prefix)
            return
        with contextlib.suppress(OSError):
            for child in sorted(directory.iterdir()):
                if child.is_dir() and not child.name.startswith("."):
                    walk(child, f"{prefix}/{child.name}" if prefix else child.name)

    if base.is_dir():
        walk(base, "")
    return sorted(i for i in found if i)


def _minari_data_path(path: pathlib.Path) -> pathlib.Path | None:
    """Returns the ``data/`` directory of a Minari dataset at ``path`` (or ``path`` itself)."""
    if (path / "data" / "metadata.json").is_file():
        return path / "data"
    if (path / "metadata.json").is_file() and path.name == "data":
        return path
    return None


def _gymnasium_spaces(meta: DatasetMeta) -> tuple[Any, Any]:
    """Returns (observation_space, action_space) for a Dataset's metadata.

    A continuous dataset without declared bounds gets an unbounded Box (-inf, inf) rather than
    the data's min/max: bounds inferred from data would claim limits the env never declared.
    """
    from gymnasium import spaces

    observation_space = spaces.Box(-np.inf, np.inf, meta.observation_shape, np.float32)
    if meta.discrete:
        return observation_space, spaces.Discrete(int(meta.num_actions))
    low = (np.asarray(meta.action_low, np.float32) if meta.action_low is not None
           else np.full((meta.action_dim,), -np.inf, np.float32))
    high = (np.asarray(meta.action_high, np.float32) if meta.action_high is not None
            else np.full((meta.action_dim,), np.inf, np.float32))
    return observation_space, spaces.Box(low, high, (meta.action_dim,), np.float32)


def to_minari_episode_buffers(dataset: Dataset) -> list[Any]:
    """Returns one ``minari.data_collector.EpisodeBuffer`` per episode of the Dataset.

    Each buffer holds T + 1 observations (the episode's last next-observation appended), T
    actions, rewards, terminations (= terminals) and truncations (= timeouts). Discrete actions
    take the Discrete space's dtype (int64). Raises DatasetError if next_observations[t] differs
    from observations[t + 1] inside an episode: Minari keeps one observation sequence per
    episode and could not store it.
    """
    from minari.data_collector import EpisodeBuffer

    a = dataset.to_numpy()
    obs, next_obs = a["observations"], a["next_observations"]
    ends = a["terminals"] | a["timeouts"]
    inside = np.flatnonzero(~ends[:-1])  # t whose successor t + 1 is in the same episode
    obs_size = int(np.prod(obs.shape[1:]))
    mismatch = np.flatnonzero(np.any(
        (next_obs[inside] != obs[inside + 1]).reshape(inside.size, obs_size), axis=1))
    if mismatch.size:
        t = int(inside[mismatch[0]])
        validate.fail(dataset.meta.source, "next_observations",
                      "next_observations[t] == observations[t + 1] inside every episode "
                      "(Minari stores one observation sequence per episode)",
                      f"a mismatch at transition {t}")
    actions = a["actions"].astype(np.int64) if dataset.meta.discrete else a["actions"]
    _, starts, lengths = episode_structure(a["terminals"], a["timeouts"])
    buffers = []
    for start, length in zip(starts.tolist(), lengths.tolist()):
        stop = start + length
        buffers.append(EpisodeBuffer(
            observations=np.concatenate([obs[start:stop], next_obs[stop - 1:stop]], axis=0),
            actions=actions[start:stop],
            rewards=a["rewards"][start:stop],
            terminations=a["terminals"][start:stop],
            truncations=a["timeouts"][start:stop],
        ))
    return buffers


def _meta_from_minari(minari_dataset: Any, source: str) -> DatasetMeta:
    """Returns DatasetMeta from Minari's spaces, env spec and metadata (ours wins if stored)."""
    from gymnasium import spaces

    metadata = minari_dataset.storage.metadata
    obs_space, act_space = minari_dataset.observation_space, minari_dataset.action_space
    if not isinstance(obs_space, spaces.Box):
        validate.fail(source, "observations", "a Box observation space", repr(obs_space))
    fields: dict[str, Any] = dict(observation_shape=tuple(int(d) for d in obs_space.shape))
    if isinstance(act_space, spaces.Discrete):
        if int(act_space.start) != 0:
            validate.fail(source, "actions", "a Discrete action space starting at 0",
                          repr(act_space))
        fields.update(discrete=True, num_actions=int(act_space.n))
    elif isinstance(act_space, spaces.Box) and len(act_space.shape) == 1:
        fields.update(discrete=False, action_dim=int(act_space.shape[0]))
        # An unbounded Box declares no bounds; a bounded one is what validation checks against.
        if not (np.all(np.isinf(act_space.low)) and np.all(np.isinf(act_space.high))):
            fields.update(action_low=tuple(float(x) for x in act_space.low),
                          action_high=tuple(float(x) for x in act_space.high))
    else:
        validate.fail(source, "actions", "a Discrete or 1-D Box action space", repr(act_space))
    if minari_dataset.env_spec is not None:
        fields["env_id"] = minari_dataset.env_spec.id
    meta = DatasetMeta(source=source, **fields)
    if MINARI_META_KEY in metadata:
        meta = _meta_from_dict(metadata[MINARI_META_KEY], source, MINARI_META_KEY)
    # Minari's own fields are the ones minari.get_normalized_score reads: they are authoritative.
    for name in ("ref_min_score", "ref_max_score"):
        if metadata.get(name) is not None:
            meta = meta.replace(**{name: float(metadata[name])})
    return meta


def from_minari_dataset(minari_dataset: Any, *, source: str | None = None) -> Dataset:
    """Returns the validated Dataset holding a ``minari.MinariDataset``'s episodes, in order.

    Transition t of an episode is (obs[t], act[t], rew[t], obs[t + 1]) with terminals =
    terminations and timeouts = truncations. An episode whose last step carries neither flag
    (collection stopped mid-episode) is marked truncated there: its end is a time cut, not a
    termination. A flag before an episode's last step is an error. Observations, rewards and
    continuous actions become float32, discrete actions int32 (the Dataset's dtypes).
    """
    source = source or minari_dataset.id
    meta = _meta_from_minari(minari_dataset, source)
    parts: dict[str, list[np.ndarray]] = {k: [] for k in FIELDS}
    with _reading(source, WHOLE_FILE):
        episodes = list(minari_dataset.storage.get_episodes(minari_dataset.episode_indices))
    for episode in episodes:
        label = f"episode {episode['id']}"
        rewards = np.asarray(episode["rewards"])
        steps = rewards.shape[0]
        obs = np.asarray(episode["observations"])
        if steps == 0:
            validate.fail(source, "rewards", f"at least one step in {label}", "none")
        if obs.shape[0] != steps + 1:
            validate.fail(source, "observations", f"T + 1 = {steps + 1} observations in "
                          f"{label}", f"{obs.shape[0]}")
        terminations = validate.flags(source, f"terminations ({label})",
                                       np.asarray(episode["terminations"]), steps)
        truncations = validate.flags(source, f"truncations ({label})",
                                      np.asarray(episode["truncations"]), steps).copy()
        early = np.flatnonzero(terminations[:-1] | truncations[:-1])
        if early.size:
            validate.fail(source, f"terminations/truncations ({label})",
                          "an end flag on the episode's last step only",
                          f"a flag at step {int(early[0])} of {steps}")
        if not (terminations[-1] or truncations[-1]):
            truncations[-1] = True
        parts["observations"].append(obs[:-1])
        parts["next_observations"].append(obs[1:])
        parts["actions"].append(np.asarray(episode["actions"]))
        parts["rewards"].append(rewards)
        parts["terminals"].append(terminations)
        parts["timeouts"].append(truncations)
    if not episodes:
        validate.fail(source, "observations", "at least one episode", "an empty dataset")
    arrays = {k: np.concatenate(v, axis=0) for k, v in parts.items()}
    return from_arrays(**arrays, meta=meta)


def load_minari(dataset_id_or_path: PathLike, root: PathLike | None = None) -> Dataset:
    """Returns the Dataset of a local Minari dataset, given its directory or its id.

    An id is looked up under ``minari_root(root)``. Never downloads: an id that is not stored
    locally raises DatasetError naming the id, the root searched and the ids that are there.
    """
    import minari

    given = pathlib.Path(dataset_id_or_path)
    data_path = _minari_data_path(given) if given.is_dir() else None
    source = str(dataset_id_or_path)
    if data_path is None:
        base = minari_root(root)
        data_path = base / str(dataset_id_or_path) / "data"
        if not data_path.is_dir():
            local = local_minari_ids(base)
            shown = ", ".join(local[:20]) + (f", ... ({len(local)} in all)"
                                             if len(local) > 20 else "")
            raise DatasetError(
                source, "dataset_id",
                f"a Minari dataset stored locally under {base} (nothing is downloaded; fetch "
                f"it first, e.g. `minari download {dataset_id_or_path}`, or pass root=)",
                f"no such dataset; local ids: [{shown}]")
    with _reading(source, WHOLE_FILE):
        minari_dataset = minari.MinariDataset(data_path)
    dataset = from_minari_dataset(minari_dataset, source=source)
    return _with_minari_mujoco_refs(dataset, source, data_path.parent.parent)


_MINARI_MUJOCO = re.compile(r"(?:.*/)?(?P<namespace>mujoco/[-_\w]+)/(?P<level>[-_\w]+?)"
                            r"-v(?P<version>\d+)/?")


def _with_minari_mujoco_refs(dataset: Dataset, source: str, namespace_dir: pathlib.Path
                             ) -> Dataset:
    """Returns a Minari ``mujoco/<robot>/<level>-v<k>`` dataset with reference returns, which
    Minari's own do not ship (Minari issue #323); others unchanged.

    ref_min: the registry's random-policy return of the dataset's env
    (``envs.registry.REFERENCE_RETURNS``, measured by the suite); ref_max: the mean episode
    return of ``mujoco/<robot>/expert-v<k>`` when that dataset is stored beside this one (the
    expert dataset's own mean return), else the registry's expert return. ``info.references``
    says which.
    """
    match = _MINARI_MUJOCO.fullmatch(source)
    meta = dataset.meta
    if match is None or not meta.env_id or (
            meta.ref_min_score is not None and meta.ref_max_score is not None):
        return dataset
    from jaxrl_suite.envs.registry import REFERENCE_RETURNS, REFERENCE_SOURCES

    ref_min, ref_max = REFERENCE_RETURNS.get(meta.env_id, (None, None))
    how = dict(ref_min=REFERENCE_SOURCES.get(meta.env_id, "not measured"),
               ref_max=REFERENCE_SOURCES.get(meta.env_id, "not measured"))
    expert_name = f"expert-v{match['version']}"
    expert_dir = namespace_dir / expert_name
    if (expert_dir / "data").is_dir():
        if match["level"] == "expert":
            expert = dataset
        else:
            with _reading(str(expert_dir), WHOLE_FILE):
                import minari

                expert = from_minari_dataset(minari.MinariDataset(expert_dir / "data"),
                                             source=str(expert_dir))
        ref_max = float(np.mean(np.asarray(expert.episode_returns())))
        how["ref_max"] = (f"mean return of {match['namespace']}/{expert_name} "
                          f"({expert.num_episodes} episodes)")
    if ref_min is None and ref_max is None:
        return dataset
    meta = meta.replace(ref_min_score=ref_min, ref_max_score=ref_max)
    return dataset.replace(meta=meta.with_info(references=how))


def save_minari(
    dataset: Dataset,
    dataset_id: str,
    root: PathLike | None = None,
    data_format: str = "hdf5",
) -> pathlib.Path:
    """Returns the directory of the new local Minari dataset ``dataset_id`` holding the Dataset.

    ``data_format`` is Minari's storage, "hdf5" or "arrow". Spaces come from DatasetMeta (see
    ``_gymnasium_spaces``); the env spec is stored when ``env_id`` is a registered gymnasium
    id, so Minari users can recover the env. ``ref_min_score`` / ``ref_max_score`` go into
    Minari's own metadata fields (minari 0.5.4's ``create_dataset_from_buffers`` would only
    keep them next to a gymnasium eval env, so the storage is written directly); every other
    DatasetMeta field goes under the ``jaxrl_suite_meta`` key. The dataset is built in a
    hidden sibling directory and renamed into place, so a failure leaves nothing behind.
    Refuses to overwrite an existing dataset, as Minari does.
    """
    import gymnasium
    import minari
    from minari.dataset.minari_storage import MinariStorage

    if not _MINARI_ID.fullmatch(dataset_id):
        validate.fail(dataset_id, "dataset_id", "an id of the form (namespace/)name-v<version>",
                      repr(dataset_id))
    if data_format not in ("hdf5", "arrow"):
        validate.fail(dataset_id, "data_format", "'hdf5' or 'arrow'", repr(data_format))
    base = minari_root(root)
    target = base / dataset_id
    if target.exists():
        validate.fail(str(target), "dataset_id", "an id not yet stored under the root "
                      "(Minari datasets are never overwritten; delete it first)",
                      "an existing dataset")
    buffers = to_minari_episode_buffers(dataset)
    observation_space, action_space = _gymnasium_spaces(dataset.meta)
    env_id = dataset.meta.env_id
    registered = env_id is not None and env_id in gymnasium.registry
    env_spec = gymnasium.spec(env_id) if registered else None
    metadata: dict[str, Any] = {
        "dataset_id": dataset_id,
        "minari_version": minari.__version__,
        MINARI_META_KEY: _meta_to_dict(dataset.meta),
    }
    for name in ("ref_min_score", "ref_max_score"):
        if getattr(dataset.meta, name) is not None:
            metadata[name] = float(getattr(dataset.meta, name))

    _ensure_namespaces(base, dataset_id)
    tmp = pathlib.Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.",
                                        suffix=".tmp"))
    try:
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it private (0700)
        storage = MinariStorage.new(
            tmp / "data", observation_space=observation_space, action_space=action_space,
            env_spec=env_spec, data_format=data_format,
        )
        storage.update_metadata(metadata)
        storage.update_episodes(buffers)
        os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _ensure_namespaces(base: pathlib.Path, dataset_id: str) -> None:
    """Creates the id's namespace directories, each with the metadata file Minari expects."""
    base.mkdir(parents=True, exist_ok=True)
    directory = base
    for part in dataset_id.split("/")[:-1]:
        directory = directory / part
        directory.mkdir(parents=True, exist_ok=True)
        marker = directory / "namespace_metadata.json"
        if not marker.exists():
            marker.write_text("{}")


# ---------------------------------------------------------------------------------------------
# Dispatch


def load(path_or_id: PathLike, root: PathLike | None = None) -> Dataset:
    """Returns the Dataset at ``path_or_id``, dispatching on what it names.

    ``.npz`` -> ``load_npz``; ``.hdf5`` / ``.h5`` -> ``load_hdf5``; a Minari dataset directory
    (the id's directory or its ``data/``) -> ``load_minari``; otherwise a Minari id looked up
    under ``minari_root(root)``. Any other extension raises DatasetError.
    """
    path = pathlib.Path(path_or_id)
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return load_npz(path)
    if suffix in (".hdf5", ".h5"):
        return load_hdf5(path)
    if path.is_dir():
        if _minari_data_path(path) is None:
            validate.fail(str(path_or_id), WHOLE_FILE,
                          "a Minari dataset directory (with data/metadata.json)",
                          "a directory without one")
        return load_minari(path)
    if path.exists() or suffix:
        validate.fail(str(path_or_id), WHOLE_FILE,
                      "a file ending in .npz, .hdf5 or .h5, or a Minari dataset",
                      f"unknown extension '{suffix}'" if suffix else "a file without extension")
    if not _MINARI_ID.fullmatch(str(path_or_id)):
        validate.fail(str(path_or_id), WHOLE_FILE,
                      "an existing .npz/.hdf5/.h5 file, Minari dataset directory or local "
                      "Minari id ((namespace/)name-v<version>)", "nothing at that path")
    return load_minari(str(path_or_id), root=root)
