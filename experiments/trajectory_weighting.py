"""Uniform vs return-weighted (RW) vs advantage-weighted (AW) sampling of "Harnessing Mixed
Offline RL Datasets via Trajectory Weighting" (Hong et al., ICLR 2023), on the suite's
mixed-quality locomotion datasets (``--benchmark=mujoco``, the default) or Pendulum ones
(``--benchmark=pendulum``, where the study began).

The datasets follow the paper's recipe (whole high-return trajectories until a share sigma of
the transitions, random-policy trajectories for the rest; sigma = 1, 5, 10, 50%); on mujoco the
high-return source is the expert data (``mixed-sigma<k>pct``) or the medium data
(``mixed-medium-sigma<k>pct``) of HalfCheetah, Hopper and Walker2d, six datasets per sigma, as
the paper's eight per sigma mix random D4RL data with its medium or expert data. CQL, IQL and
TD3+BC train on each with each sampling scheme through the shared sweep machinery
(``jaxrl_suite.sweep.runner``): one SweepSpec per learner, since the paper's temperature alpha
is 0.2 for CQL and 0.1 for IQL and TD3+BC; every record lands in the append-only store under
--out, so a re-run trains only what is missing. Writes under --out (default
results/trajectory_weighting/mujoco-<scale>/ on mujoco, results/trajectory_weighting/<scale>/ on
pendulum, so scales and benchmarks never share records or tables):

- ``records/<hash>.json``: one record per (learner, dataset, sampling, seed);
- ``trajectory_weighting.{md,csv}``: per learner x sampling x sigma the final normalised score
  (the mean over the sigma's datasets of the seed mean, and the std over seeds of the
  dataset mean; a diverged run scores 0, as in the report), diverged seeds, the change
  against uniform sampling, and the paper's number and change where it has one; per learner x
  sampling also the mean over the sigmas (sigma "mean");
- ``report/``: the rliable report of the records (``report.summary.write_report``: IQM etc.
  with bootstrap CIs, per-task tables, curves; probability of improvement over the first
  learner's uniform sampling), and ``report/<algo>/`` the same per learner, where the
  probability of improvement is each scheme against that learner's uniform sampling.

    .venv/bin/python experiments/trajectory_weighting.py --scale=tiny   # .../mujoco-tiny/
    .venv/bin/python experiments/trajectory_weighting.py --scale=default --envs=HalfCheetah-v5
    .venv/bin/python experiments/trajectory_weighting.py --scale=paper      # GPU-sized
    .venv/bin/python experiments/trajectory_weighting.py --benchmark=pendulum --scale=default

The setting differs from the paper's: the suite's own datasets in gymnasium's v5 envs,
normalised between a random policy and the suite's SAC expert, not D4RL's -v2 files (and on
pendulum, Pendulum), and far fewer updates than its 1M at ``default``. Compare the direction and
size of the RW/AW effect against uniform, not absolute numbers. The paper's numbers
(``results/reference/trajectory_weighting.csv``) are the reruns of the authors' README
(Improbable-AI/harness-offline-rl): uniform and AW only, no RW.

Scales (``MUJOCO_SCALES``; ``SCALES`` on pendulum): ``paper`` is the authors' budget (256-unit
networks, batch 256, 1M updates, 5 seeds) on the ``mujoco`` suite (1M-transition datasets, so
sigma 1% holds ~10 expert trajectories, as D4RL's); ``default`` fits a 2-core CPU on
``mujoco-small`` (100k-transition datasets: sigma 1% is one HalfCheetah expert trajectory, ~2
Hopper ones), 64-unit networks, batch 256, 4 seeds, 10k updates for IQL and TD3+BC but 3k for
CQL, whose update costs ~15 of theirs on a CPU; evaluation every 1k updates on 5 episodes in
C MuJoCo. Pendulum's ``default`` is 5k updates (CQL 2k), ~11 minutes. ``tiny`` is for tests
(``mujoco-tiny``: Hopper, sigma 10% and 50%).
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

from experiments.common import (beside_reference, define_benchmark_flags, final_score,
                                load_reference, print_study, results_dir, run_app,
                                run_sweeps, scale_folder, select_envs)
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
COLUMNS = ("algo", "sampling", "sigma_pct", "datasets", "updates", "seeds", "diverged", "score",
           "score_std", "vs_uniform", "paper", "paper_vs_uniform")
SETTING_NOTES = {
    "pendulum": ("Setting differs from the paper's (Pendulum mixed-sigma datasets, not D4RL "
                 "locomotion; smaller budget): compare the direction and size of the RW/AW "
                 "effect against uniform, not absolute scores."),
    "mujoco": ("Setting differs from the paper's (the suite's gymnasium-v5 mixed datasets and "
               "normalisers, not D4RL's -v2 files; at default 100k-transition datasets and far "
               "fewer than 1M updates): compare the direction and size of the RW/AW effect "
               "against uniform, not absolute scores.")}


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
    envs: tuple[str, ...] = (ENV,)
    sigmas: tuple[float, ...] = MIXED_SIGMAS
    # Hong et al.'s high-return sources: the suite's expert data, and on mujoco its medium data
    sources: tuple[str, ...] = ("expert",)

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
MUJOCO_ENVS = ("HalfCheetah-v5", "Hopper-v5", "Walker2d-v5")
_SOURCES = ("expert", "medium")
MUJOCO_SCALES = {
    "tiny": Scale("mujoco-tiny", (32, 32), 2, 20, 10, 1, batch_size=64, envs=("Hopper-v5",),
                  sigmas=(0.1, 0.5), sources=_SOURCES),
    # 10k updates (CQL 3k): TD3+BC and IQL move well off BC's score on mujoco-small's
    # medium-replay data within 10k (results/locomotion_learners/default).
    "default": Scale("mujoco-small", (64, 64), 4, 10_000, 1_000, 5,
                     updates_per_algo=(("cql", 3_000),), envs=MUJOCO_ENVS, sources=_SOURCES),
    "paper": Scale("mujoco", (256, 256), 5, 1_000_000, 50_000, 10, envs=MUJOCO_ENVS,
                   sources=_SOURCES),
}
BENCHMARK_SCALES = {"mujoco": MUJOCO_SCALES, "pendulum": SCALES}


def define_flags() -> None:
    """Defines the script's absl flags: only when run as a script, so that tests can import
    several experiment modules into one process without a flag defined twice."""
    flags.DEFINE_enum("scale", "default", list(SCALES), "Budget preset.")
    define_benchmark_flags()
    flags.DEFINE_list("algos", list(ALGOS), "Continuous learner ids.")
    flags.DEFINE_list("sampling", list(SAMPLING), "Sampling schemes.")
    flags.DEFINE_integer("num_seeds", None, "Seeds per dataset (default: the scale's).")
    flags.DEFINE_string("minari_root", None, "Local Minari root (default: "
                        "$MINARI_DATASETS_PATH, else Minari's default).")
    flags.DEFINE_string("out", None, f"Output directory (default: results/{EXPERIMENT}/"
                        "mujoco-<scale> on mujoco, results/{EXPERIMENT}/<scale> on pendulum).")


def sigma_pct(sigma: float) -> str:
    """Returns sigma as the percentage the tables use, e.g. 0.05 -> "5"."""
    return f"{100 * sigma:g}"


def scale_datasets(scale: Scale) -> dict[str, tuple[str, ...]]:
    """Returns {sigma percentage: the scale's dataset names at that sigma (env x source)}."""
    return {sigma_pct(s): tuple(f"{env}/{mixed_quality_name(s, source)}" for env in scale.envs
                                for source in scale.sources) for s in scale.sigmas}


DATASETS = {pct: names for pct, (names,) in scale_datasets(SCALES["default"]).items()}


def sweep_specs(scale: Scale, algos: Sequence[str] = ALGOS,
                sampling: Sequence[str] = SAMPLING) -> list[SweepSpec]:
    """Returns one SweepSpec per learner (each with the paper's temperature for it)."""
    names = tuple(n for names in scale_datasets(scale).values() for n in names)
    return [SweepSpec(
        name=SWEEP, algos=(algo,), datasets=names, suite=scale.suite,
        sampling=tuple(sampling), sampling_temperature=TEMPERATURES[algo],
        num_seeds=scale.num_seeds, num_updates=scale.updates(algo), eval_every=scale.eval_every,
        eval_episodes=scale.eval_episodes, batch_size=scale.batch_size,
        hidden_sizes=scale.hidden_sizes) for algo in algos]


def score_rows(records: Sequence[dict[str, Any]], algos: Sequence[str],
               sampling: Sequence[str], scale: Scale = SCALES["default"]
               ) -> list[dict[str, Any]]:
    """Returns per algo x sampling x sigma (then sigma "mean": the mean over the sigma rows)
    the final normalised score (the mean over the sigma's datasets of each one's seed mean; its
    std over seeds of the per-seed mean over datasets), the datasets with runs, seeds (runs)
    and diverged runs, and the change of the mean against uniform sampling (None without a
    uniform row)."""
    rows = []
    for algo in algos:
        for scheme in sampling:
            mine = []
            for pct, names in scale_datasets(scale).items():
                per_dataset = {}
                for name in names:
                    runs = [r for r in records if (r["config"]["algo"], r["config"]["sampling"],
                                                   r["config"]["dataset"]) == (algo, scheme, name)]
                    if runs:
                        per_dataset[name] = runs
                runs = [r for rs in per_dataset.values() for r in rs]
                by_seed: dict[int, list[float]] = {}
                for r in runs:
                    by_seed.setdefault(r["config"]["seed"], []).append(final_score(r))
                seed_means = [np.mean(v) for v in by_seed.values()]
                updates = sorted({r["config"]["num_updates"] for r in runs})
                mine.append(dict(
                    algo=algo, sampling=scheme, sigma_pct=pct, datasets=len(per_dataset),
                    updates=",".join(map(str, updates)), seeds=len(runs),
                    diverged=sum(bool(r.get("diverged")) for r in runs),
                    score=float(np.mean([np.mean([final_score(r) for r in rs])
                                         for rs in per_dataset.values()])) if runs else None,
                    score_std=float(np.std(seed_means)) if runs else None))
            means = [r["score"] for r in mine if r["score"] is not None]
            rows += mine + [dict(algo=algo, sampling=scheme, sigma_pct="mean",
                                 datasets=sum(r["datasets"] for r in mine),
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


def with_reference(rows: list[dict[str, Any]], reference: list[dict[str, str]],
                   sigmas: Sequence[float] = MIXED_SIGMAS) -> list[dict[str, Any]]:
    """Returns ``rows`` with the paper's score (``paper``; for sigma "mean" the mean of its
    sigma numbers, where the study ran the paper's four sigmas) and its change against uniform
    (``paper_vs_uniform``)."""
    merged = beside_reference(rows, reference, ("algo", "sampling", "sigma_pct"), "score")
    ours = {sigma_pct(s) for s in sigmas}
    for row in merged:
        if row["sigma_pct"] == "mean":
            theirs = [float(r["score"]) for r in reference
                      if (r["algo"], r["sampling"]) == (row["algo"], row["sampling"])]
            every = ours == {sigma_pct(s) for s in MIXED_SIGMAS}
            row["paper"] = float(np.mean(theirs)) if theirs and every else None
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
    rows = with_reference(score_rows(records, algos, sampling, scale), reference, scale.sigmas)
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
    scale = BENCHMARK_SCALES[f.benchmark][f.scale]
    scale = dataclasses.replace(scale, num_seeds=f.num_seeds or scale.num_seeds,
                                envs=select_envs(scale.envs, f.envs, f.benchmark))
    if not set(f.algos) <= set(ALGOS) or not set(f.sampling) <= set(SAMPLING):
        print(f"flags '--algos'/'--sampling': expected ids from {list(ALGOS)} / "
              f"{list(SAMPLING)}, found {f.algos} / {f.sampling}", file=sys.stderr)
        sys.exit(2)
    if not f["verbosity"].present:  # orbax logs every chunk checkpoint at INFO
        logging.set_verbosity(logging.WARNING)
    out = results_dir(EXPERIMENT, scale_folder(f.scale, f.benchmark), f.out)
    start = time.perf_counter()
    rows, summaries = run_study(scale, out, f.minari_root, algos=f.algos, sampling=f.sampling)
    print_study(rows, COLUMNS, REFERENCE, "paper", SETTING_NOTES[f.benchmark], summaries, start,
                out)


if __name__ == "__main__":
    define_flags()
    run_app(main)
