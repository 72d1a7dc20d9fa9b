"""Hyperparameter grids: ``name=v1,v2`` or ``name=lo:hi:n`` values expand into cells."""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import numpy as np

from jaxrl_suite.errors import SuiteError

# Sampler hyperparameters every learner's grid accepts (``train.SamplingHParams``); they are
# kept in the overrides, not set on the learner's hparams.
SAMPLING_AXES = ("sampling_temperature",)


def parse_values(name: str, text: str) -> list[float]:
    """Returns the values of one grid axis: "0.7,0.9" or "lo:hi:n" (n evenly spaced)."""
    try:
        if ":" in text:
            lo, hi, n = text.split(":")
            return [float(v) for v in np.linspace(float(lo), float(hi), int(n))]
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise SuiteError(f"flag '--hp.{name}': expected a comma list (0.7,0.9) or a range "
                         f"lo:hi:n, found '{text}'") from None


def expand_grid(default_hparams: Any, specs: list[str]) -> tuple[list[Any], list[dict]]:
    """Returns (hparams cells, their {name: value} overrides): the cartesian product of every
    ``name=values`` spec applied to ``default_hparams`` (a flax.struct dataclass). Axes named
    in SAMPLING_AXES appear in the overrides only (``cell_temperatures`` reads them)."""
    fields = {f.name for f in dataclasses.fields(default_hparams)} | set(SAMPLING_AXES)
    axes: list[tuple[str, list[float]]] = []
    for spec in specs:
        if "=" not in spec:
            raise SuiteError(f"flag '--hp': expected name=values, found '{spec}'")
        name, text = spec.split("=", 1)
        if name not in fields:
            raise SuiteError(f"flag '--hp.{name}': expected one of {sorted(fields)}, "
                             f"found '{name}'")
        axes.append((name, parse_values(name, text)))
    cells, overrides = [], []
    for combo in itertools.product(*[values for _, values in axes]):
        override = dict(zip([name for name, _ in axes], combo))
        cells.append(default_hparams.replace(
            **{k: v for k, v in override.items() if k not in SAMPLING_AXES}))
        overrides.append(override)
    return cells, overrides


def cell_temperatures(overrides: list[dict], default: float) -> list[float]:
    """Returns each cell's sampling temperature: its ``sampling_temperature`` override, else
    ``default``."""
    return [float(o.get("sampling_temperature", default)) for o in overrides]
