"""Ant-v5 (gymnasium 1.3 ``gymnasium/envs/mujoco/ant_v5.py``) on MJX.

Read off the source (line numbers of gymnasium 1.3): ``ant.xml``, ``frame_skip`` 5, forward
weight 1, control cost 0.5, contact cost 5e-4, healthy reward 1.0, main body 1 (the torso),
healthy z [0.2, 1.0], contact force range (-1, 1), reset noise 0.1, contact forces observed
(l. 228-245); healthy = every entry of (qpos, qvel) finite and 0.2 <= qpos[2] <= 1.0, both
ends inclusive, unlike Hopper/Walker2d (``is_healthy``, l. 341-346); forward velocity from the
torso's ``xpos[:2]`` before and after the step (l. 349-354); observation = qpos[2:] (x, y
excluded), qvel, then ``clip(cfrc_ext, -1, 1)[1:]`` flattened (the world body dropped; l.
393-404); reward = x-velocity + healthy * 1.0 - 0.5 * |a|^2 - 5e-4 * |clip(cfrc_ext)|^2 summed
over all bodies, world included (l. 327-339, 373-391); terminated = not healthy (l. 358);
reset noise qpos + U(-0.1, 0.1), qvel + 0.1 * N(0, 1) (l. 406-421). 105-D observations, 8-D
actions in [-1, 1]. At reset the observed contact forces are zero: ``mj_resetData`` clears
``cfrc_ext`` and ``mj_forward`` does not fill it.
"""

from __future__ import annotations

import jax.numpy as jnp

from jaxrl_suite.envs.mujoco.common import Robot, forward_healthy_reward

FORWARD_REWARD_WEIGHT = 1.0
CTRL_COST_WEIGHT = 0.5
CONTACT_COST_WEIGHT = 5e-4
HEALTHY_REWARD = 1.0
HEALTHY_Z_RANGE = (0.2, 1.0)
CONTACT_FORCE_RANGE = (-1.0, 1.0)
MAIN_BODY = 1


def _xy(data):
    return data.xpos[MAIN_BODY, :2]


def _contact_forces(data):
    return jnp.clip(data.cfrc_ext, *CONTACT_FORCE_RANGE)


def _healthy(data):
    finite = jnp.all(jnp.isfinite(data.qpos)) & jnp.all(jnp.isfinite(data.qvel))
    z = data.qpos[2]
    return finite & (HEALTHY_Z_RANGE[0] <= z) & (z <= HEALTHY_Z_RANGE[1])


def _observation(data):
    return jnp.concatenate([data.qpos[2:], data.qvel, _contact_forces(data)[1:].reshape(-1)])


def _reward(xy_velocity, data, action):
    contact_cost = CONTACT_COST_WEIGHT * jnp.sum(jnp.square(_contact_forces(data)))
    return forward_healthy_reward(xy_velocity[0], _healthy(data), action,
                                  forward_weight=FORWARD_REWARD_WEIGHT,
                                  healthy_reward=HEALTHY_REWARD,
                                  ctrl_cost_weight=CTRL_COST_WEIGHT) - contact_cost


ROBOT = Robot(
    env_id="Ant-v5",
    xml_file="ant.xml",
    frame_skip=5,
    reset_noise_scale=0.1,
    qvel_noise="normal",
    tracked_position=_xy,
    observation=_observation,
    reward=_reward,
    healthy=_healthy,
    post_constraint=True,
)
