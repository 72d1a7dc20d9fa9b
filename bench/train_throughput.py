"""Training-engine throughput against a hand-written TD3+BC scan and d3rlpy, in the same run.

    .venv/bin/python bench/train_throughput.py [--algos td3bc,iql] [--seeds 1,8,64]
        [--updates 1000] [--hidden 256] [--peer .venv-bench/bin/python]

Baseline: a minimal TD3+BC written directly as one ``lax.scan`` of updates in ``jit`` (two
256-unit layers, batch 256, minibatches drawn with ``jax.random.randint``, clipped double-Q
target, delayed actor and targets via ``jnp.where``), vmapped over seeds: the loop one would
write by hand. Suite: ``train.make_train(learner)`` ``run_chunk`` (the same updates plus the
engine's bookkeeping: divergence checks, metrics and one evaluation episode per chunk). Each is
compiled first (``.lower().compile()``) and then timed on one call. Ratio = suite / baseline
seed-updates/s (TD3+BC only: the baseline is TD3+BC). Peer: d3rlpy's TD3+BC and IQL (one seed
per process, the same dataset, torch threads = this machine's cores), run by
``bench/d3rlpy_peer.py`` in the separate bench venv (``make bench-venv``) when it exists.
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
from jaxrl_suite.agents.iql import IQLConfig, make_iql
from jaxrl_suite.agents.td3bc import TD3BCConfig, make_td3bc
from jaxrl_suite.data import DatasetMeta, from_arrays
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
    def __call__(self, s, a):
        x = jnp.concatenate([s, a], -1)
        q = []
        for _ in range(2):
            h = nn.relu(nn.Dense(self.hidden)(x))
            h = nn.relu(nn.Dense(self.hidden)(h))
            q.append(nn.Dense(1)(h)[..., 0])
        return jnp.stack(q)


def hand_written(obs, act, rew, nxt, done, hidden, num_updates):
    actor, critic, opt = Actor(hidden), Critic(hidden), optax.adam(3e-4)

    def run(key):
        k1, k2, key = jax.random.split(key, 3)
        ap, cp = actor.init(k1, obs[:1]), critic.init(k2, obs[:1], act[:1])
        carry = (ap, cp, ap, cp, opt.init(ap), opt.init(cp), key, 0)

        def step(c, _):
            ap, cp, tap, tcp, aos, cos, key, t = c
            key, ks, kn = jax.random.split(key, 3)
            i = jax.random.randint(ks, (256,), 0, obs.shape[0])
            s, a, r, s2, d = obs[i], act[i], rew[i], nxt[i], done[i]
            noise = jnp.clip(0.2 * jax.random.normal(kn, a.shape), -0.5, 0.5)
            a2 = jnp.clip(actor.apply(tap, s2) + noise, -1, 1)
            y = r + 0.99 * (1 - d) * jnp.min(critic.apply(tcp, s2, a2), 0)
            closs = lambda p: jnp.mean((critic.apply(p, s, a) - y) ** 2)
            g = jax.grad(closs)(cp)
            u, cos = opt.update(g, cos)
            cp = optax.apply_updates(cp, u)

            def aloss(p):
                pa = actor.apply(p, s)
                q = critic.apply(cp, s, pa)[0]
                return -2.5 / jax.lax.stop_gradient(jnp.abs(q).mean()) * q.mean() + \
                    jnp.mean((pa - a) ** 2)

            g = jax.grad(aloss)(ap)
            u, naos = opt.update(g, aos)
            nap = optax.apply_updates(ap, u)
            upd = t % 2 == 0
            sel = lambda n, o: jax.tree.map(lambda x, y: jnp.where(upd, x, y), n, o)
            soft = lambda t_, o: jax.tree.map(lambda x, y: 0.005 * y + 0.995 * x, t_, o)
            ap, aos = sel(nap, ap), sel(naos, aos)
            tap, tcp = sel(soft(tap, ap), tap), sel(soft(tcp, cp), tcp)
            return (ap, cp, tap, tcp, aos, cos, key, t + 1), None

        return jax.lax.scan(step, carry, None, length=num_updates)[0][0]

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


def timed(fn, *args) -> float:
    """Returns the seconds of one call of ``fn`` (a jitted function) after compiling it."""
    compiled = fn.lower(*args).compile()
    jax.block_until_ready(compiled(*args))  # first call: buffers, caches
    start = time.perf_counter()
    jax.block_until_ready(compiled(*args))
    return time.perf_counter() - start


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
    parser.add_argument("--algos", default="td3bc,iql")
    parser.add_argument("--seeds", default="1,8,64")
    parser.add_argument("--updates", type=int, default=1_000)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--peer", default=".venv-bench/bin/python",
                        help="Python of the bench venv with d3rlpy ('' to skip)")
    parser.add_argument("--peer-updates", type=int, default=500)
    args = parser.parse_args()
    ds, spec, arrays = bench_data()
    config = TrainConfig(num_updates=args.updates, eval_every=args.updates, eval_episodes=1)
    hidden = (args.hidden, args.hidden)
    learners = {"td3bc": make_td3bc(TD3BCConfig(hidden)), "iql": make_iql(IQLConfig(hidden))}
    print(f"{args.hidden}-unit layers, batch 256, {args.updates} updates per call, "
          f"{jax.devices()[0]} ({os.cpu_count()} cores)")
    for algo in args.algos.split(","):
        learner = learners[algo]
        trainer = make_train(learner, make_env("Pendulum-v1"), config)
        for s in (int(x) for x in args.seeds.split(",")):
            keys = jax.random.split(jax.random.PRNGKey(0), s)
            hp = stack_hparams([learner.default_hparams] * s)
            rate = lambda t: s * args.updates / t
            ours = rate(timed(trainer.run_chunk, trainer.init(keys, spec, hp), ds, None, hp))
            line = f"{algo:>6} seeds {s:>5}: suite {ours:>10,.0f} seed-updates/s"
            if algo == "td3bc":
                base = rate(timed(hand_written(*arrays, args.hidden, args.updates), keys))
                line += f"; hand-written {base:>10,.0f}; ratio {ours / base:.2f}"
            print(line, flush=True)
        if args.peer and pathlib.Path(args.peer).exists():
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
