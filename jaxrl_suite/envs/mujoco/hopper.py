"""Hopper-v5 (gymnasium 1.3 ``gymnasium/envs/mujoco/hopper_v5.py``) on MJX.

Read off the source (line numbers of gymnasium 1.3): ``hopper.xml``, ``frame_skip`` 4,
forward weight 1.0, control cost 1e-3, healthy reward 1.0, healthy ranges state (-100, 100),
z (0.7, inf), angle (-0.2, 0.2), reset noise 5e-3 (l. 163-177); healthy = every entry of
(qpos[2:], qvel) inside the state range and qpos[1] (z), qpos[2] (angle) inside theirs, all
strict (``is_healthy``, l. 256-271; ``state_vector`` = (qpos, qvel), unclipped); observation =
qpos[1:] then qvel clipped to [-10, 10] (``_get_obs``, l. 273-281); reward = x-velocity +
healthy * 1.0 - 1e-3 * |a|^2 (l. 304-320); terminated = not healthy (l. 291); reset noise
U(-5e-3, 5e-3) on qpos and qvel (l. 322-336). 11-D observations, 3-D actions in [-1, 1].
"""

from __future__ import annotations

import jax.numpy as jnp

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
HEALTHY_STATE_RANGE = (-100.0, 100.0)
HEALTHY_Z_RANGE = (0.7, float("inf"))
HEALTHY_ANGLE_RANGE = (-0.2, 0.2)


def _healthy(data):
    state = jnp.concatenate([data.qpos[2:], data.qvel])
    return (jnp.all(in_open_range(state, *HEALTHY_STATE_RANGE))
            & in_open_range(data.qpos[1], *HEALTHY_Z_RANGE)
            & in_open_range(data.qpos[2], *HEALTHY_ANGLE_RANGE))


def _observation(data):
    return planar_observation(data, velocity_clip=10.0)


def _reward(x_velocity, data, action):
    return forward_healthy_reward(x_velocity, _healthy(data), action,
                                  forward_weight=FORWARD_REWARD_WEIGHT,
                                  healthy_reward=HEALTHY_REWARD,
                                  ctrl_cost_weight=CTRL_COST_WEIGHT)


ROBOT = Robot(
    env_id="Hopper-v5",
    xml_file="hopper.xml",
    frame_skip=4,
    reset_noise_scale=5e-3,
    qvel_noise="uniform",
    tracked_position=x_position,
    observation=_observation,
    reward=_reward,
    healthy=_healthy,
)
