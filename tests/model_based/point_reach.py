"""A small dense-reward task on which a dynamics model generalises where an offline critic
cannot: MOPO's setting (Yu et al., 2020, Table 1: offline SAC fails on single-policy "medium"
data, the model-based policy does not), at a size the CPU tests afford.

    position p in [-1, 1]^2, starting uniformly in the square; GOAL the centre
    action a in [-1, 1]^2,  p' = clip(p + STEP a, -1, 1)
    reward -||p - GOAL|| of the state the action is taken in; no termination; time limit LIMIT
    data: one behaviour policy, a = clip(SPEED R(ANGLE) u(p) + N(0, NOISE^2), -1, 1), u(p) the
          unit vector from p to the goal, R a rotation: at each state the data hold actions of
          one direction and speed only

The dynamics are linear in the action and every action direction occurs in the data at some
state, so a model fitted to them predicts the next state of untried (state, action) pairs well;
the reward is a function of the state, which the data cover, so the model's reward head is not
asked to extrapolate in the action either (a first version rewarded -||p' - GOAL||, a function
of the action: the reward head then extrapolated wrongly to untried actions, e.g. -0.26 for a
full-speed step away from a goal at (0.5, 0.5) whose true reward was -1.10, and MOPO learned a
constant action). The critic of an offline SAC sees, at each state, a narrow band of actions and
extrapolates Q elsewhere unchecked. Reference returns (normalised score 0 = uniform random
actions, 100 = the greedy straight-line policy) are Monte-Carlo estimates over 2,000 episodes
from fixed seeds.
"""

from __future__ import annotations

import functools

import jax.numpy as jnp
import numpy as np

from jaxrl_suite.data.dataset import DatasetMeta, from_arrays
from jaxrl_suite.envs.base import JaxEnv
from tests.agents import sparse_goal

GOAL = np.array([0.0, 0.0], np.float32)
STEP, LIMIT = sparse_goal.STEP, 25
NAME = "PointReach-test"


def unit_to_goal(p: np.ndarray) -> np.ndarray:
    """Returns [..., 2] the unit vectors from positions ``p`` to the goal."""
    d = GOAL - p
    return d / np.maximum(np.linalg.norm(d, axis=-1, keepdims=True), 1e-6)


def _episode_returns(policy, episodes: int, seed: int) -> np.ndarray:
    """Returns [episodes] returns of ``policy(p [N, 2], rng) -> a [N, 2]`` (NumPy, vectorised)."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(-1, 1, (episodes, 2))
    total = np.zeros(episodes)
    for _ in range(LIMIT):
        total -= np.linalg.norm(p - GOAL, axis=-1)
        p = np.clip(p + STEP * np.clip(policy(p, rng), -1, 1), -1, 1)
    return total


@functools.lru_cache(maxsize=None)
def reference_returns() -> tuple[float, float]:
    """Returns (uniform random policy's, greedy straight-line policy's) mean return."""
    random = _episode_returns(lambda p, rng: rng.uniform(-1, 1, p.shape), 2_000, 1)
    # Greedy: the step that brings p' closest to the goal (a box-constrained move).
    greedy = _episode_returns(lambda p, rng: np.clip((GOAL - p) / STEP, -1, 1), 2_000, 1)
    return float(random.mean()), float(greedy.mean())


def point_reach_env() -> JaxEnv:
    """Returns the task as a JaxEnv (in-jit evaluation)."""
    outcome = lambda p, nxt: (-jnp.linalg.norm(p - jnp.asarray(GOAL)), jnp.bool_(False))
    return sparse_goal.point_mass_env(NAME, 1.0, outcome, LIMIT, *reference_returns())


def behaviour_dataset(episodes: int, speed: float, angle_deg: float, noise: float,
                      seed: int = 0):
    """Returns (Dataset of ``episodes`` episodes of the behaviour policy, its normalised score)."""
    rng = np.random.default_rng(seed)
    c, s = np.cos(np.radians(angle_deg)), np.sin(np.radians(angle_deg))
    rotation = np.array([[c, -s], [s, c]])

    def policy(p, rng):
        return speed * unit_to_goal(p) @ rotation.T + rng.normal(0.0, noise, p.shape)

    p = rng.uniform(-1, 1, (episodes, 2))
    rows = {k: [] for k in ("observations", "actions", "rewards", "next_observations")}
    for _ in range(LIMIT):
        a = np.clip(policy(p, rng), -1, 1)
        nxt = np.clip(p + STEP * a, -1, 1)
        for k, v in (("observations", p), ("actions", a), ("next_observations", nxt),
                     ("rewards", -np.linalg.norm(p - GOAL, axis=-1))):
            rows[k].append(v)
        p = nxt
    # [T, E, ...] -> episode-major [E * T, ...]
    arrays = {k: np.swapaxes(np.asarray(v, np.float32), 0, 1).reshape(
        (episodes * LIMIT,) + np.asarray(v).shape[2:]) for k, v in rows.items()}
    timeouts = np.zeros((episodes, LIMIT), bool)
    timeouts[:, -1] = True
    lo, hi = reference_returns()
    meta = DatasetMeta(env_id=NAME, source="tests/model_based/point_reach.py",
                       action_low=(-1.0,) * 2, action_high=(1.0,) * 2, ref_min_score=lo,
                       ref_max_score=hi)
    data = from_arrays(arrays["observations"], arrays["actions"], arrays["rewards"],
                       np.zeros(episodes * LIMIT, bool), timeouts.reshape(-1),
                       arrays["next_observations"], meta=meta)
    score = 100.0 * (_episode_returns(policy, 2_000, 2).mean() - lo) / (hi - lo)
    return data, float(score)
