"""D4RL file names attach the eval env and D4RL's reference returns; a D4RL file in D4RL's own
layout (extra groups included) loads, and `info` reports TQ against D4RL's references."""

import json

import h5py
import numpy as np
import pytest

from jaxrl_suite.data import load
from jaxrl_suite.data.d4rl import D4RL_REFERENCE_RETURNS, d4rl_task, parse_d4rl_name
from tests.test_cli import run_cli


@pytest.mark.parametrize("name, expected", [
    ("halfcheetah_medium-v2.hdf5", ("halfcheetah-medium-v2", "HalfCheetah-v5")),
    ("/home/u/.d4rl/datasets/hopper_medium_replay-v2.hdf5",
     ("hopper-medium-replay-v2", "Hopper-v5")),
    ("hopper-medium-replay-v2", ("hopper-medium-replay-v2", "Hopper-v5")),
    ("walker2d_medium_expert-v2.hdf5", ("walker2d-medium-expert-v2", "Walker2d-v5")),
    ("ant_random-v0.h5", ("ant-random-v0", "Ant-v5")),
])
def test_d4rl_names_resolve_to_id_env_and_references(name, expected):
    parsed = parse_d4rl_name(name)
    assert (parsed.dataset_id, parsed.env_id) == expected
    assert (parsed.ref_min_score, parsed.ref_max_score) == D4RL_REFERENCE_RETURNS[parsed.robot]


@pytest.mark.parametrize("name", ["pendulum_expert.hdf5", "hopper-medium-v3", "maze2d-umaze-v1",
                                  "myhopper_medium-v2.hdf5"])
def test_other_names_are_not_d4rl(name):
    assert parse_d4rl_name(name) is None


@pytest.mark.parametrize("name, env_id, info, expected", [
    ("/data/hopper_medium_replay-v2.hdf5", "Hopper-v5", None, "hopper-medium-replay-v2"),
    ("walker2d-medium-v0", None, None, "walker2d-medium-v2"),  # the authors tuned on v2
    ("renamed.hdf5", "Hopper-v5", {"d4rl": "hopper-expert-v2"}, "hopper-expert-v2"),
    ("jaxrl_suite/mujoco-small/halfcheetah/medium-replay-v0", "HalfCheetah-v5", None,
     "halfcheetah-medium-replay-v2"),
    ("HalfCheetah-v5/medium-expert", "HalfCheetah-v5", None, "halfcheetah-medium-expert-v2"),
    ("jaxrl_suite/mujoco/walker2d/replay-v0", "Walker2d-v5", None, "walker2d-full-replay-v2"),
    ("mujoco/hopper/expert-v0", "gymnasium/Hopper-v5", None, "hopper-expert-v2"),
    ("mujoco/ant/medium-v0", "Ant-v5", None, "ant-medium-v2"),
    ("D4RL/hopper/medium-v2", None, None, "hopper-medium-v2"),  # an id without its env
    # Not D4RL's recipes, or not its robots: no task.
    ("jaxrl_suite/mujoco-small/halfcheetah/mixed-sigma5pct-v0", "HalfCheetah-v5", None, None),
    ("jaxrl_suite/mujoco-small/hopper/noisy-v0", "Hopper-v5", None, None),
    ("jaxrl_suite/locomotion/halfcheetah/medium-v0", "halfcheetah", None, None),  # brax's robot
    ("jaxrl_suite/default/pendulum/replay-v0", "Pendulum-v1", None, None),
    ("mujoco/humanoid/medium-v0", "Humanoid-v5", None, None),
])
def test_d4rl_task_names_the_task_a_dataset_is_or_reproduces(name, env_id, info, expected):
    assert d4rl_task(name, env_id, info) == expected


def _write_d4rl_file(path, obs_dim, act_dim, episodes=4, steps=25, seed=0):
    """Writes a file in D4RL's layout: root arrays plus its infos/ and metadata/ groups."""
    rng = np.random.default_rng(seed)
    n = episodes * steps
    timeouts = np.zeros(n, bool)
    timeouts[steps - 1::steps] = True
    with h5py.File(path, "w") as f:
        f["observations"] = rng.normal(size=(n, obs_dim)).astype(np.float32)
        f["next_observations"] = rng.normal(size=(n, obs_dim)).astype(np.float32)
        f["actions"] = rng.uniform(-1, 1, (n, act_dim)).astype(np.float32)
        f["rewards"] = rng.normal(3.0, 1.0, n).astype(np.float32)
        f["terminals"] = np.zeros(n, bool)
        f["timeouts"] = timeouts
        f["infos/qpos"] = rng.normal(size=(n, obs_dim + 1))
        f["infos/action_log_probs"] = rng.normal(size=n)
        f["metadata/algorithm"] = np.bytes_("SAC")
        f["metadata/policy/fc0/weight"] = rng.normal(size=(4, 4))
    return path


def test_a_d4rl_hdf5_file_gets_env_and_d4rl_references_and_info_reports_tq(tmp_path):
    path = _write_d4rl_file(tmp_path / "hopper_medium-v2.hdf5", obs_dim=11, act_dim=3)
    dataset = load(path)
    lo, hi = D4RL_REFERENCE_RETURNS["hopper"]
    assert dataset.meta.env_id == "Hopper-v5"
    assert (dataset.meta.ref_min_score, dataset.meta.ref_max_score) == (lo, hi)
    assert dataset.meta.info_dict()["d4rl"] == "hopper-medium-v2"
    rc, out, err = run_cli("info", f"--dataset={path}", "--json")
    assert rc == 0, err
    facts = json.loads(out)
    with h5py.File(path) as f:
        mean_return = f["rewards"][()].reshape(4, 25).sum(axis=1).mean()
    assert facts["tq"] == pytest.approx((mean_return - lo) / (hi - lo), rel=1e-4)


def test_a_d4rl_file_whose_observations_do_not_fit_the_env_is_refused_naming_both(tmp_path):
    # D4RL's Ant-v2 observations have 111 entries; gymnasium's Ant-v5 has 105.
    path = _write_d4rl_file(tmp_path / "ant_medium-v2.hdf5", obs_dim=111, act_dim=8)
    rc, out, err = run_cli("train", "--algo=bc", f"--dataset={path}", f"--out={tmp_path}/run",
                           "--steps=10", "--eval_every=10", "--eval_backend=host")
    assert rc == 2
    line = err.strip().splitlines()[-1]
    assert "(111,)" in line and "(105,)" in line and "Ant-v5" in line, err


def _minari_mujoco(root, level, reward, seed):
    """Saves a Minari-style ``mujoco/halfcheetah/<level>-v0`` dataset without references."""
    from jaxrl_suite.data import DatasetMeta, from_arrays, io

    rng = np.random.default_rng(seed)
    n = 60
    timeouts = np.zeros(n, bool)
    timeouts[19::20] = True
    obs = rng.normal(size=(n + 1, 17)).astype(np.float32)
    next_obs = obs[1:].copy()
    next_obs[timeouts] = rng.normal(size=(3, 17))  # episode ends: their own final states
    ds = from_arrays(
        observations=obs[:-1], next_observations=next_obs,
        actions=rng.uniform(-1, 1, (n, 6)).astype(np.float32),
        rewards=np.full(n, reward, np.float32), terminals=np.zeros(n, bool), timeouts=timeouts,
        meta=DatasetMeta(env_id="HalfCheetah-v5", action_dim=6, action_low=(-1.0,) * 6,
                         action_high=(1.0,) * 6))
    io.save_minari(ds, f"mujoco/halfcheetah/{level}-v0", root=root)


def test_minari_mujoco_datasets_get_suite_references(tmp_path):
    """Minari's mujoco/* datasets ship no references: ref_min comes from the registry (the
    suite's random-policy measurement), ref_max from the local expert dataset's mean return."""
    from jaxrl_suite.envs.registry import REFERENCE_RETURNS

    _minari_mujoco(tmp_path, "medium", 1.0, 0)
    alone = load("mujoco/halfcheetah/medium-v0", root=tmp_path)
    assert (alone.meta.ref_min_score, alone.meta.ref_max_score) == pytest.approx(
        REFERENCE_RETURNS["HalfCheetah-v5"])
    _minari_mujoco(tmp_path, "expert", 5.0, 1)
    ds = load("mujoco/halfcheetah/medium-v0", root=tmp_path)
    assert ds.meta.ref_max_score == pytest.approx(100.0)  # 20 steps x reward 5
    assert ds.meta.ref_min_score == pytest.approx(REFERENCE_RETURNS["HalfCheetah-v5"][0])
    assert "expert-v0 (3 episodes)" in ds.meta.info_dict()["references"]["ref_max"]
    rc, out, err = run_cli("info", "--dataset=mujoco/halfcheetah/medium-v0",
                           f"--minari_root={tmp_path}", "--json")
    assert rc == 0, err
    facts = json.loads(out)
    ref_min = REFERENCE_RETURNS["HalfCheetah-v5"][0]
    assert facts["tq"] == pytest.approx((20.0 - ref_min) / (100.0 - ref_min), rel=1e-5)
