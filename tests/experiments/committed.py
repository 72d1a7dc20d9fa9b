"""A study's tiny run inside a copy of the repository's committed results: what it may touch."""

from __future__ import annotations

import hashlib
import pathlib
import shutil

from experiments.common import results_dir

REPO_RESULTS = pathlib.Path(__file__).resolve().parents[2] / "results"
TINY = "tiny"


def digests(root: pathlib.Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


class CommittedResults:
    """``root``: a ``results/`` holding a copy of the committed ``results/<experiment>/``
    (every scale's folder but the tiny ones, which the tests write); ``out``: the tiny run's
    default results directory in it."""

    def __init__(self, base: pathlib.Path, experiment: str, folder: str = TINY):
        self.root = base / "results"
        self.experiment = experiment
        self.folder = folder  # the tiny run's folder: "tiny", or "mujoco-tiny" on mujoco
        shutil.copytree(REPO_RESULTS / experiment, self.root / experiment,
                        ignore=lambda d, names: [n for n in names if n.endswith(TINY)]
                        if pathlib.Path(d).name == experiment else [])
        self.before = digests(self.root)
        self.out = results_dir(experiment, folder, results_root=self.root)

    def assert_only_tiny_written(self) -> None:
        """Asserts every committed file is byte-identical and every new one is under tiny/."""
        after = digests(self.root)
        changed = sorted(p for p, d in self.before.items() if after.get(p) != d)
        assert not changed, f"the tiny run changed committed results: {changed[:5]}"
        prefix = f"{self.experiment}/{self.folder}/"
        strays = sorted(p for p in set(after) - set(self.before) if not p.startswith(prefix))
        assert not strays, f"the tiny run wrote outside {prefix}: {strays[:5]}"
        assert any(p.startswith(prefix) for p in after), "the tiny run wrote nothing"
