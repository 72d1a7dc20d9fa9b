"""The point-reach task's JAX env (evaluation) and its NumPy data generator agree: the same
(p, a) give the same next position and reward in both (test_model_helps.py trains on the one
and is scored by the other)."""

import jax
import jax.numpy as jnp
import numpy as np

from tests.model_based import point_reach


def test_env_steps_equal_the_generated_transitions():
    env = point_reach.point_reach_env()
    data, _ = point_reach.behaviour_dataset(4, speed=0.3, angle_deg=0.0, noise=0.1)
    obs, act = jnp.asarray(data.observations), jnp.asarray(data.actions)
    step = jax.vmap(lambda p, a: env.step((p, jnp.int32(0)), a, None))
    nxt, _, reward, terminated, _ = step(obs, act)
    np.testing.assert_allclose(nxt, data.next_observations, atol=1e-6)
    np.testing.assert_allclose(reward, data.rewards, atol=1e-6)
    assert not np.asarray(terminated).any()
    lo, hi = point_reach.reference_returns()
    assert lo < hi < 0 and env.spec.ref_min_score == lo
