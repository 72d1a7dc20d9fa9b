"""The compiled training loop: scan over updates, vmap over seeds x hyperparameters, jit once.

``make_train(learner, env, config)`` returns a ``Trainer`` whose ``run_chunk`` is ONE jitted
function: for every cell of the seed x hyperparameter axis it runs ``eval_every`` updates in a
``lax.scan`` (minibatches drawn inside, from the dataset passed as an argument) and then
evaluates the policy in the JAX env, all cells vmapped. ``train`` calls it once per chunk; only
logging, the progress bar and checkpoints happen on the host between chunks.

Evaluation runs on the host instead when ``env`` is a ``HostEvaluator`` (C-MuJoCo gymnasium
envs; on a CPU faster than MJX): ``run_chunk`` then holds the updates only, and ``train``
evaluates every cell x episode between chunks with one jitted, cell-vmapped policy call per
env step (``envs/host_eval.py``), the only host step of the loop.

With ``final_eval_episodes`` > 0, ``train`` ends with a final evaluation of every trained
policy over many episodes (Unifloral's ``eval_final_episodes``, 1,000 by default there:
``algorithms/td3_bc.py`` lines 31 and 357-371), all cells x episodes in one compiled call (in-jit
with a JaxEnv; one jitted, cell-vmapped policy call per env step with a HostEvaluator). Its
per-episode returns feed online policy selection (``report/selection.py``).

A learner with rounds (``Learner.round``, every ``round_every`` updates: NEUBAY's model
rollouts) runs its round before the update whose global index is a multiple of
``round_every``. That predicate is computed from the chunk's (unbatched) update index, not
from any cell's state, so under the cell vmap ``lax.cond`` stays a branch and the round costs
nothing at the other updates (a cell-state predicate would turn it into a select that runs
the round at every update).

A learner with a delayed step (``Learner.delayed``: TD3+BC's and ReBRAC's policy delay) is
scanned over blocks of ``update_period`` updates, the full update then critic-only ones, each
its own function: under the cell vmap a branch on the update index (or the state's step) would
compute both parts and keep one, so the actor step would be paid at every update.

With several processes (``distributed.py``), the cell axis is sharded over every process's
devices and results are gathered to the host of each (``to_host``).

A recurrent learner (``Learner.initial_carry``) is evaluated as an
``envs.evaluate.RecurrentPolicy`` in both evaluation paths.

A cell whose losses or parameters go non-finite is flagged (``diverged``, with the first update
whose losses were non-finite, else the chunk's last) and frozen at the state it had at the
start of that chunk: the check costs one scalar test per update and one pass over the state
per chunk, not a masked copy of the whole state at every update. Cells never share values, so
the others are untouched; a diverged cell's evaluation returns are reported as NaN.
"""

from __future__ import annotations

import dataclasses
import functools
import pathlib
import time
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxrl_suite.agents.base import DataSpec, Learner, data_spec
from jaxrl_suite.data.chunks import sample_chunks
from jaxrl_suite.data.dataset import Dataset
from jaxrl_suite.data.sampling import (
    WeightedTable, gather, sample_imitation, sample_indices_by_episode, weighted_table)
from jaxrl_suite.distributed import agreed, to_host
from jaxrl_suite.envs.base import JaxEnv
from jaxrl_suite.envs.evaluate import RecurrentPolicy, evaluate
from jaxrl_suite.envs.host_eval import HostEvaluator
from jaxrl_suite.errors import SuiteError
from jaxrl_suite.transforms.reweight import (
    AW_TEMPERATURE, RW_TEMPERATURE, SAMPLING_SCHEMES, trajectory_sampling_mass, trajectory_scores)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Static settings of a run (shapes and counts are fixed at trace time)."""

    num_updates: int = 100_000
    batch_size: int = 256
    eval_every: int = 5_000  # updates per chunk; evaluation and checkpoint after each
    eval_episodes: int = 10
    sampling: str = "uniform"  # uniform | rw | aw (Hong et al., 2023)
    # The default RW/AW temperature of cells given none (``train(sampling=...)``); the
    # temperature itself is traced, so it does not shape the compiled program. None: 0.1.
    sampling_temperature: float | None = None
    final_eval_episodes: int = 0  # episodes of the final evaluation after training; 0: none

    def __post_init__(self):
        if self.sampling not in SAMPLING_SCHEMES:
            raise SuiteError(f"flag '--sampling': expected one of {SAMPLING_SCHEMES}, "
                             f"found '{self.sampling}'")
        for name in ("num_updates", "batch_size", "eval_every", "eval_episodes"):
            if getattr(self, name) < 1:
                raise SuiteError(f"train: '{name}': expected >= 1, found {getattr(self, name)}")
        if self.sampling_temperature is not None and not self.sampling_temperature > 0:
            raise SuiteError(f"flag '--sampling_temperature': expected > 0, found "
                             f"{self.sampling_temperature}")
        if self.final_eval_episodes < 0:
            raise SuiteError(f"train: 'final_eval_episodes': expected >= 0 (0: no final "
                             f"evaluation), found {self.final_eval_episodes}")
        if self.num_updates % self.eval_every:
            raise SuiteError(f"train: 'num_updates' ({self.num_updates}) must be a multiple of "
                             f"'eval_every' ({self.eval_every})")

    @property
    def num_chunks(self) -> int:
        return self.num_updates // self.eval_every

    @property
    def default_temperature(self) -> float:
        if self.sampling_temperature is not None:
            return self.sampling_temperature
        return AW_TEMPERATURE if self.sampling == "aw" else RW_TEMPERATURE


@struct.dataclass
class SamplingHParams:
    """The sampler's traced hyperparameters of one cell (a leading [S] axis when vmapped),
    next to the learner's: temperature [] of RW/AW sampling (unused by uniform sampling).
    The sampling table is built inside the compiled chunk from it, so a temperature grid is
    one program."""

    temperature: jax.Array


@struct.dataclass
class TrainState:
    """One cell of the seed x hyperparameter axis (a leading [S] axis when vmapped).

    learner: the learner's state; key: the cell's PRNG key, threaded through every update;
    diverged: [] bool, a non-finite value appeared; diverged_at: [] int32 update index (-1).
    """

    learner: Any
    key: jax.Array
    diverged: jax.Array
    diverged_at: jax.Array
    num_updates: jax.Array


@struct.dataclass
class ChunkMetrics:
    """Per cell and chunk: the mean of each update metric over the chunk, and the evaluation
    returns [eval_episodes] of the deterministic policy after the chunk."""

    update: dict
    eval_returns: jax.Array
    diverged: jax.Array


class Trainer(NamedTuple):
    learner: Learner
    env: JaxEnv | HostEvaluator
    config: TrainConfig
    init: Callable[..., TrainState]  # (keys [S], spec, hparams [S]) -> TrainState [S]
    run_chunk: Callable[..., tuple[TrainState, ChunkMetrics]]  # jitted
    # Host evaluation only (None with a JaxEnv): (state [S]) -> (state [S], eval keys [S]),
    # jitted, and the per-cell policy_fn the evaluator vmaps.
    split_eval_keys: Callable[..., tuple[TrainState, jax.Array]] | None = None
    policy_fn: Callable[..., jax.Array] | None = None
    # In-jit evaluation with final_eval_episodes > 0 only: (state [S]) -> returns
    # [S, final_eval_episodes], jitted (``final_evaluate`` calls it).
    final_eval: Callable[..., jax.Array] | None = None


def _all_finite(tree: Any) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)
              if jnp.issubdtype(jnp.asarray(x).dtype, jnp.inexact)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.bool_(True)


def make_train(learner: Learner, env: JaxEnv | HostEvaluator, config: TrainConfig) -> Trainer:
    """Returns the Trainer of ``learner`` evaluated in ``env`` under ``config``: in the
    compiled chunk for a JaxEnv, between chunks on the host for a HostEvaluator."""
    if not isinstance(env, (JaxEnv, HostEvaluator)):
        raise SuiteError(f"make_train: env: expected a JaxEnv or a HostEvaluator, found "
                         f"{type(env).__name__}")
    in_jit_eval = isinstance(env, JaxEnv)
    if learner.chunk_horizon or learner.sample is not None:
        if config.sampling != "uniform":
            raise SuiteError(f"flag '--sampling': '{learner.name}' draws its own minibatches "
                             f"uniformly, found '{config.sampling}'")
    if learner.chunk_horizon:
        if not in_jit_eval:  # the host evaluator executes the policy's chunks open loop
            env.chunk = learner.chunk_horizon
    if (learner.round is None) != (learner.round_every < 1):
        raise SuiteError(f"learner '{learner.name}': 'round' and 'round_every' >= 1 go together")

    def init_cell(key, spec: DataSpec, hparams) -> TrainState:
        init_key, run_key = jax.random.split(key)
        return TrainState(learner.init(init_key, spec, hparams), run_key, jnp.bool_(False),
                          jnp.int32(-1), jnp.int32(0))

    # A learner's delayed step (Learner.delayed) runs as blocks of ``period`` updates when the
    # chunks hold whole blocks (a chunk then starts at a multiple of ``period``); else every
    # update is ``learner.update``, which computes both parts and keeps one.
    period = learner.update_period if learner.delayed is not None else 1
    if period > 1 and config.eval_every % period:
        period = 1

    def update_cell(state: TrainState, dataset: Dataset, table: WeightedTable | None, hparams,
                    demo_range: jax.Array | None, step: jax.Array,
                    update_fn: Callable[..., Any] = learner.update):
        key, sample_key, update_key = jax.random.split(state.key, 3)
        if learner.round is not None:  # step: the unbatched global update index
            key, round_key = jax.random.split(key)
            state = state.replace(learner=jax.lax.cond(
                step % learner.round_every == 0,
                lambda s: learner.round(s, dataset, round_key, hparams, step), lambda s: s,
                state.learner))
        if learner.sample is not None:
            batch = learner.sample(dataset, sample_key, config.batch_size, hparams)
        elif learner.imitation:
            batch = sample_imitation(dataset, demo_range, sample_key, config.batch_size)
        elif learner.chunk_horizon:
            batch = sample_chunks(dataset, sample_key, config.batch_size, learner.chunk_horizon)
        elif table is None:
            batch = gather(dataset, jax.random.randint(sample_key, (config.batch_size,), 0,
                                                       dataset.num_transitions))
        else:
            batch = gather(dataset, sample_indices_by_episode(dataset, table, sample_key,
                                                              config.batch_size))
        new, metrics = update_fn(state.learner, batch, update_key, hparams)
        # Only the (scalar) losses are tested here; the state is tested once per chunk.
        first_bad = ~_all_finite(metrics) & (state.diverged_at < 0)
        return state.replace(
            learner=new,
            key=key,
            diverged_at=jnp.where(first_bad, state.num_updates, state.diverged_at),
            num_updates=state.num_updates + 1,
        ), metrics

    def markov_policy(learner_state, obs, key):
        return learner.act(learner_state, obs, key, True)

    policy_fn = markov_policy
    if learner.initial_carry is not None:
        policy_fn = RecurrentPolicy(
            learner.initial_carry,
            lambda state, obs, key, carry: learner.act_recurrent(state, obs, key, True, carry))

    def chunk_cell(start: TrainState, dataset: Dataset, sampling: SamplingHParams | None,
                   hparams, demo_range: jax.Array | None, first_update: jax.Array):
        table = episode_table(dataset, config, sampling)
        if period == 1:
            steps = first_update + jnp.arange(config.eval_every, dtype=jnp.int32)
            state, metrics = jax.lax.scan(
                lambda s, step: update_cell(s, dataset, table, hparams, demo_range, step),
                start, steps)
        else:  # one scan step = the full update, then period - 1 critic-only ones
            full, between = learner.delayed

            def block(s, step):
                s, first = update_cell(s, dataset, table, hparams, demo_range, step, full)
                rest = []
                for j in range(1, period):
                    s, m = update_cell(s, dataset, table, hparams, demo_range, step + j,
                                       between)
                    rest.append(m)
                # Per block: a metric both parts report, its mean over the block's updates;
                # the delayed part's own (actor loss), its one value.
                return s, {k: jnp.mean(jnp.stack([v] + [m[k] for m in rest if k in m]))
                           for k, v in first.items()}

            steps = first_update + period * jnp.arange(config.eval_every // period,
                                                       dtype=jnp.int32)
            state, metrics = jax.lax.scan(block, start, steps)
        # Freeze a cell that went non-finite in this chunk (or before) at the chunk's start.
        bad = start.diverged | (state.diverged_at >= 0) | ~_all_finite(state.learner)
        state = state.replace(
            learner=jax.tree.map(lambda n, o: jnp.where(bad, o, n), state.learner,
                                 start.learner),
            diverged=bad,
            diverged_at=jnp.where(bad & (state.diverged_at < 0), state.num_updates - 1,
                                  state.diverged_at))
        mean_metrics = jax.tree.map(lambda m: jnp.mean(m, axis=0), metrics)
        if not in_jit_eval:  # ``train`` evaluates on the host and fills the returns in
            placeholder = jnp.full((config.eval_episodes,), jnp.nan, jnp.float32)
            return state, ChunkMetrics(mean_metrics, placeholder, state.diverged)
        state, returns = evaluate_cell(state, config.eval_episodes)
        return state, ChunkMetrics(mean_metrics, returns, state.diverged)

    def evaluate_cell(state: TrainState, num_episodes: int) -> tuple[TrainState, jax.Array]:
        # The in-jit evaluation of one cell: after every chunk, and the final one.
        state, eval_key = split_eval_key(state)
        returns = evaluate(policy_fn, state.learner, env, eval_key, num_episodes,
                           chunk=max(learner.chunk_horizon, 1)).returns
        # A frozen cell's last finite parameters may still be absurd: report no score for it.
        return state, jnp.where(state.diverged, jnp.nan, returns)

    def split_eval_key(state: TrainState):
        # Both evaluation paths draw the key alike, so they train the same policy.
        key, eval_key = jax.random.split(state.key)
        return state.replace(key=key), eval_key

    # (keys [S], spec, hparams [S]) -> TrainState [S]; one jit per Trainer, so a Trainer that
    # trains again (another dataset of the same shapes) does not compile its init again.
    init = jax.jit(jax.vmap(init_cell, in_axes=(0, None, 0)))

    # The dataset is shared by every cell (in_axes None), never closed over; each cell's
    # sampling table is built from it and the cell's traced temperature. ``demo_range``
    # (int32 [2], imitation learners only; ``data/imitation.py``) is shared too.
    # ``first_update`` (int32 [], the global index of the chunk's first update) is shared too.
    vmapped_chunk = jax.vmap(chunk_cell, in_axes=(0, None, 0, 0, None, None))

    # The state is donated: the chunk writes its new state into the old one's buffers, so a
    # program holds one copy of every cell's parameters and optimiser moments, not two (the
    # caller must not read the state it passed in after the call).
    @functools.partial(jax.jit, donate_argnums=0)
    def run_chunk(state, dataset, sampling, hparams, demo_range=None, first_update=0):
        return vmapped_chunk(state, dataset, sampling, hparams, demo_range,
                             jnp.asarray(first_update, jnp.int32))

    if in_jit_eval:
        final_eval = None
        if config.final_eval_episodes:
            final_eval = jax.jit(jax.vmap(
                lambda s: evaluate_cell(s, config.final_eval_episodes)[1]))
        return Trainer(learner, env, config, init, run_chunk, final_eval=final_eval)
    return Trainer(learner, env, config, init, run_chunk,
                   split_eval_keys=jax.jit(jax.vmap(split_eval_key)), policy_fn=policy_fn)


def host_evaluate_chunk(trainer: Trainer, state: TrainState,
                        metrics: ChunkMetrics) -> tuple[TrainState, ChunkMetrics]:
    """Returns (state with its keys advanced, metrics with the host evaluation's returns):
    every cell not diverged is evaluated for ``eval_episodes`` episodes; diverged cells
    score NaN, as in-jit evaluation reports them."""
    state, returns = _host_evaluate(trainer, state, trainer.config.eval_episodes)
    return state, metrics.replace(eval_returns=returns)


def _host_evaluate(trainer: Trainer, state: TrainState,
                   num_episodes: int) -> tuple[TrainState, np.ndarray]:
    # The host evaluation of every cell: after every chunk, and the final one.
    state, eval_keys = trainer.split_eval_keys(state)
    returns = trainer.env.evaluate(trainer.policy_fn, state.learner, eval_keys, num_episodes,
                                   active=~np.asarray(state.diverged))
    return state, returns


def final_evaluate(trainer: Trainer, state: TrainState) -> np.ndarray:
    """Returns the final evaluation's returns [S, final_eval_episodes] (float32) of every
    cell's deterministic policy: all cells x episodes in one compiled call, NaN for a diverged
    cell. Its key is the one the next chunk's evaluation would draw from each cell's key
    (``state`` itself is left as it is), so one cell's returns do not depend on the others."""
    episodes = trainer.config.final_eval_episodes
    if episodes < 1:
        raise SuiteError("final evaluation: 'final_eval_episodes': expected >= 1, found "
                         f"{episodes}")
    if trainer.final_eval is not None:
        return np.asarray(to_host(trainer.final_eval(state)), np.float32)
    return _host_evaluate(trainer, state, episodes)[1]


class TrainResult(NamedTuple):
    """state: final TrainState [S]; eval_returns: [S, chunks, eval_episodes];
    update_metrics: {name: [S, chunks]}; eval_steps: [chunks] updates at each evaluation;
    diverged: [S] bool; diverged_at: [S] int (-1 if never); seconds: wall time of the loop
    (the final evaluation excluded); final_returns: [S, final_eval_episodes] of the final
    evaluation (``final_evaluate``), None without one or when the run stopped early."""

    state: TrainState
    eval_returns: np.ndarray
    update_metrics: dict
    eval_steps: np.ndarray
    diverged: np.ndarray
    diverged_at: np.ndarray
    seconds: float
    final_returns: np.ndarray | None = None


def stack_hparams(cells: list[Any]) -> Any:
    """Returns a list of hyperparameter structs stacked into one with a leading [S] axis."""
    return jax.tree.map(lambda *xs: jnp.asarray(np.stack(xs), jnp.float32), *cells)


def episode_table(dataset: Dataset, config: TrainConfig,
                  sampling: SamplingHParams | None) -> WeightedTable | None:
    """Returns the table over episodes [E] that RW/AW sampling draws from (None for uniform),
    built from the dataset and the traced temperature (``config``'s default when ``sampling``
    is None). Jittable: the scores do not depend on the temperature, so under vmap they are
    computed once and only the [E] softmax and its cumulative sums are per cell."""
    if config.sampling == "uniform":
        return None
    temperature = config.default_temperature if sampling is None else sampling.temperature
    scores = trajectory_scores(dataset, config.sampling)
    return weighted_table(trajectory_sampling_mass(dataset, scores, temperature))


def sampling_hparams(config: TrainConfig, num_cells: int,
                     temperature: Any = None) -> SamplingHParams:
    """Returns the [S] sampling hyperparameters: ``temperature`` (a scalar or [S] values;
    None: ``config``'s default) broadcast over the cells. Raises SuiteError on a
    non-positive or non-finite temperature."""
    if temperature is None:
        temperature = config.default_temperature
    values = np.broadcast_to(np.asarray(temperature, np.float64), (num_cells,))
    if not np.all(np.isfinite(values) & (values > 0)):
        raise SuiteError(f"flag '--hp.sampling_temperature': expected values > 0, found "
                         f"{sorted(set(values.tolist()))}")
    return SamplingHParams(jnp.asarray(values, jnp.float32))


def cell_sharding(num_cells: int, devices: list | None = None):
    """Returns (sharding of the cell axis, replicated sharding) over ``devices`` (default: all
    local devices), or (None, None) when there is one device or the cells do not divide evenly."""
    devices = list(jax.devices() if devices is None else devices)
    if len(devices) < 2 or num_cells % len(devices):
        return None, None
    mesh = jax.sharding.Mesh(np.asarray(devices), ("cells",))
    spec = jax.sharding.PartitionSpec
    return (jax.sharding.NamedSharding(mesh, spec("cells")),
            jax.sharding.NamedSharding(mesh, spec()))


def imitation_inputs(trainer: Trainer, dataset: Dataset) -> jax.Array | None:
    """Returns the demonstrations' range int32 [2] that an imitation learner's chunks sample
    from (None for other learners). Raises SuiteError when the learner imitates and the
    dataset has no demonstrations, or when the sampler is not uniform."""
    from jaxrl_suite.data.imitation import demonstration_range

    if not trainer.learner.imitation:
        return None
    bounds = demonstration_range(dataset)
    if bounds is None:
        raise SuiteError(
            f"{dataset.meta.source or '<in-memory dataset>'}: '{trainer.learner.name}' imitates "
            "expert demonstrations, and this dataset has none: give an imitation mixture "
            "(train --demos=<expert dataset>, or data.imitation.imitation_mixture)")
    if trainer.config.sampling != "uniform":
        raise SuiteError(f"flag '--sampling': '{trainer.learner.name}' draws its batches "
                         f"uniformly (offline and expert), found '{trainer.config.sampling}'")
    return jnp.asarray(bounds, jnp.int32)


def train(
    trainer: Trainer,
    dataset: Dataset,
    keys: jax.Array,
    hparams: Any,
    *,
    sampling: SamplingHParams | None = None,
    progress_fn: Callable[[int, ChunkMetrics], None] | None = None,
    checkpoint_dir: str | pathlib.Path | None = None,
    stop_after_chunks: int | None = None,
    shard: bool = True,
    checkpoint_interval_s: float | None = None,
) -> TrainResult:
    """Returns the result of training every cell (keys [S], hparams [S]) on ``dataset``.

    ``sampling`` holds each cell's traced sampler hyperparameters [S] (``sampling_hparams``;
    None: the config's temperature in every cell), so cells may differ in temperature.

    With ``checkpoint_dir``, the whole vmapped state and the metrics so far are saved (orbax)
    after the last chunk and after each chunk that ends ``checkpoint_interval_s`` or more
    after the previous save (None: ``checkpoint.interval()``; 0: after every chunk), and a
    run finding a checkpoint there resumes from it exactly.
    ``progress_fn(chunk, metrics)`` is called on the host after each chunk;
    ``stop_after_chunks`` ends the run early (as a kill would; used to test resumption).
    A run that completes every chunk ends with ``final_evaluate`` when the config asks for it
    (also a resumed run whose checkpoint holds every chunk).
    With ``shard`` and several devices, the cell axis is split across them (``jax.sharding``;
    the dataset is replicated) and the same compiled program runs SPMD.
    """
    from jaxrl_suite import checkpoint

    from jaxrl_suite.transforms.rewards import transform_rewards

    config = trainer.config
    demo_range = imitation_inputs(trainer, dataset)
    if demo_range is not None:  # imitation learners never see the rewards
        dataset = dataset.replace(rewards=jnp.zeros_like(dataset.rewards))
    dataset = transform_rewards(trainer.learner.reward_transform, dataset)
    spec = data_spec(dataset)
    if sampling is None:
        sampling = sampling_hparams(config, len(keys))
    # The meta is static (part of the treedef): keep only what shapes the computation, so that
    # datasets with equal shapes and spaces (one env's recipes) share one compiled chunk.
    dataset = dataset.replace(meta=dataclasses.replace(
        dataset.meta, ref_min_score=None, ref_max_score=None, source=None, info=()))
    if trainer.split_eval_keys is not None and jax.process_count() > 1:
        raise SuiteError("train: several processes (--num_processes) evaluate in-jit only; "
                         f"'{trainer.env.env_id}' evaluates on the host: use a JAX env "
                         "(--eval_backend=jax) or one process")
    state = trainer.init(keys, spec, hparams)
    # Over every process's devices when several processes run this program (distributed.py).
    cells, replicated = cell_sharding(len(keys)) if shard else (None, None)
    if cells is not None:
        state, hparams, sampling = jax.device_put((state, hparams, sampling), cells)
        dataset = jax.device_put(dataset, replicated)
    history: list[ChunkMetrics] = []
    start_chunk = 0
    if checkpoint_dir is not None:
        restored = checkpoint.restore_latest(checkpoint_dir, state)
        if restored is not None:
            state, history, start_chunk = restored
            if cells is not None:
                state = jax.device_put(state, cells)
    start = saved = time.perf_counter()
    if checkpoint_interval_s is None:
        checkpoint_interval_s = checkpoint.interval()
    for chunk in range(start_chunk, config.num_chunks):
        if stop_after_chunks is not None and chunk >= stop_after_chunks:
            break
        state, metrics = trainer.run_chunk(state, dataset, sampling, hparams, demo_range,
                                           np.int32(chunk * config.eval_every))
        metrics = to_host(metrics)  # gathered from every process's cells
        if trainer.split_eval_keys is not None:
            state, metrics = host_evaluate_chunk(trainer, state, metrics)
        history.append(metrics)
        # Every process saves (orbax's save is collective), so process 0's clock decides.
        if checkpoint_dir is not None and agreed(
                chunk + 1 == config.num_chunks
                or time.perf_counter() - saved >= checkpoint_interval_s):
            checkpoint.save(checkpoint_dir, chunk + 1, state, history)
            saved = time.perf_counter()
        if progress_fn is not None:
            progress_fn(chunk, metrics)
    jax.block_until_ready(state)
    seconds = time.perf_counter() - start
    final_returns = None
    if config.final_eval_episodes and len(history) == config.num_chunks:
        final_returns = final_evaluate(trainer, state)
    stacked = jax.tree.map(lambda *xs: np.stack(xs, axis=1), *history) if history else None
    return TrainResult(
        state=state,
        eval_returns=stacked.eval_returns if stacked else np.zeros((len(keys), 0, 0)),
        update_metrics=stacked.update if stacked else {},
        eval_steps=config.eval_every * np.arange(1, len(history) + 1),
        diverged=np.asarray(to_host(state.diverged)),
        diverged_at=np.asarray(to_host(state.diverged_at)),
        seconds=seconds,
        final_returns=final_returns,
    )
