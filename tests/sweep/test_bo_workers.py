"""Several BO workers on one study (SQLite file, cheap objectives, no training): the budget is
the study's total, a dead worker's running trials are redone in place with their parameters,
a live worker's are waited for, and concurrent asks past the budget are never evaluated."""

import json
import pathlib
import signal
import subprocess
import sys
import textwrap
import threading
import time

import optuna
import pytest
from optuna.trial import TrialState

from jaxrl_suite.sweep import bo_workers
from jaxrl_suite.sweep.bo import Categorical, Float, Int, SearchSpace, run_bo

# The tests' own heartbeat storages, opened as optuna documents them, warn like this.
pytestmark = [pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning"),
              pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed")]

ROOT = pathlib.Path(__file__).parents[2]
SPACE = SearchSpace(x=Float(-5.0, 5.0), n=Int(1, 20), c=Categorical(("a", "b", "c")))
ELSEWHERE = bo_workers.Worker(machine="another-machine", pid=1, run="r0")


def value(config):
    return -(config["x"] - 1.3) ** 2 - 0.1 * (config["n"] - 7) ** 2


def key(config):
    return tuple(sorted(config.items()))


# One worker process: once imported, says so and waits for the go (so import times do not
# decide who works), logs each round's configs (before evaluating them), SIGKILLs itself on
# round ``kill_on``, prints its final count of COMPLETE trials. The workers share a machine, so
# each sees the others' pids; a long heartbeat keeps a loaded CI machine from making a live
# worker's heartbeat look stale.
WORKER = textwrap.dedent("""
    import json, os, pathlib, signal, sys, time
    from jaxrl_suite.sweep.bo import Categorical, Float, Int, SearchSpace, run_bo
    storage, log_path, kill_on = sys.argv[1], sys.argv[2], int(sys.argv[3])
    pathlib.Path(log_path + ".ready").touch()
    while not pathlib.Path(log_path).parent.joinpath("go").exists():
        time.sleep(0.02)
    calls = []
    def objective(configs):
        calls.append(configs)
        with open(log_path, "a") as f:
            f.write(json.dumps(configs) + "\\n")
        if len(calls) == kill_on:
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(0.3)
        return [-(c["x"] - 1.3) ** 2 - 0.1 * (c["n"] - 7) ** 2 for c in configs]
    space = SearchSpace(x=Float(-5.0, 5.0), n=Int(1, 20), c=Categorical(("a", "b", "c")))
    result = run_bo(objective, space, num_trials=int(sys.argv[4]), batch_size=4,
                    study_name="shared", seed=0, storage=storage, heartbeat=5, log=None)
    print(json.dumps({"complete": result.num_complete}))
""")


def start_worker(storage, log_path, num_trials, kill_on=0):
    return subprocess.Popen([sys.executable, "-c", WORKER, storage, str(log_path), str(kill_on),
                             str(num_trials)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def go(logs, timeout=120):
    """Starts the workers writing ``logs`` together, once each has imported."""
    deadline = time.monotonic() + timeout
    while not all(pathlib.Path(f"{log}.ready").exists() for log in logs):
        assert time.monotonic() < deadline, "workers did not start"
        time.sleep(0.05)
    (logs[0].parent / "go").touch()


def logged(path):
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def evaluated(storage):
    trials = optuna.load_study(study_name="shared", storage=storage).trials
    return trials, [t for t in trials if t.state == TrialState.COMPLETE]


def test_two_workers_share_one_study_and_evaluate_exactly_num_trials(tmp_path):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    logs = [tmp_path / "a.jsonl", tmp_path / "b.jsonl"]
    procs = [start_worker(storage, log, num_trials=22) for log in logs]
    go(logs)
    outs = [proc.communicate(timeout=240) for proc in procs]
    for proc, (out, err) in zip(procs, outs):
        assert proc.returncode == 0, err.decode()[-2000:]
        assert json.loads(out.decode().splitlines()[-1]) == {"complete": 22}  # both: all of it
    trials, complete = evaluated(storage)
    assert len(complete) == 22
    assert {t.state for t in trials} <= {TrialState.COMPLETE, TrialState.FAIL}
    for t in trials:  # a trial asked past the budget at the same time is never evaluated
        if t.state == TrialState.FAIL:
            assert t.user_attrs["abandoned"] == "over the trial budget"
    # Each evaluated configuration was evaluated once, by one worker, and both took part.
    by_worker = [[key(c) for call in logged(log) for c in call] for log in logs]
    assert all(by_worker) and not set(by_worker[0]) & set(by_worker[1])
    assert sorted(by_worker[0] + by_worker[1]) == sorted(key(t.params) for t in complete)
    assert len(set(key(t.params) for t in complete)) == 22  # same seed, distinct draws
    # Concurrent rounds got distinct labels, hence distinct sampler seeds.
    rounds = [{t.user_attrs["round"] for t in complete if t.user_attrs["worker"]["pid"] == p.pid}
              for p in procs]
    assert not rounds[0] & rounds[1]


def test_killed_workers_running_round_is_redone_once_in_place_with_its_params(tmp_path):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    killed_log, other_log = tmp_path / "killed.jsonl", tmp_path / "other.jsonl"
    killed = start_worker(storage, killed_log, num_trials=24, kill_on=2)
    other = start_worker(storage, other_log, num_trials=24)
    go([killed_log, other_log])
    killed.communicate(timeout=240)
    assert killed.returncode == -signal.SIGKILL
    interrupted = logged(killed_log)[1]  # the round it was evaluating when killed
    assert len(interrupted) == 4
    out, err = other.communicate(timeout=240)
    assert other.returncode == 0, err.decode()[-2000:]
    rerun = []
    result = run_bo(lambda configs: rerun.append(configs) or [value(c) for c in configs], SPACE,
                    num_trials=24, batch_size=4, study_name="shared", seed=0, storage=storage,
                    heartbeat=5, log=None)
    assert result.num_complete == 24
    trials, complete = evaluated(storage)
    by_params = {key(t.params): t for t in complete}
    assert len(by_params) == 24 and not [t for t in trials if t.state == TrialState.RUNNING]
    for config in interrupted:  # COMPLETE, under one trial, with the parameters it was asked with
        t = by_params[key(config)]
        assert t.value == value(config) and t.user_attrs["worker"]["pid"] != killed.pid
    # Every configuration evaluated once, but the interrupted round's: twice (killed, redone).
    runs = [key(c) for log in (killed_log, other_log) for call in logged(log) for c in call]
    runs += [key(c) for call in rerun for c in call]
    counts = {k: runs.count(k) for k in set(runs)}
    assert counts == {k: 1 + (k in {key(c) for c in interrupted}) for k in by_params}


def foreign_trials(storage, count, *, worker=ELSEWHERE):
    """Returns the numbers of ``count`` RUNNING trials asked by a worker on another machine,
    each with parameters and one heartbeat."""
    study = optuna.load_study(study_name="shared", storage=storage)
    numbers = []
    for _ in range(count):
        trial = study.ask(SPACE.distributions())
        trial.set_user_attr("worker", worker.attr())
        trial.set_user_attr("round", 0)
        storage.record_heartbeat(trial._trial_id)
        numbers.append(trial.number)
    return numbers


class LiveForeignWorker(threading.Thread):
    """Beats on ``numbers`` every 0.3 s, then after ``seconds`` tells them their values."""

    def __init__(self, storage, numbers, seconds):
        super().__init__(daemon=True)
        self.storage, self.numbers, self.seconds = storage, numbers, seconds

    def run(self):
        study = optuna.load_study(study_name="shared", storage=self.storage)
        end = time.monotonic() + self.seconds
        while time.monotonic() < end:
            for n in self.numbers:
                self.storage.record_heartbeat(study.trials[n]._trial_id)
            time.sleep(0.3)
        for n in self.numbers:
            study.tell(n, value(study.trials[n].params))


def heartbeat_storage(tmp_path):
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'study.db'}",
                                         heartbeat_interval=1)
    optuna.create_study(study_name="shared", storage=storage, direction="maximize")
    return storage


def test_stale_trials_of_another_machine_are_redone_and_live_ones_waited_for(tmp_path):
    storage = heartbeat_storage(tmp_path)
    stale = foreign_trials(storage, 3)
    # Past the grace period (2 x 1 s) by the database's clock: SQLite's CURRENT_TIMESTAMP has
    # whole seconds, so a heartbeat 2.5 s old can read as 2 s (not stale); 3.5 s reads >= 3 s.
    time.sleep(3.5)
    live = foreign_trials(storage, 2)
    worker = LiveForeignWorker(storage, live, seconds=4.0)
    worker.start()
    asked = {t.number: t.params for t in optuna.load_study(study_name="shared",
                                                           storage=storage).trials}
    calls = []
    result = run_bo(lambda configs: calls.append(configs) or [value(c) for c in configs], SPACE,
                    num_trials=5, batch_size=4, study_name="shared", seed=0,
                    storage=storage.url, heartbeat=1, log=None)
    worker.join()
    # The stale round is redone in place, with its parameters; the live one is left to its
    # worker; nothing new is asked (the five places are taken), and the study ends complete.
    assert calls == [[asked[n] for n in stale]]
    assert [(t.number, t.state, t.params) for t in result.trials] == [
        (n, "COMPLETE", asked[n]) for n in stale + live]


def test_asks_past_the_budget_at_the_same_time_as_another_worker_are_abandoned(tmp_path):
    storage = heartbeat_storage(tmp_path)

    class Interleaving(optuna.samplers.RandomSampler):
        """Lets another worker ask a trial while this worker asks its first one."""
        def sample_independent(self, study, trial, name, distribution):
            if not hasattr(self, "other"):
                self.other = foreign_trials(storage, 1)
                LiveForeignWorker(storage, self.other, seconds=2.0).start()
            return super().sample_independent(study, trial, name, distribution)

    sampler = Interleaving(seed=0)
    calls = []
    result = run_bo(lambda configs: calls.append(configs) or [value(c) for c in configs], SPACE,
                    num_trials=4, batch_size=4, study_name="shared", seed=0,
                    storage=storage.url, heartbeat=1, sampler=sampler, log=None)
    # It asked 4 (trials 0, 2, 3, 4) while the other worker asked trial 1: trial 4's place is
    # the fifth, so it is abandoned unevaluated; the study ends with exactly 4 evaluated.
    assert sampler.other == [1]
    assert [len(call) for call in calls] == [3]
    assert [t.state for t in result.trials] == ["COMPLETE"] * 4 + ["FAIL"]
    study = optuna.load_study(study_name="shared", storage=storage)
    assert study.trials[4].user_attrs["abandoned"] == "over the trial budget"
    assert study.trials[1].user_attrs["worker"] == ELSEWHERE.attr()


def test_a_process_is_alive_until_killed_even_before_it_is_reaped():
    me = bo_workers.this_worker()
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    owner = bo_workers.Worker(machine=me.machine, pid=proc.pid, run="r")
    assert bo_workers.alive_here(owner, me) is True
    proc.kill()
    deadline = time.monotonic() + 10
    while bo_workers.alive_here(owner, me) and time.monotonic() < deadline:
        time.sleep(0.05)  # a zombie until wait(): dead for the driver all the same
    assert bo_workers.alive_here(owner, me) is False
    proc.wait()
    assert bo_workers.alive_here(ELSEWHERE, me) is None  # another machine: cannot tell
    with bo_workers.running(me):
        assert bo_workers.alive_here(me, me) is True
    assert bo_workers.alive_here(me, me) is False  # a run of this process that has returned
