"""The suite's learners on MuJoCo locomotion: BC, TD3+BC, IQL, CQL, ReBRAC, EDAC, MOPO and
MOBILE on the D4RL-recipe datasets of the ``mujoco`` suites (gymnasium's v5 HalfCheetah, Hopper
and Walker2d), seeds vmapped, D4RL-normalised scores, beside the numbers CORL and OfflineRL-Kit
publish for D4RL's own -v2 datasets.

Each learner is one SweepSpec of the shared sweep machinery (``jaxrl_suite.sweep.runner``), so
its datasets x seeds train as vmapped programs and a re-run trains only what the store at --out
(default results/locomotion_learners/<scale>/, so scales never share records or tables)
lacks. The table (``locomotion_learners.{md,csv}``) lists per learner x env x level the final
normalised score (mean and std over seeds; a diverged run scores 0, as in the report), the
updates, the seeds, the wall time of the program that trained them, and the reference's score.

    .venv/bin/python experiments/locomotion_learners.py --scale=tiny   # results/.../tiny/
    .venv/bin/python experiments/locomotion_learners.py --scale=default    # mujoco-small, CPU
    .venv/bin/python experiments/locomotion_learners.py --scale=paper      # mujoco, GPU

The data differ from the references': the suite's own datasets in gymnasium's v5 envs (its
SAC expert and random policy as the normalisers; ``generate --suite=mujoco-small``), not D4RL's
-v2 files, and ``default`` trains far fewer updates than their 1M. Read the references for
orientation (which learners are strong where), not as targets.

Scales: ``paper`` is CORL's budget (1M updates, batch 256, 4 seeds, evaluation every 5k
updates on 10 episodes, the learners' own network widths) on the GPU-sized ``mujoco`` suite;
``default`` fits a 2-core CPU: the learners' widths, 2 seeds, 10k updates (5k for CQL, EDAC,
MOPO and MOBILE, whose updates cost several times more; the dynamics ensemble trains for at
most 30 epochs) on the medium-replay datasets of ``mujoco-small`` (``--envs`` picks a subset);
``tiny`` is for tests.
"""

from __future__ import annotations

import dataclasses
import pathlib
import sys
import time
from typing import Any, Callable, Sequence

import numpy as np
from absl import flags, logging

if not __package__:  # run as a script: make the `experiments` package importable
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from experiments.common import (final_score, load_reference, print_study, results_dir, run_app,
                                run_sweeps, stored_runs)
from jaxrl_suite.generate.suite import env_slug
from jaxrl_suite.report import tables
from jaxrl_suite.sweep.runner import SweepSpec

SWEEP = EXPERIMENT = "locomotion_learners"
ALGOS = ("bc", "td3bc", "iql", "cql", "rebrac", "edac", "mopo", "mobile")
MODEL_BASED = ("mopo", "mobile")
REFERENCE = "locomotion_learners"
COLUMNS = ("algo", "env", "level", "updates", "seeds", "diverged", "score", "score_std",
           "seconds", "reference", "reference_std", "reference_source")
SETTING_NOTE = ("Data differ from the references' (the suite's gymnasium-v5 datasets and "
                "normalisers, not D4RL's -v2 files; fewer updates at default scale): read the "
                "references for orientation, not as targets.")


@dataclasses.dataclass(frozen=True)
class Scale:
    suite: str
    envs: tuple[str, ...]
    levels: tuple[str, ...]
    num_seeds: int
    num_updates: int
    eval_every: int
    eval_episodes: int
    batch_size: int = 256
    hidden_sizes: tuple[int, ...] | None = None  # None: each learner's own widths
    # per-learner budgets in place of num_updates (multiples of eval_every)
    updates_per_algo: tuple[tuple[str, int], ...] = ()
    ensemble: tuple[tuple[str, Any], ...] = ()  # dynamics.EnsembleConfig overrides
    model_based_config: tuple[tuple[str, Any], ...] = ()  # MOPO/MOBILE config overrides

    def updates(self, algo: str) -> int:
        return dict(self.updates_per_algo).get(algo, self.num_updates)


_ENVS = ("HalfCheetah-v5", "Hopper-v5", "Walker2d-v5")
SCALES = {
    "tiny": Scale("mujoco-tiny", ("Hopper-v5",), ("medium-replay",), 2, 20, 10, 1,
                  batch_size=32, hidden_sizes=(16, 16),
                  ensemble=(("num_members", 3), ("num_elites", 2), ("hidden_sizes", (16,)),
                            ("weight_decays", (2.5e-5, 5e-5)), ("max_epochs", 2)),
                  model_based_config=(("rollout_starts", 16), ("buffer_size", 1_000))),
    # CQL's and EDAC's updates cost ~5-10 TD3+BC updates on a CPU, MOPO/MOBILE's add model
    # rollouts and the ensemble's training: they get half the budget.
    "default": Scale("mujoco-small", _ENVS, ("medium-replay",), 2, 10_000, 1_000, 5,
                     updates_per_algo=tuple((a, 5_000) for a in ("cql", "edac") + MODEL_BASED),
                     ensemble=(("max_epochs", 30),)),
    "paper": Scale("mujoco", _ENVS, ("medium", "medium-replay", "medium-expert"), 4,
                   1_000_000, 5_000, 10),
}


def define_flags() -> None:
    """Defines the script's absl flags (only when run as a script)."""
    flags.DEFINE_enum("scale", "default", list(SCALES), "Budget preset.")
    flags.DEFINE_list("algos", list(ALGOS), "Learner ids.")
    flags.DEFINE_list("envs", None, "Envs of the scale to run (default: all of them).")
    flags.DEFINE_integer("num_seeds", None, "Seeds per dataset (default: the scale's).")
    flags.DEFINE_string("minari_root", None, "Local Minari root (default: "
                        "$MINARI_DATASETS_PATH, else Minari's default).")
    flags.DEFINE_string("out", None, f"Output directory (default: results/{EXPERIMENT}/"
                        "<scale>).")
    flags.DEFINE_bool("table_only", False, "Train nothing: write the table of the --algos x "
                      "--envs runs the store already holds (rows without runs left out), e.g. "
                      "after runs of different learner subsets per env.")


def datasets(scale: Scale) -> tuple[str, ...]:
    return tuple(f"{env}/{level}" for env in scale.envs for level in scale.levels)


def sweep_specs(scale: Scale, algos: Sequence[str] = ALGOS) -> list[SweepSpec]:
    """Returns one SweepSpec per learner."""
    return [SweepSpec(
        name=SWEEP, algos=(algo,), datasets=datasets(scale), suite=scale.suite,
        num_seeds=scale.num_seeds, num_updates=scale.updates(algo),
        eval_every=scale.eval_every, eval_episodes=scale.eval_episodes,
        batch_size=scale.batch_size, hidden_sizes=scale.hidden_sizes,
        ensemble=dict(scale.ensemble) if algo in MODEL_BASED else {},
        learner_config=dict(scale.model_based_config) if algo in MODEL_BASED else {})
        for algo in algos]


def score_rows(records: Sequence[dict[str, Any]], scale: Scale,
               algos: Sequence[str]) -> list[dict[str, Any]]:
    """Returns per algo x env x level the final score's mean and std over seeds, with the
    program wall time and the reference's number for the same D4RL task."""
    reference, _ = load_reference(REFERENCE)
    theirs = {(r["algo"], r["task"]): r for r in reference}
    rows = []
    for algo in algos:
        for env in scale.envs:
            for level in scale.levels:
                runs = [r for r in records if (r["config"]["algo"], r["config"]["dataset"])
                        == (algo, f"{env}/{level}")]
                scores = np.array([final_score(r) for r in runs], float)
                ref = theirs.get((algo, f"{env_slug(env)}-{level}-v2"))
                seconds = sum({r["program"]["seconds"] for r in runs if "program" in r})
                rows.append(dict(
                    algo=algo, env=env, level=level,
                    updates=",".join(map(str, sorted({r["config"]["num_updates"]
                                                      for r in runs}))),
                    seeds=len(runs), diverged=sum(bool(r.get("diverged")) for r in runs),
                    score=float(scores.mean()) if len(runs) else None,
                    score_std=float(scores.std()) if len(runs) else None,
                    seconds=seconds if runs else None,
                    reference=float(ref["score"]) if ref else None,
                    reference_std=float(ref["score_std"]) if ref else None,
                    reference_source=ref["source"] if ref else None))
    return rows


def run_study(scale: Scale, out: pathlib.Path, root: Any = None, *,
              algos: Sequence[str] = ALGOS, log: Callable[[str], None] = print,
              progress: bool = True, table_only: bool = False
              ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Returns (table rows, run_sweep summaries) after training what the store at ``out``
    lacks and writing the table. Raises SuiteError, before training or writing anything, when
    ``out`` holds these runs under another setting (another scale's). ``table_only``: train
    nothing; the table holds the planned runs the store has (by hash, as a trained study's)
    and leaves out the algo x dataset rows it has none of."""
    specs = sweep_specs(scale, algos)
    if table_only:
        summaries, records = [], stored_runs(specs, out, root)
    else:
        summaries, records = run_sweeps(specs, out, root=root, log=log, progress=progress)
    rows = score_rows(records, scale, algos)
    if table_only:
        rows = [r for r in rows if r["seeds"]]
    tables.write_table(out, SWEEP, rows, COLUMNS)
    return rows, summaries


def main(argv: list[str]) -> None:
    del argv
    f = flags.FLAGS
    scale = SCALES[f.scale]
    scale = dataclasses.replace(scale, num_seeds=f.num_seeds or scale.num_seeds,
                                envs=tuple(f.envs or scale.envs))
    if not set(f.algos) <= set(ALGOS) or not set(scale.envs) <= set(SCALES[f.scale].envs):
        print(f"flags '--algos'/'--envs': expected ids from {list(ALGOS)} / "
              f"{list(SCALES[f.scale].envs)}, found {f.algos} / {f.envs}", file=sys.stderr)
        sys.exit(2)
    if not f["verbosity"].present:  # orbax logs every chunk checkpoint at INFO
        logging.set_verbosity(logging.WARNING)
    out = results_dir(EXPERIMENT, f.scale, f.out)
    start = time.perf_counter()
    rows, summaries = run_study(scale, out, f.minari_root, algos=f.algos,
                                table_only=f.table_only)
    print_study(rows, COLUMNS, REFERENCE, "references", SETTING_NOTE, summaries, start, out)


if __name__ == "__main__":
    define_flags()
    run_app(main)
