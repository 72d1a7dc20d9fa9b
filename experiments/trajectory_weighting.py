"""Uniform vs return-weighted (RW) vs advantage-weighted (AW) sampling of "Harnessing Mixed
Offline RL Datasets via Trajectory Weighting" (Hong et al., ICLR 2023), on the suite's
mixed-quality Pendulum datasets.

The datasets follow the paper's recipe (whole high-return trajectories until a share sigma of
the transitions, random-policy trajectories for the rest; sigma = 1, 5, 10, 50%). CQL, IQL and
TD3+BC train on each with each sampling scheme through the shared sweep machinery
(``jaxrl_suite.sweep.runner``): one SweepSpec per learner, since the paper's temperature alpha
is 0.2 for CQL and 0.1 for IQL and TD3+BC; every record lands in the append-only store under
--out, so a re-run trains only what is missing. Writes under --out (default
results/trajectory_weighting/<scale>/, so scales never share records or tables):

- ``records/<hash>.json``: one record per (learner, dataset, sampling, seed);
- ``trajectory_weighting.{md,csv}``: per learner x sampling x sigma the final normalised score
  (mean and std over seeds; a diverged run scores 0, as in the report), diverged seeds, the
  change against uniform sampling, and the paper's number and change where it has one; per
  learner x sampling also the mean over the sigma datasets (sigma "mean");
- ``report/``: the rliable report of the records (``report.summary.write_report``: IQM etc.
  with bootstrap CIs, per-task tables, curves; probability of improvement over the first
  learner's uniform sampling), and ``report/<algo>/`` the same per learner, where the
  probability of improvement is each scheme against that learner's uniform sampling.

    .venv/bin/python experiments/trajectory_weighting.py --scale=tiny   # results/.../tiny/
    .venv/bin/python experiments/trajectory_weighting.py --scale=default    # ~11 min, 2 CPUs
    .venv/bin/python experiments/trajectory_weighting.py --scale=paper      # GPU-sized

The setting differs from the paper's: Pendulum mixed datasets normalised between a random
policy and our SAC expert, not D4RL locomotion (mean over 8 mixed datasets per sigma) at 1M
updates. Compare the direction and size of the RW/AW effect against uniform, not absolute
numbers. The paper's numbers (``results/reference/trajectory_weighting.csv``) are the reruns
of the authors' README (Improbable-AI/harness-offline-rl): uniform and AW only, no RW.

Scales: ``paper`` is the authors' budget (256-unit networks, batch 256, 1M updates, 5 seeds)
on the default suite; ``default`` shrinks it to fit a 2-core CPU in about 11 minutes (64-unit
networks, batch 256, 4 seeds, 5k updates for IQL and TD3+BC but 2k for CQL, whose update costs
~15 of theirs on a CPU; evaluation every 1k updates, 5 episodes); ``tiny`` is for tests.
"""

from __future__ import annotations

import dataclasses
import pathlib
import sys
import time
from typing import Any, Callable, Sequence

import numpy as np
from absl import flags, logging

if not __package__:  # run as a script: make the `experiments` package importable
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from experiments.common import (beside_reference, final_score, load_reference, print_study,
                                results_dir, run_app, run_sweeps)
from jaxrl_suite.generate.recipes import MIXED_SIGMAS
from jaxrl_suite.generate.suite import mixed_quality_name
from jaxrl_suite.report import tables
from jaxrl_suite.sweep.runner import SAMPLING, SweepSpec

SWEEP = EXPERIMENT = "trajectory_weighting"
ENV = "Pendulum-v1"
# Hong et al.'s alpha: 0.2 in the CQL script, 0.1 in the IQL and TD3+BC scripts.
TEMPERATURES = {"cql": 0.2, "iql": 0.1, "td3bc": 0.1}
ALGOS = tuple(TEMPERATURES)
REFERENCE = "trajectory_weighting"
COLUMNS = ("algo", "sampling", "sigma_pct", "updates", "seeds", "diverged", "score",
           "score_std", "vs_uniform", "paper", "paper_vs_uniform")
SETTING_NOTE = ("Setting differs from the paper's (Pendulum mixed-sigma datasets, not D4RL "
                "locomotion; smaller budget): compare the direction and size of the RW/AW "
                "effect against uniform, not absolute scores.")


@dataclasses.dataclass(frozen=True)
class Scale:
    suite: str
    hidden_sizes: tuple[int, ...]
    num_seeds: int
    num_updates: int
    eval_every: int
    eval_episodes: int
    batch_size: int = 256  # Hong et al.'s IQL/CQL/TD3+BC scripts
    # Per-learner update budgets in place of num_updates (multiples of eval_every).
    updates_per_algo: tuple[tuple[str, int], ...] = ()

    def updates(self, algo: str) -> int:
        """Returns the number of updates ``algo`` trains for."""
        return dict(self.updates_per_algo).get(algo, self.num_updates)


SCALES = {
    "tiny": Scale("tiny", (32, 32), 2, 200, 100, 2, batch_size=64),
    # A CQL update costs ~15 IQL or TD3+BC updates on a CPU (3K Q-values per sample for its
    # log-sum-exp): CQL gets 2k updates so that the whole study fits ~15 minutes.
    "default": Scale("default", (64, 64), 4, 5_000, 1_000, 5,
                     updates_per_algo=(("cql", 2_000),)),
    "paper": Scale("default", (256, 256), 5, 1_000_000, 50_000, 10),
}


def define_flags() -> None:
    """Defines the script's absl flags: only when run as a script, so that tests can import
    several experiment modules into one process without a flag defined twice."""
    flags.DEFINE_enum("scale", "default", list(SCALES), "Budget preset.")
    flags.DEFINE_list("algos", list(ALGOS), "Continuous learner ids.")
    flags.DEFINE_list("sampling", list(SAMPLING), "Sampling schemes.")
    flags.DEFINE_integer("num_seeds", None, "Seeds per dataset (default: the scale's).")
    flags.DEFINE_string("minari_root", None, "Local Minari root (default: "
                        "$MINARI_DATASETS_PATH, else Minari's default).")
    flags.DEFINE_string("out", None, f"Output directory (default: results/{EXPERIMENT}/"
                        "<scale>).")


def sigma_pct(sigma: float) -> str:
    """Returns sigma as the percentage the tables use, e.g. 0.05 -> "5"."""
    return f"{100 * sigma:g}"


DATASETS = {sigma_pct(s): f"{ENV}/{mixed_quality_name(s)}" for s in MIXED_SIGMAS}


def sweep_specs(scale: Scale, algos: Sequence[str] = ALGOS,
                sampling: Sequence[str] = SAMPLING) -> list[SweepSpec]:
    """Returns one SweepSpec per learner (each with the paper's temperature for it)."""
    return [SweepSpec(
        name=SWEEP, algos=(algo,), datasets=tuple(DATASETS.values()), suite=scale.suite,
        sampling=tuple(sampling), sampling_temperature=TEMPERATURES[algo],
        num_seeds=scale.num_seeds, num_updates=scale.updates(algo), eval_every=scale.eval_every,
        eval_episodes=scale.eval_episodes, batch_size=scale.batch_size,
        hidden_sizes=scale.hidden_sizes) for algo in algos]


def score_rows(records: Sequence[dict[str, Any]], algos: Sequence[str],
               sampling: Sequence[str]) -> list[dict[str, Any]]:
    """Returns per algo x sampling x sigma (then sigma "mean": the mean over the sigma rows)
    the final normalised score's mean and std over seeds, seeds and diverged runs, and the
    change of the mean against uniform sampling (None without a uniform row)."""
    rows = []
    for algo in algos:
        for scheme in sampling:
            mine = []
            for pct, dataset in DATASETS.items():
                runs = [r for r in records if (r["config"]["algo"], r["config"]["sampling"],
                                               r["config"]["dataset"]) == (algo, scheme, dataset)]
                scores = np.array([final_score(r) for r in runs], float)
                updates = sorted({r["config"]["num_updates"] for r in runs})
                mine.append(dict(
                    algo=algo, sampling=scheme, sigma_pct=pct, dataset=dataset,
                    updates=",".join(map(str, updates)), seeds=len(runs),
                    diverged=sum(bool(r.get("diverged")) for r in runs),
                    score=float(scores.mean()) if len(runs) else None,
                    score_std=float(scores.std()) if len(runs) else None))
            means = [r["score"] for r in mine if r["score"] is not None]
            rows += mine + [dict(algo=algo, sampling=scheme, sigma_pct="mean",
                                 dataset=f"mean over {len(means)} datasets",
                                 updates=",".join(dict.fromkeys(r["updates"] for r in mine)),
                                 seeds=sum(r["seeds"] for r in mine),
                                 diverged=sum(r["diverged"] for r in mine),
                                 score=float(np.mean(means)) if means else None)]
    return _with_change(rows, "score", "vs_uniform")


def _with_change(rows: list[dict[str, Any]], column: str, out_column: str
                 ) -> list[dict[str, Any]]:
    """Returns ``rows`` each with ``out_column`` = its ``column`` minus that of the uniform row
    of the same algo and sigma (None where either is missing)."""
    uniform = {(r["algo"], r["sigma_pct"]): r[column] for r in rows if r["sampling"] == "uniform"}
    out = []
    for r in rows:
        base = uniform.get((r["algo"], r["sigma_pct"]))
        change = None if base is None or r[column] is None else r[column] - base
        out.append({**r, out_column: change})
    return out


def with_reference(rows: list[dict[str, Any]], reference: list[dict[str, str]]
                   ) -> list[dict[str, Any]]:
    """Returns ``rows`` with the paper's score (``paper``; for sigma "mean" the mean of its four
    sigma numbers) and its change against uniform (``paper_vs_uniform``)."""
    merged = beside_reference(rows, reference, ("algo", "sampling", "sigma_pct"), "score")
    for row in merged:
        if row["sigma_pct"] == "mean":
            theirs = [float(r["score"]) for r in reference
                      if (r["algo"], r["sampling"]) == (row["algo"], row["sampling"])]
            row["paper"] = float(np.mean(theirs)) if len(theirs) == len(DATASETS) else None
    return _with_change(merged, "paper", "paper_vs_uniform")


def run_study(scale: Scale, out: pathlib.Path, root: Any = None, *,
              algos: Sequence[str] = ALGOS, sampling: Sequence[str] = SAMPLING,
              log: Callable[[str], None] = print, progress: bool = True,
              report_reps: int = 2000) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Returns (table rows, run_sweep summaries, one per learner) after training what the store
    at ``out`` lacks and writing the table and the report. Raises SuiteError, before training
    or writing anything, when ``out`` holds these runs under another setting (another
    scale's)."""
    from jaxrl_suite.report.summary import write_report

    summaries, records = run_sweeps(sweep_specs(scale, algos, sampling), out, root=root,
                                    log=log, progress=progress)
    reference, _ = load_reference(REFERENCE)
    rows = with_reference(score_rows(records, algos, sampling), reference)
    tables.write_table(out, SWEEP, rows, COLUMNS)
    # The report of every run, then one per learner so that its probability of improvement is
    # each sampling scheme against uniform sampling of the same learner (the paper's question).
    keys = dict(method_keys=("algo", "sampling"), task_key="dataset", reps=report_reps, log=log)
    uniform = "uniform" in sampling
    write_report(records, out / "report", baseline=f"{algos[0]}/uniform" if uniform else None,
                 **keys)
    for algo in algos:
        write_report([r for r in records if r["config"]["algo"] == algo], out / "report" / algo,
                     baseline=f"{algo}/uniform" if uniform else None, **keys)
    return rows, summaries


def main(argv: list[str]) -> None:
    del argv
    f = flags.FLAGS
    scale = SCALES[f.scale]
    scale = dataclasses.replace(scale, num_seeds=f.num_seeds or scale.num_seeds)
    if not set(f.algos) <= set(ALGOS) or not set(f.sampling) <= set(SAMPLING):
        print(f"flags '--algos'/'--sampling': expected ids from {list(ALGOS)} / "
              f"{list(SAMPLING)}, found {f.algos} / {f.sampling}", file=sys.stderr)
        sys.exit(2)
    if not f["verbosity"].present:  # orbax logs every chunk checkpoint at INFO
        logging.set_verbosity(logging.WARNING)
    out = results_dir(EXPERIMENT, f.scale, f.out)
    start = time.perf_counter()
    rows, summaries = run_study(scale, out, f.minari_root, algos=f.algos, sampling=f.sampling)
    print_study(rows, COLUMNS, REFERENCE, "paper", SETTING_NOTE, summaries, start, out)


if __name__ == "__main__":
    define_flags()
    run_app(main)
