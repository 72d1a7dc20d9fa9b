"""Dual RL (Sikchi, Zheng, Zhang & Niekum, ICLR 2024) reproduced at the suite's scales: ReCOIL
against the offline imitation baselines, and f-DVL's stability against XQL's.

Imitation (the paper's Section 6.1 setting, ``data/imitation.py``): for each env and offline
recipe, the offline mixture is that recipe's dataset plus the first N expert episodes (the
authors' 200; fewer at CPU scales, where the datasets are smaller), and the demonstrations are
the first K = 1 expert episode. Methods, on the same data and seeds:
  recoil      ReCOIL (agents/recoil.py), no rewards
  demodice    DemoDICE (agents/demodice.py), the DICE-family baseline, no rewards
  bc_demos    BC on the demonstrations only
  bc_all      BC on the whole mixture
  iql_rewards IQL on the mixture with its true rewards: an upper reference, not imitation
Stability (the paper's Section 6.2 claim, "f-DVL ... fixes the known training instability
issue of XQL"): XQL, f-DVL (chi-square and total variation) and IQL over a grid of their loss
temperatures (XQL's beta, f-DVL's alpha, IQL's expectile) x seeds, one program per learner and
dataset; the share of diverged cells (the engine's non-finite flag) and the final scores.

    .venv/bin/python experiments/dual_rl.py --scale=tiny      # results/dual_rl/tiny/ (tests)
    .venv/bin/python experiments/dual_rl.py --scale=default   # classic control, 2-core CPU
    .venv/bin/python experiments/dual_rl.py --scale=paper     # mujoco suite, GPU-sized

The paper's imitation numbers (its Table 2, D4RL -v2 data with 1M updates) could not be read
here (only its abstract is in the stored pages); ``results/reference/dual_rl.csv`` says so
and the tables' ``paper`` column stays empty rather than hold numbers we cannot check.
"""

from __future__ import annotations

import dataclasses
import pathlib
import sys
import time
from typing import Any, Callable, Sequence

import numpy as np
from absl import flags

if not __package__:  # run as a script: make the `experiments` package importable
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from experiments.common import (define_study_flags, final_score, load_reference, run_app,
                                run_sweeps, study_setup)
from jaxrl_suite.report import plots, stats, tables
from jaxrl_suite.sweep.runner import SweepSpec

EXPERIMENT = "dual_rl"
IMITATION_METHODS = ("recoil", "demodice", "bc_demos", "bc_all", "iql_rewards")
STABILITY_LEARNERS = ("xql", "fdvl", "fdvl_tv", "iql")
# The hyperparameter each stability learner's loss is tempered by.
TEMPERATURE_FIELD = {"xql": "beta", "fdvl": "alpha", "fdvl_tv": "alpha", "iql": "expectile"}
PAPER_CLAIMS = (
    "Paper (abstract): ReCOIL \"learns to imitate from arbitrary off-policy data to obtain "
    "near-expert performance\"; f-DVL \"provides alternative choices to the Gumbel regression "
    "loss that fixes the known training instability issue of XQL\".")


@dataclasses.dataclass(frozen=True)
class ImitationTask:
    env: str
    offline: tuple[str, ...]  # offline recipes of the suite (random, medium, ...)
    mixed_expert_episodes: int
    demo_episodes: int = 1
    expert: str = "expert"


@dataclasses.dataclass(frozen=True)
class Scale:
    suite: str
    imitation: tuple[ImitationTask, ...]
    stability_datasets: tuple[str, ...]  # "<env>/<recipe>" of the suite
    temperatures: dict[str, tuple[float, ...]]  # per stability learner, its grid
    hidden_sizes: tuple[int, ...] | None  # None: each learner's own widths
    imitation_updates: int
    stability_updates: int
    eval_every: int
    num_seeds: int
    eval_episodes: int
    batch_size: int | None = None  # None: each learner's paper minibatch


_PAPER_GRIDS = {"xql": (0.5, 1.0, 2.0, 5.0), "fdvl": (0.5, 0.8, 1.0),
                "fdvl_tv": (0.5, 0.8, 0.9), "iql": (0.5, 0.7, 0.9)}
_LOCOMOTION = ("HalfCheetah-v5", "Hopper-v5", "Walker2d-v5")

SCALES = {
    "tiny": Scale("tiny", (ImitationTask("Pendulum-v1", ("random",), 3),),
                  ("Pendulum-v1/replay",), {"xql": (1.0, 2.0), "fdvl": (1.0,),
                                            "fdvl_tv": (0.8,), "iql": (0.7,)},
                  hidden_sizes=(16,), imitation_updates=100, stability_updates=100,
                  eval_every=50, num_seeds=2, eval_episodes=2, batch_size=32),
    # Two CPU cores: Pendulum's random and replay data (20k transitions, 100 episodes each)
    # with 10 of its 100 expert episodes mixed in; 64-unit layers, batch 256, 3 seeds. ReCOIL
    # propagates value from the demonstrations one Bellman step per target-network lag, so it
    # gets 40k updates (BUILD_NOTES "Dual RL": at 10k it had not left BC's level).
    "default": Scale("default", (ImitationTask("Pendulum-v1", ("random", "replay"), 10),),
                     ("Pendulum-v1/replay", "Pendulum-v1/mixed", "Pendulum-v1/noisy"),
                     _PAPER_GRIDS, hidden_sizes=(64, 64), imitation_updates=40_000,
                     stability_updates=10_000, eval_every=5_000, num_seeds=3,
                     eval_episodes=10, batch_size=256),
    # GPU-sized: the mujoco suite's random and medium data with 200 expert episodes (walker2d
    # 100, as the authors' script), the learners' widths and minibatches, 1M updates for
    # imitation (the script's --max_steps), CORL's 1M for the stability grid, 5 seeds.
    "paper": Scale("mujoco", tuple(ImitationTask(env, ("random", "medium"),
                                                 100 if env.startswith("Walker") else 200)
                                   for env in _LOCOMOTION),
                   tuple(f"{env}/{level}" for env in _LOCOMOTION
                         for level in ("medium", "medium-replay", "medium-expert")),
                   _PAPER_GRIDS, hidden_sizes=None, imitation_updates=1_000_000,
                   stability_updates=1_000_000, eval_every=5_000, num_seeds=5,
                   eval_episodes=10),
}
IMITATION_COLUMNS = ("method", "env", "offline", "mixed_expert_episodes", "demo_transitions",
                     "seeds", "diverged", "score", "score_std", "iqm", "iqm_lo", "iqm_hi",
                     "paper")
AGGREGATE_COLUMNS = ("method", "runs", "tasks", "iqm", "iqm_lo", "iqm_hi", "mean", "mean_lo",
                     "mean_hi")
STABILITY_COLUMNS = ("learner", "dataset", "temperature_field", "temperature", "seeds",
                     "diverged", "score", "score_std")
DIVERGENCE_COLUMNS = ("learner", "cells", "diverged", "diverged_share", "score_iqm",
                      "score_iqm_lo", "score_iqm_hi")


def define_flags() -> None:
    """Defines the script's absl flags (only when run as a script)."""
    define_study_flags(EXPERIMENT, SCALES)


def mixture_name(task: ImitationTask, offline: str) -> str:
    """Returns the in-memory mixture's name, e.g. Pendulum-v1/random+expert10/demo1."""
    return (f"{task.env}/{offline}+{task.expert}{task.mixed_expert_episodes}/"
            f"demo{task.demo_episodes}")


def demos_name(task: ImitationTask, offline: str) -> str:
    return f"{mixture_name(task, offline)}/demos"


def build_datasets(scale: Scale, root: Any = None, log: Callable[[str], None] = print
                   ) -> dict[str, Any]:
    """Returns {name: Dataset} of every imitation mixture and its demonstrations, building the
    suite's envs first where they are missing."""
    from jaxrl_suite.data import io
    from jaxrl_suite.data.imitation import demonstrations, imitation_mixture
    from jaxrl_suite.generate.suite import build_suite, dataset_id

    out = {}
    for task in scale.imitation:
        build_suite(scale.suite, root, envs=(task.env,), log=log)
        expert = io.load(dataset_id(scale.suite, task.env, task.expert), root=root)
        for offline in task.offline:
            data = io.load(dataset_id(scale.suite, task.env, offline), root=root)
            mix = imitation_mixture(data, expert, task.mixed_expert_episodes,
                                    task.demo_episodes)
            out[mixture_name(task, offline)] = mix
            out[demos_name(task, offline)] = demonstrations(mix)
    return out


def _batch(scale: Scale, algo: str) -> int:
    """Returns the scale's minibatch, else the learner's paper minibatch."""
    from jaxrl_suite.agents import learner_parts

    return scale.batch_size or learner_parts(algo)[0]().batch_size


def sweep_specs(scale: Scale) -> list[SweepSpec]:
    """Returns the study's sweeps: the imitation methods on every mixture (BC on the demos on
    the demonstrations), then each stability learner with its temperature grid."""
    common = dict(num_seeds=scale.num_seeds, eval_every=scale.eval_every,
                  eval_episodes=scale.eval_episodes, hidden_sizes=scale.hidden_sizes)
    mixtures = tuple(mixture_name(t, o) for t in scale.imitation for o in t.offline)
    demos = tuple(demos_name(t, o) for t in scale.imitation for o in t.offline)
    imitation = dict(name=f"{EXPERIMENT}_imitation", suite=None,
                     num_updates=scale.imitation_updates, **common)
    # ReCOIL's actor lr decays to 0 over the run, as over the authors' --max_steps.
    grids = {"recoil": (f"actor_decay_steps={scale.imitation_updates}",)}
    specs = [SweepSpec(algos=(algo,), datasets=mixtures, grid={algo: grids[algo]}
                       if algo in grids else {}, batch_size=_batch(scale, algo), **imitation)
             for algo in ("recoil", "demodice", "bc", "iql")]
    specs.append(SweepSpec(algos=("bc",), datasets=demos, batch_size=_batch(scale, "bc"),
                           **imitation))
    for algo in STABILITY_LEARNERS:
        grid = ",".join(f"{t:g}" for t in scale.temperatures[algo])
        specs.append(SweepSpec(
            name=f"{EXPERIMENT}_stability", algos=(algo,), datasets=scale.stability_datasets,
            suite=scale.suite, num_updates=scale.stability_updates,
            batch_size=_batch(scale, algo),
            grid={algo: (f"{TEMPERATURE_FIELD[algo]}={grid}",)}, **common))
    return specs


def imitation_method(record: dict[str, Any]) -> str:
    """Returns the imitation method of a record (see the module docstring)."""
    config = record["config"]
    algo = config["algo"]
    if algo == "bc":
        return "bc_demos" if config["dataset"].endswith("/demos") else "bc_all"
    return "iql_rewards" if algo == "iql" else algo


def _task_of(dataset: str) -> tuple[str, str]:
    env, rest = dataset.split("/", 1)
    return env, rest.split("+", 1)[0]


def imitation_rows(records: Sequence[dict[str, Any]], datasets: dict[str, Any],
                   reps: int = 2000) -> tuple[list[dict], list[dict]]:
    """Returns (per method x env x offline recipe: score mean/std and IQM with its 95%
    bootstrap CI over seeds; per method the rliable IQM and mean over tasks x seeds)."""
    groups: dict[tuple[str, str, str], list[dict]] = {}
    for r in records:
        if r["config"]["sweep"] != f"{EXPERIMENT}_imitation":
            continue
        env, offline = _task_of(r["config"]["dataset"])
        groups.setdefault((imitation_method(r), env, offline), []).append(r)
    order = {m: i for i, m in enumerate(IMITATION_METHODS)}
    keys = sorted(groups, key=lambda k: (k[1], k[2], order[k[0]]))
    scores = {k: np.array([final_score(r) for r in groups[k]], float) for k in keys}
    ci = {row["method"]: row for row in stats.aggregate_table(
        {"|".join(k): v[:, None] for k, v in scores.items()}, reps=reps)} if keys else {}
    reference, _ = load_reference(EXPERIMENT)
    paper = {(r["method"], r["env"], r["offline"]): r["score"] for r in reference}
    rows = []
    for key in keys:
        method, env, offline = key
        mix = next(d for n, d in datasets.items()
                   if n.startswith(f"{env}/{offline}+") and not n.endswith("/demos"))
        info = mix.meta.info_dict()["demonstrations"]
        s, c = scores[key], ci["|".join(key)]
        rows.append(dict(method=method, env=env, offline=offline,
                         mixed_expert_episodes=info["mixed_expert_episodes"],
                         demo_transitions=info["stop"] - info["start"], seeds=len(s),
                         diverged=sum(bool(r.get("diverged")) for r in groups[key]),
                         score=float(s.mean()), score_std=float(s.std()), iqm=c["iqm"],
                         iqm_lo=c["iqm_lo"], iqm_hi=c["iqm_hi"],
                         paper=paper.get((method, env, offline))))
    tasks = sorted({(k[1], k[2]) for k in keys})
    per_method = {}
    for method in IMITATION_METHODS:
        cols = [scores.get((method, *t)) for t in tasks]
        if cols and all(c is not None for c in cols):
            seeds = min(len(c) for c in cols)
            per_method[method] = np.stack([c[:seeds] for c in cols], axis=1)
    aggregates = stats.aggregate_table(per_method, reps=reps) if per_method else []
    return rows, aggregates


def stability_rows(records: Sequence[dict[str, Any]], reps: int = 2000
                   ) -> tuple[list[dict], list[dict]]:
    """Returns (per learner x dataset x temperature: seeds, diverged seeds, score mean/std;
    per learner: cells, diverged cells and their share, the IQM of its scores with a 95% CI,
    a diverged run scoring ``report.stats.FAILED_RUN_SCORE``)."""
    groups: dict[tuple[str, str, float], list[dict]] = {}
    for r in records:
        c = r["config"]
        if c["sweep"] != f"{EXPERIMENT}_stability":
            continue
        field = TEMPERATURE_FIELD[c["algo"]]
        groups.setdefault((c["algo"], c["dataset"], float(c["hparams"][field])), []).append(r)
    order = {a: i for i, a in enumerate(STABILITY_LEARNERS)}
    rows = []
    for key in sorted(groups, key=lambda k: (order[k[0]], k[1], k[2])):
        algo, dataset, temperature = key
        s = np.array([final_score(r) for r in groups[key]], float)
        rows.append(dict(learner=algo, dataset=dataset, temperature_field=TEMPERATURE_FIELD[algo],
                         temperature=temperature, seeds=len(s),
                         diverged=sum(bool(r.get("diverged")) for r in groups[key]),
                         score=float(np.nanmean(s)), score_std=float(np.nanstd(s))))
    summary = []
    for algo in STABILITY_LEARNERS:
        runs = [r for k, v in groups.items() if k[0] == algo for r in v]
        if not runs:
            continue
        s = np.array([final_score(r) for r in runs], float)
        iqm = stats.aggregate_table({algo: s[:, None]}, reps=reps)[0]
        diverged = sum(bool(r.get("diverged")) for r in runs)
        summary.append(dict(learner=algo, cells=len(runs), diverged=diverged,
                            diverged_share=diverged / len(runs), score_iqm=iqm["iqm"],
                            score_iqm_lo=iqm["iqm_lo"], score_iqm_hi=iqm["iqm_hi"]))
    return rows, summary


def finding_lines(aggregates: Sequence[dict], divergence: Sequence[dict]) -> list[str]:
    """Returns our findings in the paper's terms (read beside ``PAPER_CLAIMS``)."""
    lines = []
    by = {r["method"]: r for r in aggregates}
    if "recoil" in by:
        others = ", ".join(f"{m} {by[m]['iqm']:.1f}" for m in IMITATION_METHODS
                           if m in by and m != "recoil")
        lines.append(f"Ours, imitation (IQM over tasks x seeds): recoil {by['recoil']['iqm']:.1f}"
                     f" [{by['recoil']['iqm_lo']:.1f}, {by['recoil']['iqm_hi']:.1f}]; {others}.")
    if divergence:
        text = ", ".join(f"{r['learner']} {r['diverged']}/{r['cells']}" for r in divergence)
        lines.append(f"Ours, stability: diverged cells (temperature grid x seeds x datasets): "
                     f"{text}.")
    return lines


def _stability_panels(rows: Sequence[dict]) -> dict[str, dict[str, dict[str, list]]]:
    panels: dict[str, dict[str, dict[str, list]]] = {}
    for r in rows:
        line = panels.setdefault(r["learner"], {}).setdefault(
            r["dataset"], {"x": [], "y": [], "lo": [], "hi": []})
        line["x"].append(r["temperature"])
        line["y"].append(r["score"])
        line["lo"].append(r["score"] - r["score_std"])
        line["hi"].append(r["score"] + r["score_std"])
    return panels


def run_study(scale: Scale, out: pathlib.Path, root: Any = None, *,
              log: Callable[[str], None] = print, progress: bool = True,
              reps: int = 2000) -> dict[str, list[dict[str, Any]]]:
    """Returns {"imitation", "imitation_aggregates", "stability", "divergence"} rows after
    training what the store at ``out`` lacks and writing every table and plot. Raises
    SuiteError, before training or writing anything, when ``out`` holds these runs under
    another setting."""
    datasets = build_datasets(scale, root, log)
    summaries, records = run_sweeps(sweep_specs(scale), out, root=root, log=log,
                                    progress=progress, datasets=datasets)
    log(f"{sum(s['trained'] for s in summaries)} programs trained, "
        f"{sum(s['skipped'] for s in summaries)} found done")
    imitation, aggregates = imitation_rows(records, datasets, reps)
    stability, divergence = stability_rows(records, reps)
    tables.write_table(out, "imitation", imitation, IMITATION_COLUMNS)
    tables.write_table(out, "imitation_aggregates", aggregates, AGGREGATE_COLUMNS)
    tables.write_table(out, "stability", stability, STABILITY_COLUMNS)
    tables.write_table(out, "divergence", divergence, DIVERGENCE_COLUMNS)
    if aggregates:
        plots.aggregate_plot(aggregates, out / "imitation_aggregates.png",
                             metrics=("iqm", "mean"))
    if stability:
        plots.interval_lines_plot(
            _stability_panels(stability), out / "stability.png",
            xlabel="loss temperature (XQL beta, f-DVL alpha, IQL expectile)",
            ylabel="normalised score (mean +- std over seeds)",
            title="Final score over each learner's temperature grid")
    _, source = load_reference(EXPERIMENT)
    tables.write_text(out / "findings.md", "\n\n".join(
        [PAPER_CLAIMS, f"Reference numbers: {source}", *finding_lines(aggregates, divergence)])
        + "\n")
    return dict(imitation=imitation, imitation_aggregates=aggregates, stability=stability,
                divergence=divergence)


def main(argv: list[str]) -> None:
    del argv
    scale, out, start = study_setup(EXPERIMENT, SCALES)
    result = run_study(scale, out, flags.FLAGS.minari_root)
    print(tables.markdown_table(result["imitation_aggregates"], AGGREGATE_COLUMNS))
    print(tables.markdown_table(result["divergence"], DIVERGENCE_COLUMNS))
    print((out / "findings.md").read_text())
    print(f"{time.perf_counter() - start:.0f} s; written to {out}/")


if __name__ == "__main__":
    define_flags()
    run_app(main)
