"""An example sweep: TD3+BC and IQL on two mixed-quality Pendulum datasets, uniform vs
return-weighted sampling, a 2-point grid on TD3+BC's alpha, 4 seeds (CPU-sized networks).

    python -m jaxrl_suite sweep --spec=sweeps/example.py
    python -m jaxrl_suite sweep --spec=sweeps/example.py --spec.num_seeds=8 --spec.algos=td3bc
    python -m jaxrl_suite report --results=results/sweeps/example
"""

from ml_collections import ConfigDict


def get_config() -> ConfigDict:
    return ConfigDict(dict(
        name="example",
        suite="default",
        algos=("td3bc", "iql"),
        datasets=("Pendulum-v1/mixed-sigma5pct", "Pendulum-v1/mixed-sigma50pct"),
        sampling=("uniform", "rw"),
        grid={"td3bc": ("alpha=1.0,2.5",)},
        num_seeds=4,
        num_updates=4_000,
        eval_every=1_000,
        eval_episodes=5,
        batch_size=256,
        hidden_sizes=(64, 64),
        seed=0,
    ))
