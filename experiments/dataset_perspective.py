"""The learner study of "A Dataset Perspective on Offline RL" (Schweighofer et al., CoLLAs 2022).

Builds (or finds cached) a generated suite, measures each dataset's TQ and SACo, then trains
every discrete learner on every dataset of the suite's discrete-action envs, seeds vmapped (one
compile per learner and env: the datasets of one env share their shapes), through the shared
sweep runner: one record per run in the results store under --out (default
results/dataset_perspective/<scale>/, so scales never share records or tables), so a re-run
skips what is done. It writes there:

- ``dataset_quality.{md,csv}``: the TQ / SACo table (env x recipe);
- ``scores.{md,csv}``: one row per env x dataset: TQ, SACo and every learner's paper score;
- ``learners.{md,csv}``: one row per learner x env x dataset: TQ, SACo, the final normalised
  return (mean and std over seeds) and the paper's score (the best evaluation of the
  seed-averaged curve, ``source/plotting/create_plots.py``), diverged seeds;
- ``correlations.{md,csv}``: per learner, the Spearman rank correlation of its score with TQ
  and with SACo across all datasets (the paper's findings in one number each);
- ``tq_saco_all.png``: per learner, SACo (x) vs TQ (y), coloured by score (0..120, as the
  paper's colour scale);
- ``report/``: the rliable report over the records (each learner a method, each dataset a
  task): aggregates with CIs, performance profiles, learning curves;
- ``records/``: the results store.

    .venv/bin/python experiments/dataset_perspective.py --scale=tiny     # results/.../tiny/
    .venv/bin/python experiments/dataset_perspective.py --scale=default  # the paper's envs, CPU
    .venv/bin/python experiments/dataset_perspective.py --scale=classic  # CartPole, Acrobot
    .venv/bin/python experiments/dataset_perspective.py --scale=paper    # GPU-sized

Scales: ``paper`` is the authors' setting on their six envs (``perspective-paper`` suite:
online DQN 100k steps, MinAtar 2M; three 256-unit SELU layers, batch 128, lr 1e-4, 100k
updates, 5 seeds; they evaluate every 200 updates, here every 2,000). ``default`` runs their
learners, losses and batch on the same envs sized for two CPU cores (``perspective`` suite:
online DQN 50k steps, MinAtar 200k, a tenth of theirs; two 64-unit layers, lr 1e-3, 5k
updates, 3 seeds). ``classic`` is the earlier CPU study on the ``default`` suite's CartPole and
Acrobot (same learner budget). ``tiny`` is for tests (CartPole and Breakout-MinAtar at toy
budgets).
"""

from __future__ import annotations

import dataclasses
import pathlib
import sys
import time
from typing import Any, Callable

import numpy as np
from absl import flags

if not __package__:  # run as a script: make the `experiments` package importable
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from experiments.common import results_dir, run_app, run_sweeps, spearman
from jaxrl_suite.agents import DISCRETE_LEARNERS
from jaxrl_suite.envs.registry import make_env
from jaxrl_suite.errors import SuiteError
from jaxrl_suite.generate.suite import build_suite, get_suite, suite_dataset_ids
from jaxrl_suite.report import dataset_quality, plots, tables
from jaxrl_suite.report.summary import write_report
from jaxrl_suite.sweep.runner import ALL_ALGOS, SweepSpec

EXPERIMENT = "dataset_perspective"


@dataclasses.dataclass(frozen=True)
class Scale:
    suite: str
    hidden_sizes: tuple[int, ...]
    learning_rate: float | None  # None: each learner's paper default
    num_updates: int
    eval_every: int
    num_seeds: int
    eval_episodes: int
    batch_size: int = 128  # ml-jku/OfflineRL train_offline.py


SCALES = {
    "tiny": Scale("perspective-tiny", (32, 32), 1e-3, 400, 200, 2, 3),
    "classic": Scale("default", (64, 64), 1e-3, 5_000, 1_000, 3, 10),
    "default": Scale("perspective", (64, 64), 1e-3, 5_000, 1_000, 3, 10),
    "paper": Scale("perspective-paper", (256, 256, 256), None, 100_000, 2_000, 5, 10),
}
RECIPES = ("random", "mixed", "replay", "noisy", "expert")
# The paper's nine learners as its code runs them (ml-jku/OfflineRL source/agents/; QR-DQN is
# that code's variant, ``qrdqn_mljku``: see agents/discrete/qrdqn.py; MCE regresses Q on the
# return-to-go, agents/discrete/mce.py). ``--learners`` takes any discrete id (e.g. ``qrdqn``,
# Dabney et al.'s QR-DQN).
PAPER_LEARNERS = ("bc", "bve", "mce", "dqn", "qrdqn_mljku", "rem", "bcq", "cql", "crr")
# The ``classic`` scale's committed records predate MCE: its default learners stay the eight.
CLASSIC_LEARNERS = tuple(a for a in PAPER_LEARNERS if a != "mce")
# The paper states its results as findings over TQ/SACo (no table of numbers comparable with
# the suite's datasets), so they are printed beside the rank correlations instead.
PAPER_FINDINGS = (
    "Schweighofer et al. (CoLLAs 2022), findings: the DQN family (DQN, QR-DQN, REM) needs high "
    "SACo; BCQ, CQL and CRR do well when TQ and SACo are both high or both moderate; BC is "
    "competitive when TQ is high. (The paper's online budgets, dataset sizes and 100k-update "
    "budget differ from the suite's default scale: compare the signs of the correlations.)")
COLUMNS = ("learner", "env", "dataset", "tq", "saco", "score_final", "score_final_std",
           "score_paper", "diverged_seeds")


def define_flags() -> None:
    """Defines the script's absl flags: only when run as a script, so that tests can import
    several experiment modules into one process without a flag defined twice."""
    flags.DEFINE_enum("scale", "default", list(SCALES), "Budget preset.")
    flags.DEFINE_string("suite", None, "Generated suite (default: the scale's).")
    flags.DEFINE_list("learners", None, "Discrete learner ids (default: the paper's nine; "
                      "at --scale=classic the eight of its committed records).")
    flags.DEFINE_list("recipes", list(RECIPES), "Dataset recipes to train on.")
    flags.DEFINE_integer("num_seeds", None, "Seeds per dataset (default: the scale's).")
    flags.DEFINE_integer("steps", None, "Updates per run (default: the scale's).")
    flags.DEFINE_string("minari_root", None, "Local Minari root (default: "
                        "$MINARI_DATASETS_PATH, else Minari's default).")
    flags.DEFINE_string("out", None, f"Output directory (default: results/{EXPERIMENT}/"
                        "<scale>).")
    flags.DEFINE_integer("saco_bins", 100, "Bins per dimension for SACo (0 = exact).")


def correlations(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Returns per learner the Spearman correlation of score_paper with TQ and with SACo."""
    out = []
    for learner in dict.fromkeys(r["learner"] for r in rows):
        mine = [r for r in rows if r["learner"] == learner]
        score = np.array([r["score_paper"] for r in mine], float)
        out.append(dict(learner=learner, datasets=len(mine),
                        mean_score=float(np.nanmean(score)),
                        spearman_tq=spearman(np.array([r["tq"] for r in mine], float), score),
                        spearman_saco=spearman(np.array([r["saco"] for r in mine], float),
                                                score)))
    return out


def wide_rows(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], tuple[str, ...]]:
    """Returns (one row per env x dataset: TQ, SACo and each learner's paper score, the
    paper's per-dataset view; its columns)."""
    learners = list(dict.fromkeys(r["learner"] for r in rows))
    table: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        row = table.setdefault((r["env"], r["dataset"]), dict(
            env=r["env"], dataset=r["dataset"], tq=r["tq"], saco=r["saco"]))
        row[r["learner"]] = r["score_paper"]
    return list(table.values()), ("env", "dataset", "tq", "saco", *learners)


def sweep_spec(scale: Scale, learners: list[str], datasets: list[str]) -> SweepSpec:
    """Returns the study's sweep: every learner on every dataset, seeds vmapped; the learning
    rate (where the scale sets one) is a one-value grid axis so that records carry it."""
    grid = {} if scale.learning_rate is None else {
        ALL_ALGOS: (f"learning_rate={scale.learning_rate}",)}
    return SweepSpec(name=EXPERIMENT, suite=scale.suite, algos=tuple(learners),
                     datasets=tuple(datasets), grid=grid, num_seeds=scale.num_seeds,
                     num_updates=scale.num_updates, eval_every=scale.eval_every,
                     eval_episodes=scale.eval_episodes, batch_size=scale.batch_size,
                     hidden_sizes=scale.hidden_sizes)


def learner_rows(records: list[dict[str, Any]], quality: dict[str, dict[str, Any]]
                 ) -> list[dict[str, Any]]:
    """Returns one row per learner x dataset from the store's records: TQ, SACo, the final
    normalised return (mean and std over seeds), the paper's score (best evaluation of the
    seed-averaged curve) and the diverged seeds."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault((r["config"]["algo"], r["config"]["dataset"]), []).append(r)
    rows = []
    for (algo, name), runs in groups.items():
        lengths = sorted({len(r["curve"]["score"]) for r in runs})
        if len(lengths) > 1:  # seeds of two budgets: their curves do not stack
            raise SuiteError(f"{algo} on {name}: field 'curve.score': expected one length over "
                             f"the seeds' records, found {lengths} (records of two settings)")
        curves = np.array([[np.nan if v is None else v for v in r["curve"]["score"]]
                           for r in runs], float)  # [seeds, evaluations]
        env, _, recipe = name.rpartition("/")
        rows.append(dict(
            learner=algo, env=env, dataset=recipe, tq=quality[name]["tq"],
            saco=quality[name]["saco"], score_final=float(np.nanmean(curves[:, -1])),
            score_final_std=float(np.nanstd(curves[:, -1])),
            score_paper=float(np.nanmax(np.nanmean(curves, axis=0))),
            diverged_seeds=sum(bool(r["diverged"]) for r in runs)))
    return rows


def run_study(scale: Scale, learners: list[str], recipes: list[str], out: pathlib.Path,
              root: Any = None, saco_bins: int | None = 100,
              log: Callable[[str], None] = print, progress: bool = True,
              reps: int = 2000) -> list[dict[str, Any]]:
    """Returns the learner x env x dataset rows after training (what the results store under
    ``out`` lacks) and writing every output. Raises SuiteError, before training or writing
    anything, when ``out`` holds these runs under another setting (another scale's)."""
    build_suite(scale.suite, root, log=log)
    spec = get_suite(scale.suite)
    envs = [e for e in suite_dataset_ids(spec) if make_env(e).spec.discrete]
    if not envs:
        raise SystemExit(f"suite '{scale.suite}' has no discrete-action env")
    datasets = [f"{e}/{r}" for e in envs for r in recipes]
    (summary,), records = run_sweeps([sweep_spec(scale, learners, datasets)], out, root=root,
                                     log=log, progress=progress)
    log(f"{summary['trained']} programs trained, {summary['skipped']} found done")
    table = [q for q in dataset_quality.suite_quality_rows(scale.suite, root, saco_bins)
             if q["env"] in envs]
    quality = [dict(q, dataset=f"{q['env']}/{q['dataset']}") for q in table]  # sweep names
    tables.write_table(out, "dataset_quality", table, dataset_quality.COLUMNS)
    rows = learner_rows(records, {q["dataset"]: q for q in quality})
    tables.write_table(out, "learners", rows, COLUMNS)
    tables.write_table(out, "scores", *wide_rows(rows))
    tables.write_table(out, "correlations", correlations(rows),
                       ("learner", "datasets", "mean_score", "spearman_tq", "spearman_saco"))
    plots.tq_saco_scatter(rows, out / "tq_saco_all.png", score_key="score_paper")
    write_report(records, out / "report", method_keys=("algo",), reps=reps,
                 dataset_quality_rows=quality, log=log)
    return rows


def main(argv: list[str]) -> None:
    del argv
    scale = SCALES[flags.FLAGS.scale]
    scale = dataclasses.replace(
        scale, suite=flags.FLAGS.suite or scale.suite, num_seeds=flags.FLAGS.num_seeds or scale.num_seeds,
        num_updates=flags.FLAGS.steps or scale.num_updates)
    learners = flags.FLAGS.learners or list(
        CLASSIC_LEARNERS if flags.FLAGS.scale == "classic" else PAPER_LEARNERS)
    unknown = sorted(set(learners) - set(DISCRETE_LEARNERS))
    if unknown or not set(flags.FLAGS.recipes) <= set(RECIPES):
        print(f"flags '--learners'/'--recipes': expected ids from {list(DISCRETE_LEARNERS)} / "
              f"{list(RECIPES)}, found {learners} / {flags.FLAGS.recipes}", file=sys.stderr)
        sys.exit(2)
    out = results_dir(EXPERIMENT, flags.FLAGS.scale, flags.FLAGS.out)
    start = time.perf_counter()
    rows = run_study(scale, learners, flags.FLAGS.recipes, out, flags.FLAGS.minari_root,
                     flags.FLAGS.saco_bins or None)
    print(tables.markdown_table(*wide_rows(rows)))
    print(tables.markdown_table(correlations(rows), ("learner", "datasets", "mean_score",
                                                     "spearman_tq", "spearman_saco")))
    print(PAPER_FINDINGS)
    print(f"{len(rows)} runs in {time.perf_counter() - start:.0f} s; written to {out}/")


if __name__ == "__main__":
    define_flags()
    run_app(main)
