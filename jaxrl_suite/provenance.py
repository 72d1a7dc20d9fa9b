"""What a result was made from: the code version and the dataset's content fingerprint.

Stored with every results record and run directory, so that a merged report can tell records
of different code, or of one dataset name with different content, apart (``report`` warns).
"""

from __future__ import annotations

import functools
import pathlib
import subprocess
from typing import Any

UNKNOWN = "unknown"


@functools.lru_cache(maxsize=None)
def code_version() -> dict[str, Any]:
    """Returns {"commit", "dirty", "package"} of the running code: the git commit of the
    checkout it runs from and whether that has uncommitted changes (``git status
    --porcelain``), else (outside git) commit and dirty None and only the package version.
    Asked once per process, at the first run that records it."""
    from jaxrl_suite import __version__

    root = pathlib.Path(__file__).resolve().parent.parent
    commit, dirty = None, None
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                                text=True, timeout=30, check=True).stdout.strip() or None
        if commit is not None:
            status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                    cwd=root, capture_output=True, text=True, timeout=60,
                                    check=True).stdout
            dirty = bool(status.strip())
    except (OSError, subprocess.SubprocessError):
        commit, dirty = None, None
    return dict(commit=commit, dirty=dirty, package=__version__)


def version_label(version: Any) -> str:
    """Returns a record's code version in one word: ``<commit[:12]>[-dirty]``, else
    ``package-<version>``, else "unknown" (records written before versions were stored)."""
    if not isinstance(version, dict):
        return UNKNOWN
    if version.get("commit"):
        return version["commit"][:12] + ("-dirty" if version.get("dirty") else "")
    if version.get("package"):
        return f"package-{version['package']}"
    return UNKNOWN


# --matmul_precision's names -> jax_default_matmul_precision's values, i.e. the dots'
# precision config: "default" (DEFAULT: XLA's fastest per backend: float32 on CPUs, TF32 tensor
# cores on NVIDIA Ampere and newer, one bfloat16 pass on TPUs), "tf32" (HIGH), "highest"
# (HIGHEST: full float32 everywhere). JAX's "bfloat16" setting is DEFAULT again; bfloat16
# compute on a GPU would need the parameters and activations cast (mixed precision), which
# the learners do not do.
MATMUL_PRECISIONS = {"default": None, "tf32": "tensorfloat32", "highest": "highest"}


def set_matmul_precision(name: str) -> None:
    """Sets the float32 matmul precision of every program compiled after this call."""
    import jax

    from jaxrl_suite.errors import SuiteError

    if name not in MATMUL_PRECISIONS:
        raise SuiteError(f"flag '--matmul_precision': expected one of "
                         f"{sorted(MATMUL_PRECISIONS)}, found '{name}'")
    jax.config.update("jax_default_matmul_precision", MATMUL_PRECISIONS[name])


def matmul_precision() -> str:
    """Returns the --matmul_precision name in force (recorded beside the code version: the
    same config at another precision is the same record, its numbers may differ)."""
    import jax

    value = jax.config.jax_default_matmul_precision
    names = {v: k for k, v in MATMUL_PRECISIONS.items()}
    return names.get(value, str(value))
