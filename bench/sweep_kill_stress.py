"""Kills a running sweep with SIGKILL at random moments and checks each re-run's store.

Each round starts ``python -m jaxrl_suite sweep`` on a 6-program spec over the tiny suite, waits
for the first record on disk, sleeps a random 0..--max_delay seconds and sends SIGKILL; then it
re-runs the sweep in-process and checks: every expected record exactly once, every file whole
JSON, no temp files and no checkpoints left. Small delays land in the record writes and the
checkpoint clean-up, larger ones in the next program's training.

    .venv/bin/python bench/sweep_kill_stress.py --rounds=8 --max_delay=0.03
"""

from __future__ import annotations

import json
import os
import pathlib
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from absl import app, flags, logging

from jaxrl_suite.sweep import runner
from jaxrl_suite.sweep.store import load_records

ROUNDS = flags.DEFINE_integer("rounds", 8, "kill-and-re-run rounds")
flags.DEFINE_float("max_delay", 0.03, "kill this long (uniform, s) after the first record")
flags.DEFINE_string("root", None, "Minari root holding the tiny suite (built if absent)")
flags.DEFINE_integer("seed", 0, "seed of the kill delays")

SPEC = """
from ml_collections import ConfigDict

def get_config():
    return ConfigDict(dict(
        name="killstress", suite="tiny", algos=("bc",),
        datasets=("Pendulum-v1/mixed-sigma5pct", "Pendulum-v1/mixed-sigma50pct",
                  "Pendulum-v1/replay"),
        sampling=("uniform", "rw"), grid={"bc": ("learning_rate=0.001,0.0003",)},
        num_seeds=2, num_updates=300, eval_every=100, eval_episodes=1, batch_size=32,
        hidden_sizes=(16,), seed=0))
"""


def _round(root: pathlib.Path, work: pathlib.Path, delay: float) -> dict:
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    spec_path, out = work / "spec.py", work / "results"
    spec_path.write_text(SPEC)
    proc = subprocess.Popen(
        [sys.executable, "-m", "jaxrl_suite", "sweep", f"--spec={spec_path}", f"--out={out}"],
        env={**os.environ, "MINARI_DATASETS_PATH": str(root)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while proc.poll() is None and not list((out / "records").glob("*.json")):
        time.sleep(0.005)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    left = sorted(str(p.relative_to(out)) for p in out.rglob("*")
                  if p.parent.name != "records" or p.name.startswith("."))
    namespace: dict = {}
    exec(SPEC, namespace)
    spec = runner.spec_from_config(namespace["get_config"]())
    summary = runner.run_sweep(spec, out, root=root, log=lambda _: None, progress=False)
    files = list((out / "records").glob("*.json"))
    records = [json.loads(f.read_text()) for f in files]
    expected = len(spec.datasets) * len(spec.sampling) * 2 * spec.num_seeds
    ok = (len(records) == expected == len(load_records(out))
          and {r["hash"] for r in records} == {f.stem for f in files}
          and not list((out / "records").glob(".*tmp")) and not (out / "checkpoints").exists())
    return dict(delay=delay, left_by_kill=left, trained=summary["trained"],
                skipped=summary["skipped"], records=len(records), ok=ok)


def main(_):
    from jaxrl_suite.generate.suite import build_suite

    logging.set_verbosity(logging.WARNING)  # orbax logs every checkpoint step at INFO
    rng = random.Random(flags.FLAGS.seed)
    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(flags.FLAGS.root or pathlib.Path(tmp) / "minari")
        if flags.FLAGS.root is None:
            build_suite("tiny", root, log=lambda _: None)
        failures = 0
        for n in range(ROUNDS.value):
            result = _round(root, pathlib.Path(tmp) / "round",
                            rng.uniform(0, flags.FLAGS.max_delay))
            failures += not result["ok"]
            print(n, json.dumps(result), flush=True)
    print(f"{ROUNDS.value - failures}/{ROUNDS.value} rounds left a whole store and no leftovers")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    app.run(main)
