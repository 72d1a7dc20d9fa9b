"""Figures of learner results: learning curves, performance profiles, aggregate intervals, the
TQ/SACo scatter of dataset quality against score, a BO trace, and UCB policy-selection curves.

Every figure is a matplotlib ``Figure`` on its own Agg canvas (no pyplot, so no global figure
state and no GUI backend), written as a PNG through a temp file renamed onto ``path``: a
reader sees the old file or the whole new one. Each function returns the path it wrote.
"""

from __future__ import annotations

import math
import os
import pathlib
from typing import Any, Mapping, Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from jaxrl_suite.data.io import atomic_write
from jaxrl_suite.errors import SuiteError
from jaxrl_suite.report import stats

METRIC_TITLES = {"iqm": "IQM", "mean": "Mean", "median": "Median",
                 "optimality_gap": "Optimality gap"}
ENV_MARKERS = "os^Dv<>pPX*h"


def _figure(width: float, height: float) -> Figure:
    """Returns an empty Figure on an Agg canvas, laid out by constrained layout."""
    fig = Figure(figsize=(width, height), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _panel_grid(count: int, width: float, height: float) -> tuple[Figure, np.ndarray]:
    """Returns (a Figure, its [rows, cols] axes) for ``count`` panels, at most three a row,
    each ``width`` x ``height`` inches."""
    cols = min(3, count)
    fig = _figure(width * cols + 0.6, height * -(-count // cols))
    return fig, fig.subplots(-(-count // cols), cols, squeeze=False)


def _blank_unused(axes: np.ndarray, count: int) -> None:
    """Hides the axes past the first ``count`` of a panel grid."""
    for ax in list(axes.flat)[count:]:
        ax.axis("off")


def save_figure(fig: Figure, path: str | os.PathLike) -> pathlib.Path:
    """Returns ``path`` after writing ``fig`` there as a PNG, atomically (temp file in the same
    directory, then renamed onto ``path``)."""
    return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))


def _colors(methods: Sequence[str]) -> dict[str, Any]:
    """Returns {method: colour}, the same method order giving the same colours in every plot."""
    cmap = colormaps["tab10" if len(methods) <= 10 else "tab20"]
    return {m: cmap(i % cmap.N) for i, m in enumerate(methods)}


def learning_curves(records: Sequence[Mapping[str, Any]], path: str | os.PathLike, *,
                    method_keys: Sequence[str] = ("algo", "sampling"), task_key: str = "dataset",
                    reps: int = 500, seed: int = 0, confidence: float = 0.95,
                    log: stats.Log | None = None) -> pathlib.Path:
    """Returns ``path`` after plotting, per method, the IQM over runs x tasks of the normalised
    score at each evaluation step, with its stratified-bootstrap ``confidence`` band."""
    curves, steps, tasks = stats.curve_matrices(records, method_keys=method_keys,
                                                task_key=task_key, log=log)
    point, interval = stats.learning_curve_estimates(curves, reps=reps, seed=seed,
                                                     confidence=confidence)
    colors = _colors(list(curves))
    fig = _figure(6.4, 4.2)
    ax = fig.add_subplot()
    for m in curves:
        ax.plot(steps[m], point[m], color=colors[m], lw=2, label=m)
        ax.fill_between(steps[m], interval[m][0], interval[m][1], color=colors[m], alpha=0.2,
                        lw=0)
    ax.set(xlabel="update step", ylabel="IQM normalised score",
           title=f"{len(tasks)} tasks, {int(confidence * 100)}% CI")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="best")
    return save_figure(fig, path)


def performance_profile_plot(score_dict: Mapping[str, np.ndarray], path: str | os.PathLike, *,
                             taus: Sequence[float] | np.ndarray | None = None, reps: int = 2000,
                             seed: int = 0, confidence: float = 0.95) -> pathlib.Path:
    """Returns ``path`` after plotting, per method, the fraction of runs with normalised score
    above tau (rliable's score distribution) with its bootstrap band; ``taus`` defaults to
    ``stats.default_taus``."""
    taus = stats.default_taus(score_dict) if taus is None else np.asarray(taus, np.float64)
    point, interval = stats.performance_profiles(score_dict, taus, reps=reps, seed=seed,
                                                 confidence=confidence)
    colors = _colors(list(score_dict))
    fig = _figure(6.4, 4.2)
    ax = fig.add_subplot()
    for m in score_dict:
        ax.plot(taus, point[m], color=colors[m], lw=2, label=m)
        ax.fill_between(taus, interval[m][0], interval[m][1], color=colors[m], alpha=0.2, lw=0)
    ax.set(xlabel=r"normalised score $\tau$", ylabel=r"fraction of runs with score > $\tau$",
           ylim=(0.0, 1.02), xlim=(float(taus[0]), float(taus[-1])))
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="best")
    return save_figure(fig, path)


def aggregate_plot(rows: Sequence[Mapping[str, Any]], path: str | os.PathLike, *,
                   metrics: Sequence[str] = stats.AGGREGATE_METRICS) -> pathlib.Path:
    """Returns ``path`` after drawing, for each metric, one horizontal interval (``_lo`` to
    ``_hi``) per method with a tick at the point estimate (rows of ``stats.aggregate_table``);
    lower is better for the optimality gap."""
    if not rows:
        raise SuiteError("aggregate plot: field 'rows': expected at least one method, found none")
    for name in metrics:
        for key in (name, f"{name}_lo", f"{name}_hi"):
            if key not in rows[0]:
                raise SuiteError(f"aggregate plot: field '{key}': expected a column of the "
                                 f"aggregate table, found columns {sorted(rows[0])}")
    methods = [r["method"] for r in rows]
    colors = _colors(methods)
    fig = _figure(2.6 * len(metrics) + 1.5, 0.45 * len(methods) + 1.2)
    axes = fig.subplots(1, len(metrics), sharey=True, squeeze=False)[0]
    y = np.arange(len(methods))[::-1]
    for ax, name in zip(axes, metrics):
        for yi, r in zip(y, rows):
            ax.barh(yi, r[f"{name}_hi"] - r[f"{name}_lo"], left=r[f"{name}_lo"], height=0.6,
                    color=colors[r["method"]], alpha=0.75)
            ax.vlines(r[name], yi - 0.3, yi + 0.3, color="k", lw=1.5)
        ax.set_title(METRIC_TITLES.get(name, name))
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y, methods)
    fig.supxlabel("normalised score")
    return save_figure(fig, path)


def _require(rows: Sequence[Mapping[str, Any]], keys: Sequence[str], what: str) -> None:
    if not rows:
        raise SuiteError(f"{what}: field 'rows': expected at least one row, found none")
    for i, r in enumerate(rows):
        missing = [k for k in keys if k not in r]
        if missing:
            raise SuiteError(f"{what}: row {i}: expected fields {list(keys)}, missing {missing}")


def _finite(value: Any) -> bool:
    return value is not None and math.isfinite(float(value))


def tq_saco_scatter(rows: Sequence[Mapping[str, Any]], path: str | os.PathLike, *,
                    score_key: str = "score", vmax: float = 120.0) -> pathlib.Path:
    """Returns ``path`` after drawing one SACo (x) vs TQ (y) scatter per learner in a grid,
    each dataset a point coloured by ``row[score_key]`` (viridis, 0 to ``vmax`` normalised;
    grey where missing), marked by env and labelled with its dataset name.

    ``rows`` carry learner, env, dataset, tq, saco and ``score_key``; rows without TQ or SACo
    (no reference returns or no reference dataset) are left out.
    """
    _require(rows, ("learner", "env", "dataset", "tq", "saco", score_key), "TQ/SACo scatter")
    learners = list(dict.fromkeys(r["learner"] for r in rows))
    envs = list(dict.fromkeys(r["env"] for r in rows))
    markers = {e: ENV_MARKERS[i % len(ENV_MARKERS)] for i, e in enumerate(envs)}
    norm = Normalize(vmin=0.0, vmax=vmax, clip=True)
    cmap = colormaps["viridis"].with_extremes(bad="lightgrey")
    cols = min(4, len(learners))
    nrows = -(-len(learners) // cols)
    fig = _figure(3.8 * cols + 0.8, 3.4 * nrows)
    axes = fig.subplots(nrows, cols, squeeze=False)
    for ax, learner in zip(axes.flat, learners):
        for env in envs:
            mine = [r for r in rows if r["learner"] == learner and r["env"] == env
                    and _finite(r["tq"]) and _finite(r["saco"])]
            if not mine:
                continue
            score = [float(r[score_key]) if _finite(r[score_key]) else np.nan for r in mine]
            ax.scatter([r["saco"] for r in mine], [r["tq"] for r in mine], s=70,
                       c=score, cmap=cmap, norm=norm, marker=markers[env], edgecolors="k",
                       plotnonfinite=True, label=env)
            for r in mine:
                ax.annotate(str(r["dataset"]), (r["saco"], r["tq"]), fontsize=6,
                            textcoords="offset points", xytext=(4, 4))
        ax.set(title=str(learner), xlabel="SACo", ylabel="TQ")
        ax.legend(fontsize=6, loc="best")
    for ax in list(axes.flat)[len(learners):]:
        ax.axis("off")
    fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=axes, label=f"{score_key} "
                 "(normalised)")
    return save_figure(fig, path)


def _optional_float(value: Any) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return float(value)


def bo_trace_plot(trials_rows: Sequence[Mapping[str, Any]], path: str | os.PathLike, *,
                  direction: str = "maximize", title: str | None = None) -> pathlib.Path:
    """Returns ``path`` after plotting a BO study's trials: each COMPLETE trial's value against
    its round (spread across the round), FAIL/PRUNED ones as crosses on the lower edge, and the
    running best after each round.

    ``trials_rows`` are rows of the ``trials.csv`` of ``sweep.bo.write_bo_outputs`` (number,
    round, state, value; as strings from ``csv.DictReader`` or as numbers; an empty round or
    value means none).
    """
    if direction not in ("maximize", "minimize"):
        raise SuiteError(f"BO trace: field 'direction': expected 'maximize' or 'minimize', "
                         f"found '{direction}'")
    _require(trials_rows, ("number", "round", "state", "value"), "BO trace")
    trials = []
    for i, r in enumerate(trials_rows):
        try:
            rnd, value = _optional_float(r["round"]), _optional_float(r["value"])
            number = int(r["number"])
        except (TypeError, ValueError):
            raise SuiteError(f"BO trace: row {i}: fields 'number'/'round'/'value': expected "
                             f"numbers (or empty), found {dict(r)}") from None
        trials.append((number, None if rnd is None else int(rnd), str(r["state"]), value))
    by_round: dict[int, list[tuple]] = {}
    for t in sorted(trials):
        if t[1] is not None:
            by_round.setdefault(t[1], []).append(t)
    better = max if direction == "maximize" else min
    xs, ys, fail_x, best_x, best_y, incumbent = [], [], [], [], [], None
    for rnd in sorted(by_round):
        round_trials = by_round[rnd]
        for i, (_, _, state, value) in enumerate(round_trials):
            x = rnd + 0.6 * (i + 0.5) / len(round_trials) - 0.3
            if state == "COMPLETE" and value is not None and math.isfinite(value):
                xs.append(x)
                ys.append(value)
            elif state in ("FAIL", "PRUNED"):
                fail_x.append(x)
        values = [v for _, _, s, v in round_trials
                  if s == "COMPLETE" and v is not None and math.isfinite(v)]
        if values:
            incumbent = better(values) if incumbent is None else better(incumbent, *values)
        if incumbent is not None:
            best_x.append(rnd)
            best_y.append(incumbent)
    fig = _figure(6.4, 4.0)
    ax = fig.add_subplot()
    ax.scatter(xs, ys, s=12, alpha=0.6, label="trial value")
    ax.step(best_x, best_y, where="post", color="C1", label="running best")
    if fail_x:
        ax.scatter(fail_x, [0.0] * len(fail_x), marker="x", color="C3",
                   transform=ax.get_xaxis_transform(), clip_on=False, label="failed")
    complete = sum(t[2] == "COMPLETE" for t in trials)
    ax.set(xlabel="round", ylabel="objective",
           title=f"{title + ': ' if title else ''}{complete} complete, "
                 f"{len(trials) - complete} other")
    ax.legend(loc="best", fontsize="small")
    return save_figure(fig, path)


def selection_curves_plot(curves: Mapping[str, Mapping[str, Any]], path: str | os.PathLike, *,
                          confidence: float = 0.95, subset: int | None = None) -> pathlib.Path:
    """Returns ``path`` after plotting, one panel per dataset, each method's expected score of
    the policy a UCB bandit selects against the number of online evaluations (log scale), with
    its bootstrap ``confidence`` band.

    ``curves``: {dataset: {method: curve}}, each curve with ``pulls``, ``mean``, ``ci_low`` and
    ``ci_high`` arrays (``report.selection.SelectionCurve``); ``subset`` names the policies per
    trial in the titles.
    """
    if not curves or not all(curves.values()):
        raise SuiteError("selection plot: field 'curves': expected at least one curve per "
                         "dataset, found none")
    methods = list(dict.fromkeys(m for per_task in curves.values() for m in per_task))
    colors = _colors(methods)
    fig, axes = _panel_grid(len(curves), 4.6, 3.6)
    for ax, (task, per_task) in zip(axes.flat, curves.items()):
        for m, c in per_task.items():
            ax.plot(c.pulls, c.mean, color=colors[m], lw=2, label=m)
            ax.fill_between(c.pulls, c.ci_low, c.ci_high, color=colors[m], alpha=0.2, lw=0)
        ax.set(xscale="log", title=str(task), xlabel="online evaluations (bandit pulls)",
               ylabel="expected normalised score")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small", loc="best")
    _blank_unused(axes, len(curves))
    fig.suptitle(f"UCB policy selection{f' among {subset} policies' if subset else ''}, "
                 f"{int(confidence * 100)}% CI")
    return save_figure(fig, path)


def _method_panels(panels: Mapping[str, Mapping[str, Any]], path: str | os.PathLike,
                   draw: Any, *, what: str, xlabel: str, ylabel: str, xscale: str,
                   title: str | None, finish: Any = None) -> pathlib.Path:
    """Returns ``path`` after drawing one panel per key of ``panels`` ({panel: {method:
    data}}), calling ``draw(ax, method, data, colour)`` for each method (one colour per method
    across panels), then ``finish(ax, {method: data})`` where given."""
    if not panels or not all(panels.values()):
        raise SuiteError(f"{what} plot: field 'panels': expected at least one method per "
                         "panel, found none")
    colors = _colors(list(dict.fromkeys(m for per in panels.values() for m in per)))
    fig, axes = _panel_grid(len(panels), 4.4, 3.4)
    for ax, (name, per) in zip(axes.flat, panels.items()):
        for m, data in per.items():
            draw(ax, m, data, colors[m])
        ax.set(xscale=xscale, title=str(name), xlabel=xlabel, ylabel=ylabel)
        if finish is not None:
            finish(ax, per)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small", loc="best")
    _blank_unused(axes, len(panels))
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


def interval_lines_plot(panels: Mapping[str, Mapping[str, Mapping[str, Sequence[float]]]],
                        path: str | os.PathLike, *, xlabel: str, ylabel: str,
                        xscale: str = "linear", title: str | None = None) -> pathlib.Path:
    """Returns ``path`` after drawing one panel per key of ``panels``, each method a line of
    point estimates with its interval as a band, the x axis ticked at the measured x values.

    ``panels``: {panel title: {method: {"x", "y", "lo", "hi"}: equal-length sequences}} (e.g.
    score vs dataset size with bootstrap CIs); methods keep one colour across panels.
    """
    def draw(ax, method, line, color):
        x = np.asarray(line["x"], float)
        ax.plot(x, line["y"], color=color, lw=2, marker="o", ms=4, label=method)
        ax.fill_between(x, line["lo"], line["hi"], color=color, alpha=0.2, lw=0)

    def ticks_at_measured_x(ax, per):
        ticks = sorted({float(v) for line in per.values() for v in line["x"]})
        ax.set_xticks(ticks, [f"{v:g}" for v in ticks])
        ax.minorticks_off()

    return _method_panels(panels, path, draw, what="interval", xlabel=xlabel, ylabel=ylabel,
                          xscale=xscale, title=title, finish=ticks_at_measured_x)


def scatter_panels_plot(panels: Mapping[str, Mapping[str, tuple[Sequence[float],
                                                                 Sequence[float]]]],
                        path: str | os.PathLike, *, xlabel: str, ylabel: str,
                        xscale: str = "linear", title: str | None = None) -> pathlib.Path:
    """Returns ``path`` after drawing one scatter panel per key of ``panels``: {panel title:
    {method: (x values, y values)}}, methods keeping one colour across panels (e.g. each
    run's score against its final auxiliary loss)."""
    def draw(ax, method, points, color):
        ax.scatter(points[0], points[1], color=color, s=18, alpha=0.8, label=method)

    return _method_panels(panels, path, draw, what="scatter", xlabel=xlabel, ylabel=ylabel,
                          xscale=xscale, title=title)
