"""d3rlpy's TD3+BC / IQL update throughput on an npz dataset (run in the bench venv).

    .venv-bench/bin/python bench/d3rlpy_peer.py --data DATA.npz --algo td3bc --updates 2000

Called by ``bench/train_throughput.py`` in the same run, on the same dataset and thread count.
Prints one JSON line: {"algo", "updates", "seconds", "updates_per_s", "threads", "versions"}.
d3rlpy trains one seed per process; its ``fit`` (sampling, update, no evaluation, no logging)
is timed after a short warm-up fit, as the suite's second (compiled) call is.
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
    parser.add_argument("--algo", choices=("td3bc", "iql"), required=True)
    parser.add_argument("--updates", type=int, default=2_000)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--hidden", type=int, default=256)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    z = np.load(args.data)
    dataset = d3rlpy.dataset.MDPDataset(
        observations=z["observations"].astype(np.float32), actions=z["actions"].astype(np.float32),
        rewards=z["rewards"].astype(np.float32), terminals=z["terminals"].astype(np.float32),
        timeouts=z["timeouts"].astype(np.float32))
    encoder = d3rlpy.models.encoders.VectorEncoderFactory([args.hidden, args.hidden])
    common = dict(batch_size=256, actor_encoder_factory=encoder, critic_encoder_factory=encoder)
    if args.algo == "td3bc":
        config = d3rlpy.algos.TD3PlusBCConfig(**common)
    else:
        config = d3rlpy.algos.IQLConfig(value_encoder_factory=encoder, **common)
    algo = config.create(device="cpu:0")
    noop = d3rlpy.logging.NoopAdapterFactory()
    fit = lambda n: algo.fit(dataset, n_steps=n, n_steps_per_epoch=n, logger_adapter=noop,
                             show_progress=False, save_interval=10 ** 9)
    fit(50)
    start = time.perf_counter()
    fit(args.updates)
    seconds = time.perf_counter() - start
    print(json.dumps(dict(algo=args.algo, updates=args.updates, seconds=seconds,
                          updates_per_s=args.updates / seconds, threads=torch.get_num_threads(),
                          versions=dict(d3rlpy=d3rlpy.__version__, torch=torch.__version__))))


if __name__ == "__main__":
    main()
