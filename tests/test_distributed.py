"""Several processes, one program (jaxrl_suite/distributed.py): two `train` processes on this
machine (jax.distributed over localhost, one CPU device each, gloo collectives) shard the
cells over both and write what one process writes."""

import csv
import os
import socket
import subprocess
import sys

import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_suite import distributed
from jaxrl_suite.errors import SuiteError


def test_flags_must_come_together_and_a_single_process_starts_nothing():
    assert distributed.initialize(None, None, None) is False
    assert distributed.initialize(None, None, None, auto=True) is False  # no cluster here
    with pytest.raises(SuiteError, match="expected --num_processes and --process_id"):
        distributed.initialize("localhost:1", 2, None)
    with pytest.raises(SuiteError, match="0 <= process_id < num_processes"):
        distributed.initialize("localhost:1", 2, 2)
    assert distributed.is_main()
    tree = {"a": jnp.arange(3.0), "b": np.ones(2)}
    host = distributed.to_host(tree)
    assert isinstance(host["a"], np.ndarray) and host["a"].tolist() == [0.0, 1.0, 2.0]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


@pytest.mark.slow  # three compiles of a train program (~1 min)
def test_two_processes_run_one_program_and_write_what_one_process_writes(tmp_path,
                                                                         tmp_path_factory):
    from tests.conftest import _build, build_once

    # The Pendulum replay data the critic-sensitive tests use (built once per session).
    data = build_once(tmp_path_factory, "pendulum_data", _build, "random.npz") / "replay.npz"
    common = [sys.executable, "-m", "jaxrl_suite", "train", "--algo=td3bc", f"--dataset={data}",
              "--env=Pendulum-v1", "--num_seeds=4", "--steps=200", "--eval_every=100",
              "--eval_episodes=2", "--hp.alpha=1,2.5", "--logger=csv"]
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=1"}
    address = f"localhost:{_free_port()}"
    procs = [subprocess.Popen(common + [f"--out={tmp_path / 'two'}",
                                        f"--coordinator_address={address}",
                                        "--num_processes=2", f"--process_id={i}"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True) for i in (1, 0)]
    try:
        outputs = [p.communicate(timeout=300)[0] for p in procs]
    finally:
        for p in procs:
            p.kill()
    assert [p.returncode for p in procs] == [0, 0], outputs
    one = subprocess.run(common + [f"--out={tmp_path / 'one'}"], env=env, capture_output=True,
                         text=True, timeout=300)
    assert one.returncode == 0, one.stderr[-2000:]
    # Process 0 wrote the run directory; process 1 wrote nothing there.
    two, single = _rows(tmp_path / "two" / "metrics.csv"), _rows(tmp_path / "one" /
                                                                  "metrics.csv")
    assert len(two) == len(single) == 8 * 2  # 2 cells x 4 seeds x 2 evaluations
    for a, b in zip(two, single):
        assert (a["cell"], a["seed"], a["step"]) == (b["cell"], b["seed"], b["step"])
        # The same computation sharded otherwise: XLA may order reductions differently.
        for k in ("critic_loss", "actor_loss", "q_mean"):
            np.testing.assert_allclose(float(a[k]), float(b[k]), rtol=1e-4, err_msg=k)
        np.testing.assert_allclose(float(a["return_mean"]), float(b["return_mean"]),
                                   rtol=1e-2)
    assert "2 cells x 4 seeds" in outputs[1]
