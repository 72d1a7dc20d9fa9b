"""HalfCheetah-v5 (gymnasium 1.3 ``gymnasium/envs/mujoco/half_cheetah_v5.py``) on MJX.

Read off the source: ``half_cheetah.xml``, ``frame_skip`` 5, forward weight 1.0, control cost
0.1 (l. __init__ defaults); observation = qpos[1:] (x excluded) then qvel, unclipped
(``_get_obs``); reward = x-velocity - 0.1 * |a|^2 (``_get_rew``); never terminates; reset
noise qpos + U(-0.1, 0.1), qvel + 0.1 * N(0, 1) (``reset_model``). 17-D observations, 6-D
actions in [-1, 1].
"""

from __future__ import annotations

from jaxrl_suite.envs.mujoco.common import Robot, control_cost, planar_observation, x_position

FORWARD_REWARD_WEIGHT = 1.0
CTRL_COST_WEIGHT = 0.1


def _reward(x_velocity, data, action):
    del data
    return FORWARD_REWARD_WEIGHT * x_velocity - control_cost(action, CTRL_COST_WEIGHT)


ROBOT = Robot(
    env_id="HalfCheetah-v5",
    xml_file="half_cheetah.xml",
    frame_skip=5,
    reset_noise_scale=0.1,
    qvel_noise="normal",
    tracked_position=x_position,
    observation=planar_observation,
    reward=_reward,
    healthy=None,
)
