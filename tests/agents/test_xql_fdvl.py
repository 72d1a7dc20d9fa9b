"""XQL and f-DVL (chi-square, total variation) learn: on a Pendulum expert dataset they beat
the random policy and BC trained on random data by a margin (3 seeds vmapped); their value
losses match NumPy transcriptions of the authors' formulas."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_suite.agents.fdvl import (FDVLConfig, chi_square_loss, make_fdvl,
                                     total_variation_loss)
from jaxrl_suite.agents.xql import XQLConfig, gumbel_loss, make_xql
from tests.agents.learn_check import normalized_returns


def _diffs():
    return np.random.default_rng(0).normal(size=64).astype(np.float32) * 4.0


@pytest.mark.parametrize("beta,max_clip", [(1.0, 7.0), (2.0, 7.0), (0.5, 1.0)])
def test_gumbel_loss_matches_numpy_formula(beta, max_clip):
    diff = _diffs()
    z = np.minimum(diff / beta, max_clip)
    m = max(z.max(), -1.0)
    expected = np.exp(z - m) - z * np.exp(-m) - np.exp(-m)
    np.testing.assert_allclose(gumbel_loss(jnp.asarray(diff), beta, max_clip), expected,
                               rtol=1e-5, atol=1e-6)
    # The rescaling by exp(-m) leaves the unclipped minimiser: e^z - z - 1, scaled.
    unscaled = np.exp(diff / beta) - diff / beta - 1.0
    keep = diff / beta < max_clip
    np.testing.assert_allclose(np.asarray(gumbel_loss(jnp.asarray(diff), beta, max_clip))[keep],
                               unscaled[keep] * np.exp(-m), rtol=1e-4, atol=1e-6)


def test_gumbel_loss_is_minimised_at_the_soft_maximum():
    q = jnp.asarray(_diffs())
    beta = 2.0
    loss = lambda v: jnp.mean(gumbel_loss(q - v, beta, jnp.inf))
    v_star = beta * jnp.log(jnp.mean(jnp.exp(q / beta)))
    assert abs(float(jax.grad(loss)(v_star))) < 1e-5


@pytest.mark.parametrize("alpha", [1.0, 0.8, 0.3])
def test_dual_losses_match_numpy_formulas(alpha):
    x = _diffs()
    np.testing.assert_allclose(chi_square_loss(jnp.asarray(x), alpha),
                               alpha * np.maximum(x + x ** 2 / 4, 0) - (1 - alpha) * x,
                               rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(total_variation_loss(jnp.asarray(x), alpha),
                               alpha * np.maximum(x, 0) - (1 - alpha) * x, rtol=1e-6, atol=1e-6)


def test_unknown_divergence_is_rejected_before_jit():
    with pytest.raises(ValueError, match="divergence"):
        make_fdvl(FDVLConfig(divergence="kl"))


def test_each_divergence_has_its_cli_id():
    # `fdvl` is chi-square (the authors' locomotion setting), `fdvl_tv` total variation, each
    # with its README temperature and the code's 1024 minibatch.
    from jaxrl_suite.agents import learner_parts

    for algo, name, alpha in (("fdvl", "fdvl_chi_square", 1.0),
                              ("fdvl_tv", "fdvl_total_variation", 0.8)):
        factory, config_cls, _ = learner_parts(algo)
        learner = factory(config_cls())
        assert learner.name == name and learner.default_hparams.alpha == alpha
        assert learner.batch_size == 1024


@pytest.mark.slow
@pytest.mark.parametrize("learner", [
    make_xql(XQLConfig((64, 64))),
    make_fdvl(FDVLConfig((64, 64), divergence="chi_square")),
    make_fdvl(FDVLConfig((64, 64), divergence="total_variation")),
], ids=lambda learner: learner.name)
def test_learns_from_expert_data(learner, pendulum_data, bc_on_random):
    env, expert, _ = pendulum_data
    scores = normalized_returns(learner, learner.default_hparams, env, expert,
                                num_updates=2_000)
    assert scores.mean() > 60 and scores.mean() > bc_on_random.mean() + 40, (scores, bc_on_random)
