"""Shared checks on transition streams."""

import numpy as np


def check_stream(transitions, stats, max_steps):
    """Checks one env's stream [T]: chaining, flags, and episode returns/lengths."""
    done = transitions.terminated | transitions.truncated
    assert not np.any(transitions.terminated & transitions.truncated)
    np.testing.assert_array_equal(done, stats.done)
    # Within an episode, next_obs is the next step's obs; after an end the env was reset.
    inside = ~done[:-1]
    # Equal up to last-bit rounding (XLA may compute the value in two fusions; see rollout.py).
    np.testing.assert_allclose(
        transitions.next_obs[:-1][inside], transitions.obs[1:][inside], rtol=1e-6, atol=1e-6
    )
    ends = np.nonzero(done[:-1])[0]
    jump = np.abs(transitions.next_obs[ends] - transitions.obs[ends + 1]).max(axis=-1)
    assert np.all(jump > 1e-4)
    # Returns and lengths reported at each end match the rewards since the previous end.
    start = 0
    for end in np.nonzero(done)[0]:
        assert stats.episode_length[end] == end - start + 1
        np.testing.assert_allclose(
            stats.episode_return[end], transitions.reward[start : end + 1].sum(), rtol=1e-5
        )
        assert stats.episode_length[end] <= max_steps
        if transitions.truncated[end]:
            assert stats.episode_length[end] == max_steps
        start = end + 1
    assert np.all(stats.episode_return[~done] == 0) and np.all(stats.episode_length[~done] == 0)
