"""Sweeps: algorithms x datasets x sampling x hyperparameter cells x seeds, run as a few compiled
programs whose results land in the append-only results store.

A *program* is everything that shares one compiled training loop: one (algorithm, dataset,
sampling scheme). All its hyperparameter cells (grid points and random draws) and seeds are
rows of one vmapped run; programs run one after another, and each one's cell axis is sharded
over the local devices when there are several (``train.train``). A re-run first hashes every
row's config and trains only the rows the store lacks; a program killed mid-way resumes from its
last chunk checkpoint (``checkpoints/<program>/``), so a kill loses at most one chunk of work.

With ``final_eval_episodes`` > 0 every trained policy ends with a final evaluation of that many
episodes (``train.final_evaluate``); its record gets ``final_eval_return``/``final_eval_score``
(the mean) and the per-episode returns in ``records/<hash>.npz``, which ``report
--selection=ucb`` draws online evaluations from. The field enters a record's config (and hash)
only when it is > 0, so specs without it keep the hashes of the records they already wrote.

A spec is a ``SweepSpec`` (below); ``sweeps/*.py`` hold them as ml_collections configs
(``get_config()``), turned into a SweepSpec by ``spec_from_config``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import importlib
import itertools
import json
import pathlib
import shutil
import time
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from jaxrl_suite.data.io import atomic_write
from jaxrl_suite.errors import SuiteError
from jaxrl_suite.sweep.grid import SAMPLING_AXES, expand_grid, parse_values
from jaxrl_suite.sweep.store import ResultsStore, config_hash, writer_tag

SAMPLING = ("uniform", "rw", "aw")
ALL_ALGOS = "*"  # a grid/random key that applies to every algorithm with the field
AUXILIARY = ("bisimulation",)  # SweepSpec.auxiliary


@dataclasses.dataclass(frozen=True)
class SweepSpec:
    """What to run. ``datasets``: ``<env>/<recipe>`` names of the generated ``suite`` (built if
    missing), or any path / Minari id ``data.io.load`` accepts. ``grid``: per algorithm id (or
    "*" for all that have the field) a tuple of ``name=v1,v2`` / ``name=lo:hi:n`` axes whose
    product forms the cells. ``random``: per algorithm id (or "*") ``name -> distribution``
    (``uniform:lo:hi``, ``loguniform:lo:hi``, ``choice:a,b,c``), of which ``num_random``
    draws are crossed with the grid. ``hidden_sizes`` replaces every learner's network widths
    (static, so a CPU-sized sweep can shrink them). ``final_eval_episodes``: episodes of each
    trained policy's final evaluation (0: none, the default, so sweeps stay as fast as
    before; Unifloral uses 1,000)."""

    name: str
    algos: tuple[str, ...]
    datasets: tuple[str, ...]
    suite: str | None = "default"
    sampling: tuple[str, ...] = ("uniform",)
    sampling_temperature: float | None = None
    grid: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    random: Mapping[str, Mapping[str, str]] = dataclasses.field(default_factory=dict)
    num_random: int = 0
    num_seeds: int = 4
    num_updates: int = 100_000
    eval_every: int = 5_000
    eval_episodes: int = 10
    batch_size: int = 256
    hidden_sizes: tuple[int, ...] | None = None
    learner_config: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    ensemble: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    # Where trained dynamics ensembles are kept and reused (model_based/cache.py); None: no
    # cache. Not part of any record: a cached ensemble is the one training would give.
    ensemble_cache: str | None = None
    seed: int = 0
    eval_backend: str = "auto"  # jax | host | auto: registry.resolve_eval_backend
    final_eval_episodes: int = 0
    # Auxiliary losses added to every learner ("bisimulation": agents/auxiliary/, on the
    # learner's history encoder; its bisim_* hparams become grid fields).
    auxiliary: tuple[str, ...] = ()

    def __post_init__(self):
        where = f"sweep spec '{self.name}'"
        for field in ("algos", "datasets", "sampling"):
            if not getattr(self, field):
                raise SuiteError(f"{where}: field '{field}': expected at least one entry")
        bad = sorted(set(self.sampling) - set(SAMPLING))
        if bad:
            raise SuiteError(f"{where}: field 'sampling': expected entries of {SAMPLING}, "
                             f"found {bad}")
        for field in ("num_seeds", "num_updates", "eval_every", "eval_episodes", "batch_size"):
            if getattr(self, field) < 1:
                raise SuiteError(f"{where}: field '{field}': expected >= 1, found "
                                 f"{getattr(self, field)}")
        if self.final_eval_episodes < 0:
            raise SuiteError(f"{where}: field 'final_eval_episodes': expected >= 0 (0: no final "
                             f"evaluation), found {self.final_eval_episodes}")
        if self.num_updates % self.eval_every:
            raise SuiteError(f"{where}: fields 'num_updates'/'eval_every': expected num_updates "
                             f"a multiple of eval_every, found {self.num_updates} and "
                             f"{self.eval_every}")
        unknown = sorted((set(self.grid) | set(self.random)) - set(self.algos) - {ALL_ALGOS})
        if unknown:
            raise SuiteError(f"{where}: fields 'grid'/'random': keys {unknown} name no algorithm "
                             f"of the sweep {list(self.algos)} (or '{ALL_ALGOS}')")
        bad = sorted(set(self.auxiliary) - set(AUXILIARY))
        if bad:
            raise SuiteError(f"{where}: field 'auxiliary': expected entries of "
                             f"{list(AUXILIARY)}, found {bad}")
        unknown = sorted(set(self.learner_config) - _config_fields(self.algos))
        if unknown:
            raise SuiteError(f"{where}: field 'learner_config': keys {unknown} are fields of no "
                             f"algorithm's config in {list(self.algos)}")


def _config_fields(algos: Sequence[str]) -> set[str]:
    """Returns the names of every config field of the known ``algos`` (both action-space
    variants where an id has two; an unknown id adds nothing: it is refused where it runs)."""
    from jaxrl_suite.agents import learner_parts
    from jaxrl_suite.model_based import MODEL_BASED

    names: set[str] = set()
    for algo in algos:
        if algo in MODEL_BASED:
            names |= _field_names(MODEL_BASED, algo)
            continue
        for discrete in (False, True):
            try:
                _, config_cls, _ = learner_parts(algo, discrete=discrete)
            except SuiteError:  # no such variant
                continue
            names |= {f.name for f in dataclasses.fields(config_cls)}
    return names


def _as_tuple(value: Any) -> tuple:
    """Returns a tuple of entries; strings split on commas (a flag ``--spec.algos=a,b`` arrives
    as the 1-tuple ("a,b",))."""
    items = [value] if isinstance(value, str) else list(value)
    out = []
    for item in items:
        out += [v.strip() for v in item.split(",") if v.strip()] if isinstance(item, str) \
            else [item]
    return tuple(out)


def spec_from_config(config: Any) -> SweepSpec:
    """Returns the SweepSpec of an ml_collections ConfigDict (or any mapping) of its fields;
    raises SuiteError naming unknown fields."""
    data = config.to_dict() if hasattr(config, "to_dict") else dict(config)
    fields = {f.name for f in dataclasses.fields(SweepSpec)}
    unknown = sorted(set(data) - fields)
    if unknown:
        raise SuiteError(f"sweep spec: fields {unknown}: expected fields of {sorted(fields)}")
    for name in ("algos", "datasets", "sampling", "auxiliary"):
        if name in data:
            data[name] = _as_tuple(data[name])
    if data.get("hidden_sizes") is not None:
        data["hidden_sizes"] = tuple(int(h) for h in _as_tuple(data["hidden_sizes"]))
    # Grid axes keep their commas (name=v1,v2): one axis per entry.
    data["grid"] = {k: (v,) if isinstance(v, str) else tuple(v)
                    for k, v in dict(data.get("grid") or {}).items()}
    data["random"] = {k: dict(v) for k, v in dict(data.get("random") or {}).items()}
    for name in ("learner_config", "ensemble"):  # ConfigDict lists -> the tuples configs use
        data[name] = {k: tuple(v) if isinstance(v, list) else v
                      for k, v in dict(data.get(name) or {}).items()}
    return SweepSpec(**data)


# ---------------------------------------------------------------------------------------------
# Expansion


def _draw(rng: np.random.RandomState, where: str, text: str) -> float:
    kind, _, args = text.partition(":")
    try:
        if kind == "uniform":
            lo, hi = (float(v) for v in args.split(":"))
            return float(rng.uniform(lo, hi))
        if kind == "loguniform":
            lo, hi = (float(v) for v in args.split(":"))
            return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
        if kind == "choice":
            values = parse_values(where, args)
            return float(values[rng.randint(len(values))])
    except (ValueError, TypeError):
        pass
    raise SuiteError(f"{where}: expected uniform:lo:hi, loguniform:lo:hi or choice:a,b, "
                     f"found '{text}'")


def hparam_cells(spec: SweepSpec, algo: str, defaults: Any) -> tuple[list[Any], list[dict]]:
    """Returns (hparams cells, their overrides) of ``algo``: the grid's product crossed with
    ``num_random`` random draws (seeded by the spec's seed and the algorithm, so adding another
    algorithm leaves these draws unchanged)."""
    fields = {f.name for f in dataclasses.fields(defaults)}
    axes = [a for a in spec.grid.get(ALL_ALGOS, ())
            if a.split("=", 1)[0] in fields | set(SAMPLING_AXES)]
    axes += list(spec.grid.get(algo, ()))
    cells, overrides = expand_grid(defaults, axes)
    dists = {n: d for n, d in spec.random.get(ALL_ALGOS, {}).items() if n in fields}
    dists.update(spec.random.get(algo, {}))
    if not dists or spec.num_random == 0:
        return cells, overrides
    for name in dists:
        if name not in fields:
            raise SuiteError(f"sweep spec '{spec.name}': field 'random.{algo}.{name}': expected "
                             f"one of {sorted(fields)}")
    rng = np.random.RandomState(int(config_hash(dict(seed=spec.seed, algo=algo)), 16) % 2**32)
    draws = [{n: _draw(rng, f"sweep spec '{spec.name}': field 'random.{algo}.{n}'", d)
              for n, d in sorted(dists.items())} for _ in range(spec.num_random)]
    out_cells, out_overrides = [], []
    for base, draw in itertools.product(overrides, draws):
        out_overrides.append({**base, **draw})
        out_cells.append(defaults.replace(**out_overrides[-1]))
    return out_cells, out_overrides


@dataclasses.dataclass
class Program:
    """One compiled run: an (algorithm, dataset, sampling) with its rows (cells x seeds)."""

    algo: str
    dataset: str
    sampling: str
    rows: list[dict[str, Any]]  # each: config (the record's), hparams (struct), hash


# Config fields a record leaves out at the value its learner ran before the field existed, by
# config class: a record without them ran that value. CQL's networks were flax's with the
# tanh-squashed log std until session 16 made JaxCQL's its default; its earlier records keep
# their hash and say what they ran, and a run at today's default stores the field.
RECORD_ABSENT_VALUES: dict[str, dict[str, Any]] = {
    "jaxrl_suite.agents.cql.CQLConfig": {"param_init": "flax", "log_std_bound": "tanh"},
}


def _absent_values(config_cls: type) -> dict[str, Any]:
    return RECORD_ABSENT_VALUES.get(f"{config_cls.__module__}.{config_cls.__qualname__}", {})


def _record_learner_config(config: Any) -> dict[str, Any]:
    """Returns a learner config as records store it: without the history-encoder fields when
    there is no encoder, and without a ``RECORD_ABSENT_VALUES`` field at its earlier value, so
    records written before those fields existed keep their hash."""
    out = _jsonable(config)
    if out.get("history_encoder") == "none":
        out.pop("history_encoder")
        out.pop("history_hidden", None)
    absent = _absent_values(type(config))
    if all(out.get(k) == v for k, v in absent.items()):
        for k in absent:
            out.pop(k, None)
    return out


def learner_config_of_record(config_cls: Any, stored: Mapping[str, Any]) -> Any:
    """Returns the ``config_cls`` instance a record's ``learner_config`` describes (the fields
    it leaves out at their earlier values, ``RECORD_ABSENT_VALUES``, the rest as stored)."""
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in stored.items()}
    for k, v in _absent_values(config_cls).items():
        values.setdefault(k, v)
    return config_cls(**values)


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (bool, int, str)) or value is None:
        return value
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.ndarray) and value.size == 1:
        return value.item()
    if callable(value):  # by name: a repr with a memory address would change every hash
        return f"{getattr(value, '__module__', '')}.{getattr(value, '__qualname__', '')}"
    return str(value)


class DatasetLoader:
    """Loads each dataset a spec names once (building the spec's suite first when it is
    missing); share one between ``run_sweep`` and ``dataset_quality_rows`` to read each once."""

    def __init__(self, spec: SweepSpec, root: Any, log: Callable[[str], None],
                 preloaded: Mapping[str, Any] | None = None):
        self.spec, self.root, self.log = spec, root, log
        self.cache: dict[str, Any] = dict(preloaded or {})
        self.preloaded = set(self.cache)
        self.built: set[str] = set()  # envs whose suite datasets are built (or cached)

    def resolve(self, name: str) -> str:
        """Returns what ``data.io.load`` is given for ``name``."""
        from jaxrl_suite.envs.registry import make_env
        from jaxrl_suite.generate.suite import dataset_id

        env, sep, recipe = name.rpartition("/")
        if name in self.preloaded:
            return name
        if sep and self.spec.suite and not pathlib.Path(name).exists():
            try:
                make_env(env)
            except SuiteError:
                return name
            return dataset_id(self.spec.suite, env, recipe)
        return name

    def load(self, name: str):
        from jaxrl_suite.data import io
        from jaxrl_suite.generate.suite import build_suite

        if name not in self.cache:
            target = self.resolve(name)
            env = name.rpartition("/")[0]
            if target != name and env not in self.built:
                # Only this env's datasets: a sweep over one env of a suite builds no other.
                build_suite(self.spec.suite, self.root, envs=(env,), log=self.log)
                self.built.add(env)
            self.cache[name] = io.load(target, root=self.root)
        return self.cache[name]


class _LearnerSlot:
    """A program's learner, built on first use. ``config`` (which records hash) is known up
    front; a model-based learner trains its dynamics ensemble only when ``get`` is first
    called, so a re-run whose records are all done trains no model."""

    def __init__(self, config: Any, default_hparams: Any, discrete: bool,
                 build: Callable[[], Any], dataset_hparams: Callable[..., Any] | None = None):
        self.config, self.default_hparams, self.discrete = config, default_hparams, discrete
        self.dataset_hparams = dataset_hparams  # as ``Learner``'s: read by learner_defaults
        self._build, self._learner = build, None

    def get(self) -> Any:
        if self._learner is None:
            self._learner = self._build()
        return self._learner


def _learner(spec: SweepSpec, algo: str, dataset: Any, env_name: str, log) -> _LearnerSlot:
    """Returns the learner slot of ``algo`` for ``dataset`` (a model-based one trains its
    dynamics ensemble on first use, once per dataset)."""
    import jax

    from jaxrl_suite.agents import learner_parts
    from jaxrl_suite.model_based import (MODEL_BASED, default_ensemble_config, make_model_based,
                                         model_based_config)

    overrides = {} if spec.hidden_sizes is None else {"hidden_sizes": spec.hidden_sizes}
    if algo == "neubay":  # its cosine decay spans the run; rollouts end at the env's limit
        from jaxrl_suite.envs.registry import env_spec

        overrides.update(num_updates=spec.num_updates, tape_length=spec.batch_size,
                         horizon=env_spec(env_name).max_episode_steps)
    overrides.update(spec.learner_config)
    if algo in MODEL_BASED:
        fields = _field_names(MODEL_BASED, algo)
        config_overrides = {k: v for k, v in overrides.items() if k in fields}
        config = model_based_config(algo, dataset, config_overrides, log=lambda _: None)

        def build():
            learner, _ = make_model_based(
                algo, dataset, env_name, jax.random.fold_in(jax.random.PRNGKey(spec.seed), 1),
                log=log, ensemble_config=default_ensemble_config(algo, **spec.ensemble),
                config_overrides=config_overrides, cache_dir=spec.ensemble_cache)
            return learner  # its config is ``config``: the same function of the same inputs

        module = importlib.import_module(f"jaxrl_suite.model_based.{MODEL_BASED[algo].module}")
        return _LearnerSlot(config, getattr(module, MODEL_BASED[algo].hparams)(), False, build)
    factory, config_cls, _ = learner_parts(algo, discrete=dataset.meta.discrete)
    fields = {f.name for f in dataclasses.fields(config_cls)}
    chosen = {k: v for k, v in overrides.items() if k in fields}
    try:
        learner = factory(config_cls(**chosen))
    except (ValueError, TypeError) as e:  # a config value the learner refuses
        raise SuiteError(f"sweep spec '{spec.name}': field 'learner_config' for {algo}: "
                         f"{chosen}: {e}") from None
    if "bisimulation" in spec.auxiliary:
        from jaxrl_suite.agents.auxiliary.bisimulation import with_bisimulation

        try:
            learner = with_bisimulation(learner)
        except ValueError as e:
            raise SuiteError(f"sweep spec '{spec.name}': field 'auxiliary' for {algo}: {e}"
                             ) from None
    return _LearnerSlot(learner.config, learner.default_hparams, learner.discrete,
                        lambda: learner, learner.dataset_hparams)


def _field_names(registry: Mapping[str, Any], algo: str) -> set[str]:
    entry = registry[algo]
    module = importlib.import_module(f"jaxrl_suite.model_based.{entry.module}")
    return {f.name for f in dataclasses.fields(getattr(module, entry.config))}


def _run_name(spec: SweepSpec, program: Any) -> str:
    """Returns a program's folder name for the live loggers: sweep, algo, dataset, sampling."""
    name = f"{spec.name}-{program.algo}-{program.dataset}-{program.sampling}"
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _normaliser(dataset: Any) -> Callable[[float], float | None]:
    lo, hi = dataset.meta.ref_min_score, dataset.meta.ref_max_score
    if lo is None or hi is None or hi == lo:
        return lambda r: None
    return lambda r: 100.0 * (r - lo) / (hi - lo)


def expand(spec: SweepSpec, datasets: DatasetLoader, log=print
           ) -> list[tuple[Program, _LearnerSlot]]:
    """Returns every program of ``spec`` with its learner slot (loading the datasets; no
    dynamics model is trained here)."""
    from jaxrl_suite.agents.base import learner_defaults
    from jaxrl_suite.envs.registry import host_twin, resolve_eval_backend
    from jaxrl_suite.model_based import MODEL_BASED

    programs = []
    learners: dict[tuple, Any] = {}  # model-free learners are shared, so compiles are too
    for dataset_name in spec.datasets:
        dataset = datasets.load(dataset_name)
        env_name = dataset.meta.env_id
        if not env_name:
            raise SuiteError(f"{dataset_name}: field 'env_id': expected the dataset to name its "
                             "evaluation env, found none")
        eval_backend = resolve_eval_backend(env_name, spec.eval_backend)
        for algo in spec.algos:
            key = (algo, dataset_name if algo in MODEL_BASED else dataset.meta.discrete)
            if key not in learners:
                learners[key] = _learner(spec, algo, dataset, env_name, log)
            learner = learners[key]
            defaults = learner_defaults(learner, env_name, dataset_name, dataset.meta)
            cells, overrides = hparam_cells(spec, algo, defaults)
            for sampling in spec.sampling:
                rows = []
                for cell, override in zip(cells, overrides):
                    for s in range(spec.num_seeds):
                        config = dict(
                            sweep=spec.name, algo=algo, dataset=dataset_name, env=env_name,
                            sampling=sampling, sampling_temperature=spec.sampling_temperature,
                            hparams=_jsonable(cell), overrides=_jsonable(override),
                            seed=spec.seed + s, num_updates=spec.num_updates,
                            batch_size=spec.batch_size, eval_every=spec.eval_every,
                            eval_episodes=spec.eval_episodes,
                            learner_config=_record_learner_config(learner.config),
                            dataset_source=datasets.resolve(dataset_name),
                            dataset_transitions=int(dataset.rewards.shape[0]))
                        if algo in MODEL_BASED:  # the dynamics model the learner rolls out
                            config["ensemble"] = _jsonable(spec.ensemble)
                        if eval_backend != "jax" or host_twin(env_name):
                            # MJX and C MuJoCo scores are not one measurement: keep them apart
                            # (configs of envs evaluated only in-jit keep their hash).
                            config["eval_backend"] = eval_backend
                        if spec.final_eval_episodes:
                            # Absent when 0: records written before the field keep their hash.
                            config["final_eval_episodes"] = spec.final_eval_episodes
                        if spec.auxiliary:  # absent when none, as above
                            config["auxiliary"] = list(spec.auxiliary)
                        rows.append(dict(config=config, hparams=cell, hash=config_hash(config),
                                         temperature=override.get(
                                             "sampling_temperature",
                                             spec.sampling_temperature)))
                programs.append((Program(algo, dataset_name, sampling, rows), learner))
    return programs


# ---------------------------------------------------------------------------------------------
# Running


def _records(program: Program, rows: list[dict], result: Any, dataset: Any,
             fingerprint: str | None = None) -> list[dict]:
    from jaxrl_suite.provenance import code_version, matmul_precision

    normalise = _normaliser(dataset)
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    out = []
    for i, row in enumerate(rows):
        returns = result.eval_returns[i].mean(axis=-1)  # [evaluations]
        scores = [normalise(float(r)) for r in returns]
        record = dict(
            hash=row["hash"], config=row["config"],
            curve=dict(step=[int(s) for s in result.eval_steps],
                       return_mean=[float(r) for r in returns], score=scores),
            final_return=float(returns[-1]), final_score=scores[-1],
            diverged=bool(result.diverged[i]), diverged_at=int(result.diverged_at[i]),
            metrics={k: float(v[i, -1]) for k, v in result.update_metrics.items()},
            program=dict(rows=len(rows), seconds=float(result.seconds)), created=now,
            # Outside the config: provenance does not change what a record is (its hash).
            code_version=code_version(), matmul_precision=matmul_precision(),
            dataset_fingerprint=fingerprint)
        if result.final_returns is not None:
            final = float(np.mean(result.final_returns[i]))
            record.update(final_eval_return=final, final_eval_score=normalise(final),
                          final_eval=dict(episodes=int(result.final_returns.shape[1]),
                                          returns_file=f"{row['hash']}.npz"))
        out.append(record)
    return out


def _final_evals(result: Any, dataset: Any) -> list[dict[str, np.ndarray]] | None:
    """Returns per row the final evaluation's returns [E] and, where the dataset has reference
    returns, their normalised scores [E] (None without a final evaluation)."""
    if result.final_returns is None:
        return None
    normalise = _normaliser(dataset)  # works on arrays too; None without references
    return [{"returns": r, **({} if normalise(r) is None else {"scores": normalise(r)})}
            for r in result.final_returns]


def _program_hash(program: Program) -> str:
    """Returns a program's key (its checkpoint directory's and claim's name): the hash of its
    full row set."""
    return config_hash({"rows": sorted(r["hash"] for r in program.rows)})


def _checkpoint_dir(store: ResultsStore, program: Program) -> pathlib.Path:
    """Returns a program's checkpoint directory, keyed by its full row set."""
    return store.checkpoint_dir(_program_hash(program))


def _discard_checkpoint(directory: pathlib.Path) -> None:
    """Removes a program's checkpoint and its rows file, and the checkpoints folder once no
    program is mid-way. Also called for a program found done: a kill after its records were
    written but before this ran leaves them behind."""
    directory.with_suffix(".rows.json").unlink(missing_ok=True)
    shutil.rmtree(directory, ignore_errors=True)
    with contextlib.suppress(OSError):
        directory.parent.rmdir()


def _resumable_rows(store: ResultsStore, program: Program, todo: list[dict]
                    ) -> tuple[pathlib.Path, list[dict]]:
    """Returns (checkpoint directory, rows to train) of a program. The directory is keyed by
    the program's full row set and ``<dir>.rows.json`` names the rows its checkpoint holds: a
    run killed while writing its records resumes those same rows (the store skips the records
    already written) instead of orphaning the checkpoint and training the rest anew."""
    directory = _checkpoint_dir(store, program)
    rows_file = directory.with_suffix(".rows.json")
    by_hash = {r["hash"]: r for r in program.rows}
    if rows_file.exists():
        saved = json.loads(rows_file.read_text())
        if set(saved) <= set(by_hash) and {r["hash"] for r in todo} <= set(saved):
            return directory, [by_hash[h] for h in saved]
        shutil.rmtree(directory, ignore_errors=True)  # holds other rows: start afresh
    directory.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(rows_file, lambda tmp: pathlib.Path(tmp).write_text(
        json.dumps([r["hash"] for r in todo])), tag=writer_tag())
    return directory, todo


def _refuse_other_contents(store: ResultsStore, programs: Sequence[tuple[Any, Any]],
                           done: set[str], datasets: DatasetLoader,
                           fingerprints: dict[str, str]) -> None:
    """Raises SuiteError, before anything is trained, when the run would train rows beside
    done records of its programs whose dataset had other contents (a regenerated suite, a
    replaced file: record hashes key a dataset by name and size, not by content), so that one
    dataset name never holds results of two contents. A run with nothing to train merges
    nothing and is not checked. Fills ``fingerprints`` (dataset name -> content hash)."""
    if all(r["hash"] in done for program, _ in programs for r in program.rows):
        return
    with_done = [p for p, _ in programs if any(r["hash"] in done for r in p.rows)]
    stored = {r["hash"]: r.get("dataset_fingerprint") for r in store.records()} \
        if with_done else {}
    for program in with_done:
        if program.dataset not in fingerprints:
            fingerprints[program.dataset] = datasets.load(program.dataset).fingerprint()
        now = fingerprints[program.dataset]
        for row in program.rows:
            old = stored.get(row["hash"])
            if old and old != now:
                raise SuiteError(
                    f"{store.root}: record {row['hash']} ({program.algo} on {program.dataset}) "
                    f"was trained on other contents of that dataset (fingerprint {old[:12]}, "
                    f"now {now[:12]}: regenerated or replaced); new results would be merged "
                    "with it under one name: train into a fresh results directory (--out) or "
                    "remove the old records")


def partition(num_processes: int | None = None, process_id: int | None = None,
              environ: Mapping[str, str] | None = None) -> tuple[int, int] | None:
    """Returns (process_id, num_processes) of a partitioned sweep, or None for a whole one:
    from the flags when given, else from a SLURM job array (``SLURM_ARRAY_TASK_ID`` minus
    ``SLURM_ARRAY_TASK_MIN`` of ``SLURM_ARRAY_TASK_COUNT``). Raises SuiteError on a bad
    pair."""
    import os

    env = os.environ if environ is None else environ
    if num_processes is None and process_id is None and "SLURM_ARRAY_TASK_ID" in env:
        try:
            process_id = int(env["SLURM_ARRAY_TASK_ID"]) - int(env.get("SLURM_ARRAY_TASK_MIN",
                                                                       "0"))
            num_processes = int(env["SLURM_ARRAY_TASK_COUNT"])
        except (KeyError, ValueError):
            raise SuiteError("sweep: SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT / "
                             "_MIN are missing or not integers; pass --num_processes and "
                             "--process_id") from None
    if num_processes is None and process_id is None:
        return None
    if num_processes is None or process_id is None:
        raise SuiteError("sweep: flags '--num_processes' and '--process_id': expected both or "
                         f"neither, found {num_processes=} and {process_id=}")
    if num_processes < 1 or not 0 <= process_id < num_processes:
        raise SuiteError("sweep: flags '--num_processes'/'--process_id': expected "
                         f"0 <= process_id < num_processes, found {process_id} of "
                         f"{num_processes}")
    return process_id, num_processes


def run_sweep(spec: SweepSpec, out: str | pathlib.Path, *, root: Any = None,
              log: Callable[[str], None] = print, progress: bool = True,
              stop_after_chunks: int | None = None,
              datasets: Mapping[str, Any] | DatasetLoader | None = None,
              loggers: Sequence[str] = ("csv",),
              part: tuple[int, int] | None = None) -> dict[str, Any]:
    """Returns {"programs", "trained", "skipped", "busy", "records", "seconds"} after running
    every row of ``spec`` that the store at ``out`` lacks and no other writer is training.

    Several processes may run one spec into one store at once. ``part`` = (process_id,
    num_processes) gives this process the programs n with n % num_processes == process_id
    (``partition``); without it, it takes every program not claimed by another writer. A
    program another process holds is skipped and counted in ``busy`` (rerun to pick up what a
    killed writer left: its claim is released with it). ``datasets`` supplies in-memory Datasets
    by the names the spec uses (derived datasets, e.g. relabelled ones), or a DatasetLoader
    of the spec to share; other names load as ``SweepSpec`` says. ``stop_after_chunks`` stops
    the first program that trains after that many chunks, as a kill would (for tests).
    ``loggers``: live sinks (``loggers.py``) for each program that trains, its scalars the mean
    over the program's rows (tag ``cell0``), under ``out``/tensorboard|wandb/<program>."""
    from tqdm import tqdm

    from jaxrl_suite.envs.history import with_history
    from jaxrl_suite.envs.registry import make_eval_env
    from jaxrl_suite.loggers import Trackers, cell_scalars, check_loggers
    from jaxrl_suite.transforms.history import window_length
    from jaxrl_suite.train import (
        TrainConfig, make_train, sampling_hparams, stack_hparams, train)

    check_loggers(loggers)

    import jax

    store = ResultsStore(out)
    if not isinstance(datasets, DatasetLoader):
        datasets = DatasetLoader(spec, root, log, datasets)
    programs = expand(spec, datasets, log)
    config = TrainConfig(num_updates=spec.num_updates, batch_size=spec.batch_size,
                         eval_every=spec.eval_every, eval_episodes=spec.eval_episodes,
                         final_eval_episodes=spec.final_eval_episodes)
    # One compiled loop per (learner, env, history window, sampling), dropped after the last
    # program that trains with it: a compiled XLA CPU program holds hundreds of memory
    # mappings, and a study keeping all of them crashed in LLVM ("Cannot allocate memory")
    # after ~75 programs at Linux's default vm.max_map_count (65,530).
    trainers: dict[tuple, Any] = {}

    def trainer_key(program, slot) -> tuple:
        meta = datasets.load(program.dataset).meta
        return id(slot), meta.env_id, window_length(meta), program.sampling

    fingerprints: dict[str, str] = {}  # content hash per dataset name, computed once
    start = time.perf_counter()
    trained = skipped = busy = written = 0
    mine = [n for n in range(len(programs)) if part is None or n % part[1] == part[0]]
    owner = dict(sweep=spec.name, process_id=None if part is None else part[0],
                 num_processes=None if part is None else part[1])
    with store.writing():
        done = store.done()
        _refuse_other_contents(store, [programs[n] for n in mine], done, datasets,
                               fingerprints)
        last_use = {trainer_key(*programs[n]): n for n in mine
                    if any(r["hash"] not in done for r in programs[n][0].rows)}
        for n in mine:
            program, slot = programs[n]
            label = f"[{n + 1}/{len(programs)}] {program.algo} on {program.dataset} " \
                    f"({program.sampling})"
            program_hash = _program_hash(program)
            if all(r["hash"] in done for r in program.rows):
                skipped += 1
                claim = store.claim(program_hash, owner)
                if claim is not None:  # a kill after the records leaves the checkpoint behind
                    _discard_checkpoint(_checkpoint_dir(store, program))
                    claim.release()
                log(f"{label}: all {len(program.rows)} records done, skipped")
                continue
            claim = store.claim(program_hash, owner)
            if claim is None:
                busy += 1
                holder = store.claim_owner(program_hash) or {}
                log(f"{label}: being trained by another writer "
                    f"({holder.get('host', '?')}, pid {holder.get('pid', '?')}), skipped")
                continue
            try:
                done = store.done()  # what others finished since
                todo = [r for r in program.rows if r["hash"] not in done]
                if not todo:
                    skipped += 1
                    _discard_checkpoint(_checkpoint_dir(store, program))
                    log(f"{label}: all {len(program.rows)} records done, skipped")
                    continue
                dataset = datasets.load(program.dataset)
                env = make_eval_env(dataset.meta.env_id, spec.eval_backend)
                window = window_length(dataset.meta)
                if window:  # history-window data: the eval env observes the same windows
                    env = with_history(env, window)
                key = trainer_key(program, slot)
                if key not in trainers:
                    trainers[key] = make_train(slot.get(), env, dataclasses.replace(
                        config, sampling=program.sampling,
                        sampling_temperature=spec.sampling_temperature))
                checkpoints, todo = _resumable_rows(store, program, todo)
                keys = jax.vmap(jax.random.PRNGKey)(
                    np.array([r["config"]["seed"] for r in todo]))
                hparams = stack_hparams([r["hparams"] for r in todo])
                bar = tqdm(total=config.num_chunks, desc=f"{label} x {len(todo)} rows",
                           unit="chunk", disable=not progress, leave=False)
                trainer_config = trainers[key].config
                sampler = sampling_hparams(trainer_config, len(todo), [
                    trainer_config.default_temperature if r["temperature"] is None
                    else r["temperature"] for r in todo])
                trackers = Trackers(loggers, out, _run_name(spec, program),
                                    dict(sweep=spec.name, algo=program.algo,
                                         dataset=program.dataset, sampling=program.sampling,
                                         rows=len(todo), num_updates=spec.num_updates))
                normalise = _normaliser(dataset)

                def progress(chunk: int, metrics) -> None:
                    bar.update(1)
                    trackers.log((chunk + 1) * config.eval_every, cell_scalars(
                        metrics.eval_returns, metrics.diverged, metrics.update, len(todo),
                        normalise))

                try:
                    result = train(trainers[key], dataset, keys, hparams, sampling=sampler,
                                   progress_fn=progress, checkpoint_dir=checkpoints,
                                   stop_after_chunks=stop_after_chunks)
                finally:
                    bar.close()
                    trackers.close()
                if len(result.eval_steps) < config.num_chunks:  # stopped early: no records
                    log(f"{label}: stopped after {len(result.eval_steps)} chunks")
                    break
                finals = _final_evals(result, dataset)
                if program.dataset not in fingerprints:
                    fingerprints[program.dataset] = dataset.fingerprint()
                for i, record in enumerate(_records(program, todo, result, dataset,
                                                    fingerprints[program.dataset])):
                    written += store.add(record, None if finals is None else finals[i])
                _discard_checkpoint(checkpoints)
                if last_use[key] == n:
                    del trainers[key]
                trained += 1
                scores = [r for r in (normalise(float(x)) for x in
                                      result.eval_returns[:, -1].mean(axis=-1))
                          if r is not None]
                log(f"{label}: {len(todo)} rows in {result.seconds:.1f} s"
                    + (f", mean normalised score {np.mean(scores):.1f}" if scores else "")
                    + (f", {int(result.diverged.sum())} diverged"
                       if result.diverged.any() else ""))
            finally:
                claim.release()
    return dict(programs=len(programs), trained=trained, skipped=skipped, busy=busy,
                records=written, seconds=time.perf_counter() - start)


def dataset_quality_rows(spec: SweepSpec, root: Any = None, saco_bins: int | None = 100,
                         loader: DatasetLoader | None = None) -> list[dict[str, Any]]:
    """Returns TQ/SACo rows (env, dataset, tq, saco, ...) of the spec's suite datasets, SACo
    relative to each env's replay dataset; datasets outside a suite are left out. ``loader``
    (the one given to ``run_sweep``) saves reading the datasets again."""
    from jaxrl_suite.report.dataset_quality import dataset_quality

    datasets = loader or DatasetLoader(spec, root, lambda s: None)
    rows = []
    for name in spec.datasets:
        if datasets.resolve(name) == name:
            continue
        env, _, recipe = name.rpartition("/")
        quality = dataset_quality(datasets.load(name), datasets.load(f"{env}/replay"),
                                  saco_bins)
        rows.append(dict(env=env, dataset=name, recipe=recipe, **quality))
    return rows
