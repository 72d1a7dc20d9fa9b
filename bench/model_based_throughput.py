"""Model-based throughput: dynamics-ensemble training and model rollouts (transitions/s), and
the cost of q MOPO configurations trained as one vmapped run vs q runs one after another.

    .venv/bin/python bench/model_based_throughput.py [--members 7] [--epochs 5]
        [--starts 10000] [--horizon 5] [--q 8] [--updates 200]

Ensemble: MOPO's default network (7 members of 4x200 swish, batch 256) on a 20k-transition
random Pendulum dataset, a fixed number of epochs (no early stop); the timed call is the second
(compiled) one. Rollouts: ``starts`` start states x ``horizon`` steps of the trained ensemble
under a random policy, with the ensemble-std penalty, one jitted call. Configurations: MOPO
(2x64 SAC, 16 rollout starts per update, horizon up to 5) for ``updates`` updates, q cells of
different penalty types in one ``run_chunk`` call vs the same q cells as single-cell calls of
one compiled function (compile excluded from both).
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp

from jaxrl_suite.agents.base import data_spec
from jaxrl_suite.envs.registry import make_env
from jaxrl_suite.generate.recipes import random_dataset
from jaxrl_suite.model_based import dynamics, penalties, rollouts
from jaxrl_suite.model_based.mopo import MOPOConfig, MOPOHParams, make_mopo, member_masks
from jaxrl_suite.train import TrainConfig, make_train, stack_hparams


def copied(state):
    """Returns a copy of a state (run_chunk consumes the state it is given: donation)."""
    return jax.block_until_ready(jax.tree.map(jnp.copy, state))


def seconds(fn, state, *args) -> float:
    jax.block_until_ready(fn(copied(state), *args))  # compile
    start = time.perf_counter()
    jax.block_until_ready(fn(state, *args))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=7)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--starts", type=int, default=10_000)
    parser.add_argument("--horizon", type=int, default=5)
    parser.add_argument("--q", type=int, default=8)
    parser.add_argument("--updates", type=int, default=200)
    args = parser.parse_args()
    env = make_env("Pendulum-v1")
    data = random_dataset(env, jax.random.PRNGKey(0), 20_000)
    print(f"{jax.devices()[0]}; Pendulum random data, {data.num_transitions} transitions")

    config = dynamics.EnsembleConfig(num_members=args.members,
                                     num_elites=max(1, args.members - 2),
                                     max_epochs=args.epochs, patience=10 ** 6)
    train = lambda key: dynamics.train_ensemble(key, data, config)[0]
    t = seconds(train, jax.random.PRNGKey(1))
    model = train(jax.random.PRNGKey(1))
    holdout = min(int(config.holdout_ratio * data.num_transitions), config.max_holdout)
    seen = args.epochs * (data.num_transitions - holdout) * args.members
    print(f"ensemble training ({args.members} x 4x200, {args.epochs} epochs): {t:.2f} s, "
          f"{seen / t:,.0f} member-transitions/s")

    in_use, elites = member_masks(model.holdout_mse, jnp.float32(args.members),
                                  jnp.float32(config.num_elites))
    starts = jnp.asarray(data.observations[:args.starts])
    policy = lambda obs, key: jax.random.uniform(key, (obs.shape[0], 1), minval=-2, maxval=2)
    roll = jax.jit(lambda key: rollouts.rollout(
        model, policy, starts, key, max_horizon=args.horizon, horizon=jnp.float32(args.horizon),
        penalty_index=jnp.float32(penalties.PENALTIES.index("ensemble_std")),
        penalty_coef=jnp.float32(1.0), sample_mask=elites, penalty_mask=in_use,
        done_fn=rollouts.termination_fn("Pendulum-v1")))
    t = seconds(roll, jax.random.PRNGKey(2))
    print(f"model rollouts ({args.starts} starts x {args.horizon} steps, {args.members} "
          f"members): {t:.3f} s, {args.starts * args.horizon / t:,.0f} transitions/s")

    learner = make_mopo(model, "Pendulum-v1", MOPOConfig((64, 64), rollout_starts=16,
                                                          buffer_size=20_000))
    trainer = make_train(learner, env, TrainConfig(num_updates=args.updates, batch_size=256,
                                                   eval_every=args.updates, eval_episodes=1))
    spec = data_spec(data)
    cells = [MOPOHParams(penalty_index=float(i % len(penalties.PENALTIES)))
             for i in range(args.q)]
    keys = jax.random.split(jax.random.PRNGKey(3), args.q)
    grid = stack_hparams(cells)
    vmapped = seconds(trainer.run_chunk, trainer.init(keys, spec, grid), data, None, grid)
    singles = [stack_hparams([c]) for c in cells]
    states = [trainer.init(keys[i:i + 1], spec, singles[i]) for i in range(args.q)]
    jax.block_until_ready(trainer.run_chunk(copied(states[0]), data, None, singles[0]))  # compile
    start = time.perf_counter()
    for state, hp in zip(states, singles):
        jax.block_until_ready(trainer.run_chunk(state, data, None, hp))
    sequential = time.perf_counter() - start
    print(f"MOPO, {args.q} configs x {args.updates} updates: one vmapped run {vmapped:.2f} s, "
          f"{args.q} sequential runs {sequential:.2f} s; speed-up {sequential / vmapped:.2f}x")


if __name__ == "__main__":
    main()
