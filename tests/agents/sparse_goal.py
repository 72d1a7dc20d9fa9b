"""A small sparse-reward task for the chunked learners' learns-tests: a 2-D point that must
reach a goal disc, rewarded 1 only there (the episode then ends), and offline data of
persistent random walks that rarely pass through the disc. BC copies the walks and seldom
succeeds; a learner succeeds only if its critic propagates the rare reward back to the start,
over ~30 steps: the long-horizon, sparse setting action chunking is for.

    position p in [-1, 1]^2, starting near 0 (uniform within 0.05)
    action a in [-1, 1]^2,     p' = clip(p + STEP a, -1, 1)
    success and termination when ||p' - GOAL|| < RADIUS; time limit LIMIT
    data: each episode's actions an AR(1) walk a_t = PERSIST a_{t-1} + noise, clipped; a
          success ends the episode (terminal), the time limit cuts it (timeout); rewards as
          OGBench's single-task data have them (``relabel_utils.relabel_dataset``): success - 1,
          i.e. -1 per step and 0 on the step that reaches the goal
Scores: the env's reward is the success (0 or 1), so an episode's return is its success, as
OGBench's evaluation scores it; the reference returns 0 and 1 make the normalised score the
success rate in percent.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl_suite.data.dataset import DatasetMeta, from_arrays
from jaxrl_suite.envs.base import EnvSpec, JaxEnv

GOAL = np.array([0.5, 0.5], np.float32)
RADIUS, STEP, LIMIT, PERSIST = 0.15, 0.1, 25, 0.8
NAME = "PointGoal-test"


def point_mass_env(name: str, start_half_width: float, outcome, limit: int, ref_min: float,
                   ref_max: float) -> JaxEnv:
    """Returns a 2-D point in [-1, 1]^2 as a JaxEnv: starts uniform in [-w, w]^2,
    p' = clip(p + STEP clip(a, -1, 1), -1, 1), ``outcome(p, p') -> (reward, terminated)``,
    truncated at ``limit`` steps (also ``point_reach.py``'s task)."""
    spec = EnvSpec(name=name, backend="gymnax", observation_shape=(2,), discrete=False,
                   action_dim=2, action_low=(-1.0, -1.0), action_high=(1.0, 1.0),
                   max_episode_steps=limit, ref_min_score=ref_min, ref_max_score=ref_max)

    def reset(key):
        p = jax.random.uniform(key, (2,), minval=-start_half_width, maxval=start_half_width)
        return p, (p, jnp.int32(0))

    def step(state, action, key):
        del key
        p, t = state
        nxt = jnp.clip(p + STEP * jnp.clip(action, -1.0, 1.0), -1.0, 1.0)
        reward, terminated = outcome(p, nxt)
        return nxt, (nxt, t + 1), reward, terminated, t + 1 >= limit

    return JaxEnv(spec, reset, step)


def point_goal_env() -> JaxEnv:
    """Returns the task as a JaxEnv (in-jit evaluation)."""

    def outcome(p, nxt):
        success = jnp.linalg.norm(nxt - GOAL) < RADIUS
        return success.astype(jnp.float32), success

    return point_mass_env(NAME, 0.05, outcome, LIMIT, 0.0, 1.0)


def random_walk_dataset(num_episodes: int, seed: int = 0):
    """Returns (Dataset of ``num_episodes`` persistent random walks, their success rate)."""
    rng = np.random.default_rng(seed)
    rows = {k: [] for k in ("observations", "actions", "rewards", "terminals", "timeouts",
                            "next_observations")}
    successes = 0
    for _ in range(num_episodes):
        p = rng.uniform(-0.05, 0.05, 2).astype(np.float32)
        a = rng.uniform(-1, 1, 2)
        for t in range(LIMIT):
            a = np.clip(PERSIST * a + rng.normal(0.0, 0.5, 2), -1, 1)
            nxt = np.clip(p + STEP * a, -1, 1).astype(np.float32)
            success = bool(np.linalg.norm(nxt - GOAL) < RADIUS)
            for k, v in (("observations", p), ("actions", a.astype(np.float32)),
                         ("rewards", float(success) - 1.0), ("terminals", success),
                         ("timeouts", not success and t == LIMIT - 1),
                         ("next_observations", nxt)):
                rows[k].append(v)
            p = nxt
            if success:
                successes += 1
                break
    meta = DatasetMeta(env_id=NAME, source="tests/agents/sparse_goal.py", action_low=(-1.0,) * 2,
                       action_high=(1.0,) * 2, ref_min_score=0.0, ref_max_score=1.0)
    arrays = {k: np.asarray(v) for k, v in rows.items()}
    return from_arrays(arrays["observations"], arrays["actions"],
                       arrays["rewards"].astype(np.float32), arrays["terminals"],
                       arrays["timeouts"], arrays["next_observations"],
                       meta=meta), successes / num_episodes


def reached(obs, action, next_obs):
    """The task's termination rule done(obs, action, next_obs) -> [...] bool (model rollouts)."""
    del obs, action
    return jnp.linalg.norm(next_obs - jnp.asarray(GOAL), axis=-1) < RADIUS
