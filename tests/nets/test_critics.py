"""``first_critic``: Q1 of a TwinCritic from its first member's parameters alone equals the
first row of the whole ensemble's call (TD3+BC's actor reads it), and its compiled call does
half the matrix products of the ensemble's (so it cannot silently be the full call)."""

import jax
import numpy as np

from jaxrl_suite.nets.networks import TwinCritic, first_critic


def test_first_critic_is_q1_of_the_twin_critic_at_half_the_flops():
    critic = TwinCritic((32, 32))
    obs = jax.random.normal(jax.random.PRNGKey(0), (9, 5))
    action = jax.random.normal(jax.random.PRNGKey(1), (9, 2))
    params = critic.init(jax.random.PRNGKey(2), obs, action)
    np.testing.assert_allclose(first_critic(critic, params, obs, action),
                               critic.apply(params, obs, action)[0], rtol=1e-6)

    def flops(fn):
        cost = jax.jit(fn).lower(params, obs, action).compile().cost_analysis()
        return float((cost[0] if isinstance(cost, (list, tuple)) else cost)["flops"])

    both = flops(lambda p, o, a: critic.apply(p, o, a)[0])
    one = flops(lambda p, o, a: first_critic(critic, p, o, a))
    assert one < 0.6 * both, (one, both)
