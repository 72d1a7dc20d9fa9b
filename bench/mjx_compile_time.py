"""Compile and step time of one MJX env on this machine: what dominates the MuJoCo tests on a CPU.

    .venv/bin/python bench/mjx_compile_time.py [--env Hopper-v5]
    XLA_FLAGS=--xla_backend_optimization_level=0 .venv/bin/python bench/mjx_compile_time.py

Prints the compile time of the batch-vmapped reset and step (16 envs) and the time of 50
compiled steps; the second line shows what XLA's optimisation level trades (BUILD_NOTES "The
newcomer's first hour").
"""

import argparse
import time

import jax
import jax.numpy as jnp

from jaxrl_suite.envs.registry import make_env


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--env", default="Hopper-v5")
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    t0 = time.perf_counter()
    env = make_env(args.env, episode_length=100)
    reset, step = jax.jit(jax.vmap(env.reset)), jax.jit(jax.vmap(env.step))
    obs, state = reset(jax.random.split(jax.random.key(0), args.batch))
    jax.block_until_ready(obs)
    t1 = time.perf_counter()
    actions = jnp.zeros((args.batch, env.spec.action_dim))
    keys = jax.random.split(jax.random.key(1), args.batch)
    out = jax.block_until_ready(step(state, actions, keys))
    t2 = time.perf_counter()
    for _ in range(50):
        out = step(out[1], actions, keys)
    jax.block_until_ready(out)
    t3 = time.perf_counter()
    print(f"{args.env}: reset compile {t1 - t0:.1f} s, step compile {t2 - t1:.1f} s, "
          f"50 steps of {args.batch} envs {t3 - t2:.2f} s")


if __name__ == "__main__":
    main()
