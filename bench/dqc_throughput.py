"""DQC training throughput at the paper's network size: the suite's engine against a
hand-written single-seed jitted update of the same networks, measured in the same run.

    CPU:  .venv/bin/python bench/dqc_throughput.py --seeds=1,8
    GPU:  XLA_PYTHON_CLIENT_MEM_FRACTION=.95 python3 bench/dqc_throughput.py
          --seeds=1,8,16,32,64   (a lent device machine, after bench/device_setup.sh; the
          memory fraction lets 16 seeds fit an H100's 80 GB, JAX's default pool being 75%)
    smoke test: .venv/bin/python bench/dqc_throughput.py --hidden=32 --batch=64 --updates=3
          --seeds=1,2

Record the numbers in BUILD_NOTES.md with the machine named (this script prints the CPU model
and ``jax.devices()``); compare ratios only between rows of one run.

Workload: DQC h = 25, h_a = 5 (the README's DQC command; ``DQCH25A5Config``), ``--depth`` x
``--hidden`` GELU + LayerNorm layers for the actor and all three critics (paper: 4 x 1024),
two-member chunk and action critics, batch ``--batch`` (paper: 4096), on a synthetic dataset
with OGBench cube-double's shapes (observations 37 floats, actions 5 in [-1, 1], 20 episodes of
1,001 observations = 20,000 transitions, random numbers), goals the oracle entries of the
observation (``oracle_goal_dims("cube-double-v0", 37)``: 6 floats).

Suite: ``make_train(make_dqc(...), evaluator, TrainConfig(num_updates=K, eval_every=K, ...))``
and its ``Trainer.run_chunk`` for S seeds vmapped, K = ``--updates`` updates per call, as
``train`` calls it: with a HostEvaluator (OGBench's, ``OGBenchEvaluator("cube-double-v0",
use_oracle_rep=True)``; a stand-in that holds no env where OGBench cannot be built) the
compiled chunk holds the updates only; evaluation would run on the host between chunks and is
not timed. Each update draws its goal-relabelled chunks inside the compiled program
(``sample_goal_chunks``), then runs DQC's update, divergence checks and metrics.

Baseline: one seed, DQC's update written directly in this file with ``flax.linen.Dense`` and
optax (same widths and initialisers, same losses: chunk-critic BCE toward clip(r + gamma^k m
sigmoid(V(s_{t+k}, g)), 0, 1), expectile-weighted BCE distillation of the action critic toward
sigmoid(Q_h), quantile value backup from the target action critic (mean aggregation),
goal-free flow BC actor, one Adam over all, polyak target), in one jitted ``lax.scan`` of K
updates. It is specialised where a hand-writer would be: hyperparameters are Python constants
(traced in the suite), valid flags (all 1 for valid starts) are left out, and only the chunk
critic's loss is returned; like the suite, it runs the chunk critic's forward pass once, as
its loss's input and as the distillation target. Its K minibatches are drawn once on
the host with NumPy (valid starts, current / future / random goals, cut backups) and sliced
by the scan, so sampling costs the baseline almost nothing: this favours the baseline (the
suite gathers each minibatch, [B, 25, 5] chunks included, inside every update).

Timing: each program is compiled first (its XLA memory estimate printed; a row is skipped
when it exceeds the host's available memory on a CPU, the allocator's free memory on an
accelerator), called once to warm up, then timed over ``--repeats`` calls (the best kept), each
call continuing from the state the previous call returned.
Suite seed-updates/s = S K / seconds; ratio = suite seed-updates/s / baseline updates/s (the
baseline is one seed: a ratio above 1 is what vmapping seeds buys). A row that runs out of
device memory is reported as such. The last chunk-critic loss of each side is printed, to show
both trained on finite numbers.

Memory (XLA's estimates at the paper's size, jax 0.10.2 on a CPU): the baseline 3.2 GiB, the
suite 3.3 GiB for 1 seed and 26.2 GiB for 8 (about 3 GiB of activations per seed at batch
4096), so 8 seeds need a machine with about 27 GiB free; on a GPU (if its estimates are
alike) 16 seeds need about 52 GiB, 32 about 105 GiB (an H200), 64 about 210 GiB (no single
lent GPU: that row reports itself skipped).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import time
import warnings
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from jaxrl_suite.agents.base import data_spec
from jaxrl_suite.agents.dqc import DQCH25A5Config, make_dqc
from jaxrl_suite.data.dataset import DatasetMeta, from_arrays
from jaxrl_suite.envs.host_eval import HostEvaluator
from jaxrl_suite.envs.ogbench_eval import oracle_goal_dims
from jaxrl_suite.train import TrainConfig, make_train, stack_hparams

OBS_DIM, ACTION_DIM = 37, 5  # OGBench cube-double's state observation and action
EPISODES, EPISODE_OBS = 20, 1_001  # OGBench play data: 1,001 observations per episode
BACKUP_HORIZON, POLICY_CHUNK = 25, 5  # h, h_a
GIB = 2.0 ** 30

# The baseline's constants: DQCHParams' defaults (the suite traces them).
LR, DISCOUNT, TAU, KAPPA_B, KAPPA_D = 3e-4, 0.999, 0.005, 0.9, 0.5
P_CUR, P_TRAJ = 0.2, 0.5
_KERNEL = nn.initializers.variance_scaling(1.0, "fan_avg", "uniform")


# -- Data ------------------------------------------------------------------------------------

def synthetic_episodes(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Returns (observations [E, 1001, 37], actions [E, 1000, 5] in [-1, 1]), random."""
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(EPISODES, EPISODE_OBS, OBS_DIM)).astype(np.float32)
    actions = rng.uniform(-1.0, 1.0, (EPISODES, EPISODE_OBS - 1, ACTION_DIM)).astype(np.float32)
    return obs, actions


def suite_dataset(obs: np.ndarray, actions: np.ndarray):
    """Returns the episodes as a suite Dataset: 1,000 transitions per episode, each ending by
    timeout, as the suite's OGBench loader keeps them."""
    n = actions.shape[0] * actions.shape[1]
    timeouts = np.zeros(actions.shape[:2], bool)
    timeouts[:, -1] = True
    return from_arrays(
        obs[:, :-1].reshape(n, OBS_DIM), actions.reshape(n, ACTION_DIM), np.zeros(n, np.float32),
        np.zeros(n, bool), timeouts.reshape(n), obs[:, 1:].reshape(n, OBS_DIM),
        meta=DatasetMeta(env_id="cube-double-oraclerep-v0", action_low=(-1.0,) * ACTION_DIM,
                         action_high=(1.0,) * ACTION_DIM))


@struct.dataclass
class Minibatches:
    """K pre-drawn minibatches: obs / next_obs [K, B, o], goals [K, B, g], chunks
    [K, B, h * A], rewards / masks [K, B] (gamma^k success, 1 - success), backup_horizon
    [K, B] int32 (k; s_{t+k} is next_obs)."""

    obs: jax.Array
    goals: jax.Array
    chunks: jax.Array
    next_obs: jax.Array
    rewards: jax.Array
    masks: jax.Array
    backup_horizon: jax.Array


def presampled_minibatches(obs: np.ndarray, actions: np.ndarray, goal_dims: tuple[int, ...],
                           num_updates: int, batch_size: int, seed: int = 1) -> Minibatches:
    """Returns ``num_updates`` minibatches drawn on the host: starts t whose h-chunk stays in
    the episode, goals the current row (p_cur), a later row of the episode (p_traj) or a
    random valid start, the backup cut at a goal reached inside the chunk."""
    rng = np.random.default_rng(seed)
    shape, h = (num_updates, batch_size), BACKUP_HORIZON
    steps = actions.shape[1]
    episode = rng.integers(EPISODES, size=shape)
    t = rng.integers(steps - h, size=shape)
    u = rng.random(shape)
    random_goal = u >= P_CUR + P_TRAJ
    goal_episode = np.where(random_goal, rng.integers(EPISODES, size=shape), episode)
    later = t + np.floor(rng.random(shape) * (steps - t)).astype(t.dtype)
    goal_t = np.where(u < P_CUR, t, np.where(random_goal, rng.integers(steps - h, size=shape),
                                             later))
    to_goal = goal_t - t
    reached = (goal_episode == episode) & (to_goal >= 0) & (to_goal < h)
    k = np.where(reached, to_goal, h)
    chunks = actions[episode[..., None], t[..., None] + np.arange(h)]  # [K, B, h, A]
    return jax.tree.map(jnp.asarray, Minibatches(
        obs=obs[episode, t], goals=obs[goal_episode, goal_t][..., list(goal_dims)],
        chunks=chunks.reshape(shape + (h * ACTION_DIM,)), next_obs=obs[episode, t + k],
        rewards=(DISCOUNT ** k * reached).astype(np.float32),
        masks=(1.0 - reached).astype(np.float32), backup_horizon=k.astype(np.int32)))


# -- Hand-written baseline -------------------------------------------------------------------

class MLP(nn.Module):
    """Dense -> GELU -> LayerNorm per hidden layer, then a linear output layer."""

    width: int
    depth: int
    out: int

    @nn.compact
    def __call__(self, x):
        for _ in range(self.depth):
            x = nn.LayerNorm()(nn.gelu(nn.Dense(self.width, kernel_init=_KERNEL)(x)))
        return nn.Dense(self.out, kernel_init=_KERNEL)(x)


@struct.dataclass
class BaselineParams:
    actor: Any  # v(s, x_t, t) over the h_a-prefix
    chunk_critic: Any  # two members, stacked on a leading axis
    action_critic: Any  # two members
    value: Any


@struct.dataclass
class BaselineState:
    params: BaselineParams
    target_action_critic: Any
    opt_state: Any
    key: jax.Array


def bce(logits: jax.Array, targets: jax.Array) -> jax.Array:
    """Returns the elementwise binary cross-entropy of ``logits`` toward ``targets``."""
    return -(targets * jax.nn.log_sigmoid(logits) + (1.0 - targets) * jax.nn.log_sigmoid(-logits))


def make_baseline(width: int, depth: int, goal_dim: int):
    """Returns (init(key) -> BaselineState, run: jitted (state, Minibatches [K]) -> (state,
    chunk-critic losses [K])), one seed, one lax.scan over the K minibatches."""
    prefix_dim, chunk_dim = POLICY_CHUNK * ACTION_DIM, BACKUP_HORIZON * ACTION_DIM
    actor, critic, value = MLP(width, depth, prefix_dim), MLP(width, depth, 1), MLP(width, depth, 1)
    optimiser = optax.adam(LR)

    def ensemble(params, x):  # [2, B] logits of a two-member critic
        return jax.vmap(critic.apply, in_axes=(0, None))(params, x)[..., 0]

    def init(key) -> BaselineState:
        k_actor, k_chunk, k_action, k_value, key = jax.random.split(key, 5)
        with_goal = jnp.zeros((1, OBS_DIM + goal_dim))
        two = lambda k, dim: jax.vmap(critic.init, in_axes=(0, None))(  # noqa: E731
            jax.random.split(k), jnp.zeros((1, OBS_DIM + goal_dim + dim)))
        params = BaselineParams(
            actor=actor.init(k_actor, jnp.zeros((1, OBS_DIM + prefix_dim + 1))),
            chunk_critic=two(k_chunk, chunk_dim), action_critic=two(k_action, prefix_dim),
            value=value.init(k_value, with_goal))
        return BaselineState(params, params.action_critic, optimiser.init(params), key)

    def update(state: BaselineState, batch: Minibatches):
        key, noise_key, time_key = jax.random.split(state.key, 3)
        p = state.params
        with_goal = jnp.concatenate([batch.obs, batch.goals], -1)
        prefixes = batch.chunks[:, :prefix_dim]
        next_v = value.apply(p.value, jnp.concatenate([batch.next_obs, batch.goals], -1))[:, 0]
        backup = jnp.clip(batch.rewards + DISCOUNT ** batch.backup_horizon.astype(jnp.float32)
                          * batch.masks * jax.nn.sigmoid(next_v), 0.0, 1.0)
        target_q = ensemble(state.target_action_critic,
                            jnp.concatenate([with_goal, prefixes], -1))
        # The mean of the members' sigmoids, and its logit computed in log space (the mean's
        # log 1/2 cancels), as the suite's stable aggregation.
        q = jnp.mean(jax.nn.sigmoid(target_q), 0)
        q_logit = (jax.scipy.special.logsumexp(jax.nn.log_sigmoid(target_q), 0)
                   - jax.scipy.special.logsumexp(jax.nn.log_sigmoid(-target_q), 0))
        x0 = jax.random.normal(noise_key, prefixes.shape)
        t = jax.random.uniform(time_key, (prefixes.shape[0], 1))

        def loss(params: BaselineParams):
            q_h = ensemble(params.chunk_critic, jnp.concatenate([with_goal, batch.chunks], -1))
            chunk_loss = jnp.mean(bce(q_h, backup[None]))
            distill = jax.lax.stop_gradient(jax.nn.sigmoid(q_h))
            q_a = ensemble(params.action_critic, jnp.concatenate([with_goal, prefixes], -1))
            w_d = jnp.where(distill >= jax.nn.sigmoid(q_a), KAPPA_D, 1.0 - KAPPA_D)
            action_loss = jnp.mean(w_d * bce(q_a, distill))
            v = value.apply(params.value, with_goal)[:, 0]
            w_b = jnp.where(q >= jax.nn.sigmoid(v), KAPPA_B, 1.0 - KAPPA_B)
            value_loss = jnp.mean(w_b * jnp.abs(v - q_logit))
            x_t = (1.0 - t) * x0 + t * prefixes
            velocity = actor.apply(params.actor, jnp.concatenate([batch.obs, x_t, t], -1))
            actor_loss = jnp.mean(jnp.square(velocity - (prefixes - x0)))
            return chunk_loss + action_loss + value_loss + actor_loss, chunk_loss

        (_, chunk_loss), grads = jax.value_and_grad(loss, has_aux=True)(p)
        updates, opt_state = optimiser.update(grads, state.opt_state)
        target = jax.tree.map(lambda old, new: TAU * new + (1.0 - TAU) * old,
                              state.target_action_critic, p.action_critic)
        return BaselineState(optax.apply_updates(p, updates), target, opt_state, key), chunk_loss

    @jax.jit
    def run(state: BaselineState, batches: Minibatches):
        return jax.lax.scan(update, state, batches)

    return init, run


# -- Timing ----------------------------------------------------------------------------------

class NoEnvEvaluator(HostEvaluator):
    """A HostEvaluator that holds no env, for machines without OGBench: ``run_chunk`` never
    evaluates (``train`` would, between chunks), so the compiled chunk is the same."""

    def __init__(self):  # noqa: D107  (no gymnasium env is built)
        self.chunk = 1
        self._envs = []


def make_evaluator() -> tuple[HostEvaluator, str]:
    """Returns (OGBench's cube-double evaluator with oracle goals, or a stand-in, its name)."""
    try:
        from jaxrl_suite.envs.ogbench_eval import OGBenchEvaluator

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return (OGBenchEvaluator("cube-double-v0", use_oracle_rep=True),
                    "OGBenchEvaluator('cube-double-v0', use_oracle_rep=True)")
    except Exception as exc:  # noqa: BLE001  (any reason OGBench cannot be built here)
        return NoEnvEvaluator(), f"a stand-in HostEvaluator (OGBench unavailable: {exc})"


def estimated_bytes(compiled) -> int:
    """Returns XLA's estimate of a compiled program's peak memory (arguments, outputs,
    temporaries)."""
    stats = compiled.memory_analysis()
    if stats is None:
        return 0
    total = (stats.argument_size_in_bytes + stats.output_size_in_bytes
             - stats.alias_size_in_bytes + stats.temp_size_in_bytes)
    return max(total, getattr(stats, "peak_memory_in_bytes", 0))


def available_bytes(device) -> int | None:
    """Returns the memory a new program can use: MemAvailable of /proc/meminfo on a CPU, the
    allocator's free bytes on an accelerator (None where neither is known)."""
    if device.platform != "cpu":
        stats = device.memory_stats() or {}
        if "bytes_limit" not in stats:
            return None
        return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))
    try:
        for line in pathlib.Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def is_out_of_memory(exc: Exception) -> bool:
    text = str(exc)
    return "RESOURCE_EXHAUSTED" in text or "Out of memory" in text or "out of memory" in text


def timed_calls(compiled, state, args: tuple, repeats: int) -> tuple[float, Any, Any]:
    """Returns (the best seconds of ``repeats`` calls after one warm-up call, the last state,
    the last call's second output); each call continues from the previous call's state."""
    state, out = compiled(state, *args)
    jax.block_until_ready((state, out))
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        state, out = compiled(state, *args)
        jax.block_until_ready((state, out))
        best = min(best, time.perf_counter() - start)
    return best, state, out


def cpu_model() -> str:
    """Returns the CPU's model name from /proc/cpuinfo (or 'unknown')."""
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=1024, help="layer width (paper: 1024)")
    parser.add_argument("--depth", type=int, default=4, help="hidden layers (paper: 4)")
    parser.add_argument("--batch", type=int, default=4096, help="minibatch (paper: 4096)")
    parser.add_argument("--updates", type=int, default=5, help="updates K per timed call")
    parser.add_argument("--seeds", default="1,8", help="comma list of vmapped seed counts")
    parser.add_argument("--repeats", type=int, default=2, help="timed calls (best kept)")
    args = parser.parse_args()
    seed_counts = [int(s) for s in args.seeds.split(",")]
    if min(seed_counts) < 1 or min(args.hidden, args.depth, args.batch, args.updates,
                                   args.repeats) < 1:
        parser.error("--hidden, --depth, --batch, --updates, --repeats and --seeds must be >= 1")
    k = args.updates
    device = jax.devices()[0]

    print(f"jax {jax.__version__}, devices {jax.devices()} ({device.device_kind})")
    print(f"CPU: {cpu_model()} ({os.cpu_count()} cores)")
    obs, actions = synthetic_episodes()
    goal_dims = oracle_goal_dims("cube-double-v0", OBS_DIM)
    dataset = suite_dataset(obs, actions)
    evaluator, evaluator_name = make_evaluator()
    print(f"DQC h={BACKUP_HORIZON} h_a={POLICY_CHUNK}, {args.depth} x {args.hidden} GELU+LayerNorm "
          f"networks, batch {args.batch}, {k} updates per call, best of {args.repeats} calls; "
          f"data {dataset.num_transitions:,} transitions (obs {OBS_DIM}, action {ACTION_DIM}, "
          f"goal dims {list(goal_dims)}); suite evaluator: {evaluator_name}", flush=True)

    # Baseline: one seed, measured once, before the suite's rows (never both in memory).
    init, run = make_baseline(args.hidden, args.depth, len(goal_dims))
    batches = presampled_minibatches(obs, actions, goal_dims, k, args.batch)
    state = init(jax.random.PRNGKey(0))
    compiled = run.lower(state, batches).compile()
    print(f"baseline: XLA memory estimate {estimated_bytes(compiled) / GIB:.2f} GiB", flush=True)
    seconds, state, losses = timed_calls(compiled, state, (batches,), args.repeats)
    baseline_rate, baseline_loss = k / seconds, float(losses[-1])
    del state, compiled, batches

    learner = make_dqc(DQCH25A5Config(goal_dims=goal_dims,
                                      hidden_sizes=(args.hidden,) * args.depth))
    trainer = make_train(learner, evaluator, TrainConfig(
        num_updates=k, eval_every=k, batch_size=args.batch, eval_episodes=1))
    spec = data_spec(dataset)

    header = (f"{'seeds':>5} {'suite seed-upd/s':>17} {'baseline upd/s':>15} {'ratio':>6} "
              f"{'est. GiB':>8} {'suite critic loss':>17} {'baseline critic loss':>20}")
    print(header)
    print("-" * len(header), flush=True)
    finite = np.isfinite(baseline_loss)
    for s in seed_counts:
        keys = jax.random.split(jax.random.PRNGKey(0), s)
        hparams = stack_hparams([learner.default_hparams] * s)
        start_shape = jax.eval_shape(trainer.init, keys, spec, hparams)
        compiled = trainer.run_chunk.lower(start_shape, dataset, None, hparams).compile()
        need = estimated_bytes(compiled)
        row = f"{s:>5} "
        available = available_bytes(device)
        if available is not None and need > 0.9 * available:
            print(row + f"skipped: needs ~{need / GIB:.1f} GiB, {available / GIB:.1f} GiB "
                  "available", flush=True)
            continue
        try:
            state = trainer.init(keys, spec, hparams)
            seconds, state, metrics = timed_calls(compiled, state, (dataset, None, hparams),
                                                  args.repeats)
        except Exception as exc:  # noqa: BLE001  (device OOM is reported as a row)
            if not is_out_of_memory(exc):
                raise
            print(row + f"out of device memory (XLA estimate {need / GIB:.1f} GiB)", flush=True)
            state = metrics = None
            continue
        rate = s * k / seconds
        # The mean over the chunk's K updates, of the seeds' mean.
        suite_loss = float(np.mean(metrics.update["chunk_critic_loss"]))
        finite = finite and np.isfinite(suite_loss)
        print(f"{s:>5} {rate:>17.4g} {baseline_rate:>15.4g} {rate / baseline_rate:>6.2f} "
              f"{need / GIB:>8.2f} {suite_loss:>17.4f} {baseline_loss:>20.4f}", flush=True)
        del state, metrics, compiled
    evaluator.close()
    print("suite critic loss: the last call's chunk-critic loss (mean over its updates and the "
          "seeds); baseline: its last update's. ratio = suite seed-updates/s / baseline "
          "updates/s (one seed).")
    if not finite:
        print("WARNING: a non-finite critic loss")


if __name__ == "__main__":
    main()
