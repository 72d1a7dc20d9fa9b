"""Trains brax experts for the MJX locomotion suite and prints one JSON line per env.

For each env: brax's agent (PPO by default) at the published budget and settings
(``jaxrl_suite.generate.brax_experts``), then the expert (best-evaluated params) and the uniform
random policy evaluated by OUR evaluator on OUR env adapter (deterministic actions), which gives
the ``REFERENCE_RETURNS`` pair (random, expert) for ``jaxrl_suite/envs/registry.py``. Reports
brax's evaluation curve, the wall time of brax's ``train`` and the training throughput (env
steps per second of brax's training epochs), both with compilation included. A GPU job: the
full budgets are 50-100M env steps per env.

    .venv/bin/python bench/locomotion_experts.py             # PPO: hopper, halfcheetah, walker2d
    .venv/bin/python bench/locomotion_experts.py --algorithm published   # brax's choice per env
    .venv/bin/python bench/locomotion_experts.py --envs halfcheetah --num-timesteps 20000000
    .venv/bin/python bench/locomotion_experts.py --tiny               # CPU smoke run (~1-2 min/env)
"""

from __future__ import annotations

import argparse
import functools
import json
import time

import jax
import numpy as np

from jaxrl_suite.envs import evaluate, make_brax_env, random_policy
from jaxrl_suite.generate.brax_experts import BRAX_PUBLISHED_ALGORITHM, train_brax_expert

# --tiny: a few hundred env steps, 16-unit networks, 20-step episodes. Checks the plumbing only.
TINY = dict(
    ppo=dict(num_timesteps=800, num_envs=8, batch_size=8, num_minibatches=2, unroll_length=5,
             num_updates_per_batch=1, num_evals=2, num_eval_envs=8),
    sac=dict(num_timesteps=512, num_envs=8, batch_size=32, min_replay_size=64,
             grad_updates_per_step=1, num_evals=2, num_eval_envs=8, max_devices_per_host=1),
)
TINY_EPISODE_LENGTH = 20


def tiny_network_factory(algorithm):
    if algorithm == "ppo":
        from brax.training.agents.ppo import networks as ppo_networks

        return functools.partial(ppo_networks.make_ppo_networks,
                                 policy_hidden_layer_sizes=(16, 16),
                                 value_hidden_layer_sizes=(16, 16))
    from brax.training.agents.sac import networks as sac_networks

    return functools.partial(sac_networks.make_sac_networks, hidden_layer_sizes=(16, 16))


def emit(record):
    print(json.dumps(record), flush=True)


def run_env(env_name, algorithm, args):
    episode_length = TINY_EPISODE_LENGTH if args.tiny else args.episode_length
    overrides = {}
    if args.tiny:
        overrides = dict(TINY[algorithm], network_factory=tiny_network_factory(algorithm))
    if args.num_timesteps is not None:
        overrides["num_timesteps"] = args.num_timesteps

    def progress(step, ret):
        if args.verbose:
            emit({"env": env_name, "event": "eval", "step": step, "eval_return": ret,
                  "elapsed_s": round(time.perf_counter() - start, 1)})

    start = time.perf_counter()
    expert = train_brax_expert(env_name, algorithm=algorithm, episode_length=episode_length,
                               seed=args.seed, progress=progress, **overrides)

    env = make_brax_env(env_name, episode_length=episode_length)
    key = jax.random.PRNGKey(args.seed + 1)
    expert_key, random_key = jax.random.split(key)
    eval_start = time.perf_counter()
    expert_returns = np.asarray(jax.jit(
        lambda p, k: evaluate(expert.policy_fn, p, env, k, args.eval_episodes).returns
    )(expert.params, expert_key))
    random_returns = np.asarray(jax.jit(
        lambda k: evaluate(random_policy(env.spec), None, env, k, args.eval_episodes).returns
    )(random_key))
    eval_seconds = time.perf_counter() - eval_start

    settings = {k: v for k, v in expert.train_kwargs.items() if k != "network_factory"}
    metrics = expert.final_metrics
    train_walltime = metrics.get("training/walltime", float("nan"))  # epochs, compile included
    emit({
        "env": env_name,
        "algorithm": algorithm,
        "tiny": args.tiny,
        "device": str(jax.devices()[0]),
        "num_timesteps": int(expert.train_kwargs["num_timesteps"]),
        "episode_length": episode_length,
        "train_wall_s": round(expert.train_seconds, 1),
        # brax's own "training/sps" counts num_resets_per_eval epochs per call, which is one:
        # with resets (the hopper/walker2d PPO settings) it overstates. Steps / walltime instead.
        "train_env_steps_per_s": round(expert.eval_returns[-1][0] / train_walltime, 1),
        "brax_training_walltime_s": round(train_walltime, 1),
        "brax_eval_walltime_s": round(metrics.get("eval/walltime", float("nan")), 1),
        "brax_best_eval_return": round(expert.best_return, 2),
        "brax_final_eval_return": round(expert.eval_returns[-1][1], 2),
        "expert_params_step": expert.params_step,
        "eval_curve": [[s, round(r, 2)] for s, r in expert.eval_returns],
        "our_eval_episodes": args.eval_episodes,
        "our_expert_return_mean": round(float(expert_returns.mean()), 2),
        "our_expert_return_std": round(float(expert_returns.std()), 2),
        "our_random_return_mean": round(float(random_returns.mean()), 2),
        "our_eval_wall_s": round(eval_seconds, 1),
        "settings": settings,
    })


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", default="hopper,halfcheetah,walker2d",
                        help="comma-separated brax env names (ant also works)")
    parser.add_argument("--algorithm", choices=["ppo", "sac", "published"], default="ppo",
                        help="'published': brax's choice per env (SAC for hopper and walker2d)")
    parser.add_argument("--num-timesteps", type=int, default=None, help="override the budget")
    parser.add_argument("--episode-length", type=int, default=1000)
    parser.add_argument("--eval-episodes", type=int, default=100,
                        help="episodes for our evaluation of the expert and of random actions")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tiny", action="store_true", help="CPU smoke run: tiny budget and nets")
    parser.add_argument("--verbose", action="store_true", help="also print each brax evaluation")
    args = parser.parse_args()
    if args.tiny and args.eval_episodes == 100:
        args.eval_episodes = 8

    emit({"event": "start", "jax": jax.__version__, "devices": [str(d) for d in jax.devices()],
          "envs": args.envs, "algorithm": args.algorithm, "tiny": args.tiny})
    for env_name in args.envs.split(","):
        algorithm = (BRAX_PUBLISHED_ALGORITHM[env_name] if args.algorithm == "published"
                     else args.algorithm)
        run_env(env_name, algorithm, args)


if __name__ == "__main__":
    main()
