"""Discrete BCQ, CQL and CRR: each distinctive piece (BCQ's thresholded argmax, CQL's
logsumexp penalty, CRR's advantage weights) against a NumPy loop on random inputs, and each
learns on CartPole expert and replay data (3 seeds vmapped, small nets, lr 1e-3)."""

import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_suite.agents.discrete.bcq import BCQConfig, bcq_greedy, make_bcq
from jaxrl_suite.agents.discrete.common import paper_hparams
from jaxrl_suite.agents.discrete.cql import CQLConfig, cql_penalty, make_cql
from jaxrl_suite.agents.discrete.crr import CRRConfig, crr_weights, make_crr
from tests.agents.discrete.conftest import check_beats_bc_on_replay
from tests.agents.learn_check import normalized_returns

B, A, M = 64, 5, 4


def _f32(x):
    return jnp.asarray(x, jnp.float32)


def test_bcq_greedy_matches_numpy():
    rng = np.random.default_rng(0)
    q, logits = rng.normal(size=(B, A)), 2.0 * rng.normal(size=(B, A))
    for threshold in (0.0, 0.3, 0.9):
        expected = []
        for b in range(B):
            pi = np.exp(logits[b]) / np.sum(np.exp(logits[b]))
            allowed = [a for a in range(A) if pi[a] / pi.max() > threshold]
            expected.append(max(allowed, key=lambda a: q[b, a]))
        got = bcq_greedy(_f32(q), _f32(logits), threshold)
        np.testing.assert_array_equal(np.asarray(got), expected)
    # The threshold matters here: 0 gives the plain argmax, 0.9 mostly the imitation's argmax.
    np.testing.assert_array_equal(np.asarray(bcq_greedy(_f32(q), _f32(logits), 0.0)),
                                  q.argmax(1))


def test_cql_penalty_matches_numpy():
    rng = np.random.default_rng(1)
    q, actions = 3.0 * rng.normal(size=(B, A)), rng.integers(0, A, size=B)
    expected = [np.log(np.sum(np.exp(q[b]))) - q[b, actions[b]] for b in range(B)]
    got = cql_penalty(_f32(q), jnp.asarray(actions, jnp.int32))
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("binary,max_baseline", [(True, False), (False, False), (False, True)])
def test_crr_weights_match_numpy(binary, max_baseline):
    rng = np.random.default_rng(2)
    q, beta = rng.normal(size=(B, A)), 0.7
    actions, sampled = rng.integers(0, A, size=B), rng.integers(0, A, size=(M, B))
    expected = []
    for b in range(B):
        values = [q[b, sampled[j, b]] for j in range(M)]
        adv = q[b, actions[b]] - (max(values) if max_baseline else sum(values) / M)
        expected.append(float(adv > 0) if binary else min(np.exp(adv / beta), 20.0))
    got = crr_weights(_f32(q), jnp.asarray(sampled, jnp.int32), jnp.asarray(actions, jnp.int32),
                      beta, binary, max_baseline)
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-5, atol=1e-6)


SMALL = dict(hidden_sizes=(64, 64))
# (learner, dataset) -> (learner, updates, floor on the 3-seed mean). Over 8 seeds (mean
# [min, max]), every 3 consecutive seeds' mean clears its floor: expert at 2k updates BCQ 110
# [96, 128], CQL 127 [103, 156]; CRR (greedy) 62 [36, 85] at 3k; replay at 3k BCQ 52 [29, 112],
# CQL 56 [35, 80], CRR 54 [34, 80].
CASES = {
    ("bcq", "expert"): (lambda: make_bcq(BCQConfig(**SMALL)), 2_000, 80),
    ("cql", "expert"): (lambda: make_cql(CQLConfig(**SMALL)), 2_000, 80),
    # The code's CRR evaluates the sampled policy: on greedy-expert data its binary weights
    # vanish once all m samples equal the data action (A = 0), pi stays soft, and the sampled
    # policy scores ~40 at this budget (72 at 6k); the greedy policy checks that it learns.
    ("crr", "expert"): (lambda: make_crr(CRRConfig(**SMALL, sample_at_eval=False)), 3_000, 40),
}
# Replay data, at the paper's settings (lr 1e-4, batch 128; width and budget scaled): each must
# beat BC trained on the same data by a margin. Measured at 12k updates, 3 seeds (BC 4.4):
# BCQ 62 [48 73 65], CQL 92 [110 98 69], CRR 71 [70 91 51].
REPLAY_MARGINS = {"bcq": 25, "cql": 40, "crr": 25}
REPLAY_MAKERS = {"bcq": lambda: make_bcq(BCQConfig(**SMALL)),
                 "cql": lambda: make_cql(CQLConfig(**SMALL)),
                 "crr": lambda: make_crr(CRRConfig(**SMALL))}


@pytest.mark.slow  # a learns-test (tests/conftest.py: the slow tier)
@pytest.mark.parametrize("name,dataset", sorted(CASES))
def test_learns_on_cartpole(cartpole_data, name, dataset):
    env, data = cartpole_data
    make, num_updates, floor = CASES[name, dataset]
    learner = make()
    hp = paper_hparams(learner.default_hparams, "CartPole-v1").replace(learning_rate=1e-3)
    scores = normalized_returns(learner, hp, env, data[dataset], num_updates=num_updates,
                                batch_size=128)
    print(name, dataset, scores)
    assert scores.mean() > floor, scores


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(REPLAY_MAKERS))
def test_beats_bc_on_cartpole_replay_at_paper_settings(cartpole_data, bc_on_cartpole_replay,
                                                       name):
    check_beats_bc_on_replay(REPLAY_MAKERS[name](), cartpole_data, bc_on_cartpole_replay,
                             REPLAY_MARGINS[name])
