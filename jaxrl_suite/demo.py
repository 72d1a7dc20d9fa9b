"""``make demo``: the suite's main job, end to end, on its self-generated default datasets.

1. Builds (or finds cached) the default dataset suite in the local Minari root and prints the
   dataset-quality table of "A Dataset Perspective on Offline RL" (TQ and SACo per dataset).
2. Runs the demo sweep (``DEMO_SPECS``, also ``sweeps/demo.py``): BC and TD3+BC (and IQL at
   ``full``) on mixed-quality Pendulum datasets, each with uniform and return-weighted (RW,
   Hong et al.) sampling, 8 (16 at ``full``) seeds vmapped per program, into the append-only
   results store (a re-run skips what is done; a killed one resumes).
3. Prints the rliable summary (IQM, mean, median, optimality gap with 95% stratified-bootstrap
   CIs), writes tables and plots (learning curves, performance profiles, TQ-vs-SACo), and
   states the finding in one line: how much RW sampling lifts each learner's IQM.

``--scale``: ``default`` (``make demo``: BC and TD3+BC on two datasets, the default suite's
Pendulum datasets only), ``full`` (``make demo-full``: also IQL, three datasets, longer; builds
the whole default suite) or ``tiny`` (the same path at toy size, for the test). Everything goes
under ``--out`` (default results/generated/demo/<scale>).
"""

from __future__ import annotations

import pathlib
import time
from typing import Any

from jaxrl_suite.errors import SuiteError
from jaxrl_suite.generate.suite import build_suite
from jaxrl_suite.report import dataset_quality, tables
from jaxrl_suite.sweep.runner import SweepSpec

DEFAULT_OUT = pathlib.Path("results/generated/demo")
_DATASETS = ("Pendulum-v1/mixed-sigma5pct", "Pendulum-v1/mixed-sigma10pct",
             "Pendulum-v1/mixed-sigma50pct")
DEMO_SPECS = {
    # `make demo`: sized for <= 6 minutes on a fresh 2-core clone, install and the Pendulum
    # part of the default suite included (BUILD_NOTES "make demo").
    "default": SweepSpec(name="demo", suite="default", algos=("bc", "td3bc"),
                         datasets=_DATASETS[:2], sampling=("uniform", "rw"), num_seeds=8,
                         num_updates=3_000, eval_every=1_000, eval_episodes=5, batch_size=256,
                         hidden_sizes=(64, 64)),
    # `make demo-full`: three learners on three datasets at 8k updates (~10 minutes).
    "full": SweepSpec(name="demo-full", suite="default", algos=("bc", "td3bc", "iql"),
                      datasets=_DATASETS, sampling=("uniform", "rw"), num_seeds=16,
                      num_updates=8_000, eval_every=2_000, eval_episodes=5, batch_size=256,
                      hidden_sizes=(64, 64)),
    "tiny": SweepSpec(name="demo-tiny", suite="tiny", algos=("bc", "td3bc"),
                      datasets=_DATASETS[:2], sampling=("uniform", "rw"), num_seeds=4,
                      num_updates=100, eval_every=50, eval_episodes=1, batch_size=32,
                      hidden_sizes=(16, 16)),
}
# The envs each scale builds of its suite (None: all of them): the quick demo needs Pendulum's.
DEMO_ENVS = {"default": ("Pendulum-v1",), "full": None, "tiny": None}


def finding(aggregates: list[dict[str, Any]], metric: str = "iqm") -> str:
    """Returns the demo's finding in one line: per algorithm, the IQM with RW sampling against
    uniform sampling, with their 95% CIs, from the report's aggregate rows."""
    by_method = {r["method"]: r for r in aggregates}
    parts = []
    for method, row in by_method.items():
        algo, sampling = method.rsplit("/", 1)
        if sampling != "rw" or f"{algo}/uniform" not in by_method:
            continue
        base = by_method[f"{algo}/uniform"]
        lift = float(row[metric]) - float(base[metric])
        overlap = float(row[f"{metric}_lo"]) <= float(base[f"{metric}_hi"]) and \
            float(base[f"{metric}_lo"]) <= float(row[f"{metric}_hi"])
        parts.append(f"{algo} {float(base[metric]):.1f} -> {float(row[metric]):.1f} "
                     f"({lift:+.1f}{', CIs overlap' if overlap else ''})")
    return "Finding: RW sampling vs uniform, IQM of the normalised score: " + "; ".join(parts)


def run(scale: str = "default", root=None, out=None, saco_bins: int | None = 100,
        reps: int = 2000, progress: bool = True) -> int:
    """Returns 0 after building the suite's datasets the demo needs, running the demo sweep of
    ``scale`` (default, full or tiny) and printing its tables and finding."""
    import csv

    from jaxrl_suite.report.summary import write_report
    from jaxrl_suite.sweep.runner import run_sweep
    from jaxrl_suite.sweep.store import load_records

    if scale not in DEMO_SPECS:
        raise SuiteError(f"demo: flag '--scale': expected one of {sorted(DEMO_SPECS)}, "
                         f"found '{scale}'")
    start = time.perf_counter()
    spec, envs = DEMO_SPECS[scale], DEMO_ENVS[scale]
    build_suite(spec.suite, root, envs=envs)
    rows = dataset_quality.suite_quality_rows(spec.suite, root, saco_bins, envs=envs)
    out = pathlib.Path(out) if out else DEFAULT_OUT / scale
    md = tables.write_table(out, "dataset_quality", rows, dataset_quality.COLUMNS)
    print(f"\nDataset quality of the '{spec.suite}' suite (TQ: normalised mean return; SACo: "
          f"unique state-action pairs relative to the replay dataset, "
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
    with (out / "report" / "aggregates.csv").open() as f:
        print(f"\n{finding(list(csv.DictReader(f)))}")
    print(f"\n{summary['trained']} programs trained, {summary['skipped']} found done; "
          f"tables and plots in {out}/report/; {time.perf_counter() - start:.0f} s in all")
    return 0
