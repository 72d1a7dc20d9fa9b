"""Optional experiment tracking for ``train`` and ``sweep``: each chunk's metrics, as it ends,
to TensorBoard event files and to Weights & Biases (``--logger=csv,tensorboard,wandb``).

``csv`` is the run's own record (``metrics.csv`` of ``train``, the results store of ``sweep``),
always written; the name is accepted so that ``--logger=csv,tensorboard`` reads as meant. The
other two are extras the core does not need (``pip install -e ".[tracking]"``); asking for one
that is not installed is a one-line error before anything trains.

What each chunk logs, at the number of updates done (the x axis): per hyperparameter cell, the
mean over its seeds of the evaluation return and, where reference returns are known, of the
normalised return, the number of diverged seeds, and the mean of each update metric
(``critic_loss``...); tags ``eval/return_mean/cell<c>``, ``update/<name>/cell<c>``. A cell's
mean leaves out its diverged seeds, as the final table does. Per-seed curves stay in
``metrics.csv`` (thousands of seeds would swamp a dashboard).

Weights & Biases runs in offline mode (files under the run directory, ``wandb sync`` uploads
them later) unless ``WANDB_MODE`` says otherwise or the API host answers and credentials are
set (``WANDB_API_KEY`` or a ``~/.netrc`` entry), so a machine without network never waits on it.
"""

from __future__ import annotations

import importlib.util
import os
import pathlib
import socket
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from jaxrl_suite.errors import SuiteError

LOGGERS = ("csv", "tensorboard", "wandb")
_PACKAGES = {"tensorboard": "tensorboardX", "wandb": "wandb"}
WANDB_HOST = ("api.wandb.ai", 443)


def check_loggers(names: Sequence[str]) -> list[str]:
    """Returns the live sinks among ``names`` (csv dropped); raises SuiteError naming a flag
    value that is unknown or whose package is not installed."""
    unknown = sorted(set(names) - set(LOGGERS))
    if unknown:
        raise SuiteError(f"flag '--logger': expected entries of {list(LOGGERS)}, found "
                         f"{unknown}")
    live = [n for n in dict.fromkeys(names) if n != "csv"]
    missing = [n for n in live if importlib.util.find_spec(_PACKAGES[n]) is None]
    if missing:
        raise SuiteError(f"flag '--logger': {missing} need(s) the package(s) "
                         f"{[_PACKAGES[n] for n in missing]}: pip install -e \".[tracking]\"")
    return live


def wandb_mode() -> str:
    """Returns WANDB_MODE if set, else "online" when the API host answers within a second and
    credentials are set, else "offline"."""
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"]
    netrc = pathlib.Path.home() / ".netrc"
    credentials = bool(os.environ.get("WANDB_API_KEY")) or (
        netrc.is_file() and "api.wandb.ai" in netrc.read_text(errors="ignore"))
    if not credentials:
        return "offline"
    try:
        socket.create_connection(WANDB_HOST, timeout=1.0).close()
    except OSError:
        return "offline"
    return "online"


def cell_scalars(eval_returns: np.ndarray, diverged: np.ndarray, update: Mapping[str, Any],
                 num_seeds: int, normalise: Callable[[float], float | None]) -> dict[str, float]:
    """Returns one chunk's scalars by tag: rows [cells * num_seeds] (cell-major) reduced to a
    mean per cell over its non-diverged seeds. eval_returns: [rows, episodes]; diverged,
    update[name]: [rows]."""
    ok = ~np.asarray(diverged, bool).reshape(-1, num_seeds)  # [cells, seeds]
    healthy = ok.sum(axis=1)

    def cell_means(values: Any) -> np.ndarray:  # [rows] -> [cells]; NaN where none healthy
        v = np.where(ok, np.asarray(values, np.float64).reshape(ok.shape), 0.0)
        return np.where(healthy > 0, v.sum(axis=1) / np.maximum(healthy, 1), np.nan)

    returns = cell_means(np.asarray(eval_returns, np.float64).mean(axis=-1))
    updates = {name: cell_means(values) for name, values in update.items()}
    out: dict[str, float] = {}
    for c in range(ok.shape[0]):  # tags are per cell: the dict is built cell by cell
        out[f"eval/diverged_seeds/cell{c}"] = float(ok.shape[1] - healthy[c])
        if not healthy[c]:
            continue
        out[f"eval/return_mean/cell{c}"] = float(returns[c])
        score = normalise(float(returns[c]))
        if score is not None and np.isfinite(score):
            out[f"eval/normalized_return/cell{c}"] = float(score)
        out.update({f"update/{name}/cell{c}": float(v[c]) for name, v in updates.items()})
    return out


class Trackers:
    """The live sinks of one run (or one sweep program): ``log(step, scalars)``, ``close()``."""

    def __init__(self, names: Sequence[str], out_dir: str | os.PathLike, run_name: str,
                 config: Mapping[str, Any]):
        self._writers: list[Any] = []
        self._wandb = None
        out_dir = pathlib.Path(out_dir)
        for name in check_loggers(names):
            if name == "tensorboard":
                from tensorboardX import SummaryWriter

                self._writers.append(SummaryWriter(str(out_dir / "tensorboard" / run_name)))
            else:
                import wandb

                (out_dir / "wandb").mkdir(parents=True, exist_ok=True)
                self._wandb = wandb.init(
                    project=os.environ.get("WANDB_PROJECT", "jaxrl_suite"), name=run_name,
                    dir=str(out_dir), config=dict(config), mode=wandb_mode(), reinit=True)

    def log(self, step: int, scalars: Mapping[str, float]) -> None:
        for writer in self._writers:
            for tag, value in scalars.items():
                writer.add_scalar(tag, value, step)
            writer.flush()
        if self._wandb is not None:
            self._wandb.log(dict(scalars), step=step)

    def close(self) -> None:
        for writer in self._writers:
            writer.close()
        if self._wandb is not None:
            self._wandb.finish()
        self._writers, self._wandb = [], None
