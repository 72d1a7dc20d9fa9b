"""Goal relabelling against a NumPy transcription of DQC's ``GCDataset.sample_goals``
(utils/datasets.py:139-172), fed the same random numbers; the geometric offsets' law; the
rewards and masks of successes. Chunked batches against a transcription of ``CGCDataset``
(lines 177-262) run on the authors' compact layout of the same episodes (one more row per
trajectory, terminals on its last two rows), compared by value."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_suite.data.dataset import DatasetMeta, from_arrays
from jaxrl_suite.data.goals import (GoalDraws, chunk_start_counts, draw_goal_chunk_randoms,
                                    draw_goal_randoms, final_rows, goal_rows, nth_chunk_start,
                                    sample_goal_chunks, sample_goals)

LENGTHS = (7, 3, 12, 1, 9)


@pytest.fixture(scope="module")
def dataset():
    n = sum(LENGTHS)
    timeouts = np.zeros(n, bool)
    timeouts[np.cumsum(LENGTHS) - 1] = True
    obs = np.arange(n, dtype=np.float32)[:, None] * np.ones((1, 2), np.float32)
    return from_arrays(obs, np.zeros((n, 1), np.float32), np.zeros(n, np.float32),
                       np.zeros(n, bool), timeouts, obs + 0.5, meta=DatasetMeta(env_id="x"))


def _reference(idxs, terminal_locs, draws, p_cur, p_traj, geom):
    """sample_goals with np.random replaced by the given draws."""
    final = terminal_locs[np.searchsorted(terminal_locs, idxs)]
    if geom:
        traj = np.minimum(idxs + draws["offset"], final)
    else:
        d = draws["distance"]
        traj = np.round(np.minimum(idxs + 1, final) * d + final * (1 - d)).astype(int)
    if p_cur == 1.0:
        return idxs
    goals = np.where(draws["choose_traj"] < p_traj / (1.0 - p_cur), traj, draws["random_rows"])
    return np.where(draws["choose_cur"] < p_cur, idxs, goals)


@pytest.mark.parametrize("p_cur,p_traj,geom", [(0.2, 0.5, False), (0.2, 0.5, True),
                                               (0.0, 1.0, False), (1.0, 0.0, False),
                                               (0.0, 0.0, True)])
def test_goal_rows_match_the_reference(dataset, p_cur, p_traj, geom):
    n = dataset.num_transitions
    rows = jax.random.randint(jax.random.PRNGKey(1), (4000,), 0, n)
    draws = draw_goal_randoms(dataset, jax.random.PRNGKey(2), 4000, 0.9)
    got = jax.jit(goal_rows, static_argnums=5)(rows, final_rows(dataset, rows), draws,
                                               p_cur, p_traj, geom)
    terminal_locs = np.cumsum(LENGTHS) - 1
    expected = _reference(np.asarray(rows), terminal_locs,
                          {k: np.asarray(v) for k, v in vars(draws).items()}, p_cur, p_traj,
                          geom)
    np.testing.assert_array_equal(np.asarray(got), expected)
    # future goals stay in the row's episode, at or after it
    episode = np.asarray(dataset.episode_ids)
    if p_traj == 1.0:
        assert (episode[np.asarray(got)] == episode[np.asarray(rows)]).all()
        assert (np.asarray(got) >= np.asarray(rows)).all()


def test_geometric_offsets_follow_the_law(dataset):
    draws = draw_goal_randoms(dataset, jax.random.PRNGKey(0), 200_000, 0.9)
    offsets = np.asarray(draws.offset)
    assert offsets.min() >= 1
    for k in (1, 2, 5):  # P(K = k) = gamma^(k-1) (1 - gamma)
        assert abs((offsets == k).mean() - 0.9 ** (k - 1) * 0.1) < 0.004
    assert abs(offsets.mean() - 10.0) < 0.15


def test_successes_give_reward_one_and_mask_zero(dataset):
    rows = jnp.arange(dataset.num_transitions)
    obs, rewards, masks = sample_goals(dataset, jax.random.PRNGKey(0), rows, 1.0, 0.0, 0.99)
    np.testing.assert_array_equal(np.asarray(obs), np.asarray(dataset.observations))
    assert (np.asarray(rewards) == 1).all() and (np.asarray(masks) == 0).all()
    obs, rewards, masks = sample_goals(dataset, jax.random.PRNGKey(0), rows, 0.0, 0.0, 0.99)
    same = np.asarray(obs)[:, 0] == np.arange(dataset.num_transitions)
    np.testing.assert_array_equal(np.asarray(rewards), same)
    assert isinstance(draw_goal_randoms(dataset, jax.random.PRNGKey(0), 2, 0.9), GoalDraws)


# -- chunked batches (CGCDataset) ------------------------------------------------------------

def _compact_layout(dataset, goal_dims):
    """The authors' compact layout of ``dataset`` (envs/env_utils.py:106-119): each episode's
    transition rows, then its final state (the last row's next observation) as one more row,
    whose action is NaN (it must never be read); raw terminals on each trajectory's last row,
    compact terminals on its last two, valids = 1 - raw terminals; oracle_reps = goal_dims."""
    obs, acts, raw = [], [], []
    o, a, no = (np.asarray(dataset.observations), np.asarray(dataset.actions),
                np.asarray(dataset.next_observations))
    for s, n in zip(np.asarray(dataset.episode_starts), np.asarray(dataset.episode_lengths)):
        obs += [o[s:s + n], no[s + n - 1][None]]
        acts += [a[s:s + n], np.full((1, a.shape[1]), np.nan, np.float32)]
        raw.append(np.r_[np.zeros(n), 1.0])
    obs, acts, raw = np.concatenate(obs), np.concatenate(acts), np.concatenate(raw)
    terminals = np.minimum(raw + np.r_[raw[1:], 1.0], 1.0)
    reps = obs if goal_dims is None else obs[:, list(goal_dims)]
    return dict(observations=obs, actions=acts, terminals=terminals, valids=1.0 - raw,
                oracle_reps=reps)


def _cgc_reference(data, h, start_pos, draws, p_cur, p_traj, geom, gamma):
    """CGCDataset.__post_init__ and .sample (utils/datasets.py:92-98, 140-171, 185-262) with
    np.random replaced by the given draws (positions into valid_idxs, as get_random_idxs)."""
    (terminal_locs,) = np.nonzero(data["terminals"] > 0)
    assert terminal_locs[-1] == len(data["terminals"]) - 1
    valid_idxs, cur = [], 0
    for t in terminal_locs:
        valid_idxs.append(np.arange(cur, t + 1 - h))
        cur = t + 1
    valid_idxs = np.concatenate(valid_idxs)
    idxs = valid_idxs[start_pos]
    final = terminal_locs[np.searchsorted(terminal_locs, idxs)]
    goal_idxs = _reference(idxs, terminal_locs, dict(draws, random_rows=valid_idxs[
        draws["random_rows"]]), p_cur, p_traj, geom)
    k = np.minimum(np.full(len(idxs), h), final - idxs)
    diff = goal_idxs - idxs
    k = np.where((0 <= diff) & (diff < k), diff, k)
    offsets = np.arange(h)
    chunk_idxs = np.minimum(idxs[:, None] + offsets, final[:, None])
    success = (k < h).astype(float)
    return dict(observations=data["observations"][idxs], goals=data["oracle_reps"][goal_idxs],
                action_chunks=data["actions"][chunk_idxs],
                next_observations=data["observations"][idxs + k], backup_horizon=k,
                rewards=gamma ** k * success, masks=1.0 - success,
                valids=(idxs[:, None] + offsets <= final[:, None]).astype(float))


@pytest.fixture(scope="module")
def chunk_dataset():
    n = sum(LENGTHS)
    timeouts = np.zeros(n, bool)
    timeouts[np.cumsum(LENGTHS) - 1] = True
    episode = np.cumsum(timeouts) - timeouts
    rows = np.arange(n, dtype=np.float32)
    obs = np.stack([rows, 100.0 * episode, -rows], 1).astype(np.float32)
    actions = np.stack([rows, 0.5 * rows], 1).astype(np.float32)
    return from_arrays(obs, actions, np.zeros(n, np.float32), np.zeros(n, bool), timeouts,
                       obs + 0.25, meta=DatasetMeta(env_id="x"))


@pytest.mark.parametrize("h", [1, 3, 5])
def test_chunk_starts_are_cgc_valid_starts(chunk_dataset, h):
    counts = np.maximum(np.asarray(LENGTHS) - h, 0)
    total = int(counts.sum())
    got = np.asarray(nth_chunk_start(chunk_dataset, jnp.arange(total), h))
    starts = np.cumsum(LENGTHS) - LENGTHS
    expected = np.concatenate([np.arange(s, s + c) for s, c in zip(starts, counts)])
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(np.asarray(chunk_start_counts(chunk_dataset, h)), counts)


@pytest.mark.parametrize("h,p_cur,p_traj,geom,goal_dims", [
    (3, 0.2, 0.5, False, None), (5, 0.2, 0.5, True, (0, 2)), (1, 0.0, 1.0, False, None),
    (3, 0.0, 0.0, False, (1,)), (5, 0.0, 1.0, False, None)])
def test_goal_chunks_match_the_cgc_reference(chunk_dataset, h, p_cur, p_traj, geom, goal_dims):
    gamma, b = 0.9, 3000
    draws = draw_goal_chunk_randoms(chunk_dataset, jax.random.PRNGKey(h), b, h, gamma)
    sample = jax.jit(sample_goal_chunks, static_argnums=(2, 3, 7, 8))
    got = sample(chunk_dataset, jax.random.PRNGKey(h), b, h, p_cur, p_traj, gamma, goal_dims,
                 geom)
    expected = _cgc_reference(_compact_layout(chunk_dataset, goal_dims), h,
                              np.asarray(draws.starts),
                              {k: np.asarray(v) for k, v in vars(draws.goals).items()},
                              p_cur, p_traj, geom, gamma)
    for name, value in expected.items():
        np.testing.assert_allclose(np.asarray(getattr(got, name)), value, rtol=1e-6,
                                   err_msg=name)
    # the goals reached inside the chunk cut the backup there: all of them occur
    k = np.asarray(got.backup_horizon)
    if p_traj == 1.0 and h > 1:
        assert set(np.unique(k)) == set(range(1, h + 1))


def test_goal_chunks_need_an_episode_longer_than_the_horizon(chunk_dataset):
    with pytest.raises(ValueError, match="more than 12 transitions"):
        sample_goal_chunks(chunk_dataset, jax.random.PRNGKey(0), 4, 12, 0.2, 0.5, 0.99)
    with pytest.raises(ValueError, match="goal_dims"):
        sample_goal_chunks(chunk_dataset, jax.random.PRNGKey(0), 4, 3, 0.2, 0.5, 0.99, (3,))
