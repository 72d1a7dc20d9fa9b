"""Action chunking on OGBench's manipulation tasks, at the suite's scales, beside the authors'
released numbers: Q-chunking's single-task table (Li, Zhou & Levine, NeurIPS 2025) and
Decoupled Q-chunking's goal-conditioned one (Li, Park & Levine, ICLR 2026).

Data: OGBench's ``play`` datasets generated here with OGBench's own oracles
(``generate/ogbench.py``; the papers use the released files, 1M transitions for these domains),
fewer episodes at CPU scales. Single-task datasets are the play data relabelled for task i
(``data.ogbench.singletask_dataset``; ``scene`` and ``puzzle-3x3`` with QC's sparse rewards, as
its README); goal-conditioned ones the play data with oracle goal representations (DQC's
``oraclerep``: the cubes' positions, a slice of the observation). Scores are OGBench's success
rates in percent (``envs/ogbench_eval.py``).

  single-task     QC, QC-FQL, FQL, FQL-n, BFN-n (``agents/qc.py``: the README's commands),
                  each on every domain x task, seeds vmapped
  goal-conditioned DQC (h = 25, h_a = 5 and h_a = 1), QC (h = 5) and NS (n = 25) in DQC's code
                  (``agents/dqc.py``), over OGBench's 5 evaluation goals

    .venv/bin/python experiments/action_chunking.py --scale=tiny      # tests
    .venv/bin/python experiments/action_chunking.py --scale=default   # this 2-core CPU
    .venv/bin/python experiments/action_chunking.py --scale=paper     # GPU-sized

``paper`` is the papers' setting on the suite's generated data: 1M-transition play datasets
(the 100M ones DQC uses for cube-triple/quadruple cannot be generated in reasonable time here:
not attempted), every task, 4 x 512 networks and batch 256 for QC's table, 4 x 1024 and batch
4096 for DQC's, 1M updates. The reference numbers (``results/reference/action_chunking_*.csv``,
``tools/reference_action_chunking.py``) are on the released data and, for DQC, on harder domains
(cube-triple and up): read them as the papers' level, not as the same measurement.
"""

from __future__ import annotations

import dataclasses
import os
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

EXPERIMENT = "action_chunking"
# id: the name in QC's plot data (the README's commands).
SINGLE_TASK_METHODS = {"qc": "QC", "qc_fql": "QC-FQL", "fql": "FQL", "fql_n": "FQL-n",
                       "bfn_n": "BFN-n"}
# id: the name in DQC's exp_data (its README's DQC / QC / NS commands).
GOAL_METHODS = {"dqc": "DQC h=25 h_a=5", "dqc_ha1": "DQC h=25 h_a=1", "dqc_qc": "QC h=5",
                "dqc_ns": "NS n=25"}
SPARSE_DOMAINS = ("scene", "puzzle-3x3")  # QC's README: --sparse=True for these
# DQC's per-domain hyperparameters for cube domains (experiments/reproduce.py lines 36-118 and
# 133-136, cube-triple's: the smallest cube domain it tunes; q_agg min for cube).
GOAL_HPARAMS = {"dqc": ("kappa_b=0.93", "kappa_d=0.8", "q_agg_min=1"),
                "dqc_ha1": ("kappa_b=0.93", "kappa_d=0.8", "q_agg_min=1"),
                "dqc_qc": ("kappa_b=0.93", "q_agg_min=1"),
                "dqc_ns": ("kappa_b=0.5", "q_agg_min=1")}
PAPER_CLAIMS = (
    "QC (abstract): action chunking \"outperforms\" prior offline-to-online methods on "
    "long-horizon, sparse-reward manipulation; its offline phase (1M steps) on OGBench "
    "single-task play data is what the single-task table compares. DQC (abstract): decoupling "
    "the critic's chunk length from the policy's \"retains the benefits of multi-step value "
    "backup\" while the policy stays short and reactive.")


@dataclasses.dataclass(frozen=True)
class Domain:
    env: str  # OGBench's env without version, e.g. "cube-double"
    tasks: tuple[int, ...]  # single-task evaluation tasks (1..5)
    episodes: int  # generated play episodes
    episode_steps: int = 1001  # steps per generated episode (OGBench's)


@dataclasses.dataclass(frozen=True)
class Scale:
    single_task: tuple[Domain, ...]
    goal_conditioned: tuple[Domain, ...]
    hidden_sizes: tuple[int, ...] | None  # None: the learners' own (4 x 512, DQC 4 x 1024)
    updates: int
    goal_updates: int
    eval_every: int
    num_seeds: int
    eval_episodes: int
    batch_size: int  # QC's table (the papers': 256)
    goal_batch_size: int  # DQC's (the paper's: 4096)
    learner_config: dict[str, Any] = dataclasses.field(default_factory=dict)
    goal_learner_config: dict[str, Any] = dataclasses.field(default_factory=dict)


SCALES = {
    "tiny": Scale((Domain("cube-double", (1,), episodes=3, episode_steps=60),),
                  (Domain("cube-double", (), episodes=3, episode_steps=60),),
                  hidden_sizes=(16,), updates=20, goal_updates=20, eval_every=10, num_seeds=2,
                  eval_episodes=1, batch_size=16, goal_batch_size=16,
                  learner_config=dict(flow_steps=2, num_samples=4),
                  goal_learner_config=dict(flow_steps=2, best_of_n=4)),
    # Two CPU cores: 50 play episodes per domain (50k transitions; OGBench's 1,000), task 1
    # of each, 2 x 128 networks (the papers': 4 x 512, 4 x 1024), batch 256 for both tables
    # (DQC's 4096 is GPU-sized), 3,000 updates (the papers': 1M), 2 seeds. QC's target samples
    # best-of-32 chunks x 10 Euler steps per row, 8 updates/s at this width here
    # (BUILD_NOTES "Action chunking"), which sets the budget.
    "default": Scale((Domain("cube-double", (1,), 50), Domain("scene", (1,), 50),
                      Domain("puzzle-3x3", (1,), 50)),
                     (Domain("cube-double", (), 50),),
                     hidden_sizes=(128, 128), updates=3_000, goal_updates=3_000,
                     eval_every=1_500, num_seeds=2, eval_episodes=10, batch_size=256,
                     goal_batch_size=256),
    "paper": Scale(tuple(Domain(env, (1, 2, 3, 4, 5), 1000)
                         for env in ("cube-double", "scene", "puzzle-3x3")),
                   (Domain("cube-double", (), 1000), Domain("cube-triple", (), 3000)),
                   hidden_sizes=None, updates=1_000_000, goal_updates=1_000_000,
                   eval_every=100_000, num_seeds=4, eval_episodes=50, batch_size=256,
                   goal_batch_size=4096),
}
TASK_COLUMNS = ("method", "paper_name", "domain", "task", "seeds", "diverged", "success",
                "success_std", "paper", "paper_lo", "paper_hi")
GOAL_COLUMNS = ("method", "paper_name", "domain", "seeds", "diverged", "success", "success_std",
                "paper_domain", "paper")
AGGREGATE_COLUMNS = ("method", "runs", "tasks", "iqm", "iqm_lo", "iqm_hi", "mean", "mean_lo",
                     "mean_hi")


def define_flags() -> None:
    """Defines the script's absl flags (only when run as a script)."""
    define_study_flags(EXPERIMENT, SCALES, minari_root=False)
    flags.DEFINE_string("data_dir", None, "Where the generated OGBench files are kept "
                        "(default: ~/.cache/jaxrl_suite/ogbench/<scale>).")


def single_task_name(domain: str, task: int) -> str:
    return f"{domain}-play/task{task}"


def goal_name(domain: str) -> str:
    return f"{domain}-play/oraclerep"


def build_datasets(scale: Scale, data_dir: pathlib.Path, log: Callable[[str], None] = print,
                   progress: bool = True) -> dict[str, Any]:
    """Returns {name: Dataset}: every domain's play data generated (cached in ``data_dir``),
    relabelled per single task, and with oracle goal representations for DQC."""
    from jaxrl_suite.data.ogbench import load_ogbench, singletask_dataset
    from jaxrl_suite.generate.ogbench import generate_manipulation

    out: dict[str, Any] = {}
    for domain in scale.single_task + scale.goal_conditioned:
        folder = data_dir / f"{domain.episodes}x{domain.episode_steps}"
        train, _ = generate_manipulation(domain.env, "play", folder,
                                         num_episodes=domain.episodes,
                                         max_episode_steps=domain.episode_steps,
                                         progress=progress, log=log)
        for task in domain.tasks:
            out[single_task_name(domain.env, task)] = singletask_dataset(
                train, task, sparse=domain.env in SPARSE_DOMAINS)
        if domain in scale.goal_conditioned:
            out[goal_name(domain.env)] = load_ogbench(train, env_id=f"{domain.env}-oraclerep-v0")
    return out


def sweep_specs(scale: Scale, datasets: dict[str, Any]) -> list[SweepSpec]:
    """Returns the study's sweeps: the single-task methods on every single-task dataset, and
    DQC's variants on every goal-conditioned one (each with its oracle goal dimensions)."""
    common = dict(suite=None, num_seeds=scale.num_seeds, eval_every=scale.eval_every,
                  eval_episodes=scale.eval_episodes, hidden_sizes=scale.hidden_sizes)
    single = tuple(single_task_name(d.env, t) for d in scale.single_task for t in d.tasks)
    specs = [SweepSpec(name=f"{EXPERIMENT}_single_task", algos=tuple(SINGLE_TASK_METHODS),
                       datasets=single, num_updates=scale.updates, batch_size=scale.batch_size,
                       learner_config=scale.learner_config,
                       **common)] if single else []
    for domain in scale.goal_conditioned:
        from jaxrl_suite.envs.ogbench_eval import oracle_goal_dims

        name = goal_name(domain.env)
        dims = oracle_goal_dims(domain.env, datasets[name].observations.shape[1])
        specs.append(SweepSpec(
            name=f"{EXPERIMENT}_goal_conditioned", algos=tuple(GOAL_METHODS), datasets=(name,),
            num_updates=scale.goal_updates, batch_size=scale.goal_batch_size,
            grid=GOAL_HPARAMS if domain.env.startswith("cube") else {},
            learner_config={**scale.goal_learner_config, "goal_dims": dims}, **common))
    return specs


def _groups(records: Sequence[dict[str, Any]], sweep: str) -> dict[tuple[str, str], list]:
    groups: dict[tuple[str, str], list] = {}
    for r in records:
        c = r["config"]
        if c["sweep"] == f"{EXPERIMENT}_{sweep}":
            groups.setdefault((c["algo"], c["dataset"]), []).append(r)
    return groups


def single_task_rows(records: Sequence[dict[str, Any]], reps: int = 2000
                     ) -> tuple[list[dict], list[dict]]:
    """Returns (per method x domain x task: seeds, success mean/std and QC's number; per
    method the rliable IQM and mean over tasks x seeds)."""
    reference, _ = load_reference(f"{EXPERIMENT}_qc")
    paper = {(r["task"], r["method"]): r for r in reference if r["level"] == "task"}
    groups = _groups(records, "single_task")
    order = {m: i for i, m in enumerate(SINGLE_TASK_METHODS)}
    rows, scores = [], {}
    for algo, dataset in sorted(groups, key=lambda k: (k[1], order[k[0]])):
        runs = groups[(algo, dataset)]
        domain, task = dataset.split("/")
        s = np.array([final_score(r) for r in runs], float)
        scores[(algo, dataset)] = s
        ref = paper.get((f"{domain}-{task}", SINGLE_TASK_METHODS[algo]), {})
        rows.append(dict(method=algo, paper_name=SINGLE_TASK_METHODS[algo],
                         domain=domain.removesuffix("-play"), task=task, seeds=len(s),
                         diverged=sum(bool(r.get("diverged")) for r in runs),
                         success=float(np.nanmean(s)), success_std=float(np.nanstd(s)),
                         paper=_float(ref.get("success")), paper_lo=_float(ref.get("ci_low")),
                         paper_hi=_float(ref.get("ci_high"))))
    tasks = sorted({d for _, d in scores})
    per_method = {}
    for algo in SINGLE_TASK_METHODS:
        cols = [scores.get((algo, t)) for t in tasks]
        if cols and all(c is not None for c in cols):
            seeds = min(len(c) for c in cols)
            per_method[algo] = np.stack([c[:seeds] for c in cols], axis=1)
    return rows, (stats.aggregate_table(per_method, reps=reps) if per_method else [])


def goal_rows(records: Sequence[dict[str, Any]]) -> list[dict]:
    """Returns per DQC variant x domain: seeds, success mean/std (over seeds; each a mean over
    the 5 evaluation goals), and DQC's number on its closest domain (cube-triple, the
    smallest in its table) where the domain itself is not in it."""
    reference, _ = load_reference(f"{EXPERIMENT}_dqc")
    paper = {(r["task"], r["method"]): r for r in reference}
    groups = _groups(records, "goal_conditioned")
    order = {m: i for i, m in enumerate(GOAL_METHODS)}
    rows = []
    for algo, dataset in sorted(groups, key=lambda k: (k[1], order[k[0]])):
        runs = groups[(algo, dataset)]
        domain = dataset.split("/")[0].removesuffix("-play")
        own = f"{domain}-play-oraclerep-v0"
        ref_domain = own if (own, GOAL_METHODS[algo]) in paper else \
            "cube-triple-play-oraclerep-v0"
        s = np.array([final_score(r) for r in runs], float)
        rows.append(dict(method=algo, paper_name=GOAL_METHODS[algo], domain=domain,
                         seeds=len(s), diverged=sum(bool(r.get("diverged")) for r in runs),
                         success=float(np.nanmean(s)), success_std=float(np.nanstd(s)),
                         paper_domain=ref_domain.removesuffix("-play-oraclerep-v0"),
                         paper=_float(paper.get((ref_domain, GOAL_METHODS[algo]), {})
                                      .get("success"))))
    return rows


def _float(value: Any) -> float | None:
    return float(value) if value not in (None, "") else None


def finding_lines(aggregates: Sequence[dict], goal: Sequence[dict]) -> list[str]:
    """Returns our findings in the papers' terms (read beside ``PAPER_CLAIMS``)."""
    lines = []
    if aggregates:
        text = ", ".join(f"{r['method']} {r['iqm']:.1f} [{r['iqm_lo']:.1f}, {r['iqm_hi']:.1f}]"
                         for r in aggregates)
        lines.append(f"Ours, single-task (IQM success % over tasks x seeds): {text}.")
    if goal:
        text = ", ".join(f"{r['method']} on {r['domain']} {r['success']:.1f} "
                         f"+- {r['success_std']:.1f}" for r in goal)
        lines.append(f"Ours, goal-conditioned (success % over the 5 goals, mean +- std over "
                     f"seeds): {text}.")
    return lines


def default_data_dir(scale_name: str) -> pathlib.Path:
    return pathlib.Path(os.path.expanduser("~/.cache/jaxrl_suite/ogbench")) / scale_name


def run_study(scale: Scale, out: pathlib.Path, data_dir: pathlib.Path, *,
              log: Callable[[str], None] = print, progress: bool = True,
              reps: int = 2000) -> dict[str, list[dict[str, Any]]]:
    """Returns {"single_task", "single_task_aggregates", "goal_conditioned"} rows after
    generating what ``data_dir`` lacks, training what the store at ``out`` lacks and writing
    every table and plot. Raises SuiteError, before training or writing anything, when ``out``
    holds these runs under another setting."""
    datasets = build_datasets(scale, data_dir, log, progress)
    summaries, records = run_sweeps(sweep_specs(scale, datasets), out, log=log,
                                    progress=progress, datasets=datasets)
    log(f"{sum(s['trained'] for s in summaries)} programs trained, "
        f"{sum(s['skipped'] for s in summaries)} found done")
    single, aggregates = single_task_rows(records, reps)
    goal = goal_rows(records)
    tables.write_table(out, "single_task", single, TASK_COLUMNS)
    tables.write_table(out, "single_task_aggregates", aggregates, AGGREGATE_COLUMNS)
    tables.write_table(out, "goal_conditioned", goal, GOAL_COLUMNS)
    if aggregates:
        plots.aggregate_plot(aggregates, out / "single_task_aggregates.png",
                             metrics=("iqm", "mean"))
    sources = " | ".join(load_reference(f"{EXPERIMENT}_{n}")[1] for n in ("qc", "dqc"))
    tables.write_text(out / "findings.md", "\n\n".join(
        [PAPER_CLAIMS, f"Reference numbers: {sources}", *finding_lines(aggregates, goal)])
        + "\n")
    return dict(single_task=single, single_task_aggregates=aggregates, goal_conditioned=goal)


def main(argv: list[str]) -> None:
    del argv
    scale, out, start = study_setup(EXPERIMENT, SCALES)
    data_dir = pathlib.Path(flags.FLAGS.data_dir or default_data_dir(flags.FLAGS.scale))
    result = run_study(scale, out, data_dir)
    print(tables.markdown_table(result["single_task"], TASK_COLUMNS))
    print(tables.markdown_table(result["single_task_aggregates"], AGGREGATE_COLUMNS))
    print(tables.markdown_table(result["goal_conditioned"], GOAL_COLUMNS))
    print(f"{time.perf_counter() - start:.0f} s; written to {out}/")


if __name__ == "__main__":
    define_flags()
    run_app(main)
