"""Behaviour-policy rollouts -> Datasets: many envs step in parallel inside one jit.

Streams of transitions from ``jaxrl_suite.envs.rollout`` ([T, N]: time x parallel envs) are
turned into a Dataset with whole episodes, env by env, on the host with array operations (no
Python loop over transitions).
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import numpy as np

from jaxrl_suite.data.dataset import Dataset, DatasetMeta, from_arrays
from jaxrl_suite.data.validate import fail
from jaxrl_suite.envs.base import EnvSpec, JaxEnv
from jaxrl_suite.envs.evaluate import PolicyFn
from jaxrl_suite.envs.rollout import Transition, init_rollout, rollout


def meta_for(spec: EnvSpec, **info: Any) -> DatasetMeta:
    """Returns the DatasetMeta of data collected in the env ``spec`` (recipe facts in info)."""
    meta = DatasetMeta(
        env_id=spec.name,
        observation_shape=spec.observation_shape,
        discrete=spec.discrete,
        num_actions=spec.num_actions,
        action_dim=spec.action_dim,
        action_low=spec.action_low,
        action_high=spec.action_high,
        ref_min_score=spec.ref_min_score,
        ref_max_score=spec.ref_max_score,
    )
    return meta.with_info(**info) if info else meta


def stream_to_dataset(
    transitions: Transition,
    meta: DatasetMeta,
    *,
    num_transitions: int | None = None,
    keep_unfinished: bool = False,
) -> Dataset:
    """Returns a Dataset of the episodes in a stream of transitions [T] or [T, N].

    Episodes are laid out env by env, in time order. An env's unfinished last episode is
    dropped, or, with ``keep_unfinished``, kept with a timeout flag on its last transition (the
    collection stopped there; its true next observation is recorded, so bootstrapping is
    valid). With ``num_transitions``, the first that many transitions are kept and the episode
    cut there ends with a timeout flag.

    Inside an episode ``next_observations[t]`` is set to ``observations[t + 1]``: the same
    state, but XLA may round the two copies differently in the last bit, and a dataset must
    chain exactly (Minari stores an episode as one observation sequence). At episode ends the
    true next observation is kept.
    """
    tr = jax.tree.map(np.asarray, transitions)
    if tr.reward.ndim == 1:
        tr = jax.tree.map(lambda x: x[:, None], tr)
    # [T, N, ...] -> [N, T, ...]: each env's stream is contiguous.
    tr = jax.tree.map(lambda x: np.swapaxes(x, 0, 1), tr)
    num_envs, num_steps = tr.reward.shape
    ends = tr.terminated | tr.truncated  # [N, T]
    t_idx = np.arange(num_steps)
    last_end = np.where(ends.any(axis=1), num_steps - 1 - np.argmax(ends[:, ::-1], axis=1), -1)
    keep_until = np.full((num_envs,), num_steps - 1) if keep_unfinished else last_end
    keep = t_idx[None, :] <= keep_until[:, None]
    timeouts = tr.truncated.copy()
    if keep_unfinished:
        timeouts[:, -1] |= ~ends[:, -1]
    flat = lambda x: x.reshape((num_envs * num_steps,) + x.shape[2:])[keep.reshape(-1)]
    arrays = dict(
        observations=flat(tr.obs),
        actions=flat(tr.action),
        rewards=flat(tr.reward),
        next_observations=flat(tr.next_obs),
        terminals=flat(tr.terminated),
        timeouts=flat(timeouts),
    )
    n = arrays["rewards"].shape[0]
    if num_transitions is not None:
        if n < num_transitions:
            fail(meta.source, "num_transitions", f"at most {n} (whole episodes collected)",
                 str(num_transitions))
        arrays = {k: v[:num_transitions] for k, v in arrays.items()}
        cut = arrays["terminals"][-1] | arrays["timeouts"][-1]
        arrays["timeouts"][-1] |= ~cut
        n = num_transitions
    ends_flat = arrays["terminals"] | arrays["timeouts"]
    inside = ~ends_flat[:-1]
    arrays["next_observations"][:-1][inside] = arrays["observations"][1:][inside]
    return from_arrays(**arrays, meta=meta)


@functools.partial(jax.jit, static_argnames=("env", "policy_fn", "num_envs", "num_steps"))
def _run(env, policy_fn, params, key, num_envs, num_steps):
    reset_key, run_key = jax.random.split(key)
    state = init_rollout(env, reset_key, num_envs)
    _, transitions, _ = rollout(env, policy_fn, params, state, run_key, num_steps,
                               with_stats=False)
    return transitions


def collect(
    env: Any,
    policy_fn: PolicyFn,
    params: Any,
    key: jax.Array,
    num_transitions: int,
    *,
    num_envs: int = 64,
    meta: DatasetMeta | None = None,
) -> Dataset:
    """Returns a Dataset of exactly ``num_transitions`` transitions of ``policy_fn`` in ``env``.

    ``num_envs`` envs step in parallel in one jitted scan, long enough that whole episodes
    cover ``num_transitions``; the episode cut at the end gets a timeout flag. ``env`` may also
    be a host env with its own ``collect`` (``envs.host_eval.HostEvaluator``: C MuJoCo).
    """
    if not isinstance(env, JaxEnv):
        return env.collect(policy_fn, params, key, num_transitions, meta=meta)
    num_envs = max(1, min(num_envs, num_transitions))
    # Each env yields at least steps - max_episode_steps transitions of whole episodes.
    num_steps = -(-num_transitions // num_envs) + env.spec.max_episode_steps
    transitions = _run(env, policy_fn, params, key, num_envs, num_steps)
    return stream_to_dataset(
        transitions, meta or meta_for(env.spec), num_transitions=num_transitions)
