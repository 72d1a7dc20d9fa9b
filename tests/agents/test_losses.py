"""The continuous learners' distinctive losses against slow NumPy transcriptions of their
authors' code, on random inputs: TD3+BC's lambda-normalised actor loss, ReBRAC's actor loss and
penalised TD target, the advantage-weighted regression loss (IQL's and AWAC's weights), and
SAC's temperature loss (CQL, SAC-N/EDAC, MOPO, MOBILE). CQL's log-sum-exp gap, EDAC's diversity
term, IQL's expectile and XQL/f-DVL's value losses have theirs beside their learns-tests."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_suite.agents.base import temperature_loss
from jaxrl_suite.agents.iql import awr_actor_loss
from jaxrl_suite.agents.rebrac import rebrac_actor_loss, rebrac_critic_target
from jaxrl_suite.agents.td3bc import td3bc_actor_loss

B, A = 9, 3


def _f32(*xs):
    return tuple(jnp.asarray(x, jnp.float32) for x in xs)


def _inputs(seed):
    rng = np.random.default_rng(seed)
    q = 5.0 * rng.normal(size=B) - 3.0
    pi, data = rng.uniform(-1, 1, size=(B, A)), rng.uniform(-1, 1, size=(B, A))
    return rng, q, pi, data


def test_td3bc_actor_loss_matches_numpy_and_holds_lambda_constant():
    _, q, pi, data = _inputs(0)
    alpha = 2.5
    lam = alpha / (sum(abs(x) for x in q) / B)
    mse = sum((pi[b, a] - data[b, a]) ** 2 for b in range(B) for a in range(A)) / (B * A)
    expected = -lam * sum(q) / B + mse
    np.testing.assert_allclose(td3bc_actor_loss(*_f32(q, pi, data), alpha), expected, rtol=1e-5)
    # lambda is a constant (the authors' .detach()): dL/dQ_b = -lambda / B for every b.
    grad_q, grad_pi = jax.grad(td3bc_actor_loss, argnums=(0, 1))(*_f32(q, pi, data), alpha)
    np.testing.assert_allclose(grad_q, np.full(B, -lam / B), rtol=1e-5)
    np.testing.assert_allclose(grad_pi, 2.0 * (pi - data) / (B * A), rtol=1e-4, atol=1e-7)


def test_rebrac_actor_loss_matches_numpy():
    _, q, pi, data = _inputs(1)
    for beta in (0.0, 0.01, 1.0):
        lam = 1.0 / (sum(abs(x) for x in q) / B)
        expected = sum(beta * sum((pi[b, a] - data[b, a]) ** 2 for a in range(A)) - lam * q[b]
                       for b in range(B)) / B
        np.testing.assert_allclose(rebrac_actor_loss(*_f32(q, pi, data), beta), expected,
                                   rtol=1e-5, atol=1e-6)
    grad_q = jax.grad(rebrac_actor_loss)(*_f32(q, pi, data), 1.0)
    np.testing.assert_allclose(grad_q, np.full(B, -lam / B), rtol=1e-5)


def test_rebrac_critic_target_matches_numpy():
    rng, next_q, next_pi, next_data = _inputs(2)
    rewards, terminals = rng.normal(size=B), (rng.random(B) < 0.3).astype(float)
    gamma, beta = 0.99, 0.5
    target, penalty = rebrac_critic_target(*_f32(rewards, terminals, next_q, next_pi, next_data),
                                           gamma, beta)
    for b in range(B):
        bc = sum((next_pi[b, a] - next_data[b, a]) ** 2 for a in range(A))
        want = rewards[b] + gamma * (1 - terminals[b]) * (next_q[b] - beta * bc)
        np.testing.assert_allclose(target[b], want, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(penalty[b], bc, rtol=1e-5)


@pytest.mark.parametrize("temperature,clip", [(3.0, 100.0),  # IQL: beta 3, weights <= 100
                                              (1.0 / 0.3, 100.0),  # AWAC: 1 / lambda
                                              (10.0, 5.0)])  # the clip binding
def test_awr_actor_loss_matches_numpy_and_stops_the_weights_gradient(temperature, clip):
    rng = np.random.default_rng(3)
    log_prob, advantage = rng.normal(size=B) - 1.0, rng.normal(size=B)
    expected = -sum(min(np.exp(temperature * advantage[b]), clip) * log_prob[b]
                    for b in range(B)) / B
    got = awr_actor_loss(*_f32(log_prob, advantage), temperature, clip)
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    # No gradient reaches the advantage (the critics), all of it the log-likelihood.
    grad_lp, grad_adv = jax.grad(awr_actor_loss, argnums=(0, 1))(
        *_f32(log_prob, advantage), temperature, clip)
    np.testing.assert_array_equal(grad_adv, np.zeros(B))
    np.testing.assert_allclose(grad_lp, -np.minimum(np.exp(temperature * advantage), clip) / B,
                               rtol=1e-5)


def test_temperature_loss_matches_numpy_and_lowers_alpha_when_entropy_is_high():
    rng = np.random.default_rng(4)
    log_pi, target_entropy, log_alpha = rng.normal(size=B) - 2.0, -float(A), 0.3
    expected = -log_alpha * sum(lp + target_entropy for lp in log_pi) / B
    np.testing.assert_allclose(temperature_loss(*_f32(log_alpha, log_pi), target_entropy),
                               expected, rtol=1e-5)
    grad = jax.grad(temperature_loss)(*_f32(log_alpha, log_pi), target_entropy)
    np.testing.assert_allclose(grad, -(np.mean(log_pi) + target_entropy), rtol=1e-5)
    # Entropy -mean(log pi) above the target -> positive gradient -> a descent step lowers alpha.
    assert -np.mean(log_pi) > target_entropy and grad > 0
