"""D4RL dataset names -> evaluation env and D4RL's published reference returns.

D4RL's gym locomotion files (``~/.d4rl/datasets/<env>_<level>-v2.hdf5``, ids
``<env>-<level>-v2``) carry no env spec and no reference returns. D4RL normalises with the
random and expert returns in ``d4rl/infos.py`` (``REF_MIN_SCORE`` / ``REF_MAX_SCORE``, the
same numbers for every level and version of a robot), copied below; ``normalised =
100 * (R - random) / (expert - random)``.

D4RL's data were recorded in gym's mujoco-py ``-v3`` envs; the suite evaluates them in the
MJX port of gymnasium's ``-v5`` env of the same robot (or its C-MuJoCo twin), which has the
same observation layout for HalfCheetah, Hopper and Walker2d but slightly different physics
(gymnasium's v5 changelog: Walker2d's right-foot friction, MuJoCo >= 2.3 vs mujoco-py 2.0), so
a D4RL-normalised score measured here is close to, not identical with, one measured in v2.
Ant's D4RL observations (111 entries: 84 external forces, zeros under mujoco-py 2.0) do not
fit Ant-v5's 105, and ``train`` refuses the pair naming both shapes.
"""

from __future__ import annotations

import re
from typing import NamedTuple

# d4rl/infos.py REF_MIN_SCORE / REF_MAX_SCORE (Farama-Foundation/D4RL at 0ace16d), the
# '<robot>-<level>-v0' entries: one random and one expert return per robot, for every level.
D4RL_REFERENCE_RETURNS = {
    "halfcheetah": (-280.178953, 12135.0),
    "hopper": (-20.272305, 3234.3),
    "walker2d": (1.629008, 4592.3),
    "ant": (-325.6, 3879.7),
}
D4RL_ENVS = {"halfcheetah": "HalfCheetah-v5", "hopper": "Hopper-v5",
             "walker2d": "Walker2d-v5", "ant": "Ant-v5"}
D4RL_LEVELS = ("random", "medium", "expert", "medium-replay", "medium-expert", "full-replay")

_NAME = re.compile(r"(?P<robot>halfcheetah|hopper|walker2d|ant)[-_]"
                   r"(?P<level>random|medium[-_]replay|medium[-_]expert|full[-_]replay|medium|"
                   r"expert)-v(?P<version>[0-2])")


class D4RLName(NamedTuple):
    """What a D4RL file name says: dataset id, robot, level, and the suite's eval env."""

    dataset_id: str  # e.g. "hopper-medium-replay-v2"
    robot: str
    level: str
    env_id: str
    ref_min_score: float
    ref_max_score: float


def parse_d4rl_name(name: str) -> D4RLName | None:
    """Returns the D4RL facts of a file name or id such as ``halfcheetah_medium-v2.hdf5`` or
    ``hopper-medium-replay-v2`` (path and extension ignored), or None if it names none."""
    stem = re.split(r"[\\/]", str(name))[-1]
    stem = re.sub(r"\.(hdf5|h5|npz)$", "", stem, flags=re.IGNORECASE)
    match = _NAME.fullmatch(stem.lower())
    if match is None:
        return None
    robot, level = match["robot"], match["level"].replace("_", "-")
    ref_min, ref_max = D4RL_REFERENCE_RETURNS[robot]
    return D4RLName(f"{robot}-{level}-v{match['version']}", robot, level, D4RL_ENVS[robot],
                    ref_min, ref_max)


# The suite's level names for D4RL's recipes (generate/recipes.py): its `replay` (the whole
# online stream) is D4RL's full-replay; every other D4RL level has its own name.
_SUITE_LEVELS = {**{level: level for level in D4RL_LEVELS}, "replay": "full-replay"}


def d4rl_task(dataset_name: str, env_id: str | None, info: dict | None = None) -> str | None:
    """Returns the D4RL -v2 dataset id (``"hopper-medium-replay-v2"``) of the task a dataset is
    or reproduces, or None: a D4RL file or id (its version set to v2, the one the methods'
    authors tuned on), or a dataset recorded in gymnasium's v5 HalfCheetah, Hopper, Walker2d
    or Ant (``env_id``, with or without the ``gymnasium/`` prefix) whose name ends in a D4RL
    level: the suite's ``jaxrl_suite/mujoco*/<robot>/<level>-v0`` (``replay`` = full-replay)
    and Minari's ``mujoco/<robot>/<level>-v0``. ``info`` is the dataset's meta info (its
    ``d4rl`` entry, set when a D4RL-named file was loaded, wins). Per-dataset defaults that a
    method's authors tuned on D4RL (ReBRAC's betas) key on this."""
    named = (info or {}).get("d4rl") or dataset_name
    parsed = parse_d4rl_name(named)
    if parsed is not None:
        return f"{parsed.robot}-{parsed.level}-v2"
    robots = {env: robot for robot, env in D4RL_ENVS.items()}
    parts = str(dataset_name).rstrip("/").split("/")
    robot = robots.get((env_id or "").removeprefix("gymnasium/"))
    if robot is None and not env_id and len(parts) >= 2 and parts[-2] in D4RL_ENVS:
        robot = parts[-2]  # a Minari-style id read without its env: "D4RL/hopper/medium-v2"
    level = re.sub(r"-v\d+$", "", parts[-1])
    if robot is None or level not in _SUITE_LEVELS:
        return None
    return f"{robot}-{_SUITE_LEVELS[level]}-v2"
