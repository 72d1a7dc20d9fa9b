"""Goal relabelling against a NumPy transcription of DQC's ``GCDataset.sample_goals``
(utils/datasets.py:139-172), fed the same random numbers; the geometric offsets' law; the
rewards and masks of successes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_suite.data.dataset import DatasetMeta, from_arrays
from jaxrl_suite.data.goals import (GoalDraws, draw_goal_randoms, final_rows, goal_rows,
                                    sample_goals)

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
