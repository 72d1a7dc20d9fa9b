"""The proxy-label study of "Semi-Supervised Offline RL with Action-Free Trajectories" (Zheng et
al., ICML 2023, SS-ORL; code: facebookresearch/ssorl), on the suite's locomotion datasets
(``--benchmark=mujoco``, the default: the D4RL-recipe sets of HalfCheetah, Hopper and Walker2d,
the paper's benchmark) or its Pendulum and MountainCar ones (``--benchmark=pendulum``, where the
study began).

Per dataset and labelled share: keep the true actions of a share of the trajectories, drawn from
the lowest-return half (``transforms.labels.labelled_split``), train the inverse-dynamics model
(IDM) on them and give the other trajectories its proxy actions (``proxy_label_actions``). Then
TD3+BC (the paper's main downstream learner; CQL too at ``paper`` scale) trains on three kinds
of dataset, all through the shared sweep machinery (``sweep.runner.run_sweep``, one record per
run in ``--out/records/``, re-runs skip what is done):

- ``full``: every trajectory with its true actions (the upper reference);
- ``labelled-only-<share>``: only the labelled trajectories (what one can do without an IDM);
- ``proxy-<share>``: the labelled trajectories with true actions, the rest with proxy actions.

Writes under --out (default results/semi_supervised/mujoco-<scale>/ on mujoco,
results/semi_supervised/<scale>/ on pendulum, so scales and benchmarks never share records or
tables):

- ``semi_supervised.{md,csv}``: per dataset x learner x variant, the final normalised score
  (mean and std over seeds), labelled / total trajectories, the mean return of the labelled
  ones, and for the proxy variants the IDM's label error on the unlabelled part (mean absolute
  and mean squared error of proxy vs true actions, in action units) and validation NLL;
- ``report/``: ``report.summary.write_report`` with methods = learner/variant and tasks = the
  base datasets (aggregates with bootstrap intervals, per-task table, probability of improvement
  over the learner's ``full`` variant, learning curves, performance profiles);
- ``records/``: the append-only results store.

    .venv/bin/python experiments/semi_supervised.py --scale=tiny    # .../mujoco-tiny/
    .venv/bin/python experiments/semi_supervised.py --scale=default --envs=HalfCheetah-v5
    .venv/bin/python experiments/semi_supervised.py --scale=paper       # GPU-sized
    .venv/bin/python experiments/semi_supervised.py --benchmark=pendulum --scale=default

Choices:

* Labelled split: ``which="lowest_return"`` with the paper's threshold 0.5, the share of *all*
  trajectories (``labelled_episode_indices``). At a share of 0.5 this takes every trajectory of
  the lowest-return half, so that split has no randomness left; both shares hold only low-return
  trajectories, so the two differ in how many labels there are, not in their quality.
  ``--which=random`` draws the labelled trajectories from all of them instead. The tiny suite's
  Pendulum datasets hold 8 trajectories, so ``tiny`` uses the one share 0.25 (2 of the lowest
  4: the IDM needs at least two labelled trajectories, one held out for validation).
* One labelled split and one IDM per (dataset, share), from a key derived from the scale's seed,
  the dataset name and the share; the learner seeds vary only the learner (ssorl redraws the
  split per seed; here every seed of a variant shares one dataset so they train as one vmapped
  program). Deterministic: a re-run builds the same datasets and finds its records done.
* Record identity: a record's config holds the dataset name and size but not the action values,
  so the sweep name carries a fingerprint of everything that decides the proxy actions (the
  IDM config, ``which``, the threshold, the shares and the split seed): records of a changed
  labelling setting never share a hash with the old ones, and the study refuses (before any
  learner trains) an --out that holds the old ones, naming the differing setting: give each
  setting its own --out. A changed *implementation* of the labelling code is not
  fingerprinted: use a fresh --out then.
* Scales on mujoco (``MUJOCO_SCALES``): ``paper`` takes the D4RL levels ssorl downloads
  (``dataset/download_d4rl_gym_datasets.py:17-19``: medium, medium-expert, medium-replay,
  expert; Ant is not in the suite) from the GPU-sized ``mujoco`` suite, with the pendulum
  paper scale's IDM, learners and budget. ``default`` takes medium-replay and medium of
  ``mujoco-small`` (100k transitions; HalfCheetah's medium-replay holds 40 trajectories, so
  10% labels 4), the CPU IDM below, TD3+BC at (64, 64), 10k updates (where TD3+BC leaves BC's
  score on that data, results/locomotion_learners/default), 4 seeds, evaluation every 1k
  updates on 5 episodes in C MuJoCo. ``tiny``: mujoco-tiny's Hopper medium-replay (26
  trajectories), share 0.25.
* Scales on pendulum (``SCALES``): ``paper`` uses ``InverseDynamicsConfig()`` (ssorl's
  [1024, 1024], lr 1e-4, batch 1024), TD3+BC and CQL at their 256-wide defaults, 1M updates, 5
  seeds (GPU-sized). ``default`` takes ~5 min on two CPU cores (a re-run that trains nothing
  ~1 min: it labels again): a CPU-sized IDM ([256, 256], lr 1e-3, batch 256, 2,000 steps;
  3-12 s per dataset and share, Pendulum-replay label MAE ~0.1 on actions in [-2, 2]), TD3+BC
  only at (64, 64), 5k updates, 4 seeds (~12 s per variant, compile included). CQL is left
  out there: one CQL variant at that size took 212 s, its 15 would take ~55 min.
* MountainCarContinuous-v0: the default suite's "expert" learnt to stand still (return ~0,
  the reference maximum), so 100 there means "as good as doing nothing"; its replay dataset
  holds 21 trajectories, so 10% is 2 labelled ones (one trains the IDM, one validates it).

Reference numbers: none are stored. The paper reports D4RL MuJoCo scores for its own splits,
not comparable with the suite's generated datasets (other data, normalisers and budgets); only
its finding is printed beside the table (REFERENCES.md): "with 10% low-return labelled, TD3+BC
with proxy labels approaches the fully labelled result".
"""

from __future__ import annotations

import dataclasses
import pathlib
import sys
import time
import zlib
from typing import Any, Callable, NamedTuple

import jax
import numpy as np
from absl import flags, logging

if not __package__:  # run as a script: make the `experiments` package importable
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from experiments.common import (define_benchmark_flags, results_dir, run_app, run_sweeps,
                                scale_folder, select_envs)
from jaxrl_suite.data import io
from jaxrl_suite.data.dataset import Dataset
from jaxrl_suite.generate.suite import build_suite, dataset_id
from jaxrl_suite.report import tables
from jaxrl_suite.sweep.runner import SweepSpec
from jaxrl_suite.sweep.store import config_hash
from jaxrl_suite.transforms.labels import (RETURN_THRESHOLD, WHICH, InverseDynamicsConfig,
                                           ProxyLabelResult, label_error,
                                           labelled_episode_indices, labelled_split,
                                           proxy_label_actions)

EXPERIMENT = "semi_supervised"
PAPER_FINDING = ("Zheng et al. (ICML 2023): with 10% low-return labelled trajectories, TD3+BC "
                 "with proxy labels approaches the fully labelled result (D4RL MuJoCo; no "
                 "comparable numbers stored for the suite's datasets).")
FULL = "full"
COLUMNS = ("env", "dataset", "algo", "variant", "labelled_share", "labelled_trajectories",
           "trajectories", "labelled_return", "label_mae", "label_mse", "idm_val_nll",
           "score_mean", "score_std", "seeds", "diverged")


@dataclasses.dataclass(frozen=True)
class Scale:
    name: str
    suite: str
    datasets: tuple[str, ...]  # "<env>/<recipe>" of the suite
    algos: tuple[str, ...]
    labelled_shares: tuple[float, ...]
    idm: InverseDynamicsConfig
    num_seeds: int
    num_updates: int
    eval_every: int
    eval_episodes: int
    batch_size: int = 256
    hidden_sizes: tuple[int, ...] | None = None  # None: the learners' own (256, 256)
    which: str = "lowest_return"
    return_threshold: float = RETURN_THRESHOLD
    seed: int = 0
    report_reps: int = 2000

    @property
    def envs(self) -> tuple[str, ...]:
        """The envs of ``datasets``, in order."""
        return tuple(dict.fromkeys(d.rpartition("/")[0] for d in self.datasets))

    def with_envs(self, envs: tuple[str, ...]) -> "Scale":
        """Returns the scale with only the datasets of ``envs``."""
        return dataclasses.replace(self, datasets=tuple(
            d for d in self.datasets if d.rpartition("/")[0] in envs))


_CPU_IDM = InverseDynamicsConfig(hidden_sizes=(256, 256), learning_rate=1e-3, batch_size=256,
                                 num_steps=2_000, eval_every=100)
SCALES = {
    # One share: each variant is one more compile (~7 s on 2 CPU cores), and the test runs
    # the whole study twice.
    "tiny": Scale("tiny", "tiny", ("Pendulum-v1/replay",), ("td3bc",), (0.25,),
                  InverseDynamicsConfig(hidden_sizes=(32, 32), learning_rate=1e-3,
                                        batch_size=128, num_steps=200, eval_every=50),
                  num_seeds=2, num_updates=200, eval_every=100, eval_episodes=2,
                  batch_size=64, hidden_sizes=(32, 32), report_reps=200),
    "default": Scale("default", "default", ("Pendulum-v1/replay", "Pendulum-v1/mixed",
                                            "MountainCarContinuous-v0/replay"),
                     ("td3bc",), (0.1, 0.5), _CPU_IDM, num_seeds=4, num_updates=5_000,
                     eval_every=1_000, eval_episodes=5, hidden_sizes=(64, 64)),
    # ssorl: IDM [1024, 1024]; TD3+BC / CQL at their 256-wide defaults, 1M updates, 5 seeds.
    "paper": Scale("paper", "default", ("Pendulum-v1/replay", "Pendulum-v1/mixed",
                                        "MountainCarContinuous-v0/replay"), ("td3bc", "cql"),
                   (0.1, 0.5), InverseDynamicsConfig(), num_seeds=5, num_updates=1_000_000,
                   eval_every=50_000, eval_episodes=10),
}
MUJOCO_ENVS = ("HalfCheetah-v5", "Hopper-v5", "Walker2d-v5")
MUJOCO_SCALES = {
    "tiny": Scale("mujoco-tiny", "mujoco-tiny", ("Hopper-v5/medium-replay",), ("td3bc",),
                  (0.25,), SCALES["tiny"].idm, num_seeds=2, num_updates=20, eval_every=10,
                  eval_episodes=1, batch_size=64, hidden_sizes=(32, 32), report_reps=200),
    "default": Scale("mujoco-default", "mujoco-small",
                     tuple(f"{e}/{r}" for e in MUJOCO_ENVS for r in ("medium-replay", "medium")),
                     ("td3bc",), (0.1, 0.5), _CPU_IDM, num_seeds=4, num_updates=10_000,
                     eval_every=1_000, eval_episodes=5, hidden_sizes=(64, 64)),
    # ssorl dataset/download_d4rl_gym_datasets.py:17-19: these four levels (and Ant).
    "paper": Scale("mujoco-paper", "mujoco", tuple(
        f"{e}/{r}" for e in MUJOCO_ENVS
        for r in ("medium", "medium-expert", "medium-replay", "expert")), ("td3bc", "cql"),
        (0.1, 0.5), InverseDynamicsConfig(), num_seeds=5, num_updates=1_000_000,
        eval_every=50_000, eval_episodes=10),
}
BENCHMARK_SCALES = {"mujoco": MUJOCO_SCALES, "pendulum": SCALES}


def define_flags() -> None:
    """Defines the script's absl flags: only when run as a script, so that tests can import
    several experiment modules into one process without a flag defined twice."""
    flags.DEFINE_enum("scale", "default", list(SCALES), "Budget preset.")
    define_benchmark_flags()
    flags.DEFINE_enum("which", None, list(WHICH), "Labelled trajectories: drawn from the "
                      "lowest-return half (the paper) or from all (default: the scale's).")
    flags.DEFINE_string("minari_root", None, "Local Minari root (default: "
                        "$MINARI_DATASETS_PATH, else Minari's default).")
    flags.DEFINE_string("out", None, f"Output directory (default: results/{EXPERIMENT}/"
                        "mujoco-<scale> on mujoco, results/{EXPERIMENT}/<scale> on pendulum).")
    flags.DEFINE_bool("progress", True, "Show a progress bar per training program.")


# ---------------------------------------------------------------------------------------------
# The dataset variants


def share_tag(share: float) -> str:
    """Returns the share as a name fragment, e.g. 0.1 -> "10pct", 0.025 -> "2p5pct"."""
    return f"{100 * share:g}pct".replace(".", "p")


def variant_name(kind: str, share: float | None = None) -> str:
    """Returns a variant's name: "full", "labelled-only-10pct" or "proxy-10pct"."""
    return FULL if kind == FULL else f"{kind}-{share_tag(share)}"


def dataset_name(base: str, variant: str) -> str:
    """Returns the sweep's name of a derived dataset, e.g. "Pendulum-v1/replay:proxy-10pct"."""
    return f"{base}:{variant}"


def split_dataset_name(name: str) -> tuple[str, str]:
    """Returns (base dataset, variant) of a ``dataset_name``."""
    base, _, variant = name.rpartition(":")
    return base, variant


def labelling_key(seed: int, base: str, share: float) -> jax.Array:
    """Returns the key of one (dataset, share)'s split and IDM: independent of which other
    datasets and shares the scale holds, so adding one leaves the others' labels unchanged."""
    key = jax.random.fold_in(jax.random.PRNGKey(seed), zlib.crc32(base.encode()) & 0x7FFFFFFF)
    return jax.random.fold_in(key, int(round(share * 1_000_000)))


class Labelling(NamedTuple):
    """One (dataset, share): the labelled episode indices [L] into the base dataset, the
    labelled-only dataset, the proxy-labelled one and the label error on the unlabelled part."""

    share: float
    labelled_episodes: np.ndarray
    labelled: Dataset
    proxy: ProxyLabelResult
    label_mae: float
    label_mse: float
    labelled_return: float


def label(dataset: Dataset, share: float, scale: Scale, key: jax.Array) -> Labelling:
    """Returns the Labelling of ``dataset`` at ``share``: the paper's split, the IDM trained on
    the labelled part and the unlabelled part given its proxy actions."""
    k_split, k_idm = jax.random.split(key)
    labelled, unlabelled = labelled_split(dataset, share, which=scale.which,
                                          return_threshold=scale.return_threshold, key=k_split)
    # The same draw labelled_split made (same key), kept to check and report the split.
    episodes = labelled_episode_indices(dataset, share, which=scale.which,
                                        return_threshold=scale.return_threshold, key=k_split)
    result = proxy_label_actions(labelled, unlabelled, k_idm, scale.idm)
    true, proxy = np.asarray(unlabelled.actions), np.asarray(result.proxy_actions)
    return Labelling(
        share=share, labelled_episodes=episodes, labelled=labelled, proxy=result,
        label_mae=float(np.mean(np.abs(true - proxy))),
        label_mse=float(label_error(unlabelled.actions, result.proxy_actions)),
        labelled_return=float(np.mean(np.asarray(labelled.episode_returns()))))


def build_variants(scale: Scale, root: Any = None, log: Callable[[str], None] = print
                   ) -> tuple[dict[str, Dataset], dict[str, Labelling]]:
    """Returns ({sweep dataset name: Dataset}, {base dataset name + share tag: Labelling}) of
    every base dataset of the scale: its full, labelled-only and proxy variants."""
    datasets, labellings = {}, {}
    for base in scale.datasets:
        env, _, recipe = base.rpartition("/")
        full = io.load_minari(dataset_id(scale.suite, env, recipe), root=root)
        datasets[dataset_name(base, FULL)] = full
        for share in scale.labelled_shares:
            start = time.perf_counter()
            lab = label(full, share, scale, labelling_key(scale.seed, base, share))
            labellings[dataset_name(base, share_tag(share))] = lab
            datasets[dataset_name(base, variant_name("labelled-only", share))] = lab.labelled
            datasets[dataset_name(base, variant_name("proxy", share))] = lab.proxy.dataset
            overall = float(np.mean(np.asarray(full.episode_returns())))
            log(f"[{base}] {share_tag(share)}: {lab.labelled.num_episodes} of "
                f"{full.num_episodes} trajectories labelled (mean return "
                f"{lab.labelled_return:.1f} vs {overall:.1f} overall); IDM label MAE "
                f"{lab.label_mae:.3f}, validation NLL "
                f"{float(lab.proxy.metrics.best_validation_nll):.3f} "
                f"({time.perf_counter() - start:.1f} s)")
    return datasets, labellings


def sweep_spec(scale: Scale, names: tuple[str, ...]) -> SweepSpec:
    """Returns the SweepSpec of the study; its name carries a fingerprint of the labelling
    settings, so records of differently labelled datasets never share a hash."""
    labelling = dict(idm=dataclasses.asdict(scale.idm), which=scale.which,
                     return_threshold=scale.return_threshold,
                     shares=list(scale.labelled_shares), seed=scale.seed)
    return SweepSpec(
        name=f"{EXPERIMENT}-{scale.name}-{config_hash(labelling)[:8]}", algos=scale.algos,
        datasets=names, suite=scale.suite, num_seeds=scale.num_seeds,
        num_updates=scale.num_updates, eval_every=scale.eval_every,
        eval_episodes=scale.eval_episodes, batch_size=scale.batch_size,
        hidden_sizes=scale.hidden_sizes, seed=scale.seed)


# ---------------------------------------------------------------------------------------------
# The study


class Study(NamedTuple):
    """rows: the table; records: the study's records, each config with ``variant`` and
    ``base_dataset`` added; datasets / labellings: as ``build_variants``; sweep: run_sweep's
    summary; spec: the SweepSpec."""

    rows: list[dict[str, Any]]
    records: list[dict[str, Any]]
    datasets: dict[str, Dataset]
    labellings: dict[str, Labelling]
    sweep: dict[str, Any]
    spec: SweepSpec


def study_records(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Returns the study's ``records`` (one per dataset x algo x seed), each config with
    ``variant`` and ``base_dataset`` added."""
    out_records = []
    for r in records:
        base, variant = split_dataset_name(r["config"]["dataset"])
        out_records.append({**r, "config": {**r["config"], "variant": variant,
                                            "base_dataset": base}})
    return out_records


def table_rows(scale: Scale, records: list[dict[str, Any]], datasets: dict[str, Dataset],
               labellings: dict[str, Labelling]) -> list[dict[str, Any]]:
    """Returns one row per base dataset x learner x variant: seed mean and std of the final
    normalised score, and the labelling facts."""
    variants = [FULL] + [variant_name(k, s) for s in scale.labelled_shares
                         for k in ("labelled-only", "proxy")]
    rows = []
    for base in scale.datasets:
        env, _, recipe = base.rpartition("/")
        full = datasets[dataset_name(base, FULL)]
        for algo in scale.algos:
            for variant in variants:
                name = dataset_name(base, variant)
                runs = [r for r in records
                        if r["config"]["dataset"] == name and r["config"]["algo"] == algo]
                scores = np.array([np.nan if r["final_score"] is None else r["final_score"]
                                   for r in runs], float)
                row = dict(env=env, dataset=recipe, algo=algo, variant=variant,
                           trajectories=full.num_episodes, seeds=len(runs), label_mae=None,
                           label_mse=None, idm_val_nll=None,
                           diverged=sum(bool(r["diverged"]) for r in runs),
                           score_mean=float(np.nanmean(scores)) if runs else None,
                           score_std=float(np.nanstd(scores)) if runs else None)
                if variant == FULL:
                    row.update(labelled_share=1.0, labelled_trajectories=full.num_episodes,
                               labelled_return=float(np.mean(np.asarray(
                                   full.episode_returns()))))
                else:
                    kind, share = variant.rsplit("-", 1)
                    lab = labellings[dataset_name(base, share)]
                    row.update(labelled_share=lab.share,
                               labelled_trajectories=lab.labelled.num_episodes,
                               labelled_return=lab.labelled_return)
                    if kind == "proxy":
                        row.update(label_mae=lab.label_mae, label_mse=lab.label_mse,
                                   idm_val_nll=float(lab.proxy.metrics.best_validation_nll))
                rows.append(row)
    return rows


def run_study(scale: Scale, out: pathlib.Path, root: Any = None,
              log: Callable[[str], None] = print, progress: bool = False) -> Study:
    """Returns the Study after labelling, training what the store lacks and writing every
    output under ``out``. Raises SuiteError, before training or writing anything, when ``out``
    holds these runs under another setting (another scale's or labelling's)."""
    from jaxrl_suite.report.summary import write_report

    build_suite(scale.suite, root, envs=scale.envs, log=log)
    out.mkdir(parents=True, exist_ok=True)
    datasets, labellings = build_variants(scale, root, log)
    spec = sweep_spec(scale, tuple(datasets))
    (summary,), records = run_sweeps([spec], out, root=root, log=log, progress=progress,
                                     datasets=datasets)
    records = study_records(records)
    rows = table_rows(scale, records, datasets, labellings)
    tables.write_table(out, "semi_supervised", rows, COLUMNS)
    write_report(records, out / "report", method_keys=("algo", "variant"),
                 task_key="base_dataset", reps=scale.report_reps, seed=scale.seed,
                 baseline=f"{scale.algos[0]}/{FULL}", log=log)
    return Study(rows, records, datasets, labellings, summary, spec)


def main(argv: list[str]) -> None:
    del argv
    if not flags.FLAGS["verbosity"].present:  # orbax logs every chunk checkpoint at INFO
        logging.set_verbosity(logging.WARNING)
    f = flags.FLAGS
    scale = BENCHMARK_SCALES[f.benchmark][f.scale]
    scale = scale.with_envs(select_envs(scale.envs, f.envs, f.benchmark))
    if f.which:
        scale = dataclasses.replace(scale, which=f.which)
    out = results_dir(EXPERIMENT, scale_folder(f.scale, f.benchmark), f.out)
    start = time.perf_counter()
    study = run_study(scale, out, flags.FLAGS.minari_root, progress=flags.FLAGS.progress)
    print(tables.markdown_table(study.rows, COLUMNS))
    print(PAPER_FINDING)
    print(f"{study.sweep['trained']} programs trained, {study.sweep['skipped']} skipped; "
          f"done in {time.perf_counter() - start:.0f} s; written to {out}/")


if __name__ == "__main__":
    define_flags()
    run_app(main)
