"""Aggregate statistics of learner results with stratified-bootstrap confidence intervals.

Follows Agarwal et al. (2021), "Deep Reinforcement Learning at the Edge of the Statistical
Precipice" (NeurIPS), through its library ``rliable``: scores are arranged per method as a
``[runs, tasks]`` matrix (``[runs, tasks, steps]`` for learning curves) of normalised scores
(D4RL style, 0 = random, 100 = expert) and every interval is a percentile bootstrap that
resamples runs within each task.

Reproducibility: rliable 1.2's bootstraps draw their indices from NumPy's *global* generator
(``np.random.choice`` in ``StratifiedBootstrap.update_indices``); the ``random_state`` it
accepts is handed to ``arch`` and never used for resampling. So every estimate here runs
inside ``_seeded_global_rng(seed)``, which seeds the global generator and restores its previous
state afterwards: the same ``seed`` gives the same intervals, and callers' own use of
``np.random`` is left as it was (not thread-safe: do not bootstrap from two threads at once).
"""

from __future__ import annotations

import contextlib
import json
import math
import warnings
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np

from jaxrl_suite.errors import SuiteError

# The normalised score of a run that failed: a diverged run without a finite score counts as
# the lowest score of the normalisation (the random policy's return), not as a missing run,
# so that a learner that diverges often is not reported as well as one that never does.
FAILED_RUN_SCORE = 0.0
# Optimality gap threshold on the 0-100 normalised scale (rliable's default gamma=1 is for
# scores normalised to 0-1).
OPTIMALITY_GAMMA = 100.0
AGGREGATE_METRICS = ("iqm", "mean", "median", "optimality_gap")
# The config fields every run of one method shares on all its tasks: records of two scales or
# budgets under one method label must not meet in one report. (Within one method and task every
# field but the seed must agree; these are the ones that do not follow the task, as its
# dataset, env, size and source, a learner config derived from the data and a discrete
# learner's per-env discount do.)
METHOD_SETTING_FIELDS = ("num_updates", "batch_size", "eval_every", "eval_episodes",
                         "sampling_temperature", "final_eval_episodes", "ensemble",
                         "learner_config.hidden_sizes")

Log = Callable[[str], None]


def warn_note(note: str) -> None:
    """Issues ``note`` as a UserWarning: the default ``log`` of the functions below."""
    warnings.warn(note, UserWarning, stacklevel=3)


@contextlib.contextmanager
def _seeded_global_rng(seed: int) -> Iterator[None]:
    """Yields with NumPy's global generator seeded with ``seed``; restores its state after."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        with warnings.catch_warnings():
            # arch deprecates random_state; we still pass it so that a later rliable which
            # does resample from it stays reproducible.
            warnings.filterwarnings("ignore", "random_state is deprecated", FutureWarning)
            yield
    finally:
        np.random.set_state(state)


# ----------------------------------------------------------------------------- grouping


def _record_name(record: Mapping[str, Any]) -> str:
    return f"record {record.get('hash', '<no hash>')}"


def _config_value(record: Mapping[str, Any], key: str) -> Any:
    config = record.get("config")
    if not isinstance(config, Mapping):
        raise SuiteError(f"{_record_name(record)}: field 'config': expected a mapping, found "
                         f"{type(config).__name__}")
    if key not in config:
        raise SuiteError(f"{_record_name(record)}: field 'config.{key}': expected a value, "
                         f"found none (config fields: {sorted(config)})")
    return config[key]


def _format_value(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _overrides_text(overrides: Mapping[str, Any]) -> str:
    if not overrides:
        return "defaults"
    return " ".join(f"{k}={_format_value(v)}" for k, v in sorted(overrides.items()))


def _overrides_key(overrides: Mapping[str, Any]) -> tuple:
    # Numbers sort by value (0.7 before 10), and apart from any non-numeric value.
    return tuple(sorted((str(k), 0, float(v), "") if isinstance(v, (int, float))
                        else (str(k), 1, 0.0, str(v)) for k, v in overrides.items()))


def _field(config: Mapping[str, Any], path: str) -> Any:
    """Returns the value at dotted ``path`` of ``config`` (None where absent)."""
    value: Any = config
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


# The config fields that tell two scales' records apart, listed first in a difference.
_SCALE_FIELDS = ("sweep", "num_updates", "learner_config", "batch_size", "eval_every",
                 "eval_episodes", "dataset_source")


def _short(value: Any, limit: int = 48) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def setting_differences(a: Mapping[str, Any], b: Mapping[str, Any], *,
                        fields: Sequence[str] | None = None,
                        ignore: Sequence[str] = ("seed",)) -> list[str]:
    """Returns "field: A vs B" for every field where record configs ``a`` and ``b`` differ,
    nested mappings (``learner_config``, ``hparams``) by their differing keys
    ("learner_config.hidden_sizes: [32, 32] vs [64, 64]"); empty when they are one setting.

    ``fields``: dotted paths to compare (default: every field of either config but those in
    ``ignore``, the ones that tell scales apart first). A field one config lacks compares as
    None.
    """
    if fields is None:
        rest = sorted((set(a) | set(b)) - set(ignore))
        fields = [f for f in _SCALE_FIELDS if f in rest] + [f for f in rest
                                                              if f not in _SCALE_FIELDS]
    out = []
    for path in fields:
        x, y = _field(a, path), _field(b, path)
        if x == y:
            continue
        if isinstance(x, Mapping) and isinstance(y, Mapping):
            out += [f"{path}.{d}" for d in setting_differences(x, y, ignore=())]
        else:
            out.append(f"{path}: {_short(x)} vs {_short(y)}")
    return out


def differences_text(differences: Sequence[str], most: int = 3) -> str:
    """Returns the first ``most`` of ``differences`` joined by "; " (and how many more)."""
    text = "; ".join(differences[:most])
    return text + (f"; and {len(differences) - most} more" if len(differences) > most else "")


def _refuse_mixed_settings(label: str, records: Sequence[Mapping[str, Any]], *,
                           fields: Sequence[str] | None = None, where: str = "") -> None:
    """Raises SuiteError when two of ``records`` (one method's, or one method and task's) are of
    different settings: ``fields`` (default every config field but the seed) differ."""
    first = records[0]
    for r in records[1:]:
        differences = setting_differences(first["config"], r["config"], fields=fields)
        if differences:
            raise SuiteError(
                f"report: method '{label}'{where}: records {first.get('hash')} and "
                f"{r.get('hash')} are of different settings ({differences_text(differences)}); "
                "records of two scales or settings do not belong in one report: report each "
                "results directory on its own, or add the differing field to method_keys")


def method_labels(records: Sequence[Mapping[str, Any]], *,
                  method_keys: Sequence[str] = ("algo", "sampling")) -> list[str]:
    """Returns the method label of each record, in order.

    A label is the record's ``config`` values of ``method_keys`` joined by "/"; where the
    records sharing those values come from more than one hyperparameter cell (different
    ``config.overrides``), each cell is its own method and its overrides are appended as
    ``name=value`` (``defaults`` for the cell without overrides).
    """
    bases = ["/".join(_format_value(_config_value(r, k)) for k in method_keys) for r in records]
    cells: dict[str, set[tuple]] = {}
    for base, r in zip(bases, records):
        overrides = r["config"].get("overrides") or {}
        cells.setdefault(base, set()).add(_overrides_key(overrides))
    labels = []
    for base, r in zip(bases, records):
        if len(cells[base]) > 1:
            base = f"{base} {_overrides_text(r['config'].get('overrides') or {})}"
        labels.append(base)
    return labels


def _method_sort_key(label_records: tuple[str, list[Mapping[str, Any]]],
                     method_keys: Sequence[str]) -> tuple:
    r = label_records[1][0]
    values = tuple(_format_value(r["config"][k]) for k in method_keys)
    return values, _overrides_key(r["config"].get("overrides") or {})


def group_records(records: Sequence[Mapping[str, Any]], *,
                  method_keys: Sequence[str] = ("algo", "sampling"), task_key: str = "dataset",
                  ) -> tuple[dict[str, dict[str, dict[int, Mapping[str, Any]]]], list[str]]:
    """Returns ({method: {task: {seed: record}}}, sorted task names), every seed of every task.

    Methods are ordered by their ``method_keys`` values then overrides, tasks and seeds sorted,
    so the result does not depend on the order of ``records``. Raises SuiteError when the
    records of one method are of different settings (two scales' records, say: a field of
    METHOD_SETTING_FIELDS differs, or within one task any config field but the seed), naming
    two of them and the fields, and when two records share method, task and seed (add the field
    that tells them apart to ``method_keys``).
    """
    if not records:
        raise SuiteError("report: field 'records': expected at least one results record, "
                         "found none")
    # A method's hyperparameter cells (its labels with overrides) share one budget too.
    by_base: dict[str, list[Mapping[str, Any]]] = {}
    for r in records:
        by_base.setdefault("/".join(_format_value(_config_value(r, k)) for k in method_keys),
                           []).append(r)
    for base, rs in by_base.items():
        _refuse_mixed_settings(base, rs, fields=METHOD_SETTING_FIELDS)
    by_method: dict[str, list[Mapping[str, Any]]] = {}
    for label, r in zip(method_labels(records, method_keys=method_keys), records):
        by_method.setdefault(label, []).append(r)
    ordered = sorted(by_method.items(), key=lambda item: _method_sort_key(item, method_keys))
    grouped: dict[str, dict[str, dict[int, Mapping[str, Any]]]] = {}
    tasks: set[str] = set()
    for label, rs in ordered:
        by_task: dict[str, list[Mapping[str, Any]]] = {}
        for r in rs:
            by_task.setdefault(str(_config_value(r, task_key)), []).append(r)
        for task, task_records in by_task.items():
            _refuse_mixed_settings(label, task_records, where=f", {task_key} '{task}'")
        per_task: dict[str, dict[int, Mapping[str, Any]]] = {}
        for r in rs:
            task = str(_config_value(r, task_key))
            seed = int(_config_value(r, "seed"))
            seeds = per_task.setdefault(task, {})
            if seed in seeds:
                raise SuiteError(
                    f"report: method '{label}', {task_key} '{task}', seed {seed}: expected one "
                    f"record, found two ({seeds[seed].get('hash')} and {r.get('hash')}); add "
                    "the config field that tells them apart to method_keys")
            seeds[seed] = r
        grouped[label] = {t: dict(sorted(s.items())) for t, s in sorted(per_task.items())}
        tasks.update(per_task)
    return grouped, sorted(tasks)


def _common_seeds(grouped: Mapping[str, Mapping[str, Mapping[int, Any]]], tasks: Sequence[str],
                  task_key: str, log: Log) -> dict[str, list[int]]:
    """Returns {method: the seeds present in every task}; raises where a task is missing."""
    common = {}
    for label, per_task in grouped.items():
        missing = [t for t in tasks if t not in per_task]
        if missing:
            raise SuiteError(f"report: method '{label}': expected a record for every "
                             f"{task_key} {list(tasks)}, found none for {missing}")
        seeds = sorted(set.intersection(*(set(per_task[t]) for t in tasks)))
        if not seeds:
            raise SuiteError(f"report: method '{label}': expected a seed present in every "
                             f"{task_key}, found none in common "
                             f"({ {t: sorted(per_task[t]) for t in tasks} })")
        uneven = {t: sorted(per_task[t]) for t in tasks if len(per_task[t]) != len(seeds)}
        if uneven:
            log(f"report: method '{label}': {task_key}s have different seeds "
                f"({uneven}); using the {len(seeds)} seeds present in every one: {seeds}")
        common[label] = seeds
    return common


def _score(value: Any) -> float:
    return math.nan if value is None else float(value)


def _run_scores(records: Sequence[Mapping[str, Any]], values: Sequence[np.ndarray], *,
                label: str, task: str, task_key: str, field: str) -> np.ndarray:
    """Returns [runs, ...] scores with non-finite ones of diverged runs set to
    FAILED_RUN_SCORE; raises where a run that did not diverge lacks a finite score."""
    scores = np.stack(values).astype(np.float64)
    diverged = np.array([bool(r.get("diverged", False)) for r in records])
    finite = np.isfinite(scores)
    if (~diverged).any() and not finite[~diverged].any():
        raise SuiteError(f"report: method '{label}', {task_key} '{task}': field '{field}': "
                         "expected normalised scores, found none (the dataset has no reference "
                         "returns, so its scores cannot be normalised)")
    for r, row_ok, bad in zip(records, finite, diverged):
        if not bad and not row_ok.all():
            found = r.get(field) if field in r else "non-finite values"
            raise SuiteError(f"{_record_name(r)} (method '{label}', {task_key} '{task}'): field "
                             f"'{field}': expected finite normalised scores for a run not "
                             f"flagged diverged, found {found}")
    return np.where(finite, scores, FAILED_RUN_SCORE)


def score_matrices(records: Sequence[Mapping[str, Any]], *,
                   method_keys: Sequence[str] = ("algo", "sampling"),
                   task_key: str = "dataset", log: Log | None = None,
                   ) -> tuple[dict[str, np.ndarray], list[str]]:
    """Returns ({method label: [runs, tasks] final normalised scores}, task names).

    Rows are seeds (sorted), columns the sorted task names (``config[task_key]``); the labels
    are those of ``method_labels``. Where a method's tasks have different seeds, only the
    seeds present in every task are kept and ``log`` (default: a UserWarning) is told which.

    A diverged run (``record["diverged"]``) is kept as a failed run, not dropped: its
    ``final_score`` is used as-is where finite, otherwise it counts as FAILED_RUN_SCORE (0.0,
    the random policy's normalised score, the lowest of the normalisation).

    Raises SuiteError where a method lacks a task (naming both), where a dataset has no
    normalised scores (no reference returns), or where a run that did not diverge has none.
    """
    log = log or warn_note
    grouped, tasks = group_records(records, method_keys=method_keys, task_key=task_key)
    common = _common_seeds(grouped, tasks, task_key, log)
    out = {}
    for label, per_task in grouped.items():
        columns = []
        for task in tasks:
            rs = [per_task[task][s] for s in common[label]]
            columns.append(_run_scores(rs, [np.array(_score(r.get("final_score"))) for r in rs],
                                       label=label, task=task, task_key=task_key,
                                       field="final_score"))
        out[label] = np.stack(columns, axis=1)
    return out, tasks


def curve_matrices(records: Sequence[Mapping[str, Any]], *,
                   method_keys: Sequence[str] = ("algo", "sampling"),
                   task_key: str = "dataset", log: Log | None = None,
                   ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], list[str]]:
    """Returns ({method: [runs, tasks, steps] normalised scores}, {method: [steps] update
    step}, task names), runs and tasks as in ``score_matrices``.

    A method's steps are those at which every run that did not diverge was evaluated; a
    diverged run's missing or non-finite points count as FAILED_RUN_SCORE, as in
    ``score_matrices``.
    """
    log = log or warn_note
    grouped, tasks = group_records(records, method_keys=method_keys, task_key=task_key)
    common = _common_seeds(grouped, tasks, task_key, log)
    curves, steps_out = {}, {}
    for label, per_task in grouped.items():
        rs_all = [per_task[t][s] for t in tasks for s in common[label]]
        for r in rs_all:
            curve = r.get("curve")
            if not isinstance(curve, Mapping) or "step" not in curve or "score" not in curve:
                raise SuiteError(f"{_record_name(r)}: field 'curve': expected a mapping with "
                                 f"'step' and 'score' lists, found {type(curve).__name__}")
            if len(curve["step"]) != len(curve["score"]):
                raise SuiteError(f"{_record_name(r)}: field 'curve': expected 'step' and "
                                 f"'score' of one length, found {len(curve['step'])} and "
                                 f"{len(curve['score'])}")
        alive = [r for r in rs_all if not r.get("diverged", False)] or rs_all
        steps = sorted(set.intersection(*(set(int(s) for s in r["curve"]["step"])
                                          for r in alive)))
        longest = max(len(r["curve"]["step"]) for r in alive)
        if len(steps) < longest:
            log(f"report: method '{label}': runs were evaluated at different steps; using the "
                f"{len(steps)} steps every run has")
        columns = []
        for task in tasks:
            rs = [per_task[task][s] for s in common[label]]
            values = []
            for r in rs:
                at = dict(zip((int(s) for s in r["curve"]["step"]), r["curve"]["score"]))
                values.append(np.array([_score(at.get(s)) for s in steps]))
            columns.append(_run_scores(rs, values, label=label, task=task, task_key=task_key,
                                       field="curve.score"))
        curves[label] = np.stack(columns, axis=1)
        steps_out[label] = np.array(steps, dtype=np.int64)
    return curves, steps_out, tasks


# ----------------------------------------------------------------------------- estimates


def aggregate_metrics(scores: np.ndarray) -> np.ndarray:
    """Returns [4] IQM, mean, median and optimality gap (gamma 100) of [runs, tasks] scores."""
    from rliable import metrics
    return np.array([metrics.aggregate_iqm(scores), metrics.aggregate_mean(scores),
                     metrics.aggregate_median(scores),
                     metrics.aggregate_optimality_gap(scores, gamma=OPTIMALITY_GAMMA)])


def _check_scores(score_dict: Mapping[str, np.ndarray], ndim: int) -> None:
    if not score_dict:
        raise SuiteError("report: field 'score_dict': expected at least one method, found none")
    for label, s in score_dict.items():
        s = np.asarray(s)
        if s.ndim != ndim or 0 in s.shape:
            raise SuiteError(f"report: scores of method '{label}': expected a non-empty "
                             f"{ndim}-d array [runs, tasks{', steps' if ndim == 3 else ''}], "
                             f"found shape {s.shape}")
        if not np.isfinite(s).all():
            raise SuiteError(f"report: scores of method '{label}': expected finite values, "
                             f"found {int((~np.isfinite(s)).sum())} non-finite")


def aggregate_table(score_dict: Mapping[str, np.ndarray], *, reps: int = 2000, seed: int = 0,
                    confidence: float = 0.95) -> list[dict[str, Any]]:
    """Returns one row per method: IQM, mean, median and optimality gap, each with the
    ``confidence`` stratified-bootstrap interval (``<metric>_lo``, ``<metric>_hi``), and the
    number of runs and tasks.

    ``score_dict`` maps a method to its [runs, tasks] normalised scores (0-100; the optimality
    gap's threshold is 100). One rliable ``get_interval_estimates`` call bootstraps the four
    metrics together, seeded with ``seed``.
    """
    from rliable import library as rly

    _check_scores(score_dict, 2)
    scores = {k: np.asarray(v, dtype=np.float64) for k, v in score_dict.items()}
    with _seeded_global_rng(seed):
        point, interval = rly.get_interval_estimates(
            scores, aggregate_metrics, method="percentile", task_bootstrap=False, reps=reps,
            confidence_interval_size=confidence, random_state=np.random.RandomState(seed))
    rows = []
    for label, s in scores.items():
        row: dict[str, Any] = {"method": label}
        for i, name in enumerate(AGGREGATE_METRICS):
            row[name] = float(point[label][i])
            row[f"{name}_lo"] = float(interval[label][0, i])
            row[f"{name}_hi"] = float(interval[label][1, i])
        row.update(runs=s.shape[0], tasks=s.shape[1])
        rows.append(row)
    return rows


AGGREGATE_COLUMNS = ("method", *(f"{m}{suffix}" for m in AGGREGATE_METRICS
                                 for suffix in ("", "_lo", "_hi")), "runs", "tasks")


def default_taus(score_dict: Mapping[str, np.ndarray], num: int = 61) -> np.ndarray:
    """Returns [num] thresholds from 0 to max(100, the highest score) for performance
    profiles."""
    top = max(float(np.max(s)) for s in score_dict.values())
    return np.linspace(0.0, max(OPTIMALITY_GAMMA, math.ceil(top)), num)


def performance_profiles(score_dict: Mapping[str, np.ndarray], taus: Sequence[float] | np.ndarray,
                         *, reps: int = 2000, seed: int = 0, confidence: float = 0.95,
                         ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Returns ({method: [taus] fraction of runs with score > tau}, {method: [2, taus] lower
    and upper interval}): rliable's score-distribution performance profiles, seeded with
    ``seed``."""
    from rliable import library as rly

    _check_scores(score_dict, 2)
    scores = {k: np.asarray(v, dtype=np.float64) for k, v in score_dict.items()}
    # create_performance_profile takes no random_state: the global seed is its only source.
    with _seeded_global_rng(seed):
        return rly.create_performance_profile(
            scores, np.asarray(taus, dtype=np.float64), use_score_distribution=True,
            method="percentile", task_bootstrap=False, reps=reps,
            confidence_interval_size=confidence)


def probability_of_improvement_pairs(methods: Sequence[str], baseline: str | None = None,
                                     ) -> list[tuple[str, str]]:
    """Returns [(method, baseline)] for every method other than ``baseline`` (default: the
    first method)."""
    if not methods:
        raise SuiteError("report: expected at least one method, found none")
    baseline = methods[0] if baseline is None else baseline
    if baseline not in methods:
        raise SuiteError(f"report: field 'baseline': expected one of {list(methods)}, found "
                         f"'{baseline}'")
    return [(m, baseline) for m in methods if m != baseline]


def _poi(scores_x: np.ndarray, scores_y: np.ndarray) -> np.ndarray:
    from rliable import metrics
    return np.array([metrics.probability_of_improvement(scores_x, scores_y)])


def probability_of_improvement(score_dict: Mapping[str, np.ndarray],
                               pairs: Sequence[tuple[str, str]] | None = None, *,
                               reps: int = 2000, seed: int = 0, confidence: float = 0.95,
                               ) -> list[dict[str, Any]]:
    """Returns one row per (x, y) pair: x, y, ``probability`` = P(X > Y) (the average over
    tasks of the Mann-Whitney probability that a run of x beats a run of y) and its interval
    (``lo``, ``hi``) from a bootstrap that resamples the runs of x and y independently within
    each task. ``pairs`` defaults to every method against the first."""
    from rliable import library as rly

    _check_scores(score_dict, 2)
    pairs = (probability_of_improvement_pairs(list(score_dict)) if pairs is None
             else [tuple(p) for p in pairs])
    for x, y in pairs:
        for name in (x, y):
            if name not in score_dict:
                raise SuiteError(f"report: probability-of-improvement pair ({x}, {y}): "
                                 f"expected methods among {list(score_dict)}, found '{name}'")
    # A tuple (not an array) makes rliable bootstrap x and y independently.
    pair_dict = {i: (np.asarray(score_dict[x], np.float64), np.asarray(score_dict[y], np.float64))
                 for i, (x, y) in enumerate(pairs)}
    with _seeded_global_rng(seed):
        point, interval = rly.get_interval_estimates(
            pair_dict, _poi, method="percentile", reps=reps,
            confidence_interval_size=confidence, random_state=np.random.RandomState(seed))
    return [dict(x=x, y=y, probability=float(point[i][0]), lo=float(interval[i][0, 0]),
                 hi=float(interval[i][1, 0])) for i, (x, y) in enumerate(pairs)]


POI_COLUMNS = ("x", "y", "probability", "lo", "hi")


def iqm_per_step(scores: np.ndarray) -> np.ndarray:
    """Returns [steps] IQM over runs and tasks of [runs, tasks, steps] scores."""
    import scipy.stats
    return scipy.stats.trim_mean(scores.reshape(-1, scores.shape[-1]), proportiontocut=0.25,
                                 axis=0)


def learning_curve_estimates(curve_dict: Mapping[str, np.ndarray], *, reps: int = 500,
                             seed: int = 0, confidence: float = 0.95,
                             ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Returns ({method: [steps] IQM}, {method: [2, steps] interval}) of [runs, tasks, steps]
    normalised scores, bootstrapped over runs within each task, seeded with ``seed``."""
    from rliable import library as rly

    _check_scores(curve_dict, 3)
    scores = {k: np.asarray(v, dtype=np.float64) for k, v in curve_dict.items()}
    with _seeded_global_rng(seed):
        return rly.get_interval_estimates(
            scores, iqm_per_step, method="percentile", task_bootstrap=False, reps=reps,
            confidence_interval_size=confidence, random_state=np.random.RandomState(seed))


def per_task_rows(records: Sequence[Mapping[str, Any]], *,
                  method_keys: Sequence[str] = ("algo", "sampling"), task_key: str = "dataset",
                  ) -> list[dict[str, Any]]:
    """Returns one row per (method, task): env, seeds, diverged runs, and the mean and std
    (ddof=0) over every seed of the final normalised score, diverged runs scored as in
    ``score_matrices``."""
    grouped, _ = group_records(records, method_keys=method_keys, task_key=task_key)
    rows = []
    for label, per_task in grouped.items():
        for task, seeds in per_task.items():
            rs = list(seeds.values())
            s = _run_scores(rs, [np.array(_score(r.get("final_score"))) for r in rs],
                            label=label, task=task, task_key=task_key, field="final_score")
            envs = sorted({str(r["config"].get("env", "")) for r in rs})
            rows.append(dict(method=label, task=task, env=",".join(envs), seeds=len(rs),
                             diverged=sum(bool(r.get("diverged", False)) for r in rs),
                             mean=float(s.mean()), std=float(s.std())))
    return rows


PER_TASK_COLUMNS = ("method", "task", "env", "seeds", "diverged", "mean", "std")
