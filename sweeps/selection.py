"""Unifloral's evaluation protocol on the tiny suite: BC and CQL on two CartPole datasets,
3 hyperparameter cells x 8 seeds each (24 trained policies per algorithm and dataset), every
policy evaluated for 1,000 final episodes, then UCB policy selection among them (Jackson et
al., 2025; ``jaxrl_suite/report/selection.py``). CartPole, because the tiny suite's Pendulum
"expert" scores below its random policy, which turns normalised scores upside down. Regenerates
``results/selection/tiny-cartpole`` (the tiny suite is built first where missing):

    python -m jaxrl_suite sweep --spec=sweeps/selection.py --minari_root=/tmp/minari-tiny \\
        --out=results/selection/tiny-cartpole
    python -m jaxrl_suite report --results=results/selection/tiny-cartpole --selection=ucb
"""

from ml_collections import ConfigDict


def get_config() -> ConfigDict:
    return ConfigDict(dict(
        name="selection-tiny",
        suite="tiny",
        algos=("bc", "cql"),
        datasets=("CartPole-v1/noisy", "CartPole-v1/mixed"),
        sampling=("uniform",),
        grid={"bc": ("learning_rate=0.003,0.001,0.0003",), "cql": ("alpha=0.1,1,4",)},
        num_seeds=8,
        num_updates=2_000,
        eval_every=1_000,
        eval_episodes=5,
        batch_size=256,
        hidden_sizes=(32, 32),
        final_eval_episodes=1_000,
        seed=0,
    ))
