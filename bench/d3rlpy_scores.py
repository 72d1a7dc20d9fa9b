"""The suite's TD3+BC, IQL and CQL against d3rlpy's on one locomotion dataset, in one run:
same data, updates, seeds, network widths and batch; each evaluated in gymnasium's env (the
suite through its host evaluator, d3rlpy in its own venv's gymnasium); final D4RL-normalised
scores side by side, with wall time and seed-updates/s (issue 14's bench).

    .venv/bin/python bench/d3rlpy_scores.py                       # HalfCheetah-v5/medium-replay
    .venv/bin/python bench/d3rlpy_scores.py --algos=td3bc --updates=20000 --seeds=3

Needs the env's ``mujoco-small`` datasets (``generate --suite=mujoco-small``; one env ~11 min on
2 cores) and the bench venv (``make bench-venv``: d3rlpy 2.8.1, torch 2.13.0 CPU, gymnasium
1.0.0 with mujoco 4.0.0). The suite trains the seeds as one vmapped program (``run.run_training``
with ``--eval_backend=host``, the learner's defaults, networks (256, 256)); d3rlpy trains one seed
per process, in turn, with ``bench/d3rlpy_peer.py --paper_setup`` (its config defaults plus the
suite learner's observation standardisation / reward scaling / fixed CQL weight, in d3rlpy's own
terms). Wall time: the suite's is its program (updates and the final evaluation, compile
included); d3rlpy's the sum over its seeds of fit + evaluation. Seed-updates/s = seeds x updates
/ wall time. Normalised by the dataset's reference returns (0 random, 100 expert).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from jaxrl_suite.data import io  # noqa: E402
from jaxrl_suite.generate.suite import dataset_id  # noqa: E402
from jaxrl_suite.run import run_training  # noqa: E402


def export_npz(dataset, path: pathlib.Path) -> None:
    """Writes the arrays d3rlpy's MDPDataset takes; every episode's last transition ends it
    (terminal, else timeout), as d3rlpy needs to cut episodes."""
    arrays = dataset.to_numpy()
    ends = np.asarray(dataset.episode_starts) + np.asarray(dataset.episode_lengths) - 1
    timeouts = arrays["timeouts"].copy()
    timeouts[ends] |= ~arrays["terminals"][ends]
    np.savez(path, observations=arrays["observations"], actions=arrays["actions"],
             rewards=arrays["rewards"], terminals=arrays["terminals"], timeouts=timeouts)


def peer_run(python: str, data: pathlib.Path, algo: str, updates: int, hidden: int, seed: int,
             env: str, episodes: int) -> dict:
    cmd = [python, str(ROOT / "bench" / "d3rlpy_peer.py"), "--data", str(data), "--algo", algo,
           "--updates", str(updates), "--hidden", str(hidden), "--threads", str(os.cpu_count()),
           "--seed", str(seed), "--eval_env", env, "--eval_episodes", str(episodes),
           "--paper_setup"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode or not lines:
        raise SystemExit(f"d3rlpy {algo} seed {seed} failed:\n{proc.stderr[-2000:]}")
    return json.loads(lines[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algos", default="td3bc,iql,cql")
    parser.add_argument("--env", default="HalfCheetah-v5")
    parser.add_argument("--level", default="medium-replay")
    parser.add_argument("--suite", default="mujoco-small")
    parser.add_argument("--updates", type=int, default=10_000)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--peer", default=str(ROOT / ".venv-bench" / "bin" / "python"))
    parser.add_argument("--out", default=str(ROOT / "bench" / ".cache" / "d3rlpy_scores"))
    args = parser.parse_args()
    name = dataset_id(args.suite, args.env, args.level)
    dataset = io.load(name)
    lo, hi = dataset.meta.ref_min_score, dataset.meta.ref_max_score
    normalise = lambda r: 100.0 * (np.asarray(r) - lo) / (hi - lo)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        npz = pathlib.Path(tmp) / "data.npz"
        export_npz(dataset, npz)
        for algo in args.algos.split(","):
            start = time.perf_counter()
            run_training(algo=algo, dataset=dataset, dataset_name=name, env_name=args.env,
                         out=str(out / algo), num_seeds=args.seeds, num_updates=args.updates,
                         eval_every=args.updates, eval_episodes=args.episodes, batch_size=256,
                         sampling="uniform", sampling_temperature=None,
                         hp_specs=[], eval_backend="host", log=lambda *_: None)
            suite_seconds = time.perf_counter() - start
            metrics = np.genfromtxt(out / algo / "metrics.csv", delimiter=",", names=True)
            suite_scores = np.atleast_1d(metrics["normalized_return"])
            peers = [peer_run(args.peer, npz, algo, args.updates, args.hidden, s, args.env,
                              args.episodes) for s in range(args.seeds)]
            peer_scores = np.array([normalise(np.mean(p["returns"])) for p in peers])
            peer_seconds = sum(p["seconds"] + p["eval_seconds"] for p in peers)
            rows.append((algo, suite_scores, suite_seconds, peer_scores, peer_seconds,
                         np.mean([p["updates_per_s"] for p in peers]), peers[0]["versions"]))
            print(f"{algo}: suite {np.round(suite_scores, 1)} in {suite_seconds:.0f} s; d3rlpy "
                  f"{np.round(peer_scores, 1)} in {peer_seconds:.0f} s", flush=True)
    print(f"\n{name}: {len(dataset.rewards)} transitions; {args.seeds} seeds, {args.updates} "
          f"updates, batch 256, ({args.hidden}, {args.hidden}) networks, {args.episodes} "
          f"evaluation episodes in gymnasium {args.env}; {os.cpu_count()} CPU cores; "
          f"d3rlpy {rows[0][6]['d3rlpy']}, torch {rows[0][6]['torch']}\n")
    print("| learner | suite score | d3rlpy score | suite wall s | d3rlpy wall s | suite "
          "seed-updates/s | d3rlpy seed-updates/s (updates only) |")
    print("|---|---|---|---|---|---|---|")
    for algo, ss, st, ps, pt, prate, _ in rows:
        print(f"| {algo} | {ss.mean():.1f} +- {ss.std():.1f} | {ps.mean():.1f} +- {ps.std():.1f} "
              f"| {st:.0f} | {pt:.0f} | {args.seeds * args.updates / st:.0f} | "
              f"{args.seeds * args.updates / pt:.0f} ({prate:.0f}) |")


if __name__ == "__main__":
    main()
