"""Two small measurements behind BUILD_NOTES "Session 12" (DQC throughput; OGBench evaluation):

    .venv/bin/python bench/cpu_probes.py matmul   # one [1024,1024] matmul vs 8 vmapped / looped
    .venv/bin/python bench/cpu_probes.py ogbench  # resident memory after each of 8 OGBench envs
"""

from __future__ import annotations

import sys
import time


def matmul(seeds: int = 8, rows: int = 1024, width: int = 1024) -> None:
    import jax
    import jax.numpy as jnp

    x = jax.random.normal(jax.random.PRNGKey(0), (seeds, rows, width))
    w = jax.random.normal(jax.random.PRNGKey(1), (seeds, width, width))

    def seconds(f, *args, n=5):
        f(*args).block_until_ready()
        start = time.perf_counter()
        for _ in range(n):
            out = f(*args)
        out.block_until_ready()
        return (time.perf_counter() - start) / n

    one = jax.jit(jnp.dot)
    vmapped = jax.jit(jax.vmap(jnp.dot))
    looped = jax.jit(lambda x, w: jnp.stack([x[i] @ w[i] for i in range(seeds)]))
    print(f"one dot: {seconds(one, x[0], w[0]) * 1e3:.1f} ms; vmap over {seeds}: "
          f"{seconds(vmapped, x, w) * 1e3:.1f} ms; unrolled loop: "
          f"{seconds(looped, x, w) * 1e3:.1f} ms")


def ogbench(env_id: str = "cube-double-singletask-task1-v0", count: int = 8) -> None:
    import gymnasium
    import ogbench  # noqa: F401  (registers the envs)

    def rss_mb():
        return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2 ** 20

    print(f"start {rss_mb():.0f} MB")
    envs = []
    for i in range(count):
        env = gymnasium.make(env_id)
        env.reset(seed=i)
        envs.append(env)
        print(f"{i + 1} envs: {rss_mb():.0f} MB")


if __name__ == "__main__":
    {"matmul": matmul, "ogbench": ogbench}[sys.argv[1]]()
