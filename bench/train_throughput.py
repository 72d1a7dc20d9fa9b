"""Training-engine throughput against an efficient hand-written TD3+BC scan and d3rlpy, in the
same run; CQL's, EDAC's and IQL's update cost relative to TD3+BC's.

    .venv/bin/python bench/train_throughput.py [--algos td3bc,iql,cql,edac] [--seeds 1,8,64]
        [--cql-seeds 1] [--updates 1000] [--hidden 256] [--peer .venv-bench/bin/python]
        [--precision default|tf32|highest] [--repeats 3]

The data are Pendulum-shaped (3-D observations, 1-D actions): EDAC's diversity term, a
per-example Jacobian over the action dimensions, costs more on locomotion's 6-D actions.

Baseline: TD3+BC written directly as one ``lax.scan`` in ``jit`` (two 256-unit layers, batch
256, minibatches drawn with ``jax.random.randint``, clipped double-Q target), each scan step
``policy_delay`` (2) critic updates and one actor update with the soft target updates: the
actor's step is computed only when it is applied and reads Q1 alone (one critic's products,
not both with one discarded), the fastest honest loop one would write by hand; vmapped over
seeds. Suite: ``train.make_train(learner)``'s ``run_chunk``, the compiled
chunk the ``train`` CLI runs (the same updates plus the engine's bookkeeping: divergence checks,
metrics, one evaluation episode per chunk). Each is compiled first (``.lower().compile()``)
and timed on one call, at two chunk lengths: the difference gives the marginal cost of an
update (fixed per-chunk costs cancel). Ratio = suite / baseline seed-updates/s. Peer:
d3rlpy's TD3+BC and IQL (one seed per process, the same dataset, torch threads = this
machine's cores), run by ``bench/d3rlpy_peer.py`` in the separate bench venv
(``make bench-venv``) when it exists.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import tempfile
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxrl_suite.agents.base import data_spec
from jaxrl_suite.agents.cql import CQLConfig, make_cql
from jaxrl_suite.agents.edac import EDACConfig, make_edac
from jaxrl_suite.agents.iql import IQLConfig, make_iql
from jaxrl_suite.agents.td3bc import TD3BCConfig, make_td3bc
from jaxrl_suite.data import DatasetMeta, from_arrays
from jaxrl_suite.data.sampling import gather
from jaxrl_suite.envs.registry import make_env
from jaxrl_suite.train import TrainConfig, make_train, stack_hparams


class Actor(nn.Module):
    hidden: int

    @nn.compact
    def __call__(self, s):
        s = nn.relu(nn.Dense(self.hidden)(s))
        s = nn.relu(nn.Dense(self.hidden)(s))
        return jnp.tanh(nn.Dense(1)(s))


class Critic(nn.Module):
    hidden: int

    @nn.compact
    def __call__(self, s, a, members: int = 2):
        # members=1: Q1 alone (the actor's loss), from the first member's parameters.
        x = jnp.concatenate([s, a], -1)
        q = []
        for _ in range(members):
            h = nn.relu(nn.Dense(self.hidden)(x))
            h = nn.relu(nn.Dense(self.hidden)(h))
            q.append(nn.Dense(1)(h)[..., 0])
        return jnp.stack(q)


def hand_written(obs, act, rew, nxt, done, hidden, num_updates, policy_delay=2):
    """Returns jit(vmap(run)) of the efficient hand-written TD3+BC: one scan step is
    ``policy_delay`` critic updates and one actor update with both soft target updates, the
    actor's step computed only when it is applied (TD3's order: the first update of each block
    also steps the actor)."""
    actor, critic, opt = Actor(hidden), Critic(hidden), optax.adam(3e-4)
    soft = lambda t_, o: jax.tree.map(lambda x, y: 0.005 * y + 0.995 * x, t_, o)

    def critic_update(ap, cp, tap, tcp, cos, key):
        ks, kn = jax.random.split(key)
        i = jax.random.randint(ks, (256,), 0, obs.shape[0])
        s, a, r, s2, d = obs[i], act[i], rew[i], nxt[i], done[i]
        noise = jnp.clip(0.2 * jax.random.normal(kn, a.shape), -0.5, 0.5)
        a2 = jnp.clip(actor.apply(tap, s2) + noise, -1, 1)
        y = r + 0.99 * (1 - d) * jnp.min(critic.apply(tcp, s2, a2), 0)
        g = jax.grad(lambda p: jnp.mean((critic.apply(p, s, a) - y) ** 2))(cp)
        u, cos = opt.update(g, cos)
        return optax.apply_updates(cp, u), cos, s, a

    def run(key):
        k1, k2, key = jax.random.split(key, 3)
        ap, cp = actor.init(k1, obs[:1]), critic.init(k2, obs[:1], act[:1])
        carry = (ap, cp, ap, cp, opt.init(ap), opt.init(cp), key)

        def block(c, _):
            ap, cp, tap, tcp, aos, cos, key = c
            keys = jax.random.split(key, policy_delay + 1)
            cp, cos, s, a = critic_update(ap, cp, tap, tcp, cos, keys[1])

            def aloss(p):
                pa = actor.apply(p, s)
                q = critic.apply(cp, s, pa, 1)[0]
                return -2.5 / jax.lax.stop_gradient(jnp.abs(q).mean()) * q.mean() + \
                    jnp.mean((pa - a) ** 2)

            u, aos = opt.update(jax.grad(aloss)(ap), aos)
            ap = optax.apply_updates(ap, u)
            tap, tcp = soft(tap, ap), soft(tcp, cp)
            for j in range(2, policy_delay + 1):
                cp, cos, _, _ = critic_update(ap, cp, tap, tcp, cos, keys[j])
            return (ap, cp, tap, tcp, aos, cos, keys[0]), None

        return jax.lax.scan(block, carry, None, length=num_updates // policy_delay)[0][0]

    return jax.jit(jax.vmap(run))


def bench_data(n: int = 100_000):
    """Returns (dataset, its DataSpec, the baseline's pre-normalised arrays): n random
    Pendulum-shaped transitions in 200-step episodes (throughput only; values do not matter)."""
    rng = np.random.default_rng(0)
    timeouts = np.zeros(n, bool)
    timeouts[199::200] = True
    ds = from_arrays(rng.normal(size=(n, 3)), rng.uniform(-2, 2, (n, 1)), rng.normal(size=n),
                     np.zeros(n, bool), timeouts, rng.normal(size=(n, 3)),
                     meta=DatasetMeta(env_id="Pendulum-v1", action_low=(-2.0,),
                                      action_high=(2.0,)))
    spec = data_spec(ds)
    arrays = (spec.normalize(ds.observations), spec.to_unit(ds.actions), ds.rewards,
              spec.normalize(ds.next_observations), ds.terminals.astype(jnp.float32))
    return ds, spec, arrays


REPEATS = 1  # timed calls per measurement (--repeats); the fastest counts


def timed(fn, *args) -> float:
    """Returns the seconds of the fastest of ``REPEATS`` calls of ``fn`` (a jitted function)
    after compiling it and one warm-up call (the minimum: the least disturbed by other work)."""
    compiled = fn.lower(*args).compile()

    def fresh():  # run_chunk consumes (donates) its state: each call gets its own copy
        return jax.block_until_ready((jax.tree.map(jnp.copy, args[0]),) + args[1:])

    jax.block_until_ready(compiled(*fresh()))  # first call: buffers, caches
    best = float("inf")
    for _ in range(REPEATS):
        call_args = fresh()
        start = time.perf_counter()
        jax.block_until_ready(compiled(*call_args))
        best = min(best, time.perf_counter() - start)
    return best


def update_flops(learner, dataset, spec) -> float:
    """Returns XLA's count of floating-point operations in one update of ``learner`` (one
    cell, batch 256; a delayed learner: the mean over its block, ``Learner.delayed``), from
    the compiled update's cost analysis: on a CPU, where the matrix products bound the speed,
    the ratio of two learners' counts is the floor of their time ratio."""
    state = learner.init(jax.random.PRNGKey(0), spec, learner.default_hparams)
    batch = gather(dataset, jnp.arange(256))

    def flops(fn) -> float:
        cost = jax.jit(fn).lower(state, batch, jax.random.PRNGKey(0),
                                 learner.default_hparams).compile().cost_analysis()
        return float((cost[0] if isinstance(cost, (list, tuple)) else cost)["flops"])

    if learner.delayed is None:
        return flops(learner.update)
    full, between = learner.delayed
    return (flops(full) + (learner.update_period - 1) * flops(between)) / learner.update_period


def peer_rate(python: str, data: pathlib.Path, algo: str, updates: int, hidden: int):
    """Returns d3rlpy's updates/s (one seed) from the bench venv, or None if it failed."""
    cmd = [python, str(pathlib.Path(__file__).with_name("d3rlpy_peer.py")), "--data", str(data),
           "--algo", algo, "--updates", str(updates), "--hidden", str(hidden),
           "--threads", str(os.cpu_count())]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    lines = [l for l in proc.stdout.splitlines() if l.startswith("{")]
    if proc.returncode or not lines:
        print(f"d3rlpy {algo} failed: {proc.stderr.strip().splitlines()[-1:]}")
        return None
    return json.loads(lines[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--algos", default="td3bc,iql,cql")
    parser.add_argument("--seeds", default="1,8,64")
    parser.add_argument("--cql-seeds", default="1",
                        help="CQL's and EDAC's seed counts (their updates cost ~15x TD3+BC's "
                        "on a CPU)")
    parser.add_argument("--precision", default="default", choices=("default", "tf32", "highest"),
                        help="--matmul_precision of every compiled program")
    parser.add_argument("--updates", type=int, default=1_000)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--peer", default=".venv-bench/bin/python",
                        help="Python of the bench venv with d3rlpy ('' to skip)")
    parser.add_argument("--peer-updates", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=1,
                        help="timed calls per measurement, the fastest kept (the marginal "
                        "figures difference two timings: repeats steady them)")
    args = parser.parse_args()
    global REPEATS
    REPEATS = args.repeats
    from jaxrl_suite.provenance import set_matmul_precision
    set_matmul_precision(args.precision)
    ds, spec, arrays = bench_data()
    u = args.updates
    hidden = (args.hidden, args.hidden)
    learners = {"td3bc": lambda: make_td3bc(TD3BCConfig(hidden)),
                "iql": lambda: make_iql(IQLConfig(hidden)),
                "cql": lambda: make_cql(CQLConfig(hidden)),
                # EDAC at its N = 10 critics, three hidden layers as its config (CORL)
                "edac": lambda: make_edac(EDACConfig((args.hidden,) * 3))}
    print(f"{args.hidden}-unit layers, batch 256, chunks of {u} and {2 * u} updates, "
          f"{jax.devices()[0]} ({os.cpu_count()} cores), jax {jax.__version__}, "
          f"--matmul_precision={args.precision}")
    print("marginal = seed-updates/s from the difference of the two chunk lengths (the "
          "chunk's fixed costs, e.g. its evaluation episode, cancel); call = one chunk of "
          f"{u} updates, fixed costs included")
    marginal_cost: dict[tuple[str, int], float] = {}  # seconds per seed-update
    gflops: dict[str, float] = {}
    for algo in args.algos.split(","):
        learner = learners[algo]()
        gflops[algo] = update_flops(learner, ds, spec) / 1e9
        print(f"{algo:>6}: {gflops[algo]:.3f} GFLOP per update (XLA cost analysis)"
              + (f", {gflops[algo] / gflops['td3bc']:.1f}x TD3+BC's" if "td3bc" in gflops
                 and algo != "td3bc" else ""), flush=True)
        trainers = [make_train(learner, make_env("Pendulum-v1"), TrainConfig(
            num_updates=n, eval_every=n, eval_episodes=1)) for n in (u, 2 * u)]
        seeds = args.cql_seeds if algo in ("cql", "edac") else args.seeds
        for s in (int(x) for x in seeds.split(",")):
            keys = jax.random.split(jax.random.PRNGKey(0), s)
            hp = stack_hparams([learner.default_hparams] * s)
            t1, t2 = (timed(t.run_chunk, t.init(keys, spec, hp), ds, None, hp)
                      for t in trainers)
            marginal_cost[algo, s] = (t2 - t1) / (s * u)
            line = (f"{algo:>6} seeds {s:>4}: suite marginal {1 / marginal_cost[algo, s]:>9,.0f}"
                    f" call {s * u / t1:>9,.0f} seed-updates/s")
            if algo == "td3bc":
                b1, b2 = (timed(hand_written(*arrays, args.hidden, n), keys) for n in (u, 2 * u))
                base = s * u / (b2 - b1)
                line += (f"; hand-written (efficient) marginal {base:>9,.0f} call "
                         f"{s * u / b1:>9,.0f}; ratio marginal "
                         f"{1 / marginal_cost[algo, s] / base:.2f} call {b1 / t1:.2f}")
            elif ("td3bc", s) in marginal_cost:
                line += (f"; update cost {marginal_cost[algo, s] / marginal_cost['td3bc', s]:.1f}"
                         "x TD3+BC's")
            print(line, flush=True)
        if args.peer and pathlib.Path(args.peer).exists() and algo in ("td3bc", "iql"):
            with tempfile.TemporaryDirectory() as tmp:
                data = pathlib.Path(tmp) / "data.npz"
                np.savez(data, observations=np.asarray(ds.observations),
                         actions=np.asarray(ds.actions), rewards=np.asarray(ds.rewards),
                         terminals=np.asarray(ds.terminals), timeouts=np.asarray(ds.timeouts))
                peer = peer_rate(args.peer, data, algo, args.peer_updates, args.hidden)
            if peer:
                print(f"{algo:>6} d3rlpy {peer['versions']['d3rlpy']} (torch "
                      f"{peer['versions']['torch']}, {peer['threads']} threads, 1 seed): "
                      f"{peer['updates_per_s']:,.0f} updates/s", flush=True)


if __name__ == "__main__":
    main()
