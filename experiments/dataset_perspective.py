"""The learner study of "A Dataset Perspective on Offline RL" (Schweighofer et al., CoLLAs 2022).

Builds (or finds cached) a generated suite, measures each dataset's TQ and SACo, then trains
every discrete learner on every dataset of the suite's discrete-action envs, seeds vmapped (one
compile per learner and env: the datasets of one env share their shapes), and writes under
--out (default results/dataset_perspective/):

- ``dataset_quality.{md,csv}``: the TQ / SACo table (env x recipe);
- ``learners.{md,csv}``: one row per learner x env x dataset: TQ, SACo, the final normalised
  return (mean and std over seeds) and the paper's score (the best evaluation of the
  seed-averaged curve, ``source/plotting/create_plots.py``), diverged seeds;
- ``correlations.{md,csv}``: per learner, the Spearman rank correlation of its score with TQ
  and with SACo across all datasets (the paper's findings in one number each);
- ``tq_saco_<learner>.png`` and ``tq_saco_all.png``: SACo (x) vs TQ (y), coloured by score
  (0..120, as the paper's colour scale).

    .venv/bin/python experiments/dataset_perspective.py --scale=tiny --out=/tmp/dp
    .venv/bin/python experiments/dataset_perspective.py --scale=default      # < 1 h, 2 CPUs
    .venv/bin/python experiments/dataset_perspective.py --scale=paper        # GPU-sized

Scales: ``paper`` is the authors' setting (three 256-unit SELU layers, batch 128, lr 1e-4,
100k updates, 5 seeds; they evaluate every 200 updates, here every 2,000). ``default`` keeps
their learners, losses and batch but shrinks the budget to fit an hour on two CPU cores
(two 64-unit layers, lr 1e-3, 5k updates, 3 seeds; 80 runs in ~11 min). ``tiny`` is for tests.
"""

from __future__ import annotations

import dataclasses
import pathlib
import sys
import time
from typing import Any, Callable

import numpy as np
from absl import app, flags

from jaxrl_suite.agents import DISCRETE_LEARNERS, learner_parts
from jaxrl_suite.agents.discrete.common import paper_hparams
from jaxrl_suite.data import io
from jaxrl_suite.envs.registry import make_env
from jaxrl_suite.generate.suite import build_suite, dataset_id, get_suite, suite_dataset_ids
from jaxrl_suite.report import dataset_quality, tables
from jaxrl_suite.train import TrainConfig, make_train, stack_hparams, train


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
    "tiny": Scale("tiny", (32, 32), 1e-3, 400, 200, 2, 3),
    "default": Scale("default", (64, 64), 1e-3, 5_000, 1_000, 3, 10),
    "paper": Scale("default", (256, 256, 256), None, 100_000, 2_000, 5, 10),
}
RECIPES = ("random", "mixed", "replay", "noisy", "expert")
COLUMNS = ("learner", "env", "dataset", "tq", "saco", "score_final", "score_final_std",
           "score_paper", "diverged_seeds")


def define_flags() -> None:
    """Defines the script's absl flags: only when run as a script, so that tests can import
    several experiment modules into one process without a flag defined twice."""
    flags.DEFINE_enum("scale", "default", list(SCALES), "Budget preset.")
    flags.DEFINE_string("suite", None, "Generated suite (default: the scale's).")
    flags.DEFINE_list("learners", list(DISCRETE_LEARNERS), "Discrete learner ids.")
    flags.DEFINE_list("recipes", list(RECIPES), "Dataset recipes to train on.")
    flags.DEFINE_integer("num_seeds", None, "Seeds per dataset (default: the scale's).")
    flags.DEFINE_integer("steps", None, "Updates per run (default: the scale's).")
    flags.DEFINE_string("minari_root", None, "Local Minari root (default: "
                        "$MINARI_DATASETS_PATH, else Minari's default).")
    flags.DEFINE_string("out", "results/dataset_perspective", "Output directory.")
    flags.DEFINE_integer("saco_bins", 100, "Bins per dimension for SACo (0 = exact).")


def _spearman(x: np.ndarray, y: np.ndarray) -> float | None:
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


def correlations(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Returns per learner the Spearman correlation of score_paper with TQ and with SACo."""
    out = []
    for learner in dict.fromkeys(r["learner"] for r in rows):
        mine = [r for r in rows if r["learner"] == learner]
        score = np.array([r["score_paper"] for r in mine], float)
        out.append(dict(learner=learner, datasets=len(mine),
                        mean_score=float(np.nanmean(score)),
                        spearman_tq=_spearman(np.array([r["tq"] for r in mine], float), score),
                        spearman_saco=_spearman(np.array([r["saco"] for r in mine], float),
                                                score)))
    return out


def scatter_plots(rows: list[dict[str, Any]], out: pathlib.Path) -> list[pathlib.Path]:
    """Writes a SACo-vs-TQ scatter per learner (and all in one figure), coloured by score."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    learners = list(dict.fromkeys(r["learner"] for r in rows))
    envs = list(dict.fromkeys(r["env"] for r in rows))
    markers = dict(zip(envs, "os^Dv<>"))
    norm = matplotlib.colors.Normalize(vmin=0, vmax=120, clip=True)

    def draw(ax, learner):
        for env in envs:
            mine = [r for r in rows if r["learner"] == learner and r["env"] == env]
            sc = ax.scatter([r["saco"] for r in mine], [r["tq"] for r in mine], s=90,
                            c=[r["score_paper"] for r in mine], cmap="viridis", norm=norm,
                            marker=markers[env], edgecolors="k", label=env)
            for r in mine:
                ax.annotate(r["dataset"], (r["saco"], r["tq"]), fontsize=6,
                            textcoords="offset points", xytext=(4, 4))
        ax.set(title=learner, xlabel="SACo", ylabel="TQ")
        return sc

    paths = []
    for learner in learners:
        fig, ax = plt.subplots(figsize=(4.5, 3.8))
        fig.colorbar(draw(ax, learner), ax=ax, label="normalised return")
        ax.legend(fontsize=7)
        paths.append(out / f"tq_saco_{learner}.png")
        fig.savefig(paths[-1], dpi=120, bbox_inches="tight")
        plt.close(fig)
    cols = min(4, len(learners))
    nrows = -(-len(learners) // cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(3.8 * cols, 3.4 * nrows), squeeze=False,
                             constrained_layout=True)
    for ax, learner in zip(axes.flat, learners):
        sc = draw(ax, learner)
    for ax in list(axes.flat)[len(learners):]:
        ax.axis("off")
    fig.colorbar(sc, ax=axes, label="normalised return")
    paths.append(out / "tq_saco_all.png")
    fig.savefig(paths[-1], dpi=120, bbox_inches="tight")
    plt.close(fig)
    return paths


def run_study(scale: Scale, learners: list[str], recipes: list[str], out: pathlib.Path,
              root: Any = None, saco_bins: int | None = 100,
              log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Returns the learner x env x dataset rows after training and writing every output."""
    import jax

    build_suite(scale.suite, root, log=log)
    spec = get_suite(scale.suite)
    quality = dataset_quality.suite_quality_rows(scale.suite, root, saco_bins)
    out.mkdir(parents=True, exist_ok=True)
    tables.write_table(out, "dataset_quality", quality, dataset_quality.COLUMNS)
    facts = {(q["env"], q["dataset"]): q for q in quality}
    envs = [e for e in suite_dataset_ids(spec) if make_env(e).spec.discrete]
    if not envs:
        raise SystemExit(f"suite '{scale.suite}' has no discrete-action env")
    config = TrainConfig(num_updates=scale.num_updates, batch_size=scale.batch_size,
                         eval_every=scale.eval_every, eval_episodes=scale.eval_episodes)
    keys = jax.random.split(jax.random.PRNGKey(0), scale.num_seeds)
    rows = []
    for env_name in envs:
        env = make_env(env_name)
        datasets = {r: io.load_minari(dataset_id(scale.suite, env_name, r), root=root)
                    for r in recipes}
        for algo in learners:
            factory, config_cls, _ = learner_parts(algo, discrete=True)
            learner = factory(config_cls(hidden_sizes=scale.hidden_sizes))
            hp = paper_hparams(learner.default_hparams, env_name)
            if scale.learning_rate is not None:
                hp = hp.replace(learning_rate=scale.learning_rate)
            trainer = make_train(learner, env, config)  # one compile per learner and env
            for recipe, ds in datasets.items():
                start = time.perf_counter()
                result = train(trainer, ds, keys, stack_hparams([hp] * scale.num_seeds))
                lo, hi = ds.meta.ref_min_score, ds.meta.ref_max_score
                curves = 100.0 * (result.eval_returns.mean(axis=-1) - lo) / (hi - lo)  # [S, E]
                final = curves[:, -1]
                q = facts[(env_name, recipe)]
                rows.append(dict(
                    learner=algo, env=env_name, dataset=recipe, tq=q["tq"], saco=q["saco"],
                    score_final=float(np.nanmean(final)), score_final_std=float(np.nanstd(final)),
                    score_paper=float(np.nanmax(np.nanmean(curves, axis=0))),
                    diverged_seeds=int(result.diverged.sum())))
                log(f"[{env_name}] {algo:>6} on {recipe:>6}: final {rows[-1]['score_final']:6.1f}"
                    f" (best of mean curve {rows[-1]['score_paper']:6.1f}) "
                    f"in {time.perf_counter() - start:5.1f} s")
    tables.write_table(out, "learners", rows, COLUMNS)
    corr = correlations(rows)
    tables.write_table(out, "correlations", corr,
                       ("learner", "datasets", "mean_score", "spearman_tq", "spearman_saco"))
    scatter_plots(rows, out)
    return rows


def main(argv: list[str]) -> None:
    del argv
    scale = SCALES[flags.FLAGS.scale]
    scale = dataclasses.replace(
        scale, suite=flags.FLAGS.suite or scale.suite, num_seeds=flags.FLAGS.num_seeds or scale.num_seeds,
        num_updates=flags.FLAGS.steps or scale.num_updates)
    unknown = sorted(set(flags.FLAGS.learners) - set(DISCRETE_LEARNERS))
    if unknown or not set(flags.FLAGS.recipes) <= set(RECIPES):
        print(f"flags '--learners'/'--recipes': expected ids from {list(DISCRETE_LEARNERS)} / "
              f"{list(RECIPES)}, found {flags.FLAGS.learners} / {flags.FLAGS.recipes}", file=sys.stderr)
        sys.exit(2)
    out = pathlib.Path(flags.FLAGS.out)
    start = time.perf_counter()
    rows = run_study(scale, flags.FLAGS.learners, flags.FLAGS.recipes, out, flags.FLAGS.minari_root,
                     flags.FLAGS.saco_bins or None)
    print(tables.markdown_table(rows, COLUMNS))
    print(tables.markdown_table(correlations(rows), ("learner", "datasets", "mean_score",
                                                     "spearman_tq", "spearman_saco")))
    print(f"{len(rows)} runs in {time.perf_counter() - start:.0f} s; written to {out}/")


if __name__ == "__main__":
    define_flags()
    app.run(main)
