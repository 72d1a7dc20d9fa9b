"""Where a gap to the hand-written TD3+BC scan comes from: the engine's bookkeeping or the
learner's implementation. Three programs, same seeds, updates and data, in one run:

    .venv/bin/python bench/engine_overhead.py [--seeds 64] [--updates 200]

hand-written: ``train_throughput.hand_written`` (one lax.scan of TD3+BC updates, vmapped);
plain-learner: the suite's TD3+BC ``update`` in a bare ``lax.scan`` (minibatch gather, no
divergence checks, metrics or evaluation); engine: ``make_train(...).run_chunk`` (the same
updates plus the engine's bookkeeping and one evaluation episode). Seed-updates/s, compile
excluded.
"""

from __future__ import annotations

import argparse
import pathlib
import sys

import jax

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import train_throughput as tt  # noqa: E402

from jaxrl_suite.agents.td3bc import TD3BCConfig, make_td3bc  # noqa: E402
from jaxrl_suite.data.sampling import gather  # noqa: E402
from jaxrl_suite.envs.registry import make_env  # noqa: E402
from jaxrl_suite.train import TrainConfig, make_train, stack_hparams  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=64)
    parser.add_argument("--updates", type=int, default=200)
    args = parser.parse_args()
    s, u, n = args.seeds, args.updates, 100_000
    ds, spec, arrays = tt.bench_data(n)
    learner = make_td3bc(TD3BCConfig((256, 256)))
    keys = jax.random.split(jax.random.PRNGKey(0), s)
    hp = stack_hparams([learner.default_hparams] * s)
    trainer = make_train(learner, make_env("Pendulum-v1"),
                         TrainConfig(num_updates=u, eval_every=u, eval_episodes=1))

    def plain(keys, hp, ds):
        def run(key, h):
            def step(carry, _):
                state, key = carry
                key, sample_key, update_key = jax.random.split(key, 3)
                idx = jax.random.randint(sample_key, (256,), 0, n)
                return (learner.update(state, gather(ds, idx), update_key, h)[0], key), None
            state = learner.init(key, spec, h)
            return jax.lax.scan(step, (state, key), None, length=u)[0][0].actor_params
        return jax.vmap(run)(keys, hp)

    rate = lambda t: s * u / t
    hand = rate(tt.timed(tt.hand_written(*arrays, 256, u), keys))
    bare = rate(tt.timed(jax.jit(plain), keys, hp, ds))
    engine = rate(tt.timed(trainer.run_chunk, trainer.init(keys, spec, hp), ds, None, hp))
    print(f"{s} seeds x {u} updates ({jax.devices()[0]}): hand-written {hand:,.0f}, "
          f"plain-learner {bare:,.0f}, engine {engine:,.0f} seed-updates/s; engine / hand "
          f"{engine / hand:.2f}, engine / plain-learner {engine / bare:.2f}")


if __name__ == "__main__":
    main()
