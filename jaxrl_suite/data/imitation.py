"""Offline imitation data: an unlabelled offline mixture and a few expert demonstrations, as
one Dataset (Dual RL's setting; Sikchi et al., 2024, Section 6.1, following SMODICE).

The authors' code (hari-sikchi/ReCOIL ``dataset_utils.py::D4RLMixedDataset`` and the imitation
training script's ``make_env_and_dataset``) builds it from two D4RL datasets:
  offline mixture = every transition of the offline dataset (random or medium), then the first
                    N trajectories of the expert dataset (N = 200; walker2d 100, "following
                    protocol from the SMODICE paper");
  demonstrations  = the first 1,000 transitions of the expert dataset (K = 1 trajectory),
so the demonstrations are also part of the mixture. ``imitation_mixture`` builds exactly that
from any two suite datasets and records where the demonstrations lie
(``meta.info["demonstrations"]``: transitions [start, stop) and the composition), so one
Dataset flows through loading, fingerprints, sweeps and the compiled loop unchanged. Imitation
learners (``Learner.imitation``) draw each update's offline batch from all transitions and its
expert batch from [start, stop); ``train`` hands them the data with zeroed rewards.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from jaxrl_suite.data import validate
from jaxrl_suite.data.dataset import Dataset, concatenate

INFO_KEY = "demonstrations"


def imitation_mixture(offline: Dataset, expert: Dataset, mixed_expert_episodes: int = 200,
                      demo_episodes: int = 1) -> Dataset:
    """Returns the offline mixture (``offline`` then the first ``mixed_expert_episodes``
    episodes of ``expert``) with the first ``demo_episodes`` expert episodes marked as the
    demonstrations. The env, spaces and reference returns are ``offline``'s.

    Raises DatasetError when the two datasets differ in env or spaces, when ``expert`` has
    fewer episodes than asked for, or when ``demo_episodes`` is not in [1, mixed]."""
    where = expert.meta.source
    if not 1 <= demo_episodes <= mixed_expert_episodes:
        validate.fail(where, "demo_episodes", f"1 <= demo_episodes <= mixed_expert_episodes "
                      f"({mixed_expert_episodes}): the demonstrations are expert episodes of "
                      "the mixture", str(demo_episodes))
    if expert.num_episodes < mixed_expert_episodes:
        validate.fail(where, "episodes", f">= {mixed_expert_episodes} expert episodes to mix "
                      "into the offline data", str(expert.num_episodes))
    for field in ("env_id", "observation_shape", "discrete", "num_actions", "action_dim"):
        a, b = getattr(offline.meta, field), getattr(expert.meta, field)
        if a != b:
            validate.fail(where, field, f"the offline dataset's ({offline.meta.source}): {a}",
                          str(b))
    mixed = expert.select_episodes(np.arange(mixed_expert_episodes))
    start = offline.num_transitions
    stop = start + int(np.sum(np.asarray(expert.episode_lengths)[:demo_episodes]))
    meta = offline.meta.with_info(**{INFO_KEY: dict(
        start=start, stop=stop, episodes=demo_episodes,
        mixed_expert_episodes=mixed_expert_episodes, offline_source=offline.meta.source,
        expert_source=expert.meta.source)})
    return concatenate([offline, mixed], meta=meta)


def demonstration_range(dataset: Dataset) -> tuple[int, int] | None:
    """Returns the demonstrations' transitions [start, stop) of an imitation mixture, or None
    for a dataset that has none. Raises DatasetError on a range outside the data."""
    info = dataset.meta.info_dict().get(INFO_KEY)
    if info is None:
        return None
    start, stop = int(info["start"]), int(info["stop"])
    if not 0 <= start < stop <= dataset.num_transitions:
        validate.fail(dataset.meta.source, f"info.{INFO_KEY}",
                      f"0 <= start < stop <= {dataset.num_transitions} transitions",
                      f"start {start}, stop {stop}")
    return start, stop


def demonstrations(dataset: Dataset) -> Dataset:
    """Returns the demonstrations of an imitation mixture as a Dataset of their own (e.g. for
    BC on the demonstrations). Raises DatasetError when ``dataset`` has none."""
    bounds = demonstration_range(dataset)
    if bounds is None:
        validate.fail(dataset.meta.source, f"info.{INFO_KEY}", "an imitation mixture "
                      "(data.imitation.imitation_mixture)", "a dataset without demonstrations")
    ids = np.unique(np.asarray(dataset.episode_ids)[bounds[0]:bounds[1]])
    info: dict[str, Any] = {k: v for k, v in dataset.meta.info_dict().items() if k != INFO_KEY}
    meta = dataset.meta.replace(info=()).with_info(**info, demonstrations_of=dataset.meta.source)
    return dataset.replace(meta=meta).select_episodes(ids)
