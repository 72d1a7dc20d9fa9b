"""The report of a set of results records: aggregate, per-task and probability-of-improvement
tables (Markdown, CSV, LaTeX) and their figures, in one directory."""

from __future__ import annotations

import os
import pathlib
import re
from typing import Any, Mapping, Sequence

import numpy as np

from jaxrl_suite.errors import SuiteError
from jaxrl_suite.report import plots, stats, tables

FORMATS = ("md", "csv", "tex")
# The Markdown/LaTeX aggregate table: one "value [lo, hi]" cell per metric.
INTERVAL_COLUMNS = ("method", *stats.AGGREGATE_METRICS, "runs", "tasks")


def dataset_short_name(dataset: str) -> str:
    """Returns the dataset name a quality row uses ("replay") for a record's dataset: a Minari
    id ("suite/CartPole-v1/replay-v0") or a file path (".../replay.npz")."""
    name = re.split(r"[/\\]", str(dataset).rstrip("/\\"))[-1]
    name = re.sub(r"\.(npz|hdf5|h5)$", "", name)
    return re.sub(r"-v\d+$", "", name)


def tq_saco_rows(score_dict: Mapping[str, np.ndarray], tasks: Sequence[str],
                 task_envs: Mapping[str, str], dataset_quality_rows: Sequence[Mapping[str, Any]],
                 ) -> list[dict[str, Any]]:
    """Returns one row per (method, task) with a dataset-quality row: learner (the method),
    env, dataset, tq, saco and score (the method's mean final normalised score on the task).

    A task matches the quality row of its env whose ``dataset`` is the task's name or short
    name (``dataset_short_name``). Raises SuiteError where no task matches any row.
    """
    quality = {(str(q["env"]), str(q["dataset"])): q for q in dataset_quality_rows}
    matched = {}
    for task in tasks:
        env = task_envs.get(task, "")
        q = quality.get((env, task)) or quality.get((env, dataset_short_name(task)))
        if q is not None:
            matched[task] = q
    if not matched:
        raise SuiteError(f"report: field 'dataset_quality_rows': expected rows for the "
                         f"results' (env, dataset) pairs "
                         f"{sorted((task_envs.get(t, ''), t) for t in tasks)}, found only "
                         f"{sorted(quality)}")
    rows = []
    for method, scores in score_dict.items():
        for j, task in enumerate(tasks):
            if task in matched:
                q = matched[task]
                rows.append(dict(learner=method, env=q["env"], dataset=q["dataset"],
                                 tq=q.get("tq"), saco=q.get("saco"),
                                 score=float(scores[:, j].mean())))
    return rows


def _once(log: stats.Log) -> stats.Log:
    """Returns ``log`` passing each distinct note on once (the tables and the curves group the
    same records, so they find the same notes)."""
    seen: set[str] = set()

    def once(note: str) -> None:
        if note not in seen:
            seen.add(note)
            log(note)
    return once


def write_report(records: Sequence[Mapping[str, Any]], out_dir: str | os.PathLike, *,
                 method_keys: Sequence[str] = ("algo", "sampling"), task_key: str = "dataset",
                 reps: int = 2000, seed: int = 0,
                 dataset_quality_rows: Sequence[Mapping[str, Any]] | None = None,
                 baseline: str | None = None, curve_reps: int = 500,
                 log: stats.Log | None = None) -> str:
    """Returns the Markdown aggregate table ("value [lo, hi]" cells) after writing the report
    of ``records`` into ``out_dir``:

    - ``aggregates.{md,csv,tex}``: per method IQM, mean, median and optimality gap with 95%
      stratified-bootstrap intervals (``reps`` resamples, seeded with ``seed``); the CSV holds
      the numbers (``<metric>_lo``/``_hi`` columns), Markdown and LaTeX the interval cells;
    - ``per_task.{md,csv,tex}``: per method and task, mean and std of the final score over
      seeds, the number of seeds and of diverged runs;
    - ``probability_of_improvement.{md,csv,tex}`` (two or more methods): P(method > baseline)
      for every method against ``baseline`` (default: the first method);
    - ``learning_curves.png`` (``curve_reps`` resamples), ``performance_profile.png``,
      ``aggregates.png``, and ``tq_saco.png`` when ``dataset_quality_rows`` (env, dataset,
      tq, saco) are given, coloured by each method's mean final score per dataset.

    Scores, methods and the treatment of diverged runs are those of ``stats.score_matrices``;
    its notes (uneven seeds) go to ``log``.
    """
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    log = _once(log or stats.warn_note)
    keys = dict(method_keys=method_keys, task_key=task_key)
    score_dict, tasks = stats.score_matrices(records, log=log, **keys)

    aggregates = stats.aggregate_table(score_dict, reps=reps, seed=seed)
    tables.write_table(out, "aggregates", aggregates, stats.AGGREGATE_COLUMNS, formats=("csv",))
    interval = tables.interval_rows(aggregates, stats.AGGREGATE_METRICS)
    caption = (f"Normalised scores over {len(tasks)} tasks: point estimate [95% stratified "
               f"bootstrap CI, {reps} resamples]; optimality gap: lower is better.")
    md = tables.write_table(out, "aggregates", interval, INTERVAL_COLUMNS, formats=("md", "tex"),
                            caption=caption)

    tables.write_table(out, "per_task", stats.per_task_rows(records, **keys),
                       stats.PER_TASK_COLUMNS, formats=FORMATS,
                       caption="Final normalised score per task: mean and std over seeds.")

    methods = list(score_dict)
    if len(methods) >= 2:
        pairs = stats.probability_of_improvement_pairs(methods, baseline)
        poi = stats.probability_of_improvement(score_dict, pairs, reps=reps, seed=seed)
        tables.write_table(out, "probability_of_improvement", poi, stats.POI_COLUMNS,
                           formats=FORMATS,
                           caption="Probability of improvement P(x > y) with 95% CI.")
    elif baseline is not None:
        stats.probability_of_improvement_pairs(methods, baseline)  # validates the name

    plots.learning_curves(records, out / "learning_curves.png", reps=curve_reps, seed=seed,
                          log=log, **keys)
    plots.performance_profile_plot(score_dict, out / "performance_profile.png", reps=reps,
                                   seed=seed)
    plots.aggregate_plot(aggregates, out / "aggregates.png")
    if dataset_quality_rows is not None:
        task_envs = {}
        for r in records:
            task_envs.setdefault(str(r["config"][task_key]), str(r["config"].get("env", "")))
        plots.tq_saco_scatter(tq_saco_rows(score_dict, tasks, task_envs, dataset_quality_rows),
                              out / "tq_saco.png", score_key="score")
    return md
