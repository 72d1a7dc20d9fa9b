"""Measures how many env steps and how much time online experts need on this machine.

DQN on CartPole-v1 and SAC on Pendulum-v1, several seeds vmapped in one jitted program, trained
in chunks (``train_steps``) with the deterministic expert evaluated on 10 episodes per seed
between chunks. Reports compile time, training time (evaluation excluded), throughput, the first
evaluated step at which the expert's mean return reaches the target (CartPole 475, gym's
"solved"; Pendulum -200) with the training time to that point, and the evaluation curve.

    .venv/bin/python bench/online_experts.py                       # both, paper/standard nets
    .venv/bin/python bench/online_experts.py --learner dqn --hidden 64,64 --steps 30000
    .venv/bin/python bench/online_experts.py --learner sac --steps 20000 --seeds 3
    .venv/bin/python bench/online_experts.py --learner sac --sac-env MountainCarContinuous-v0 \
        --sac-target 90 --steps 50000 --chunk 5000
"""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np

from jaxrl_suite.envs.evaluate import evaluate, random_policy
from jaxrl_suite.envs.gymnax_env import make_gymnax_env
from jaxrl_suite.online import DQNConfig, SACConfig, make_dqn, make_sac


def timed(fn, *args):
    start = time.perf_counter()
    out = jax.block_until_ready(fn(*args))
    return out, time.perf_counter() - start


def run(name, env, learner, expert_policy, params_of, chunk, seeds, target):
    config = learner.config
    keys = jax.random.split(jax.random.PRNGKey(0), seeds)
    hparams = learner.default_hparams
    init = jax.jit(jax.vmap(lambda k: learner.init(k, hparams)))
    warmup_fn = jax.jit(jax.vmap(
        lambda s, k: learner.train_steps(s, k, config.learning_starts, hparams, learn=False)[0]))
    learn_fn = jax.jit(jax.vmap(lambda s, k: learner.train_steps(s, k, chunk, hparams)[0]))
    expert_return = jax.jit(jax.vmap(
        lambda p, k: evaluate(expert_policy, p, env, k, 10).returns.mean()))

    state = init(keys)
    start = time.perf_counter()
    warmup = warmup_fn.lower(state, keys).compile()
    learn = learn_fn.lower(state, keys).compile()
    expert_return = expert_return.lower(params_of(state), keys).compile()
    compile_s = time.perf_counter() - start

    key = jax.random.PRNGKey(1)
    state, train_s = timed(warmup, state, jax.random.split(key, seeds))
    step, curve, reached = config.learning_starts, [], [None] * seeds
    while step < config.total_steps:
        key, learn_key, eval_key = jax.random.split(key, 3)
        state, dt = timed(learn, state, jax.random.split(learn_key, seeds))
        train_s += dt
        step += chunk
        returns = np.asarray(expert_return(params_of(state), jax.random.split(eval_key, seeds)))
        curve.append((step, returns))
        for seed in range(seeds):
            if reached[seed] is None and returns[seed] >= target:
                reached[seed] = (step, train_s)
    random = float(evaluate(random_policy(env.spec), None, env, key, 100).returns.mean())

    print(f"\n== {name}: {step:,} steps x {seeds} seeds (vmapped), {jax.devices()[0]}")
    print(f"compile {compile_s:.1f} s; training {train_s:.1f} s = "
          f"{step * seeds / train_s:,.0f} seed-steps/s "
          f"({step / train_s:,.0f} steps/s of the batch)")
    print(f"random policy mean return: {random:.1f}; target {target}")
    for seed in range(seeds):
        hit = reached[seed]
        when = "not reached" if hit is None else f"step {hit[0]:,} after {hit[1]:.1f} s training"
        print(f"seed {seed}: expert mean return >= {target}: {when}")
    print("expert mean return per seed (10 episodes) by step:")
    for step, returns in curve:
        print(f"  {step:>7,}: " + " ".join(f"{r:8.1f}" for r in returns))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learner", choices=["dqn", "sac", "both"], default="both")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--sac-env", default="Pendulum-v1", help="e.g. MountainCarContinuous-v0")
    parser.add_argument("--sac-target", type=float, default=-200.0, help="e.g. 90 for MountainCar")
    parser.add_argument("--chunk", type=int, default=None, help="steps between evaluations")
    parser.add_argument("--hidden", type=str, default=None, help="e.g. 64,64")
    parser.add_argument("--batch", type=int, default=None, help="SAC batch size")
    parser.add_argument("--warmup", type=int, default=None, help="SAC random warm-up steps")
    args = parser.parse_args()
    hidden = tuple(int(x) for x in args.hidden.split(",")) if args.hidden else None

    if args.learner in ("dqn", "both"):
        env = make_gymnax_env("CartPole-v1")
        config = DQNConfig(total_steps=args.steps or 50_000)  # paper net: 3 x 256 SELU
        if hidden:
            config = DQNConfig(total_steps=config.total_steps, hidden_sizes=hidden)
        dqn = make_dqn(env, config)
        run(f"DQN CartPole-v1 hidden={config.hidden_sizes}", env, dqn, dqn.greedy_policy,
            lambda s: s.params, args.chunk or 2_500, args.seeds, target=475.0)

    if args.learner in ("sac", "both"):
        env = make_gymnax_env(args.sac_env)
        defaults = SACConfig()
        config = SACConfig(
            total_steps=args.steps or 20_000,
            hidden_sizes=hidden or defaults.hidden_sizes,
            batch_size=args.batch or defaults.batch_size,
            learning_starts=args.warmup if args.warmup is not None else defaults.learning_starts,
        )
        sac = make_sac(env, config)
        name = (f"SAC {args.sac_env} hidden={config.hidden_sizes} batch={config.batch_size} "
                f"warm-up={config.learning_starts}")
        run(name, env, sac, sac.deterministic_policy, lambda s: s.actor_params,
            args.chunk or 1_000, args.seeds, target=args.sac_target)


if __name__ == "__main__":
    main()
