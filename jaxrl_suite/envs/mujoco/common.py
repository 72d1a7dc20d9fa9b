"""Shared machinery of the JAX ports of gymnasium's MuJoCo v5 locomotion envs, on MJX.

A robot module (``half_cheetah.py``, ``hopper.py``, ...) states the parts gymnasium's own env
class defines (XML file, ``frame_skip``, observation, reward, health, reset noise) as a
``Robot``; ``make_locomotion_env`` turns it into a ``JaxEnv``. What every v5 env shares is
read off ``gymnasium/envs/mujoco/mujoco_env.py`` (gymnasium 1.3), cited by line:

* the model is loaded from gymnasium's installed ``assets/`` folder (``expand_model_path``,
  l. 21-32), so the physics (timestep, integrator, contacts) is gymnasium's own XML;
* ``reset`` = ``mj_resetData`` then ``reset_model`` sets qpos/qvel = initial + noise and calls
  ``mj_forward`` (``set_state``, l. 128-138; ``reset``, l. 168-183): here ``mjx.make_data``
  (all zeros, as ``mj_resetData``) and ``mjx.forward``;
* ``step`` writes the action into ``ctrl`` and runs ``mj_step`` ``frame_skip`` times, then
  ``mj_rnePostConstraint`` (l. 140-151; it fills ``cfrc_ext``, which only Ant observes, so
  only Ant pays for it here); ``dt = timestep * frame_skip`` (l. 185-187);
* the action space is ``actuator_ctrlrange`` (l. 109-113); the registered time limit is
  1,000 steps (``gymnasium/envs/__init__.py``), raised here as ``truncated``, never
  ``terminated``.

Position-dependent quantities MJX (like MuJoCo) leaves in ``Data`` after a step (``xpos``) are
those of the last substep's start: Ant's forward velocity is measured from them in gymnasium
too (``ant_v5.py`` l. 349-353), and ``mjx.step`` reproduces the same lag.

Differences from gymnasium (documented, deliberate): the action is clipped to the bounds
before it enters ``ctrl`` and the control cost (gymnasium leaves clipping to MuJoCo's
``ctrllimited`` clamp and costs the raw action; the suite's adapters clip every action,
as ``HostEnv`` does); arithmetic is float32 (MJX) where C MuJoCo uses float64; reset noise
has gymnasium's distributions but JAX's random stream.
"""

from __future__ import annotations

import os
from typing import Any, Callable, NamedTuple

import flax
import jax
import jax.numpy as jnp
import numpy as np

from jaxrl_suite.envs.base import EnvSpec, JaxEnv
from jaxrl_suite.errors import EnvError


class Robot(NamedTuple):
    """What one gymnasium v5 locomotion env defines beyond ``MujocoEnv`` (static, hashable).

    ``tracked_position(data)`` is the quantity whose finite difference over a step is the
    forward velocity (x, or x and y); ``reward(velocity, data, action)`` and
    ``healthy(data)`` (None: never terminates) follow the robot's ``_get_rew`` /
    ``is_healthy``; ``qvel_noise`` is "uniform" (U(-s, s)) or "normal" (s * N(0, 1)).
    """

    env_id: str
    xml_file: str
    frame_skip: int
    reset_noise_scale: float
    qvel_noise: str
    tracked_position: Callable[[Any], jax.Array]
    observation: Callable[[Any], jax.Array]
    reward: Callable[[jax.Array, Any, jax.Array], jax.Array]
    healthy: Callable[[Any], jax.Array] | None
    post_constraint: bool = False  # run rne_postconstraint (fills cfrc_ext) after the substeps


@flax.struct.dataclass
class MujocoEnvState:
    """The MJX physics state and the number of steps taken in this episode."""

    data: Any  # mujoco.mjx.Data
    step_count: jax.Array  # int32 []


def gymnasium_asset(xml_file: str) -> str:
    """Returns the path of ``xml_file`` in the installed gymnasium's MuJoCo assets folder."""
    try:
        import gymnasium
    except ImportError:
        raise EnvError("MuJoCo locomotion envs load gymnasium's XML files: "
                       "pip install 'jaxrl_suite[mujoco]'") from None
    path = os.path.join(os.path.dirname(gymnasium.__file__), "envs", "mujoco", "assets",
                        xml_file)
    if not os.path.exists(path):
        raise EnvError(f"gymnasium's MuJoCo asset '{xml_file}' not found at {path}; "
                       "is gymnasium >= 1.0 installed?")
    return path


def load_model(robot: Robot):
    """Returns the C ``mujoco.MjModel`` of ``robot``, loaded from gymnasium's XML."""
    import mujoco

    return mujoco.MjModel.from_xml_path(gymnasium_asset(robot.xml_file))


def locomotion_spec(robot: Robot, mj_model, episode_length: int, obs_size: int) -> EnvSpec:
    """Returns the EnvSpec of ``robot``: actions in ``actuator_ctrlrange``, float32 obs."""
    low, high = np.asarray(mj_model.actuator_ctrlrange, np.float32).T
    return EnvSpec(
        name=robot.env_id,
        backend="mjx",
        observation_shape=(int(obs_size),),
        discrete=False,
        action_dim=int(mj_model.nu),
        action_low=tuple(float(x) for x in low),
        action_high=tuple(float(x) for x in high),
        max_episode_steps=int(episode_length),
    )


def make_locomotion_env(robot: Robot, episode_length: int = 1000) -> JaxEnv:
    """Returns ``robot`` as a JaxEnv on MJX, truncated after ``episode_length`` steps."""
    from mujoco import mjx

    if int(episode_length) < 1:
        raise EnvError(f"env '{robot.env_id}': episode_length must be >= 1, "
                       f"found {episode_length}")
    mj_model = load_model(robot)
    model = mjx.put_model(mj_model)
    init_qpos = jnp.asarray(mj_model.qpos0, jnp.float32)
    init_qvel = jnp.zeros((mj_model.nv,), jnp.float32)
    dt = float(mj_model.opt.timestep) * robot.frame_skip
    limit = int(episode_length)
    scale = float(robot.reset_noise_scale)
    obs_size = jax.eval_shape(robot.observation, mjx.make_data(mj_model)).shape[0]
    spec = locomotion_spec(robot, mj_model, limit, obs_size)
    low, high = jnp.asarray(spec.action_low), jnp.asarray(spec.action_high)

    def reset(key):
        qpos_key, qvel_key = jax.random.split(key)
        qpos = init_qpos + jax.random.uniform(qpos_key, init_qpos.shape, minval=-scale,
                                              maxval=scale)
        if robot.qvel_noise == "uniform":
            qvel_noise = jax.random.uniform(qvel_key, init_qvel.shape, minval=-scale,
                                            maxval=scale)
        else:
            qvel_noise = scale * jax.random.normal(qvel_key, init_qvel.shape)
        data = set_state(model, mjx.make_data(model), qpos, init_qvel + qvel_noise)
        return (robot.observation(data).astype(jnp.float32),
                MujocoEnvState(data=data, step_count=jnp.zeros((), jnp.int32)))

    def step(state, action, key):
        del key  # the dynamics are deterministic given the action
        action = jnp.clip(jnp.asarray(action, jnp.float32).reshape(low.shape), low, high)
        before = robot.tracked_position(state.data)
        data = physics_step(model, state.data, action, robot)
        velocity = (robot.tracked_position(data) - before) / dt
        reward = robot.reward(velocity, data, action)
        terminated = (jnp.logical_not(robot.healthy(data)) if robot.healthy is not None
                      else jnp.bool_(False))
        step_count = state.step_count + 1
        truncated = jnp.logical_and(step_count >= limit, jnp.logical_not(terminated))
        return (robot.observation(data).astype(jnp.float32),
                MujocoEnvState(data=data, step_count=step_count),
                jnp.asarray(reward, jnp.float32).reshape(()),
                jnp.asarray(terminated, bool).reshape(()),
                truncated)

    return JaxEnv(spec=spec, reset=reset, step=step)


def set_state(model, data, qpos, qvel):
    """Returns ``data`` with ``qpos``/``qvel`` set and derived quantities recomputed
    (gymnasium's ``set_state``: assign, then ``mj_forward``)."""
    from mujoco import mjx

    data = data.replace(qpos=jnp.asarray(qpos, data.qpos.dtype),
                        qvel=jnp.asarray(qvel, data.qvel.dtype))
    return mjx.forward(model, data)


def physics_step(model, data, action, robot: Robot):
    """Returns ``data`` after ``frame_skip`` MJX steps under control ``action`` (gymnasium's
    ``do_simulation``), with ``cfrc_ext`` filled when the robot observes it."""
    from mujoco import mjx

    data = data.replace(ctrl=action.astype(data.ctrl.dtype))
    data = jax.lax.fori_loop(0, robot.frame_skip, lambda _, d: mjx.step(model, d), data)
    if robot.post_constraint:
        data = mjx.rne_postconstraint(model, data)
    return data


def x_position(data) -> jax.Array:
    """Returns qpos[0], the root's x (tracked by the planar robots' forward reward)."""
    return data.qpos[0]


def planar_observation(data, velocity_clip: float | None = None) -> jax.Array:
    """Returns qpos[1:] (x excluded) then qvel, clipped to +-``velocity_clip`` if given
    (the planar robots' ``_get_obs``)."""
    qvel = data.qvel if velocity_clip is None else jnp.clip(data.qvel, -velocity_clip,
                                                            velocity_clip)
    return jnp.concatenate([data.qpos[1:], qvel])


def forward_healthy_reward(x_velocity, healthy, action, *, forward_weight: float,
                           healthy_reward: float, ctrl_cost_weight: float) -> jax.Array:
    """Returns forward_weight * x_velocity + healthy_reward * healthy - control cost (the
    ``_get_rew`` of Hopper, Walker2d and, before its contact cost, Ant)."""
    return (forward_weight * x_velocity + healthy_reward * healthy.astype(jnp.float32)
            - control_cost(action, ctrl_cost_weight))


def control_cost(action: jax.Array, weight: float) -> jax.Array:
    """Returns ``weight * sum(action**2)`` (every v5 robot's ``control_cost``)."""
    return weight * jnp.sum(jnp.square(action))


def in_open_range(x: jax.Array, low: float, high: float) -> jax.Array:
    """Returns ``low < x < high`` elementwise (gymnasium's strict health ranges)."""
    return jnp.logical_and(low < x, x < high)
