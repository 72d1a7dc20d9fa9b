"""What every paper experiment shares: where its results go, its sweeps run on a store that
holds one setting, the paper's reference numbers beside ours, and one-line errors."""

from __future__ import annotations

import csv
import math
import os
import pathlib
import sys
import time
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from jaxrl_suite.errors import SuiteError
from jaxrl_suite.report import tables
from jaxrl_suite.report.stats import FAILED_RUN_SCORE, differences_text, setting_differences
from jaxrl_suite.sweep.runner import DatasetLoader, SweepSpec, expand, run_sweep
from jaxrl_suite.sweep.store import RECORDS, load_records

REFERENCE_DIR = pathlib.Path(__file__).resolve().parent.parent / "results" / "reference"
RESULTS_ROOT = pathlib.Path("results")
# Fields two runs of one (algo, dataset, sampling) may differ in and still be one setting: the
# seed and the hyperparameter cell of a grid.
RUN_FIELDS = ("seed", "overrides", "hparams")
# Fields every run of one study (sweep name) shares, whatever its learner and dataset (budgets
# and widths may differ per learner).
STUDY_FIELDS = ("batch_size", "eval_every", "eval_episodes")


# The benchmarks of the studies that began on the suite's toy tasks (trajectory weighting,
# semi-supervised, revisiting MBRL): ``mujoco`` = the locomotion suites' D4RL-recipe datasets
# (the benchmark their papers used), ``pendulum`` = the Pendulum/MountainCar datasets of the
# ``default`` suite they ran on first.
BENCHMARKS = ("mujoco", "pendulum")
DEFAULT_BENCHMARK = "mujoco"


def scale_folder(scale: str, benchmark: str = "pendulum") -> str:
    """Returns the results folder name of ``scale`` on ``benchmark``: ``<scale>`` on pendulum
    (the names these studies' committed results have had since before locomotion),
    ``mujoco-<scale>`` on mujoco."""
    if benchmark not in BENCHMARKS:
        raise SuiteError(f"benchmark: expected one of {list(BENCHMARKS)}, found {benchmark!r}")
    return scale if benchmark == "pendulum" else f"{benchmark}-{scale}"


def results_dir(experiment: str, scale: str, out: str | os.PathLike | None = None,
                results_root: str | os.PathLike = RESULTS_ROOT) -> pathlib.Path:
    """Returns ``out`` when given, else ``<results_root>/<experiment>/<scale>``: each scale's
    records, tables and plots in a folder of their own, so that a run at one scale never reads
    another's records nor overwrites its tables (``scale``: a ``scale_folder`` name where the
    study has several benchmarks)."""
    return pathlib.Path(out) if out else pathlib.Path(results_root) / experiment / scale


def define_benchmark_flags() -> None:
    """Defines --benchmark and --envs of the studies with a locomotion setting."""
    from absl import flags

    flags.DEFINE_enum("benchmark", DEFAULT_BENCHMARK, list(BENCHMARKS),
                      "Datasets: the mujoco suites' locomotion sets (results/<experiment>/"
                      "mujoco-<scale>/) or the Pendulum ones (results/<experiment>/<scale>/).")
    flags.DEFINE_list("envs", None, "mujoco only: a subset of the scale's envs (e.g. "
                      "HalfCheetah-v5); default: all of them.")


def select_envs(available: Sequence[str], envs: Sequence[str] | None, benchmark: str
                ) -> tuple[str, ...]:
    """Returns the envs of ``available`` named by --envs (``envs``; None or empty: all), in
    ``available``'s order; raises SuiteError naming the flag for an env the scale lacks, and
    on the pendulum benchmark, whose datasets are fixed."""
    if not envs:
        return tuple(available)
    if benchmark != "mujoco":
        raise SuiteError(f"flag '--envs': only for --benchmark=mujoco, found --benchmark="
                         f"{benchmark}")
    unknown = sorted(set(envs) - set(available))
    if unknown:
        raise SuiteError(f"flag '--envs': expected envs of the scale {list(available)}, found "
                         f"{unknown}")
    return tuple(e for e in available if e in envs)


def planned_runs(spec: SweepSpec, loader: DatasetLoader) -> dict[str, dict[str, Any]]:
    """Returns {record hash: config} of every run of ``spec`` (``runner.expand``: loads the
    datasets through ``loader``, trains nothing)."""
    return {row["hash"]: row["config"] for program, _ in expand(spec, loader, log=lambda _: None)
            for row in program.rows}


def refuse_other_settings(out: str | os.PathLike, planned: Mapping[str, Mapping[str, Any]]
                          ) -> None:
    """Raises SuiteError naming ``out`` when its store holds, under another setting, a record
    of a planned run's (algo, dataset, sampling) (any config field but RUN_FIELDS differs:
    another scale's budget, widths, suite or sweep name) or of a planned sweep name (a field of
    STUDY_FIELDS differs; named only where no planned run's own record conflicts), before
    anything is trained or written."""
    if not (pathlib.Path(out) / RECORDS).is_dir():
        return
    runs: dict[tuple, Mapping[str, Any]] = {}
    sweeps: dict[str, Mapping[str, Any]] = {}
    for config in planned.values():
        runs.setdefault((config["algo"], config["dataset"], config["sampling"]), config)
        sweeps.setdefault(config["sweep"], config)
    study_conflict = None  # named only when no planned run's own record conflicts
    for record in load_records(out):
        if record["hash"] in planned:
            continue
        c = record["config"]
        run = runs.get((c.get("algo"), c.get("dataset"), c.get("sampling")))
        if run is not None:
            differences = setting_differences(run, c, ignore=RUN_FIELDS)
            if differences:
                raise _other_setting(out, record, differences)
        elif study_conflict is None and c.get("sweep") in sweeps:
            differences = setting_differences(sweeps[c["sweep"]], c, fields=STUDY_FIELDS)
            if differences:
                study_conflict = _other_setting(out, record, differences)
    if study_conflict is not None:
        raise study_conflict


def _other_setting(out: str | os.PathLike, record: Mapping[str, Any],
                   differences: Sequence[str]) -> SuiteError:
    c = record["config"]
    return SuiteError(
        f"{out}: record {record['hash']} ({c['algo']} on {c['dataset']}) is of another setting "
        f"than this run ({differences_text(differences)}; this run's values first): keep each "
        "scale or setting in its own results directory (--out; the default is "
        "results/<experiment>/<scale>/)")


def run_sweeps(specs: Sequence[SweepSpec], out: str | os.PathLike, *, root: Any = None,
               log: Callable[[str], None] = print, progress: bool = True,
               datasets: Mapping[str, Any] | None = None
               ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Returns (``run_sweep``'s summary per spec, the records of the specs' runs) after
    refusing an ``out`` that holds their runs under another setting (``refuse_other_settings``)
    and training what its store lacks. Only the specs' own runs are read (by hash), so other
    records in the store never enter a study's tables or report. ``datasets``: in-memory
    Datasets by the names the specs use (as ``run_sweep``)."""
    loaders, planned = _plan(specs, root, log, datasets)
    refuse_other_settings(out, planned)
    summaries = [run_sweep(spec, out, root=root, log=log, progress=progress, datasets=loader)
                 for spec, loader in zip(specs, loaders)]
    return summaries, [r for r in load_records(out) if r["hash"] in planned]


def _plan(specs: Sequence[SweepSpec], root: Any, log: Callable[[str], None],
          datasets: Mapping[str, Any] | None = None
          ) -> tuple[list[DatasetLoader], dict[str, dict[str, Any]]]:
    """Returns (a loader per spec, one per suite so each dataset is read once; {hash: config}
    of every planned run of the specs)."""
    by_suite: dict[Any, DatasetLoader] = {}
    loaders = [by_suite.setdefault(spec.suite, DatasetLoader(spec, root, log, datasets))
               for spec in specs]
    planned: dict[str, dict[str, Any]] = {}
    for spec, loader in zip(specs, loaders):
        planned.update(planned_runs(spec, loader))
    return loaders, planned


def stored_runs(specs: Sequence[SweepSpec], out: str | os.PathLike, root: Any = None
                ) -> list[dict[str, Any]]:
    """Returns the records at ``out`` of the specs' planned runs (by hash, as ``run_sweeps``
    returns them), training nothing: a table of what a store holds. The specs' datasets are
    read to plan the runs (a missing suite dataset is built, as for a training run)."""
    _, planned = _plan(specs, root, lambda _: None)
    return [r for r in load_records(out) if r["hash"] in planned]


def run_app(main: Callable[[list[str]], None]) -> None:
    """Runs absl ``main``, a SuiteError (a refused results directory, a bad flag) printed as one
    line and exit status 2, as the suite's CLI does."""
    from absl import app

    def guarded(argv: list[str]) -> None:
        try:
            main(argv)
        except SuiteError as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(2)

    app.run(guarded)


def define_study_flags(experiment: str, scales: Mapping[str, Any], *,
                       minari_root: bool = True) -> None:
    """Defines the flags every study script shares: --scale, --num_seeds, --minari_root (where
    the study reads a Minari root) and --out. Called only when run as a script, so that tests
    can import several experiment modules into one process without a flag defined twice."""
    from absl import flags

    flags.DEFINE_enum("scale", "default", list(scales), "Budget preset.")
    flags.DEFINE_integer("num_seeds", None, "Seeds per cell (default: the scale's).")
    if minari_root:
        flags.DEFINE_string("minari_root", None, "Local Minari root (default: "
                            "$MINARI_DATASETS_PATH, else Minari's default).")
    flags.DEFINE_string("out", None, f"Output directory (default: results/{experiment}/"
                        "<scale>).")


def study_setup(experiment: str, scales: Mapping[str, Any]) -> tuple[Any, pathlib.Path, float]:
    """Returns (the --scale preset with --num_seeds applied, the results directory (--out, else
    results/<experiment>/<scale>), the start time) for a study's ``main``; orbax's per-chunk
    INFO logs are silenced unless --verbosity was given."""
    import dataclasses

    from absl import flags, logging

    f = flags.FLAGS
    scale = scales[f.scale]
    scale = dataclasses.replace(scale, num_seeds=f.num_seeds or scale.num_seeds)
    if not f["verbosity"].present:  # orbax logs every chunk checkpoint at INFO
        logging.set_verbosity(logging.WARNING)
    return scale, results_dir(experiment, f.scale, f.out), time.perf_counter()


def load_reference(name: str) -> tuple[list[dict[str, str]], str]:
    """Returns (rows, source) of ``results/reference/<name>.csv``: its data rows and the
    citation in its leading ``# source:`` comment lines."""
    path = REFERENCE_DIR / f"{name}.csv"
    lines = path.read_text().splitlines()
    source = " ".join(l.lstrip("# ").removeprefix("source:").strip()
                      for l in lines if l.startswith("#"))
    rows = list(csv.DictReader(l for l in lines if not l.startswith("#")))
    return rows, source


def beside_reference(rows: Sequence[dict[str, Any]], reference: Sequence[dict[str, str]],
                     keys: Sequence[str], theirs: str,
                     out_column: str = "paper") -> list[dict[str, Any]]:
    """Returns ``rows`` each with ``out_column`` = the reference row's ``theirs`` value whose
    ``keys`` match (as strings), or None where the paper has no comparable number."""
    index = {tuple(r[k] for k in keys): r[theirs] for r in reference}
    merged = []
    for row in rows:
        value = index.get(tuple(str(row[k]) for k in keys))
        merged.append({**row, out_column: float(value) if value not in (None, "") else None})
    return merged


def final_score(record: dict[str, Any]) -> float:
    """Returns the record's final normalised score; a diverged run's missing one is a failure
    (``report.stats.FAILED_RUN_SCORE``), as the report counts it."""
    score = record.get("final_score")
    score = math.nan if score is None else float(score)
    return FAILED_RUN_SCORE if record.get("diverged") and not math.isfinite(score) else score


def print_study(rows: Sequence[dict[str, Any]], columns: Sequence[str], reference: str | None,
                reference_label: str | None, note: str, summaries: Sequence[dict[str, Any]],
                start: float, out: pathlib.Path) -> None:
    """Prints a study's table, its reference's citation (None: a study without one), its
    setting note and what trained."""
    print(tables.markdown_table(rows, columns))
    if reference is not None:
        _, source = load_reference(reference)
        print(f"{reference_label}: {source}")
    print(note)
    trained = sum(s["trained"] for s in summaries)
    skipped = sum(s["skipped"] for s in summaries)
    print(f"{trained} programs trained, {skipped} skipped, in {time.perf_counter() - start:.0f} "
          f"s; written to {out}/")


def spearman(x: np.ndarray, y: np.ndarray) -> float | None:
    """Returns Spearman's rank correlation (average ranks for ties), None if undefined."""
    def ranks(v):
        order = np.argsort(v, kind="stable")
        r = np.empty(len(v))
        r[order] = np.arange(len(v), dtype=float)
        for value in np.unique(v):  # ties share their mean rank
            r[v == value] = r[v == value].mean()
        return r
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3:
        return None
    rx, ry = ranks(x[ok]), ranks(y[ok])
    if rx.std() == 0 or ry.std() == 0:
        return None
    return float(np.corrcoef(rx, ry)[0, 1])
