"""Trajectory-weighted sampling of "Harnessing Mixed Offline RL Datasets via Trajectory
Weighting" (Hong et al., ICLR 2023): return-weighted (RW), advantage-weighted (AW) and top-K%.

Each function returns per-transition sampling probabilities [N] (summing to 1), jittable with a
traced temperature, ready for ``jaxrl_suite.data.sampling.weighted_table``. Definitions follow
the authors' code (Improbable-AI/harness-offline-rl, ``implicit_q_learning/dataset_utils.py``
``RW``/``AW``/``TopK``): weights are given per transition and normalised over *all transitions*,
so a trajectory's total mass is proportional to its length times exp(weight / temperature).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl_suite.data.dataset import Dataset
from jaxrl_suite.data.validate import fail
from jaxrl_suite.errors import SuiteError

RW_TEMPERATURE = 0.1  # Hong et al.: alpha = 0.1 in the IQL and TD3+BC scripts (0.2 for CQL)
AW_TEMPERATURE = 0.1


def _min_max(x: jax.Array, scale: jax.Array) -> jax.Array:
    """Returns x scaled to [0, 1]; all zeros when x is constant (the authors' code divides 0/0).

    "Constant" means a spread below float32 round-off of ``scale`` (the returns' magnitude):
    a least-squares residual of tied returns is rounding noise, not an advantage to amplify.
    """
    span = jnp.max(x) - jnp.min(x)
    varies = span > 1e-5 * (scale + 1e-30)
    return jnp.where(varies, (x - jnp.min(x)) / jnp.where(varies, span, 1.0), 0.0)


def _softmax_over_transitions(dataset: Dataset, episode_scores: jax.Array,
                              temperature: jax.Array) -> jax.Array:
    logits = dataset.episode_of(episode_scores) / temperature
    return jax.nn.softmax(logits)


def return_weighted_probs(dataset: Dataset,
                          temperature: jax.Array | float = RW_TEMPERATURE) -> jax.Array:
    """Returns RW probabilities [N]: p_t ∝ exp(Ĝ_i / α), Ĝ = min-max normalised return (Eq. 4)."""
    returns = dataset.episode_returns()
    return _softmax_over_transitions(dataset, _min_max(returns, jnp.max(jnp.abs(returns))),
                                     temperature)


def initial_state_value_fit(dataset: Dataset) -> jax.Array:
    """Returns V̂(s_0) per episode [E]: least squares (with intercept) of G_i on s_{i,0}.

    As the authors' AW: ``LinearRegression().fit(s0s, ep_rets).predict(s0s)``.
    """
    s0 = dataset.observations[dataset.episode_starts].reshape(dataset.num_episodes, -1)
    design = jnp.concatenate([s0, jnp.ones((dataset.num_episodes, 1), s0.dtype)], axis=1)
    coef, *_ = jnp.linalg.lstsq(design, dataset.episode_returns())
    return design @ coef


def advantage_weighted_probs(dataset: Dataset,
                             temperature: jax.Array | float = AW_TEMPERATURE) -> jax.Array:
    """Returns AW probabilities [N]: p_t ∝ exp(Â_i / α), A_i = G_i - V̂(s_{i,0}) min-max scaled."""
    returns = dataset.episode_returns()
    advantages = returns - initial_state_value_fit(dataset)
    return _softmax_over_transitions(
        dataset, _min_max(advantages, jnp.max(jnp.abs(returns))), temperature)


def top_fraction_probs(dataset: Dataset, fraction: float = 0.1) -> jax.Array:
    """Returns probabilities [N] uniform over the transitions of the top ``fraction`` of
    trajectories by return (the paper's "top-10%" baseline; ``fraction`` is static)."""
    num_top = max(1, int(dataset.num_episodes * fraction))
    returns = dataset.episode_returns()
    top = jnp.zeros(dataset.num_episodes, bool).at[jnp.argsort(-returns)[:num_top]].set(True)
    w = dataset.episode_of(top).astype(jnp.float32)
    return w / jnp.sum(w)


def top_trajectories(dataset: Dataset, fraction: float) -> Dataset:
    """Returns the dataset of the episodes that ``top_fraction_probs`` keeps (the top
    ``fraction`` by return, at least one): the data of filtered BC ("%BC", Chen et al. 2021;
    the filtered-BC baseline of Hong, Dragan & Levine, ICLR 2024). Host-side; ``meta.info``
    records ``top_fraction``."""
    if not 0.0 < float(fraction) <= 1.0:
        fail(dataset.meta.source, "fraction", "a fraction in (0, 1]", repr(fraction))
    kept = np.asarray(top_fraction_probs(dataset, float(fraction)))[
        np.asarray(dataset.episode_starts)] > 0
    out = dataset.select_episodes(np.flatnonzero(kept))
    return out.replace(meta=out.meta.with_info(top_fraction=float(fraction)))


SAMPLING_SCHEMES = ("uniform", "rw", "aw")


def trajectory_scores(dataset: Dataset, scheme: str) -> jax.Array:
    """Returns the per-episode scores [E] in [0, 1] that RW ("rw": normalised return) or AW
    ("aw": normalised advantage) exponentiate; independent of the temperature."""
    returns = dataset.episode_returns()
    if scheme == "rw":
        return _min_max(returns, jnp.max(jnp.abs(returns)))
    if scheme == "aw":
        return _min_max(returns - initial_state_value_fit(dataset), jnp.max(jnp.abs(returns)))
    raise SuiteError(f"flag '--sampling': expected 'rw' or 'aw' for trajectory scores, "
                     f"found '{scheme}'")


def trajectory_sampling_mass(dataset: Dataset, scores: jax.Array,
                             temperature: jax.Array | float) -> jax.Array:
    """Returns each episode's total sampling mass [E] (summing to 1): the sum over its
    transitions of ``sampling_probs``, i.e. softmax_i(log len_i + score_i / temperature).

    Drawing an episode with this mass and then a transition uniformly inside it is exactly
    per-transition RW/AW sampling, with a table of E entries instead of N (so a traced
    temperature per vmapped cell costs [E] per cell, not [N]).
    """
    logits = jnp.log(dataset.episode_lengths.astype(jnp.float32)) + scores / temperature
    return jax.nn.softmax(logits)


def sampling_probs(dataset: Dataset, scheme: str,
                   temperature: jax.Array | float | None = None) -> jax.Array:
    """Returns per-transition sampling probabilities [N] for ``--sampling=uniform|rw|aw``.

    The scheme is static (it picks code); the temperature may be traced (a swept
    hyperparameter), defaulting to the paper's 0.1. Feed the result to
    ``jaxrl_suite.data.sampling.weighted_table`` so that any learner samples with it.
    """
    if scheme not in SAMPLING_SCHEMES:
        raise SuiteError(f"flag '--sampling': expected one of {SAMPLING_SCHEMES}, "
                         f"found '{scheme}'")
    if scheme == "uniform":
        return jnp.full((dataset.num_transitions,), 1.0 / dataset.num_transitions)
    if scheme == "rw":
        return return_weighted_probs(dataset, RW_TEMPERATURE if temperature is None
                                     else temperature)
    return advantage_weighted_probs(dataset, AW_TEMPERATURE if temperature is None
                                    else temperature)
