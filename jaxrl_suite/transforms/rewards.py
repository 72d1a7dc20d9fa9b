"""Reward preprocessing that a learner's reference code applies to the dataset before training,
named by the learner's config (``reward_transform``) and applied by ``train.train``; evaluation
returns and normalised scores stay in the env's units.

- ``"none"``: the dataset's rewards.
- ``"iql_locomotion"``: IQL's, and XQL's and f-DVL's, which copy it
  (ikostrikov/implicit_q_learning ``train_offline.py`` (09d7002) :35-52 and :68-74;
  Div99/XQL ``offline/train_offline.py`` (dff09af) :70-110; hari-sikchi/DVL
  ``offline/train_offline.py`` (4b7cf11) :74-113): on a HalfCheetah, Hopper or Walker2d
  dataset, every reward is multiplied by 1000 / (max episode return - min episode return), so
  that the advantage temperatures tuned on D4RL mean the same on every dataset. Their code
  matches the env name ('halfcheetah', 'walker2d' or 'hopper' in it); here the dataset's env id
  (case-insensitive), so Ant and the non-locomotion envs keep their rewards, as theirs do. (Their
  AntMaze rule, r - 1, is for a benchmark the suite does not ship.)
- ``"return_to_go"``: MCE's (ml-jku/OfflineRL ``source/utils/buffer.py`` (8cc8eec)
  ``calc_remaining_reward`` :118-127, used when ``use_remaining_reward``): every reward becomes
  the discounted sum of the rewards from it to its episode's end, G_t = r_t + gamma G_{t+1},
  restarting at every terminal or time limit (that buffer's ``not_done`` is gym's ``done``,
  which a time limit sets too) and at the dataset's last transition; gamma is the env's paper
  discount (``agents.discrete.common.paper_discount``).
"""

from __future__ import annotations

import numpy as np

from jaxrl_suite.data.dataset import Dataset
from jaxrl_suite.errors import DatasetError

REWARD_TRANSFORMS = ("none", "iql_locomotion", "return_to_go")
IQL_LOCOMOTION_ENVS = ("halfcheetah", "hopper", "walker2d")  # train_offline.py:72-73
IQL_RETURN_RANGE = 1000.0  # train_offline.py:52


def check_reward_transform(name: str) -> None:
    """Raises ValueError unless ``name`` is a known reward transform."""
    if name not in REWARD_TRANSFORMS:
        raise ValueError(f"reward_transform: expected one of {list(REWARD_TRANSFORMS)}, "
                         f"found '{name}'")


def reward_scale(name: str, dataset: Dataset) -> float:
    """Returns the factor ``name`` multiplies ``dataset``'s rewards by (1.0: unchanged)."""
    check_reward_transform(name)
    env = (dataset.meta.env_id or "").lower()
    if name in ("none", "return_to_go") or not any(robot in env for robot in IQL_LOCOMOTION_ENVS):
        return 1.0
    returns = np.asarray(dataset.episode_returns(), np.float64)
    spread = float(returns.max() - returns.min())
    if not np.isfinite(spread) or spread <= 0.0:
        raise DatasetError(dataset.meta.source, "rewards",
                           f"episodes whose returns differ ({name} divides by max - min "
                           "episode return)", f"a spread of {spread}")
    return IQL_RETURN_RANGE / spread


def return_to_go(rewards: np.ndarray, ends: np.ndarray, discount: float) -> np.ndarray:
    """Returns G [N] float32 with G_t = r_t + discount * G_{t+1}, the sum restarting after
    every ``ends[t]`` (episode end: terminal or time limit) and at the last transition.
    rewards [N] float, ends [N] bool, in dataset order (episodes stored contiguously)."""
    import jax
    import jax.numpy as jnp

    def step(following, x):
        reward, end = x
        value = reward + jnp.where(end, 0.0, discount * following)
        return value, value

    _, values = jax.lax.scan(step, jnp.float32(0.0), (
        jnp.asarray(rewards, jnp.float32), jnp.asarray(ends, bool)), reverse=True)
    return np.asarray(values)


def transform_rewards(name: str, dataset: Dataset) -> Dataset:
    """Returns ``dataset`` with its rewards preprocessed as ``name`` says."""
    if name == "return_to_go":
        from jaxrl_suite.agents.discrete.common import paper_discount

        if not dataset.meta.env_id:  # the discount depends on the env: never guess it
            raise DatasetError(dataset.meta.source, "meta.env_id", "the env id (return_to_go "
                               "discounts at the env's paper discount)", "none")
        ends = np.logical_or(np.asarray(dataset.terminals), np.asarray(dataset.timeouts))
        values = return_to_go(np.asarray(dataset.rewards), ends,
                              paper_discount(dataset.meta.env_id))
        return dataset.replace(rewards=values)
    scale = reward_scale(name, dataset)
    if scale == 1.0:
        return dataset
    return dataset.replace(rewards=dataset.rewards * np.float32(scale))
