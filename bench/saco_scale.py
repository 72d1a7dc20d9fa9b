"""Times exact and binned unique state-action counting (SACo's numerator) at scale.

    .venv/bin/python bench/saco_scale.py --transitions 10000000 --dims 5

Baseline measured in the same run: NumPy's ``np.unique(rows, axis=0)`` on the same rows.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl_suite.transforms.quality import count_unique_rows, discretise


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--transitions", type=int, default=10_000_000)
    parser.add_argument("--dims", type=int, default=5)
    parser.add_argument("--skip-numpy", action="store_true")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    # Half the rows repeat from a small pool, so that the count is far from N.
    rows = rng.normal(size=(args.transitions, args.dims)).astype(np.float32)
    pool = rng.normal(size=(1000, args.dims)).astype(np.float32)
    repeat = rng.uniform(size=args.transitions) < 0.5
    rows[repeat] = pool[rng.integers(0, 1000, repeat.sum())]
    rows_dev = jnp.asarray(rows)

    exact = jax.jit(count_unique_rows)
    binned = jax.jit(lambda r: count_unique_rows(
        discretise(r, r.min(axis=0), r.max(axis=0), 100)))
    for name, fn in (("exact", exact), ("binned-100", binned)):
        start = time.perf_counter()
        count = int(fn(rows_dev))
        first = time.perf_counter() - start
        start = time.perf_counter()
        int(fn(rows_dev))
        second = time.perf_counter() - start
        print(f"{name:>10}: {count:,} unique of {args.transitions:,} x {args.dims}; "
              f"first call (with compile) {first:.2f} s, second {second:.2f} s "
              f"[{jax.devices()[0].platform}]")
    if not args.skip_numpy:
        start = time.perf_counter()
        n = len(np.unique(rows, axis=0))
        t = time.perf_counter() - start
        print(f"     numpy: np.unique(axis=0) {n:,} unique in {t:.2f} s")


if __name__ == "__main__":
    main()
