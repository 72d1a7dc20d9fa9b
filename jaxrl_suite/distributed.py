"""Several processes, one program: JAX's distributed runtime for the cell axis.

``initialize`` starts ``jax.distributed`` once per process (from the CLI's
``--coordinator_address``/``--num_processes``/``--process_id``, or JAX's own cluster detection,
e.g. SLURM, when asked with no address). After it, ``jax.devices()`` lists every process's
devices, so ``train.cell_sharding`` builds a global mesh and ``jax.device_put`` of the cells
(which every process computes alike from the same seeds) places each process's share on its
own devices; the dataset is replicated on every process. The program then runs SPMD, and
``to_host`` gathers a result onto every process (``multihost_utils.process_allgather``), of
which only process 0 writes (``is_main``). On CPUs the processes talk through gloo
(``jax_cpu_collectives_implementation``), so the same path runs on a laptop's localhost.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import numpy as np

from jaxrl_suite.errors import SuiteError

_STARTED = False


def initialize(coordinator_address: str | None = None, num_processes: int | None = None,
               process_id: int | None = None, *, auto: bool = False) -> bool:
    """Starts JAX's distributed runtime, once; returns whether it runs (several processes).

    With ``coordinator_address`` (``host:port`` of process 0), ``num_processes`` and
    ``process_id`` are required. With none of them and ``auto``, JAX detects a cluster it
    knows (SLURM, Open MPI, ...) when one is there (``SLURM_NTASKS`` > 1 and so on), else
    nothing starts. Must run before any JAX computation."""
    global _STARTED
    if _STARTED:
        return True
    if coordinator_address is None:
        if not (auto and _in_cluster()):
            return False
        _cpu_collectives()
        jax.distributed.initialize()
    else:
        if num_processes is None or process_id is None:
            raise SuiteError("flag '--coordinator_address': expected --num_processes and "
                             f"--process_id with it, found {num_processes=} and {process_id=}")
        if num_processes < 1 or not 0 <= process_id < num_processes:
            raise SuiteError("flags '--num_processes'/'--process_id': expected 0 <= process_id "
                             f"< num_processes, found {process_id} of {num_processes}")
        _cpu_collectives()
        jax.distributed.initialize(coordinator_address=coordinator_address,
                                   num_processes=num_processes, process_id=process_id)
    _STARTED = True
    return True


def _in_cluster() -> bool:
    """Returns whether the environment names a multi-process job JAX can detect."""
    for var in ("SLURM_NTASKS", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE"):
        if int(os.environ.get(var, "1") or 1) > 1:
            return True
    return False


def _cpu_collectives() -> None:
    # Cross-process computations on CPU devices need a collectives backend (XLA's default
    # has none); gloo ships with jaxlib. It does not change GPU/TPU runs.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")


def is_main() -> bool:
    """Returns whether this is process 0 (the one that writes results)."""
    return jax.process_index() == 0


def to_host(tree: Any) -> Any:
    """Returns ``tree`` as NumPy arrays on this process, gathered from every process's devices
    when its arrays span several processes."""
    if jax.process_count() == 1:
        return jax.device_get(tree)
    from jax.experimental import multihost_utils

    def gather(x):
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            return np.asarray(multihost_utils.process_allgather(x, tiled=True))
        return np.asarray(jax.device_get(x))

    return jax.tree.map(gather, tree)


def agreed(flag: bool) -> bool:
    """Returns process 0's ``flag`` on every process (a decision every process must take
    alike, such as whether to write a checkpoint, which is a collective); ``flag`` itself in a
    single process."""
    if jax.process_count() == 1:
        return bool(flag)
    from jax.experimental import multihost_utils

    return bool(multihost_utils.broadcast_one_to_all(np.asarray(flag, np.bool_)))
