"""``make demo``: the suite's main job, end to end, on its self-generated default datasets.

1. Builds (or finds cached) the default dataset suite in the local Minari root and prints the
   dataset-quality table of "A Dataset Perspective on Offline RL" (TQ and SACo per dataset).
2. Runs the demo sweep (``DEMO_SPECS``, also ``sweeps/demo.py``): BC, TD3+BC and IQL on three
   mixed-quality Pendulum datasets, each with uniform and return-weighted (RW, Hong et al.)
   sampling, 16 seeds vmapped per program, into the append-only results store (a re-run skips
   what is done; a killed one resumes).
3. Prints the rliable summary (IQM, mean, median, optimality gap with 95% stratified-bootstrap
   CIs) and writes tables and plots (learning curves, performance profiles, TQ-vs-SACo).

Everything goes under ``--out`` (default results/generated/demo). ``--suite=tiny`` runs the
same path at toy size (the test does).
"""

from __future__ import annotations

import dataclasses
import pathlib
import time

from jaxrl_suite.generate.suite import build_suite
from jaxrl_suite.report import dataset_quality, tables
from jaxrl_suite.sweep.runner import SweepSpec

DEFAULT_OUT = pathlib.Path("results/generated/demo")
_DATASETS = ("Pendulum-v1/mixed-sigma5pct", "Pendulum-v1/mixed-sigma10pct",
             "Pendulum-v1/mixed-sigma50pct")
DEMO_SPECS = {
    # Sized to finish in about 10 minutes on 2 CPU cores, suite build included (BUILD_NOTES).
    "default": SweepSpec(name="demo", suite="default", algos=("bc", "td3bc", "iql"),
                         datasets=_DATASETS, sampling=("uniform", "rw"), num_seeds=16,
                         num_updates=8_000, eval_every=2_000, eval_episodes=5, batch_size=256,
                         hidden_sizes=(64, 64)),
    "tiny": SweepSpec(name="demo-tiny", suite="tiny", algos=("bc", "td3bc"),
                      datasets=_DATASETS[:2], sampling=("uniform", "rw"), num_seeds=4,
                      num_updates=100, eval_every=50, eval_episodes=1, batch_size=32,
                      hidden_sizes=(16, 16)),
}


def run(suite: str = "default", root=None, out=None, saco_bins: int | None = 100,
        reps: int = 2000, progress: bool = True) -> int:
    """Returns 0 after building the suite, running the demo sweep and printing its tables."""
    from jaxrl_suite.report.summary import write_report
    from jaxrl_suite.sweep.runner import run_sweep
    from jaxrl_suite.sweep.store import load_records

    start = time.perf_counter()
    spec = DEMO_SPECS["tiny" if suite == "tiny" else "default"]
    if spec.suite != suite:
        spec = dataclasses.replace(spec, suite=suite)
    build_suite(suite, root)
    rows = dataset_quality.suite_quality_rows(suite, root, saco_bins)
    out = pathlib.Path(out) if out else DEFAULT_OUT
    md = tables.write_table(out, "dataset_quality", rows, dataset_quality.COLUMNS)
    print(f"\nDataset quality of the '{suite}' suite (TQ: normalised mean return; SACo: unique "
          f"state-action pairs relative to the replay dataset, "
          f"{f'{saco_bins} bins per dimension' if saco_bins else 'exact values'})\n")
    print(md)
    print(f"\nTraining {', '.join(spec.algos)} x {{{', '.join(spec.sampling)}}} sampling on "
          f"{len(spec.datasets)} datasets, {spec.num_seeds} seeds vmapped per program, "
          f"{spec.num_updates} updates each\n")
    summary = run_sweep(spec, out, root=root, progress=progress)
    quality = [dict(r, dataset=f"{r['env']}/{r['dataset']}") for r in rows]
    report = write_report(load_records(out), out / "report", reps=reps,
                          dataset_quality_rows=quality)
    print(f"\nrliable summary: normalised score (0 = random policy, 100 = the suite's expert) "
          f"over {len(spec.datasets)} datasets x {spec.num_seeds} seeds, 95% stratified "
          f"bootstrap CIs ({reps} resamples)\n")
    print(report)
    print(f"\n{summary['trained']} programs trained, {summary['skipped']} found done; "
          f"tables and plots in {out}/report/; {time.perf_counter() - start:.0f} s in all")
    return 0
