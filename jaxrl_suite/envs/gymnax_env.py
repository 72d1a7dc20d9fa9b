"""gymnax envs behind the suite's ``JaxEnv`` interface (gymnax >= 1.0): classic control, and
MinAtar with MinAtar's sticky actions and a flat observation.

MinAtar (``make_minatar_env``; Breakout-MinAtar, SpaceInvaders-MinAtar). gymnax's ports
(gymnax 1.0.1 ``environments/minatar/{breakout,space_invaders}.py``) follow MinAtar's game logic
(kenjyoung/MinAtar ``minatar/environments/{breakout,space_invaders}.py``, read at 8b39a18, June
2021, the upstream revision whose ``Environment(random_seed=...)`` the paper's ``gym_minatar``
calls; the paper's environment.yml installs the fork kschweig/MinAtar, which was not available
to read), but differ from MinAtar's ``Environment`` (``minatar/environment.py``) and from the
paper's setting ("A Dataset Perspective on Offline RL", ml-jku/OfflineRL at 8cc8eec, which
builds ``gym_minatar``'s ``*-MinAtar-v0``, kschweig/gym-games ``gym_minatar/envs/base.py``):
  * Sticky actions: MinAtar repeats the previous action with probability 0.1
    (``Environment.act``, ``sticky_action_prob=0.1``); gymnax has none. This adapter adds them
    (``sticky_action_prob``, default 0.1), drawn from the step key. MinAtar keeps the last
    action across episodes; here each episode starts with last action 0 (no-op).
  * Actions: the paper's ``gym_minatar`` exposes ``Environment.num_actions()``
    (``base.py:21``) = all 6 MinAtar actions (n, l, u, r, d, f; most are no-ops in a given
    game); gymnax defaults to the minimal set (Breakout n, l, r; SpaceInvaders n, l, r, f).
    Default here: all 6, as in the paper (``minimal_action_set=True`` gives gymnax's).
    Random-policy returns depend on this choice.
  * Time limit: neither MinAtar nor ``gym_minatar`` (registered without ``max_episode_steps``,
    ``gym_minatar/__init__.py:3-7``) has one; gymnax truncates at 1000 steps
    (``max_steps_in_episode``), kept here (the suite's evaluator needs a finite horizon) and
    reported as ``truncated``.
  * Difficulty ramping: MinAtar's default (``difficulty_ramping=True``) is gymnax's too
    (SpaceInvaders' ``ramping=True`` in ``reset_env``: each cleared wave moves faster; Breakout
    does not ramp). Same.
  * Observation: MinAtar's state is a 10x10xC bool array ([y, x, channel]; Breakout C=4,
    SpaceInvaders C=6), gymnax returns it as float32. The paper's ``MinAtarObsWrapper``
    (``source/utils/wrappers.py:6-22``) feeds its MLPs (``source/networks/critic.py:16-23``,
    no conv net) one value per cell: ``max_c((c + 1) * obs[y, x, c]).flatten() / C - 0.5``,
    [100] in [-0.5, 0.5]. ``observation="paper"`` (default) is that encoding;
    ``observation="channels"`` is the lossless ``obs.flatten()``, [100 * C] in {0, 1} (the
    paper's encoding keeps only the highest channel present in a cell).
"""

from __future__ import annotations

from typing import Any

import flax
import jax
import jax.numpy as jnp
import numpy as np

from jaxrl_suite.envs.base import EnvSpec, JaxEnv
from jaxrl_suite.errors import EnvError


def make_gymnax_env(name: str, spec: EnvSpec | None = None) -> JaxEnv:
    """Returns the gymnax env ``name`` (e.g. "CartPole-v1") as a JaxEnv, without auto-reset.

    ``spec`` overrides the derived spec (e.g. to attach measured reference returns).
    """
    try:
        import gymnax  # lazily: gymnax imports seaborn/pandas/scipy (~2 s); errors need none

        env, params = gymnax.make(name)
    except Exception as exc:  # gymnax raises a bare ValueError for unknown ids
        raise EnvError(f"unknown gymnax env '{name}': {exc}") from None
    spec = spec or gymnax_spec(name, env, params)

    def reset(key):
        obs, state = env.reset_env(key, params)
        return obs.astype(jnp.float32), state

    if spec.discrete:
        def to_env_action(action):
            return jnp.asarray(action, jnp.int32)
    else:
        low = jnp.asarray(spec.action_low, jnp.float32)
        high = jnp.asarray(spec.action_high, jnp.float32)

        def to_env_action(action):
            # gymnax continuous envs take [action_dim]; clip as gymnasium's envs do.
            return jnp.clip(jnp.asarray(action, jnp.float32).reshape(low.shape), low, high)

    def step(state, action, key):
        obs, state, reward, terminated, _ = env.step_env(key, state, to_env_action(action), params)
        truncated = env.is_truncated(state, params)
        return (
            obs.astype(jnp.float32),
            state,
            jnp.asarray(reward, jnp.float32).reshape(()),
            jnp.asarray(terminated, bool).reshape(()),
            jnp.logical_and(truncated, jnp.logical_not(terminated)).reshape(()),
        )

    return JaxEnv(spec=spec, reset=reset, step=step)


def gymnax_spec(name: str, env, params) -> EnvSpec:
    """Returns the EnvSpec read off a gymnax env's spaces and default parameters."""
    act_space = env.action_space(params)
    obs_shape = tuple(int(d) for d in env.observation_space(params).shape)
    common = dict(
        name=name,
        backend="gymnax",
        observation_shape=obs_shape,
        max_episode_steps=int(params.max_steps_in_episode),
    )
    from gymnax.environments import spaces

    if isinstance(act_space, spaces.Discrete):
        return EnvSpec(discrete=True, num_actions=int(act_space.n), **common)
    shape = act_space.shape if act_space.shape else (1,)
    dim = int(np.prod(shape))
    low = np.broadcast_to(np.asarray(act_space.low, np.float32), (dim,))
    high = np.broadcast_to(np.asarray(act_space.high, np.float32), (dim,))
    return EnvSpec(
        discrete=False,
        action_dim=dim,
        action_low=tuple(float(x) for x in low),
        action_high=tuple(float(x) for x in high),
        **common,
    )



MINATAR_ENV_NAMES = ("Breakout-MinAtar", "SpaceInvaders-MinAtar")
MINATAR_OBSERVATIONS = ("paper", "channels")
MINATAR_STICKY_ACTION_PROB = 0.1  # MinAtar's Environment default and the paper's setting


@flax.struct.dataclass
class MinAtarState:
    """gymnax's MinAtar state plus the action taken last (what a sticky action repeats)."""

    env_state: Any
    last_action: jax.Array  # int32 [], an index into the env's action set


def minatar_spec(name: str, *, observation: str = "paper",
                 minimal_action_set: bool = False) -> EnvSpec:
    """Returns the EnvSpec of MinAtar game ``name`` with a flat observation (see module)."""
    env, params = _make_minatar(name, observation, minimal_action_set)
    spec = gymnax_spec(name, env, params)
    height, width, channels = spec.observation_shape
    obs_dim = height * width * (1 if observation == "paper" else channels)
    return spec.replace(observation_shape=(obs_dim,))


def make_minatar_env(name: str, *, observation: str = "paper",
                     sticky_action_prob: float = MINATAR_STICKY_ACTION_PROB,
                     minimal_action_set: bool = False) -> JaxEnv:
    """Returns gymnax's MinAtar game ``name`` as a JaxEnv with MinAtar's sticky actions and a
    flat float32 observation: "paper" ([100], the paper's encoding) or "channels" ([100 * C]).
    """
    sticky_action_prob = float(sticky_action_prob)
    if not 0.0 <= sticky_action_prob < 1.0:
        raise EnvError(f"MinAtar env '{name}' option 'sticky_action_prob': expected a "
                       f"probability in [0, 1), found {sticky_action_prob}")
    env, params = _make_minatar(name, observation, minimal_action_set)
    spec = minatar_spec(name, observation=observation, minimal_action_set=minimal_action_set)
    channels = env.obs_shape[-1]

    def observe(obs):  # obs: [10, 10, C] float32 in {0, 1}
        if observation == "channels":
            return obs.reshape(-1).astype(jnp.float32)
        codes = jnp.max(obs * jnp.arange(1, channels + 1, dtype=jnp.float32), axis=-1)
        return (codes.reshape(-1) / channels - 0.5).astype(jnp.float32)

    def reset(key):
        obs, env_state = env.reset_env(key, params)
        return observe(obs), MinAtarState(env_state=env_state, last_action=jnp.zeros((), jnp.int32))

    def step(state, action, key):
        sticky_key, env_key = jax.random.split(key)
        action = jnp.asarray(action, jnp.int32)
        # MinAtar's Environment.act: with probability p the previous action is repeated.
        action = jnp.where(jax.random.uniform(sticky_key) < sticky_action_prob,
                           state.last_action, action)
        obs, env_state, reward, terminated, _ = env.step_env(env_key, state.env_state, action,
                                                             params)
        truncated = env.is_truncated(env_state, params)
        terminated = jnp.asarray(terminated, bool).reshape(())
        return (
            observe(obs),
            MinAtarState(env_state=env_state, last_action=action),
            jnp.asarray(reward, jnp.float32).reshape(()),
            terminated,
            jnp.logical_and(truncated, jnp.logical_not(terminated)).reshape(()),
        )

    return JaxEnv(spec=spec, reset=reset, step=step)


def _make_minatar(name: str, observation: str, minimal_action_set: bool):
    if name not in MINATAR_ENV_NAMES:
        raise EnvError(f"unknown MinAtar env '{name}': expected one of "
                       f"{', '.join(MINATAR_ENV_NAMES)}")
    if observation not in MINATAR_OBSERVATIONS:
        raise EnvError(f"MinAtar env '{name}' option 'observation': expected one of "
                       f"{', '.join(MINATAR_OBSERVATIONS)}, found '{observation}'")
    import gymnax

    return gymnax.make(name, use_minimal_action_set=bool(minimal_action_set))
