"""The results store: one append-only record per (algorithm, dataset, sampling, hyperparameters,
seed), each in its own file, written atomically.

Layout of a results directory::

    records/<hash>.json     one finished run (config, evaluation curve, final score, flags)
    records/<hash>.npz      its final evaluation, when the run had one (final_eval_episodes
                            > 0): per-episode ``returns`` [E] and normalised ``scores`` [E]
    checkpoints/<program>/  orbax checkpoints of a program still running (removed when done)
    claims/<program>.lock   the claim on a program being trained: held (flock) by its writer,
                            naming it (host, pid, process id, start time)


A record's ``hash`` is the SHA-256 (16 hex digits) of its canonical config JSON, so a sweep
re-run finds what is done by hash and skips it. A record is written to a temp file in the same
directory, flushed to disk and renamed onto its final name: a reader (or a kill at any moment)
sees either no file or the whole file, never half of one. Records are never overwritten. A
record's returns file is written (the same way) before the record itself, so a record that
names one always has it; a kill between the two leaves a returns file without a record, which
the re-run writes again.

Several processes (on one machine, or on several sharing the directory) may write one store at
once. A record is created exclusively (hard-linked onto its name, which fails if the name
exists), so two writers of one hash leave one whole record, never a mix. A program is trained
by the one process holding its claim (``ResultsStore.claim``): an exclusive ``flock`` on
``claims/<program>.lock``, which others skip and retry later. The kernel drops a flock when its
holder dies, even by SIGKILL, so a killed writer's claim is taken over by the next one to ask,
with no lease to wait out; on NFS (v4, or v3 with lockd) the server drops a crashed client's
locks when its lease expires. A writer tags its temp files with its host and pid, and
``ResultsStore.writing`` removes those of writers that are dead (or, from other hosts, older
than ``STALE_TEMP_S``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import math
import os
import pathlib
import re
import socket
import time
import zipfile
from typing import Any, Iterable, Iterator, Mapping

import numpy as np

from jaxrl_suite.data.io import atomic_write
from jaxrl_suite.errors import SuiteError

RECORDS = "records"
CHECKPOINTS = "checkpoints"
CLAIMS = "claims"
# A temp file from another host is removed once this old (a live write takes seconds); this
# host's temp files are removed as soon as the pid in their name is gone.
STALE_TEMP_S = 3600.0
_TEMP = re.compile(r"^\..+\.(?P<host>[^.~/]+)~(?P<pid>\d+)\.[^.]+\.tmp$")
# The fields of a record's config that identify it; every one is part of the hash.
# ``dataset`` is the name a spec uses ("Pendulum-v1/replay"); ``dataset_source`` what it
# resolved to (the suite's Minari id, a path, or the name of an in-memory dataset), so that the
# same name in two suites gives two records.
CONFIG_FIELDS = ("sweep", "algo", "dataset", "env", "sampling", "sampling_temperature",
                 "hparams", "overrides", "seed", "num_updates", "batch_size", "eval_every",
                 "eval_episodes", "learner_config", "dataset_source", "dataset_transitions")


def _canonical(value: Any) -> Any:
    """Returns ``value`` with floats made JSON-stable (NaN/inf as strings, -0.0 as 0.0)."""
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, float):
        return repr(value) if not math.isfinite(value) else value + 0.0
    return value


def config_hash(config: Mapping[str, Any]) -> str:
    """Returns the 16-hex-digit SHA-256 of ``config`` as canonical (sorted-key) JSON."""
    text = json.dumps(_canonical(config), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _json_safe(value: Any) -> Any:
    """Returns ``value`` with non-finite floats as None (strict JSON has no NaN)."""
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _host() -> str:
    """Returns this host's name as a temp-file tag allows (no '.', '~' or '/')."""
    return re.sub(r"[.~/]", "-", socket.gethostname()) or "host"


def writer_tag() -> str:
    """Returns this process's temp-file tag, ``<host>~<pid>``."""
    return f"{_host()}~{os.getpid()}"


def process_alive(pid: int) -> bool:
    """Returns whether process ``pid`` of this machine is alive: it exists and is not a zombie
    (a killed child its parent has not reaped yet does nothing more)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[:1] != ["Z"]


def _stale_temp(path: pathlib.Path, now: float) -> bool:
    """Returns whether a temp file was left by a dead writer: this host's by its pid, another
    host's (or an untagged one) by its age."""
    match = _TEMP.match(path.name)
    if match and match["host"] == _host():
        return not process_alive(int(match["pid"]))
    try:
        return now - path.stat().st_mtime > STALE_TEMP_S
    except FileNotFoundError:
        return False


@dataclasses.dataclass
class Claim:
    """A held claim on one program (``ResultsStore.claim``): the open, flock-ed claim file."""

    path: pathlib.Path
    fd: int

    def release(self) -> None:
        """Removes the claim file, then drops the lock (in that order: a process that opened
        the old file meanwhile finds it unlinked once it gets the lock, and retries)."""
        if self.fd < 0:
            return
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        os.close(self.fd)  # closing the last descriptor drops the flock
        self.fd = -1
        with contextlib.suppress(OSError):  # the folder goes with the last claim
            self.path.parent.rmdir()


class ResultsStore:
    """An append-only directory of run records (see the module docstring)."""

    def __init__(self, root: str | os.PathLike):
        self.root = pathlib.Path(root)
        self.records_dir = self.root / RECORDS

    @contextlib.contextmanager
    def writing(self) -> Iterator["ResultsStore"]:
        """Prepares the store for writing and yields it: creates the directory and removes the
        temp files dead writers left (``_stale_temp``). Other processes may write at the
        same time: programs are shared out by ``claim``, records are created exclusively."""
        self.root.mkdir(parents=True, exist_ok=True)
        now = time.time()
        for directory in (self.records_dir, self.root / CHECKPOINTS):
            for tmp in directory.glob(".*.tmp") if directory.is_dir() else ():
                if _stale_temp(tmp, now):
                    tmp.unlink(missing_ok=True)
        yield self

    def claim(self, program_hash: str, owner: Mapping[str, Any] | None = None
              ) -> Claim | None:
        """Returns the claim on ``program_hash`` if this call got it, None if another process
        (or another claim of this one) holds it. The claim file is written with ``owner``
        (plus host, pid and time) for ``claim_owner``. Release it with ``Claim.release``; a
        process that dies releases it by dying."""
        path = self.root / CLAIMS / f"{program_hash}.lock"
        while True:
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            except FileNotFoundError:  # another writer removed the empty folder meanwhile
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return None
            try:
                current = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                current = False
            if current:
                break
            os.close(fd)  # its holder released (unlinked) it between our open and flock
        info = dict(owner or {}, host=socket.gethostname(), pid=os.getpid(),
                    claimed=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
        return Claim(path, fd)

    def claim_owner(self, program_hash: str) -> dict[str, Any] | None:
        """Returns what the claim file of ``program_hash`` says of its holder (None if there
        is none or it is being written)."""
        try:
            return json.loads((self.root / CLAIMS / f"{program_hash}.lock").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def checkpoint_dir(self, program_hash: str) -> pathlib.Path:
        """Returns the checkpoint directory of one compiled program's run."""
        return self.root / CHECKPOINTS / program_hash

    def done(self) -> set[str]:
        """Returns the hashes of every record in the store."""
        if not self.records_dir.is_dir():
            return set()
        return {p.stem for p in self.records_dir.glob("*.json")}

    def add(self, record: Mapping[str, Any],
            final_eval: Mapping[str, np.ndarray] | None = None) -> bool:
        """Writes ``record`` unless one with its hash exists; returns whether it was written.

        The record must carry ``config`` (every field of CONFIG_FIELDS) and ``hash``, which
        must equal ``config_hash(config)``. ``final_eval``: the final evaluation's per-episode
        ``returns`` [E] (and ``scores`` [E] where the dataset has reference returns), written
        first to ``records/<hash>.npz``.
        """
        config = record.get("config")
        if not isinstance(config, Mapping):
            raise SuiteError("results store: field 'config': expected a mapping, found "
                             f"{type(config).__name__}")
        missing = [f for f in CONFIG_FIELDS if f not in config]
        if missing:
            raise SuiteError(f"results store: field 'config': missing {missing}")
        if record.get("hash") != config_hash(config):
            raise SuiteError(f"results store: field 'hash': expected {config_hash(config)} "
                             f"(the config's hash), found {record.get('hash')}")
        self.records_dir.mkdir(parents=True, exist_ok=True)
        path = self.records_dir / f"{record['hash']}.json"
        if path.exists():
            return False
        tag = writer_tag()
        if final_eval is not None:
            arrays = {k: np.asarray(v, np.float32) for k, v in final_eval.items()}
            if "returns" not in arrays or set(arrays) - {"returns", "scores"}:
                raise SuiteError(f"results store: final_eval: expected 'returns' (and "
                                 f"'scores'), found {sorted(arrays)}")
            shape = arrays["returns"].shape
            if len(shape) != 1 or not shape[0] or any(a.shape != shape for a in arrays.values()):
                raise SuiteError(f"results store: final_eval: expected arrays of shape "
                                 f"[episodes], found {[a.shape for a in arrays.values()]}")

            def write_arrays(tmp: str) -> None:
                with open(tmp, "wb") as f:  # a file object: np.savez would append ".npz"
                    np.savez_compressed(f, **arrays)

            # Replaced, not created exclusively: a record's evaluation is a function of its
            # config (the seed is in it), so two writers of one hash write the same arrays.
            atomic_write(self.records_dir / f"{record['hash']}.npz", write_arrays, tag=tag)
        text = json.dumps(_json_safe(dict(record)), indent=1) + "\n"
        try:
            atomic_write(path, lambda tmp: pathlib.Path(tmp).write_text(text), exclusive=True,
                         tag=tag)
        except FileExistsError:  # another writer of this hash got there first
            return False
        return True

    def records(self) -> list[dict[str, Any]]:
        """Returns every record, sorted by (algo, dataset, sampling, overrides, seed)."""
        return load_records(self.root)


def load_records(root: str | os.PathLike | Iterable[str | os.PathLike]) -> list[dict[str, Any]]:
    """Returns the records under one results directory (or several), sorted; raises
    SuiteError naming the file when a record does not parse or lacks its config."""
    roots = [root] if isinstance(root, (str, os.PathLike)) else list(root)
    records = {}
    for r in roots:
        directory = pathlib.Path(r) / RECORDS
        if not directory.is_dir():
            raise SuiteError(f"{r}: expected a results directory with '{RECORDS}/' (written by "
                             "`python -m jaxrl_suite sweep` or an experiment), found none")
        for path in sorted(directory.glob("*.json")):
            try:
                record = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError) as exc:
                raise SuiteError(f"{path}: expected one JSON record, found: {exc}") from None
            if not isinstance(record.get("config"), dict) or "hash" not in record:
                raise SuiteError(f"{path}: fields 'config'/'hash': expected a results record")
            records[record["hash"]] = record
    return sorted(records.values(), key=_sort_key)


def load_final_evals(root: str | os.PathLike | Iterable[str | os.PathLike]
                     ) -> dict[str, dict[str, np.ndarray]]:
    """Returns {record hash: {"returns": [E], "scores": [E] where known}} (float32) of every
    record under one results directory (or several) with a final evaluation
    (``records/<hash>.npz``)."""
    roots = [root] if isinstance(root, (str, os.PathLike)) else list(root)
    out = {}
    for r in roots:
        for path in sorted((pathlib.Path(r) / RECORDS).glob("*.npz")):
            if not (path.with_suffix(".json")).exists():
                continue  # a kill between the two writes: the record was never written
            try:
                with np.load(path) as data:
                    arrays = {k: np.asarray(data[k], np.float32) for k in data.files}
            except (OSError, ValueError, zipfile.BadZipFile) as exc:
                raise SuiteError(f"{path}: expected an npz of a final evaluation, found: "
                                 f"{exc}") from None
            if "returns" not in arrays:
                raise SuiteError(f"{path}: field 'returns': expected the final evaluation's "
                                 f"per-episode returns, found only {sorted(arrays)}")
            out[path.stem] = arrays
    return out


def _sort_key(record: Mapping[str, Any]) -> tuple:
    c = record["config"]
    return (c.get("sweep", ""), c["algo"], c["dataset"], c["sampling"],
            json.dumps(c.get("overrides", {}), sort_keys=True), c["seed"])
