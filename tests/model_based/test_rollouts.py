"""The model buffer's retention against a NumPy first-in-first-out buffer of the references'
size (OfflineRL-Kit ``offlinerlkit/buffer/buffer.py``: capacity rollout_batch_size x
rollout_length x model_retain_epochs), and the same updates' worth kept at every horizon."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_suite.errors import SuiteError
from jaxrl_suite.model_based import rollouts
from jaxrl_suite.model_based.mopo import MOPOConfig, make_mopo


def _rollout(ids, valid):
    """Returns a Rollout [H, N] whose rewards are the transition ids (obs_dim 2, act_dim 1)."""
    ids = jnp.asarray(ids, jnp.float32)
    h, n = ids.shape
    obs = jnp.broadcast_to(ids[..., None], (h, n, 2))
    return rollouts.Rollout(obs, ids[..., None], ids, obs, jnp.zeros((h, n)), jnp.asarray(valid),
                            jnp.zeros((h, n)), ids, jnp.zeros((h, n), jnp.int32))


class NumpyFifo:
    """The references' model buffer: a ring of ``capacity`` rows, add in order, sample
    uniformly from what it holds (OfflineRL-Kit ``ReplayBuffer.add_batch`` / ``sample``)."""

    def __init__(self, capacity):
        self.rows, self.ptr, self.size, self.capacity = np.zeros(capacity), 0, 0, capacity

    def add_batch(self, ids):
        for i in ids:
            self.rows[self.ptr] = i
            self.ptr, self.size = (self.ptr + 1) % self.capacity, min(self.size + 1, self.capacity)

    def held(self):
        return set(self.rows[:self.size].tolist())


@jax.jit
def _add_and_sample(buffer, steps, key, window):
    buffer = rollouts.add(buffer, steps)
    return buffer, rollouts.sample(buffer, key, 4_000, window)[2]


def test_sample_draws_uniformly_from_the_window_a_numpy_fifo_of_that_size_holds():
    rng = np.random.default_rng(0)
    window, capacity = 17, 40  # the static buffer is bigger than the traced window
    buffer, ref = rollouts.empty_buffer(capacity, 2, 1), NumpyFifo(window)
    next_id = 0
    for i in range(12):
        ids = next_id + np.arange(20).reshape(4, 5)
        next_id += 20
        valid = rng.random((4, 5)) < 0.6
        buffer, drawn = _add_and_sample(buffer, _rollout(ids, valid),
                                        jax.random.PRNGKey(i), jnp.int32(window))
        # Ring order of the rollout steps: step-major, as add writes them.
        ref.add_batch(ids.reshape(-1)[valid.reshape(-1)])
        drawn = np.asarray(drawn)
        assert set(drawn.tolist()) == ref.held(), i
        counts = np.unique(drawn, return_counts=True)[1]
        assert counts.max() / counts.min() < 2.0  # uniform: ~235 draws each, 4,000 in all


@pytest.mark.parametrize("horizon", [1, 2, 3, 5])
def test_every_horizon_keeps_the_last_retain_updates_worth(horizon):
    # 3 updates' worth at 4 starts per update and max horizon 5: the buffer holds 60, and at
    # horizon h the last 3 x 4 x h transitions, i.e. the last 3 updates' rollouts, whatever h.
    config = MOPOConfig(max_horizon=5, rollout_starts=4, retain_updates=3)
    assert config.capacity == 60
    window = rollouts.retention_window(config.capacity, config.max_horizon, jnp.float32(horizon))
    assert int(window) == 3 * 4 * horizon
    buffer = rollouts.empty_buffer(config.capacity, 2, 1)
    for update in range(10):
        ids = np.full((config.max_horizon, config.rollout_starts), update)
        valid = np.arange(config.max_horizon)[:, None] < horizon  # t < horizon, no termination
        buffer, drawn = _add_and_sample(buffer, _rollout(ids, valid.repeat(4, 1)),
                                        jax.random.PRNGKey(update), window)
        assert set(np.asarray(drawn).tolist()) == set(range(max(0, update - 2), update + 1))


def test_default_retention_is_the_references_buffer():
    # MOPO and MOBILE: 50,000 starts x h x 5 epochs of 1,000 updates; here 50 starts per
    # update x 5,000 updates x h.
    config = MOPOConfig()
    assert config.capacity == 50_000 * 5 * config.max_horizon
    for h in range(0, config.max_horizon + 1):
        window = rollouts.retention_window(config.capacity, config.max_horizon, jnp.float32(h))
        assert int(window) == 50_000 * h * 5
    # A fractional horizon keeps ceil(h) steps, as the rollout's t < h mask does.
    assert int(rollouts.retention_window(60, 5, jnp.float32(2.5))) == 36
    # An explicit buffer_size fixes the capacity, and so the updates' worth at every horizon.
    assert MOPOConfig(buffer_size=1_000).capacity == 1_000


def test_a_buffer_smaller_than_one_updates_rollouts_is_refused():
    with pytest.raises(SuiteError, match="buffer_size"):
        make_mopo(None, "Pendulum-v1", MOPOConfig(rollout_starts=8, max_horizon=5,
                                                  buffer_size=20))
    with pytest.raises(SuiteError, match="retain_updates"):
        make_mopo(None, "Pendulum-v1", MOPOConfig(retain_updates=0))
