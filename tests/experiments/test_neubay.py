"""The NEUBAY study at --scale=tiny: NEUBAY, MOPO and MOBILE train with seeds vmapped on a
D4RL-recipe Hopper-v5 dataset of the mujoco-tiny suite, NEUBAY reports its rollout horizons
and their histogram, each ablation is one vmapped grid whose rows cover every value, the
dynamics ensembles are cached and reused, and a re-run trains nothing."""

import math

import pytest

from experiments import neubay as nb
from jaxrl_suite.sweep.store import load_records

pytestmark = pytest.mark.slow  # the full tier (`make test-all`, CI): see tests/conftest.py

SCALE = nb.SCALES["tiny"]


@pytest.fixture(scope="module")
def study(tmp_path_factory, mujoco_tiny_built):
    """Returns (out, first run's (comparison, ablation, summaries), second run's)."""
    root, _ = mujoco_tiny_built
    out = tmp_path_factory.mktemp("neubay") / "tiny"
    runs = [nb.run_study(SCALE, out, root, parts=("compare", "ablate"), log=lambda _: None,
                         progress=False) for _ in range(2)]
    return out, runs[0], runs[1]


def test_every_learner_and_ablation_value_scores_every_seed(study):
    out, (comparison, ablation, summaries), _ = study
    records = load_records(out)
    assert {(r["config"]["algo"], r["config"]["seed"]) for r in records} == {
        (a, s) for a in nb.COMPARED for s in range(SCALE.num_seeds)}
    for row in comparison + ablation:
        assert row["seeds"] == SCALE.num_seeds and row["diverged"] == 0, row
        assert math.isfinite(row["score"]), row
    neubay = [r for r in comparison if r["algo"] == "neubay"]
    assert all(r["horizon_mean"] is not None and 0 < r["horizon_max"] <= 50 for r in neubay)
    values = {(r["factor"], r["value"]) for r in ablation}
    assert values == {(f, v) for f, vs in nb.ablation_grids(SCALE).items() for v in vs}
    # one program per ablation factor (its values x seeds vmapped), three for the comparison
    assert sum(s["trained"] for s in summaries) == 3 + 3
    assert (out / "rollout_lengths.png").stat().st_size > 0
    assert (out / "neubay_comparison.md").exists() and (out / "neubay_ablations.csv").exists()


def test_ensembles_are_cached_and_a_rerun_trains_nothing(study):
    out, (comparison, ablation, _), (again, again_ablation, summaries) = study
    assert sum(s["trained"] for s in summaries) == 0
    assert (again, again_ablation) == (comparison, ablation)
    # NEUBAY's ablations reused the comparison's ensemble, MOBILE reused MOPO's (same config,
    # data and key): one entry each
    assert len([p for p in (out / "ensembles").iterdir() if p.is_dir()]) == 2
