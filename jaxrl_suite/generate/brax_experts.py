"""Experts for the brax (MJX) locomotion suite, trained by brax's own agents; replay from our SAC.

``train_brax_expert`` runs ``brax.training.agents.ppo`` or ``sac`` (brax 0.14) on the same raw
brax env that ``jaxrl_suite.envs.make_brax_env`` adapts, with brax's published hyperparameters,
and returns the policy as a rollout ``policy_fn(params, obs [B, obs_dim], key) -> [B, act_dim]``
built from brax's own inference function, so brax's observation normaliser (part of ``params``)
is applied exactly as in training.

Replay streams: brax's agents do NOT expose the transitions they collected.
  * PPO keeps each unroll only for the SGD epochs of one training step, inside one pmapped
    ``training_epoch``; ``train`` returns ``(make_policy, params, metrics)``; ``progress_fn`` gets
    scalar metrics and ``policy_params_fn`` parameters, never data.
  * SAC's replay buffer is a FIFO of ``max_replay_size`` transitions (default ``num_timesteps``;
    brax's published hopper/walker2d settings cap it at 1,048,576 of 6.5M/7.9M steps), local to
    ``train``: never returned, never passed to a callback.
  The only way in would be a custom ``wrap_env_fn`` whose ``step`` ships each batch of
  transitions to the host with ``jax.experimental.io_callback`` (untried here): a device-to-host
  copy per vectorised step inside the compiled epoch, which stalls the GPU pipeline these agents
  are built around; the same ``wrap_env_fn`` also wraps the evaluation env, whose steps must be
  told apart; and PPO's stream is tens of millions of on-policy transitions from thousands of
  parallel envs, not a replay buffer in D4RL's sense. We do not do that.
Decision: the expert comes from brax (fast on a GPU: thousands of parallel MJX envs); the replay
dataset from ``replay_via_sac``: our own SAC (``jaxrl_suite.online.sac`` through
``generate.experts.train_online_expert``) on our ``make_brax_env`` adapter of the same env, whose
stream IS every transition that learner saw. Expert and replay then come from different runs
and learners; ``replay_via_sac`` also returns its SAC run's own best-evaluated expert, for
recipes that need expert and replay from one run (Schweighofer et al., 2022).

brax 0.14.2 calls ``jax.device_put_replicated``, which JAX 0.10 removed; ``_jax_compat`` lends
brax, only while its ``train`` runs, the replacement brax itself adopted upstream (commit 303d89d).
"""

from __future__ import annotations

import contextlib
import inspect
import time
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl_suite.envs.brax_env import BRAX_ENV_NAMES
from jaxrl_suite.envs.evaluate import PolicyFn
from jaxrl_suite.envs.registry import make_env
from jaxrl_suite.errors import EnvError
from jaxrl_suite.generate.experts import ExpertConfig, OnlineRun, train_online_expert

ALGORITHMS = ("ppo", "sac")

# brax's published choice of agent per env: notebooks/training.ipynb in google/brax ("Training
# in Brax", the ``train_fn = {...}`` cell) trains halfcheetah and ant with PPO and hopper and
# walker2d with SAC (google/brax#129 and #98: users reported no PPO settings that learn hopper).
BRAX_PUBLISHED_ALGORITHM = {"hopper": "sac", "walker2d": "sac", "halfcheetah": "ppo", "ant": "ppo"}

# PPO settings. halfcheetah and ant: verbatim from google/brax notebooks/training.ipynb (tuned on
# brax's own physics backends; ``seed`` is ours). hopper and walker2d: brax publishes no PPO
# settings, so these are MuJoCo Playground's brax-PPO settings for its MJX DM Control Suite
# locomotion tasks (mujoco_playground/config/dm_control_suite_params.py::brax_ppo_config; 100M
# steps for WalkerRun, 60M otherwise) -- a different task family (rewards in [0, 1] per step),
# not yet checked to learn these envs.
_PLAYGROUND_DM_CONTROL_PPO = dict(
    num_timesteps=60_000_000, num_evals=10, reward_scaling=10.0, normalize_observations=True,
    action_repeat=1, unroll_length=30, num_minibatches=32, num_updates_per_batch=16,
    discounting=0.995, learning_rate=1e-3, entropy_cost=1e-2, num_envs=2048, batch_size=1024,
    num_resets_per_eval=10,
)
BRAX_PPO_CONFIGS: dict[str, dict[str, Any]] = {
    "halfcheetah": dict(
        num_timesteps=50_000_000, num_evals=20, reward_scaling=1, normalize_observations=True,
        action_repeat=1, unroll_length=20, num_minibatches=32, num_updates_per_batch=8,
        discounting=0.95, learning_rate=3e-4, entropy_cost=0.001, num_envs=2048, batch_size=512,
    ),
    "ant": dict(
        num_timesteps=50_000_000, num_evals=10, reward_scaling=10, normalize_observations=True,
        action_repeat=1, unroll_length=5, num_minibatches=32, num_updates_per_batch=4,
        discounting=0.97, learning_rate=3e-4, entropy_cost=1e-2, num_envs=4096, batch_size=2048,
    ),
    "hopper": dict(_PLAYGROUND_DM_CONTROL_PPO),
    "walker2d": dict(_PLAYGROUND_DM_CONTROL_PPO, num_timesteps=100_000_000),
}

# SAC settings. hopper and walker2d: verbatim from google/brax notebooks/training.ipynb (tuned on
# brax's own physics backends; ``seed`` is ours).
# halfcheetah and ant: brax publishes no SAC settings; MuJoCo Playground's brax-SAC settings for
# its DM Control Suite tasks (dm_control_suite_params.py::brax_sac_config, 10M steps as for
# CheetahRun; without its layer-normed Q network), not yet checked to learn these envs.
BRAX_SAC_CONFIGS: dict[str, dict[str, Any]] = {
    "hopper": dict(
        num_timesteps=6_553_600, num_evals=20, reward_scaling=30, normalize_observations=True,
        action_repeat=1, discounting=0.997, learning_rate=6e-4, num_envs=128, batch_size=512,
        grad_updates_per_step=64, max_devices_per_host=1, max_replay_size=1048576,
        min_replay_size=8192,
    ),
    "walker2d": dict(
        num_timesteps=7_864_320, num_evals=20, reward_scaling=5, normalize_observations=True,
        action_repeat=1, discounting=0.997, learning_rate=6e-4, num_envs=128, batch_size=128,
        grad_updates_per_step=32, max_devices_per_host=1, max_replay_size=1048576,
        min_replay_size=8192,
    ),
}
for _name in ("halfcheetah", "ant"):
    BRAX_SAC_CONFIGS[_name] = dict(
        num_timesteps=10_000_000, num_evals=10, reward_scaling=1.0, normalize_observations=True,
        action_repeat=1, discounting=0.99, learning_rate=1e-3, num_envs=128, batch_size=512,
        grad_updates_per_step=8, max_replay_size=1048576 * 4, min_replay_size=8192,
    )
del _name

# Our own choices, applied under every published config (override them like any setting):
# evaluate the deterministic policy (the expert we return; brax's default evaluates samples).
_OUR_DEFAULTS = dict(deterministic_eval=True)

# The replay run: our SAC for 1M env steps, the usual SAC budget on MuJoCo Hopper (Haarnoja et
# al., 2018, "Soft Actor-Critic Algorithms and Applications", Fig. 1), two 256-unit layers.
BRAX_REPLAY_CONFIG = ExpertConfig(
    total_steps=1_000_000, chunk_steps=10_000, hidden_sizes=(256, 256), eval_episodes=10,
    final_eval_episodes=100,
)


class BraxExpert(NamedTuple):
    """A policy trained by a brax agent, ready for our rollouts and evaluation.

    policy_fn(params, obs [B, obs_dim], key) -> actions [B, act_dim]: brax's deterministic action
        (tanh of the Gaussian mean, for the default tanh-normal policy), clipped to [-1, 1].
    stochastic_policy_fn: the same signature; a sample of brax's policy distribution, clipped.
    params: brax's inference params, (normaliser state, policy params[, value params]); with
        PPO the best-evaluated ones (captured through brax's ``policy_params_fn``), with SAC the
        final ones (brax's SAC hands out no others).
    params_step: env steps of training behind ``params``.
    eval_returns: brax's evaluation curve, [(env steps, mean ``eval/episode_reward``)].
    best_return: the curve's maximum.
    train_kwargs: every keyword passed to brax's ``train`` (without the env and callbacks).
    final_metrics: brax's last metrics dict (floats), e.g. ``training/sps``, ``eval/walltime``.
    train_seconds: wall time of brax's ``train``, compilation included.
    """

    env_name: str
    algorithm: str
    policy_fn: PolicyFn
    stochastic_policy_fn: PolicyFn
    params: Any
    params_step: int
    eval_returns: list[tuple[int, float]]
    best_return: float
    train_kwargs: dict[str, Any]
    final_metrics: dict[str, float]
    train_seconds: float


def default_train_kwargs(env_name: str, algorithm: str | None = None) -> dict[str, Any]:
    """Returns brax's published ``train`` keywords for ``env_name`` (a copy, safe to edit)."""
    _check_env_name(env_name)
    algorithm = BRAX_PUBLISHED_ALGORITHM[env_name] if algorithm is None else algorithm
    _check_algorithm(algorithm)
    table = BRAX_PPO_CONFIGS if algorithm == "ppo" else BRAX_SAC_CONFIGS
    return {**table[env_name], **_OUR_DEFAULTS}


def policy_fns_from_make_policy(make_policy: Callable[..., Any]) -> tuple[PolicyFn, PolicyFn]:
    """Returns (deterministic, stochastic) rollout policy_fns over brax's ``make_policy``.

    ``make_policy(params, deterministic) -> policy(obs, key) -> (actions, extras)`` is what
    brax's ``train`` returns (its ``make_inference_fn``); it applies the observation normaliser
    held in ``params[0]``.
    """

    def policy_fn(params, obs, key):
        actions, _ = make_policy(params, deterministic=True)(obs, key)
        return jnp.clip(actions, -1.0, 1.0)

    def stochastic_policy_fn(params, obs, key):
        actions, _ = make_policy(params, deterministic=False)(obs, key)
        return jnp.clip(actions, -1.0, 1.0)

    return policy_fn, stochastic_policy_fn


def make_brax_policy_fns(
    algorithm: str,
    observation_size: int,
    action_size: int,
    *,
    normalize_observations: bool = True,
    network_factory: Callable[..., Any] | None = None,
) -> tuple[PolicyFn, PolicyFn]:
    """Returns (deterministic, stochastic) policy_fns for saved brax params, without training.

    Rebuilds brax's networks as its ``train`` does (same factory, same normaliser switch); the
    params must come from a run with the same ``network_factory`` and ``normalize_observations``.
    """
    _check_algorithm(algorithm)
    from brax.training.acme import running_statistics  # deferred: brax pulls in MuJoCo

    normalize = running_statistics.normalize if normalize_observations else (lambda x, y: x)
    if algorithm == "ppo":
        from brax.training.agents.ppo import networks as ppo_networks

        factory = network_factory or ppo_networks.make_ppo_networks
        # brax's PPO passes the observation shape, not its size.
        networks = factory((int(observation_size),), int(action_size),
                           preprocess_observations_fn=normalize)
        make_policy = ppo_networks.make_inference_fn(networks)
    else:
        from brax.training.agents.sac import networks as sac_networks

        factory = network_factory or sac_networks.make_sac_networks
        networks = factory(observation_size=int(observation_size), action_size=int(action_size),
                           preprocess_observations_fn=normalize)
        make_policy = sac_networks.make_inference_fn(networks)
    return policy_fns_from_make_policy(make_policy)


def train_brax_expert(
    env_name: str,
    *,
    algorithm: str | None = None,
    num_timesteps: int | None = None,
    episode_length: int = 1000,
    seed: int = 0,
    num_envs: int | None = None,
    backend: str = "mjx",
    env_kwargs: dict[str, Any] | None = None,
    progress: Callable[[int, float], None] | None = None,
    **agent_kwargs: Any,
) -> BraxExpert:
    """Returns the expert that brax's ``algorithm`` ("ppo" | "sac") trains on ``env_name``.

    Defaults: brax's published agent and settings for the env (``default_train_kwargs``);
    ``num_timesteps``, ``num_envs`` and any other keyword of brax's ``train`` (``agent_kwargs``,
    e.g. ``batch_size``, ``num_evals``, ``num_eval_envs``, ``network_factory``) override them.
    The env is ``brax.envs.get_environment(env_name, backend=backend, **env_kwargs)``, the raw
    env that ``make_brax_env(env_name, episode_length, backend, **env_kwargs)`` adapts; brax
    wraps it with its training wrappers (vmap, episode limit, auto-reset), which leave the
    observation unchanged. ``progress(env_steps, eval_return)`` is called after each evaluation.
    """
    algorithm = BRAX_PUBLISHED_ALGORITHM.get(env_name) if algorithm is None else algorithm
    kwargs = default_train_kwargs(env_name, algorithm)
    overrides = dict(agent_kwargs, num_timesteps=num_timesteps, num_envs=num_envs)
    kwargs.update({k: v for k, v in overrides.items() if v is not None})
    kwargs.update(episode_length=int(episode_length), seed=int(seed))
    train_fn = _brax_train_fn(algorithm)
    _check_train_kwargs(algorithm, train_fn, kwargs)
    if not kwargs.get("run_evals", True):
        raise ValueError(
            "run_evals=False: train_brax_expert picks the expert by brax's evaluations"
        )

    import brax.envs  # deferred: pulls in MuJoCo / MJX

    try:
        environment = brax.envs.get_environment(env_name, backend=backend, **(env_kwargs or {}))
    except Exception as exc:
        raise EnvError(f"cannot build brax env '{env_name}' (backend '{backend}'): {exc}") from exc

    curve: list[tuple[int, float]] = []
    params_at: dict[int, Any] = {}
    last_metrics: dict[str, float] = {}

    def progress_fn(step, metrics):
        ret = float(metrics["eval/episode_reward"])
        curve.append((int(step), ret))
        last_metrics.clear()
        last_metrics.update({k: float(np.asarray(v)) for k, v in metrics.items()})
        if progress is not None:
            progress(int(step), ret)

    def policy_params_fn(step, make_policy, params):
        del make_policy
        params_at[int(step)] = jax.device_get(params)

    callbacks = dict(progress_fn=progress_fn)
    if algorithm == "ppo":  # brax's SAC has no policy_params_fn
        callbacks["policy_params_fn"] = policy_params_fn

    start = time.perf_counter()
    with _jax_compat():
        make_policy, final_params, _ = train_fn(environment=environment, **kwargs, **callbacks)
    train_seconds = time.perf_counter() - start

    if not curve:
        raise RuntimeError(f"brax {algorithm} on '{env_name}' ran no evaluation")
    final_step = curve[-1][0]
    best_step, best_return = max(curve, key=lambda point: point[1])
    if best_step in params_at:
        params, params_step = params_at[best_step], best_step
    else:
        params, params_step = jax.device_get(final_params), final_step
    policy_fn, stochastic_policy_fn = policy_fns_from_make_policy(make_policy)
    return BraxExpert(
        env_name=env_name,
        algorithm=algorithm,
        policy_fn=policy_fn,
        stochastic_policy_fn=stochastic_policy_fn,
        params=params,
        params_step=params_step,
        eval_returns=curve,
        best_return=best_return,
        train_kwargs=kwargs,
        final_metrics=dict(last_metrics),
        train_seconds=train_seconds,
    )


def replay_via_sac(
    env_name: str,
    *,
    key: jax.Array | None = None,
    episode_length: int = 1000,
    config: ExpertConfig = BRAX_REPLAY_CONFIG,
    backend: str = "mjx",
    progress: Callable[[int, float], None] | None = None,
    **env_kwargs: Any,
) -> OnlineRun:
    """Returns our SAC run on the brax env ``env_name``: its replay Dataset (every transition it
    saw, in order) and its own best-evaluated expert.

    The env is ``make_env(env_name, episode_length=..., brax_backend=backend, **env_kwargs)``,
    the same adapter our rollouts and evaluation use; ``key`` defaults to PRNGKey(0).
    """
    _check_env_name(env_name)
    env = make_env(env_name, episode_length=episode_length, brax_backend=backend, **env_kwargs)
    key = jax.random.PRNGKey(0) if key is None else key
    return train_online_expert(env, key, config, progress=progress)


@contextlib.contextmanager
def _jax_compat():
    """Lends ``jax.device_put_replicated`` to brax while its ``train`` runs, if JAX lacks it.

    The body is brax's own replacement (google/brax commit 303d89d, after the 0.14.2 release),
    except that the mesh axis is named like brax's pmap axis ("i"): the replicated training state
    then has the same type as the pmapped epoch's output, and that epoch compiles once, not twice.
    """
    if hasattr(jax, "device_put_replicated"):  # JAX < 0.10 still has it
        yield
        return

    def device_put_replicated(value, devices):
        mesh = jax.sharding.Mesh(np.array(devices), ("i",))
        sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("i"))
        return jax.tree.map(
            lambda x: jax.device_put(np.stack([np.asarray(x)] * len(devices)), sharding), value
        )

    jax.device_put_replicated = device_put_replicated
    try:
        yield
    finally:
        del jax.device_put_replicated


def _brax_train_fn(algorithm: str) -> Callable[..., Any]:
    _check_algorithm(algorithm)
    if algorithm == "ppo":
        from brax.training.agents.ppo import train as ppo

        return ppo.train
    from brax.training.agents.sac import train as sac

    return sac.train


def _check_env_name(env_name: str) -> None:
    if env_name not in BRAX_ENV_NAMES:
        raise EnvError(
            f"unknown brax env '{env_name}': expected one of {', '.join(BRAX_ENV_NAMES)}"
        )


def _check_algorithm(algorithm: str | None) -> None:
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm: expected one of {', '.join(ALGORITHMS)}, found {algorithm!r}")


def _check_train_kwargs(algorithm: str, train_fn: Callable[..., Any], kwargs: dict) -> None:
    """Raises ValueError, before anything compiles, on settings brax would reject or trip on."""
    accepted = set(inspect.signature(train_fn).parameters) - {
        "environment", "progress_fn", "policy_params_fn"}
    unknown = sorted(set(kwargs) - accepted)
    if unknown:
        raise ValueError(
            f"brax {algorithm}.train takes no keyword {', '.join(map(repr, unknown))}; "
            f"accepted: {', '.join(sorted(accepted))}"
        )
    for name in ("num_timesteps", "num_envs", "batch_size", "episode_length", "num_evals"):
        if name in kwargs and int(kwargs[name]) < 1:
            raise ValueError(f"{name}: expected >= 1, found {kwargs[name]}")
    if algorithm == "ppo":
        rollout = kwargs["batch_size"] * kwargs.get("num_minibatches", 16)
        if rollout % kwargs["num_envs"]:
            raise ValueError(
                f"brax PPO needs batch_size * num_minibatches ({rollout}) divisible by num_envs "
                f"({kwargs['num_envs']})"
            )
    elif kwargs.get("min_replay_size", 0) >= kwargs["num_timesteps"]:
        raise ValueError(
            f"min_replay_size ({kwargs['min_replay_size']}) must be below num_timesteps "
            f"({kwargs['num_timesteps']}): brax's SAC would never update"
        )

