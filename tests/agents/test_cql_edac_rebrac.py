"""CQL, EDAC and ReBRAC: their regularisers match NumPy transcriptions, CQL's Lagrangian and
fixed-weight variants run together in one vmapped call, and each learns on a Pendulum expert
dataset (3 seeds vmapped) well above the random policy and BC trained on random data."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_suite.agents.base import data_spec
from jaxrl_suite.agents.cql import CQLConfig, CQLHParams, cql_gap, make_cql
from jaxrl_suite.agents.edac import EDACConfig, EDACHParams, ensemble_diversity, make_edac
from jaxrl_suite.agents.rebrac import ReBRACConfig, ReBRACHParams, make_rebrac
from jaxrl_suite.data.dataset import concatenate
from jaxrl_suite.data.sampling import gather
from jaxrl_suite.train import stack_hparams
from tests.agents.learn_check import normalized_returns


def test_cql_gap_matches_numpy():
    rng = np.random.default_rng(0)
    k, b, temperature = 5, 7, 0.7
    q_data = rng.normal(size=b)
    q_rand, q_curr, q_next, lp_curr, lp_next = (rng.normal(size=(k, b)) for _ in range(5))
    got = cql_gap(*(jnp.asarray(x, jnp.float32) for x in
                    (q_data, q_rand, q_curr, q_next, lp_curr, lp_next)), temperature)
    expected = []
    for j in range(b):
        values = np.concatenate([q_rand[:, j], q_curr[:, j] - lp_curr[:, j],
                                 q_next[:, j] - lp_next[:, j]]) / temperature
        expected.append(temperature * np.log(np.sum(np.exp(values))) - q_data[j])
    np.testing.assert_allclose(got, np.mean(expected), rtol=1e-5, atol=1e-5)


def test_edac_diversity_matches_numpy():
    rng = np.random.default_rng(1)
    b, n, a = 6, 4, 3
    grads = rng.normal(size=(b, n, a))
    total = 0.0
    for s in range(b):
        unit = [g / (np.linalg.norm(g) + 1e-10) for g in grads[s]]
        total += sum(unit[i] @ unit[j] for i in range(n) for j in range(n) if i != j)
    expected = total / b / (n - 1)
    got = ensemble_diversity(jnp.asarray(grads, jnp.float32))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_edac_diversity_has_a_finite_gradient_at_a_zero_action_gradient():
    # A ReLU critic's grad_a Q can be exactly 0; jnp.linalg.norm's gradient there is NaN.
    grads = jnp.asarray(np.random.default_rng(2).normal(size=(4, 3, 2)), jnp.float32)
    grads = grads.at[1, 2].set(0.0)
    value, grad = jax.value_and_grad(ensemble_diversity)(grads)
    assert np.isfinite(value) and np.all(np.isfinite(grad))
    # The zero row adds nothing to the value (0 / (0 + 1e-10)); its own gradient is the
    # numerator's 1 / 1e-10 scale, as in CORL's torch code (torch's norm backward is 0 at 0).
    np.testing.assert_allclose(value, ensemble_diversity(grads.at[1, 2].set(1e-30)), rtol=1e-6)


@pytest.mark.slow  # full tier: 15-46 s in the fast tier (BUILD_NOTES "Session 13")
def test_cql_lagrange_flag_vmaps_with_fixed_weight(pendulum_data):
    _, expert, _ = pendulum_data
    learner = make_cql(CQLConfig((32, 32), num_sampled_actions=3))
    spec = data_spec(expert)
    grid = stack_hparams([CQLHParams(lagrange=0.0), CQLHParams(lagrange=1.0)])
    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    batch = gather(expert, jnp.arange(64))

    def run(key, hparams):
        state = learner.init(key, spec, hparams)
        for step_key in jax.random.split(key, 3):
            state, metrics = learner.update(state, batch, step_key, hparams)
        return state, metrics

    state, metrics = jax.jit(jax.vmap(run))(keys, grid)
    assert np.all(np.isfinite(metrics["critic_loss"]))
    # Only the Lagrangian cell moves its multiplier alpha'.
    assert state.log_cql_alpha[0] == 0.0 and state.log_cql_alpha[1] != 0.0
    np.testing.assert_allclose(metrics["cql_alpha"][0], CQLHParams().cql_alpha)


def _check(scores, bc_on_random):
    assert scores.mean() > 60 and scores.mean() > bc_on_random.mean() + 40, (scores, bc_on_random)


@pytest.mark.slow
def test_cql_learns_from_expert_data(pendulum_data, bc_on_random):
    # Short-budget settings: faster lrs, a low initial temperature and CORL's cql_alpha 10.
    env, expert, _ = pendulum_data
    hparams = CQLHParams(actor_lr=1e-3, critic_lr=1e-3, alpha_lr=1e-3, init_alpha=0.1,
                         cql_alpha=10.0)
    scores = normalized_returns(make_cql(CQLConfig((64, 64), num_sampled_actions=4)), hparams,
                                env, expert, num_updates=3_000)
    # CQL has no explicit BC term; in 3,000 updates it reaches 45-60 (measured), not TD3+BC's 80+.
    assert scores.mean() > 30 and scores.mean() > bc_on_random.mean() + 20, (
        scores, bc_on_random)


@pytest.mark.slow
def test_rebrac_learns_from_expert_data(pendulum_data, bc_on_random):
    env, expert, _ = pendulum_data
    scores = normalized_returns(make_rebrac(ReBRACConfig((64, 64))), ReBRACHParams(), env,
                                expert, num_updates=2_000, batch_size=256)
    _check(scores, bc_on_random)


@pytest.mark.slow
def test_edac_learns_from_expert_plus_random_data(pendulum_data, bc_on_random):
    # On the narrow expert data alone the SAC-N/EDAC ensemble does not learn in a test-sized
    # budget (N 5-10, 3k updates: -15..4, measured), as expected of a method without a BC term
    # at low coverage; on expert + random transitions (a medium-replay-like set, 20k) it does
    # (N 5: 93-102 per seed). On 1-D actions EDAC's diversity gradient vanishes (normalised
    # action gradients are +-1), so this checks the SAC-N core; the diversity term itself is
    # checked against NumPy above.
    env, expert, random = pendulum_data
    data = concatenate([expert, random])
    hparams = EDACHParams(actor_lr=1e-3, critic_lr=1e-3, alpha_lr=1e-3)
    scores = normalized_returns(make_edac(EDACConfig((64, 64), num_critics=5)), hparams, env,
                                data, num_updates=3_000)
    _check(scores, bc_on_random)


def test_edac_and_sac_n_update_together(pendulum_data):
    # eta = 0 (SAC-N) and eta = 1 (EDAC) as one vmapped grid.
    _, expert, _ = pendulum_data
    learner = make_edac(EDACConfig((32, 32), num_critics=3))
    spec = data_spec(expert)
    grid = stack_hparams([EDACHParams(eta=0.0), EDACHParams(eta=1.0)])
    batch = gather(expert, jnp.arange(64))

    def run(key, hparams):
        state = learner.init(key, spec, hparams)
        for step_key in jax.random.split(key, 3):
            state, metrics = learner.update(state, batch, step_key, hparams)
        return metrics

    metrics = jax.jit(jax.vmap(run))(jax.random.split(jax.random.PRNGKey(0), 2), grid)
    assert all(np.all(np.isfinite(v)) for v in metrics.values())
    np.testing.assert_allclose(metrics["critic_loss"][0], metrics["td_loss"][0], rtol=1e-6)
