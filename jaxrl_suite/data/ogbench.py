"""OGBench's dataset files (Park, Frans, Eysenbach & Levine, "OGBench: Benchmarking Offline
Goal-Conditioned RL", ICLR 2025), read without the ogbench package and without a download.

What a file holds (seohongpark/ogbench at 1d41409, ``data_gen_scripts/generate_manipspace.py``
lines 145-204, and ``ogbench/utils.py::load_dataset`` lines 30-96): one ``.npz`` per split
(``<name>.npz``, and ``<name>-val.npz`` beside it), with per-step rows
  observations [N, ...]  the observation BEFORE the row's action (float32; uint8 for visual),
  actions      [N, A],
  terminals    [N] bool, True on each trajectory's last row (the episode's time limit: an
               end of data, not an environment termination),
  qpos, qvel, button_states  (optional; what single-task reward relabelling reads).
A trajectory's last row has no successor in the file (its next observation was never saved),
so, as ``load_dataset``'s regular view does (lines 84-90), it is dropped: a trajectory of L rows
gives L - 1 transitions (s_t, a_t, s_t+1), the last of them ending the episode by timeout.

Also read: files already in ogbench's loaded layouts, as code built on it saves them --
"compact" (``valids``: 0 on each trajectory's last row, lines 60-73) and "regular"
(``next_observations``; ``terminals`` then mark each trajectory's last transition) -- and
single-task files with ``rewards``/``masks`` (``relabel_utils.relabel_dataset``: rewards =
success - 1, masks = 1 - success). A mask of 0 (success) becomes a terminal here (no
bootstrapping past it), which also ends the episode in the suite's episode structure.

Datasets of 100M transitions are directories of 1M-transition shards: every ``*.npz`` but
``*-val.npz``, in sorted order (ColinQiyangLi/dqc ``main.py`` lines 71-77). ``shard_paths``
lists them; ``load_ogbench`` reads one file, so a run holds one shard at a time.

Goal-conditioned datasets carry no rewards: they load with zeros (``meta.info['rewards']`` =
"absent"). The env id is OGBench's env name, the file name without its dataset type
(``cube-double-play-v0.npz`` -> ``cube-double-v0``, ``utils.py::make_env_and_datasets`` line
180), or of the shard directory's name (the shards' file names are not documented).
"""

from __future__ import annotations

import pathlib
import re
from typing import Any

import numpy as np

from jaxrl_suite.data import validate
from jaxrl_suite.data.dataset import Dataset, DatasetMeta, from_arrays

PathLike = str | pathlib.Path
LAYOUTS = ("raw", "compact", "regular")


def env_name(dataset_name: str) -> str:
    """Returns OGBench's env name of a dataset name (its dataset type removed), e.g.
    ``cube-double-play-v0`` -> ``cube-double-v0``, ``puzzle-4x4-play-100m-v0`` ->
    ``puzzle-4x4-v0`` (the 100m datasets' shard directories)."""
    name = re.sub(r"-\d+m(?=-v\d+$)", "", dataset_name)  # the size tag of 100m datasets
    parts = name.split("-")
    if len(parts) < 3 or not re.fullmatch(r"v\d+", parts[-1]):
        raise ValueError(f"'{dataset_name}': expected an OGBench dataset name "
                         "<env>-<type>-v<N>, e.g. cube-double-play-v0")
    return "-".join(parts[:-2] + parts[-1:])


def _env_of_path(path: pathlib.Path) -> str | None:
    """Returns the env name of a file's name, else of its directory's (a shard of
    ``cube-triple-play-100m-v0/``), else None."""
    for name in (path.name.removesuffix(".npz").removesuffix("-val"), path.parent.name):
        try:
            return env_name(name)
        except ValueError:
            continue
    return None


def shard_paths(directory: PathLike) -> list[pathlib.Path]:
    """Returns the training shards of a sharded dataset directory: every ``*.npz`` but the
    ``*-val.npz`` files, sorted. Raises DatasetError when there is none."""
    directory = pathlib.Path(directory)
    shards = sorted(p for p in directory.glob("*.npz") if not p.name.endswith("-val.npz"))
    if not shards:
        validate.fail(str(directory), "shards", "a directory of OGBench .npz shards",
                      "no .npz file other than *-val.npz")
    return shards


def _layout(keys: set[str], source: str) -> str:
    if "next_observations" in keys:
        return "regular"
    if "valids" in keys:
        return "compact"
    if {"observations", "actions", "terminals"} <= keys:
        return "raw"
    missing = sorted({"observations", "actions", "terminals"} - keys)
    validate.fail(source, missing[0], "an OGBench dataset array (observations, actions, "
                  "terminals)", f"a file with keys {sorted(keys)}")


def _flags(source: str, field: str, x: np.ndarray, n: int) -> np.ndarray:
    if x.shape != (n,):
        validate.fail(source, field, f"shape ({n},) (one value per row)", f"shape {x.shape}")
    if not np.all((x == 0) | (x == 1)):
        validate.fail(source, field, "0/1 values", f"values {np.unique(x)[:5].tolist()}")
    return x.astype(bool)


def load_ogbench(path: PathLike, env_id: str | None = None) -> Dataset:
    """Returns the Dataset of one OGBench ``.npz`` (a file of ``shard_paths`` too), in any of
    ``LAYOUTS``. ``env_id`` defaults to the env name of the file name (``env_name``).

    Raises DatasetError naming the file and field on a missing array, a length mismatch,
    non-0/1 flags, or rows after a trajectory's last terminal."""
    path = pathlib.Path(path)
    return ogbench_dataset(_read(path), str(path), env_id or _env_of_path(path))


def _read(path: pathlib.Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        validate.fail(str(path), "<file>", "an OGBench .npz file", "no such file")
    with np.load(path, allow_pickle=False) as file:
        return {k: file[k] for k in file.files}


def ogbench_dataset(arrays: dict[str, np.ndarray], source: str, env_id: str | None
                    ) -> Dataset:
    """Returns the Dataset of OGBench arrays in any of ``LAYOUTS`` (``load_ogbench``)."""
    layout = _layout(set(arrays), source)
    obs, actions = arrays["observations"], arrays["actions"]
    n = obs.shape[0]
    if actions.shape[0] != n:
        validate.fail(source, "actions", f"{n} rows (as observations)",
                      f"{actions.shape[0]} rows")
    ends = _flags(source, "terminals", arrays["terminals"], n)
    if n == 0 or not ends[-1]:
        validate.fail(source, "terminals", "True on the last row (every trajectory ends)",
                      "rows after the last terminal" if n else "no rows")
    rewards = arrays.get("rewards")
    masks = arrays.get("masks")
    if (rewards is None) != (masks is None):
        validate.fail(source, "rewards" if rewards is None else "masks",
                      "rewards and masks together (single-task relabelling)", "only one")
    if rewards is not None:
        rewards = np.asarray(rewards, np.float32)
        if rewards.shape != (n,):
            validate.fail(source, "rewards", f"shape ({n},)", f"shape {rewards.shape}")
        masks = _flags(source, "masks", np.asarray(masks), n)

    if layout == "regular":  # rows are transitions; terminals end trajectories
        keep = np.ones(n, bool)
        next_obs = arrays["next_observations"]
        if next_obs.shape != obs.shape:
            validate.fail(source, "next_observations", f"shape {obs.shape}",
                          f"shape {next_obs.shape}")
        timeouts = ends
    else:
        if layout == "compact":  # valids = 1 - (the raw file's terminals)
            valid = _flags(source, "valids", arrays["valids"], n)
            last = ~valid
        else:
            last = ends
        keep = ~last  # a trajectory's last row has no successor
        next_obs = np.concatenate([obs[1:], obs[-1:]])
        timeouts = np.concatenate([last[1:], [True]])  # the row before a last row
    terminals = np.zeros(n, bool) if masks is None else ~masks
    # OGBench scores an episode by its success (0 or 1; ``envs/ogbench_eval.py``): 0 and 1 as
    # the reference returns make the suite's normalised score the success rate in percent.
    meta = DatasetMeta(
        env_id=env_id,
        source=source, action_low=(-1.0,) * actions.shape[1],
        action_high=(1.0,) * actions.shape[1], ref_min_score=0.0, ref_max_score=1.0)
    meta = meta.with_info(ogbench_layout=layout,
                          rewards="absent" if rewards is None else "single-task")
    return from_arrays(
        observations=obs[keep], actions=np.asarray(actions[keep], np.float32),
        rewards=np.zeros(int(keep.sum()), np.float32) if rewards is None else rewards[keep],
        terminals=terminals[keep], timeouts=timeouts[keep] & ~terminals[keep],
        next_observations=next_obs[keep], meta=meta)


def ogbench_info(dataset: Dataset) -> dict[str, Any]:
    """Returns what ``load_ogbench`` recorded of the file: its layout and whether it had
    rewards."""
    info = dataset.meta.info_dict()
    return {k: info[k] for k in ("ogbench_layout", "rewards") if k in info}


def singletask_dataset(path: PathLike, task: int, sparse: bool = False) -> Dataset:
    """Returns a play/noisy dataset file (raw layout, with ``qpos`` and ``button_states`` as
    the suite's generator and OGBench's files keep them) relabelled for OGBench's single-task
    ``<env>-singletask-task<task>-v0``, with that env id: rewards and masks as
    ``ogbench.utils.make_env_and_datasets`` gives them (``load_dataset``'s regular view, lines
    62-90, then ``relabel_utils.relabel_dataset``: reward = successes - #subtasks of the ROW'S
    state, mask = 0 once all succeed). ``sparse`` is Q-chunking's ``--sparse`` (ColinQiyangLi/qc
    ``main.py`` lines 129-133: reward -1 unless every subtask succeeds, then 0), which its
    README uses for scene and puzzle-3x3. Needs the ogbench package."""
    import gymnasium

    try:
        import ogbench  # noqa: F401  (registers the envs)
        from ogbench.relabel_utils import relabel_dataset
    except ImportError as exc:
        raise ImportError(f"single-task relabelling needs the 'ogbench' package ({exc})") from exc
    path = pathlib.Path(path)
    raw = _read(path)
    if _layout(set(raw), str(path)) != "raw" or "qpos" not in raw:
        validate.fail(str(path), "qpos", "a raw-layout OGBench file with qpos (and "
                      "button_states) to relabel", f"keys {sorted(raw)}")
    base = _env_of_path(path)
    if base is None or not 1 <= task <= 5:
        validate.fail(str(path), "<name>", "an OGBench dataset name and a task in 1..5",
                      f"env {base}, task {task}")
    head, version = base.rsplit("-", 1)
    env_id = f"{head}-singletask-task{task}-{version}"
    keep = ~raw["terminals"].astype(bool)  # load_dataset's ob_mask: each row with a successor
    regular = {k: raw[k][keep] for k in ("observations", "actions", "qpos", "qvel",
                                         "button_states") if k in raw}
    regular["next_observations"] = raw["observations"][np.concatenate([[False], keep[:-1]])]
    regular["terminals"] = np.concatenate([raw["terminals"][1:], [1]])[keep]
    env = gymnasium.make(env_id)
    try:
        relabel_dataset(env_id, env, regular)
    finally:
        env.close()
    if sparse:
        regular["rewards"] = -(regular["rewards"] != 0.0).astype(np.float32)
    arrays = {k: regular[k] for k in ("observations", "actions", "next_observations",
                                      "terminals", "rewards", "masks")}
    dataset = ogbench_dataset(arrays, str(path), env_id)
    return dataset.replace(meta=dataset.meta.with_info(
        rewards="sparse single-task" if sparse else "single-task", task=task))
