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
"""

from __future__ import annotations

from typing import Any

import numpy as np

from jaxrl_suite.envs.host_eval import HostEvaluator
from jaxrl_suite.errors import EnvError

NUM_TASKS = 5  # every OGBench env has 5 evaluation goals


class OGBenchEvaluator(HostEvaluator):
    """Success rates of cells x episodes in OGBench's ``env_id`` (see the module docstring)."""

    def __init__(self, env_id: str, *, max_slots: int = 1024, chunk: int = 1,
                 **make_kwargs: Any):
        try:
            import ogbench  # noqa: F401  (registers OGBench's envs with gymnasium)
        except ImportError as exc:
            raise EnvError(f"OGBench evaluation needs the 'ogbench' package ({exc})") from exc
        self.goal_conditioned = "singletask" not in env_id
        super().__init__(env_id, max_slots=max_slots, chunk=chunk, **make_kwargs)
        self._goals: dict[int, np.ndarray] = {}
        if self.goal_conditioned:  # observations carry the goal: [obs, goal]
            shape = self.spec.observation_shape
            if len(shape) != 1:
                raise EnvError(f"OGBench evaluation: {env_id}: expected flat observations, "
                               f"found shape {shape}")
            self.spec = self.spec.replace(observation_shape=(2 * shape[0],))

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
