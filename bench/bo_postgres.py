"""Several `bo` workers on one optuna study in PostgreSQL; one is SIGKILLed mid-round and rerun.

Starts a throwaway PostgreSQL server (the Debian package, installed with apt-get when
`initdb`/`pg_ctl` are missing; run as the `postgres` user in a temp data directory on a free
local port), installs the driver (psycopg2-binary, the `postgres` extra) when missing, and runs
--workers `python -m jaxrl_suite bo` processes at once with the same --storage and --study on a
CPU-cheap problem (MOPO on 2,000 random-policy Pendulum transitions, a 3-model ensemble, short
training). One worker runs in its own PID namespace (`unshare`, where available), so the others
cannot see its process, as if it ran on another machine: they can only find it dead by its
heartbeat in the database. It is SIGKILLed while a round of its trials is RUNNING (after it has
finished one), then rerun. The script then checks the study and prints a summary:

  * every worker exits 0 (the killed one by SIGKILL) and all report the same incumbent;
  * the study holds exactly --trials evaluated trials, unique trial numbers, distinct
    configurations, no trial RUNNING or WAITING, and FAIL only for asks abandoned past the budget;
  * the killed worker's RUNNING trials are COMPLETE under their own numbers with the parameters
    they were asked with, and no trial was evaluated twice (no worker dropped a value);
  * heartbeats were recorded in PostgreSQL.

Exits 1 when a check fails. ~2 min on 2 CPU cores (105 s measured, PostgreSQL 15).

    .venv/bin/python bench/bo_postgres.py
"""

from __future__ import annotations

import collections
import glob
import importlib
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from absl import app, flags

WORKERS = flags.DEFINE_integer("workers", 3, "bo workers started at once (2-4)")
TRIALS = flags.DEFINE_integer("trials", 16, "the study's --trials")
BATCH = flags.DEFINE_integer("batch", 2, "--batch: configurations per round")
STEPS = flags.DEFINE_integer("steps", 400, "--steps: updates per configuration")
HEARTBEAT = flags.DEFINE_integer("heartbeat", 5, "--heartbeat seconds (grace: twice this)")
ISOLATE = flags.DEFINE_bool("isolate_victim", True, "run the killed worker in its own PID "
                            "namespace (unshare), seen by the others only through its heartbeat")
KEEP = flags.DEFINE_bool("keep", False, "keep the temp directory (server data, worker logs)")
DEADLINE_S = 900

ROOT = pathlib.Path(__file__).resolve().parents[1]
STUDY = "bench-bo-postgres"


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                      key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    return versions[-1] if versions else None


def ensure_postgres() -> dict[str, str]:
    """Returns the paths of initdb, pg_ctl and postgres, installing the Debian package first
    when they are missing."""
    if not (_pg_bin("initdb") and _pg_bin("pg_ctl")):
        if os.geteuid() != 0:
            sys.exit("PostgreSQL is not installed and this is not root: apt-get install postgresql")
        print("installing PostgreSQL: apt-get install -y postgresql", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-q"], check=True, env=env,
                       stdout=subprocess.DEVNULL)
        subprocess.run(["apt-get", "install", "-y", "-q", "postgresql"], check=True, env=env,
                       stdout=subprocess.DEVNULL)
    paths = {name: _pg_bin(name) for name in ("initdb", "pg_ctl", "postgres")}
    if not all(paths.values()):
        sys.exit(f"PostgreSQL binaries missing after install: {paths}")
    return paths


def ensure_driver() -> None:
    """Installs psycopg2-binary into this venv (pinned by constraints.txt) when missing."""
    try:
        importlib.import_module("psycopg2")
    except ImportError:
        print("installing psycopg2-binary (constraints.txt) into this venv", flush=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-c",
                        str(ROOT / "constraints.txt"), "psycopg2-binary"], check=True)
        importlib.invalidate_caches()
        importlib.import_module("psycopg2")


def _as_postgres(cmd: list[str]) -> list[str]:
    # The server refuses to run as root.
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A throwaway PostgreSQL server: trust authentication on 127.0.0.1 only."""

    def __init__(self, bins: dict[str, str], work: pathlib.Path):
        self.bins, self.data, self.port = bins, work / "pgdata", _free_port()
        self.sockets, self.log = work / "pgsock", work / "postgres.log"
        for path in (self.data, self.sockets):
            path.mkdir()
            if os.geteuid() == 0:
                shutil.chown(path, "postgres", "postgres")
        if os.geteuid() == 0:
            self.log.touch()
            shutil.chown(self.log, "postgres", "postgres")

    def start(self) -> None:
        subprocess.run(_as_postgres([self.bins["initdb"], "-D", str(self.data), "-U", "postgres",
                                     "-A", "trust", "-E", "UTF8", "--no-sync"]),
                       check=True, stdout=subprocess.DEVNULL)
        options = (f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 "
                   f"-c fsync=off -c max_connections=100")
        subprocess.run(_as_postgres([self.bins["pg_ctl"], "-D", str(self.data), "-l",
                                     str(self.log), "-o", options, "-w", "-t", "60", "start"]),
                       check=True, stdout=subprocess.DEVNULL)

    def stop(self) -> None:
        subprocess.run(_as_postgres([self.bins["pg_ctl"], "-D", str(self.data), "-m", "fast",
                                     "-w", "stop"]), stdout=subprocess.DEVNULL)

    def version(self) -> str:
        return subprocess.run([self.bins["postgres"], "--version"], capture_output=True,
                              text=True).stdout.strip()

    def create_database(self, name: str) -> str:
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres",
                                dbname="postgres")
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE {name}")
        conn.close()
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{name}"

    def sql(self, query: str, *args) -> list[tuple]:
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres",
                                dbname="bo_bench")
        with conn, conn.cursor() as cur:
            cur.execute(query, args)
            rows = cur.fetchall()
        conn.close()
        return rows


def make_dataset(path: pathlib.Path) -> None:
    """Writes 2,000 uniform-random Pendulum transitions (reference returns from the registry)."""
    import jax

    from jaxrl_suite.data import io
    from jaxrl_suite.envs.registry import make_env
    from jaxrl_suite.generate.recipes import random_dataset

    io.save_npz(random_dataset(make_env("Pendulum-v1"), jax.random.PRNGKey(0), 2_000), path)


def bo_command(dataset: pathlib.Path, storage: str, out: pathlib.Path,
               cache: pathlib.Path) -> list[str]:
    return [sys.executable, "-m", "jaxrl_suite", "bo", "--algo=mopo", f"--dataset={dataset}",
            f"--storage={storage}", f"--study={STUDY}", f"--trials={TRIALS.value}",
            f"--batch={BATCH.value}", f"--steps={STEPS.value}", f"--eval_every={STEPS.value}",
            "--num_seeds=1", "--eval_episodes=1", "--batch_size=64", "--max_horizon=3",
            "--ensemble_members=3", "--ensemble_elites=2", "--ensemble_epochs=3",
            f"--ensemble_cache={cache}", f"--heartbeat={HEARTBEAT.value}", f"--out={out}",
            "--seed=0"]


def _isolation_works() -> bool:
    try:
        return subprocess.run(["unshare", "--pid", "--fork", "--kill-child", "--mount-proc",
                               "true"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def main(_):
    if not 2 <= WORKERS.value <= 4:
        sys.exit("--workers: expected 2 to 4")
    start = time.monotonic()
    bins = ensure_postgres()
    ensure_driver()
    import optuna

    from jaxrl_suite.sweep import bo_workers

    work = pathlib.Path(tempfile.mkdtemp(prefix="bo_postgres_"))
    os.chmod(work, 0o755)
    server = Server(bins, work)
    procs: dict[str, subprocess.Popen] = {}
    checks: list[tuple[bool, str]] = []
    lines: list[str] = []
    try:
        server.start()
        storage = server.create_database("bo_bench")
        dataset = work / "pendulum_random.npz"
        make_dataset(dataset)
        isolate = ISOLATE.value and _isolation_works()
        names = [f"w{i + 1}" for i in range(WORKERS.value)]
        victim = names[-1]

        def launch(name: str, isolated: bool = False) -> subprocess.Popen:
            cmd = bo_command(dataset, storage, work / name, work / "ensembles")
            if isolated:  # SIGKILL of unshare reaches the worker by --kill-child's death signal
                cmd = ["unshare", "--pid", "--fork", "--kill-child", "--mount-proc", *cmd]
            log = open(work / f"{name}.log", "w")
            return subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)

        t0 = time.monotonic()
        for name in names:
            procs[name] = launch(name, isolated=isolate and name == victim)
        me = bo_workers.this_worker()

        def owner_name(attr) -> str:
            owner = bo_workers.Worker.from_attr(attr)
            if owner is None:
                return "?"
            if owner.machine != me.machine:
                return victim  # only the killed worker runs in another PID namespace
            return next((n for n, p in procs.items() if p.pid == owner.pid), str(owner.pid))

        # Kill the victim in the objective of a round after its first: its RUNNING trials all
        # asked (five parameters each) and unchanged over 0.5 s (asking takes milliseconds).
        study = None
        running: dict[int, dict] = {}
        seen: tuple = ()
        while time.monotonic() - start < DEADLINE_S and procs[victim].poll() is None:
            if study is None:
                try:
                    study = optuna.load_study(study_name=STUDY, storage=storage)
                except KeyError:  # not created yet
                    time.sleep(0.5)
                    continue
            trials = study.get_trials(deepcopy=False)
            mine = [t for t in trials if owner_name(t.user_attrs.get("worker")) == victim]
            now = [t for t in mine if t.state.name == "RUNNING"]
            asked = tuple(t.number for t in now if len(t.params) == 5)
            if (asked and len(asked) == len(now) and asked == seen
                    and any(t.state.name == "COMPLETE" for t in mine)):
                running = {t.number: dict(t.params) for t in now}
                break
            seen = asked
            time.sleep(0.5)
        else:
            raise RuntimeError(f"{victim} never had a round RUNNING after a finished one")
        procs[victim].send_signal(signal.SIGKILL)
        procs[victim].wait()
        killed_at, killed_wall = time.monotonic(), time.time()
        after = {t.number: t for t in study.get_trials(deepcopy=False)}
        # A trial its worker told just before the kill was not interrupted.
        killed = {n: p for n, p in running.items()
                  if not (after[n].state.name == "COMPLETE"
                          and owner_name(after[n].user_attrs.get("worker")) == victim)}
        killed_round = after[min(killed)].user_attrs.get("round") if killed else None
        rerun = f"{victim}-rerun"
        procs[rerun] = launch(rerun)
        for name, proc in procs.items():
            if name != victim:
                proc.wait(timeout=max(1.0, DEADLINE_S - (time.monotonic() - start)))
        wall = time.monotonic() - t0

        trials = optuna.load_study(study_name=STUDY, storage=storage).trials
        states = collections.Counter(t.state.name for t in trials)
        evaluated = [t for t in trials if t.state.name == "COMPLETE"
                     or "non_finite" in t.user_attrs]
        abandoned = collections.Counter(
            t.user_attrs.get("abandoned") for t in trials
            if t.state.name == "FAIL" and "non_finite" not in t.user_attrs)
        study_id = server.sql("SELECT study_id FROM studies WHERE study_name = %s", STUDY)[0][0]
        numbers = server.sql("SELECT number, count(*) FROM trials WHERE study_id = %s "
                             "GROUP BY number", study_id)
        beats = server.sql("SELECT count(*) FROM trial_heartbeats h JOIN trials t "
                           "USING (trial_id) WHERE t.study_id = %s", study_id)[0][0]
        by_number = {t.number: t for t in trials}
        exits = {name: proc.returncode for name, proc in procs.items()}
        logs = {name: (work / f"{name}.log").read_text() for name in procs}
        bests = {}
        for name in procs:
            path = work / name / "best_config.json"
            if name != victim and path.exists():
                best = json.loads(path.read_text())
                bests[name] = (best["best_trial"], best["best_value"])
        best = next(iter(bests.values()), None)
        last_owner = collections.Counter(owner_name(t.user_attrs.get("worker"))
                                         for t in evaluated)

        checks.append((all(code == 0 for n, code in exits.items() if n != victim)
                       and exits[victim] == -signal.SIGKILL,
                       "exit codes: " + ", ".join(f"{n} {c}" for n, c in exits.items())))
        checks.append((len(evaluated) == TRIALS.value,
                       f"evaluated trials == --trials: {len(evaluated)} == {TRIALS.value}"))
        checks.append((all(count == 1 for _, count in numbers) and len(numbers) == len(trials),
                       f"trial numbers unique in PostgreSQL: {len(trials)} trials, "
                       f"{len({n for n, _ in numbers})} numbers"))
        configs = {tuple(sorted(t.params.items())) for t in evaluated}
        checks.append((len(configs) == len(evaluated),
                       f"evaluated configurations distinct: {len(configs)} of {len(evaluated)}"))
        checks.append((not states.get("RUNNING") and not states.get("WAITING"),
                       "no trial RUNNING or WAITING at the end"))
        checks.append((set(abandoned) <= {"over the trial budget"},
                       "FAIL only for asks abandoned past the budget: "
                       + (", ".join(f"'{r}' x{c}" for r, c in abandoned.items()) or "none")))
        redone = {n: by_number[n] for n in killed}
        redone_ok = bool(killed) and all(
            t.state.name == "COMPLETE" and dict(t.params) == killed[n]
            for n, t in redone.items())
        by = sorted({owner_name(t.user_attrs.get("worker")) for t in redone.values()})
        # datetime_complete: the redoing worker's local clock (this machine's).
        after_kill = [t.datetime_complete.timestamp() - killed_wall for t in redone.values()
                      if t.datetime_complete]
        checks.append((redone_ok,
                       f"killed worker's RUNNING trials {sorted(killed)} (round {killed_round}) "
                       f"COMPLETE under their numbers with the params they were asked with, "
                       f"redone by {'+'.join(by)}"
                       + (f" {max(after_kill):.0f} s after the kill" if after_kill else "")))
        dropped = [n for n, text in logs.items() if "finished by another worker first" in text]
        checks.append((not dropped, "no trial evaluated twice (no worker dropped a value)"
                       + (f": dropped in {dropped}" if dropped else "")))
        checks.append((len(set(bests.values())) == 1 and len(bests) == len(procs) - 1,
                       "every finishing worker reports the same incumbent: "
                       + ", ".join(f"{n} trial {b[0]}" for n, b in bests.items())))
        checks.append((beats > 0, f"heartbeats in PostgreSQL's trial_heartbeats: {beats} trials"))

        lines += [
            f"bo workers on one PostgreSQL study ({server.version()}, local server, "
            f"psycopg2 {importlib.import_module('psycopg2').__version__.split()[0]}, "
            f"optuna {optuna.__version__})",
            f"  {WORKERS.value} workers at once + 1 rerun; --trials={TRIALS.value} "
            f"--batch={BATCH.value} --steps={STEPS.value} --heartbeat={HEARTBEAT.value}; MOPO on "
            f"2,000 random Pendulum transitions; {os.cpu_count()} CPU cores",
            f"  {victim} ran in its own PID namespace: "
            + ("yes (the others could find it dead only by its heartbeat)" if isolate else
               f"no ({'unshare unavailable' if ISOLATE.value else '--noisolate_victim'}: "
               f"found dead by its pid)"),
            f"  {victim} SIGKILLed {killed_at - t0:.0f} s in, with trials {sorted(killed)} "
            f"RUNNING; {rerun} started then; all done after {wall:.0f} s",
            "  trials by state: " + ", ".join(f"{s} {c}" for s, c in sorted(states.items())),
            "  evaluated, by last worker: "
            + ", ".join(f"{n} {c}" for n, c in sorted(last_owner.items())),
            "  incumbent: " + (f"trial {best[0]}, score {best[1]:.2f}" if best else "none"),
        ]
    except Exception as exc:
        checks.append((False, f"bench error: {type(exc).__name__}: {exc}"))
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        server.stop()
        if not KEEP.value:
            shutil.rmtree(work, ignore_errors=True)
    lines.append("  checks:")
    lines += [f"    [{'ok' if ok else 'FAIL'}] {text}" for ok, text in checks]
    lines.append(f"  bench wall time {time.monotonic() - start:.0f} s"
                 + (f"; files kept in {work}" if KEEP.value else ""))
    print("\n".join(lines), flush=True)
    return 0 if checks and all(ok for ok, _ in checks) else 1


if __name__ == "__main__":
    app.run(main)
