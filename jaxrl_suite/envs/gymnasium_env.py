"""gymnasium envs behind a host-side adapter (``HostEnv``) and a batched host-loop evaluator.

For datasets whose env is not JAX-native (e.g. Minari's MuJoCo datasets, recorded in gymnasium's
``HalfCheetah-v5``): the policy is still one jitted function of a batch of observations, called
once per vector-env step; the env steps on the host.

Episode accounting under gymnasium 1.x autoreset (https://farama.org/Vector-Autoreset-Mode):
a vector env keeps stepping every sub-env, so a sub-env whose episode ended starts another one.
``evaluate_host`` gives each sub-env ("slot") one counted episode at a time; when a counted
episode ends, the slot's next episode is counted only if fewer than ``num_episodes`` episodes
have been started. Choosing episodes by start order, never by finishing order, keeps short
episodes from being over-represented. In ``NextStep`` mode the step after an episode's end is
a reset step (reward 0, action ignored) and is not counted; in ``SameStep`` mode the reset
happens inside the final step and every step is a transition.

gymnasium is imported inside the functions: it is an optional extra (``jaxrl_suite[mujoco]``).
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from jaxrl_suite.envs.base import EnvSpec, HostEnv
from jaxrl_suite.envs.evaluate import EvalResult, PolicyFn
from jaxrl_suite.errors import EnvError

GYMNASIUM_PREFIX = "gymnasium/"


def make_gymnasium_env(
    env_id: str,
    *,
    num_envs: int = 1,
    max_episode_steps: int | None = None,
    autoreset_mode: str = "NextStep",
    spec: EnvSpec | None = None,
    **make_kwargs: Any,
) -> HostEnv:
    """Returns a HostEnv of ``num_envs`` copies of gymnasium's ``env_id`` (e.g. "HalfCheetah-v5").

    ``max_episode_steps`` overrides the registered time limit; ``make_kwargs`` go to
    ``gymnasium.make``; ``autoreset_mode`` is "NextStep" (gymnasium's default) or "SameStep".
    The spec's name is ``"gymnasium/" + env_id``, the name ``make_env`` accepts.
    """
    gym = _import_gymnasium()
    from gymnasium.vector import AutoresetMode, SyncVectorEnv

    if int(num_envs) < 1:
        raise EnvError(f"gymnasium env '{env_id}': num_envs must be >= 1, found {num_envs}")
    modes = {m.value: m for m in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP)}
    if autoreset_mode not in modes:
        raise EnvError(
            f"gymnasium env '{env_id}': autoreset_mode: expected one of {sorted(modes)}, "
            f"found '{autoreset_mode}'"
        )
    mode = modes[autoreset_mode]

    def make_one():
        return gym.make(env_id, max_episode_steps=max_episode_steps, **make_kwargs)

    first = _make_checked(env_id, make_one)
    spec = spec or gymnasium_spec_of(env_id, first)
    # The probe env becomes the first copy, so MuJoCo models are loaded num_envs times, not +1.
    fns = [lambda: first] + [make_one] * (int(num_envs) - 1)
    vector_env = SyncVectorEnv(fns, autoreset_mode=mode)
    return HostEnv(spec=spec, vector_env=vector_env)


def gymnasium_spec(
    env_id: str, *, max_episode_steps: int | None = None, **make_kwargs: Any
) -> EnvSpec:
    """Returns the EnvSpec of gymnasium's ``env_id``, building (and closing) one env."""
    gym = _import_gymnasium()
    env = _make_checked(
        env_id, lambda: gym.make(env_id, max_episode_steps=max_episode_steps, **make_kwargs)
    )
    try:
        return gymnasium_spec_of(env_id, env)
    finally:
        env.close()


def gymnasium_spec_of(env_id: str, env) -> EnvSpec:
    """Returns the EnvSpec read off a built gymnasium env's spaces and time limit."""
    from gymnasium import spaces

    name = GYMNASIUM_PREFIX + env_id
    obs_space, act_space = env.observation_space, env.action_space
    if not isinstance(obs_space, spaces.Box):
        raise EnvError(
            f"gymnasium env '{env_id}': observation space: expected Box, "
            f"found {type(obs_space).__name__}"
        )
    limit = env.spec.max_episode_steps if env.spec is not None else None
    if limit is None:
        raise EnvError(
            f"gymnasium env '{env_id}': has no time limit; pass max_episode_steps"
        )
    common = dict(
        name=name,
        backend="gymnasium",
        observation_shape=tuple(int(d) for d in obs_space.shape),
        max_episode_steps=int(limit),
    )
    if isinstance(act_space, spaces.Discrete):
        return EnvSpec(discrete=True, num_actions=int(act_space.n), **common)
    if isinstance(act_space, spaces.Box) and len(act_space.shape) == 1:
        return EnvSpec(
            discrete=False,
            action_dim=int(act_space.shape[0]),
            action_low=tuple(float(x) for x in act_space.low),
            action_high=tuple(float(x) for x in act_space.high),
            **common,
        )
    raise EnvError(
        f"gymnasium env '{env_id}': action space: expected Discrete or 1-D Box, found {act_space}"
    )


def evaluate_host(
    policy_fn: PolicyFn, params: Any, env: HostEnv, key: jax.Array, num_episodes: int
) -> EvalResult:
    """Returns the returns and lengths of ``num_episodes`` episodes of ``policy_fn`` in ``env``.

    Runs on the host: each step calls the jitted ``policy_fn(params, obs [num_envs, *obs_shape],
    key)`` once for all sub-envs, then steps the vector env. Episodes are counted exactly once,
    chosen by start order (see the module docstring). The vector env is reset with seed
    ``reset_seed(jax.random.split(key)[0], num_envs)``, so a key reproduces its results. Pass
    the same ``policy_fn`` object across calls to reuse its compilation.
    """
    from gymnasium.vector import AutoresetMode

    if not isinstance(env, HostEnv):
        raise EnvError(
            f"evaluate_host needs a HostEnv, found {type(env).__name__}; "
            "evaluate JAX-native envs with evaluate"
        )
    num_episodes = int(num_episodes)
    if num_episodes < 1:
        raise EnvError(f"evaluate_host: num_episodes must be >= 1, found {num_episodes}")
    vector_env, spec, num_envs = env.vector_env, env.spec, env.num_envs
    mode = AutoresetMode(vector_env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP))
    if mode not in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP):
        raise EnvError(f"evaluate_host: unsupported autoreset mode {mode.value}")
    to_env_actions = _action_converter(vector_env.single_action_space, spec, num_envs)
    policy = jax.jit(policy_fn)

    reset_key, policy_key = jax.random.split(key)
    obs, _ = vector_env.reset(seed=reset_seed(reset_key, num_envs))

    returns = np.zeros(num_episodes, np.float64)
    lengths = np.zeros(num_episodes, np.int64)
    # slot_episode[i]: index of the counted episode running in sub-env i, or -1 (not counted).
    slot_episode = np.where(np.arange(num_envs) < num_episodes, np.arange(num_envs), -1)
    num_started = min(num_envs, num_episodes)
    num_finished = 0
    reset_step = np.zeros(num_envs, bool)  # NextStep mode: this step only resets the sub-env
    # Every counted episode ends within the time limit; a sub-env runs at most
    # ceil(num_episodes / num_envs) counted episodes back to back, plus their reset steps.
    max_steps = -(-num_episodes // num_envs) * (spec.max_episode_steps + 1)
    t = 0
    while num_finished < num_episodes:
        if t == max_steps:
            raise EnvError(
                f"evaluate_host: {spec.name}: {num_episodes - num_finished} episodes did not "
                f"end within {max_steps} steps; is the time limit "
                f"({spec.max_episode_steps}) in place?"
            )
        actions = policy(params, np.asarray(obs, np.float32), jax.random.fold_in(policy_key, t))
        obs, reward, terminated, truncated, _ = vector_env.step(to_env_actions(actions))
        t += 1
        done = np.logical_or(terminated, truncated)
        counted = (slot_episode >= 0) & ~reset_step
        idx = slot_episode[counted]
        returns[idx] += reward[counted]
        lengths[idx] += 1
        for slot in np.flatnonzero(counted & done):
            num_finished += 1
            if num_started < num_episodes:
                slot_episode[slot] = num_started
                num_started += 1
            else:
                slot_episode[slot] = -1
        if mode == AutoresetMode.NEXT_STEP:
            reset_step = done
    return EvalResult(returns=returns.astype(np.float32), lengths=lengths.astype(np.int32))


def reset_seed(key: jax.Array, num_envs: int) -> int:
    """Returns the integer seed ``evaluate_host`` derives from (a split of) its key.

    The vector env resets sub-env ``i`` with ``seed + i`` once; later episodes continue each
    sub-env's own random stream.
    """
    return int(jax.random.randint(key, (), 0, 2**31 - 1 - num_envs))


def _action_converter(space, spec: EnvSpec, num_envs: int):
    """Returns a function mapping a policy's action batch to the vector env's action array."""
    if spec.discrete:
        start = int(getattr(space, "start", 0))

        def convert(actions):
            actions = np.asarray(actions)
            _check_action_shape(actions, (num_envs,), spec)
            return actions.astype(np.int64) + start

    else:
        low = np.asarray(space.low, space.dtype)
        high = np.asarray(space.high, space.dtype)

        def convert(actions):
            actions = np.asarray(actions)
            _check_action_shape(actions, (num_envs, spec.action_dim), spec)
            return np.clip(actions.astype(space.dtype), low, high)

    return convert


def _check_action_shape(actions: np.ndarray, expected: tuple[int, ...], spec: EnvSpec) -> None:
    if actions.shape != expected:
        raise EnvError(
            f"evaluate_host: {spec.name}: policy actions: expected shape {expected}, "
            f"found {actions.shape}"
        )


def _make_checked(env_id: str, make_one):
    gym = _import_gymnasium()
    try:
        return make_one()
    except gym.error.Error as exc:
        raise EnvError(f"cannot build gymnasium env '{env_id}': {exc}") from exc


def _import_gymnasium():
    try:
        import gymnasium
    except ImportError:
        raise EnvError(
            "gymnasium envs need gymnasium: pip install 'jaxrl_suite[mujoco]'"
        ) from None
    return gymnasium
