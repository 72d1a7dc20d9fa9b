"""The `make demo-full` sweep as a spec file: BC, TD3+BC and IQL x uniform/RW sampling on three
mixed-quality Pendulum datasets, 16 seeds vmapped (the spec `jaxrl_suite.demo` runs at
``--scale=full``; ``make demo`` runs a smaller one, ``DEMO_SPECS["default"]``).

    python -m jaxrl_suite sweep --spec=sweeps/demo.py --spec.num_seeds=64
"""

import dataclasses

from ml_collections import ConfigDict

from jaxrl_suite.demo import DEMO_SPECS


def get_config() -> ConfigDict:
    return ConfigDict(dataclasses.asdict(DEMO_SPECS["full"]))
