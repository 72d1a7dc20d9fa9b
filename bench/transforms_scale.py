"""Seconds for TQ + SACo on 1M and 10M transitions, and RW/AW weights on 1M, on a synthetic
dataset with 200-step episodes and 5-dimensional state-action rows.

    .venv/bin/python bench/transforms_scale.py [--sizes 1000000,10000000]

Each transform is jitted once per size and timed on its second call (the first includes the
compile, also printed). Baseline in the same run: NumPy's ``np.unique(rows, axis=0)`` for the
exact unique count at each size.
"""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np

from jaxrl_suite.data import DatasetMeta, from_arrays
from jaxrl_suite.data.sampling import weighted_table
from jaxrl_suite.transforms import (
    advantage_weighted_probs, return_weighted_probs, state_action_coverage, trajectory_quality)
from jaxrl_suite.transforms.quality import state_action_rows


def synthetic(n: int, seed: int):
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(n, 4)).astype(np.float32)
    timeouts = np.zeros(n, bool)
    timeouts[199::200] = True
    timeouts[-1] = True
    return from_arrays(obs, rng.integers(0, 2, n), rng.normal(size=n).astype(np.float32),
                       np.zeros(n, bool), timeouts, obs,
                       meta=DatasetMeta(ref_min_score=-10.0, ref_max_score=10.0))


def timed(fn, *args):
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    first = time.perf_counter() - start
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    return first, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000000,10000000")
    args = parser.parse_args()
    print(f"device {jax.devices()[0]}")
    for n in (int(s) for s in args.sizes.split(",")):
        ds, ref = synthetic(n, 0), synthetic(n, 1)
        tq = jax.jit(trajectory_quality)
        saco_exact = jax.jit(lambda d, r: state_action_coverage(d, r))
        saco_binned = jax.jit(lambda d, r: state_action_coverage(d, r, bins=100))
        for name, fn, fargs in (("TQ", tq, (ds,)), ("SACo exact", saco_exact, (ds, ref)),
                                ("SACo 100 bins", saco_binned, (ds, ref))):
            first, second = timed(fn, *fargs)
            print(f"N={n:>11,} {name:>14}: {second:7.2f} s (first call with compile {first:.2f} s)")
        rows = np.asarray(state_action_rows(ds))
        start = time.perf_counter()
        np.unique(rows, axis=0)
        print(f"N={n:>11,} {'numpy unique':>14}: {time.perf_counter() - start:7.2f} s "
              f"(baseline for one exact count; SACo needs two)")
        if n <= 1_000_000:
            for name, fn in (("RW weights", return_weighted_probs),
                             ("AW weights", advantage_weighted_probs)):
                f = jax.jit(lambda d, t, fn=fn: weighted_table(fn(d, t)))
                first, second = timed(f, ds, 0.1)
                print(f"N={n:>11,} {name + '+table':>14}: {second:7.2f} s "
                      f"(first call with compile {first:.2f} s)")


if __name__ == "__main__":
    main()
