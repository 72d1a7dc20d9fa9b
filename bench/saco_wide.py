"""SACo's unique-row count on MinAtar-wide rows: the hashed sort that rows wider than
``transforms.quality.LEXSORT_MAX_DIMS`` take, on N x D random rows of few values (as digitised
observations are), against ``np.unique(rows, axis=0)`` on the host.

    .venv/bin/python bench/saco_wide.py                       # 200k x 401 (Breakout-MinAtar)
    .venv/bin/python bench/saco_wide.py --rows=50000 --dims=401

Prints both counts (they must agree) and the seconds of each (the jit call includes its
compile). The per-column lexsort that the narrow path uses is not timed at this width: in the
``perspective`` suite build its quality table took ~8 minutes (BUILD_NOTES, session 9).
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import jax  # noqa: E402

from jaxrl_suite.transforms.quality import count_unique_rows  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--dims", type=int, default=401)
    parser.add_argument("--values", type=int, default=5)
    args = parser.parse_args()
    rows = np.random.default_rng(0).integers(
        0, args.values, size=(args.rows, args.dims)).astype(np.float32)
    rows[::3] = rows[1::3][: len(rows[::3])]  # a third are duplicates
    start = time.perf_counter()
    hashed = int(jax.jit(count_unique_rows)(rows))
    hashed_s = time.perf_counter() - start
    start = time.perf_counter()
    host = len(np.unique(rows, axis=0))
    host_s = time.perf_counter() - start
    print(f"{args.rows} x {args.dims} rows: hashed sort {hashed} unique in {hashed_s:.1f} s; "
          f"np.unique {host} in {host_s:.1f} s; {'equal' if hashed == host else 'DIFFERENT'}")


if __name__ == "__main__":
    main()
