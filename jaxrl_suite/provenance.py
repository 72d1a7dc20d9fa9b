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
