"""Uncertainty penalties against slow NumPy loops, with masks, and the traced-index switch."""

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_suite.model_based import penalties

M, B, D = 5, 6, 3
MASK = np.array([True, False, True, True, False])


def _inputs(seed=0):
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(M, B, D)).astype(np.float32)
    stds = np.exp(0.4 * rng.normal(size=(M, B, D))).astype(np.float32)
    samples = (means + stds * rng.normal(size=(M, B, D))).astype(np.float32)
    sample = rng.normal(size=(B, D)).astype(np.float32)
    return means, stds, samples, sample


def _members(mask):
    return [i for i in range(M) if mask is None or mask[i]]


# --- NumPy references: one batch element and one member at a time ---------------------------

def ref_max_aleatoric(means, stds, mask=None):
    return np.array([max(math.sqrt(sum(float(stds[i, b, d]) ** 2 for d in range(means.shape[-1])))
                         for i in _members(mask)) for b in range(B)])


def ref_max_pairwise_diff(means, stds, samples=None, mask=None):
    x = means if samples is None else samples
    out = []
    for b in range(B):
        out.append(max(math.sqrt(sum((float(x[i, b, d]) - float(x[j, b, d])) ** 2
                                     for d in range(means.shape[-1])))
                       for i, j in itertools.product(_members(mask), repeat=2)))
    return np.array(out)


def ref_total_variance(means, stds, samples=None, mask=None):
    x = means if samples is None else samples
    members = _members(mask)
    out = np.zeros((B, means.shape[-1]))
    for b in range(B):
        for d in range(means.shape[-1]):
            vals = [float(x[i, b, d]) for i in members]
            mean = sum(vals) / len(vals)
            epistemic = sum((v - mean) ** 2 for v in vals) / len(vals)
            aleatoric = sum(float(stds[i, b, d]) ** 2 for i in members) / len(members)
            out[b, d] = aleatoric + epistemic
    return out


def ref_ensemble_var(means, stds, samples=None, mask=None):
    return ref_total_variance(means, stds, samples, mask).mean(axis=1)


def ref_ensemble_std(means, stds, samples=None, mask=None):
    return np.sqrt(ref_total_variance(means, stds, samples, mask)).mean(axis=1)


def ref_ll_var(means, stds, sample, mask=None):
    out = []
    for b in range(B):
        lls = []
        for i in _members(mask):
            ll = 0.0
            for d in range(means.shape[-1]):
                mu, sd = float(means[i, b, d]), float(stds[i, b, d])
                ll += -0.5 * math.log(2 * math.pi) - math.log(sd) \
                    - 0.5 * ((float(sample[b, d]) - mu) / sd) ** 2
            lls.append(ll)
        mean = sum(lls) / len(lls)
        out.append(sum((v - mean) ** 2 for v in lls) / len(lls))
    return np.array(out)


def ref_loo_kl_member(means, stds, a, b, mask=None):
    rest = [i for i in _members(mask) if i != a]
    kl = 0.0
    for d in range(means.shape[-1]):
        mus = [float(means[i, b, d]) for i in rest]
        mu_bar = sum(mus) / len(rest)
        var_bar = sum(float(stds[i, b, d]) ** 2 + float(means[i, b, d]) ** 2
                      for i in rest) / len(rest) - mu_bar ** 2
        mu_a, var_a = float(means[a, b, d]), float(stds[a, b, d]) ** 2
        kl += 0.5 * (math.log(var_bar / var_a) + (var_a + (mu_a - mu_bar) ** 2) / var_bar - 1)
    return kl


def ref_loo_kl(means, stds, member=None, mask=None):
    if member is not None:
        return np.array([ref_loo_kl_member(means, stds, int(member[b]), b, mask)
                         for b in range(B)])
    return np.array([max(ref_loo_kl_member(means, stds, a, b, mask) for a in _members(mask))
                     for b in range(B)])


TOL = dict(rtol=2e-4, atol=2e-5)


@pytest.mark.parametrize("mask", [None, MASK, MASK.astype(np.float32)],
                         ids=["all", "bool-mask", "float-mask"])
def test_penalties_match_numpy_loops(mask):
    means, stds, samples, sample = _inputs()
    jm = None if mask is None else jnp.asarray(mask)
    bmask = None if mask is None else mask.astype(bool)
    checks = {
        "max_aleatoric": (penalties.max_aleatoric(means, stds, mask=jm),
                          ref_max_aleatoric(means, stds, bmask)),
        "max_pairwise_diff": (penalties.max_pairwise_diff(means, stds, mask=jm),
                              ref_max_pairwise_diff(means, stds, None, bmask)),
        "max_pairwise_diff/samples": (
            penalties.max_pairwise_diff(means, stds, samples=samples, mask=jm),
            ref_max_pairwise_diff(means, stds, samples, bmask)),
        "ensemble_std": (penalties.ensemble_std(means, stds, mask=jm),
                         ref_ensemble_std(means, stds, None, bmask)),
        "ensemble_std/samples": (penalties.ensemble_std(means, stds, samples=samples, mask=jm),
                                 ref_ensemble_std(means, stds, samples, bmask)),
        "ensemble_var": (penalties.ensemble_var(means, stds, mask=jm),
                         ref_ensemble_var(means, stds, None, bmask)),
        "ensemble_var/samples": (penalties.ensemble_var(means, stds, samples=samples, mask=jm),
                                 ref_ensemble_var(means, stds, samples, bmask)),
        "ll_var": (penalties.ll_var(means, stds, sample=sample, mask=jm),
                   ref_ll_var(means, stds, sample, bmask)),
        "loo_kl": (penalties.loo_kl(means, stds, mask=jm), ref_loo_kl(means, stds, None, bmask)),
    }
    member = np.array([0, 2, 3, 2, 0, 3])  # active members only (the bool mask's)
    checks["loo_kl/member"] = (penalties.loo_kl(means, stds, member=jnp.asarray(member), mask=jm),
                               ref_loo_kl(means, stds, member, bmask))
    for name, (got, want) in checks.items():
        assert got.shape == (B,), name
        np.testing.assert_allclose(np.asarray(got), want, err_msg=name, **TOL)


def _garbage_in_inactive(x, seed):
    noise = np.random.default_rng(seed).normal(size=x.shape).astype(np.float32)
    return np.where(MASK[:, None, None], x, 1e3 * np.abs(noise) + 1.0)


@pytest.mark.parametrize("name", penalties.PENALTIES)
def test_inactive_members_never_change_a_penalty(name):
    means, stds, samples, _ = _inputs(1)
    fn = penalties.PENALTY_FUNCTIONS[name]
    kw = {"key": jax.random.PRNGKey(3)} if name == "ll_var" else {}
    clean = fn(means, stds, mask=MASK, **kw)
    dirty = fn(_garbage_in_inactive(means, 1), _garbage_in_inactive(stds, 2), mask=MASK, **kw)
    # ll_var also draws its next state from active members only, whatever the others hold.
    np.testing.assert_allclose(np.asarray(dirty), np.asarray(clean), **TOL)
    assert np.all(np.isfinite(np.asarray(clean)))


def test_ll_var_without_key_or_sample_raises():
    means, stds, _, _ = _inputs()
    with pytest.raises(ValueError, match="ll_var"):
        penalties.ll_var(means, stds)


def test_penalty_by_index_matches_direct_call_under_jit():
    means, stds, samples, _ = _inputs(2)
    key, mask = jax.random.PRNGKey(7), jnp.asarray(MASK)
    options = dict(mask=mask, samples=samples, key=key)

    @jax.jit
    def by_index(index, means, stds):
        return penalties.penalty_by_index(index, means, stds, **options)

    for index, name in enumerate(penalties.PENALTIES):
        fn = penalties.PENALTY_FUNCTIONS[name]
        own = {k: v for k, v in options.items() if k in penalties._OPTIONS[name]}
        want = fn(means, stds, **own)
        got = by_index(jnp.int32(index), means, stds)
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), err_msg=name, **TOL)


def test_penalty_by_index_rejects_unknown_options():
    means, stds, _, _ = _inputs()
    with pytest.raises(TypeError, match="unknown options"):
        penalties.penalty_by_index(0, means, stds, key=jax.random.PRNGKey(0), temperature=1.0)


def test_transition_penalty_wires_each_definitions_dims_sample_and_member():
    # (s', r) outputs, reward last: max_aleatoric and loo_kl take both (MOPO's code; M2AC's
    # joint model), the rest the next state only; ll_var scores the transition taken and loo_kl
    # compares the member that produced it with the rest (NumPy loops, written out here).
    rng = np.random.default_rng(4)
    means = rng.normal(size=(M, B, 4)).astype(np.float32)
    stds = np.exp(0.4 * rng.normal(size=(M, B, 4))).astype(np.float32)
    member = np.array([0, 2, 3, 2, 0, 3])  # active members of MASK
    sample = (means[member, np.arange(B)]
              + stds[member, np.arange(B)] * rng.normal(size=(B, 4))).astype(np.float32)
    s_means, s_stds = means[..., :-1], stds[..., :-1]
    want = {
        "max_aleatoric": ref_max_aleatoric(means, stds, MASK),
        "max_pairwise_diff": ref_max_pairwise_diff(s_means, s_stds, None, MASK),
        "ensemble_std": ref_ensemble_std(s_means, s_stds, None, MASK),
        "ensemble_var": ref_ensemble_var(s_means, s_stds, None, MASK),
        "ll_var": ref_ll_var(s_means, s_stds, sample[:, :-1], MASK),
        "loo_kl": ref_loo_kl(means, stds, member, MASK),
    }

    @jax.jit
    def wired(index, sample, member):
        return penalties.transition_penalty(index, jnp.asarray(means), jnp.asarray(stds),
                                            sample=sample, member=member,
                                            mask=jnp.asarray(MASK))

    for index, name in enumerate(penalties.PENALTIES):
        got = wired(jnp.int32(index), jnp.asarray(sample), jnp.asarray(member))
        np.testing.assert_allclose(np.asarray(got), want[name], err_msg=name, **TOL)
    # The transition and the member are what is scored: other ones give other values.
    ll, kl = penalties.PENALTIES.index("ll_var"), penalties.PENALTIES.index("loo_kl")
    other = np.array([3, 0, 2, 0, 2, 0])
    assert not np.allclose(wired(jnp.int32(kl), jnp.asarray(sample), jnp.asarray(other)),
                           want["loo_kl"], **TOL)
    assert not np.allclose(wired(jnp.int32(ll), jnp.asarray(sample + 0.5), jnp.asarray(member)),
                           want["ll_var"], **TOL)
