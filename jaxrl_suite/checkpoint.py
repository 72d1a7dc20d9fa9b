"""Orbax checkpoints of a whole vmapped training run: state [S] and metrics so far, after a
chunk.

A run saved after chunk c and restarted resumes from chunk c with the same keys, optimiser
states and parameters, so it ends in exactly the state an uninterrupted run reaches.

``train`` saves after its last chunk and after any chunk that ends at least ``interval()``
seconds after the previous save (the run's start for the first): a saved state is the whole
vmapped state (parameters, targets, optimiser moments of every cell; 3.3 MB per TD3+BC seed at
256 units, ~13 GB at 4,096 seeds: ``bench/checkpoint_cost.py``), copied to the host and
written to disk, so saving after every short chunk would stall the device for much of the run.
A kill loses at most the interval's work. ``--checkpoint_interval`` (a global CLI flag) sets
it; 0 saves after every chunk.
"""

from __future__ import annotations

import pathlib
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp


DEFAULT_INTERVAL_S = 120.0
_interval_s = DEFAULT_INTERVAL_S


def set_interval(seconds: float) -> None:
    """Sets the least time between two checkpoints of a run (0: after every chunk)."""
    global _interval_s
    from jaxrl_suite.errors import SuiteError

    if not (isinstance(seconds, (int, float)) and np.isfinite(seconds) and seconds >= 0):
        raise SuiteError(f"flag '--checkpoint_interval': expected seconds >= 0, found "
                         f"{seconds!r}")
    _interval_s = float(seconds)


def interval() -> float:
    """Returns the least time (seconds) between two checkpoints of a run."""
    return _interval_s


def _manager(directory: str | pathlib.Path) -> ocp.CheckpointManager:
    path = pathlib.Path(directory).absolute()
    return ocp.CheckpointManager(path, options=ocp.CheckpointManagerOptions(max_to_keep=2))


def _history_arrays(history: list[Any]) -> dict:
    stacked = jax.tree.map(lambda *xs: np.stack(xs, axis=0), *history)
    return {"update": dict(stacked.update), "eval_returns": stacked.eval_returns,
            "diverged": stacked.diverged}


def save(directory: str | pathlib.Path, chunk: int, state: Any, history: list[Any]) -> None:
    """Saves the run after ``chunk`` chunks (blocking; keeps the two newest)."""
    with _manager(directory) as manager:
        manager.save(chunk, args=ocp.args.Composite(
            state=ocp.args.StandardSave(state),
            history=ocp.args.StandardSave(_history_arrays(history)),
            progress=ocp.args.JsonSave({"chunks_done": int(chunk)})))
        manager.wait_until_finished()


def restore_latest(directory: str | pathlib.Path, like_state: Any):
    """Returns (state, history, chunks_done) of the newest checkpoint, or None if there is none.

    ``like_state`` gives the structure, shapes and dtypes to restore into (a freshly
    initialised state of the same run).
    """
    from jaxrl_suite.train import ChunkMetrics

    path = pathlib.Path(directory).absolute()
    if not path.exists():
        return None
    with _manager(path) as manager:
        step = manager.latest_step()
        if step is None:
            return None
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like_state)
        restored = manager.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract),
            history=ocp.args.StandardRestore(),
            progress=ocp.args.JsonRestore()))
    h = restored.history
    chunks = int(restored.progress["chunks_done"])
    history = [ChunkMetrics({k: np.asarray(v[i]) for k, v in h["update"].items()},
                            np.asarray(h["eval_returns"][i]), np.asarray(h["diverged"][i]))
               for i in range(chunks)]
    return restored.state, history, chunks
