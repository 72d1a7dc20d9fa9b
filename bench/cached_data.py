"""The tests' datasets for the benches: built exactly as the tests build them
(tests/conftest.py for Pendulum, tests/agents/discrete/conftest.py for CartPole), once, under a
cache folder the benches share (default bench/.cache/replay_data/<kind>/)."""

from __future__ import annotations

import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_CACHE = ROOT / "bench" / ".cache" / "replay_data"


def test_data_folder(cache: str | pathlib.Path = DEFAULT_CACHE,
                     kind: str = "pendulum") -> pathlib.Path:
    """Returns the folder holding the tests' expert/replay/random npz files of ``kind``
    ("pendulum" | "cartpole"), building them there first if missing (~40 s for Pendulum)."""
    folder = pathlib.Path(cache) / kind
    if not (folder / "random.npz").exists():
        folder.mkdir(parents=True, exist_ok=True)
        if kind == "pendulum":
            from tests.conftest import _build
        else:
            from tests.agents.discrete.conftest import _build
        _build(folder)
    return folder
