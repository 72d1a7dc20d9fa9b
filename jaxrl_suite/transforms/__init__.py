"""Vectorised data transforms: dataset quality (TQ, SACo), trajectory reweighting (RW/AW),
proxy action labels (inverse dynamics) and observation histories."""

from jaxrl_suite.transforms.history import history_windows, stack_observation_history
from jaxrl_suite.transforms.labels import labelled_split, proxy_label_actions
from jaxrl_suite.transforms.quality import (
    state_action_coverage,
    trajectory_quality,
    unique_state_actions,
)
from jaxrl_suite.transforms.reweight import (
    SAMPLING_SCHEMES,
    advantage_weighted_probs,
    return_weighted_probs,
    sampling_probs,
    top_fraction_probs,
    top_trajectories,
)

__all__ = [
    "SAMPLING_SCHEMES",
    "advantage_weighted_probs",
    "history_windows",
    "labelled_split",
    "proxy_label_actions",
    "return_weighted_probs",
    "sampling_probs",
    "stack_observation_history",
    "state_action_coverage",
    "top_fraction_probs",
    "top_trajectories",
    "trajectory_quality",
    "unique_state_actions",
]
