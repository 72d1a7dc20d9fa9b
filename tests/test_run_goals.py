"""``train`` on goal-conditioned OGBench envs: a goal-conditioned learner gets the goal's
observation entries (oracle goals: the cubes' positions), the env's [observation, goal] width
is checked against the data, and a learner that takes no goal is refused in one line."""

import numpy as np
import pytest

from jaxrl_suite.data.dataset import DatasetMeta, from_arrays
from jaxrl_suite.envs.base import EnvSpec
from jaxrl_suite.errors import SuiteError
from jaxrl_suite.run import _check_env_fits, _goal_inputs


class _Env:
    def __init__(self, width, goal_conditioned=True, use_oracle_rep=False):
        self.spec = EnvSpec(name="gymnasium/cube-double-v0", backend="gymnasium",
                            observation_shape=(width,), discrete=False, action_dim=5,
                            action_low=(-1.0,) * 5, action_high=(1.0,) * 5)
        self.goal_conditioned, self.use_oracle_rep = goal_conditioned, use_oracle_rep


@pytest.fixture(scope="module")
def data():
    n = 6
    meta = DatasetMeta(env_id="cube-double-v0", action_low=(-1.0,) * 5, action_high=(1.0,) * 5)
    return from_arrays(np.zeros((n, 37), np.float32), np.zeros((n, 5), np.float32),
                       np.zeros(n, np.float32), np.zeros(n, bool), np.eye(n, dtype=bool)[-1],
                       np.zeros((n, 37), np.float32), meta=meta)


def test_oracle_goals_give_the_cubes_entries(data):
    env = _Env(37 + 6, use_oracle_rep=True)
    config = _goal_inputs("dqc", data, "d.npz", env)
    assert config == {"goal_dims": (19, 20, 21, 28, 29, 30)}
    _check_env_fits(data, "d.npz", env, goal_dims=config["goal_dims"])
    with pytest.raises(SuiteError, match=r"expected observation shape \(43,\)"):
        _check_env_fits(data, "d.npz", env)  # without the goal the widths differ


def test_whole_observation_goals_and_single_task_envs(data):
    env = _Env(2 * 37)
    assert _goal_inputs("dqc_ns", data, "d.npz", env) == {"goal_dims": None}
    _check_env_fits(data, "d.npz", env, goal_dims=None)
    assert _goal_inputs("qc", data, "d.npz", _Env(37, goal_conditioned=False)) == {}


def test_a_learner_without_goals_is_refused(data):
    with pytest.raises(SuiteError, match="'qc' takes no goal"):
        _goal_inputs("qc", data, "d.npz", _Env(2 * 37))
