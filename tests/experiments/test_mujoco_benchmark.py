"""The three studies that began on Pendulum (trajectory weighting, semi-supervised, revisiting
MBRL) on their papers' benchmark, MuJoCo locomotion (``--benchmark=mujoco``): each runs end to
end at ``tiny`` on the mujoco-tiny suite (Hopper-v5, D4RL's recipes, evaluation in C MuJoCo,
D4RL-normalised scores), written to results/<experiment>/mujoco-tiny/ beside a copy of the
committed results, which stay byte-identical. The flag handling is checked without training."""

import math
import subprocess
import sys

import numpy as np
import pytest

from experiments import common
from experiments import revisiting_mbrl as rm
from experiments import semi_supervised as ss
from experiments import trajectory_weighting as tw
from jaxrl_suite.errors import SuiteError
from jaxrl_suite.model_based.penalties import PENALTIES
from jaxrl_suite.sweep.runner import SAMPLING
from jaxrl_suite.sweep.store import load_records
from tests.experiments.committed import REPO_RESULTS, CommittedResults

MUJOCO_TINY = common.scale_folder("tiny", "mujoco")


def test_each_benchmark_has_its_folder_and_pendulum_keeps_the_committed_names():
    assert common.DEFAULT_BENCHMARK == "mujoco"
    assert common.scale_folder("default", "pendulum") == "default"
    assert (REPO_RESULTS / "trajectory_weighting" / "default").is_dir()  # pendulum's, committed
    assert common.scale_folder("default", "mujoco") == "mujoco-default"
    with pytest.raises(SuiteError, match="benchmark: expected one of"):
        common.scale_folder("default", "atari")


def test_envs_flag_picks_a_subset_in_the_scales_order_or_is_refused_in_one_line():
    envs = ("HalfCheetah-v5", "Hopper-v5", "Walker2d-v5")
    assert common.select_envs(envs, None, "mujoco") == envs
    assert common.select_envs(envs, ["Walker2d-v5", "HalfCheetah-v5"], "mujoco") == (
        "HalfCheetah-v5", "Walker2d-v5")
    with pytest.raises(SuiteError, match=r"'--envs': expected envs of the scale .*\['Ant-v5'\]"):
        common.select_envs(envs, ["Ant-v5"], "mujoco")
    with pytest.raises(SuiteError, match="only for --benchmark=mujoco"):
        common.select_envs(("Pendulum-v1",), ["Pendulum-v1"], "pendulum")


def test_every_study_has_the_three_scales_on_both_benchmarks_and_mujoco_envs_subset():
    for study in (tw, ss, rm):
        assert set(study.BENCHMARK_SCALES) == set(common.BENCHMARKS)
        for scales in study.BENCHMARK_SCALES.values():
            assert set(scales) == {"tiny", "default", "paper"}
        default, paper = study.MUJOCO_SCALES["default"], study.MUJOCO_SCALES["paper"]
        assert (default.suite, paper.suite) == ("mujoco-small", "mujoco")
        assert default.envs == paper.envs == ("HalfCheetah-v5", "Hopper-v5", "Walker2d-v5")
    # Hong et al.'s eight datasets per sigma mix random data with medium or expert data.
    assert tw.scale_datasets(tw.MUJOCO_SCALES["default"])["1"] == tuple(
        f"{e}/{m}" for e in ("HalfCheetah-v5", "Hopper-v5", "Walker2d-v5")
        for m in ("mixed-sigma1pct", "mixed-medium-sigma1pct"))
    one = ss.MUJOCO_SCALES["default"].with_envs(("Hopper-v5",))
    assert one.datasets == ("Hopper-v5/medium-replay", "Hopper-v5/medium")
    assert rm.MUJOCO_SCALES["paper"].with_envs(("Walker2d-v5",)).datasets == tuple(
        ("Walker2d-v5", r) for r in ("random", "medium", "medium-replay", "medium-expert"))


def test_a_bad_envs_flag_stops_the_script_with_one_line_and_status_2(tmp_path):
    proc = subprocess.run([sys.executable, "experiments/trajectory_weighting.py",
                           "--envs=Ant-v5", f"--out={tmp_path}"], cwd=REPO_RESULTS.parent,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines()[-1].startswith("error: flag '--envs'")
    assert not any(tmp_path.iterdir())


def tiny_setting(study, tmp_path, mujoco_tiny_built):
    """Returns (the mujoco-tiny Minari root, the CommittedResults the tiny run writes into,
    the study's mujoco tiny scale)."""
    root, _ = mujoco_tiny_built
    return (root, CommittedResults(tmp_path, study.EXPERIMENT, MUJOCO_TINY),
            study.MUJOCO_SCALES["tiny"])


@pytest.mark.slow
def test_trajectory_weighting_on_mujoco_tiny(tmp_path, mujoco_tiny_built):
    root, results, scale = tiny_setting(tw, tmp_path, mujoco_tiny_built)
    rows, summaries = tw.run_study(scale, results.out, root, algos=("td3bc",),
                                   log=lambda _: None, progress=False, report_reps=50)
    (summary,) = summaries
    per_sigma = len(scale.envs) * len(scale.sources)
    assert summary["trained"] == per_sigma * len(scale.sigmas) * len(SAMPLING)
    assert [(r["sampling"], r["sigma_pct"]) for r in rows] == [
        (s, p) for s in SAMPLING for p in ("10", "50", "mean")]
    for r in rows:
        assert math.isfinite(r["score"]), r
        if r["sigma_pct"] != "mean":
            assert r["datasets"] == per_sigma and r["seeds"] == per_sigma * scale.num_seeds
            # Only two of the paper's four sigmas: no paper mean to compare with.
        assert (r["paper"] is None) == (r["sampling"] == "rw" or r["sigma_pct"] == "mean")
    records = load_records(results.out)
    assert {r["config"]["dataset"] for r in records} == {
        n for names in tw.scale_datasets(scale).values() for n in names}
    assert {r["config"]["env"] for r in records} == {"Hopper-v5"}
    assert all(r["config"]["eval_backend"] == "host" for r in records)
    results.assert_only_tiny_written()


@pytest.mark.slow
def test_semi_supervised_on_mujoco_tiny(tmp_path, mujoco_tiny_built):
    root, results, scale = tiny_setting(ss, tmp_path, mujoco_tiny_built)
    study = ss.run_study(scale, results.out, root, log=lambda _: None)
    assert [r["variant"] for r in study.rows] == ["full", "labelled-only-25pct", "proxy-25pct"]
    for r in study.rows:
        assert (r["env"], r["dataset"], r["seeds"]) == ("Hopper-v5", "medium-replay", 2)
        assert np.isfinite(r["score_mean"]), r
    proxy = study.rows[-1]
    assert 2 <= proxy["labelled_trajectories"] < proxy["trajectories"]
    assert np.isfinite([proxy["label_mae"], proxy["idm_val_nll"]]).all()
    assert study.spec.name.startswith("semi_supervised-mujoco-tiny-")
    results.assert_only_tiny_written()


@pytest.mark.slow
def test_revisiting_mbrl_on_mujoco_tiny(tmp_path, mujoco_tiny_built):
    root, results, scale = tiny_setting(rm, tmp_path, mujoco_tiny_built)
    grid, bo_rows = rm.run_study(scale, results.out, root=root, log=lambda _: None,
                                 progress=False, reps=200)
    assert len(grid) == len(PENALTIES) * len(scale.horizons)
    assert {r["env"] for r in grid} == {"Hopper-v5"}
    assert np.isfinite([r["score"] for r in grid]).all()
    (row,) = bo_rows
    assert (row["env"], row["dataset"], row["trials"]) == (
        "Hopper-v5", "medium-replay", scale.settings.num_trials)
    assert np.isfinite([row["bo_score"], row["default_score"]]).all()
    assert (results.out / "bo" / "Hopper-v5-medium-replay" / "trace.png").exists()
    results.assert_only_tiny_written()
