"""``python -m jaxrl_suite <command> [--flags]``: the suite's absl entry point.

Commands register themselves in ``COMMANDS``; each is a function of the parsed flags that
returns an exit code. A user error (a ``SuiteError``: bad file, field, shape, unknown env) is
printed as one line on stderr with exit code 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import sys
from typing import Callable

from absl import app, flags, logging
from ml_collections import config_flags

from jaxrl_suite.errors import SuiteError
from jaxrl_suite.provenance import set_matmul_precision

FLAGS = flags.FLAGS

flags.DEFINE_string("dataset", None, "Dataset: a .npz/.hdf5 file, a Minari dataset directory, "
                    "or a Minari dataset id in the local Minari root.")
flags.DEFINE_string("minari_root", None, "Local Minari root (default: $MINARI_DATASETS_PATH, "
                    "else Minari's default). Nothing is ever downloaded.")
flags.DEFINE_bool("json", False, "Print one JSON object instead of a table.")
flags.DEFINE_bool("debug", False, "Show Python tracebacks for user errors.")
flags.DEFINE_enum("matmul_precision", "default", ["default", "tf32", "highest"],
                  "float32 matmul precision of every compiled program: default (XLA's fastest "
                  "per backend: float32 on CPUs, TF32 on NVIDIA Ampere+, bfloat16 on TPUs), "
                  "tf32, highest (full float32); recorded with each result.")
flags.DEFINE_float("checkpoint_interval", 120.0, "Least seconds between two checkpoints of a "
                   "training program (train, sweep, bo): each saves the whole vmapped state; "
                   "the last chunk is always saved; 0 saves after every chunk.")
flags.DEFINE_string("out", None, "Output directory (commands that write results).")
flags.DEFINE_integer("seed", 0, "Random seed.")
flags.DEFINE_string("suite", "default", "generate: dataset suite to build, e.g. default, "
                    "mujoco-small (an unknown name lists them all).")
flags.DEFINE_enum("scale", "default", ["default", "full", "tiny"],
                  "demo: default (make demo, ~5 min on 2 cores: BC, TD3+BC x uniform/RW on two "
                  "Pendulum datasets), full (make demo-full: also IQL, three datasets, 8k "
                  "updates; builds the whole default suite) or tiny (toy size).")
flags.DEFINE_bool("force", False, "generate: rebuild datasets even if cached.")
flags.DEFINE_string("reference", None, "info: dataset SACo is relative to (default: the env's "
                    "replay dataset when the dataset belongs to a generated suite).")
flags.DEFINE_float("ref_min", None, "info/train: random-policy return for TQ and normalised "
                   "scores (default: the dataset's ref_min_score, else the env's).")
flags.DEFINE_float("ref_max", None, "info/train: expert return for TQ and normalised scores "
                   "(default: the dataset's ref_max_score, else the env's).")
flags.DEFINE_integer("num_processes", None, "sweep: split the sweep's programs over this many "
                     "processes (machines or SLURM array tasks) writing one --out; default: a "
                     "SLURM job array's task count, else one process. train (with "
                     "--coordinator_address): the processes running one program.")
flags.DEFINE_integer("process_id", None, "sweep: this process's index in [0, --num_processes): "
                     "it trains programs n with n % num_processes == process_id; default: the "
                     "SLURM array task index. train: this process's rank (0 writes).")
flags.DEFINE_string("coordinator_address", None, "train: host:port of process 0; with "
                    "--num_processes and --process_id, runs one program over every process's "
                    "devices (jax.distributed; the cells sharded over all of them, the "
                    "dataset replicated, process 0 writing --out). Without it, a SLURM or MPI "
                    "job of several tasks is detected by JAX.")
flags.DEFINE_integer("saco_bins", 100, "info/demo/generate: digitise each state-action "
                     "dimension into this many bins between the reference's min/max before "
                     "counting unique pairs, as the authors' evaluator does (100); 0 counts "
                     "exact values (every continuous state is then unique, so SACo "
                     "degenerates to a size ratio).")


def _algo_help() -> str:
    from jaxrl_suite.agents import DISCRETE_LEARNERS, LEARNERS
    from jaxrl_suite.model_based import MODEL_BASED

    return (f"train/bo: learner id; continuous actions: {', '.join(LEARNERS)}; discrete: "
            f"{', '.join(DISCRETE_LEARNERS)} (bc and cql pick the variant by the dataset's "
            f"actions); model-based (train and bo): {', '.join(MODEL_BASED)}; recoil and "
            "demodice imitate (train --demos).")


flags.DEFINE_string("algo", None, _algo_help())
flags.DEFINE_string("env", None, "train: evaluation env (default: the dataset's env id).")
flags.DEFINE_integer("num_seeds", 4, "train: seeds per hyperparameter cell (vmapped).")
flags.DEFINE_integer("steps", 100_000, "train: gradient updates per cell.")
flags.DEFINE_integer("eval_every", 5_000, "train: updates between evaluations/checkpoints.")
flags.DEFINE_integer("eval_episodes", 10, "train: episodes per evaluation.")
flags.DEFINE_integer("final_eval_episodes", 1000, "train: episodes of the final evaluation of "
                     "every trained policy, all in one compiled call (Unifloral's "
                     "eval_final_episodes); written to <out>/final_returns.npz; 0: none.")
flags.DEFINE_list("logger", ["csv"], "train, sweep: where each chunk's metrics go: csv (the "
                  "run's own files, always written), tensorboard, wandb (offline without "
                  "network); the last two need pip install -e \".[tracking]\"")
flags.DEFINE_enum("eval_backend", "auto", ["auto", "jax", "host"],
                  "train/bo: evaluate in the JAX env inside the compiled loop (jax), or in "
                  "gymnasium's C-MuJoCo twin between chunks (host); auto = host on a CPU for "
                  "MuJoCo locomotion (faster there), jax otherwise.")
flags.DEFINE_integer("batch_size", None, "train: minibatch size (default: the learner's "
                     "paper value: rebrac, xql, fdvl, fdvl_tv 1024; discrete learners 128; "
                     "else 256).")
flags.DEFINE_integer("history", 0, "train: condition the learner on the last N observations "
                     "(history windows that never cross an episode start; the eval env "
                     "observes the same windows); 0: the current observation only.")
flags.DEFINE_enum("history_encoder", "stack", ["stack", "gru"], "train: how --history windows "
                  "are encoded: stack (flattened frame stack) or gru (a GRU over the window), "
                  "trained end to end with the learner's losses (bc, cql, iql, xql, fdvl, "
                  "fdvl_tv).")
flags.DEFINE_string("demos", None, "train: expert dataset for offline imitation (recoil, "
                    "demodice): its first --mix_expert_episodes episodes are mixed into --dataset "
                    "and its first --demo_episodes are the demonstrations (Dual RL's setting).")
flags.DEFINE_integer("mix_expert_episodes", 200, "train: expert episodes mixed into the offline "
                     "data with --demos (ReCOIL's script: 200; 100 for walker2d).")
flags.DEFINE_integer("demo_episodes", 1, "train: expert episodes given as demonstrations with "
                     "--demos (Dual RL's main setting: 1).")
flags.DEFINE_integer("ogbench_task", None, "train: relabel an OGBench play/noisy file for its "
                     "single-task env <env>-singletask-task<N>-v0 (N in 1..5; as ogbench's "
                     "loader), e.g. for qc/fql; goal-conditioned learners (dqc*) take the file "
                     "as it is, with --env=<env>-oraclerep-v0 for oracle goals.")
flags.DEFINE_bool("ogbench_sparse", False, "train: with --ogbench_task, Q-chunking's sparse "
                  "rewards (-1 until every subtask succeeds; its README for scene, puzzle-3x3).")
flags.DEFINE_bool("bisimulation", False, "train: add the bisimulation loss (Hong et al. 2024, "
                  "DBC form) on the --history encoder (gru) of bc, discrete cql, iql, xql or "
                  "fdvl(_tv); its weight is --hp.bisim_weight (default 0.5; a list is one "
                  "vmapped grid).")
flags.DEFINE_multi_string("model_config", [], "train, bo: a model-based learner's static "
                          "config field, name=value (nested: memory.d_model=32), e.g. neubay's "
                          "rollouts_per_round=100 or tape_length=2048.")
flags.DEFINE_integer("ensemble_members", None, "train, bo: dynamics models trained (default: "
                     "the learner's paper value: 7, neubay 128).")
flags.DEFINE_integer("ensemble_elites", None, "train, bo: models kept by holdout error "
                     "(default: 5, neubay 100).")
flags.DEFINE_integer("ensemble_epochs", None, "train, bo: epoch cap of the dynamics training "
                     "(default: 400, neubay 1200).")
flags.DEFINE_string("ensemble_cache", "~/.cache/jaxrl_suite/ensembles", "train, bo: directory "
                    "where trained dynamics ensembles are kept and reused by reruns and sweeps "
                    "on the same data, config and seed ('none': never cached).")
flags.DEFINE_enum("sampling", "uniform", ["uniform", "rw", "aw"],
                  "train: minibatch sampling (Hong et al. RW/AW trajectory weighting).")
flags.DEFINE_float("sampling_temperature", None, "train: RW/AW temperature of cells that "
                   "--hp.sampling_temperature does not set (default 0.1).")
flags.DEFINE_multi_string("hp", [], "train: hyperparameter grid axis name=v1,v2 or "
                          "name=lo:hi:n (also written --hp.name=v1,v2); axes multiply. Any "
                          "learner also takes sampling_temperature (with --sampling=rw|aw): "
                          "traced, one compiled program for the whole grid.")

flags.DEFINE_integer("trials", 64, "bo: configurations to evaluate in all.")
flags.DEFINE_integer("batch", 8, "bo: configurations per round, trained in one vmapped run.")
flags.DEFINE_integer("max_horizon", 10, "bo: longest model rollout searched (static).")
flags.DEFINE_string("storage", None, "bo: optuna storage URL (default sqlite:///<out>/study.db; "
                    "a database server's, e.g. postgresql://user@host/db, lets workers on "
                    "several machines share one study: same --storage and --study).")
flags.DEFINE_integer("heartbeat", 60, "bo: seconds between a worker's heartbeats on the trials "
                     "it evaluates; a trial whose heartbeat is twice as old (or whose worker's "
                     "process is gone from this machine) is a dead worker's, and the next worker "
                     "to look evaluates it again; 0: no heartbeat (then one machine per study).")
flags.DEFINE_string("study", None, "bo: study name (default <algo>-<env>); reruns resume it.")

config_flags.DEFINE_config_file(
    "spec", None, "sweep: a spec file (sweeps/<name>.py with get_config()); any field can be "
    "overridden, e.g. --spec.num_seeds=8 --spec.algos=td3bc,iql.")
flags.DEFINE_multi_string("results", [], "report: results directories (written by sweep or an "
                          "experiment); several are merged.")
flags.DEFINE_list("method_keys", ["algo", "sampling"], "report: record config fields that name "
                  "a method (grid cells with different overrides are separate methods).")
flags.DEFINE_integer("reps", 2000, "report: bootstrap replications for the CIs.")
flags.DEFINE_enum("selection", "none", ["none", "ucb"], "report: ucb also simulates online "
                  "policy selection among each method x dataset's trained policies (seeds x "
                  "cells) with Unifloral's UCB bandit, from their final-evaluation episodes "
                  "(sweeps with final_eval_episodes > 0; seed 17, 1,000 bootstraps), into "
                  "selection_ucb.{csv,md,png}.")
flags.DEFINE_integer("selection_subset", 20, "report: policies drawn for each bandit trial.")
flags.DEFINE_float("selection_alpha", 2.0, "report: UCB exploration coefficient.")
flags.DEFINE_integer("selection_pulls", 200, "report: online evaluations (pulls) per trial.")
flags.DEFINE_integer("selection_repeats", 1000, "report: bandit trials per population.")

GLOBAL_FLAGS = ("debug", "matmul_precision", "checkpoint_interval")


@dataclasses.dataclass(frozen=True)
class Command:
    """A CLI command: its function, the flags it reads (only these are listed by its --help
    and accepted on its command line), and an example command line."""

    fn: Callable[[], int]
    flags: tuple[str, ...]
    example: str

    @property
    def summary(self) -> str:
        return " ".join((self.fn.__doc__ or "").strip().split("\n\n")[0].split())


COMMANDS: dict[str, Command] = {}


def command(name: str, flags: tuple[str, ...], example: str):
    """Returns a decorator registering a command function under ``name`` with the flags it
    reads and an example."""

    def register(fn: Callable[[], int]) -> Callable[[], int]:
        COMMANDS[name] = Command(fn, flags, example)
        return fn

    return register


def print_table(rows: list[tuple[str, object]]) -> None:
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        if isinstance(value, float):
            value = f"{value:.4g}"
        print(f"{key:<{width}}  {value}")


@command("info", ("dataset", "minari_root", "reference", "ref_min", "ref_max", "saco_bins",
                  "json"),
         "python -m jaxrl_suite info --dataset=jaxrl_suite/default/pendulum/noisy-v0 --json")
def info_command() -> int:
    """Prints a dataset's size, episode structure, return statistics, spaces, TQ and SACo."""
    import dataclasses

    from jaxrl_suite.data import io, summary
    from jaxrl_suite.generate.suite import dataset_id
    from jaxrl_suite.report.dataset_quality import dataset_quality

    if not FLAGS.dataset:
        raise SuiteError("info: flag '--dataset': expected a file path or Minari id, found none")
    dataset = io.load(FLAGS.dataset, root=FLAGS.minari_root)
    if FLAGS.ref_min is not None or FLAGS.ref_max is not None:
        dataset = dataset.replace(meta=dataclasses.replace(
            dataset.meta,
            ref_min_score=dataset.meta.ref_min_score if FLAGS.ref_min is None else FLAGS.ref_min,
            ref_max_score=dataset.meta.ref_max_score if FLAGS.ref_max is None else FLAGS.ref_max))
    reference_name = FLAGS.reference
    info = dataset.meta.info_dict()
    if reference_name is None and "suite" in info and dataset.meta.env_id:
        reference_name = dataset_id(info["suite"], dataset.meta.env_id, "replay")
    reference = io.load(reference_name, root=FLAGS.minari_root) if reference_name else None
    quality = dataset_quality(dataset, reference, FLAGS.saco_bins or None)
    if FLAGS.json:
        print(json.dumps({**quality, "reference": reference_name,
                          "saco_bins": FLAGS.saco_bins or None}))
    else:
        print_table(list({**summary(dataset), **quality, "saco_reference": reference_name,
                          "info": info}.items()))
    return 0


@command("generate", ("suite", "minari_root", "force", "saco_bins"),
         "python -m jaxrl_suite generate --suite=default")
def generate_command() -> int:
    """Builds a named dataset suite into the local Minari root (cached), then prints its
    TQ/SACo table."""
    from jaxrl_suite.generate.suite import build_suite
    from jaxrl_suite.report import dataset_quality, tables

    build_suite(FLAGS.suite, FLAGS.minari_root, force=FLAGS.force)
    rows = dataset_quality.suite_quality_rows(FLAGS.suite, FLAGS.minari_root,
                                              FLAGS.saco_bins or None)
    print(f"\nDataset quality of the '{FLAGS.suite}' suite (TQ: normalised mean return; SACo: "
          f"unique state-action pairs relative to the replay dataset, "
          f"{f'{FLAGS.saco_bins} bins per dimension' if FLAGS.saco_bins else 'exact values'})\n")
    print(tables.markdown_table(rows, dataset_quality.COLUMNS))
    return 0


def _check_algo(name: str) -> None:
    """Refuses a missing or unknown ``--algo`` and a missing ``--dataset`` before anything is
    loaded (the order a user fixes them in); the continuous/discrete variant is checked once
    the dataset's action space is known."""
    from jaxrl_suite.agents import DISCRETE_LEARNERS, LEARNERS
    from jaxrl_suite.model_based import MODEL_BASED

    known = MODEL_BASED if name == "bo" else {**LEARNERS, **DISCRETE_LEARNERS, **MODEL_BASED}
    if not FLAGS.algo or FLAGS.algo not in known:
        found = f"'{FLAGS.algo}'" if FLAGS.algo else "none"
        raise SuiteError(f"{name}: flag '--algo': expected one of {sorted(known)}, found {found}")
    if not FLAGS.dataset:
        raise SuiteError(f"{name}: flag '--dataset': expected a file path or Minari id, "
                         "found none")


def _out_dir(name: str) -> str:
    """Returns ``--out``, or a new directory ``runs/<command>-<algo>-<dataset>-<time>`` (printed)
    when it is not given."""
    if FLAGS.out:
        return FLAGS.out
    import re
    import time

    stem = pathlib.Path(FLAGS.dataset.rstrip("/")).name if pathlib.Path(FLAGS.dataset).exists() \
        else FLAGS.dataset
    stem = re.sub(r"\.(npz|hdf5|h5)$", "", stem)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", stem).strip("_")
    out = pathlib.Path("runs") / f"{name}-{FLAGS.algo}-{stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    suffix, candidate = 1, out
    while candidate.exists():  # two runs in one second
        suffix += 1
        candidate = out.with_name(f"{out.name}-{suffix}")
    print(f"{name}: writing to {candidate} (--out not given)")
    return str(candidate)


@command("train", ("algo", "dataset", "minari_root", "env", "out", "num_seeds", "steps",
                   "eval_every", "eval_episodes", "final_eval_episodes", "eval_backend",
                   "batch_size", "sampling", "sampling_temperature", "hp", "seed", "ref_min",
                   "ref_max", "logger", "history", "history_encoder", "bisimulation", "demos",
                   "mix_expert_episodes", "demo_episodes", "ogbench_task", "ogbench_sparse",
                   "model_config", "ensemble_members", "ensemble_elites", "ensemble_epochs",
                   "ensemble_cache", "coordinator_address", "num_processes", "process_id"),
         "python -m jaxrl_suite train --algo=iql --dataset=jaxrl_suite/default/pendulum/noisy-v0"
         " --num_seeds=8 --steps=20000 --hp.expectile=0.7,0.9 --sampling=rw")
def train_command() -> int:
    """Trains a learner for seeds x hyperparameter cells in one compiled program."""
    from jaxrl_suite import distributed
    from jaxrl_suite.data import io
    from jaxrl_suite.run import run_training

    from jaxrl_suite.loggers import check_loggers

    if FLAGS.coordinator_address is None and (FLAGS.num_processes or 1) > 1:
        raise SuiteError("train: flag '--num_processes': expected --coordinator_address "
                         "(host:port of process 0) with it, found none")
    distributed.initialize(FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id,
                           auto=True)

    _check_algo("train")
    check_loggers(FLAGS.logger)
    if FLAGS.ogbench_task is not None:
        from jaxrl_suite.data.ogbench import singletask_dataset

        dataset = singletask_dataset(FLAGS.dataset, FLAGS.ogbench_task, FLAGS.ogbench_sparse)
        dataset_name = (f"{FLAGS.dataset}[task {FLAGS.ogbench_task}"
                        f"{', sparse' if FLAGS.ogbench_sparse else ''}]")
    elif FLAGS.ogbench_sparse:
        raise SuiteError("train: flag '--ogbench_sparse': expected --ogbench_task with it")
    else:
        dataset = io.load(FLAGS.dataset, root=FLAGS.minari_root)
        dataset_name = FLAGS.dataset
    if FLAGS.demos:
        from jaxrl_suite.data.imitation import imitation_mixture

        dataset = imitation_mixture(dataset, io.load(FLAGS.demos, root=FLAGS.minari_root),
                                    FLAGS.mix_expert_episodes, FLAGS.demo_episodes)
        dataset_name = (f"{FLAGS.dataset}+{FLAGS.demos}[{FLAGS.mix_expert_episodes} mixed, "
                        f"{FLAGS.demo_episodes} demos]")
    run_training(
        algo=FLAGS.algo, dataset=dataset, dataset_name=dataset_name, env_name=FLAGS.env,
        out=_out_dir("train"), num_seeds=FLAGS.num_seeds, num_updates=FLAGS.steps,
        eval_every=FLAGS.eval_every, eval_episodes=FLAGS.eval_episodes,
        batch_size=FLAGS.batch_size, sampling=FLAGS.sampling,
        sampling_temperature=FLAGS.sampling_temperature, hp_specs=FLAGS.hp, seed=FLAGS.seed,
        eval_backend=FLAGS.eval_backend, ref_min=FLAGS.ref_min, ref_max=FLAGS.ref_max,
        final_eval_episodes=FLAGS.final_eval_episodes, loggers=FLAGS.logger,
        history=FLAGS.history, history_encoder=FLAGS.history_encoder,
        bisimulation=FLAGS.bisimulation, model=_model_options())
    return 0


def _bo_model_settings(dataset) -> dict:
    """Returns the MBRLBOSettings fields the model-based flags set (ensemble, cache, neubay's
    static config; MOPO and MOBILE keep their --max_horizon settings)."""
    from jaxrl_suite.model_based import model_based_config
    from jaxrl_suite.run import config_overrides, ensemble_config

    options = _model_options()
    out = dict(ensemble=ensemble_config(FLAGS.algo, options),
               ensemble_cache=options.cache and str(pathlib.Path(options.cache).expanduser()))
    if FLAGS.algo == "neubay":
        base = model_based_config("neubay", dataset, None, log=lambda _: None)
        out["neubay_config"] = tuple(config_overrides(base, options.config).items())
    elif options.config:
        raise SuiteError(f"bo: flag '--model_config': {FLAGS.algo}'s BO settings are its "
                         "flags (--max_horizon); --model_config is for neubay")
    return out


def _model_options():
    """Returns the model-based flags as run.ModelOptions."""
    from jaxrl_suite.run import ModelOptions

    cache = FLAGS.ensemble_cache
    return ModelOptions(config=tuple(FLAGS.model_config), members=FLAGS.ensemble_members,
                        elites=FLAGS.ensemble_elites, epochs=FLAGS.ensemble_epochs,
                        cache=None if cache in (None, "", "none") else cache)


@command("bo", ("algo", "dataset", "minari_root", "env", "out", "trials", "batch", "max_horizon",
                "num_seeds", "steps", "eval_every", "eval_episodes", "batch_size",
                "eval_backend", "storage", "study", "heartbeat", "seed", "model_config",
                "ensemble_members", "ensemble_elites", "ensemble_epochs", "ensemble_cache"),
         "python -m jaxrl_suite bo --algo=mopo --dataset=jaxrl_suite/default/pendulum/mixed-v0"
         " --trials=32 --batch=8 --steps=5000 --num_seeds=2")
def bo_command() -> int:
    """Bayesian optimisation of a model-based learner's config, q configs per vmapped run;
    the incumbent and the default config are then scored on the same fresh seeds, with their
    seed-to-seed spread."""
    from jaxrl_suite.data import io
    from jaxrl_suite.sweep.mbrl_bo import MBRLBOSettings, run_mbrl_bo

    _check_algo("bo")
    if FLAGS.heartbeat < 0:
        raise SuiteError(f"bo: flag '--heartbeat': expected seconds >= 0 (0: none), found "
                         f"{FLAGS.heartbeat}")
    dataset = io.load(FLAGS.dataset, root=FLAGS.minari_root)
    env_id = FLAGS.env or dataset.meta.env_id
    if not env_id:
        raise SuiteError(f"bo: flag '--env': {FLAGS.dataset} names no env; expected --env")
    steps = FLAGS.steps
    settings = MBRLBOSettings(
        algo=FLAGS.algo, num_trials=FLAGS.trials, batch_size=FLAGS.batch,
        num_seeds=FLAGS.num_seeds, num_updates=steps,
        eval_every=FLAGS.eval_every if steps % FLAGS.eval_every == 0 else steps,
        # MOPO's and MOBILE's paper minibatch (their Learner.batch_size) unless --batch_size.
        eval_episodes=FLAGS.eval_episodes, train_batch_size=FLAGS.batch_size or 256,
        max_horizon=FLAGS.max_horizon, seed=FLAGS.seed, eval_backend=FLAGS.eval_backend,
        **_bo_model_settings(dataset))
    out = _out_dir("bo")
    summary = run_mbrl_bo(dataset, env_id, out, settings, storage=FLAGS.storage,
                          study_name=FLAGS.study, heartbeat=FLAGS.heartbeat or None)
    fresh = summary["fresh_seeds"]

    def spread(s: dict) -> str:
        lo, hi = s["ci95"]
        return f"{s['mean']:.4g} ± {s['std']:.3g} (95% CI [{lo:.4g}, {hi:.4g}])"

    seeds = fresh["seeds"]
    print_table([("incumbent score (BO trials)", summary["best_value"]),
                 (f"incumbent, seeds {seeds[0]}-{seeds[-1]}", spread(fresh["incumbent"])),
                 ("default config, same seeds", spread(fresh["default"])),
                 ("gain, paired by seed", spread(fresh["gain"])),
                 *summary["best_params"].items(), ("written to", out)])
    return 0


@command("sweep", ("spec", "out", "minari_root", "saco_bins", "method_keys", "reps", "seed",
                   "logger", "num_processes", "process_id"),
         "python -m jaxrl_suite sweep --spec=sweeps/example.py --spec.num_seeds=16")
def sweep_command() -> int:
    """Runs a sweep spec into the results store, skipping records already there, then
    writes its report (rliable aggregates, tables, plots)."""
    from jaxrl_suite.loggers import check_loggers
    from jaxrl_suite.report import tables
    from jaxrl_suite.sweep import runner

    check_loggers(FLAGS.logger)
    if FLAGS.spec is None:
        raise SuiteError("sweep: flag '--spec': expected a spec file such as "
                         "sweeps/example.py, found none")
    spec = runner.spec_from_config(FLAGS.spec)
    out = FLAGS.out or f"results/sweeps/{spec.name}"
    loader = runner.DatasetLoader(spec, FLAGS.minari_root, print)  # each dataset read once
    part = runner.partition(FLAGS.num_processes, FLAGS.process_id)
    summary = runner.run_sweep(spec, out, datasets=loader, loggers=FLAGS.logger, part=part)
    if summary["busy"]:
        print(f"{summary['busy']} program(s) were being trained by other writers; rerun when "
              "they finish (or after one was killed) to complete the store and its report")
    if part is not None:  # one of several processes: the report is written once, by a rerun
        print_table([(k, v) for k, v in summary.items()] + [("results", out)])
        return 0
    quality = runner.dataset_quality_rows(spec, saco_bins=FLAGS.saco_bins or None, loader=loader)
    if quality:
        tables.write_table(out, QUALITY_TABLE, quality, QUALITY_COLUMNS)
    print_table([(k, v) for k, v in summary.items()] + [("results", out)])
    return _report([out], pathlib.Path(out) / "report")


QUALITY_TABLE = "dataset_quality"
QUALITY_COLUMNS = ("env", "dataset", "recipe", "episodes", "transitions", "return_mean", "tq",
                   "saco")


def _report(results: list[str], out: pathlib.Path) -> int:
    """Prints the rliable summary of the records under ``results`` after writing the report
    (tables and plots) to ``out``; a results directory's dataset_quality.csv feeds the TQ/SACo
    scatter."""
    import csv

    from jaxrl_suite.report.summary import write_report
    from jaxrl_suite.sweep.store import load_records

    from jaxrl_suite.report.provenance import provenance_warnings

    records = load_records(results)
    for note in provenance_warnings(records):
        print(f"warning: {note}", file=sys.stderr)
    quality = []
    for r in results:
        path = pathlib.Path(r) / f"{QUALITY_TABLE}.csv"
        if path.exists():
            with path.open() as f:
                quality += [dict(row, tq=float(row["tq"] or "nan"),
                                 saco=float(row["saco"] or "nan")) for row in csv.DictReader(f)]
    md = write_report(records, out, method_keys=tuple(FLAGS.method_keys), reps=FLAGS.reps,
                      seed=FLAGS.seed, dataset_quality_rows=quality or None)
    print(f"\n{len(records)} records from {', '.join(map(str, results))}\n")
    print(md)
    if FLAGS.selection == "ucb":
        from jaxrl_suite.report.selection import write_selection_report
        from jaxrl_suite.sweep.store import load_final_evals

        print("\n" + write_selection_report(
            records, load_final_evals(results), out, method_keys=tuple(FLAGS.method_keys),
            subset=FLAGS.selection_subset, alpha=FLAGS.selection_alpha,
            max_pulls=FLAGS.selection_pulls, repeats=FLAGS.selection_repeats))
    print(f"\nreport written to {out}/")
    return 0


@command("report", ("results", "out", "method_keys", "reps", "seed", "selection",
                    "selection_subset", "selection_alpha", "selection_pulls",
                    "selection_repeats"),
         "python -m jaxrl_suite report --results=results/sweeps/example --selection=ucb")
def report_command() -> int:
    """Writes and prints the rliable report of one or more results directories (with
    --selection=ucb also Unifloral's UCB policy-selection curves)."""
    if not FLAGS.results:
        raise SuiteError("report: flag '--results': expected a results directory, found none")
    return _report(FLAGS.results, pathlib.Path(FLAGS.out or pathlib.Path(FLAGS.results[0]) /
                                               "report"))


@command("demo", ("scale", "minari_root", "out", "saco_bins", "reps"),
         "python -m jaxrl_suite demo --scale=full")
def demo_command() -> int:
    """Runs the suite's main job on its self-generated default datasets: dataset quality,
    learners x uniform/RW sampling with seeds vmapped, the rliable summary and its finding."""
    from jaxrl_suite import demo

    return demo.run(scale=FLAGS.scale, root=FLAGS.minari_root, out=FLAGS.out,
                    saco_bins=FLAGS.saco_bins or None, reps=FLAGS.reps)


HELP_FLAGS = ("--help", "-h", "--help=true", "-help", "help")


OUT_DEFAULTS = {
    "train": "a new runs/train-<algo>-<dataset>-<time>, printed at start",
    "bo": "a new runs/bo-<algo>-<dataset>-<time>, printed at start",
    "sweep": "results/sweeps/<spec name>",
    "report": "<first --results>/report",
    "demo": "results/generated/demo",
}


def _flag_help(name: str, command_name: str) -> str:
    """Returns a flag's help without the command prefixes and absl's additions (enum choices,
    "repeat this option"), which the per-command listing shows its own way."""
    import re

    text = FLAGS[name].help
    text = re.sub(r"^<[^>]*>: ", "", text)
    text = re.sub(r";\s*repeat this option to specify a list of values$", "", text)
    text = re.sub(r"^[a-z]+(/[a-z]+)*: ", "", text)
    if name == "out" and command_name in OUT_DEFAULTS:
        text = f"Output directory (default: {OUT_DEFAULTS[command_name]})."
    return text


def _flag_lines(name: str, command_name: str) -> list[str]:
    import textwrap

    flag = FLAGS[name]
    default = flag.default
    if name == "spec":
        shown = "--spec=<file>   (then --spec.<field>=<value> overrides a field)"
    elif isinstance(default, bool):
        shown = f"--[no]{name}"
    elif getattr(flag.parser, "enum_values", None):
        shown = f"--{name}={'|'.join(flag.parser.enum_values)}"
    else:
        kind = {"int": "int", "float": "float",
                "comma separated list of strings": "a,b,..."}.get(flag.flag_type(), "value")
        shown = f"--{name}=<{kind}>"
    text = _flag_help(name, command_name)
    if name in ("hp", "results"):
        text += " Repeatable."
    if default not in (None, [], "") and "(default" not in text:
        value = ",".join(map(str, default)) if isinstance(default, (list, tuple)) else default
        text += f" (default: {value})"
    return [f"  {shown}", *textwrap.wrap(text, 92, initial_indent=" " * 6,
                                         subsequent_indent=" " * 6)]


def command_help(name: str) -> str:
    """Returns ``<command> --help``'s text: what it does, its own flags with defaults, an
    example."""
    cmd = COMMANDS[name]
    import textwrap

    lines = [f"usage: python -m jaxrl_suite {name} [--flags]", "", *textwrap.wrap(cmd.summary, 96),
             "", "flags:"]
    for flag in (*cmd.flags, *GLOBAL_FLAGS):
        lines += _flag_lines(flag, name)
    lines += ["", "example:", f"  {cmd.example}"]
    return "\n".join(lines)


def overview_help() -> str:
    """Returns ``--help``'s text: the commands with one line each."""
    import textwrap

    width = max(map(len, COMMANDS))
    lines = ["usage: python -m jaxrl_suite <command> [--flags]", "", "commands:"]
    for n, c in COMMANDS.items():
        lines += textwrap.wrap(f"{n:<{width}}  {c.summary}", 94, initial_indent="  ",
                               subsequent_indent=" " * (width + 4))
    lines += ["", "python -m jaxrl_suite <command> --help lists a command's flags and an example."]
    return "\n".join(lines)


def _foreign_flags(name: str) -> list[str]:
    """Returns the suite's flags given on the command line that ``name`` does not read."""
    own = set(COMMANDS[name].flags) | set(GLOBAL_FLAGS)
    suite_flags = {f for c in COMMANDS.values() for f in c.flags}
    return sorted(f for f in suite_flags - own if FLAGS[f].present)


def main(argv: list[str]) -> int:
    # JAX logs its accelerator probing at INFO through absl; users need warnings only.
    logging.set_verbosity(logging.WARNING)
    names = ", ".join(COMMANDS)
    if len(argv) < 2 or argv[1] not in COMMANDS:
        found = argv[1] if len(argv) > 1 else "none"
        print(f"usage: python -m jaxrl_suite <command> [--flags]; command: expected one of "
              f"{names}, found {found} (python -m jaxrl_suite --help lists them)",
              file=sys.stderr)
        return 2
    if len(argv) > 2:
        print(f"{argv[1]}: unexpected positional arguments {argv[2:]} (use --flags)",
              file=sys.stderr)
        return 2
    foreign = _foreign_flags(argv[1])
    if foreign:
        owners = {f: [n for n, c in COMMANDS.items() if f in c.flags] for f in foreign}
        listed = "; ".join(f"--{f} is for {', '.join(o)}" for f, o in owners.items())
        print(f"error: {argv[1]}: {listed}; python -m jaxrl_suite {argv[1]} --help lists its "
              "flags", file=sys.stderr)
        return 2
    try:
        set_matmul_precision(FLAGS.matmul_precision)
        from jaxrl_suite import checkpoint  # orbax: imported once a command runs

        checkpoint.set_interval(FLAGS.checkpoint_interval)
        return COMMANDS[argv[1]].fn()
    except SuiteError as exc:
        if FLAGS.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _hp_dot_flags(argv: list[str]) -> list[str]:
    """Returns argv with ``--hp.name=values`` rewritten as ``--hp=name=values`` for absl."""
    return [f"--hp={a[len('--hp.'):]}" if a.startswith("--hp.") else a for a in argv]


def _help_text(argv: list[str]) -> str | None:
    """Returns the help to print for ``argv`` when it asks for help (absl's --helpfull still
    lists every flag), else None."""
    asked = [a for a in argv[1:] if a in HELP_FLAGS]
    if not asked:
        return None
    named = [a for a in argv[1:] if a in COMMANDS]
    return command_help(named[0]) if named else overview_help()


def run() -> None:
    text = _help_text(sys.argv)
    if text is not None:
        try:
            print(text)
        except BrokenPipeError:  # e.g. piped into head
            pass
        sys.exit(0)
    app.run(main, argv=_hp_dot_flags(sys.argv))
