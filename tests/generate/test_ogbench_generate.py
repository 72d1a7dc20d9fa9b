"""OGBench manipulation data generated with OGBench's own oracles: a scripted oracle episode
reaches its goal; the files have OGBench's raw layout and load as Datasets with its shapes and
episode structure; a build is reproducible and resumes after an interruption."""

import numpy as np
import pytest

pytest.importorskip("ogbench")

from jaxrl_suite.data import io  # noqa: E402
from jaxrl_suite.errors import SuiteError  # noqa: E402
from jaxrl_suite.generate import ogbench as gen  # noqa: E402

STEPS = 40  # steps per episode here (OGBench's: 1,001)


def test_a_plan_oracle_reaches_its_goal():
    import gymnasium
    import ogbench.manipspace  # noqa: F401
    from ogbench.manipspace.oracles.plan.cube_plan import CubePlanOracle

    env = gymnasium.make("cube-single-v0", terminate_at_goal=False, mode="data_collection",
                         max_episode_steps=300)
    np.random.seed(0)
    ob, info = env.reset(seed=0)
    agent = CubePlanOracle(env=env, noise=0.1, noise_smoothing=0.5)
    agent.reset(ob, info)
    for _ in range(300):
        ob, _, _, _, info = env.step(np.clip(np.array(agent.select_action(ob, info)), -1, 1))
        if agent.done:
            break
    assert agent.done and info["success"]


def test_generated_files_load_with_ogbench_shapes(tmp_path):
    train, val = gen.generate_manipulation("cube-single", "play", tmp_path, num_episodes=2,
                                           max_episode_steps=STEPS, progress=False,
                                           log=lambda _: None)
    assert train.name == "cube-single-play-v0.npz" and val.name == "cube-single-play-v0-val.npz"
    with np.load(train) as f:
        raw = {k: f[k] for k in f.files}
    assert set(raw) == {"observations", "actions", "terminals", "qpos", "qvel"}
    assert raw["observations"].shape == (2 * STEPS, 28) and raw["actions"].shape == (2 * STEPS, 5)
    np.testing.assert_array_equal(np.flatnonzero(raw["terminals"]), [STEPS - 1, 2 * STEPS - 1])
    assert np.abs(raw["actions"]).max() <= 1.0
    dataset = io.load(train)
    assert dataset.meta.env_id == "cube-single-v0"
    assert dataset.num_episodes == 2 and dataset.num_transitions == 2 * (STEPS - 1)
    with np.load(val) as f:
        assert f["terminals"].sum() == 1  # max(2 // 10, 1) validation episode
    # cached: a second call returns the same files untouched
    before = train.stat().st_mtime_ns
    assert gen.generate_manipulation("cube-single", "play", tmp_path, num_episodes=2,
                                     max_episode_steps=STEPS, progress=False,
                                     log=lambda _: None)[0].stat().st_mtime_ns == before


def test_builds_are_reproducible_and_resume(tmp_path):
    kwargs = dict(num_episodes=3, max_episode_steps=STEPS, progress=False, log=lambda _: None,
                  save_every=1)
    whole = gen.generate_manipulation("puzzle-3x3", "noisy", tmp_path / "a", **kwargs)[0]
    # an interrupted build: keep the partial file of the first two episodes, then resume
    first = gen.generate_manipulation("puzzle-3x3", "noisy", tmp_path / "b",
                                      **dict(kwargs, num_episodes=2))[0]
    partial = tmp_path / "c" / "puzzle-3x3-noisy-v0.partial.npz"
    partial.parent.mkdir()
    first.rename(partial)
    resumed = gen.generate_manipulation("puzzle-3x3", "noisy", tmp_path / "c", **kwargs)[0]
    assert not partial.exists()
    with np.load(whole) as a, np.load(resumed) as b:
        assert set(a.files) == set(b.files) and "button_states" in a.files
        for k in a.files:
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_unknown_names_are_refused(tmp_path):
    with pytest.raises(SuiteError, match="env 'cube-nonuple'"):
        gen.generate_manipulation("cube-nonuple", "play", tmp_path)
    with pytest.raises(SuiteError, match="dataset type 'navigate'"):
        gen.generate_manipulation("cube-single", "navigate", tmp_path)
    assert gen.p_random_action("puzzle-4x4", "noisy") == 0.2
    assert gen.p_random_action("cube-double", "noisy") == 0.1
    assert gen.p_random_action("scene", "play") == 0.0


@pytest.mark.parametrize("sparse", [False, True])
def test_single_task_relabelling_matches_ogbench(tmp_path, sparse):
    # The reference: ogbench's own make_env_and_datasets on the same file (regular layout,
    # relabel_dataset by the single-task env), then QC's --sparse (main.py lines 129-133).
    from ogbench.utils import make_env_and_datasets

    from jaxrl_suite.data.ogbench import singletask_dataset

    train, _ = gen.generate_manipulation("cube-single", "play", tmp_path, num_episodes=3,
                                         max_episode_steps=STEPS, progress=False,
                                         log=lambda _: None)
    for task in (1, 4):
        env, ref, _ = make_env_and_datasets(f"cube-single-play-singletask-task{task}-v0",
                                            dataset_path=str(train))
        env.close()
        rewards = -(ref["rewards"] != 0).astype(np.float32) if sparse else ref["rewards"]
        got = singletask_dataset(train, task, sparse=sparse)
        assert got.meta.env_id == f"cube-single-singletask-task{task}-v0"
        np.testing.assert_array_equal(got.observations, ref["observations"])
        np.testing.assert_array_equal(got.next_observations, ref["next_observations"])
        np.testing.assert_array_equal(got.rewards, rewards)
        np.testing.assert_array_equal(got.terminals, ref["masks"] == 0)
    with pytest.raises(SuiteError, match="task in 1..5"):
        singletask_dataset(train, 6)
