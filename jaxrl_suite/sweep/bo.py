"""Batched Bayesian optimisation of hyperparameters: optuna ask-and-tell, q configurations per
round evaluated in ONE call (the learner vmaps them in one compiled run), resumable from storage,
and shared by several workers (processes, machines) running the same study.

A round asks ``batch_size`` trials (TPE with the constant liar sees the round's earlier asks, and
other workers' running trials, as running, so it spreads them), calls
``objective_batch(configs) -> values`` once, and tells every trial. Resuming (same
``study_name`` in the same storage) continues the study:
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

Several workers (``run_bo`` calls with the same storage URL and study_name, e.g. ``bo`` on
several machines with ``--storage=postgresql://...``) share one study:
  * ``num_trials`` is the study's total over all workers. Trial numbers are given out one at a
    time by the storage (optuna's RDBStorage locks the study row to create a trial), so each
    trial has a place in the budget: the evaluated, RUNNING and WAITING trials up to its number.
    A worker asks as many trials as the budget has places left and evaluates only those whose
    place is within ``num_trials``; one asked at the same moment as another worker's and left
    past the budget is abandoned ("over the trial budget"), never evaluated. A place, once
    within the budget, stays there (later trials have higher numbers), so the study never
    evaluates more than ``num_trials`` and never the same trial twice.
  * Each round's label is one more than every earlier trial's, so concurrent rounds get distinct
    labels, hence distinct sampler seeds (two workers with the same ``seed`` do not draw the same
    configurations); a lone worker's rounds are 0, 1, 2, ... as before.
  * A worker names itself in each trial it asks (user attr ``worker``: machine, pid, run id) and
    records optuna's heartbeat on the trials it evaluates (``heartbeat`` seconds; RDB storages).
    A RUNNING trial whose worker is dead (``bo_workers``: its process gone from this machine, or
    its heartbeat older than twice the interval) is redone in place by the next worker to look,
    as above; a worker with nothing left to ask waits for the other workers' running trials, so
    every worker returns the finished study.
  * Without a heartbeat a worker can only see workers on its own machine; a trial of another
    machine is then taken for an interrupted one (one machine per study).

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
import time
import warnings
from typing import Any, Callable, Iterator, Literal, Mapping, Sequence

import numpy as np
import optuna
import sqlalchemy
from optuna.distributions import (BaseDistribution, CategoricalDistribution, FloatDistribution,
                                  IntDistribution)
from optuna.trial import FrozenTrial, TrialState

from jaxrl_suite.data.io import atomic_write
from jaxrl_suite.errors import SuiteError
from jaxrl_suite.report import plots
from jaxrl_suite.model_based.penalties import PENALTIES
from jaxrl_suite.sweep import bo_workers as workers

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

# Seconds between a worker's heartbeats on its running trials (RDB storages); optuna's default
# grace period, twice this, outlasts a database hiccup, and a worker killed on another machine
# is found within two minutes (one killed on this machine at once, by its pid).
DEFAULT_HEARTBEAT_S = 60
# A worker taking over dead workers' trials waits this long before checking that its name is
# still the last one written into them (``_Shared.claim``).
CLAIM_SETTLE_S = 1.0
# Tries at opening a storage URL (workers creating a new database's tables at once).
OPEN_ATTEMPTS = 5
# Without a heartbeat, a RUNNING trial naming no worker and holding no parameter is a kill inside
# ask once it has stayed so this long (a live worker names itself within milliseconds).
UNNAMED_GRACE_S = 10.0


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
                  out_dir: str | os.PathLike | None,
                  heartbeat: int | None) -> optuna.storages.BaseStorage:
    if storage is None and out_dir is not None:
        pathlib.Path(out_dir).mkdir(parents=True, exist_ok=True)
        storage = f"sqlite:///{pathlib.Path(out_dir).resolve() / 'study.db'}"
    if storage is None:
        return optuna.storages.InMemoryStorage()
    if isinstance(storage, optuna.storages.BaseStorage):
        return storage
    # Workers opening a new database at once race to create optuna's tables (optuna/storages/
    # _rdb/storage.py, RDBStorage.__init__: metadata.create_all, then _VersionManager inserts
    # the one version_info row, held to one by a check constraint): the losers get "table
    # already exists" or a unique violation, and find the schema made when they try again.
    for attempt in range(OPEN_ATTEMPTS):
        try:
            with warnings.catch_warnings():  # heartbeat_interval is "experimental" in optuna 5
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(str(storage), heartbeat_interval=heartbeat)
        except sqlalchemy.exc.DBAPIError as exc:
            error = exc
            if attempt + 1 < OPEN_ATTEMPTS:
                time.sleep(0.2 * (attempt + 1) + 0.2 * np.random.default_rng().random())
                continue
        except Exception as exc:  # SQLAlchemy's own: bad URL, missing driver, unreadable file
            error = exc
        raise SuiteError(f"BO storage '{storage}': expected a SQLAlchemy URL such as "
                         f"sqlite:///path/study.db, found an error ({type(error).__name__}: "
                         f"{error})") from None


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


def _holds_place(t: FrozenTrial) -> bool:
    """Whether ``t`` takes one of the budget's places: evaluated, or still to be."""
    return t.state in (TrialState.RUNNING, TrialState.WAITING) or _evaluated(t)


def _suggest(trial: optuna.Trial, name: str, dist: BaseDistribution) -> Any:
    """Returns ``trial``'s value of ``name`` drawn from ``dist`` (what ``Study.ask``'s
    fixed_distributions does, through the public suggest API)."""
    if isinstance(dist, FloatDistribution):
        return trial.suggest_float(name, dist.low, dist.high, log=dist.log, step=dist.step)
    if isinstance(dist, IntDistribution):
        return trial.suggest_int(name, dist.low, dist.high, log=dist.log, step=dist.step)
    return trial.suggest_categorical(name, dist.choices)


def _owner(t: FrozenTrial) -> workers.Worker | None:
    """Returns the worker named in ``t`` (the last to ask or take it over), None if none."""
    return workers.Worker.from_attr(t.user_attrs.get("worker"))


@dataclasses.dataclass(frozen=True)
class _Scan:
    """The study as one worker found it between rounds."""
    trials: list[FrozenTrial]
    done: int       # evaluated trials
    held: int       # trials holding a place in the budget (evaluated, RUNNING, WAITING)
    waiting: int    # WAITING trials (the next ask pops them)
    live: int       # RUNNING trials other live workers are evaluating
    redo: list[FrozenTrial]  # dead workers' RUNNING trials to re-evaluate, by number


@dataclasses.dataclass
class _Shared:
    """One worker's handle on a study other workers may share (module docstring)."""
    study: optuna.Study
    store: optuna.storages.BaseStorage
    study_id: int
    dists: dict[str, BaseDistribution]
    num_trials: int
    me: workers.Worker
    beat: workers.Beat | None
    # First time this worker saw each unlabelled, parameterless RUNNING trial (monotonic s).
    unlabelled_since: dict[int, float] = dataclasses.field(default_factory=dict)

    def trial_id(self, number: int) -> int:
        return self.store.get_trial_id_from_study_id_trial_number(self.study_id, number)

    def set_attr(self, number: int, key: str, value: Any) -> None:
        self.store.set_trial_user_attr(self.trial_id(number), key, value)

    def record_heartbeat(self, number: int) -> None:
        if self.beat is not None:
            self.beat.storage.record_heartbeat(self.trial_id(number))

    def abandon(self, number: int, reason: str) -> None:
        """Tells trial ``number`` FAIL with the reason in its ``abandoned`` attr (unless another
        worker finished it first)."""
        with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
            self.set_attr(number, "abandoned", reason)
            self.study.tell(number, state=TrialState.FAIL)

    def finish(self, number: int, value: float, non_finite: str) -> bool:
        """Tells trial ``number`` its value; returns False where another worker finished it
        first (it took this worker for dead: the value is dropped)."""
        def running() -> bool:
            return self.store.get_trial(self.trial_id(number)).state == TrialState.RUNNING

        if not running():
            return False
        try:
            if math.isfinite(value):
                self.study.tell(number, value)
            else:
                self.set_attr(number, "non_finite", repr(value))
                self.study.tell(number, state=TrialState.FAIL if non_finite == "fail"
                                else TrialState.PRUNED)
        except optuna.exceptions.UpdateFinishedTrialError:
            return False
        except ValueError:  # optuna's "Cannot tell a COMPLETE trial": finished meanwhile
            if running():
                raise
            return False
        return True

    def dead(self, t: FrozenTrial, stale: set[int]) -> bool:
        """Whether RUNNING trial ``t``'s worker is dead (module docstring)."""
        owner = _owner(t)
        if owner is None:
            # A worker names itself in its trial before the first parameter: an unnamed one
            # with parameters was asked before names existed (or by another program); one
            # without is a kill inside ask, or a live worker a moment before naming itself.
            if t.params or t.number in stale:
                return True
            since = self.unlabelled_since.setdefault(t.number, time.monotonic())
            wait = self.beat.grace if self.beat is not None else UNNAMED_GRACE_S
            return time.monotonic() - since > wait
        if owner == self.me:
            return False
        here = workers.alive_here(owner, self.me)
        if here is False:
            return True
        if self.beat is not None:
            return t.number in stale
        return here is None  # no heartbeat: a trial of another machine is taken as interrupted

    def stale_numbers(self) -> set[int]:
        if self.beat is None:
            return set()
        return {self.beat.storage.get_trial(i).number
                for i in self.beat.stale_trial_ids(self.study_id)}

    def scan(self) -> _Scan:
        """Returns the study now, after abandoning the dead workers' RUNNING trials that cannot
        be redone (killed inside ask, asked in another search space, or past the budget)."""
        trials = self.study.get_trials(deepcopy=False)
        stale = self.stale_numbers()
        place = freed = live = 0
        redo = []
        for t in trials:
            if not _holds_place(t):
                continue
            place += 1
            if t.state != TrialState.RUNNING:
                continue
            if not self.dead(t, stale):
                live += _owner(t) != self.me
                continue
            if set(t.params) != set(self.dists):
                reason = "interrupted inside ask"
            elif any(t.distributions[n] != self.dists[n] for n in self.dists):
                reason = "asked in another search space"
            elif place - freed > self.num_trials:
                reason = "over the trial budget"
            else:
                redo.append(t)
                continue
            self.abandon(t.number, reason)
            freed += 1
        if freed:
            trials = self.study.get_trials(deepcopy=False)
        return _Scan(trials=trials, done=sum(map(_evaluated, trials)), held=place - freed,
                     waiting=sum(t.state == TrialState.WAITING for t in trials), live=live,
                     redo=redo)

    def claim(self, chunk: list[FrozenTrial], round_: int) -> list[FrozenTrial]:
        """Returns the trials of ``chunk`` (dead workers') this worker took over: it writes its
        name into each, waits ``CLAIM_SETTLE_S`` and keeps those still naming it. Two workers
        that found the same dead trial at once both write; the last write wins, and the other
        sees it and lets the trial go (both evaluate it only if a write took longer than the
        wait; then the second value is dropped, see ``finish``)."""
        for t in chunk:
            with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
                self.record_heartbeat(t.number)
                self.set_attr(t.number, "worker", self.me.attr())
                if t.user_attrs.get("round") is None:  # killed between ask and labelling
                    self.set_attr(t.number, "round", round_)
        if not isinstance(self.store, optuna.storages.InMemoryStorage):
            time.sleep(CLAIM_SETTLE_S)
        now = {t.number: t for t in self.study.get_trials(deepcopy=False)}
        return [now[t.number] for t in chunk if now[t.number].state == TrialState.RUNNING
                and _owner(now[t.number]) == self.me]

    def round_label(self, first: int) -> int:
        """Returns the label of the round whose first trial is ``first``: one more than the
        labels of all trials before it, once each of those RUNNING is labelled (a worker labels
        its trial right after asking it), so concurrent workers' rounds get distinct labels,
        hence distinct sampler seeds, and a lone worker's labels are 0, 1, 2, ..."""
        while True:
            before = [t for t in self.study.get_trials(deepcopy=False) if t.number < first]
            stale = self.stale_numbers()
            unlabelled = [t for t in before if t.state == TrialState.RUNNING
                          and t.user_attrs.get("round") is None and not self.dead(t, stale)]
            if not unlabelled:
                return max((t.user_attrs["round"] for t in before if "round" in t.user_attrs),
                           default=-1) + 1
            time.sleep(0.05)

    def ask(self, q: int, set_sampler: Callable[[int], None]) -> tuple[int, list]:
        """Returns (round label, [(number, config)]) of up to ``q`` new trials asked and kept:
        each is labelled (heartbeat, worker, round) before its parameters are drawn, and one
        whose place in the budget is past ``num_trials`` (other workers asked at the same time)
        is abandoned instead of evaluated."""
        asked: list[int] = []
        round_ = None
        while len(asked) < q:
            with workers.quiet_heartbeat_warning():
                trial = self.study.ask()  # pops a WAITING trial, else creates one
            try:
                self.record_heartbeat(trial.number)
                trial.set_user_attr("worker", self.me.attr())
                if round_ is None:
                    round_ = self.round_label(trial.number)
                    set_sampler(round_)
                trial.set_user_attr("round", round_)
                for name, dist in self.dists.items():
                    _suggest(trial, name, dist)
            except optuna.exceptions.UpdateFinishedTrialError:
                continue  # another worker took it for a dead worker's and abandoned it
            asked.append(trial.number)
        place, kept = 0, []
        places = {}
        for t in self.study.get_trials(deepcopy=False):
            place += _holds_place(t)
            places[t.number] = place
        for number in asked:
            if places[number] > self.num_trials:
                self.abandon(number, "over the trial budget")
            else:
                t = self.store.get_trial(self.trial_id(number))
                kept.append((number, {n: t.params[n] for n in self.dists}))
        return round_, kept


def run_bo(objective_batch: ObjectiveBatch, space: SearchSpace, *, num_trials: int,
           batch_size: int, study_name: str, seed: int,
           storage: str | optuna.storages.BaseStorage | None = None,
           out_dir: str | os.PathLike | None = None,
           direction: Literal["maximize", "minimize"] = "maximize",
           sampler: optuna.samplers.BaseSampler | None = None,
           n_startup_trials: int | None = None,
           non_finite: Literal["fail", "prune"] = "fail",
           heartbeat: int | None = DEFAULT_HEARTBEAT_S,
           log: Callable[[str], None] | None = print) -> BOResult:
    """Returns the study's BOResult once it holds ``num_trials`` evaluated trials (counting
    every worker's), evaluating rounds of ``batch_size`` configurations that
    ``objective_batch`` evaluates in one call.

    objective_batch: list of q dicts {name: value} (space order) -> q floats (any sequence or
      [q] array); q = batch_size except in a study's last round and in a redone round.
    storage: a SQLAlchemy URL or an optuna storage; default ``sqlite:///<out_dir>/study.db``,
      or an in-memory study (not resumable) when ``out_dir`` is None too. Workers given the
      same URL and study_name share the study (module docstring).
    sampler: default ``default_sampler`` re-seeded each round from (seed, round); a sampler
      given here is used as it is for every round (its own seed; a resumed study then need not
      repeat an uninterrupted one's draws). optuna 5's GPSampler is not batch-aware (no q-batch
      or constant liar): within a round it would propose near-duplicates.
    non_finite: how a non-finite value is told, "fail" or "prune" (module docstring).
    heartbeat: seconds between the heartbeats this worker records on the trials it evaluates,
      for a storage URL (an optuna storage object keeps its own); a trial whose heartbeat is
      twice as old is a dead worker's. None: no heartbeat (then one machine per study).
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
    if heartbeat is not None and not (isinstance(heartbeat, int) and heartbeat >= 1):
        raise SuiteError(f"{where}: heartbeat: expected None or an int >= 1 (seconds), found "
                         f"{heartbeat!r}")
    if not isinstance(space, SearchSpace):
        space = SearchSpace(space)
    say = log or (lambda _: None)
    store = _open_storage(storage, out_dir, heartbeat)
    me = workers.this_worker()

    with _quiet_optuna(), workers.running(me):
        study = optuna.create_study(storage=store, study_name=study_name, direction=direction,
                                    load_if_exists=True)
        _check_study(study, space, direction, where)
        shared = _Shared(study=study, store=store,
                         study_id=store.get_study_id_from_name(study_name),
                         dists=space.distributions(), num_trials=num_trials, me=me,
                         beat=workers.beat_of(store))
        poll = min(5.0, shared.beat.interval / 2) if shared.beat else 2.0

        def set_sampler(round_: int) -> None:
            study.sampler = sampler if sampler is not None else default_sampler(
                _round_seed(seed, round_), batch_size=batch_size,
                n_startup_trials=n_startup_trials)

        scan = shared.scan()
        if scan.trials:
            say(f"{where}: resuming: {scan.done}/{num_trials} trials evaluated"
                + (f"; {scan.live} running in other workers" if scan.live else "")
                + (f"; {len(scan.redo)} left running by dead workers, re-evaluated first"
                   if scan.redo else ""))
        waiting_for = None
        while scan.done < num_trials:
            if scan.redo:  # an interrupted round is redone as it was asked, under its own number
                chunk = scan.redo[:batch_size]
                labels = [t.user_attrs.get("round") for t in chunk]
                round_ = max((r for r in labels if r is not None), default=max(
                    (t.user_attrs.get("round", -1) for t in scan.trials), default=-1) + 1)
                chunk = shared.claim(chunk, round_)
                round_ = chunk[0].user_attrs.get("round", round_) if chunk else round_
                batch = [(t.number, {n: t.params[n] for n in shared.dists}) for t in chunk]
            else:
                q = min(batch_size, num_trials - scan.held + scan.waiting)
                if q <= 0:  # the rest of the budget is being evaluated by other workers
                    if waiting_for != scan.live:
                        say(f"{where}: {scan.done}/{num_trials} trials evaluated; waiting for "
                            f"{scan.live} running in other workers")
                        waiting_for = scan.live
                    time.sleep(poll)
                    scan = shared.scan()
                    continue
                round_, batch = shared.ask(q, set_sampler)
            waiting_for = None
            if batch:
                with workers.heartbeat(shared.beat, [shared.trial_id(n) for n, _ in batch], say):
                    values = _call(objective_batch, [config for _, config in batch], where,
                                   round_)
                dropped = [number for (number, _), value in zip(batch, values)
                           if not shared.finish(number, value, non_finite)]
                scan = shared.scan()
                result = bo_result(study, space)
                finite = [v for v in values if math.isfinite(v)]
                pick = max if direction == "maximize" else min
                say(f"{where}: round {round_}: {len(batch)} trials ({scan.done}/{num_trials}), "
                    f"{len(values) - len(finite)} non-finite, round best "
                    + (f"{pick(finite):.6g}" if finite else "none")
                    + (f", incumbent {result.best_value:.6g} (trial {result.best_trial})"
                       if result.best_trial is not None else ", no incumbent yet")
                    + (f"; trials {dropped} were finished by another worker first, their "
                       f"values here dropped" if dropped else ""))
            else:
                scan = shared.scan()
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
