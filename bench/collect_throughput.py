"""Collection throughput (env-steps/s) of the suite's collector vs a plain vmapped scan.

    .venv/bin/python bench/collect_throughput.py [--env CartPole-v1] [--steps 2000]

Both run the uniform random policy in the same gymnax env for the same number of steps at
batch 1 and 1,024: the baseline is a bare ``lax.scan`` over ``jax.vmap(env.step)`` with the
same auto-reset (what one would write by hand); the suite's is ``envs.rollout.rollout`` as the
dataset collector calls it (``with_stats=False``), recording the same transitions.
Ratio = suite / baseline.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp

from jaxrl_suite.envs.evaluate import random_policy
from jaxrl_suite.envs.registry import make_env
from jaxrl_suite.envs.rollout import init_rollout, rollout


def plain_scan(env, policy_fn, num_envs, num_steps):
    """The hand-written baseline: vmapped step + reset-where-done, transitions stacked."""

    def run(key):
        reset_key, run_key = jax.random.split(key)
        obs, state = jax.vmap(env.reset)(jax.random.split(reset_key, num_envs))

        def body(carry, key):
            obs, state = carry
            k_act, k_step, k_reset = jax.random.split(key, 3)
            action = policy_fn(None, obs, k_act)
            nxt, state, reward, term, trunc = jax.vmap(env.step)(
                state, action, jax.random.split(k_step, num_envs))
            done = term | trunc
            r_obs, r_state = jax.vmap(env.reset)(jax.random.split(k_reset, num_envs))
            pick = lambda a, b: jnp.where(done.reshape(done.shape + (1,) * (a.ndim - 1)), a, b)
            new = (pick(r_obs, nxt), jax.tree.map(pick, r_state, state))
            return new, (obs, action, reward, nxt, term, trunc)

        return jax.lax.scan(body, (obs, state), jax.random.split(run_key, num_steps))[1]

    return jax.jit(run)


def suite_collector(env, policy_fn, num_envs, num_steps):
    def run(key):
        reset_key, run_key = jax.random.split(key)
        state = init_rollout(env, reset_key, num_envs)
        return rollout(env, policy_fn, None, state, run_key, num_steps, with_stats=False)[1]

    return jax.jit(run)


def timed(fn, repeats=3):
    jax.block_until_ready(fn(jax.random.PRNGKey(0)))  # compile
    best = float("inf")
    for i in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(jax.random.PRNGKey(i + 1)))
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--steps", type=int, default=2_000)
    args = parser.parse_args()
    env = make_env(args.env)
    policy_fn = random_policy(env.spec)
    print(f"{args.env}, {args.steps} steps per env, best of 3, {jax.devices()[0]}")
    for num_envs in (1, 1024):
        base = timed(plain_scan(env, policy_fn, num_envs, args.steps))
        ours = timed(suite_collector(env, policy_fn, num_envs, args.steps))
        sps = lambda t: num_envs * args.steps / t
        print(f"batch {num_envs:>5}: plain vmap scan {sps(base):>12,.0f} env-steps/s; "
              f"suite collector {sps(ours):>12,.0f} env-steps/s; ratio {base / ours:.2f}")


if __name__ == "__main__":
    main()
