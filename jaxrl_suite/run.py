"""A training run as the CLI does it: grid expansion, the compiled loop, and its outputs.

Writes to ``out``: ``config.json`` (every setting, the code version and the dataset's content
fingerprint), ``metrics.csv`` (one row per seed x cell x
evaluation: return mean/std, normalised return, diverged flag, mean update metrics),
``final.md`` / ``final.csv`` (per cell: final normalised return, mean and std over seeds; with a
final evaluation also its mean return and normalised return), ``final_returns.npz`` (with
``final_eval_episodes`` > 0: ``returns`` [cells x seeds, episodes] of the final evaluation, row
``cell * num_seeds + s``, with its ``cell`` and ``seed`` per row) and ``checkpoints/`` (orbax; a
rerun with the same ``out`` resumes); with ``loggers`` (``loggers.py``) also ``tensorboard/``
and ``wandb/`` as each chunk ends.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import pathlib
import shutil
import tempfile
from typing import Any, Iterator

import jax
import numpy as np

from jaxrl_suite import distributed
from jaxrl_suite.agents import learner_parts
from jaxrl_suite.agents.base import learner_defaults
from jaxrl_suite.data.io import atomic_write
from jaxrl_suite.model_based import MODEL_BASED, make_model_based
from jaxrl_suite.data.dataset import Dataset
from jaxrl_suite.envs.registry import make_eval_env
from jaxrl_suite.errors import SuiteError
from jaxrl_suite.loggers import Trackers, cell_scalars
from jaxrl_suite.provenance import code_version, matmul_precision
from jaxrl_suite.report import tables
from jaxrl_suite.sweep.grid import cell_temperatures, expand_grid
from jaxrl_suite.train import TrainConfig, make_train, sampling_hparams, stack_hparams, train


def _action_size(discrete: bool, num_actions, action_dim) -> str:
    return f"num_actions {num_actions}" if discrete else f"action_dim {action_dim}"


def _check_env_fits(dataset: Dataset, dataset_name: str, env,
                    goal_dims: tuple[int, ...] | None = ()) -> None:
    """Raises SuiteError unless the dataset's observations and actions fit the eval env (a
    goal-conditioned env observes [observation, goal]: ``goal_dims`` the goal's entries of an
    observation, None all of them, () no goal)."""
    spec, meta = env.spec, dataset.meta
    expected = (tuple(spec.observation_shape),
                _action_size(spec.discrete, spec.num_actions, spec.action_dim))
    observation = tuple(meta.observation_shape)
    if goal_dims != () and len(observation) == 1:
        observation = (observation[0] + (observation[0] if goal_dims is None
                                         else len(goal_dims)),)
    found = (observation, _action_size(meta.discrete, meta.num_actions, meta.action_dim))
    if expected != found:
        raise SuiteError(f"{dataset_name}: field 'observations/actions': expected observation "
                         f"shape {expected[0]} and {expected[1]} (env '{spec.name}'), found "
                         f"{found[0]} and {found[1]}")


def _goal_inputs(algo: str, dataset: Dataset, dataset_name: str, env) -> dict[str, Any]:
    """Returns the learner config fields a goal-conditioned eval env needs (OGBench's
    goal-conditioned envs observe [observation, goal]): ``goal_dims``, the observation entries
    of the oracle goal representation for a "-oraclerep" env, else None (whole observations).
    Raises SuiteError for a learner that takes no goal."""
    if not getattr(env, "goal_conditioned", False):
        return {}
    from jaxrl_suite.envs.ogbench_eval import oracle_goal_dims
    from jaxrl_suite.errors import EnvError

    _, config_cls, _ = learner_parts(algo, discrete=dataset.meta.discrete)
    if "goal_dims" not in {f.name for f in dataclasses.fields(config_cls)}:
        raise SuiteError(f"train: flag '--algo': env '{env.spec.name}' is goal-conditioned "
                         f"(its observations are [observation, goal]) and '{algo}' takes no "
                         "goal: use a goal-conditioned learner (dqc, dqc_ha1, dqc_qc, dqc_ns) or "
                         "single-task data (--ogbench_task=<i>: the env "
                         "<env>-singletask-task<i>-v0)")
    if not getattr(env, "use_oracle_rep", False):
        return {"goal_dims": None}
    try:
        name = env.spec.name.removeprefix("gymnasium/")
        return {"goal_dims": oracle_goal_dims(name, int(dataset.meta.observation_shape[0]))}
    except EnvError as exc:
        raise SuiteError(f"{dataset_name}: {exc}") from None


def _with_histories(algo: str, dataset: Dataset, dataset_name: str, env, history: int,
                    encoder: str) -> tuple[Dataset, Any, dict[str, Any]]:
    """Returns (the dataset as history windows, the eval env observing them, the learner
    config fields that select the encoder); raises SuiteError where a piece does not fit."""
    from jaxrl_suite.envs.history import with_history
    from jaxrl_suite.errors import EnvError
    from jaxrl_suite.nets.history import HISTORY_ENCODERS
    from jaxrl_suite.transforms.history import history_windows, window_length

    if not isinstance(history, int) or history < 1:
        raise SuiteError(f"train: flag '--history': expected an int >= 1, found {history!r}")
    if encoder not in HISTORY_ENCODERS or encoder == "none":
        raise SuiteError(f"train: flag '--history_encoder': expected one of "
                         f"{[e for e in HISTORY_ENCODERS if e != 'none']}, found '{encoder}'")
    if algo in MODEL_BASED:
        raise SuiteError(f"train: flag '--history': model-based learner '{algo}' takes no "
                         "history encoder")
    _, config_cls, _ = learner_parts(algo, discrete=dataset.meta.discrete)
    if "history_encoder" not in {f.name for f in dataclasses.fields(config_cls)}:
        raise SuiteError(f"train: flag '--history': learner '{algo}' has no history encoder "
                         "(bc, cql, iql, xql, fdvl, fdvl_tv have one)")
    try:
        env = with_history(env, history)
    except EnvError as exc:
        raise SuiteError(f"train: flag '--history': {exc}") from None
    if window_length(dataset.meta):
        raise SuiteError(f"train: flag '--history': {dataset_name} holds history windows "
                         "already; expected --history=0")
    return history_windows(dataset, history), env, {"history_encoder": encoder}


def _with_bisimulation(learner, history: int):
    """Returns the learner with the bisimulation loss; SuiteError where it cannot have one."""
    from jaxrl_suite.agents.auxiliary.bisimulation import with_bisimulation

    if not history:
        raise SuiteError("train: flag '--bisimulation': expected --history (the loss shapes a "
                         "history encoder)")
    try:
        return with_bisimulation(learner)
    except ValueError as exc:
        raise SuiteError(f"train: flag '--bisimulation': {exc}") from None


def _references(ref_min, ref_max, dataset: Dataset, spec) -> tuple:
    """Returns (lo, hi): the flags', else the dataset's, else the env's reference returns."""
    for lo, hi in ((ref_min, ref_max), (dataset.meta.ref_min_score, dataset.meta.ref_max_score),
                   (spec.ref_min_score, spec.ref_max_score)):
        if lo is not None and hi is not None:
            return lo, hi
    return None, None


@dataclasses.dataclass(frozen=True)
class ModelOptions:
    """A model-based learner's build options (CLI flags): ``config``, static config fields as
    "name=value" (nested "memory.d_model=32"); the ensemble's size, elites and epoch cap
    (None: the learner's paper values); ``cache``, the ensemble cache directory (None: none)."""

    config: tuple[str, ...] = ()
    members: int | None = None
    elites: int | None = None
    epochs: int | None = None
    cache: str | None = None


def _coerce(name: str, text: str, current: Any) -> Any:
    """Returns ``text`` parsed as the type of the field's ``current`` value."""
    try:
        if isinstance(current, bool):
            if text.lower() not in ("true", "false", "1", "0"):
                raise ValueError(text)
            return text.lower() in ("true", "1")
        if isinstance(current, tuple):
            return tuple(type(current[0])(v) if current else float(v) for v in text.split(","))
        if current is None:
            return None if text.lower() == "none" else float(text) if "." in text else int(text)
        return type(current)(float(text)) if isinstance(current, int) else type(current)(text)
    except ValueError:
        raise SuiteError(f"flag '--model_config': field '{name}': expected a "
                         f"{type(current).__name__}, found '{text}'") from None


def config_overrides(config: Any, specs: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """Returns {field: value} for ``dataclasses.replace(config, **...)`` from "name=value"
    specs; "outer.inner=value" replaces a field of a nested dataclass field. Raises
    SuiteError naming an unknown field or a value of the wrong type."""
    out: dict[str, Any] = {}
    for spec in specs:
        name, sep, text = spec.partition("=")
        if not sep or not name:
            raise SuiteError(f"flag '--model_config': expected name=value, found '{spec}'")
        outer, _, inner = name.partition(".")
        fields = {f.name for f in dataclasses.fields(config)}
        if outer not in fields:
            raise SuiteError(f"flag '--model_config': expected a field of "
                             f"{type(config).__name__} ({sorted(fields)}), found '{outer}'")
        current = out.get(outer, getattr(config, outer))
        if inner:
            if not dataclasses.is_dataclass(current):
                raise SuiteError(f"flag '--model_config': field '{outer}' has no fields")
            out[outer] = dataclasses.replace(current, **config_overrides(current, [
                f"{inner}={text}"]))
        else:
            out[outer] = _coerce(name, text, current)
    return out


def ensemble_config(algo: str, model: ModelOptions) -> Any:
    """Returns the dynamics ensemble config of ``algo`` with the flags' size, elites, epochs."""
    from jaxrl_suite.model_based import default_ensemble_config

    config = default_ensemble_config(algo)
    changes = {name: value for name, value in (("num_members", model.members),
                                               ("num_elites", model.elites),
                                               ("max_epochs", model.epochs)) if value is not None}
    if "num_members" in changes and "num_elites" not in changes:
        changes["num_elites"] = min(config.num_elites, changes["num_members"])
    try:
        return default_ensemble_config(algo, **changes)
    except ValueError as err:
        raise SuiteError(f"flags '--ensemble_*': {err}") from None


def model_overrides(algo: str, dataset: Dataset, model: ModelOptions, num_updates: int,
                    batch_size: int | None, horizon: int) -> dict[str, Any]:
    """Returns the static config fields of model-based ``algo`` from the flags: NEUBAY's run
    length (its cosine decay), env horizon and tape length (--batch_size) first, then
    --model_config."""
    from jaxrl_suite.model_based import model_based_config

    out: dict[str, Any] = {}
    if algo == "neubay":
        out.update(num_updates=num_updates, horizon=horizon)
        if batch_size:
            out["tape_length"] = batch_size
    base = dataclasses.replace(model_based_config(algo, dataset, None, log=lambda _: None),
                               **out)
    out.update(config_overrides(base, model.config))
    return out


@contextlib.contextmanager
def _run_directory(out: str) -> Iterator[pathlib.Path]:
    """Yields the folder a run writes: ``out``, or, on a process other than 0 of a program
    run by several (distributed.py), a scratch folder removed afterwards (process 0 writes)."""
    if distributed.is_main():
        path = pathlib.Path(out)
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    scratch = tempfile.mkdtemp(prefix="jaxrl_suite_rank_")
    try:
        yield pathlib.Path(scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def run_training(*, algo: str, dataset: Dataset, dataset_name: str, env_name: str | None,
                 out: str, num_seeds: int, num_updates: int, eval_every: int,
                 eval_episodes: int, batch_size: int | None, sampling: str,
                 sampling_temperature: float | None, hp_specs: list[str], seed: int = 0,
                 eval_backend: str = "auto", ref_min: float | None = None,
                 ref_max: float | None = None, final_eval_episodes: int = 0,
                 loggers: tuple[str, ...] | list[str] = ("csv",), history: int = 0,
                 history_encoder: str = "stack", bisimulation: bool = False,
                 model: ModelOptions = ModelOptions(), log=print) -> dict[str, Any]:
    """Returns the final per-cell table after training and writing the run directory.

    Normalised returns use ``ref_min``/``ref_max`` where given, else the dataset's reference
    returns, else the eval env's (``envs/registry.py``); NaN where none is known. A
    ``batch_size`` of None takes the learner's paper minibatch (``Learner.batch_size``).
    ``history`` > 0 conditions the learner on windows of the last ``history`` observations
    (``transforms/history.py::history_windows``; the eval env observes the same windows) read
    by its ``history_encoder`` ("stack" | "gru", ``nets/history.py``); ``bisimulation`` adds
    the bisimulation loss on that encoder (``agents/auxiliary/bisimulation.py``; its weight is
    the traced ``bisim_weight``)."""
    env_name = env_name or dataset.meta.env_id
    if not env_name:
        raise SuiteError(f"train: flag '--env': {dataset_name} names no env; expected --env")
    env = make_eval_env(env_name, eval_backend)
    learner_config: dict[str, Any] = {}
    if history:
        dataset, env, learner_config = _with_histories(algo, dataset, dataset_name, env,
                                                       history, history_encoder)
    learner_config.update(_goal_inputs(algo, dataset, dataset_name, env))
    _check_env_fits(dataset, dataset_name, env, goal_dims=learner_config.get("goal_dims", ()))
    if algo in MODEL_BASED:  # the dynamics ensemble is trained on the dataset first
        learner, _ = make_model_based(
            algo, dataset, env_name, jax.random.fold_in(jax.random.PRNGKey(seed), 1),
            ensemble_config=ensemble_config(algo, model),
            config_overrides=model_overrides(algo, dataset, model, num_updates, batch_size,
                                             env.spec.max_episode_steps),
            cache_dir=model.cache and pathlib.Path(model.cache).expanduser(), log=log)
    else:
        # The dataset's action space picks the variant where an id exists for both (bc, cql).
        factory, config_cls, _ = learner_parts(algo, discrete=dataset.meta.discrete)
        learner = factory(config_cls(**learner_config))
        if bisimulation:
            learner = _with_bisimulation(learner, history)
    batch_size = batch_size or learner.batch_size
    # The Dataset Perspective's discount for a discrete learner (0.95 on CartPole), ReBRAC's
    # betas per D4RL task, ...; --hp overrides.
    defaults = learner_defaults(learner, env_name, dataset_name, dataset.meta)
    cells, overrides = expand_grid(defaults, hp_specs)
    config = TrainConfig(num_updates=num_updates, batch_size=batch_size, eval_every=eval_every,
                         eval_episodes=eval_episodes, sampling=sampling,
                         sampling_temperature=sampling_temperature,
                         final_eval_episodes=final_eval_episodes)
    # Cell-major layout: cell c, seed s is row c * num_seeds + s; seed s uses the same key in
    # every cell (common random numbers across the grid).
    keys = jax.vmap(jax.random.PRNGKey)(np.tile(seed + np.arange(num_seeds), len(cells)))
    hparams = stack_hparams([c for c in cells for _ in range(num_seeds)])
    if sampling == "uniform" and any("sampling_temperature" in o for o in overrides):
        raise SuiteError("train: flag '--hp.sampling_temperature': expected --sampling=rw or "
                         "aw (uniform sampling has no temperature), found --sampling=uniform")
    temperatures = cell_temperatures(overrides, config.default_temperature)
    sampler = sampling_hparams(config, len(keys),
                               np.repeat(np.asarray(temperatures), num_seeds))
    checkpoints = pathlib.Path(out) / "checkpoints"  # every process's (orbax: its shards)
    with _run_directory(out) as out_dir:
        settings = dict(algo=algo, dataset=dataset_name, env=env_name, num_seeds=num_seeds,
                        history=history, history_encoder=history_encoder if history else None,
                        bisimulation=bisimulation,
                        num_updates=num_updates, eval_every=eval_every,
                        eval_episodes=eval_episodes, final_eval_episodes=final_eval_episodes,
                        batch_size=batch_size, sampling=sampling,
                        sampling_temperature=sampling_temperature, seed=seed,
                        eval_backend=eval_backend, eval_env=env.spec.name,
                        ref_min=ref_min, ref_max=ref_max,
                        grid=overrides, defaults=dataclasses.asdict(defaults),
                        model=dataclasses.asdict(model) if algo in MODEL_BASED else None,
                        code_version=code_version(), matmul_precision=matmul_precision(),
                        dataset_fingerprint=dataset.fingerprint())
        tables.write_text(out_dir / "config.json", json.dumps(settings, indent=1, default=str))

        from tqdm import tqdm

        lo, hi = _references(ref_min, ref_max, dataset, env.spec)
        normalise = (lambda r: 100.0 * (r - lo) / (hi - lo)) if lo is not None and hi is not None \
            else (lambda r: float("nan"))
        trackers = Trackers(loggers, out_dir, out_dir.name, settings)
        bar = tqdm(total=config.num_chunks, desc=f"{algo} x {len(keys)} cells", unit="chunk")

        def progress(chunk: int, metrics) -> None:
            bar.update(1)
            trackers.log((chunk + 1) * eval_every, cell_scalars(
                metrics.eval_returns, metrics.diverged, metrics.update, num_seeds, normalise))

        try:
            result = train(make_train(learner, env, config), dataset, keys, hparams,
                           sampling=sampler, progress_fn=progress,
                           checkpoint_dir=checkpoints)
        finally:
            bar.close()
            trackers.close()
        rows = []
        for i in range(len(keys)):
            cell, s = divmod(i, num_seeds)
            for j, step in enumerate(result.eval_steps):
                returns = result.eval_returns[i, j]
                rows.append(dict(cell=cell, seed=seed + s, **overrides[cell], step=int(step),
                                 return_mean=float(np.mean(returns)),
                                 return_std=float(np.std(returns)),
                                 normalized_return=float(normalise(np.mean(returns))),
                                 diverged=bool(result.diverged[i]),
                                 **{k: float(v[i, j]) for k, v in result.update_metrics.items()}))
        columns = list(rows[0]) if rows else []
        tables.write_text(out_dir / "metrics.csv", tables.csv_text(rows, columns))

        final = []
        last = result.eval_returns[:, -1].mean(axis=-1).reshape(len(cells), num_seeds)
        diverged = result.diverged.reshape(len(cells), num_seeds)
        if result.final_returns is not None:
            cell_of, seed_of = np.divmod(np.arange(len(keys)), num_seeds)

            def write_final_returns(tmp: str) -> None:
                with open(tmp, "wb") as f:  # a file object: np.savez would append ".npz"
                    np.savez_compressed(f, returns=result.final_returns, cell=cell_of,
                                        seed=seed + seed_of)

            atomic_write(out_dir / "final_returns.npz", write_final_returns)
            final_eval = result.final_returns.mean(axis=-1).reshape(len(cells), num_seeds)
        for c, override in enumerate(overrides):
            scores = np.array([normalise(r) for r in last[c]])
            ok = ~diverged[c]
            row = dict(cell=c, **override, seeds=num_seeds, diverged=int(diverged[c].sum()),
                       return_mean=float(np.mean(last[c][ok])) if ok.any() else float("nan"),
                       normalized_mean=float(np.mean(scores[ok])) if ok.any() else float("nan"),
                       normalized_std=float(np.std(scores[ok])) if ok.any() else float("nan"))
            if result.final_returns is not None:  # the mean over seeds of each one's episodes
                mean = float(np.mean(final_eval[c][ok])) if ok.any() else float("nan")
                row.update(final_eval_return=mean, final_eval_normalized=float(normalise(mean)))
            final.append(row)
        final_columns = list(final[0])
        md = tables.write_table(out_dir, "final", final, final_columns)
        log(f"\n{algo} on {dataset_name}: {len(cells)} cells x {num_seeds} seeds, "
            f"{num_updates} updates each, {result.seconds:.1f} s "
            f"({len(keys) * num_updates / result.seconds:,.0f} cell-updates/s incl. evaluation)\n")
        log(md)
        log(f"\nwritten to {out_dir}")
        return dict(final=final, seconds=result.seconds)
