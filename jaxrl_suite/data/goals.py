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

``sample_goal_chunks`` draws DQC's chunked batches (``CGCDataset``, lines 177-262): starts whose
chunk of h actions stays in its episode, goals relabelled as above, and the backup cut at a
goal reached inside the chunk (the block comment above ``GoalChunkBatch``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
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


# -- Chunked goal-conditioned batches (DQC's ``CGCDataset``, utils/datasets.py:177-262) --------
#
# Row mapping. The authors load OGBench in its *compact* layout (main.py:82, compact_dataset=
# True; envs/env_utils.py:106-119): a trajectory's L stored observations s_0..s_{L-1} are L rows,
# and ``terminals`` is 1 on BOTH of its last two rows (s_{L-2}, s_{L-1}). ``GCDataset``'s
# ``terminal_locs`` (datasets.py:96) therefore holds both, and the "final state" of every start
# (``terminal_locs[searchsorted(...)]``, line 219) is s_{L-2}; s_{L-1} only ends a one-row
# pseudo-trajectory that no start or goal ever reaches (its valid range, line 192, is empty,
# and random goals come from the same valid range, see below). This suite's loader keeps the
# L - 1 transitions (s_t, a_t, s_{t+1}) of that trajectory (data/ogbench.py), so the authors'
# row i of the trajectory IS this suite's row i of the episode, their final state s_{L-2} is
# the observation of the episode's last transition (``final_rows``), and every observation
# they read (``observations[idx + k]``, k <= final - idx) is this suite's observations[t + k]:
# next_observations (s_{L-1}) are never needed.
#
# Valid starts (lines 185-194): t in [start, final - h], so an episode of n transitions has
# max(n - h, 0) of them; the chunk a_t..a_{t+h-1} then never reaches the final transition's
# action (all ``valids`` are 1; kept for fidelity, line 249). CGCDataset overwrites the base
# Dataset's ``valid_idxs`` with these starts (line 194), which ``get_random_idxs`` draws from
# (lines 47-50): so random GOALS too are uniform over the valid starts, not over all rows.
# For start t, goal row g (``goal_rows``), final row f and h = the backup horizon:
#   k          = min(h, f - t), then g - t if 0 <= g - t < k   (the goal reached inside the
#                chunk cuts the backup there; lines 196-211)
#   success    = k < h;  rewards = gamma^k success;  masks = 1 - success   (lines 252-255)
#   next obs   = observations[t + k];  goal = observations[g] (or its oracle representation)
#   chunk      = actions[min(t + i, f)], i < h;  valids[i] = t + i <= f     (lines 247-250)


@struct.dataclass
class GoalChunkBatch:
    """B goal-relabelled chunks (DQC's ``high_value_*`` fields, datasets.py:237-255).

    observations [B, o] (at t), goals [B, g] (goal representations), action_chunks [B, h, A],
    next_observations [B, o] (at t + k), backup_horizon [B] int32 (k), rewards [B]
    (gamma^k success), masks [B] (1 - success), valids [B, h], rows / goal_rows [B] int32.
    """

    observations: jax.Array
    goals: jax.Array
    action_chunks: jax.Array
    next_observations: jax.Array
    backup_horizon: jax.Array
    rewards: jax.Array
    masks: jax.Array
    valids: jax.Array
    rows: jax.Array
    goal_rows: jax.Array


@struct.dataclass
class GoalChunkDraws:
    """The random numbers of one chunked relabelling: ``starts`` [B] int, positions in the
    list of valid starts (``np.random.randint(len(valid_idxs))``); ``goals`` (``GoalDraws``)
    whose ``random_rows`` are positions in the same list (the random goals)."""

    starts: jax.Array
    goals: GoalDraws


def chunk_start_counts(dataset: Dataset, horizon: int) -> jax.Array:
    """Returns the number of valid chunk starts of each episode [E]: max(n - horizon, 0)."""
    return jnp.maximum(dataset.episode_lengths - horizon, 0)


def nth_chunk_start(dataset: Dataset, positions: jax.Array, horizon: int) -> jax.Array:
    """Returns the rows [B] of the valid starts at ``positions`` [B] (in [0, total)) of the
    episode-ordered list of valid starts (CGCDataset's ``valid_idxs``)."""
    counts = chunk_start_counts(dataset, horizon)
    ends = jnp.cumsum(counts)  # [E]: one past each episode's last position
    episode = jnp.searchsorted(ends, positions, side="right")
    return (dataset.episode_starts[episode] + positions - (ends[episode] - counts[episode])
            ).astype(jnp.int32)


def draw_goal_chunk_randoms(dataset: Dataset, key: jax.Array, batch_size: int, horizon: int,
                            discount: jax.Array) -> GoalChunkDraws:
    """Returns the draws of one chunked relabelling of ``batch_size`` starts."""
    start_key, random_key, goal_key = jax.random.split(key, 3)
    total = jnp.sum(chunk_start_counts(dataset, horizon))
    goals = draw_goal_randoms(dataset, goal_key, batch_size, discount)
    return GoalChunkDraws(
        starts=jax.random.randint(start_key, (batch_size,), 0, total),
        goals=goals.replace(random_rows=jax.random.randint(random_key, (batch_size,), 0, total)))


def gather_goal_chunks(dataset: Dataset, rows: jax.Array, goals: jax.Array, horizon: int,
                       discount: jax.Array, goal_dims: tuple[int, ...] | None = None
                       ) -> GoalChunkBatch:
    """Returns the chunked batch of starts ``rows`` [B] (valid starts) and goal rows ``goals``
    [B] (the block comment above); ``goal_dims`` (static) picks the goal representation's
    observation entries, None the whole observation."""
    final = final_rows(dataset, rows)
    k = jnp.minimum(horizon, final - rows)
    to_goal = goals - rows
    k = jnp.where((to_goal >= 0) & (to_goal < k), to_goal, k)
    success = (k < horizon).astype(jnp.float32)
    steps = rows[:, None] + jnp.arange(horizon)[None, :]  # [B, h]
    goal_obs = dataset.observations[goals]
    if goal_dims is not None:
        goal_obs = goal_obs[:, jnp.asarray(goal_dims)]
    return GoalChunkBatch(
        observations=dataset.observations[rows], goals=goal_obs,
        action_chunks=dataset.actions[jnp.minimum(steps, final[:, None])],
        next_observations=dataset.observations[rows + k], backup_horizon=k.astype(jnp.int32),
        rewards=discount ** k.astype(jnp.float32) * success, masks=1.0 - success,
        valids=(steps <= final[:, None]).astype(jnp.float32), rows=rows.astype(jnp.int32),
        goal_rows=goals.astype(jnp.int32))


def check_goal_chunks(dataset: Dataset, horizon: int,
                      goal_dims: tuple[int, ...] | None = None) -> None:
    """Raises ValueError, host-side, when ``dataset`` has no episode longer than ``horizon``
    transitions or ``goal_dims`` are not observation entries (inside jit nothing can raise)."""
    if horizon < 1:
        raise ValueError(f"backup horizon: expected >= 1, found {horizon}")
    lengths = dataset.episode_lengths
    longest = None if isinstance(lengths, jax.core.Tracer) else int(np.max(np.asarray(lengths)))
    if longest is not None and longest <= horizon:
        raise ValueError(f"goal-relabelled chunks of {horizon} steps: expected an episode of "
                         f"more than {horizon} transitions, found at most {longest}")
    size = dataset.observations.shape[-1]
    if goal_dims is not None and (not goal_dims or min(goal_dims) < 0 or max(goal_dims) >= size):
        raise ValueError(f"goal_dims: expected indices in [0, {size}), found {goal_dims}")


def sample_goal_chunks(dataset: Dataset, key: jax.Array, batch_size: int, horizon: int,
                       p_cur: jax.Array, p_traj: jax.Array, discount: jax.Array,
                       goal_dims: tuple[int, ...] | None = None, geometric: bool = False
                       ) -> GoalChunkBatch:
    """Returns ``batch_size`` goal-relabelled chunks of ``horizon`` steps, as DQC's
    ``CGCDataset.sample`` (datasets.py:213-262): starts uniform over the valid starts, goals
    by ``goal_rows`` (p_random = 1 - p_cur - p_traj, random goals uniform over the valid
    starts). ``horizon``, ``goal_dims`` and ``geometric`` are static."""
    check_goal_chunks(dataset, horizon, goal_dims)
    draws = draw_goal_chunk_randoms(dataset, key, batch_size, horizon, discount)
    rows = nth_chunk_start(dataset, draws.starts, horizon)
    goal_draws = draws.goals.replace(
        random_rows=nth_chunk_start(dataset, draws.goals.random_rows, horizon))
    goals = goal_rows(rows, final_rows(dataset, rows), goal_draws, p_cur, p_traj, geometric)
    return gather_goal_chunks(dataset, rows, goals, horizon, discount, goal_dims)
