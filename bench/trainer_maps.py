"""Memory mappings a compiled training loop holds, and whether dropping it frees them (why
``sweep/runner.py`` drops each loop after its last program): three small offline-DQN loops on
CartPole data, each built, trained and deleted, counting the lines of ``/proc/self/maps``.

    .venv/bin/python bench/trainer_maps.py
"""

from __future__ import annotations

import gc

import jax
import numpy as np

from jaxrl_suite.agents import learner_parts
from jaxrl_suite.data import DatasetMeta, from_arrays
from jaxrl_suite.envs.registry import make_env
from jaxrl_suite.train import TrainConfig, make_train, stack_hparams, train


def maps() -> int:
    with open("/proc/self/maps") as f:
        return sum(1 for _ in f)


def main() -> None:
    rng = np.random.default_rng(0)
    n = 400
    terminals = np.zeros(n, bool)
    terminals[99::100] = True
    data = from_arrays(rng.normal(size=(n, 4)).astype(np.float32), rng.integers(0, 2, n),
                       np.ones(n, np.float32), terminals, np.zeros(n, bool),
                       meta=DatasetMeta(env_id="CartPole-v1", ref_min_score=20.0,
                                        ref_max_score=500.0))
    env = make_env("CartPole-v1")
    factory, config_cls, hparams_cls = learner_parts("dqn", discrete=True)
    keys = jax.vmap(jax.random.PRNGKey)(np.arange(2))
    print("| loop | maps before | after training | after deleting it |\n|---|---|---|---|")
    for i in range(3):
        before = maps()
        trainer = make_train(factory(config_cls(hidden_sizes=(16 + 8 * i,))), env,
                             TrainConfig(num_updates=20, batch_size=8, eval_every=10,
                                         eval_episodes=1))
        result = train(trainer, data, keys, stack_hparams([hparams_cls(), hparams_cls()]))
        trained = maps()
        del trainer, result
        gc.collect()
        print(f"| {i} | {before} | {trained} | {maps()} |")


if __name__ == "__main__":
    main()
