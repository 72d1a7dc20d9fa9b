"""Online SAC in a host-side C-MuJoCo env, for dataset generation on a CPU.

On a CPU, stepping gymnasium's C MuJoCo on the host is ~25x faster than MJX inside jit
(``bench/eval_throughput.py``; BUILD_NOTES "Locomotion"), so the suite's MuJoCo experts train
here with the same SAC as the in-jit path (``online.sac.make_sac`` built from the env's spec):
one gymnasium env steps on the host, the stochastic policy is one jitted call per step, and
every ``update_every`` env steps ``learn_from`` adds those transitions to the on-device buffer
and runs as many updates in one compiled scan (``update_every=1``: SAC's one update per env
step, each after its own step). The buffer keeps every transition: in order, it is the replay
stream (Schweighofer et al.'s "replay" recipe, D4RL's medium-replay before its cut).

Between chunks the deterministic policy is evaluated on fresh episodes
(``HostEvaluator``); every evaluated policy is kept as a snapshot (D4RL's medium policy is a
snapshot of the expert's run), and the best-evaluated one becomes the expert, as in
``generate.experts.train_online_expert``.

A ``checkpoint`` file (written atomically after every chunk) makes the run resumable after a
kill: the learner state with its buffer, the curve and the snapshots are restored, and the
episode that was running at the checkpoint ends there with a timeout flag (its true next
observation is stored, so bootstrapping stays valid); the env restarts with a new episode.
"""

from __future__ import annotations

import pathlib
import pickle
import time
from typing import Any, Callable

import jax
import numpy as np

from jaxrl_suite.envs.host_eval import HostEvaluator
from jaxrl_suite.envs.rollout import Transition
from jaxrl_suite.generate.collect import meta_for, stream_to_dataset
from jaxrl_suite.generate.experts import ExpertConfig, OnlineRun, Snapshot
from jaxrl_suite.online import SACConfig, make_sac


_FIELDS = ("obs", "action", "reward", "next_obs", "terminated", "truncated")


def _save(path: pathlib.Path, payload: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        pickle.dump(payload, f, protocol=pickle.HIGHEST_PROTOCOL)
    tmp.replace(path)


def train_host_sac(
    evaluator: HostEvaluator, key: jax.Array, config: ExpertConfig = ExpertConfig(),
    progress: Callable[[int, float], None] | None = None,
    checkpoint: str | pathlib.Path | None = None,
) -> OnlineRun:
    """Returns the online SAC run in ``evaluator``'s gymnasium env (its spec, its slots for
    evaluation, one more env for training). ``progress(step, eval_return)`` is called after
    every evaluation; ``checkpoint`` names a file to resume from and save to."""
    spec = evaluator.spec
    common = dict(total_steps=config.total_steps, hidden_sizes=config.hidden_sizes,
                  buffer_size=config.total_steps)
    if config.learning_starts is not None:
        common["learning_starts"] = config.learning_starts
    sac = make_sac(spec, SACConfig(**common))
    hparams = sac.default_hparams
    warmup_steps = sac.config.learning_starts
    k = config.update_every

    init = jax.jit(lambda key_: sac.init(key_, hparams))
    learn = jax.jit(lambda s, tr, key_: sac.learn_from(s, tr, key_, hparams)[0],
                    donate_argnums=0)
    add = jax.jit(lambda s, tr: sac.learn_from(s, tr, jax.random.PRNGKey(0), hparams,
                                               learn=False)[0], donate_argnums=0)
    act = jax.jit(lambda p, obs, key_, t: sac.stochastic_policy(
        p, obs[None], jax.random.fold_in(key_, t))[0])

    init_key, env_key, act_key, learn_key, eval_key = jax.random.split(key, 5)
    path = None if checkpoint is None else pathlib.Path(checkpoint)
    if path is not None and path.exists():
        with open(path, "rb") as f:
            saved = pickle.load(f)
        state = jax.device_put(saved["state"])
        data = state.buffer.data
        last = saved["step"] - 1  # the episode running at the checkpoint ends there
        state = state.replace(buffer=state.buffer.replace(data=data.replace(
            truncated=data.truncated.at[last].set(~data.terminated[last]))))
        step, curve, snapshots = saved["step"], saved["curve"], saved["snapshots"]
        elapsed = saved["seconds"]
    else:
        state, step, curve, snapshots, elapsed = init(init_key), 0, [], [], 0.0

    env = evaluator._make()
    rng = np.random.default_rng(int(jax.random.randint(env_key, (), 0, 2**31 - 1)) + step)
    obs, _ = env.reset(seed=int(rng.integers(2**31 - 1)))
    obs = np.asarray(obs, np.float32)
    low, high = evaluator._low, evaluator._high
    start = time.perf_counter()
    steps_per_eval = config.chunk_steps

    def run_steps(n: int, random: bool):
        nonlocal obs
        cols = {f: [] for f in _FIELDS}
        for _ in range(n):
            t = step + len(cols["reward"])
            if random:
                action = rng.uniform(low, high).astype(np.float32)
            else:
                action = np.asarray(act(state.actor_params, obs, act_key, np.int32(t)))
            clipped = np.clip(action, low, high).astype(evaluator._dtype)
            next_obs, reward, terminated, truncated, _ = env.step(clipped)
            next_obs = np.asarray(next_obs, np.float32)
            for f, v in zip(_FIELDS, (obs, clipped.astype(np.float32), reward,
                                                 next_obs, terminated, truncated)):
                cols[f].append(v)
            obs = next_obs
            if terminated or truncated:
                obs, _ = env.reset(seed=int(rng.integers(2**31 - 1)))
                obs = np.asarray(obs, np.float32)
        return Transition(
            obs=np.stack(cols["obs"]), action=np.stack(cols["action"]),
            reward=np.asarray(cols["reward"], np.float32), next_obs=np.stack(cols["next_obs"]),
            terminated=np.asarray(cols["terminated"], bool),
            truncated=np.asarray(cols["truncated"], bool))

    if step < warmup_steps:
        state = add(state, run_steps(warmup_steps - step, random=True))
        step = warmup_steps
    while step < config.total_steps:
        chunk_end = min(config.total_steps, step + steps_per_eval)
        while step < chunk_end:
            n = min(k, chunk_end - step)
            tr = run_steps(n, random=False)
            state = learn(state, tr, jax.random.fold_in(learn_key, step))
            step += n
        params = jax.device_get(state.actor_params)
        ret = float(np.mean(evaluator.evaluate(
            sac.deterministic_policy, jax.tree.map(lambda x: x[None], params),
            jax.random.fold_in(eval_key, step)[None], config.eval_episodes)))
        curve.append((step, ret))
        snapshots.append(Snapshot(step, ret, params))
        if path is not None:
            _save(path, dict(state=jax.device_get(state), step=step, curve=curve,
                             snapshots=snapshots,
                             seconds=elapsed + time.perf_counter() - start))
        if progress is not None:
            progress(step, ret)
    env.close()
    train_seconds = elapsed + time.perf_counter() - start

    best = max(snapshots, key=lambda s: s.eval_return)
    expert_return = float(np.mean(evaluator.evaluate(
        sac.deterministic_policy, jax.tree.map(lambda x: x[None], best.params),
        jax.random.fold_in(key, 1)[None], config.final_eval_episodes)))
    buffer = jax.device_get(state.buffer)
    stream = jax.tree.map(lambda x: np.asarray(x)[: int(buffer.size)], buffer.data)
    replay = stream_to_dataset(
        stream, meta_for(spec, recipe="replay", online_steps=config.total_steps),
        keep_unfinished=True)
    return OnlineRun(
        spec=spec, expert_policy=sac.deterministic_policy, expert_params=best.params,
        replay=replay, eval_curve=np.asarray(curve, np.float64), expert_return=expert_return,
        best_eval_return=float(best.eval_return), train_seconds=train_seconds,
        snapshots=tuple(snapshots), stochastic_policy=sac.stochastic_policy)
