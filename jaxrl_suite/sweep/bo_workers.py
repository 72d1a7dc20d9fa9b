"""Several BO workers on one optuna study: who is evaluating a RUNNING trial, and whether that
worker is still alive.

A worker (one ``run_bo`` call) labels each trial it asks with its identity (``Worker``: the
machine, the process id, a run id) before the trial gets parameters, and while it evaluates a
round it records optuna's heartbeat on the round's trials (``RDBStorage.record_heartbeat``
stamps a row per trial with the database's clock, so the workers' clocks do not matter). A
RUNNING trial belongs to a dead worker when

  * its worker ran on this machine and its process is gone (or is this process, whose run has
    returned or raised): known at once, so a rerun after a kill or Ctrl-C starts at once;
  * its heartbeat is older than the storage's grace period (optuna's own test,
    ``RDBStorage._get_stale_trial_ids``): the only sign a worker on another machine leaves.

Without a heartbeat (``heartbeat=None``) only the first test exists; a trial of another
machine is then taken for an interrupted one, as when a study had one driver.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pathlib
import socket
import threading
import uuid
import warnings
from typing import Any, Callable, Iterator, Sequence

import optuna

from jaxrl_suite.sweep.store import process_alive

# Runs of run_bo going on in this process (their Worker.run): a trial labelled with this pid and
# a run id not in here was left by an earlier call that returned or raised.
_LIVE_RUNS: set[str] = set()


def _machine() -> str:
    """Returns what tells two processes able to see each other's pids: host name, boot id and
    pid namespace (two containers on one kernel share the boot id, not the pid namespace)."""
    parts = [socket.gethostname()]
    with contextlib.suppress(OSError):
        parts.append(pathlib.Path("/proc/sys/kernel/random/boot_id").read_text().strip()[:8])
    with contextlib.suppress(OSError):
        parts.append(os.readlink("/proc/self/ns/pid"))  # e.g. "pid:[4026531836]"
    return "/".join(parts)


@dataclasses.dataclass(frozen=True)
class Worker:
    """The identity a worker writes into each trial it asks or takes over (user attr
    ``worker``)."""
    machine: str
    pid: int
    run: str

    def attr(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_attr(cls, value: Any) -> Worker | None:
        """Returns the worker a ``worker`` user attr names, None where there is none (a trial
        asked by a driver before labels, or by another program)."""
        try:
            return cls(machine=str(value["machine"]), pid=int(value["pid"]),
                       run=str(value["run"]))
        except (TypeError, KeyError, ValueError):
            return None


def this_worker() -> Worker:
    """Returns a new identity for one run of the driver in this process."""
    return Worker(machine=_machine(), pid=os.getpid(), run=uuid.uuid4().hex[:12])


@contextlib.contextmanager
def running(worker: Worker) -> Iterator[None]:
    """Marks ``worker``'s run as going on in this process while the block runs."""
    _LIVE_RUNS.add(worker.run)
    try:
        yield
    finally:
        _LIVE_RUNS.discard(worker.run)


def alive_here(owner: Worker, me: Worker) -> bool | None:
    """Returns whether ``owner`` is alive where this process can tell (same machine), else
    None."""
    if owner.machine != me.machine:
        return None
    if owner.pid == me.pid:
        return owner.run in _LIVE_RUNS
    return process_alive(owner.pid)


@dataclasses.dataclass(frozen=True)
class Beat:
    """A storage's heartbeat: recorded every ``interval`` seconds; a trial whose last one is
    older than ``grace`` seconds is stale."""
    storage: optuna.storages.RDBStorage
    interval: int
    grace: int

    def stale_trial_ids(self, study_id: int) -> set[int]:
        """Returns the ids of the study's RUNNING trials whose heartbeat is stale."""
        # optuna/storages/_rdb/storage.py, RDBStorage._get_stale_trial_ids: RUNNING trials
        # whose heartbeat row is older than the grace period by the database's now(); trials
        # without a row are never stale (so a worker records one before labelling a trial).
        # optuna.storages.fail_stale_trials uses it to fail them; we take them over instead.
        return set(self.storage._get_stale_trial_ids(study_id))


def beat_of(storage: optuna.storages.BaseStorage) -> Beat | None:
    """Returns the heartbeat ``storage`` was opened with, None without one."""
    if not isinstance(storage, optuna.storages.RDBStorage):
        return None
    interval = storage.get_heartbeat_interval()
    if interval is None:
        return None
    # optuna/storages/_rdb/storage.py, RDBStorage._get_stale_trial_ids: grace_period None means
    # 2 * heartbeat_interval.
    grace = storage.grace_period if storage.grace_period is not None else 2 * interval
    return Beat(storage=storage, interval=interval, grace=grace)


@contextlib.contextmanager
def quiet_heartbeat_warning() -> Iterator[None]:
    """Silences optuna's warning that ask-and-tell does not beat by itself (optuna/study/
    study.py, Study.ask: "Heartbeat of storage is supposed to be used with Study.optimize."):
    this driver records the heartbeat itself (``heartbeat``)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed")
        yield


@contextlib.contextmanager
def heartbeat(beat: Beat | None, trial_ids: Sequence[int],
              log: Callable[[str], None]) -> Iterator[None]:
    """Records the heartbeat of ``trial_ids`` now and every ``beat.interval`` seconds while the
    block runs (a thread; the block is the objective, which releases the GIL while XLA runs).
    A failed write (the database briefly away) is logged once and retried at the next beat."""
    if beat is None or not trial_ids:
        yield
        return
    for trial_id in trial_ids:
        beat.storage.record_heartbeat(trial_id)
    stop = threading.Event()
    failed: list[Exception] = []

    def loop() -> None:
        while not stop.wait(beat.interval):
            for trial_id in trial_ids:
                try:
                    beat.storage.record_heartbeat(trial_id)
                except Exception as exc:  # any database error: keep beating
                    if not failed:
                        log(f"BO heartbeat: recording failed ({type(exc).__name__}: {exc}); "
                            f"retrying every {beat.interval} s")
                    failed.append(exc)

    thread = threading.Thread(target=loop, name="bo-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
