"""Host-side evaluation of a batch of policies in C-MuJoCo gymnasium envs, for ``train``.

``HostEvaluator`` keeps one gymnasium env per (cell, episode) slot, built on first use and
reused across evaluations. Each step makes ONE jitted call of the policy vmapped over cells
(observations ``[cells, episodes, *obs_shape]``), then steps only the slots whose episode is
still running: unlike a gymnasium vector env, a finished episode costs nothing more (no
autoreset steps), which matters for Hopper/Walker2d, whose episodes end at very different
times. Every slot runs exactly one episode per evaluation, so no episode is chosen by its
finishing order. Each env is wrapped as ``gymnasium.make`` wraps it (TimeLimit etc.), so
time limits and termination are gymnasium's own.

An evaluation of more slots than ``max_slots`` (a final evaluation of 1,000 episodes per cell;
each C-MuJoCo env holds about 1 MB) runs in rounds of episodes, all cells in each: slot (c, e)
is still reset with seed ``seed_c + e``, so a deterministic policy's returns do not depend on
how the episodes were split; only the policy's key is folded with the round number.

A ``RecurrentPolicy`` (``envs/evaluate.py``) keeps its carry per (cell, episode) slot on the
device, from ``initial_carry`` at each round's start, and sees each slot's observation with its
previous action and reward appended; its one jitted call per step returns the actions and the
new carries of every slot.

A cell marked inactive (e.g. diverged during training) is not stepped and scores NaN; an
episode whose policy emits a non-finite action ends there and scores NaN (never a silent
zero action).

``collect`` runs the same loop for one policy and records its transitions as a Dataset (the
suite's host-side dataset generation for MuJoCo envs on a CPU).
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import numpy as np

from jaxrl_suite.data.dataset import Dataset, DatasetMeta, from_arrays
from jaxrl_suite.envs.base import EnvSpec
from jaxrl_suite.envs.evaluate import PolicyFn, RecurrentPolicy, previous_action_reward
from jaxrl_suite.envs.gymnasium_env import (
    GYMNASIUM_PREFIX,
    _import_gymnasium,
    _make_checked,
    gymnasium_spec_of,
)
from jaxrl_suite.errors import EnvError

# policy_fn(params, obs [episodes, *obs_shape], key) -> actions [episodes, action_dim]
CellPolicyFn = Callable[[Any, jax.Array, jax.Array], jax.Array]


class HostEvaluator:
    """Evaluates ``cells`` policies x ``episodes`` episodes in gymnasium's ``name``."""

    def __init__(self, name: str, *, max_slots: int = 1024, chunk: int = 1,
                 **make_kwargs: Any):
        if max_slots < 1:
            raise EnvError(f"host evaluation: max_slots: expected >= 1, found {max_slots}")
        if chunk < 1:
            raise EnvError(f"host evaluation: chunk: expected >= 1, found {chunk}")
        self.max_slots = int(max_slots)
        # Action chunks: the policy returns chunk x action_dim values per call, executed open
        # loop over the next ``chunk`` steps (Q-chunking's evaluation), then asked again.
        self.chunk = int(chunk)
        gym = _import_gymnasium()
        self.env_id = name[len(GYMNASIUM_PREFIX):] if name.startswith(GYMNASIUM_PREFIX) else name
        self._make = lambda: _make_checked(self.env_id,
                                           lambda: gym.make(self.env_id, **make_kwargs))
        first = self._make()
        self.spec: EnvSpec = gymnasium_spec_of(self.env_id, first)
        if self.spec.discrete:
            raise EnvError(f"host evaluation: {name}: discrete action spaces are evaluated in "
                           "their JAX envs; expected a continuous (Box) action space")
        space = first.action_space
        self._low = np.asarray(space.low, space.dtype)
        self._high = np.asarray(space.high, space.dtype)
        self._dtype = space.dtype
        self._envs: list[Any] = [first]
        self._policies: dict[Any, tuple] = {}

    def _slots(self, n: int) -> list[Any]:
        while len(self._envs) < n:
            self._envs.append(self._make())
        return self._envs[:n]

    def _initial_carry(self, policy_fn: RecurrentPolicy) -> Callable:
        """Returns initial_carry(params [S], E) -> carry [S, E, ...], compiled once per policy."""
        key = ("carry", id(policy_fn))
        if key not in self._policies:
            self._policies[key] = (policy_fn, jax.jit(
                jax.vmap(policy_fn.initial_carry, in_axes=(0, None)), static_argnums=1))
        return self._policies[key][1]

    def _policy(self, policy_fn: CellPolicyFn | RecurrentPolicy) -> Callable:
        """Returns policy(params [S], obs [S, E, ...], keys [S], t) -> actions [S, E, ...]:
        one compiled call per step (step keys folded in inside), per policy_fn object. For a
        RecurrentPolicy: policy(params, obs, keys, t, carry [S, E, ...]) -> (actions, carry),
        and ``initial_carry(params, E)`` on its own compiled call."""
        if isinstance(policy_fn, RecurrentPolicy):
            def step_policy(params, obs, keys, t, carry):
                step_keys = jax.vmap(jax.random.fold_in, in_axes=(0, None))(keys, t)
                return jax.vmap(policy_fn.step)(params, obs, step_keys, carry)
        else:
            def step_policy(params, obs, keys, t):
                step_keys = jax.vmap(jax.random.fold_in, in_axes=(0, None))(keys, t)
                return jax.vmap(policy_fn)(params, obs, step_keys)

        if id(policy_fn) not in self._policies:  # the fn is kept alive, so its id stays unique
            self._policies[id(policy_fn)] = (policy_fn, jax.jit(step_policy))
        return self._policies[id(policy_fn)][1]

    def evaluate(self, policy_fn: CellPolicyFn, params: Any, keys: jax.Array,
                 num_episodes: int, active: np.ndarray | None = None) -> np.ndarray:
        """Returns the undiscounted returns [cells, num_episodes] (float32) of each cell's
        policy (``params`` and ``keys`` carry a leading [cells] axis).

        Slot (c, e) is reset with seed ``seed_c + e``, where ``seed_c`` is drawn from cell c's
        key, so one key reproduces a cell's returns whatever the other cells are. More than
        ``max_slots`` slots run in rounds of episodes (the module docstring)."""
        num_episodes = int(num_episodes)
        seeds, policy_keys = _cell_streams(keys, num_episodes)
        per_round = max(1, min(num_episodes, self.max_slots // max(1, len(seeds))))
        rounds = []
        for r, first in enumerate(range(0, num_episodes, per_round)):
            round_keys = policy_keys if r == 0 else jax.vmap(
                jax.random.fold_in, in_axes=(0, None))(policy_keys, r)
            rounds.append(self._run(policy_fn, params, seeds + first, round_keys,
                                    min(per_round, num_episodes - first), active, None))
        return np.concatenate(rounds, axis=1)

    def collect(self, policy_fn: PolicyFn, params: Any, key: jax.Array, num_transitions: int,
                *, num_envs: int = 32, meta: DatasetMeta | None = None) -> Dataset:
        """Returns a Dataset of exactly ``num_transitions`` transitions of one policy
        (``policy_fn(params, obs [E, ...], key)``, unbatched params), whole episodes in rounds
        of ``num_envs`` parallel episodes; the episode cut at the end gets a timeout flag.
        Observations are float32, actions the clipped ones the env received."""
        if num_transitions < 1:
            raise EnvError(f"host collection: num_transitions must be >= 1, found "
                           f"{num_transitions}")
        num_envs = max(1, min(int(num_envs), int(num_transitions)))
        params = jax.tree.map(lambda x: np.asarray(x)[None], params)
        episodes: list[dict[str, np.ndarray]] = []
        total, round_index = 0, 0
        while total < num_transitions:
            recorder = _Recorder(num_envs)
            seeds, policy_keys = _cell_streams(jax.random.fold_in(key, round_index)[None],
                                               num_envs)
            self._run(policy_fn, params, seeds, policy_keys, num_envs, None, recorder)
            for episode in recorder.episodes():
                episodes.append(episode)
                total += len(episode["rewards"])
            round_index += 1
        arrays = {k: np.concatenate([e[k] for e in episodes])[:num_transitions]
                  for k in episodes[0]}
        arrays["timeouts"][-1] |= ~arrays["terminals"][-1]
        if meta is None:
            from jaxrl_suite.generate.collect import meta_for

            meta = meta_for(self.spec)
        return from_arrays(**arrays, meta=meta)

    def _run(self, policy_fn, params, seeds, policy_keys, num_episodes, active,
             recorder) -> np.ndarray:
        # seeds [cells]: slot (c, e) resets with seeds[c] + e; policy_keys [cells].
        num_cells, num_episodes = len(seeds), int(num_episodes)
        active = np.ones(num_cells, bool) if active is None else np.asarray(active, bool)
        policy = self._policy(policy_fn)
        recurrent = isinstance(policy_fn, RecurrentPolicy)
        if recurrent:
            if self.chunk != 1:
                raise EnvError("host evaluation: a RecurrentPolicy needs chunk 1")
            carry = self._initial_carry(policy_fn)(params, num_episodes)
            prev_action = np.zeros((num_cells, num_episodes, self.spec.action_dim), np.float32)
            prev_reward = np.zeros((num_cells, num_episodes), np.float32)
        envs = self._slots(num_cells * num_episodes)
        obs = np.zeros((num_cells, num_episodes) + self.spec.observation_shape, np.float32)
        running = np.repeat(active[:, None], num_episodes, axis=1)
        returns = np.where(running, 0.0, np.nan)
        for c in np.flatnonzero(active):
            for e in range(num_episodes):
                slot = c * num_episodes + e
                obs[c, e] = self._reset_slot(envs[slot], int(seeds[c]) + e, slot, e)
        t = 0
        expected = (num_cells, num_episodes, self.chunk * self.spec.action_dim)
        while running.any():
            if t > self.spec.max_episode_steps:
                raise EnvError(f"host evaluation: {self.spec.name}: episodes did not end "
                               f"within the time limit ({self.spec.max_episode_steps} steps)")
            if recurrent:
                inputs = previous_action_reward(
                    obs.reshape(num_cells * num_episodes, -1),
                    prev_action.reshape(num_cells * num_episodes, -1), prev_reward.reshape(-1))
                plan, carry = policy(params, inputs.reshape(num_cells, num_episodes, -1),
                                     policy_keys, np.int32(t), carry)
                plan = np.asarray(plan)
            elif t % self.chunk == 0:  # every slot steps in lockstep: one call per chunk
                plan = np.asarray(policy(params, obs, policy_keys, np.int32(t)))
            if t % self.chunk == 0:
                if plan.shape != expected:
                    raise EnvError(f"host evaluation: {self.spec.name}: policy actions: "
                                   f"expected shape {expected}, found {plan.shape}")
                plan = plan.reshape(num_cells, num_episodes, self.chunk, -1)
            actions = plan[:, :, t % self.chunk]
            finite = np.isfinite(actions).all(axis=-1)
            bad = running & ~finite
            if recorder is not None and bad.any():
                raise EnvError(f"host collection: {self.spec.name}: the policy emitted a "
                               "non-finite action; no dataset is written")
            returns[bad] = np.nan
            running &= finite
            actions = np.clip(actions.astype(self._dtype), self._low, self._high)
            for c, e in zip(*np.nonzero(running)):
                o, r, terminated, truncated, info = envs[c * num_episodes + e].step(
                    actions[c, e])
                if recorder is not None:
                    recorder.add(e, obs[c, e], actions[c, e], r, o, terminated, truncated)
                obs[c, e] = self._observe(c * num_episodes + e, o)
                if recurrent:
                    prev_action[c, e], prev_reward[c, e] = actions[c, e], r
                returns[c, e] += r
                if terminated or truncated:
                    running[c, e] = False
                    returns[c, e] = self._episode_score(returns[c, e], info)
            t += 1
        return returns.astype(np.float32)

    # Hooks for evaluators of other protocols (envs/ogbench_eval.py).
    def _reset_slot(self, env: Any, seed: int, slot: int, episode: int) -> np.ndarray:
        """Returns the first observation of a slot's episode (``episode``: its index among
        the cell's episodes)."""
        return env.reset(seed=seed)[0]

    def _observe(self, slot: int, obs: np.ndarray) -> np.ndarray:
        """Returns what the policy sees of an env observation."""
        return obs

    def _episode_score(self, episode_return: float, info: dict) -> float:
        """Returns an ended episode's score: its undiscounted return."""
        return episode_return

    def close(self) -> None:
        for env in self._envs:
            env.close()
        self._envs = []


def _cell_streams(keys: jax.Array, num_episodes: int) -> tuple[np.ndarray, jax.Array]:
    """Returns (seed_c [cells], policy keys [cells]) drawn from each cell's key: slot (c, e)
    of an evaluation of ``num_episodes`` episodes resets with seed ``seed_c + e``."""
    keys = jax.device_get(keys)
    if num_episodes < 1:
        raise EnvError(f"host evaluation: num_episodes must be >= 1, found {num_episodes}")
    seeds = np.asarray(jax.vmap(
        lambda k: jax.random.randint(k, (), 0, 2**31 - 1 - num_episodes))(
            jax.vmap(lambda k: jax.random.split(k)[0])(keys)))
    return seeds, jax.vmap(lambda k: jax.random.split(k)[1])(keys)


class _Recorder:
    """Per-slot transition lists of one collection round, turned into whole episodes."""

    def __init__(self, num_slots: int):
        self._steps: list[list[tuple]] = [[] for _ in range(num_slots)]

    def add(self, slot, obs, action, reward, next_obs, terminated, truncated) -> None:
        self._steps[slot].append((np.array(obs, np.float32), action, reward,
                                  np.asarray(next_obs, np.float32), terminated, truncated))

    def episodes(self) -> list[dict[str, np.ndarray]]:
        out = []
        for steps in self._steps:
            obs, act, rew, nxt, term, trunc = zip(*steps)
            out.append(dict(
                observations=np.stack(obs), actions=np.stack(act).astype(np.float32),
                rewards=np.asarray(rew, np.float32), next_observations=np.stack(nxt),
                terminals=np.asarray(term, bool), timeouts=np.asarray(trunc, bool)))
        return out
