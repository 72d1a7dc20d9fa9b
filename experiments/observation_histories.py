"""The sample-complexity study of "Offline RL with Observation Histories: Analyzing and
Improving Sample Complexity" (Hong, Dragan & Levine, ICLR 2024).

Its claim: offline RL conditioned on observation histories needs many trajectories unless the
history representation is compact, which its bisimulation loss measures and can enforce; on its
tasks either the loss improves performance, or standard offline RL already minimises it (the
loss value tracks performance). Here, on partially observed tasks of the suite:

- ``MaskedCartPole-v1`` (positions only, ``envs/masked.py``) and ``MaskedPendulum-v1`` (angle
  only) with the data of the full-state CartPole/Pendulum replay datasets as the masked env
  observes them (``transforms.history.masked_dataset``): memoryless policies cannot see the
  velocities, a history can;
- ``MiniGrid-LavaGapS7-v0`` (navix, the 7x7 egocentric view: partially observed as it is),
  replay data of the ``perspective`` suite (CPU scales only; ``tiny`` has no MiniGrid).

Each source dataset is cut to several sizes in trajectories (the first ``n`` of one fixed random
permutation of its episodes, so a smaller set is a subset of a larger one), and every
transition's observation becomes the window of its last ``k`` observations
(``transforms.history.history_windows``; never across an episode start), encoded end to end by
a GRU (``nets/history.py``) inside each learner's networks. Methods (the paper's, plus IQL for
the continuous env):

- ``bc``: BC on all the trajectories; ``filtered_bc``: BC on the top ``filter_fraction`` of
  them by return (``transforms.top_trajectories``; the fraction is the scale's, 10% as Chen et
  al.'s %BC: the paper does not state one in what this suite could read of it);
- ``cql`` / ``cql+bisim`` (discrete CQL, on the discrete envs) and ``iql`` / ``iql+bisim``
  (on MaskedPendulum): the learner without and with the bisimulation loss
  (``agents/auxiliary/bisimulation.py``, weight ``bisim_weight`` 0 or DBC's 0.5: one grid,
  so both are one compiled program per dataset).

Every method carries the bisimulation auxiliary, at weight 0 where it is not part of the
method, so that each run reports the loss of its own encoder (``bisim_loss``, the last
update's value): the paper's "standard offline RL already minimises it" is then a correlation
between that value and the score over runs. Seeds are vmapped; records go to the results store
under --out (default results/observation_histories/<scale>/), so a rerun trains only what is
missing. Written there:

- ``scores.{md,csv}``: per method x env x dataset size the final normalised score (mean, std
  and IQM with its 95% bootstrap CI over seeds), the final bisimulation loss, diverged seeds;
- ``aggregates.{md,csv}``: per method x size the IQM and mean over envs x seeds with CIs
  (rliable, stratified bootstrap), for the sizes every env has;
- ``bisim_effect.{md,csv}``: per env x size, each RL learner's score with the loss minus
  without it;
- ``bisim_correlation.{md,csv}``: per method x env, Spearman's rank correlation between the
  final bisimulation loss and the score over that method's runs (sizes x seeds);
- ``score_vs_size.png`` (one panel per env, IQM and CI against the number of trajectories),
  ``score_vs_bisim_loss.png`` (each run's score against its final loss);
- ``records/``: the results store.

    .venv/bin/python experiments/observation_histories.py --scale=tiny     # results/.../tiny/
    .venv/bin/python experiments/observation_histories.py --scale=default  # 2 CPUs
    .venv/bin/python experiments/observation_histories.py --scale=paper    # GPU-sized

The setting differs from the paper's (its tabular GridWorld, ViZDoom and Wordle tasks, none
in the suite): compare the direction of the effects (bisim vs none; loss vs score), not
numbers. The paper has no official code (``shared/REFERENCES.md``); its finding is printed
beside ours.
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

from experiments.common import (define_study_flags, final_score, run_app, run_sweeps, spearman,
                                study_setup)
from jaxrl_suite.errors import SuiteError
from jaxrl_suite.report import plots, stats, tables
from jaxrl_suite.sweep.runner import SweepSpec

EXPERIMENT = "observation_histories"
BISIM_WEIGHT = 0.5  # DBC's bisim_coef (bisim_agent.py:42-51), the auxiliary's default
PAPER_FINDING = (
    "Hong, Dragan & Levine (ICLR 2024), abstract: \"across a variety of tasks either our "
    "proposed loss improves performance, or the value of this loss is already minimized as a "
    "consequence of standard offline RL, indicating that it correlates well with good "
    "performance\" (their tasks: GridWorld, ViZDoom, Wordle; compare directions, not numbers).")


@dataclasses.dataclass(frozen=True)
class Task:
    """One partially observed task: ``env`` is what the policies observe and are evaluated in;
    its data are ``recipe`` of ``source_env`` in ``suite`` (masked where ``env`` differs)."""

    env: str
    suite: str
    source_env: str
    recipe: str
    rl: str  # the RL learner compared with and without the loss: "cql" (discrete) or "iql"
    discrete: bool


@dataclasses.dataclass(frozen=True)
class Scale:
    tasks: tuple[Task, ...]
    sizes: tuple[int, ...]  # dataset sizes in trajectories
    history: int  # window length k
    hidden_sizes: tuple[int, ...]
    history_hidden: int  # GRU width (the latent the bisimulation loss shapes)
    num_updates: int
    eval_every: int
    num_seeds: int
    eval_episodes: int
    batch_size: int = 256
    filter_fraction: float = 0.1
    # The discrete learners' learning rate (None: their paper default, 1e-4 at 100k updates);
    # 1e-3 at CPU budgets, as experiments/dataset_perspective.py's default scale.
    discrete_lr: float | None = 1e-3
    subset_seed: int = 0


def _tasks(cartpole_suite: str, pendulum_suite: str, minigrid_suite: str | None
           ) -> tuple[Task, ...]:
    tasks = [Task("MaskedCartPole-v1", cartpole_suite, "CartPole-v1", "replay", "cql", True),
             Task("MaskedPendulum-v1", pendulum_suite, "Pendulum-v1", "replay", "iql", False)]
    if minigrid_suite:
        tasks.append(Task("MiniGrid-LavaGapS7-v0", minigrid_suite, "MiniGrid-LavaGapS7-v0",
                          "replay", "cql", True))
    return tuple(tasks)


SCALES = {
    "tiny": Scale(_tasks("tiny", "tiny", None), sizes=(2, 5), history=3, hidden_sizes=(16,),
                  history_hidden=8, num_updates=100, eval_every=50, num_seeds=2,
                  eval_episodes=2, batch_size=32, filter_fraction=0.5),
    # Two CPU cores: 64-unit layers and a 64-unit GRU, 2k updates, 3 seeds (a BC update with
    # the GRU and the bisimulation step costs ~2.5 ms per seed here: 5k updates x 4 seeds put
    # the study at ~90 minutes).
    "default": Scale(_tasks("default", "default", "perspective"), sizes=(10, 30, 100),
                     history=4, hidden_sizes=(64, 64), history_hidden=64, num_updates=2_000,
                     eval_every=500, num_seeds=3, eval_episodes=10),
    # GPU-sized: 256-unit layers and GRU, 100k updates, 10 seeds, the learners' own defaults.
    "paper": Scale(_tasks("default", "default", "perspective-paper"), sizes=(10, 30, 100, 300),
                   history=4, hidden_sizes=(256, 256), history_hidden=256,
                   num_updates=100_000, eval_every=5_000, num_seeds=10, eval_episodes=10,
                   discrete_lr=None),
}
SCORE_COLUMNS = ("method", "env", "trajectories", "transitions", "seeds", "diverged", "score",
                 "score_std", "iqm", "iqm_lo", "iqm_hi", "bisim_loss", "bisim_loss_std")
AGGREGATE_COLUMNS = ("method", "trajectories", "runs", "tasks", "iqm", "iqm_lo", "iqm_hi",
                     "mean", "mean_lo", "mean_hi")
EFFECT_COLUMNS = ("env", "learner", "trajectories", "without", "with_bisim", "change")
CORRELATION_COLUMNS = ("method", "env", "runs", "spearman_loss_score", "mean_bisim_loss")


def define_flags() -> None:
    """Defines the script's absl flags (only when run as a script)."""
    define_study_flags(EXPERIMENT, SCALES)


def dataset_name(task: Task, scale: Scale, n: int, filtered: bool = False) -> str:
    """Returns the in-memory dataset's name, e.g. MaskedCartPole-v1/replay/k4/n30 (and
    .../n30/top10 for the filtered-BC data): what records store as their dataset."""
    name = f"{task.env}/{task.recipe}/k{scale.history}/n{n}"
    return f"{name}/top{100 * scale.filter_fraction:g}" if filtered else name


def build_datasets(scale: Scale, root: Any = None, log: Callable[[str], None] = print
                   ) -> dict[str, Any]:
    """Returns {dataset name: history-window Dataset} for every task x size (and its filtered
    set), building the source suites' envs first where they are missing. Raises SuiteError
    naming the dataset when a size exceeds its episodes."""
    from jaxrl_suite.data import io
    from jaxrl_suite.generate.suite import build_suite, dataset_id
    from jaxrl_suite.transforms import top_trajectories
    from jaxrl_suite.transforms.history import history_windows, masked_dataset

    out = {}
    for task in scale.tasks:
        build_suite(task.suite, root, envs=(task.source_env,), log=log)
        source_id = dataset_id(task.suite, task.source_env, task.recipe)
        source = io.load(source_id, root=root)
        if task.env != task.source_env:
            source = masked_dataset(source, task.env)
        order = np.random.default_rng(scale.subset_seed).permutation(source.num_episodes)
        for n in scale.sizes:
            if n > source.num_episodes:
                raise SuiteError(f"{source_id}: field 'episodes': expected at least {n} "
                                 f"episodes for the study's size n={n}, found "
                                 f"{source.num_episodes}")
            subset = source.select_episodes(np.sort(order[:n]))
            out[dataset_name(task, scale, n)] = history_windows(subset, scale.history)
            out[dataset_name(task, scale, n, True)] = history_windows(
                top_trajectories(subset, scale.filter_fraction), scale.history)
    return out


def sweep_specs(scale: Scale) -> list[SweepSpec]:
    """Returns the study's sweeps: per task, BC on the full and the filtered sets (loss weight
    0) and the RL learner with the loss weight a two-value grid; one GRU encoder for all."""
    specs = []
    common = dict(name=EXPERIMENT, suite=None, num_seeds=scale.num_seeds,
                  num_updates=scale.num_updates, eval_every=scale.eval_every,
                  eval_episodes=scale.eval_episodes, batch_size=scale.batch_size,
                  hidden_sizes=scale.hidden_sizes, auxiliary=("bisimulation",),
                  learner_config={"history_encoder": "gru",
                                  "history_hidden": scale.history_hidden})
    for task in scale.tasks:
        lr = (f"learning_rate={scale.discrete_lr}",) if task.discrete and scale.discrete_lr \
            else ()
        full = tuple(dataset_name(task, scale, n) for n in scale.sizes)
        filtered = tuple(dataset_name(task, scale, n, True) for n in scale.sizes)
        specs.append(SweepSpec(algos=("bc",), datasets=full + filtered,
                               grid={"bc": ("bisim_weight=0", *lr)}, **common))
        specs.append(SweepSpec(algos=(task.rl,), datasets=full, grid={
            task.rl: (f"bisim_weight=0,{BISIM_WEIGHT}", *lr)}, **common))
    return specs


def method_of(record: dict[str, Any]) -> str:
    """Returns the study's method of a record: bc, filtered_bc, <rl> or <rl>+bisim."""
    config = record["config"]
    if config["algo"] == "bc":
        return "filtered_bc" if "/top" in config["dataset"].rpartition("/n")[2] else "bc"
    return config["algo"] + ("+bisim" if config["hparams"]["bisim_weight"] > 0 else "")


def _runs(records: Sequence[dict[str, Any]], scale: Scale
          ) -> dict[tuple[str, str, int], list[dict[str, Any]]]:
    """Returns {(method, env, trajectories): records} in the study's order."""
    where = {}
    for task in scale.tasks:
        for n in scale.sizes:
            where[dataset_name(task, scale, n)] = (task.env, n)
            where[dataset_name(task, scale, n, True)] = (task.env, n)
    groups: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    for r in records:
        env, n = where[r["config"]["dataset"]]
        groups.setdefault((method_of(r), env, n), []).append(r)
    order = {m: i for i, m in enumerate(methods(scale))}
    return dict(sorted(groups.items(), key=lambda kv: (
        [t.env for t in scale.tasks].index(kv[0][1]), order[kv[0][0]], kv[0][2])))


def methods(scale: Scale) -> list[str]:
    """Returns the study's method labels in table order."""
    rl = list(dict.fromkeys(t.rl for t in scale.tasks))
    return ["bc", "filtered_bc", *[m for a in rl for m in (a, f"{a}+bisim")]]


def _bisim_loss(record: dict[str, Any]) -> float:
    value = (record.get("metrics") or {}).get("bisim_loss")
    return np.nan if value is None else float(value)


def score_rows(records: Sequence[dict[str, Any]], scale: Scale, datasets: dict[str, Any],
               reps: int = 2000) -> list[dict[str, Any]]:
    """Returns one row per method x env x size: the final score's mean, std and IQM with its
    95% bootstrap CI over seeds, the final bisimulation loss's mean and std, diverged seeds."""
    groups = _runs(records, scale)
    score_dict = {key: np.array([final_score(r) for r in runs], float)[:, None]
                  for key, runs in groups.items()}
    intervals = {row["method"]: row for row in stats.aggregate_table(
        {"|".join(map(str, k)): v for k, v in score_dict.items()}, reps=reps)}
    rows = []
    for key, runs in groups.items():
        method, env, n = key
        scores, losses = score_dict[key][:, 0], np.array([_bisim_loss(r) for r in runs])
        ci = intervals["|".join(map(str, key))]
        rows.append(dict(
            method=method, env=env, trajectories=n,
            transitions=datasets[runs[0]["config"]["dataset"]].num_transitions,
            seeds=len(runs), diverged=sum(bool(r.get("diverged")) for r in runs),
            score=float(scores.mean()), score_std=float(scores.std()), iqm=ci["iqm"],
            iqm_lo=ci["iqm_lo"], iqm_hi=ci["iqm_hi"], bisim_loss=float(np.nanmean(losses)),
            bisim_loss_std=float(np.nanstd(losses))))
    return rows


def aggregate_rows(records: Sequence[dict[str, Any]], scale: Scale, reps: int = 2000
                   ) -> list[dict[str, Any]]:
    """Returns per method x size the IQM and mean over envs (tasks) x seeds (runs) with
    stratified-bootstrap CIs: rliable over [seeds, envs] score matrices."""
    groups = _runs(records, scale)
    envs = [t.env for t in scale.tasks]
    rows = []
    for n in scale.sizes:
        per_method = {}
        for method in methods(scale):
            cols = [groups.get((method, env, n)) for env in envs]
            cols = [c for c in cols if c]
            seeds = min((len(c) for c in cols), default=0)
            if cols and seeds:
                per_method[method] = np.array([[final_score(r) for r in c[:seeds]]
                                               for c in cols], float).T  # [seeds, envs]
        if not per_method:
            continue
        for row in stats.aggregate_table(per_method, reps=reps):
            rows.append({**row, "trajectories": n})
    return rows


def effect_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Returns per env x size x RL learner its mean score with the loss minus without it."""
    index = {(r["method"], r["env"], r["trajectories"]): r["score"] for r in rows}
    out = []
    for (method, env, n), without in index.items():
        if method in ("bc", "filtered_bc") or method.endswith("+bisim"):
            continue
        with_bisim = index.get((f"{method}+bisim", env, n))
        out.append(dict(env=env, learner=method, trajectories=n, without=without,
                        with_bisim=with_bisim,
                        change=None if with_bisim is None else with_bisim - without))
    return out


def correlation_rows(records: Sequence[dict[str, Any]], scale: Scale) -> list[dict[str, Any]]:
    """Returns per method x env Spearman's correlation between the final bisimulation loss and
    the score over the method's runs there (sizes x seeds), and the loss's mean."""
    pooled: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for (method, env, _), runs in _runs(records, scale).items():
        pooled.setdefault((method, env), []).extend(runs)
    out = []
    for (method, env), runs in pooled.items():
        loss = np.array([_bisim_loss(r) for r in runs])
        score = np.array([final_score(r) for r in runs], float)
        out.append(dict(method=method, env=env, runs=len(runs),
                        spearman_loss_score=spearman(loss, score),
                        mean_bisim_loss=float(np.nanmean(loss))))
    return out


def finding_lines(effects: Sequence[dict[str, Any]],
                  correlations: Sequence[dict[str, Any]]) -> list[str]:
    """Returns our two findings in the paper's terms: does the loss improve the RL learner,
    and does the plain learner's loss track its score."""
    changes = [e["change"] for e in effects if e["change"] is not None]
    lines = []
    if changes:
        lines.append(f"Ours: adding the bisimulation loss changes the RL learner's score by "
                     f"{np.mean(changes):+.1f} on average over {len(changes)} env x size cells "
                     f"(better in {sum(c > 0 for c in changes)}).")
    plain = [c for c in correlations if c["method"] in {e["learner"] for e in effects}
             and c["spearman_loss_score"] is not None]
    if plain:
        text = ", ".join(f"{c['method']} on {c['env']} {c['spearman_loss_score']:+.2f}"
                         for c in plain)
        lines.append("Ours: rank correlation of the plain RL learner's final bisimulation loss "
                     f"with its score over runs (negative = lower loss, higher score): {text}.")
    return lines


def _curves(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, dict[str, list]]]:
    panels: dict[str, dict[str, dict[str, list]]] = {}
    for r in rows:
        line = panels.setdefault(r["env"], {}).setdefault(
            r["method"], {"x": [], "y": [], "lo": [], "hi": []})
        for k, v in (("x", "trajectories"), ("y", "iqm"), ("lo", "iqm_lo"), ("hi", "iqm_hi")):
            line[k].append(r[v])
    return panels


def _loss_points(records: Sequence[dict[str, Any]], scale: Scale
                 ) -> dict[str, dict[str, tuple[list, list]]]:
    panels: dict[str, dict[str, tuple[list, list]]] = {}
    for (method, env, _), runs in _runs(records, scale).items():
        xs, ys = panels.setdefault(env, {}).setdefault(method, ([], []))
        for r in runs:
            if np.isfinite(_bisim_loss(r)):
                xs.append(_bisim_loss(r))
                ys.append(final_score(r))
    return panels


def run_study(scale: Scale, out: pathlib.Path, root: Any = None, *,
              log: Callable[[str], None] = print, progress: bool = True,
              reps: int = 2000) -> dict[str, list[dict[str, Any]]]:
    """Returns {"scores", "aggregates", "effects", "correlations"} rows after training what the
    store at ``out`` lacks and writing every table and plot. Raises SuiteError, before training
    or writing anything, when ``out`` holds these runs under another setting."""
    datasets = build_datasets(scale, root, log)
    summaries, records = run_sweeps(sweep_specs(scale), out, root=root, log=log,
                                    progress=progress, datasets=datasets)
    log(f"{sum(s['trained'] for s in summaries)} programs trained, "
        f"{sum(s['skipped'] for s in summaries)} found done")
    scores = score_rows(records, scale, datasets, reps)
    aggregates = aggregate_rows(records, scale, reps)
    effects = effect_rows(scores)
    correlations = correlation_rows(records, scale)
    tables.write_table(out, "scores", scores, SCORE_COLUMNS)
    tables.write_table(out, "aggregates", aggregates, AGGREGATE_COLUMNS)
    tables.write_table(out, "bisim_effect", effects, EFFECT_COLUMNS)
    tables.write_table(out, "bisim_correlation", correlations, CORRELATION_COLUMNS)
    plots.interval_lines_plot(
        _curves(scores), out / "score_vs_size.png", xlabel="trajectories in the dataset",
        ylabel="normalised score (IQM, 95% CI)", xscale="log",
        title=f"History windows k={scale.history}, GRU encoder")
    plots.scatter_panels_plot(
        _loss_points(records, scale), out / "score_vs_bisim_loss.png",
        xlabel="final bisimulation loss of the run's encoder", ylabel="normalised score",
        xscale="log", title="Score against the bisimulation loss, one point per run")
    return dict(scores=scores, aggregates=aggregates, effects=effects,
                correlations=correlations)


def main(argv: list[str]) -> None:
    del argv
    scale, out, start = study_setup(EXPERIMENT, SCALES)
    result = run_study(scale, out, flags.FLAGS.minari_root)
    print(tables.markdown_table(result["aggregates"], AGGREGATE_COLUMNS))
    print(tables.markdown_table(result["effects"], EFFECT_COLUMNS))
    print(tables.markdown_table(result["correlations"], CORRELATION_COLUMNS))
    print(PAPER_FINDING)
    for line in finding_lines(result["effects"], result["correlations"]):
        print(line)
    print(f"done in {time.perf_counter() - start:.0f} s; written to {out}/")


if __name__ == "__main__":
    define_flags()
    run_app(main)
