"""The penalty x horizon study and the BO comparison of "Revisiting Design Choices in Offline
Model-Based Reinforcement Learning" (Lu et al., ICLR 2022), on the suite's locomotion datasets
(``--benchmark=mujoco``, the default: HalfCheetah, Hopper and Walker2d with D4RL's recipes, the
paper's benchmark) or its Pendulum and MountainCar ones (``--benchmark=pendulum``, where the
study began).

Per dataset: (1) MOPO with each of the six uncertainty penalties x each horizon, at lambda 1
and the other defaults, trains as ONE vmapped run (penalty type and horizon are traced
hyperparameters) through the shared sweep runner, one record per run in the results store
under --out (``records/``, with its rliable report in ``report/``); (2) a batched BO study searches
penalty, lambda, horizon, models in use and real ratio, q configurations per vmapped run. Writes
under --out (default results/revisiting_mbrl/mujoco-<scale>/ on mujoco,
results/revisiting_mbrl/<scale>/ on pendulum, so scales and benchmarks never share records, BO
studies or tables):

- ``penalty_horizon.{md,csv}``: dataset x penalty x horizon -> normalised return (seed mean);
- ``bo_vs_default.{md,csv}``: per dataset, the default MOPO config's score beside the
  BO-found config's, both re-scored on seeds no trial used (and the incumbent's own, biased
  value), as the paper's table of default vs BO configs;
- ``bo/<dataset>/``: each study (SQLite, resumable), its trials, trace plot and best config.

    .venv/bin/python experiments/revisiting_mbrl.py --scale=tiny      # .../mujoco-tiny/
    .venv/bin/python experiments/revisiting_mbrl.py --scale=default --envs=HalfCheetah-v5
    .venv/bin/python experiments/revisiting_mbrl.py --benchmark=pendulum --scale=default

Scales: ``paper`` uses MOPO's networks (7 models of 4x200, SAC 2x256), horizons {1, 5, 10},
100k updates and a 64-trial BO (GPU-sized); on mujoco the ``mujoco`` suite's random, medium,
medium-replay and medium-expert sets of the three robots, the D4RL levels MOPO reports.
``default`` shrinks networks and budgets to fit a CPU (5 models of 3x64, SAC 2x64, 5k updates,
horizons {1, 5}, BO 16 trials in rounds of 8); on mujoco the medium-replay set of each robot
in ``mujoco-small`` (one is ~15-30 min on two cores, so ``--envs`` runs a subset).
Note the objective is the online evaluation return, as in the paper's BO: an oracle tuning
protocol, not an offline model-selection method.
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

from experiments.common import (define_benchmark_flags, results_dir, run_app, run_sweeps,
                                scale_folder, select_envs)
from jaxrl_suite.data import io
from jaxrl_suite.generate.suite import build_suite, dataset_id
from jaxrl_suite.model_based.dynamics import EnsembleConfig
from jaxrl_suite.model_based.penalties import PENALTIES
from jaxrl_suite.report import tables
from jaxrl_suite.report.summary import write_report
from jaxrl_suite.sweep import bo
from jaxrl_suite.sweep.runner import SweepSpec
from jaxrl_suite.sweep.mbrl_bo import FRESH_SEEDS, MBRLBOSettings, make_objective

EXPERIMENT = "revisiting_mbrl"


@dataclasses.dataclass(frozen=True)
class Scale:
    suite: str
    datasets: tuple[tuple[str, str], ...]  # (env, recipe)
    horizons: tuple[int, ...]
    settings: MBRLBOSettings

    @property
    def envs(self) -> tuple[str, ...]:
        """The envs of ``datasets``, in order."""
        return tuple(dict.fromkeys(env for env, _ in self.datasets))

    def with_envs(self, envs: tuple[str, ...]) -> "Scale":
        """Returns the scale with only the datasets of ``envs``."""
        return dataclasses.replace(self, datasets=tuple(d for d in self.datasets
                                                        if d[0] in envs))


def _small_ensemble(members, hidden, epochs):
    return EnsembleConfig(num_members=members, num_elites=max(1, members - 2),
                          hidden_sizes=hidden, weight_decays=(2.5e-5,) * (len(hidden) + 1),
                          max_epochs=epochs)


SCALES = {
    "tiny": Scale("tiny", (("Pendulum-v1", "replay"),), (1, 2), MBRLBOSettings(
        num_trials=4, batch_size=2, num_seeds=1, num_updates=40, eval_every=40,
        eval_episodes=1, train_batch_size=32, max_horizon=2, rollout_starts=8,
        buffer_size=1_000, hidden_sizes=(16, 16), ensemble=_small_ensemble(3, (16,), 3))),
    "default": Scale("default", (("Pendulum-v1", "mixed"), ("Pendulum-v1", "replay"),
                                 ("MountainCarContinuous-v0", "replay")), (1, 5), MBRLBOSettings(
        num_trials=16, batch_size=8, num_seeds=2, num_updates=5_000, eval_every=5_000,
        eval_episodes=5, train_batch_size=256, max_horizon=5, rollout_starts=16,
        buffer_size=50_000, hidden_sizes=(64, 64), ensemble=_small_ensemble(5, (64, 64, 64),
                                                                           100))),
    "paper": Scale("default", (("Pendulum-v1", "mixed"), ("Pendulum-v1", "replay"),
                               ("MountainCarContinuous-v0", "replay")), (1, 5, 10),
                   MBRLBOSettings(num_trials=64, batch_size=8, num_seeds=4,
                                  num_updates=100_000, eval_every=100_000, eval_episodes=10,
                                  max_horizon=10)),
}
MUJOCO_ENVS = ("HalfCheetah-v5", "Hopper-v5", "Walker2d-v5")
MUJOCO_SCALES = {
    "tiny": Scale("mujoco-tiny", (("Hopper-v5", "medium-replay"),), (1, 2),
                  SCALES["tiny"].settings),
    "default": Scale("mujoco-small", tuple((e, "medium-replay") for e in MUJOCO_ENVS), (1, 5),
                     SCALES["default"].settings),
    # The D4RL levels of MOPO's table (random, medium, medium-replay, medium-expert).
    "paper": Scale("mujoco", tuple((e, r) for e in MUJOCO_ENVS for r in (
        "random", "medium", "medium-replay", "medium-expert")), (1, 5, 10),
        SCALES["paper"].settings),
}
BENCHMARK_SCALES = {"mujoco": MUJOCO_SCALES, "pendulum": SCALES}
GRID_COLUMNS = ("env", "dataset", "penalty", "horizon", "score", "diverged")
BO_COLUMNS = ("env", "dataset", "default_score", "bo_score", "bo_incumbent", "penalty",
              "penalty_coef", "horizon", "num_members", "real_ratio", "trials")


def define_flags() -> None:
    """Defines the script's absl flags: only when run as a script, so that tests can import
    several experiment modules into one process without a flag defined twice."""
    flags.DEFINE_enum("scale", "default", list(SCALES), "Budget preset.")
    define_benchmark_flags()
    flags.DEFINE_string("minari_root", None, "Local Minari root (default: "
                        "$MINARI_DATASETS_PATH, else Minari's default).")
    flags.DEFINE_string("out", None, f"Output directory (default: results/{EXPERIMENT}/"
                        "mujoco-<scale> on mujoco, results/{EXPERIMENT}/<scale> on pendulum).")


def grid_spec(scale: Scale) -> SweepSpec:
    """Returns the penalty x horizon sweep: per dataset one program whose rows are every
    penalty (its index into PENALTIES, traced) x horizon x seed, at the BO's budget."""
    st = scale.settings
    return SweepSpec(
        name=EXPERIMENT, suite=scale.suite, algos=(st.algo,),
        datasets=tuple(f"{env}/{recipe}" for env, recipe in scale.datasets),
        grid={st.algo: (f"penalty_index=0:{len(PENALTIES) - 1}:{len(PENALTIES)}",
                        "horizon=" + ",".join(str(h) for h in scale.horizons))},
        num_seeds=st.num_seeds, num_updates=st.num_updates, eval_every=st.eval_every,
        eval_episodes=st.eval_episodes, batch_size=st.train_batch_size,
        hidden_sizes=st.hidden_sizes,
        learner_config=dict(max_horizon=st.max_horizon, rollout_starts=st.rollout_starts,
                            buffer_size=st.buffer_size),
        ensemble=dataclasses.asdict(st.ensemble) if st.ensemble else {}, seed=st.seed)


def grid_rows(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Returns one row per dataset x penalty x horizon: the mean final normalised return over
    the seeds that did not diverge, and how many diverged."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in records:
        c = r["config"]
        groups.setdefault((c["dataset"], c["overrides"]["penalty_index"],
                           c["overrides"]["horizon"]), []).append(r)
    rows = []
    for (name, penalty, horizon), runs in sorted(groups.items()):
        env, _, recipe = name.rpartition("/")
        ok = [r["final_score"] for r in runs if not r["diverged"]]
        rows.append(dict(env=env, dataset=recipe, penalty=PENALTIES[int(penalty)],
                         horizon=int(horizon), score=float(np.mean(ok)) if ok else None,
                         diverged=len(runs) - len(ok)))
    return rows


def run_study(scale: Scale, out: pathlib.Path, root: Any = None,
              log: Callable[[str], None] = print, progress: bool = True,
              reps: int = 2000) -> tuple[list[dict], list[dict]]:
    """Returns (penalty x horizon rows, BO-vs-default rows) after writing every output. The
    grid's runs go to the results store under ``out`` and the BO's trials to an optuna study
    per dataset (``bo/<dataset>/study.db``): a re-run skips or resumes both. Raises SuiteError,
    before training or writing anything, when ``out`` holds the grid's runs under another
    setting (another scale's)."""
    build_suite(scale.suite, root, envs=scale.envs, log=log)
    _, records = run_sweeps([grid_spec(scale)], out, root=root, log=log, progress=progress)
    grid = grid_rows(records)
    write_report(records, out / "report", method_keys=("algo",), reps=reps, log=log)
    bo_rows = []
    for env_id, recipe in scale.datasets:
        start = time.perf_counter()
        dataset = io.load_minari(dataset_id(scale.suite, env_id, recipe), root=root)
        objective, space, evaluate = make_objective(dataset, env_id, scale.settings, log)
        name = f"{env_id}-{recipe}"
        result = bo.run_bo(objective, space, num_trials=scale.settings.num_trials,
                           batch_size=scale.settings.batch_size, seed=scale.settings.seed,
                           out_dir=out / "bo" / name, study_name=name, log=log)
        bo.write_bo_outputs(result, out / "bo" / name)
        # Default and BO-found configs re-scored on seeds no trial used (the incumbent's own
        # value is the best of many noisy evaluations, biased upwards).
        default_fresh, bo_fresh = evaluate([{}, result.best_params], FRESH_SEEDS)
        bo_rows.append(dict(env=env_id, dataset=recipe, default_score=default_fresh,
                            bo_score=bo_fresh, bo_incumbent=result.best_value,
                            trials=result.num_complete, **result.best_params))
        log(f"[{name}] default {bo_rows[-1]['default_score']:.1f}, BO {result.best_value:.1f} "
            f"({time.perf_counter() - start:.0f} s)")
    tables.write_table(out, "penalty_horizon", grid, GRID_COLUMNS)
    tables.write_table(out, "bo_vs_default", bo_rows, BO_COLUMNS)
    return grid, bo_rows


def main(argv: list[str]) -> None:
    del argv
    start = time.perf_counter()
    f = flags.FLAGS
    scale = BENCHMARK_SCALES[f.benchmark][f.scale]
    scale = scale.with_envs(select_envs(scale.envs, f.envs, f.benchmark))
    out = results_dir(EXPERIMENT, scale_folder(f.scale, f.benchmark), f.out)
    grid_rows, bo_rows = run_study(scale, out, f.minari_root)
    print(tables.markdown_table(grid_rows, GRID_COLUMNS))
    print(tables.markdown_table(bo_rows, BO_COLUMNS))
    print(f"done in {time.perf_counter() - start:.0f} s; written to {out}/")


if __name__ == "__main__":
    define_flags()
    run_app(main)
