"""Discrete DQN, CQL, BCQ and CRR: one update's reported losses equal slow NumPy transcriptions
of ml-jku/OfflineRL's agents (source/agents/{dqn,cql,bcq,crr}.py) computed on the networks' own
outputs, with a target network unlike the online one (QR-DQN, REM, BVE and BC have theirs in
test_bc_qrdqn_rem_bve.py)."""

import jax
import numpy as np
import pytest

from jaxrl_suite.agents.base import data_spec
from jaxrl_suite.agents.discrete.bcq import BCQConfig, make_bcq
from jaxrl_suite.agents.discrete.common import paper_hparams
from jaxrl_suite.agents.discrete.cql import CQLConfig, make_cql
from jaxrl_suite.agents.discrete.crr import CRRConfig, make_crr
from jaxrl_suite.agents.discrete.dqn import DQNConfig, make_dqn
from jaxrl_suite.data.sampling import gather
from jaxrl_suite.nets.networks import QNetwork

TINY = (16, 16)
M = 3  # CRR's sampled baseline actions


def _huber(x):  # torch's SmoothL1Loss, beta 1
    return 0.5 * x * x if abs(x) < 1.0 else abs(x) - 0.5


def _softmax(z):
    e = np.exp(z - np.max(z))
    return e / e.sum()


def ref_double_dqn_target(b, r, d, gamma, next_online, next_target):
    return r[b] + gamma * (1 - d[b]) * next_target[b, int(np.argmax(next_online[b]))]


def ref_dqn(q, next_online, next_target, a, r, d, gamma):
    return np.mean([_huber(q[b, a[b]] - ref_double_dqn_target(b, r, d, gamma, next_online,
                                                                next_target))
                    for b in range(len(a))])


def ref_cql_penalty(q, a):
    return np.mean([np.log(np.sum(np.exp(q[b]))) - q[b, a[b]] for b in range(len(a))])


def ref_bcq(q, logits, next_q, next_logits, next_target, a, r, d, gamma, threshold, l2):
    td, ce = [], []
    for b in range(len(a)):
        pi = _softmax(next_logits[b])
        allowed = [k for k in range(len(pi)) if pi[k] / pi.max() > threshold]
        a_next = max(allowed, key=lambda k: next_q[b, k])
        td.append(_huber(q[b, a[b]] - (r[b] + gamma * (1 - d[b]) * next_target[b, a_next])))
        ce.append(-np.log(_softmax(logits[b])[a[b]]))
    return np.mean(td), np.mean(ce), np.mean(td) + np.mean(ce) + l2 * np.mean(logits ** 2)


def ref_crr(q, logits, next_target, sampled, next_action, a, r, d, gamma):
    td, weighted = [], []
    for b in range(len(a)):
        advantage = q[b, a[b]] - np.mean([q[b, sampled[j, b]] for j in range(M)])
        weight = float(advantage > 0)  # the code's binary weights, mean baseline
        weighted.append(-np.log(_softmax(logits[b])[a[b]]) * weight)
        td.append(_huber(q[b, a[b]] - (r[b] + gamma * (1 - d[b])
                                       * next_target[b, next_action[b]])))
    return np.mean(td), np.mean(weighted)


MAKERS = {"dqn": lambda: make_dqn(DQNConfig(TINY)), "cql": lambda: make_cql(CQLConfig(TINY)),
          "bcq": lambda: make_bcq(BCQConfig(TINY)),
          "crr": lambda: make_crr(CRRConfig(TINY, num_samples=M))}


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_update_losses_match_numpy_reference(cartpole_data, name):
    _, data = cartpole_data
    ds = data["replay"]
    spec, learner = data_spec(ds), MAKERS[name]()
    hp = paper_hparams(learner.default_hparams, "CartPole-v1")
    k_init, k_target, k_batch, k_update = jax.random.split(jax.random.PRNGKey(2), 4)
    batch = gather(ds, jax.random.randint(k_batch, (32,), 0, ds.num_transitions))
    net = QNetwork(TINY, 2, "selu")
    nets = {"dqn": None, "cql": None, "bcq": ("q", "imitation"), "crr": ("q", "actor")}[name]

    @jax.jit  # one compile: init, one update, and the raw network outputs it saw
    def run(spec, batch):
        state = learner.init(k_init, spec, hp)
        state = state.replace(target_params=learner.init(k_target, spec, hp).params)
        parts = nets or (None,)
        pick = (lambda p, k: p[k]) if nets else (lambda p, k: p)
        outs = {k: (net.apply(pick(state.params, k), batch.observations),
                    net.apply(pick(state.params, k), batch.next_observations),
                    net.apply(pick(state.target_params, k), batch.next_observations))
                for k in parts}
        return learner.update(state, batch, k_update, hp)[1], outs

    metrics, outs = jax.device_get(run(spec, batch))
    a = np.asarray(batch.actions).astype(int)
    r, d = np.asarray(batch.rewards, np.float64), np.asarray(batch.terminals, np.float64)
    gamma = float(hp.gamma)
    if name in ("dqn", "cql"):
        q, next_online, next_target = (np.asarray(x, np.float64) for x in outs[None])
        np.testing.assert_allclose(metrics["critic_loss"],
                                   ref_dqn(q, next_online, next_target, a, r, d, gamma),
                                   rtol=1e-4)
        if name == "cql":
            penalty = ref_cql_penalty(q, a)
            np.testing.assert_allclose(metrics["cql_penalty"], penalty, rtol=1e-4)
            np.testing.assert_allclose(metrics["loss"], metrics["critic_loss"]
                                       + float(hp.alpha) * penalty, rtol=1e-4)
    elif name == "bcq":
        (q, next_q, next_target), (logits, next_logits, _) = (
            [np.asarray(x, np.float64) for x in outs[k]] for k in nets)
        td, ce, total = ref_bcq(q, logits, next_q, next_logits, next_target, a, r, d, gamma,
                                float(hp.threshold), float(hp.logit_l2))
        np.testing.assert_allclose(metrics["critic_loss"], td, rtol=1e-4)
        np.testing.assert_allclose(metrics["imitation_loss"], ce, rtol=1e-4)
        np.testing.assert_allclose(metrics["loss"], total, rtol=1e-4)
    else:  # crr: the update's own keys draw the sampled actions (the draws are not under test)
        (q, _, next_target), (logits, next_logits_online, next_logits_target) = (
            [np.asarray(x, np.float64) for x in outs[k]] for k in nets)
        del next_logits_online
        baseline_key, next_key = jax.random.split(k_update)
        sampled = np.asarray(jax.random.categorical(baseline_key, outs["actor"][0],
                                                    shape=(M, len(a))))
        next_action = np.asarray(jax.random.categorical(next_key, outs["actor"][2]))
        td, actor = ref_crr(q, logits, next_target, sampled, next_action, a, r, d, gamma)
        np.testing.assert_allclose(metrics["critic_loss"], td, rtol=1e-4)
        np.testing.assert_allclose(metrics["actor_loss"], actor, rtol=1e-4, atol=1e-7)
