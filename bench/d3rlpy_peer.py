"""d3rlpy's TD3+BC / IQL / CQL on an npz dataset (run in the bench venv): update throughput,
and with ``--eval_env`` the final policy's returns in d3rlpy's own gymnasium env.

    .venv-bench/bin/python bench/d3rlpy_peer.py --data DATA.npz --algo td3bc --updates 2000
    .venv-bench/bin/python bench/d3rlpy_peer.py --data DATA.npz --algo cql --updates 5000 \
        --seed 1 --eval_env HalfCheetah-v5 --eval_episodes 10 --paper_setup

Called by ``bench/train_throughput.py`` (throughput) and ``bench/d3rlpy_scores.py`` (scores)
in the same run, on the same dataset and thread count. Prints one JSON line: {"algo",
"updates", "seconds", "updates_per_s", "threads", "versions"} (+ "returns", "eval_seconds"
with --eval_env). d3rlpy trains one seed per process; its ``fit`` (sampling, update, no
evaluation, no logging) is timed after a short warm-up fit, as the suite's second (compiled)
call is. ``--paper_setup`` gives each algorithm what the suite's learner does beyond d3rlpy's
config defaults, with d3rlpy's own means: TD3+BC standardised observations
(StandardObservationScaler, as the paper and the suite's ``spec.normalize``), IQL rewards
scaled by 1000 / (max - min episode return) (ReturnBasedRewardScaler(1000), the suite's
``iql_locomotion``), CQL a fixed conservative weight (alpha_learning_rate 0, weight 5: the
suite's default ``lagrange=0, cql_alpha=5``; d3rlpy's default learns it by a Lagrangian).
"""

from __future__ import annotations

import argparse
import json
import time

import d3rlpy
import numpy as np
import torch


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--algo", choices=("td3bc", "iql", "cql"), required=True)
    parser.add_argument("--updates", type=int, default=2_000)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval_env", default=None, help="gymnasium id to evaluate in")
    parser.add_argument("--eval_episodes", type=int, default=10)
    parser.add_argument("--paper_setup", action="store_true")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    d3rlpy.seed(args.seed)
    z = np.load(args.data)
    dataset = d3rlpy.dataset.MDPDataset(
        observations=z["observations"].astype(np.float32), actions=z["actions"].astype(np.float32),
        rewards=z["rewards"].astype(np.float32), terminals=z["terminals"].astype(np.float32),
        timeouts=z["timeouts"].astype(np.float32))
    encoder = d3rlpy.models.encoders.VectorEncoderFactory([args.hidden, args.hidden])
    common = dict(batch_size=256, actor_encoder_factory=encoder, critic_encoder_factory=encoder)
    paper = args.paper_setup
    if args.algo == "td3bc":
        if paper:
            common["observation_scaler"] = d3rlpy.preprocessing.StandardObservationScaler()
        config = d3rlpy.algos.TD3PlusBCConfig(**common)
    elif args.algo == "iql":
        if paper:
            common["reward_scaler"] = d3rlpy.preprocessing.ReturnBasedRewardScaler(
                multiplier=1000.0)
        config = d3rlpy.algos.IQLConfig(value_encoder_factory=encoder, **common)
    else:
        if paper:
            common.update(alpha_learning_rate=0.0, conservative_weight=5.0)
        config = d3rlpy.algos.CQLConfig(**common)
    algo = config.create(device="cpu:0")
    noop = d3rlpy.logging.NoopAdapterFactory()
    fit = lambda n: algo.fit(dataset, n_steps=n, n_steps_per_epoch=n, logger_adapter=noop,
                             show_progress=False, save_interval=10 ** 9)
    warm_up = 50
    fit(warm_up)
    # Scored runs train exactly --updates in all (the warm-up's included); throughput runs
    # time --updates after it.
    timed = args.updates - warm_up if args.eval_env else args.updates
    start = time.perf_counter()
    fit(timed)
    seconds = time.perf_counter() - start
    out = dict(algo=args.algo, updates=args.updates, seconds=seconds,
               updates_per_s=timed / seconds, threads=torch.get_num_threads(),
               seed=args.seed, paper_setup=paper,
               versions=dict(d3rlpy=d3rlpy.__version__, torch=torch.__version__))
    if args.eval_env:
        start = time.perf_counter()
        out["returns"] = evaluate(algo, args.eval_env, args.eval_episodes, args.seed)
        out["eval_seconds"] = time.perf_counter() - start
    print(json.dumps(out))


def evaluate(algo, env_id: str, episodes: int, seed: int) -> list[float]:
    """Returns the undiscounted returns of ``episodes`` episodes of the greedy policy
    (``algo.predict``) in gymnasium's ``env_id`` (its own time limit), reset seeds
    1000 * seed + episode."""
    import gymnasium

    env = gymnasium.make(env_id)
    returns = []
    for episode in range(episodes):
        obs, _ = env.reset(seed=1000 * seed + episode)
        total, done = 0.0, False
        while not done:
            action = algo.predict(obs[None].astype(np.float32))[0]
            obs, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    return returns


if __name__ == "__main__":
    main()
