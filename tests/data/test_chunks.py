"""Action-chunk minibatches against a slow NumPy transcription of QC's
``Dataset.sample_sequence`` (ColinQiyangLi/qc utils/datasets.py:92-154) on a dataset with
episode ends by timeout and by termination inside the chunks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_suite.data.chunks import discounted_sums, gather_chunks, sample_chunks
from jaxrl_suite.data.dataset import DatasetMeta, from_arrays

H, GAMMA = 4, 0.9


@pytest.fixture(scope="module")
def dataset():
    rng = np.random.default_rng(0)
    lengths, ends_by_termination = (3, 5, 2, 6, 4), (False, True, False, True, False)
    n = sum(lengths)
    terminals, timeouts = np.zeros(n, bool), np.zeros(n, bool)
    for end, terminated in zip(np.cumsum(lengths) - 1, ends_by_termination):
        (terminals if terminated else timeouts)[end] = True
    obs = rng.normal(size=(n, 3)).astype(np.float32)
    return from_arrays(obs, rng.uniform(-1, 1, (n, 2)).astype(np.float32),
                       rng.normal(size=n).astype(np.float32), terminals, timeouts,
                       obs + 1.0, meta=DatasetMeta(env_id="x"))


def _reference(d, idxs):
    """QC's sample_sequence for the given starts: its 'terminals' are episode ends, its
    'masks' 1 - env termination."""
    qc_terminals = (np.asarray(d.terminals) | np.asarray(d.timeouts)).astype(float)
    qc_masks = 1.0 - np.asarray(d.terminals).astype(float)
    r = np.asarray(d.rewards, float)
    b = len(idxs)
    rewards, masks = np.zeros((b, H)), np.ones((b, H))
    terminals, valid = np.zeros((b, H)), np.ones((b, H))
    rewards[:, 0], masks[:, 0], terminals[:, 0] = r[idxs], qc_masks[idxs], qc_terminals[idxs]
    for i in range(1, H):
        rewards[:, i] = rewards[:, i - 1] + r[idxs + i] * GAMMA ** i
        masks[:, i] = np.minimum(masks[:, i - 1], qc_masks[idxs + i])
        terminals[:, i] = np.maximum(terminals[:, i - 1], qc_terminals[idxs + i])
        valid[:, i] = 1.0 - terminals[:, i - 1]
    rows = idxs[:, None] + np.arange(H)
    return dict(rewards=rewards, masks=masks, ends=terminals, valid=valid,
                actions=np.asarray(d.actions)[rows],
                next_observations=np.asarray(d.next_observations)[rows],
                observations=np.asarray(d.observations)[idxs])


def test_every_start_matches_the_reference(dataset):
    idxs = np.arange(dataset.num_transitions - H + 1)
    got = jax.jit(gather_chunks, static_argnums=2)(dataset, jnp.asarray(idxs), H)
    got = got.replace(rewards=discounted_sums(got.rewards, GAMMA))  # QC's rewards
    for name, value in _reference(dataset, idxs).items():
        np.testing.assert_allclose(np.asarray(getattr(got, name)), value, rtol=1e-5,
                                   atol=1e-6, err_msg=name)
    # a chunk starting 1 row before an episode's end: valid only for its first two rows
    start = 1  # episode 0 is rows 0-2
    np.testing.assert_array_equal(np.asarray(got.valid)[start], [1, 1, 0, 0])
    # a chunk reaching a termination (episode 1 ends at row 7 by termination)
    np.testing.assert_array_equal(np.asarray(got.masks)[5], [1, 1, 0, 0])


def test_sampled_starts_stay_inside_the_data(dataset):
    batch = sample_chunks(dataset, jax.random.PRNGKey(0), 512, H)
    idx = np.asarray(batch.indices)
    assert idx.min() >= 0 and idx.max() <= dataset.num_transitions - H
    assert len(np.unique(idx)) == dataset.num_transitions - H + 1  # every start is drawn
    assert batch.actions.shape == (512, H, 2) and batch.next_observations.shape == (512, H, 3)
    with pytest.raises(ValueError, match="chunk horizon"):
        sample_chunks(dataset, jax.random.PRNGKey(0), 4, dataset.num_transitions + 1)
