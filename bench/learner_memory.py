"""Device memory per seed of each learner at 256-unit networks, and the seed counts that fit
one accelerator, from XLA's own accounting (no accelerator needed).

    .venv/bin/python bench/learner_memory.py [--learners td3bc,iql,...] [--seeds 1,256]
        [--obs 17 --act 6 --transitions 1000000] [--devices-gb 80,141]

For each learner: the bytes of one cell's training state (``jax.eval_shape`` of the engine's
``init``: parameters, target networks, optimiser moments, PRNG key, flags), and the peak memory
XLA's compiler plans for ``jit(vmap(scan of 10 updates))`` over S cells (arguments, outputs,
temporaries; ``compiled.memory_analysis()``), at two seed counts: the difference gives the
marginal bytes per seed (state twice, as input and output, plus each update's activations and
gradients at batch ``Learner.batch_size``). The dataset (HalfCheetah-shaped by default:
17-float observations, 6-float actions, 1M transitions) is shared by every seed and counted
once. "Seeds that fit" = (device GB - dataset - the S=1 program's fixed part) / marginal bytes:
a projection from the CPU compiler's plan (a GPU compiler's temporaries differ somewhat, and
in-jit evaluation adds its environment states), to be checked on a lent device.
"""

from __future__ import annotations

import argparse
import sys

import jax
import numpy as np

sys.path.insert(0, "bench")
sys.path.insert(0, ".")

from dqc_throughput import estimated_bytes  # noqa: E402

from jaxrl_suite.agents import learner_parts  # noqa: E402
from jaxrl_suite.agents.base import data_spec  # noqa: E402
from jaxrl_suite.data import DatasetMeta, from_arrays  # noqa: E402
from jaxrl_suite.data.sampling import gather  # noqa: E402
from jaxrl_suite.train import stack_hparams  # noqa: E402

UPDATES = 10


def dataset(n: int, obs: int, act: int):
    """Returns n random transitions of the given shapes in 1,000-step episodes."""
    rng = np.random.default_rng(0)
    timeouts = np.zeros(n, bool)
    timeouts[999::1000] = True
    f32 = lambda *shape: rng.normal(size=shape).astype(np.float32)
    return from_arrays(f32(n, obs), np.clip(f32(n, act), -1, 1), f32(n), np.zeros(n, bool),
                       timeouts, f32(n, obs),
                       meta=DatasetMeta(env_id="HalfCheetah-v5", action_low=(-1.0,) * act,
                                        action_high=(1.0,) * act))


def tree_bytes(tree) -> int:
    return sum(int(np.prod(x.shape)) * x.dtype.itemsize for x in jax.tree.leaves(tree))


def program(learner, ds, spec, num_cells: int):
    """Returns the compiled jit(vmap(scan of UPDATES updates)) over ``num_cells`` cells and its
    arguments' shapes: each cell draws its minibatches uniformly, as the engine does."""
    hparams = stack_hparams([learner.default_hparams] * num_cells)
    keys = jax.random.split(jax.random.PRNGKey(0), num_cells)
    batch_size = learner.batch_size

    def run(key, hp, ds):
        init_key, key = jax.random.split(key)
        state = learner.init(init_key, spec, hp)

        def step(carry, k):
            state = carry
            sample_key, update_key = jax.random.split(k)
            batch = gather(ds, jax.random.randint(sample_key, (batch_size,), 0,
                                                  ds.num_transitions))
            state, metrics = learner.update(state, batch, update_key, hp)
            return state, metrics

        return jax.lax.scan(step, state, jax.random.split(key, UPDATES))

    state_shape = jax.eval_shape(lambda k, h: learner.init(k, spec, h), keys[0],
                                 jax.tree.map(lambda x: x[0], hparams))
    # The dataset is an argument, shared by the cells (as the engine passes it).
    compiled = jax.jit(jax.vmap(run, in_axes=(0, 0, None))).lower(keys, hparams, ds).compile()
    return compiled, tree_bytes(state_shape)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--learners", default="bc,td3bc,rebrac,iql,awac,xql,cql,edac")
    parser.add_argument("--seeds", default="1,256")
    parser.add_argument("--obs", type=int, default=17)
    parser.add_argument("--act", type=int, default=6)
    parser.add_argument("--transitions", type=int, default=1_000_000)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--devices-gb", default="80,141", help="H100 80 GB, H200 141 GB")
    args = parser.parse_args()
    ds = dataset(args.transitions, args.obs, args.act)
    spec = data_spec(ds)
    low, high = (int(s) for s in args.seeds.split(","))
    data_bytes = tree_bytes(ds)
    gbs = [float(g) for g in args.devices_gb.split(",")]
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}; {args.hidden}-unit layers; "
          f"dataset {args.transitions:,} x (obs {args.obs}, act {args.act}): "
          f"{data_bytes / 2**20:.0f} MiB, shared by every seed")
    print("| learner | batch | state per seed (MiB) | program at S=%d (MiB) | marginal per seed "
          "(MiB) | seeds that fit %s |" % (low, " / ".join(f"{g:g} GB" for g in gbs)))
    print("|---|---|---|---|---|---|")
    for name in args.learners.split(","):
        factory, config_cls, _ = learner_parts(name, discrete=False)
        config = config_cls(hidden_sizes=(args.hidden,) * len(config_cls().hidden_sizes))
        learner = factory(config)
        small, state_bytes = program(learner, ds, spec, low)
        big, _ = program(learner, ds, spec, high)
        b_small, b_big = estimated_bytes(small), estimated_bytes(big)
        marginal = (b_big - b_small) / (high - low)
        fixed = b_small - low * marginal  # the dataset and per-program buffers
        fits = [int((g * 1e9 - fixed) // marginal) for g in gbs]
        print(f"| {name} | {learner.batch_size} | {state_bytes / 2**20:.2f} | "
              f"{b_small / 2**20:.0f} | {marginal / 2**20:.2f} | "
              f"{' / '.join(f'{f:,}' for f in fits)} |", flush=True)


if __name__ == "__main__":
    main()
