"""Evaluation throughput (env-steps/s) in MuJoCo locomotion: MJX in-jit vs the host evaluators.

    .venv/bin/python bench/eval_throughput.py [--env HalfCheetah-v5] [--steps 100]
                                              [--episodes 1,64,1024]

All three run the same fixed deterministic policy (a = tanh(obs W + b), one jitted call per
step for all episodes) for ``--steps`` steps per episode (HalfCheetah never terminates, so
every episode runs them all), in one run:
  * mjx:     ``envs.evaluate`` (vmapped reset, ``lax.scan`` over steps) on the MJX port, jitted;
  * host:    ``envs.host_eval.HostEvaluator`` (one gymnasium env per episode, C MuJoCo, only
             running episodes stepped), what ``train --eval_backend=host`` uses;
  * gym_vec: gymnasium's own ``SyncVectorEnv`` over the same number of copies (baseline).
Compile time and env construction are excluded (one warm-up call each; ``train`` builds
the host envs once and reuses them). Ratios are against gym_vec.
"""

from __future__ import annotations

import argparse
import json
import time

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np

from jaxrl_suite.envs.evaluate import evaluate
from jaxrl_suite.envs.host_eval import HostEvaluator
from jaxrl_suite.envs.registry import make_env


def linear(obs_dim, act_dim):
    rng = np.random.default_rng(0)
    return (jnp.asarray(rng.normal(0, 0.3 / np.sqrt(obs_dim), (obs_dim, act_dim)), jnp.float32),
            jnp.asarray(rng.normal(0, 0.3, act_dim), jnp.float32))


def policy_fn(params, obs, key):
    del key
    W, b = params
    return jnp.tanh(obs @ W + b)


def mjx_rate(name, steps, n, params):
    env = make_env(name, episode_length=steps)
    run = jax.jit(lambda p, k: evaluate(policy_fn, p, env, k, n).returns)
    jax.block_until_ready(run(params, jax.random.key(0)))  # compile
    start = time.perf_counter()
    jax.block_until_ready(run(params, jax.random.key(1)))
    return n * steps / (time.perf_counter() - start)


def host_rate(name, steps, n, params):
    evaluator = HostEvaluator("gymnasium/" + name, max_episode_steps=steps)
    stacked = jax.tree.map(lambda x: x[None], params)
    keys = jax.random.split(jax.random.key(0), 1)
    # Warm-up: compiles the policy and builds the n envs, which train reuses across chunks.
    evaluator.evaluate(policy_fn, stacked, keys, n)
    start = time.perf_counter()
    evaluator.evaluate(policy_fn, stacked, jax.random.split(jax.random.key(1), 1), n)
    seconds = time.perf_counter() - start
    evaluator.close()
    return n * steps / seconds


def gym_vector_rate(name, steps, n, params):
    envs = gymnasium.vector.SyncVectorEnv(
        [lambda: gymnasium.make(name, max_episode_steps=steps)] * n)
    policy = jax.jit(policy_fn)
    obs, _ = envs.reset(seed=0)
    np.asarray(policy(params, jnp.asarray(obs, jnp.float32), None))  # compile
    obs, _ = envs.reset(seed=1)
    start = time.perf_counter()
    for _ in range(steps):
        actions = np.asarray(policy(params, jnp.asarray(obs, jnp.float32), None))
        obs, *_ = envs.step(actions)
    seconds = time.perf_counter() - start
    envs.close()
    return n * steps / seconds


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--env", default="HalfCheetah-v5")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--episodes", default="1,64,1024")
    parser.add_argument("--mjx_max_episodes", type=int, default=64,
                        help="skip MJX above this many episodes (on a 2-core CPU, 1,024 MJX "
                             "episodes did not finish 100 steps within 25 minutes)")
    args = parser.parse_args()
    spec = make_env(args.env, episode_length=args.steps).spec
    params = linear(spec.observation_shape[0], spec.action_dim)
    rows = []
    for n in (int(x) for x in args.episodes.split(",")):
        base = gym_vector_rate(args.env, args.steps, n, params)
        host = host_rate(args.env, args.steps, n, params)
        mjx = mjx_rate(args.env, args.steps, n, params) if n <= args.mjx_max_episodes else None
        rows.append(dict(episodes=n, gym_vec=round(base), host=round(host),
                         mjx=None if mjx is None else round(mjx),
                         host_vs_gym_vec=round(host / base, 2),
                         mjx_vs_gym_vec=None if mjx is None else round(mjx / base, 2)))
        print(json.dumps(rows[-1]), flush=True)
    print(f"\n{args.env}, {args.steps} steps/episode, backend {jax.default_backend()} "
          f"({jax.devices()[0].device_kind}); env-steps/s")
    print("| episodes | gymnasium SyncVectorEnv | suite host (C MuJoCo) | MJX in-jit |")
    print("|---|---|---|---|")
    for r in rows:
        mjx = "not run" if r["mjx"] is None else f"{r['mjx']:,} ({r['mjx_vs_gym_vec']}x)"
        print(f"| {r['episodes']} | {r['gym_vec']:,} | {r['host']:,} ({r['host_vs_gym_vec']}x) "
              f"| {mjx} |")


if __name__ == "__main__":
    main()
