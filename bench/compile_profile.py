"""A pytest plugin that writes, per test, its wall seconds and the seconds XLA spent compiling
(JAX's ``/jax/core/compile/backend_compile_duration`` events) to ``$COMPILE_PROFILE_OUT``
(JSON lines). Used by ``bench/xla_opt_level.py``; on its own:

    COMPILE_PROFILE_OUT=prof.jsonl PYTHONPATH=bench .venv/bin/python -m pytest \\
        -p compile_profile -m "not slow" tests/online/test_sac.py
"""

from __future__ import annotations

import json
import os
import time

import pytest

_compiled = {"seconds": 0.0, "count": 0}


def _listener(event: str, duration: float, **_) -> None:
    if event == "/jax/core/compile/backend_compile_duration":
        _compiled["seconds"] += duration
        _compiled["count"] += 1


def pytest_configure(config):
    import jax.monitoring

    jax.monitoring.register_event_duration_secs_listener(_listener)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    start, seconds, count = time.perf_counter(), _compiled["seconds"], _compiled["count"]
    yield
    with open(os.environ["COMPILE_PROFILE_OUT"], "a") as f:
        f.write(json.dumps(dict(test=item.nodeid, wall=time.perf_counter() - start,
                                compile=_compiled["seconds"] - seconds,
                                compiles=_compiled["count"] - count)) + "\n")
