"""Online experts for dataset generation: train, evaluate between chunks, keep the best.

The Dataset Perspective recipes (Schweighofer et al., 2022, ml-jku/OfflineRL
``source/train_online.py``) need, per env, one online run whose every transition is the
*replay* dataset and whose policy is the *expert*. DQN (discrete) and SAC (continuous) from
``jaxrl_suite.online`` train in chunks of one compiled scan; the greedy policy is evaluated
between chunks and the best-evaluated parameters become the expert. The paper uses the final
policy, but online DQN on CartPole swings between ~20 and 500 from one evaluation to the next,
so the final policy is a lottery; the best-evaluated one is what the paper's TQ normaliser
(g_online = the best evaluation return) refers to anyway.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl_suite.data.dataset import Dataset
from jaxrl_suite.envs.base import EnvSpec, JaxEnv
from jaxrl_suite.envs.evaluate import PolicyFn, evaluate, random_policy
from jaxrl_suite.envs.rollout import Transition
from jaxrl_suite.generate.collect import meta_for, stream_to_dataset
from jaxrl_suite.online import DQNConfig, SACConfig, make_dqn, make_sac


@dataclasses.dataclass(frozen=True)
class ExpertConfig:
    """Budget of one online run: env steps, evaluation period, network and eval episodes."""

    total_steps: int = 100_000
    chunk_steps: int = 2_500
    hidden_sizes: tuple[int, ...] = (256, 256, 256)
    eval_episodes: int = 20  # per evaluation between chunks
    final_eval_episodes: int = 100  # to measure the chosen expert's return without selection bias
    learning_starts: int | None = None  # None: the learner's default
    update_every: int = 1  # host-loop SAC: env steps per batch of as many updates
    buffer_size: int | None = None  # online replay buffer slots (None: the learner's default)


class Snapshot(NamedTuple):
    """The policy evaluated after ``step`` env steps, with its evaluation mean return."""

    step: int
    eval_return: float
    params: Any


class OnlineRun(NamedTuple):
    """One online run: the expert (best-evaluated params), the replay stream and the curve.

    expert_return: mean return of the expert on ``final_eval_episodes`` fresh episodes;
    best_eval_return: the maximum of the evaluation curve (the paper's g_online);
    eval_curve: [num_evals, 2] (env steps, mean evaluation return).
    """

    spec: EnvSpec
    expert_policy: PolicyFn
    expert_params: Any
    replay: Dataset
    eval_curve: np.ndarray
    expert_return: float
    best_eval_return: float
    train_seconds: float
    # every evaluated policy, in step order (params on the host)
    snapshots: tuple[Snapshot, ...] = ()
    stochastic_policy: PolicyFn | None = None  # continuous runs: the learner's sampling policy


class _Learner(NamedTuple):
    learner: Any
    params_of: Callable[[Any], Any]
    expert_policy: PolicyFn
    stochastic_policy: PolicyFn | None


def _learner(env: JaxEnv, config: ExpertConfig) -> _Learner:
    common = dict(total_steps=config.total_steps, hidden_sizes=config.hidden_sizes)
    if config.learning_starts is not None:
        common["learning_starts"] = config.learning_starts
    if config.buffer_size is not None:
        common["buffer_size"] = config.buffer_size
    if env.spec.discrete:
        dqn = make_dqn(env, DQNConfig(**common))
        return _Learner(dqn, lambda s: s.params, dqn.greedy_policy, None)
    sac = make_sac(env, SACConfig(**common))
    return _Learner(sac, lambda s: s.actor_params, sac.deterministic_policy,
                    sac.stochastic_policy)


def epsilon_mixture(policy_fn: PolicyFn, spec: EnvSpec, epsilon: float) -> PolicyFn:
    """Returns a policy acting uniformly at random with probability ``epsilon``, else as
    ``policy_fn``: the paper's noisy recipe (epsilon-greedy, epsilon = 0.2) for any space."""
    uniform = random_policy(spec)

    def noisy(params, obs, key):
        act_key, random_key, coin_key = jax.random.split(key, 3)
        action = policy_fn(params, obs, act_key)
        random_action = uniform(None, obs, random_key)
        explore = jax.random.uniform(coin_key, (obs.shape[0],)) < epsilon
        explore = explore.reshape(explore.shape + (1,) * (action.ndim - 1))
        return jnp.where(explore, random_action, action)

    return noisy


def train_online_expert(
    env: JaxEnv, key: jax.Array, config: ExpertConfig = ExpertConfig(),
    progress: Callable[[int, float], None] | None = None,
) -> OnlineRun:
    """Returns the online run of DQN (discrete) or SAC (continuous) in ``env``.

    Training runs in chunks of ``chunk_steps`` env steps (each one compiled scan, the same
    compiled function every chunk); after each, the greedy policy is evaluated on
    ``eval_episodes`` episodes and the best parameters so far kept. ``progress(step, return)``
    is called on the host after every evaluation.
    """
    spec = env.spec
    bundle = _learner(env, config)
    learner = bundle.learner
    hparams = learner.default_hparams
    warmup_steps = learner.config.learning_starts
    num_chunks = max(1, -(-(config.total_steps - warmup_steps) // config.chunk_steps))

    init = jax.jit(lambda k: learner.init(k, hparams))
    warmup = jax.jit(lambda s, k: learner.train_steps(s, k, warmup_steps, hparams, learn=False))
    learn = jax.jit(lambda s, k: learner.train_steps(s, k, config.chunk_steps, hparams))
    score = jax.jit(lambda p, k: evaluate(
        bundle.expert_policy, p, env, k, config.eval_episodes).returns.mean())

    start = time.perf_counter()
    init_key, warm_key, run_key = jax.random.split(key, 3)
    state, _, warm_transitions = warmup(init(init_key), warm_key)
    streams: list[Transition] = [jax.device_get(warm_transitions)]
    curve, snapshots, best_return, best_params = [], [], -np.inf, None
    step = warmup_steps
    for chunk_key in jax.random.split(run_key, num_chunks):
        learn_key, eval_key = jax.random.split(chunk_key)
        state, _, transitions = learn(state, learn_key)
        streams.append(jax.device_get(transitions))
        step += config.chunk_steps
        ret = float(score(bundle.params_of(state), eval_key))
        curve.append((step, ret))
        snapshots.append(Snapshot(step, ret, jax.device_get(bundle.params_of(state))))
        if ret > best_return:
            best_return, best_params = ret, bundle.params_of(state)
        if progress is not None:
            progress(step, ret)
    train_seconds = time.perf_counter() - start

    final_key = jax.random.fold_in(key, 1)
    expert_return = float(jax.jit(lambda p, k: evaluate(
        bundle.expert_policy, p, env, k, config.final_eval_episodes).returns.mean())(
            best_params, final_key))
    stream = jax.tree.map(lambda *xs: np.concatenate(xs, axis=0), *streams)
    stream = jax.tree.map(lambda x: x[: config.total_steps], stream)
    replay = stream_to_dataset(
        stream, meta_for(spec, recipe="replay", online_steps=config.total_steps),
        keep_unfinished=True)
    return OnlineRun(
        spec=spec,
        expert_policy=bundle.expert_policy,
        expert_params=best_params,
        replay=replay,
        eval_curve=np.asarray(curve, np.float64),
        expert_return=expert_return,
        best_eval_return=float(best_return),
        train_seconds=train_seconds,
        snapshots=tuple(snapshots),
        stochastic_policy=bundle.stochastic_policy,
    )


def random_return(env: Any, key: jax.Array, num_episodes: int = 1_000) -> float:
    """Returns the uniform random policy's mean undiscounted return over ``num_episodes``
    (``env``: a JaxEnv, or a ``HostEvaluator`` for C MuJoCo)."""
    if not isinstance(env, JaxEnv):
        return float(np.mean(env.evaluate(random_policy(env.spec), None, key[None],
                                          num_episodes)))
    result = jax.jit(lambda k: evaluate(random_policy(env.spec), None, env, k, num_episodes))(key)
    return float(result.returns.mean())
