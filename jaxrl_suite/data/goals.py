"""Goal relabelling for goal-conditioned offline RL, inside jit (OGBench's and Decoupled
Q-chunking's ``GCDataset.sample_goals``: ColinQiyangLi/dqc ``utils/datasets.py`` lines 139-172,
the same as seohongpark/ogbench ``impls/utils/datasets.py``).

For each sampled row t (in episode e, whose last transition row is f):
  with probability p_cur     the goal is t itself (a success: reward 1, mask 0);
  else, with p_traj / (1 - p_cur), a later row of the same episode:
        uniform:   round(min(t + 1, f) d + f (1 - d)), d ~ U[0, 1)
        geometric: min(t + k, f), k ~ Geometric(1 - gamma) on {1, 2, ...};
  else a uniformly random row of the dataset.
The goal is that row's observation; reward = 1(goal row == t), mask = 1 - reward (lines
123-136). DQC's defaults: p_cur 0.2, p_traj 0.5, p_random 0.3, uniform (not geometric)
future goals (``agents/dqc.py`` lines 362-365).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from jaxrl_suite.data.dataset import Dataset


@struct.dataclass
class GoalDraws:
    """The random numbers one relabelling uses, [B] each (drawn by ``draw_goal_randoms``)."""

    random_rows: jax.Array  # int: a uniform row of the dataset
    distance: jax.Array  # U[0, 1): where between t + 1 and f a uniform future goal lies
    offset: jax.Array  # int >= 1: a geometric future offset
    choose_traj: jax.Array  # U[0, 1): future vs random goal
    choose_cur: jax.Array  # U[0, 1): the current row as the goal


def final_rows(dataset: Dataset, rows: jax.Array) -> jax.Array:
    """Returns the row of the last transition of each row's episode [B]."""
    episode = dataset.episode_ids[rows]
    return dataset.episode_starts[episode] + dataset.episode_lengths[episode] - 1


def draw_goal_randoms(dataset: Dataset, key: jax.Array, batch_size: int,
                      discount: jax.Array) -> GoalDraws:
    """Returns the draws of one relabelling of ``batch_size`` rows."""
    k_rows, k_dist, k_geom, k_traj, k_cur = jax.random.split(key, 5)
    # Geometric(p) on {1, 2, ...} by inversion: 1 + floor(log U / log(1 - p)), 1 - p = gamma.
    u = jax.random.uniform(k_geom, (batch_size,), minval=jnp.finfo(jnp.float32).tiny)
    offset = 1 + jnp.floor(jnp.log(u) / jnp.log(discount)).astype(jnp.int32)
    return GoalDraws(
        random_rows=jax.random.randint(k_rows, (batch_size,), 0, dataset.num_transitions),
        distance=jax.random.uniform(k_dist, (batch_size,)), offset=jnp.maximum(offset, 1),
        choose_traj=jax.random.uniform(k_traj, (batch_size,)),
        choose_cur=jax.random.uniform(k_cur, (batch_size,)))


def goal_rows(rows: jax.Array, final: jax.Array, draws: GoalDraws, p_cur: jax.Array,
              p_traj: jax.Array, geometric: bool) -> jax.Array:
    """Returns the goal row of each row [B] (see the module docstring); ``geometric`` static."""
    if geometric:
        traj = jnp.minimum(rows + draws.offset, final)
    else:
        d = draws.distance
        traj = jnp.round(jnp.minimum(rows + 1, final) * d + final * (1.0 - d)).astype(rows.dtype)
    future_share = p_traj / jnp.maximum(1.0 - p_cur, 1e-12)
    goals = jnp.where(draws.choose_traj < future_share, traj, draws.random_rows)
    return jnp.where(draws.choose_cur < p_cur, rows, goals)


def sample_goals(dataset: Dataset, key: jax.Array, rows: jax.Array, p_cur: jax.Array,
                 p_traj: jax.Array, discount: jax.Array, geometric: bool = False
                 ) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Returns (goal observations [B, *obs], rewards [B], masks [B]) for ``rows`` [B]."""
    draws = draw_goal_randoms(dataset, key, rows.shape[0], discount)
    goals = goal_rows(rows, final_rows(dataset, rows), draws, p_cur, p_traj, geometric)
    success = (goals == rows).astype(jnp.float32)
    return dataset.observations[goals], success, 1.0 - success
