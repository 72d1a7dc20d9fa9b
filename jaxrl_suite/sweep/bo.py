"""Batched Bayesian optimisation of hyperparameters: optuna ask-and-tell, q configurations per
round evaluated in ONE call (the learner vmaps them in one compiled run), resumable from storage.

A round asks ``batch_size`` trials (TPE with the constant liar sees the round's earlier asks as
running, so it spreads them), calls ``objective_batch(configs) -> values`` once, and tells every
trial. Resuming (same ``study_name`` in the same storage) continues the study:
  * the budget ``num_trials`` counts evaluated trials: COMPLETE ones plus those whose value was
    non-finite (recorded as failed, see below), so a study always ends, and ends with exactly
    ``num_trials`` of them however often it was interrupted;
  * trials left RUNNING by an interrupted round (a kill, Ctrl-C, or an exception in the
    objective: nothing is caught) are re-evaluated in place, under their own trial numbers and
    parameters, before any new trial is asked: the interrupted round is redone as it was asked,
    so a kill leaves neither a duplicate configuration nor a gap in the trial numbers. Only a
    trial that cannot be redone (its parameters incomplete because the kill landed inside
    ``ask``, asked in another search space, or past the budget) is told FAIL, with the reason
    in its ``abandoned`` user attr, and does not count towards the budget;
  * the default sampler is re-seeded every round from (seed, round), so a resumed study draws the
    same configurations as an uninterrupted one (identical when the kill landed while the
    objective ran, which is where nearly all of a round's time goes).
One driver per study: a second process running the same study would see the first one's
running trials as interrupted and evaluate them again.

Non-finite values (a diverged learner) are never COMPLETE, so never the incumbent: the trial is
told FAIL (``non_finite="fail"``, default; TPE ignores it) or PRUNED (``non_finite="prune"``:
TPE counts it among the bad trials, steering away from the region), with the value kept in the
``non_finite`` user attr.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import math
import numbers
import os
import pathlib
from typing import Any, Callable, Iterator, Literal, Mapping, Sequence

import numpy as np
import optuna
from optuna.distributions import (BaseDistribution, CategoricalDistribution, FloatDistribution,
                                  IntDistribution)
from optuna.trial import FrozenTrial, TrialState

from jaxrl_suite.data.io import atomic_write
from jaxrl_suite.errors import SuiteError
from jaxrl_suite.report import plots
from jaxrl_suite.model_based.penalties import PENALTIES

ObjectiveBatch = Callable[[list[dict[str, Any]]], Sequence[float]]

# ---------------------------------------------------------------------------------------------
# Search spaces


@dataclasses.dataclass(frozen=True)
class Float:
    """A real parameter in [low, high]; ``log`` samples uniformly in log space (needs low > 0)."""
    low: float
    high: float
    log: bool = False


@dataclasses.dataclass(frozen=True)
class Int:
    """An integer parameter in [low, high] (both included); ``log`` needs low >= 1."""
    low: int
    high: int
    log: bool = False


@dataclasses.dataclass(frozen=True)
class Categorical:
    """One of ``choices`` (None, bool, int, float or str: what optuna stores and JSON writes)."""
    choices: tuple[Any, ...]

    def __post_init__(self):
        if not isinstance(self.choices, (str, bytes)):
            with contextlib.suppress(TypeError):
                object.__setattr__(self, "choices", tuple(self.choices))


ParamSpec = Float | Int | Categorical


def _is_real(x: Any) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x)


def _distribution(name: str, spec: Any) -> BaseDistribution:
    """Returns the optuna distribution of ``spec``; raises SuiteError naming ``name``."""
    def fail(expected: str, found: Any) -> SuiteError:
        return SuiteError(f"search space: parameter '{name}': expected {expected}, "
                          f"found {found}")

    if isinstance(spec, (Float, Int)):
        kind, is_float = type(spec).__name__, isinstance(spec, Float)
        for field in ("low", "high"):
            x = getattr(spec, field)
            ok = _is_real(x) if is_float else (isinstance(x, numbers.Integral)
                                               and not isinstance(x, bool))
            if not ok:
                raise fail(f"{kind} {field} a finite {'number' if is_float else 'int'}", repr(x))
        if not spec.low < spec.high:
            raise fail("low < high", f"low={spec.low!r}, high={spec.high!r}")
        if not isinstance(spec.log, bool):
            raise fail("log a bool", repr(spec.log))
        if spec.log and is_float and not spec.low > 0:
            raise fail("low > 0 with log=True", f"low={spec.low!r}")
        if spec.log and not is_float and not spec.low >= 1:
            raise fail("low >= 1 with log=True", f"low={spec.low!r}")
        if is_float:
            return FloatDistribution(float(spec.low), float(spec.high), log=spec.log)
        return IntDistribution(int(spec.low), int(spec.high), log=spec.log)
    if isinstance(spec, Categorical):
        choices = spec.choices
        if not isinstance(choices, tuple):
            raise fail("Categorical choices a sequence of values", repr(choices))
        if not choices:
            raise fail("at least one Categorical choice", "none")
        bad = [c for c in choices if c is not None and not isinstance(c, (bool, int, float, str))]
        if bad:
            raise fail("choices of type None, bool, int, float or str", repr(bad[0]))
        if len(set(map(repr, choices))) != len(choices):
            raise fail("distinct choices", repr(choices))
        return CategoricalDistribution(choices)
    raise fail("a Float, Int or Categorical", type(spec).__name__)


class SearchSpace(Mapping[str, ParamSpec]):
    """An ordered, immutable mapping name -> Float | Int | Categorical, validated when built.

    ``SearchSpace({"lr": Float(1e-4, 1e-2, log=True)}, tau=Float(0.5, 0.9))``; to change one
    entry build a new one: ``SearchSpace({**MBRL_SPACE, "horizon": Int(1, 10)})``.
    """

    def __init__(self, params: Mapping[str, ParamSpec] | Sequence[tuple[str, ParamSpec]] = (),
                 /, **more: ParamSpec):
        items = list(params.items() if isinstance(params, Mapping) else params)
        items += list(more.items())
        self._specs: dict[str, ParamSpec] = {}
        self._distributions: dict[str, BaseDistribution] = {}
        for name, spec in items:
            if not isinstance(name, str) or not name:
                raise SuiteError(f"search space: expected parameter names as non-empty str, "
                                 f"found {name!r}")
            if name in self._specs:
                raise SuiteError(f"search space: parameter '{name}': expected once, "
                                 f"found twice")
            self._distributions[name] = _distribution(name, spec)
            self._specs[name] = spec
        if not self._specs:
            raise SuiteError("search space: expected at least one parameter, found none")

    def __getitem__(self, name: str) -> ParamSpec:
        return self._specs[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def __repr__(self) -> str:
        return f"SearchSpace({self._specs!r})"

    def distributions(self) -> dict[str, BaseDistribution]:
        """Returns {name: optuna distribution}, in the space's order."""
        return dict(self._distributions)


def mbrl_space(*, max_members: int = 7, max_horizon: int = 50) -> SearchSpace:
    """Returns the MOPO-style search space of Lu et al., "Revisiting Design Choices in Offline
    Model-Based Reinforcement Learning" (ICLR 2022, Sec. 6): the uncertainty penalty, its weight
    lambda, the rollout horizon h, the number of models in use N and the real-data ratio.

    ``max_members``: the trained ensemble's size (``EnsembleConfig.num_members``, default 7 as
    in the paper); N keeps that many of lowest holdout error (``mopo.member_masks``).
    ``max_horizon``: must equal the learner's static ``MOPOConfig.max_horizon`` (rollouts run
    that many steps and mask the rest), else horizons above it all act alike.
    Verified: the six penalty names (Table 1; ``model_based.penalties.PENALTIES``) and that these
    five are what the paper's BO tunes. NOT verified: the numeric ranges, since the paper's
    appendix table of BO bounds could not be read while this was written. They are this suite's
    choice around the paper's defaults (lambda 1, h 1-5, N 7, real ratio 0.05): lambda
    log-uniform over two decades about 1, h up to 50 (the paper reports BO choosing longer
    rollouts than hand-tuned MOPO), N from 2 to the trained size (with one model the
    disagreement penalties are zero and ``loo_kl`` is undefined), real ratio over [0, 1].
    Use ``mopo_overrides`` to turn a point of this space into ``MOPOHParams`` fields.
    """
    return SearchSpace({
        "penalty": Categorical(PENALTIES),
        "penalty_coef": Float(0.1, 10.0, log=True),
        "horizon": Int(1, max_horizon),
        "num_members": Int(2, max_members),
        "real_ratio": Float(0.0, 1.0),
    })


def mopo_overrides(config: Mapping[str, Any]) -> dict[str, float]:
    """Returns the ``MOPOHParams`` fields a point of ``mbrl_space`` sets, all floats (traced):
    ``MOPOHParams().replace(**mopo_overrides(config))``; the penalty's name becomes
    ``penalty_index``, its position in ``PENALTIES``."""
    out = {name: float(value) for name, value in config.items() if name != "penalty"}
    if "penalty" in config:
        if config["penalty"] not in PENALTIES:
            raise SuiteError(f"BO config: parameter 'penalty': expected one of {PENALTIES}, "
                             f"found {config['penalty']!r}")
        out["penalty_index"] = float(PENALTIES.index(config["penalty"]))
    return out


MBRL_SPACE = mbrl_space()

# The authors' ablation grids (twni2016/neubay README l. 171-176, "Ablation study").
NEUBAY_QUANTILES = (0.9, 0.99, 0.999, 1.0)
NEUBAY_PENALTIES = (0.0, 0.04, 0.2, 1.0, 5.0)


def neubay_space(*, max_members: int = 100) -> SearchSpace:
    """Returns NEUBAY's search space: what its authors tune per dataset, the encoders' learning
    rate (critic_enc_lr = actor_enc_lr) and the real-data weight (README l. 148: "We sweep
    over train.critic_enc_lr = train.actor_enc_lr and train.real_weight"; their tuned values,
    configs/d4rl_loco/task/*.yaml, span 1e-6 to 3e-5 and 0.5 to 0.8), and the three knobs of
    its ablations: the truncation quantile, the penalty coefficient and the planning ensemble
    size (README l. 171-176), on the ablations' own grids. ``max_members``: the ensemble's
    elites (the most members a rollout can be drawn from). Bounds of the two tuned values are
    this suite's choice around the authors' values (log-uniform 1e-6..1e-4; 0..1)."""
    return SearchSpace({
        "enc_lr": Float(1e-6, 1e-4, log=True),
        "real_weight": Float(0.0, 1.0),
        "unc_quantile": Categorical(NEUBAY_QUANTILES),
        "penalty_coef": Categorical(NEUBAY_PENALTIES),
        "num_elites": (Int(max(1, min(5, max_members - 1)), max_members) if max_members > 1
                       else Categorical((1,))),
    })


def neubay_overrides(config: Mapping[str, Any]) -> dict[str, float]:
    """Returns the ``NEUBAYHParams`` fields a point of ``neubay_space`` sets, all floats
    (traced); ``enc_lr`` sets both encoders' learning rates."""
    out = {name: float(value) for name, value in config.items() if name != "enc_lr"}
    if "enc_lr" in config:
        out["critic_enc_lr"] = out["actor_enc_lr"] = float(config["enc_lr"])
    return out

# ---------------------------------------------------------------------------------------------
# The driver


@dataclasses.dataclass(frozen=True)
class TrialRecord:
    """One row of the trials table. ``value``: the objective's value (a non-finite one kept for
    FAIL/PRUNED trials), None where never evaluated; ``round``: the round that asked it."""
    number: int
    round: int | None
    state: str
    value: float | None
    params: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class BOResult:
    """The incumbent (None while no trial is COMPLETE) and every trial of the study."""
    study_name: str
    direction: str
    param_names: tuple[str, ...]
    best_params: dict[str, Any] | None
    best_value: float | None
    best_trial: int | None
    trials: tuple[TrialRecord, ...]

    @property
    def num_complete(self) -> int:
        return sum(t.state == "COMPLETE" for t in self.trials)


def default_sampler(seed: int, *, batch_size: int,
                    n_startup_trials: int | None = None) -> optuna.samplers.TPESampler:
    """Returns the driver's sampler: multivariate TPE with the constant liar (a round's earlier
    asks count as bad while running, so one round's q configurations spread out).

    ``n_startup_trials`` (random trials before TPE) defaults to max(batch_size, 10): at least one
    whole random round. TPE counts only finished trials, so the random phase lasts
    ceil(n_startup_trials / batch_size) rounds.
    """
    n = max(batch_size, 10) if n_startup_trials is None else n_startup_trials
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=n, multivariate=True,
                                      constant_liar=True)


def _round_seed(seed: int, round_: int) -> int:
    return int(np.random.SeedSequence([seed, round_]).generate_state(1)[0])


@contextlib.contextmanager
def _quiet_optuna() -> Iterator[None]:
    """Silences optuna's per-trial INFO lines (the driver logs one line per round)."""
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(verbosity)


def _open_storage(storage: str | optuna.storages.BaseStorage | None,
                  out_dir: str | os.PathLike | None) -> optuna.storages.BaseStorage:
    if storage is None and out_dir is not None:
        pathlib.Path(out_dir).mkdir(parents=True, exist_ok=True)
        storage = f"sqlite:///{pathlib.Path(out_dir).resolve() / 'study.db'}"
    if storage is None:
        return optuna.storages.InMemoryStorage()
    if isinstance(storage, optuna.storages.BaseStorage):
        return storage
    try:
        return optuna.storages.RDBStorage(str(storage))
    except Exception as exc:  # SQLAlchemy's own errors: bad URL, missing driver, unreadable file
        raise SuiteError(f"BO storage '{storage}': expected a SQLAlchemy URL such as "
                         f"sqlite:///path/study.db, found an error ({type(exc).__name__}: "
                         f"{exc})") from None


def _check_study(study: optuna.Study, space: SearchSpace, direction: str, where: str) -> None:
    """Raises SuiteError where the stored study was run with another direction or space."""
    stored = study.direction.name.lower()
    if stored != direction:
        raise SuiteError(f"{where}: expected direction '{direction}', found a stored study "
                         f"that {stored}s (choose another study_name)")
    dists = space.distributions()
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        for name in set(dists) | set(t.distributions):
            if t.distributions.get(name) != dists.get(name):
                raise SuiteError(
                    f"{where}: parameter '{name}': expected {dists.get(name)} as in the stored "
                    f"trial {t.number}, found {t.distributions.get(name)} there (choose "
                    f"another study_name for a new search space)")


def _evaluated(t: FrozenTrial) -> bool:
    """Whether ``t`` consumed budget: COMPLETE, or told failed because of a non-finite value."""
    return t.state == TrialState.COMPLETE or "non_finite" in t.user_attrs


def run_bo(objective_batch: ObjectiveBatch, space: SearchSpace, *, num_trials: int,
           batch_size: int, study_name: str, seed: int,
           storage: str | optuna.storages.BaseStorage | None = None,
           out_dir: str | os.PathLike | None = None,
           direction: Literal["maximize", "minimize"] = "maximize",
           sampler: optuna.samplers.BaseSampler | None = None,
           n_startup_trials: int | None = None,
           non_finite: Literal["fail", "prune"] = "fail",
           log: Callable[[str], None] | None = print) -> BOResult:
    """Returns the study's BOResult after evaluating it up to ``num_trials`` trials, in rounds of
    ``batch_size`` configurations that ``objective_batch`` evaluates in one call.

    objective_batch: list of q dicts {name: value} (space order) -> q floats (any sequence or
      [q] array); q = batch_size except in a study's last round and in a redone round.
    storage: a SQLAlchemy URL or an optuna storage; default ``sqlite:///<out_dir>/study.db``,
      or an in-memory study (not resumable) when ``out_dir`` is None too.
    sampler: default ``default_sampler`` re-seeded each round from (seed, round); a sampler
      given here is used as it is for every round (its own seed; a resumed study then need not
      repeat an uninterrupted one's draws). optuna 5's GPSampler is not batch-aware (no q-batch
      or constant liar): within a round it would propose near-duplicates.
    non_finite: how a non-finite value is told, "fail" or "prune" (module docstring).
    """
    where = f"BO study '{study_name}'"
    if not (isinstance(num_trials, int) and num_trials >= 1):
        raise SuiteError(f"{where}: num_trials: expected an int >= 1, found {num_trials!r}")
    if not (isinstance(seed, int) and seed >= 0):
        raise SuiteError(f"{where}: seed: expected an int >= 0, found {seed!r}")
    if not (isinstance(batch_size, int) and batch_size >= 1):
        raise SuiteError(f"{where}: batch_size: expected an int >= 1, found {batch_size!r}")
    if direction not in ("maximize", "minimize"):
        raise SuiteError(f"{where}: direction: expected 'maximize' or 'minimize', "
                         f"found {direction!r}")
    if non_finite not in ("fail", "prune"):
        raise SuiteError(f"{where}: non_finite: expected 'fail' or 'prune', found {non_finite!r}")
    if not isinstance(space, SearchSpace):
        space = SearchSpace(space)
    say = log or (lambda _: None)
    dists = space.distributions()
    store = _open_storage(storage, out_dir)

    with _quiet_optuna():
        study = optuna.create_study(storage=store, study_name=study_name, direction=direction,
                                    load_if_exists=True)
        _check_study(study, space, direction, where)
        study_id = store.get_study_id_from_name(study_name)

        def set_attr(number: int, key: str, value: Any) -> None:
            trial_id = store.get_trial_id_from_study_id_trial_number(study_id, number)
            store.set_trial_user_attr(trial_id, key, value)

        trials = study.get_trials(deepcopy=False)
        done = sum(_evaluated(t) for t in trials)
        rounds = [t.user_attrs["round"] for t in trials if "round" in t.user_attrs]
        # Trials an interrupted round left RUNNING: redone first, in place, as (number, config,
        # round); one a kill caught inside ask has incomplete params and cannot be redone.
        redo: list[tuple[int, dict[str, Any], int | None]] = []
        for t in trials:
            if t.state != TrialState.RUNNING:
                continue
            if set(t.params) != set(dists):
                reason = "interrupted inside ask"
            elif any(t.distributions[n] != dists[n] for n in dists):
                reason = "asked in another search space"
            elif done + len(redo) >= num_trials:
                reason = "over the trial budget"
            else:
                redo.append((t.number, {n: t.params[n] for n in dists},
                             t.user_attrs.get("round")))
                continue
            set_attr(t.number, "abandoned", reason)
            study.tell(t.number, state=TrialState.FAIL)
        interrupted = max((r for _, _, r in redo if r is not None),
                          default=max(rounds, default=-1) + 1)
        for number, _, r in redo:
            if r is None:  # killed between ask and labelling: it belongs to the last round
                set_attr(number, "round", interrupted)
        redo = [(number, config, interrupted if r is None else r) for number, config, r in redo]
        next_round = max([*rounds, *(r for _, _, r in redo)], default=-1) + 1
        if trials:
            say(f"{where}: resuming: {done}/{num_trials} trials evaluated"
                + (f"; {len(redo)} left running by interrupted round {interrupted}, "
                   f"re-evaluated first" if redo else ""))

        while done < num_trials:
            q = min(batch_size, num_trials - done)
            if redo:  # an interrupted round is redone as it was asked, under its own number
                chunk, redo = redo[:q], redo[q:]
                round_ = chunk[0][2]
                batch = [(number, config) for number, config, _ in chunk]
            else:
                round_, next_round = next_round, next_round + 1
                study.sampler = sampler if sampler is not None else default_sampler(
                    _round_seed(seed, round_), batch_size=batch_size,
                    n_startup_trials=n_startup_trials)
                batch = []
                for _ in range(q):
                    trial = study.ask(dists)
                    trial.set_user_attr("round", round_)
                    batch.append((trial.number, {n: trial.params[n] for n in dists}))

            values = _call(objective_batch, [config for _, config in batch], where, round_)
            for (number, _), value in zip(batch, values):
                if math.isfinite(value):
                    study.tell(number, value)
                else:
                    set_attr(number, "non_finite", repr(value))
                    study.tell(number, state=TrialState.FAIL if non_finite == "fail"
                               else TrialState.PRUNED)
            done += len(batch)
            result = bo_result(study, space)
            finite = [v for v in values if math.isfinite(v)]
            pick = max if direction == "maximize" else min
            say(f"{where}: round {round_}: {len(batch)} trials ({done}/{num_trials}), "
                f"{len(values) - len(finite)} non-finite, round best "
                + (f"{pick(finite):.6g}" if finite else "none")
                + (f", incumbent {result.best_value:.6g} (trial {result.best_trial})"
                   if result.best_trial is not None else ", no incumbent yet"))
        return bo_result(study, space)


def _call(objective_batch: ObjectiveBatch, configs: list[dict[str, Any]], where: str,
          round_: int) -> list[float]:
    """Returns the objective's q values as floats; raises SuiteError on a wrong shape or type."""
    raw = objective_batch(configs)
    try:
        values = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError):
        raise SuiteError(f"{where}: round {round_}: objective_batch: expected {len(configs)} "
                         f"numbers, found {raw!r:.200}") from None
    if values.shape != (len(configs),):
        raise SuiteError(f"{where}: round {round_}: objective_batch: expected {len(configs)} "
                         f"values (one per config), found shape {values.shape}")
    return [float(v) for v in values]


def bo_result(study: optuna.Study, space: SearchSpace) -> BOResult:
    """Returns the BOResult of ``study`` as stored now (incumbent among COMPLETE trials)."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        value = t.value
        if value is None and "non_finite" in t.user_attrs:
            value = float(t.user_attrs["non_finite"])
        rows.append(TrialRecord(number=t.number, round=t.user_attrs.get("round"),
                                state=t.state.name, value=value,
                                params={n: t.params[n] for n in space if n in t.params}))
    complete = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    best = study.best_trial if complete else None
    return BOResult(study_name=study.study_name, direction=study.direction.name.lower(),
                    param_names=tuple(space), best_params=dict(best.params) if best else None,
                    best_value=best.value if best else None,
                    best_trial=best.number if best else None, trials=tuple(rows))

# ---------------------------------------------------------------------------------------------
# Outputs


def _write_text(path: pathlib.Path, text: str) -> pathlib.Path:
    return atomic_write(path, lambda tmp: pathlib.Path(tmp).write_text(text))


def write_bo_outputs(result: BOResult, out_dir: str | os.PathLike) -> dict[str, pathlib.Path]:
    """Returns {"best_config", "trials", "trace"}: the paths of ``best_config.json`` (the
    incumbent), ``trials.csv`` (one row per trial, one column per parameter) and ``trace.png``
    (each trial's value by round, and the running best), each written atomically."""
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    states = [t.state for t in result.trials]
    best = {"study_name": result.study_name, "direction": result.direction,
            "best_trial": result.best_trial, "best_value": result.best_value,
            "best_params": result.best_params,
            "num_trials": {s: states.count(s) for s in sorted(set(states))}}
    paths = {"best_config": _write_text(out / "best_config.json",
                                        json.dumps(best, indent=2) + "\n")}

    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["number", "round", "state", "value", *result.param_names])
    for t in result.trials:
        writer.writerow([t.number, "" if t.round is None else t.round, t.state,
                         "" if t.value is None else repr(t.value),
                         *[t.params.get(n, "") for n in result.param_names]])
    paths["trials"] = _write_text(out / "trials.csv", buf.getvalue())
    paths["trace"] = plots.bo_trace_plot(
        [dict(number=t.number, round=t.round, state=t.state, value=t.value)
         for t in result.trials], out / "trace.png", direction=result.direction,
        title=f"{result.study_name}: {result.num_complete} complete, "
              f"{len(result.trials) - result.num_complete} other")
    return paths
