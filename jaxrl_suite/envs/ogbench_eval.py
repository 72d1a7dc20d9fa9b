"""Evaluation in OGBench's envs on the host, by its protocols (seohongpark/ogbench README
"Evaluation"; ``impls/utils/evaluation.py::evaluate`` and ``impls/main.py``):

  goal-conditioned  the env ``<env>-v0``; each of its 5 evaluation tasks is reset with
                    ``options=dict(task_id=i, render_goal=False)`` and gives ``info["goal"]``;
                    the policy sees [observation, goal]; episode e of a cell runs task
                    1 + (e mod 5), so 5k episodes cover each task k times
  single-task       the env ``<env>-singletask-task<i>-v0`` (or ``-singletask-v0``, its task 2);
                    the policy sees the observation
and the score of an episode is ``info["success"]`` when it ends (1 or 0; the env ends an
episode at the goal), so a cell's mean over episodes is its success rate. Action chunks
execute open loop (``HostEvaluator.chunk``).

Oracle goal representations (the ``*-oraclerep-v0`` datasets of Decoupled Q-chunking,
ColinQiyangLi/dqc ``envs/env_utils.py`` lines 184-190 and 235-239): ``use_oracle_rep=True`` is
passed to the env, whose ``info["goal"]`` is then the goal's oracle representation, so the policy
sees [observation, oracle goal]. ``oracle_goal_dims`` gives the observation entries that hold
the same representation of the current state, to relabel goals from a dataset's observations
(``ogbench.relabel_utils.add_oracle_reps`` computes it from ``qpos`` / ``button_states``).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from jaxrl_suite.envs.host_eval import HostEvaluator
from jaxrl_suite.errors import EnvError

NUM_TASKS = 5  # every OGBench env has 5 evaluation goals

# The manipulation envs' state observations (ogbench/manipspace/envs/cube_env.py and
# puzzle_env.py, ``compute_observation``): 19 proprioceptive entries (arm joint positions 6,
# velocities 6, effector xyz 3, yaw cos/sin 2, gripper opening 1, contact 1), then per cube
# ((xyz - [0.425, 0, 0]) * 10: 3, quaternion 4, yaw cos/sin 2) or per button (its state one-hot
# over 2 states, position, velocity).
PROPRIO_DIM = 19
CUBE_DIM = 9
BUTTON_DIM = 4
NUM_CUBES = {"single": 1, "double": 2, "triple": 3, "quadruple": 4, "octuple": 8}


def oracle_goal_dims(env_name: str, observation_dim: int) -> tuple[int, ...]:
    """Returns the observation entries equal to OGBench's oracle goal representation
    (``compute_oracle_observation``): cube envs, each cube's scaled xyz (entries
    19 + 9 i + [0, 1, 2]); puzzle envs, each button's state (0 or 1: the one-hot's second
    entry, 19 + 4 i + 1). Raises EnvError for other envs (their oracle representations,
    e.g. scene's drawer and window rescaled, are not entries of the observation) or an
    observation width that does not fit the name."""
    parts = env_name.split("-")
    if parts[0] == "cube" and len(parts) > 1 and parts[1] in NUM_CUBES:
        count = NUM_CUBES[parts[1]]
        if observation_dim != PROPRIO_DIM + CUBE_DIM * count:
            raise EnvError(f"oracle goal: {env_name}: expected {PROPRIO_DIM} + {CUBE_DIM} x "
                           f"{count} observation entries, found {observation_dim}")
        return tuple(PROPRIO_DIM + CUBE_DIM * i + j for i in range(count) for j in range(3))
    grid = re.fullmatch(r"(\d+)x(\d+)", parts[1]) if len(parts) > 1 else None
    if parts[0] == "puzzle" and grid:
        count = int(grid[1]) * int(grid[2])
        if observation_dim != PROPRIO_DIM + BUTTON_DIM * count:
            raise EnvError(f"oracle goal: {env_name}: expected {PROPRIO_DIM} + {BUTTON_DIM} x "
                           f"{count} observation entries, found {observation_dim}")
        return tuple(PROPRIO_DIM + BUTTON_DIM * i + 1 for i in range(count))
    raise EnvError(f"oracle goal: {env_name}: expected a cube-* or puzzle-* env (whose oracle "
                   "representation is a selection of the observation's entries)")


class OGBenchEvaluator(HostEvaluator):
    """Success rates of cells x episodes in OGBench's ``env_id`` (see the module docstring)."""

    # Each OGBench manipulation env holds ~150 MB (``bench/cpu_probes.py ogbench``: 8
    # cube-double envs took 1.6 GB; a 1,000-episode final evaluation in 1,024 slots was killed
    # for memory), so episodes run in rounds of at most 32 envs (~5 GB).
    def __init__(self, env_id: str, *, max_slots: int = 32, chunk: int = 1,
                 use_oracle_rep: bool = False, **make_kwargs: Any):
        try:
            import ogbench  # noqa: F401  (registers OGBench's envs with gymnasium)
        except ImportError as exc:
            raise EnvError(f"OGBench evaluation needs the 'ogbench' package ({exc})") from exc
        self.goal_conditioned = "singletask" not in env_id
        self.use_oracle_rep = use_oracle_rep
        if use_oracle_rep:
            if not self.goal_conditioned:
                raise EnvError(f"OGBench evaluation: {env_id}: use_oracle_rep: expected a "
                               "goal-conditioned env, found a single-task one")
            make_kwargs["use_oracle_rep"] = True
        super().__init__(env_id, max_slots=max_slots, chunk=chunk, **make_kwargs)
        self._goals: dict[int, np.ndarray] = {}
        if self.goal_conditioned:  # observations carry the goal: [obs, goal]
            shape = self.spec.observation_shape
            if len(shape) != 1:
                raise EnvError(f"OGBench evaluation: {env_id}: expected flat observations, "
                               f"found shape {shape}")
            goal_dim = shape[0]
            if use_oracle_rep:  # the oracle goal's width, from a first goal
                _, info = self._envs[0].reset(options=dict(task_id=1, render_goal=False))
                goal_dim = int(np.asarray(info["goal"]).size)
            self.spec = self.spec.replace(observation_shape=(shape[0] + goal_dim,))

    def _reset_slot(self, env: Any, seed: int, slot: int, episode: int) -> np.ndarray:
        if not self.goal_conditioned:
            return env.reset(seed=seed)[0]
        obs, info = env.reset(seed=seed, options=dict(task_id=1 + episode % NUM_TASKS,
                                                      render_goal=False))
        self._goals[slot] = np.asarray(info["goal"], np.float32)
        return self._observe(slot, obs)

    def _observe(self, slot: int, obs: np.ndarray) -> np.ndarray:
        if not self.goal_conditioned:
            return obs
        return np.concatenate([obs, self._goals[slot]])

    def _episode_score(self, episode_return: float, info: dict) -> float:
        return float(info["success"])
