"""The bisimulation loss against a NumPy reference of its formula; weight 0 is exactly the
learner without it, and a grid over the weight is one vmapped program."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_suite.agents import learner_parts
from jaxrl_suite.agents.auxiliary.bisimulation import bisimulation_loss, with_bisimulation
from jaxrl_suite.agents.base import data_spec
from jaxrl_suite.data import from_arrays
from jaxrl_suite.data.sampling import sample_uniform
from jaxrl_suite.train import stack_hparams
from jaxrl_suite.transforms.history import history_windows


def reference_loss(z, zp, r, rp, mu, mup, sigma, sigmap, c):
    total = 0.0
    for i in range(len(z)):
        latent = sum(abs(z[i, d] - zp[i, d]) for d in range(z.shape[1]))
        w2 = np.sqrt(sum((mu[i, d] - mup[i, d]) ** 2 + (sigma[i, d] - sigmap[i, d]) ** 2
                         for d in range(mu.shape[1])))
        total += (latent - (abs(r[i] - rp[i]) + c * w2)) ** 2
    return total / len(z)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bisimulation_loss_equals_the_formula_written_out(seed):
    rng = np.random.default_rng(seed)
    b, dim = 7, 5
    z, zp, mu, mup = (rng.normal(size=(b, dim)) for _ in range(4))
    sigma, sigmap = (rng.uniform(0.1, 2.0, (b, dim)) for _ in range(2))
    r, rp = rng.normal(size=b), rng.normal(size=b)
    c = float(rng.uniform(0.5, 1.0))
    got = bisimulation_loss(*(jnp.asarray(x, jnp.float32) for x in
                              (z, zp, r, rp, mu, mup, sigma, sigmap)), c)
    np.testing.assert_allclose(float(got), reference_loss(z, zp, r, rp, mu, mup, sigma,
                                                          sigmap, c), rtol=1e-5)


def windows_dataset(discrete, n=80, seed=0):
    rng = np.random.default_rng(seed)
    timeouts = np.zeros(n, bool)
    timeouts[19::20] = True
    actions = rng.integers(0, 3, n) if discrete else rng.uniform(-1, 1, (n, 2))
    data = from_arrays(rng.normal(size=(n, 3)).astype(np.float32), actions,
                       rng.normal(size=n).astype(np.float32), np.zeros(n, bool), timeouts)
    return history_windows(data, 3)


# Discrete CQL's compile adds ~40 s: the fast tier runs BC.
@pytest.fixture(scope="module", params=[
    ("bc", False), pytest.param(("cql", True), marks=pytest.mark.slow)], ids=["bc", "cql-discrete"])
def runs(request):
    """(plain learner's state, [weight 0, weight 1] bisimulation states, metrics) after 5
    updates on the same keys, the two weights in one vmapped program."""
    algo, discrete = request.param
    factory, config_cls, _ = learner_parts(algo, discrete=discrete)
    learner = factory(config_cls(hidden_sizes=(16,), history_encoder="gru", history_hidden=8))
    bisim = with_bisimulation(learner, model_width=16)
    data = windows_dataset(discrete)
    spec = data_spec(data)
    keys = jax.random.split(jax.random.PRNGKey(3), 5)

    def train(lrn, hparams, key):
        state = lrn.init(key, spec, hparams)

        def body(state, k):
            state, metrics = lrn.update(state, sample_uniform(data, k, 16), k, hparams)
            return state, metrics

        return jax.lax.scan(body, state, keys)

    init_key = jax.random.PRNGKey(0)
    plain, _ = jax.jit(lambda: train(learner, learner.default_hparams, init_key))()
    grid = stack_hparams([bisim.default_hparams.replace(bisim_weight=w) for w in (0.0, 1.0)])
    both, metrics = jax.jit(jax.vmap(lambda h: train(bisim, h, init_key)))(grid)
    return plain, both, metrics


def test_weight_zero_is_exactly_the_learner_without_the_loss(runs):
    plain, both, _ = runs
    zero = jax.tree.map(lambda x: x[0], both.learner)
    # Equal to float rounding: the weight-0 cell runs in a vmapped program, the plain learner
    # alone, and XLA may order their sums differently (seen: 1e-10 apart after 5 updates).
    for a, b in zip(jax.tree.leaves(plain), jax.tree.leaves(zero)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-8)


def test_a_positive_weight_moves_the_encoder_and_reports_the_loss(runs):
    plain, both, metrics = runs
    one = jax.tree.map(lambda x: x[1], both.learner)
    moved = [not np.array_equal(np.asarray(a), np.asarray(b))
             for a, b in zip(jax.tree.leaves(plain), jax.tree.leaves(one))]
    assert any(moved)
    loss = np.asarray(metrics["bisim_loss"])  # [2 weights, 5 updates]
    assert loss.shape == (2, 5) and np.isfinite(loss).all() and (loss >= 0).all()
    assert np.isfinite(np.asarray(metrics["bisim_model_loss"])).all()


def test_unsupported_learners_and_encoders_are_refused():
    factory, config_cls, _ = learner_parts("bc")
    with pytest.raises(ValueError, match="learned history encoder"):
        with_bisimulation(factory(config_cls(history_encoder="stack")))
    factory, config_cls, _ = learner_parts("cql")
    with pytest.raises(ValueError, match="not supported"):
        with_bisimulation(factory(config_cls(history_encoder="gru")))


@pytest.mark.parametrize("algo,discrete,config", [
    ("bc", False, {}), ("bc", True, {}), ("cql", True, {}), ("iql", False, {}),
    ("xql", False, {}), ("fdvl", False, {}), ("fdvl", False, {"divergence": "total_variation"})])
def test_every_learner_the_cli_offers_it_to_takes_the_loss(algo, discrete, config):
    # `train --bisimulation` offers the loss to bc, cql (discrete), iql, xql and fdvl; f-DVL's
    # learners are named by their divergence, which the support table once missed.
    factory, config_cls, _ = learner_parts(algo, discrete=discrete)
    learner = factory(config_cls(hidden_sizes=(8,), history_encoder="gru", history_hidden=4,
                                 **config))
    assert hasattr(with_bisimulation(learner, model_width=8).default_hparams, "bisim_weight")
