"""JAX-native ports of gymnasium's MuJoCo v5 locomotion envs on MJX (one module per robot).

``make_mujoco_env("HalfCheetah-v5")`` is a ``JaxEnv``: jittable and vmappable like the gymnax
envs, with gymnasium's v5 observation, reward, termination and reset semantics (see
``common.py`` and each robot's module). The host env with C MuJoCo stays available as
``gymnasium/HalfCheetah-v5``.

Against D4RL's ``-v2`` datasets: those were recorded in gym's mujoco-py ``-v3`` envs, whose
XML and observations differ in places (Walker2d's right-foot friction 0.9 vs v5's 1.9; Ant-v2
observed 84 external-force entries computed by mujoco-py (zeros under MuJoCo >= 2.0) where v5
observes 78 clipped ``cfrc_ext`` entries of the 13 bodies; v5 Hopper/Walker2d clip observed
velocities as v3 did). HalfCheetah and Hopper observations have the same layout (17, 11) as
D4RL's, so a D4RL policy can be evaluated there, on slightly different physics; Ant's do not
match (111 vs 105 entries). Against brax's envs: brax's ``halfcheetah``/``hopper``/... load
brax's own XML (other masses, gears and contacts) and other observations, so their returns
are not gymnasium's or D4RL's.
"""

from __future__ import annotations

from jaxrl_suite.envs.base import EnvSpec, JaxEnv
from jaxrl_suite.envs.mujoco import ant, half_cheetah, hopper, walker2d
from jaxrl_suite.envs.mujoco.common import (
    MujocoEnvState,
    Robot,
    load_model,
    locomotion_spec,
    make_locomotion_env,
)
from jaxrl_suite.errors import EnvError

ROBOTS: dict[str, Robot] = {r.env_id: r for r in (
    half_cheetah.ROBOT, hopper.ROBOT, walker2d.ROBOT, ant.ROBOT)}
MUJOCO_ENV_NAMES = tuple(ROBOTS)

# Observation sizes of the v5 envs at their defaults, so a spec needs no MJX model; a test
# checks them against the built envs (and gymnasium's).
OBSERVATION_SIZES = {"HalfCheetah-v5": 17, "Hopper-v5": 11, "Walker2d-v5": 17, "Ant-v5": 105}


def _robot(name: str) -> Robot:
    if name not in ROBOTS:
        raise EnvError(f"unknown MuJoCo locomotion env '{name}': expected one of "
                       f"{', '.join(MUJOCO_ENV_NAMES)}")
    return ROBOTS[name]


def make_mujoco_env(name: str, episode_length: int = 1000) -> JaxEnv:
    """Returns the MJX port of gymnasium's ``name`` (e.g. "Hopper-v5"), truncated at
    ``episode_length`` steps (gymnasium's registered limit is 1,000)."""
    return make_locomotion_env(_robot(name), episode_length)


def mujoco_spec(name: str, episode_length: int = 1000) -> EnvSpec:
    """Returns the EnvSpec ``make_mujoco_env(name, episode_length)`` has, from the C model."""
    robot = _robot(name)
    return locomotion_spec(robot, load_model(robot), episode_length, OBSERVATION_SIZES[name])


__all__ = ["MUJOCO_ENV_NAMES", "MujocoEnvState", "ROBOTS", "make_mujoco_env", "mujoco_spec"]
