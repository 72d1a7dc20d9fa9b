"""Walker2d-v5 (gymnasium 1.3 ``gymnasium/envs/mujoco/walker2d_v5.py``) on MJX.

Read off the source (line numbers of gymnasium 1.3): ``walker2d_v5.xml`` (v5's own XML: both
feet have friction 1.9; in the v2-v4 file the right foot had 0.9 and the left 1.9), ``frame_skip`` 4,
forward weight 1.0, control cost 1e-3, healthy reward 1.0, healthy z (0.8, 2.0), angle
(-1, 1), reset noise 5e-3 (l. 172-185); healthy = z = qpos[1] and angle = qpos[2] inside
their ranges, strict (``is_healthy``, l. 261-272); observation = qpos[1:] then qvel clipped
to [-10, 10] (l. 274-282); reward = x-velocity + healthy * 1.0 - 1e-3 * |a|^2 (l. 305-320);
terminated = not healthy (l. 292); reset noise U(-5e-3, 5e-3) on qpos and qvel (l. 322-336).
17-D observations, 6-D actions in [-1, 1].
"""

from __future__ import annotations

from jaxrl_suite.envs.mujoco.common import (
    Robot,
    forward_healthy_reward,
    in_open_range,
    planar_observation,
    x_position,
)

FORWARD_REWARD_WEIGHT = 1.0
CTRL_COST_WEIGHT = 1e-3
HEALTHY_REWARD = 1.0
HEALTHY_Z_RANGE = (0.8, 2.0)
HEALTHY_ANGLE_RANGE = (-1.0, 1.0)


def _healthy(data):
    return (in_open_range(data.qpos[1], *HEALTHY_Z_RANGE)
            & in_open_range(data.qpos[2], *HEALTHY_ANGLE_RANGE))


def _observation(data):
    return planar_observation(data, velocity_clip=10.0)


def _reward(x_velocity, data, action):
    return forward_healthy_reward(x_velocity, _healthy(data), action,
                                  forward_weight=FORWARD_REWARD_WEIGHT,
                                  healthy_reward=HEALTHY_REWARD,
                                  ctrl_cost_weight=CTRL_COST_WEIGHT)


ROBOT = Robot(
    env_id="Walker2d-v5",
    xml_file="walker2d_v5.xml",
    frame_skip=4,
    reset_noise_scale=5e-3,
    qvel_noise="uniform",
    tracked_position=x_position,
    observation=_observation,
    reward=_reward,
    healthy=_healthy,
)
