"""Behaviour recipes: the five datasets of "A Dataset Perspective on Offline RL" (Schweighofer
et al., 2022) and the mixed-quality datasets of "Harnessing Mixed Offline RL Datasets via
Trajectory Weighting" (Hong et al., 2023). Each records its parameters in ``meta.info``.

``env`` is a JaxEnv or a host ``HostEvaluator`` (C MuJoCo); ``collect`` serves both.

Schweighofer et al. (ml-jku/OfflineRL ``source/train_online.py``), each with as many
transitions as the online run:
  random  uniform random actions
  expert  the online policy, greedy ("fully" in their code)
  noisy   the same policy, epsilon-greedy with epsilon = 0.2
  mixed   80% random + 20% expert transitions (their ``ReplayBuffer.mix(p_orig=0.8)``)
  replay  every transition the online learner saw ("er")
Hong et al. (williamd4112/suboptimal_offline_datasets): whole trajectories from a high-return
source until more than sigma * N transitions, then low-return trajectories until more than N.

D4RL's MuJoCo recipes (Fu et al., 2020; Farama-Foundation/D4RL
``scripts/generation/mujoco/collect_data.py`` and ``stitch_dataset.py`` at b92efad^), built
from one online SAC run:
  random         uniform random actions (collect_data.py:64-66, ``env.action_space.sample()``)
  medium         a snapshot of the run at about a third of the expert's return, its actions
                 *sampled* from the tanh-Gaussian (collect_data.py:68-71, ``distr.sample()``)
  medium-replay  the run's replay stream up to that snapshot (convert_buffer.py: the rlkit
                 replay buffer of the run that produced the medium policy)
  medium-expert  the medium dataset's whole episodes, then the expert's (stitch_dataset.py:
                 file 1 cut after its last episode end, file 2 appended)
  expert         the expert's sampled actions, as medium
"""

from __future__ import annotations

import jax
import numpy as np

from typing import Any

from jaxrl_suite.data.dataset import Dataset, concatenate, from_arrays
from jaxrl_suite.envs.evaluate import random_policy
from jaxrl_suite.generate.collect import collect, meta_for
from jaxrl_suite.generate.experts import OnlineRun, Snapshot, epsilon_mixture

RECIPES = ("random", "expert", "noisy", "mixed", "replay")
D4RL_RECIPES = ("random", "medium", "medium-replay", "medium-expert", "expert")
MEDIUM_FRACTION = 1.0 / 3.0  # D4RL: "medium" is a policy at about 1/3 of the expert's return
NOISY_EPSILON = 0.2  # Schweighofer et al.: agent.eval_eps = 0.2
MIXED_RANDOM_SHARE = 0.8  # Schweighofer et al.: random_buffer.mix(final_policy_buffer, 0.8)
MIXED_SIGMAS = (0.01, 0.05, 0.1, 0.5)  # Hong et al.: share of high-return transitions


def with_refs(meta, run: OnlineRun | None, ref_min: float | None):
    """Returns ``meta`` with the random return as ref_min and the run's expert as ref_max."""
    updates = {}
    if ref_min is not None:
        updates["ref_min_score"] = ref_min
    if run is not None:
        updates["ref_max_score"] = run.expert_return
    return meta.replace(**updates)


def random_dataset(env: Any, key: jax.Array, num_transitions: int, *,
                   run: OnlineRun | None = None, ref_min: float | None = None) -> Dataset:
    """Returns ``num_transitions`` transitions of the uniform random policy."""
    meta = with_refs(meta_for(env.spec, recipe="random"), run, ref_min)
    return collect(env, random_policy(env.spec), None, key, num_transitions, meta=meta)


def expert_dataset(env: Any, run: OnlineRun, key: jax.Array, num_transitions: int, *,
                   ref_min: float | None = None) -> Dataset:
    """Returns ``num_transitions`` transitions of the online run's greedy expert."""
    meta = with_refs(meta_for(env.spec, recipe="expert"), run, ref_min)
    return collect(env, run.expert_policy, run.expert_params, key, num_transitions, meta=meta)


def noisy_dataset(env: Any, run: OnlineRun, key: jax.Array, num_transitions: int, *,
                  epsilon: float = NOISY_EPSILON, ref_min: float | None = None) -> Dataset:
    """Returns transitions of the expert acting uniformly at random with prob. ``epsilon``."""
    meta = with_refs(meta_for(env.spec, recipe="noisy", epsilon=epsilon), run, ref_min)
    policy = epsilon_mixture(run.expert_policy, env.spec, epsilon)
    return collect(env, policy, run.expert_params, key, num_transitions, meta=meta)


def mixed_dataset(env: Any, run: OnlineRun, key: jax.Array, num_transitions: int, *,
                  random_share: float = MIXED_RANDOM_SHARE,
                  ref_min: float | None = None) -> Dataset:
    """Returns ``random_share`` random transitions followed by expert ones, N in total.

    As the authors' ``mix``: the first int(N * share) transitions of a random dataset, then the
    rest from an expert dataset; each part is whole episodes with the cut one ending in a
    timeout (their buffers cut mid-episode with no flag at all).
    """
    num_random = int(num_transitions * random_share)
    random_key, expert_key = jax.random.split(key)
    meta = with_refs(meta_for(env.spec, recipe="mixed", random_share=random_share), run,
                      ref_min)
    parts = []
    if num_random > 0:
        parts.append(collect(env, random_policy(env.spec), None, random_key, num_random))
    if num_transitions - num_random > 0:
        parts.append(collect(env, run.expert_policy, run.expert_params, expert_key,
                             num_transitions - num_random))
    return concatenate(parts, meta=meta)


def replay_dataset(run: OnlineRun, *, ref_min: float | None = None) -> Dataset:
    """Returns every transition the online learner saw, in order."""
    meta = with_refs(run.replay.meta.with_info(recipe="replay"), run, ref_min)
    return run.replay.replace(meta=meta)


def mixed_quality_dataset(high: Dataset, low: Dataset, sigma: float,
                          num_transitions: int) -> Dataset:
    """Returns Hong et al.'s mixed dataset: whole ``high`` trajectories until more than
    sigma * N transitions, then whole ``low`` trajectories until more than N.

    As ``suboptimal_offline_datasets``: the last trajectory of each part is kept whole, so the
    shares are "just above" sigma and the total just above N.
    """
    if not 0.0 <= sigma <= 1.0:
        raise ValueError(f"mixed_quality_dataset: sigma must be in [0, 1], found {sigma}")

    def first_episodes_exceeding(ds: Dataset, budget: float) -> np.ndarray:
        if budget <= 0:
            return np.zeros((0,), np.int64)
        cum = np.cumsum(np.asarray(ds.episode_lengths))
        count = int(np.searchsorted(cum, budget, side="right")) + 1
        if count > ds.num_episodes:
            raise ValueError(
                f"mixed_quality_dataset: source '{ds.meta.info_dict().get('recipe')}' has "
                f"{int(cum[-1])} transitions, fewer than the {budget:.0f} needed")
        return np.arange(count)

    high_idx = first_episodes_exceeding(high, sigma * num_transitions)
    num_high = int(np.asarray(high.episode_lengths)[high_idx].sum())
    low_idx = first_episodes_exceeding(low, num_transitions - num_high)
    parts = [ds.select_episodes(idx) for ds, idx in ((high, high_idx), (low, low_idx))
             if idx.size]
    meta = low.meta.with_info(
        recipe="mixed_quality", sigma=sigma, high_source=high.meta.info_dict().get("recipe"),
        low_source=low.meta.info_dict().get("recipe"), num_high_transitions=num_high)
    return concatenate(parts, meta=meta)


def expert_snapshot(run: OnlineRun) -> Snapshot:
    """Returns the run's best-evaluated snapshot (the expert), the earliest on ties."""
    return max(run.snapshots, key=lambda s: (s.eval_return, -s.step))


def medium_snapshot(run: OnlineRun, fraction: float = MEDIUM_FRACTION) -> Snapshot:
    """Returns the run's evaluated policy whose evaluation return is closest to ``fraction``
    of the expert's return (D4RL's medium policy), the earliest on ties."""
    if not run.snapshots:
        raise ValueError("medium_snapshot: the online run kept no snapshots")
    target = fraction * run.expert_return
    return min(run.snapshots, key=lambda s: (abs(s.eval_return - target), s.step))


def first_transitions(ds: Dataset, num_transitions: int, meta=None) -> Dataset:
    """Returns the first ``num_transitions`` transitions of ``ds``; the episode cut there ends
    with a timeout flag (its true next observation is kept)."""
    arrays = {k: v[:num_transitions].copy() for k, v in ds.to_numpy().items()}
    arrays["timeouts"][-1] |= ~arrays["terminals"][-1]
    return from_arrays(**arrays, meta=meta or ds.meta)
