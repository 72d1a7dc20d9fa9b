"""Uncertainty penalties u(s, a) of a probabilistic dynamics ensemble, for r~ = r - lambda u.

Every penalty is a pure function ``f(means, stds, **options) -> [B]`` of the ensemble's Gaussian
outputs ``means [M, B, D]`` and ``stds [M, B, D]`` (members, batch, output dims: whatever dims
the caller passes, e.g. ``means[..., :-1]`` for the next-state part only). The six are the ones
compared in Lu et al., "Revisiting Design Choices in Offline Model-Based Reinforcement Learning"
(ICLR 2022), Table 1; each docstring cites the method that introduced it.

``mask [M]`` (bool or float; nonzero = active, default all active) switches members off, so a
*traced* number of active members can run inside a static maximum ensemble size; an inactive
member never changes a result. Max-type penalties need one active member, variance-type ones
one (a single member has zero epistemic variance), ``loo_kl`` two.

``penalty_by_index`` picks a penalty by a traced integer with ``jax.lax.switch``, so the penalty
type can be a swept hyperparameter in one compiled program (index = position in ``PENALTIES``).

``transition_penalty`` is the wiring a model rollout uses: for an ensemble whose outputs are
(s', r) with the reward last (``dynamics.sample_step``), it hands each penalty the output dims
its definition uses (``OUTPUT_DIMS``), the transition the rollout took and the member that
produced it:
  * max_aleatoric: next state and reward. MOPO's code takes the norm of each member's std over
    every output, reward included (tianheyu927/mopo ``mopo/models/fake_env.py`` l. 93, the
    ``penalty_learned_var`` branch its d4rl configs select, ``examples/config/d4rl/
    base_mopo.py`` l. 7; OfflineRL-Kit ``offlinerlkit/dynamics/ensemble_dynamics.py`` l. 58);
  * max_pairwise_diff: next state only. MOReL's discrepancy is between next-state predictions,
    and both MOPO's (``fake_env.py`` l. 82) and OfflineRL-Kit's (``ensemble_dynamics.py``
    l. 60) disagreement penalties slice the reward off;
  * ensemble_std, ensemble_var: next state only, as OfflineRL-Kit's ``ensemble_std``
    (``ensemble_dynamics.py`` l. 65-66, ``mean[..., :-1]``);
  * ll_var: next state only, scoring the next state the rollout took. LOMPO's penalty is the
    variance over members of the log-likelihood of the next (latent) state; its reward is a
    separate head, outside the likelihood. (MOPO's logged ``_get_logprob``, ``fake_env.py``
    l. 26 and 71, scores reward and state together; we follow the paper's definition.);
  * loo_kl: next state and reward, member a = the one that produced the transition. M2AC's
    model is one Gaussian over (s', r) and its one-vs-rest KL is between that joint output of
    the member used and the others merged (Pan et al., NeurIPS 2020; the re-implementation
    in Data-Science-in-Mechanical-Engineering/macura ``mbrl/algorithms/m2ac.py``,
    ``calc_uncertainty_score``, sums over obs_dim + 1 dims for the member ``model_indices``).
"""

from __future__ import annotations

import inspect
import math
from typing import Any, Callable

import chex
import jax
import jax.numpy as jnp

_LOG_2PI = math.log(2.0 * math.pi)


def _active(mask: jax.Array | None, num_members: int) -> jax.Array:
    """Returns the active members as bool [M] (all when ``mask`` is None)."""
    if mask is None:
        return jnp.ones((num_members,), bool)
    mask = jnp.asarray(mask)
    chex.assert_shape(mask, (num_members,))
    return mask != 0


def _check(means: jax.Array, stds: jax.Array) -> None:
    chex.assert_rank(means, 3)
    chex.assert_equal_shape([means, stds])


def _masked_moments(x: jax.Array, active: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Returns (mean, population variance) over the active members of x [M, ...]."""
    w = active.astype(x.dtype).reshape((-1,) + (1,) * (x.ndim - 1))
    n = jnp.maximum(jnp.sum(w), 1.0)  # no active member: zeros rather than NaN
    mean = jnp.sum(w * x, axis=0) / n
    var = jnp.sum(w * jnp.square(x - mean), axis=0) / n
    return mean, var


def max_aleatoric(means: jax.Array, stds: jax.Array, *,
                  mask: jax.Array | None = None) -> jax.Array:
    """Returns max_i ||sigma_i(s, a)||_2 over active members, [B] (MOPO, Yu et al., NeurIPS
    2020, Sec. 4.3 and its code's ``penalty_learned_var``: the largest predicted std's norm).

    means, stds: [M, B, D]; mask: [M], default all members.
    """
    _check(means, stds)
    active = _active(mask, means.shape[0])
    norms = jnp.linalg.norm(stds, axis=-1)  # [M, B]
    # Norms are >= 0, so a zero in place of an inactive member never wins the max.
    return jnp.max(jnp.where(active[:, None], norms, 0.0), axis=0)


def max_pairwise_diff(means: jax.Array, stds: jax.Array, *, samples: jax.Array | None = None,
                      mask: jax.Array | None = None) -> jax.Array:
    """Returns max_{i,j} ||x_i - x_j||_2 over pairs of active members, [B] (MOReL's
    ensemble discrepancy, Kidambi et al., NeurIPS 2020), x = ``samples`` if given, else the means.

    means, stds: [M, B, D] (stds unused); samples: [M, B, D] one sampled next state per
    member; mask: [M], default all members.
    """
    _check(means, stds)
    del stds  # the discrepancy is between the members' predictions only
    x = means if samples is None else samples
    chex.assert_equal_shape([x, means])
    active = _active(mask, means.shape[0])
    dists = jnp.linalg.norm(x[:, None] - x[None, :], axis=-1)  # [M, M, B]
    both = active[:, None] & active[None, :]
    return jnp.max(jnp.where(both[..., None], dists, 0.0), axis=(0, 1))


def _total_variance(means, stds, samples, mask):
    """Returns mean_i sigma_i^2 + Var_i(x_i) per dim, [B, D] (law of total variance of the
    uniform mixture of the active members; x = samples, or means for its expected form)."""
    _check(means, stds)
    x = means if samples is None else samples
    chex.assert_equal_shape([x, means])
    active = _active(mask, means.shape[0])
    aleatoric, _ = _masked_moments(jnp.square(stds), active)
    _, epistemic = _masked_moments(x, active)
    return aleatoric + epistemic


def ensemble_std(means: jax.Array, stds: jax.Array, *, samples: jax.Array | None = None,
                 mask: jax.Array | None = None) -> jax.Array:
    """Returns mean_d sqrt(mean_i sigma_i^2 + Var_i(x_i)), [B]: the standard deviation of the
    ensemble mixture, averaged over dims (Lu et al., 2022, Table 1, "Ensemble Std").

    x = ``samples`` [M, B, D] (one sampled next state per member) if given, else the means
    (the expected form). Var_i is the population variance over active members (ddof 0).
    means, stds: [M, B, D]; mask: [M], default all members.
    """
    return jnp.mean(jnp.sqrt(_total_variance(means, stds, samples, mask)), axis=-1)


def ensemble_var(means: jax.Array, stds: jax.Array, *, samples: jax.Array | None = None,
                 mask: jax.Array | None = None) -> jax.Array:
    """Returns mean_d (mean_i sigma_i^2 + Var_i(x_i)), [B]: the variance of the ensemble
    mixture, averaged over dims (Lu et al., 2022, Table 1, "Ensemble Var").

    Same arguments as ``ensemble_std``.
    """
    return jnp.mean(_total_variance(means, stds, samples, mask), axis=-1)


def ll_var(means: jax.Array, stds: jax.Array, *, key: jax.Array | None = None,
           sample: jax.Array | None = None, mask: jax.Array | None = None) -> jax.Array:
    """Returns Var_i log N(s'; mu_i, diag sigma_i^2) over active members, [B] (LOMPO, Rafailov
    et al., L4DC 2021: the variance of the members' log-likelihoods of one next state).

    means, stds: [M, B, D]; mask: [M], default all members.
    sample: [B, D], the s' to score, in the frame of ``means`` (e.g. the transition a rollout
    took). Default: s' = mu_j + sigma_j * eps drawn with ``key`` from a member j chosen
    uniformly among the active ones, independently per batch element. One of ``sample`` and
    ``key`` is required. Var_i is the population variance (ddof 0).
    """
    _check(means, stds)
    num_members, batch = means.shape[:2]
    active = _active(mask, num_members)
    if sample is None:
        if key is None:
            raise ValueError("ll_var: pass `sample` [B, D] or a `key` to draw one from the "
                             "ensemble")
        member_key, noise_key = jax.random.split(key)
        logits = jnp.where(active, 0.0, -jnp.inf)
        member = jax.random.categorical(member_key, logits, shape=(batch,))
        rows = jnp.arange(batch)
        noise = jax.random.normal(noise_key, means.shape[1:], means.dtype)
        sample = means[member, rows] + stds[member, rows] * noise
    chex.assert_equal_shape([sample, means[0]])
    z = (sample[None] - means) / stds
    log_lik = -0.5 * jnp.sum(_LOG_2PI + 2.0 * jnp.log(stds) + jnp.square(z), axis=-1)  # [M, B]
    return _masked_moments(log_lik, active)[1]


def loo_kl(means: jax.Array, stds: jax.Array, *, member: jax.Array | None = None,
           mask: jax.Array | None = None) -> jax.Array:
    """Returns the leave-one-out KL(N(mu_a, sigma_a^2) || N(mu_-a, sigma_-a^2)), [B] (M2AC's
    one-vs-rest uncertainty, Pan et al., NeurIPS 2020).

    N(mu_-a, sigma_-a^2) merges the other active members by moment matching (per dim: mean of
    their means; mean of their variances plus the variance of their means); the KL of the
    diagonal Gaussians is summed over dims. Which a:
      * ``member`` [B] int given: a = member[b], M2AC's exact form, where a is the member whose
        sample the rollout used;
      * default: the max over active a, a worst case that, like max_aleatoric and
        max_pairwise_diff, does not depend on which member a rollout happened to draw.
    means, stds: [M, B, D]; mask: [M], default all members; needs two active members.
    """
    _check(means, stds)
    num_members = means.shape[0]
    active = _active(mask, num_members)
    # rest[a, i]: member i is active and is not a.
    rest = active[None, :] & ~jnp.eye(num_members, dtype=bool)
    w = rest.astype(means.dtype)[:, :, None, None]  # [M(a), M(i), 1, 1]
    n = jnp.maximum(jnp.sum(w, axis=1), 1.0)  # [M, 1, 1]
    rest_mean = jnp.sum(w * means[None], axis=1) / n  # [M, B, D]
    # Variance as mean sigma^2 + spread of the means: no cancellation of E[x^2] - E[x]^2.
    rest_var = (jnp.sum(w * jnp.square(stds[None]), axis=1)
                + jnp.sum(w * jnp.square(means[None] - rest_mean[:, None]), axis=1)) / n
    var_a = jnp.square(stds)
    kl = 0.5 * jnp.sum(jnp.log(rest_var) - jnp.log(var_a)
                       + (var_a + jnp.square(means - rest_mean)) / rest_var - 1.0, axis=-1)
    if member is not None:
        chex.assert_shape(member, (means.shape[1],))
        return kl[member, jnp.arange(means.shape[1])]
    # KL >= 0, so a zero in place of an inactive member never wins the max.
    return jnp.max(jnp.where(active[:, None], kl, 0.0), axis=0)


PENALTIES: tuple[str, ...] = (
    "max_aleatoric", "max_pairwise_diff", "ensemble_std", "ensemble_var", "ll_var", "loo_kl")

PENALTY_FUNCTIONS: dict[str, Callable[..., jax.Array]] = {
    "max_aleatoric": max_aleatoric, "max_pairwise_diff": max_pairwise_diff,
    "ensemble_std": ensemble_std, "ensemble_var": ensemble_var, "ll_var": ll_var,
    "loo_kl": loo_kl,
}

# The keyword options each penalty takes, so that penalty_by_index can hand each branch its own.
_OPTIONS: dict[str, frozenset[str]] = {
    name: frozenset(inspect.signature(fn).parameters) - {"means", "stds"}
    for name, fn in PENALTY_FUNCTIONS.items()
}


# The outputs of an (s', r) ensemble each penalty's definition uses (module docstring).
OUTPUT_DIMS: dict[str, str] = {
    "max_aleatoric": "state_and_reward", "max_pairwise_diff": "state", "ensemble_std": "state",
    "ensemble_var": "state", "ll_var": "state", "loo_kl": "state_and_reward",
}


def transition_penalty(index: jax.Array | int, means: jax.Array, stds: jax.Array, *,
                       sample: jax.Array, member: jax.Array,
                       mask: jax.Array | None = None) -> jax.Array:
    """Returns the penalty ``PENALTIES[index]`` of one model step, [B], for a traced ``index``:
    each penalty on the output dims ``OUTPUT_DIMS`` names, ``ll_var`` scoring ``sample`` (the
    transition taken) and ``loo_kl`` comparing ``member`` (its producer) with the rest.

    means, stds: [M, B, obs_dim + 1], the members' Gaussians over (s', r), reward last, in the
    frame of ``sample``; sample: [B, obs_dim + 1]; member: [B] int, the member each sample was
    drawn from (an active one); mask: [M], the members the penalty is taken over.
    """
    _check(means, stds)
    chex.assert_equal_shape([sample, means[0]])
    chex.assert_shape(member, (means.shape[1],))
    dims = {"state": slice(0, -1), "state_and_reward": slice(None)}

    def branch(name: str) -> Callable[[], jax.Array]:
        d = dims[OUTPUT_DIMS[name]]
        options = {"ll_var": dict(sample=sample[:, d]), "loo_kl": dict(member=member)}
        fn = PENALTY_FUNCTIONS[name]
        return lambda: fn(means[..., d], stds[..., d], mask=mask,
                          **options.get(name, {})).astype(means.dtype)

    return jax.lax.switch(index, [branch(name) for name in PENALTIES])


def penalty_by_index(index: jax.Array | int, means: jax.Array, stds: jax.Array,
                     **options: Any) -> jax.Array:
    """Returns the penalty ``PENALTIES[index]`` of the ensemble outputs, [B], for a traced
    integer ``index`` (``jax.lax.switch``: one compiled program for every penalty type).

    means, stds: [M, B, D]. ``options`` are the penalties' keyword options (mask, samples,
    sample, key, member); each penalty receives those it takes. Every branch is traced, so
    ``ll_var`` needs ``key`` or ``sample`` here whatever the index. An index outside
    [0, len(PENALTIES)) is clamped into it (``lax.switch`` semantics).
    """
    unknown = set(options) - set().union(*_OPTIONS.values())
    if unknown:
        raise TypeError(f"penalty_by_index: unknown options {sorted(unknown)}; the penalties "
                        f"take {sorted(set().union(*_OPTIONS.values()))}")

    def branch(name: str) -> Callable[[jax.Array, jax.Array], jax.Array]:
        own = {k: v for k, v in options.items() if k in _OPTIONS[name]}
        return lambda m, s: PENALTY_FUNCTIONS[name](m, s, **own).astype(means.dtype)

    return jax.lax.switch(index, [branch(name) for name in PENALTIES], means, stds)
