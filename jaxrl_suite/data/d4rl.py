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
