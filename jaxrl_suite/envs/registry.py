"""Env names -> envs and specs, and the table of reference returns for normalised scores.

Naming rule:
  * gymnax classic control: gymnax's id, e.g. "Pendulum-v1", "CartPole-v1"     (backend gymnax)
  * brax locomotion (MJX physics): brax's lower-case name, e.g. "hopper"       (backend brax)
  * any gymnasium id: prefixed "gymnasium/", e.g. "gymnasium/HalfCheetah-v5",   (backend
    "gymnasium/ALE/Pong-v5"; or the bare id with ``backend="gymnasium"``.       gymnasium)
The prefix keeps ids that gymnax and gymnasium share (CartPole-v1, Pendulum-v1) unambiguous:
a bare id is the JAX-native env.
"""

from __future__ import annotations

from typing import Any

from jaxrl_suite.envs import gymnax_env
from jaxrl_suite.envs.base import EnvSpec, HostEnv, JaxEnv
from jaxrl_suite.envs.brax_env import BRAX_ENV_NAMES, BRAX_SIZES, brax_spec, make_brax_env
from jaxrl_suite.envs.gymnasium_env import GYMNASIUM_PREFIX, gymnasium_spec, make_gymnasium_env
from jaxrl_suite.errors import EnvError

GYMNAX_ENV_NAMES = (
    "Pendulum-v1",
    "MountainCarContinuous-v0",
    "CartPole-v1",
    "Acrobot-v1",
    "MountainCar-v0",
)

BACKENDS = ("gymnax", "brax", "gymnasium")

# Reference returns per env name: (ref_min_score, ref_max_score) = (mean return of the uniform
# random policy, mean return of an expert policy), undiscounted, at the env's default time
# limit. None = not measured yet. Fill an entry with the measured value and cite its source
# (command and machine, or paper) in a comment beside it.
REFERENCE_RETURNS: dict[str, tuple[float | None, float | None]] = {
    # Measured by `python -m jaxrl_suite generate --suite=default` (2-core CPU, 2026-11-26):
    # ref_min = uniform random policy over 1,000 episodes; ref_max = the suite's online expert
    # (best-evaluated DQN / SAC) over 100 fresh episodes. See BUILD_NOTES.md.
    "Pendulum-v1": (-1256.07, -142.93),
    # MountainCarContinuous: SAC finds only the stand-still optimum (return ~0), not the goal
    # (~+90); ref_max is that expert's return, so TQ here measures "as good as standing still".
    "MountainCarContinuous-v0": (-33.33, -0.0),
    "CartPole-v1": (22.25, 453.32),
    "Acrobot-v1": (-498.12, -87.79),
    "MountainCar-v0": (None, None),
    "hopper": (None, None),
    "halfcheetah": (None, None),
    "walker2d": (None, None),
    "ant": (None, None),
    "gymnasium/HalfCheetah-v5": (None, None),
    "gymnasium/Hopper-v5": (None, None),
    "gymnasium/Walker2d-v5": (None, None),
}


def list_envs() -> list[str]:
    """Returns the registered JAX-native env names (gymnasium ids are open-ended: see module)."""
    return list(GYMNAX_ENV_NAMES) + list(BRAX_ENV_NAMES)


def make_env(name: str, *, backend: str | None = None, **kwargs: Any) -> JaxEnv | HostEnv:
    """Returns the env ``name`` with its reference returns attached to ``env.spec``.

    gymnax names build a JaxEnv (no kwargs); brax names a JaxEnv, with kwargs
    ``episode_length`` (default 1000), ``brax_backend`` (physics pipeline, default "mjx") and
    brax env constructor arguments; gymnasium names a HostEnv, with kwargs ``num_envs``,
    ``max_episode_steps``, ``autoreset_mode`` and ``gymnasium.make`` arguments.
    ``backend`` ("gymnax" | "brax" | "gymnasium") must agree with the name if given.
    Reference returns hold at the env's default time limit; with a changed limit they are None.
    """
    backend, env_name = _resolve(name, backend)
    if backend == "gymnax":
        if kwargs:
            raise EnvError(f"gymnax env '{name}' takes no options, found {sorted(kwargs)}")
        env = gymnax_env.make_gymnax_env(env_name)
        return env._replace(spec=_with_reference(env.spec, default_limit=True))
    if backend == "brax":
        physics = kwargs.pop("brax_backend", "mjx")
        env = make_brax_env(env_name, backend=physics, **kwargs)
        return env._replace(spec=_with_reference(env.spec, _brax_default_limit(kwargs)))
    env = make_gymnasium_env(env_name, **kwargs)
    env.spec = _with_reference(env.spec, kwargs.get("max_episode_steps") is None)
    return env


def env_spec(name: str, *, backend: str | None = None, **kwargs: Any) -> EnvSpec:
    """Returns the spec ``make_env(name, backend=backend, **kwargs).spec`` would have.

    gymnax and default brax envs are not built (brax sizes come from a table); a gymnasium env
    is built once and closed.
    """
    backend, env_name = _resolve(name, backend)
    if backend == "gymnax":
        import gymnax

        env, params = gymnax.make(env_name)
        return _with_reference(gymnax_env.gymnax_spec(env_name, env, params), default_limit=True)
    if backend == "brax":
        default_limit = _brax_default_limit(kwargs)
        episode_length = kwargs.pop("episode_length", 1000)
        kwargs.pop("brax_backend", None)  # the physics pipeline does not change the spaces
        if kwargs:  # constructor options may change the observation size: build to be sure
            spec = make_brax_env(env_name, episode_length=episode_length, **kwargs).spec
        else:
            spec = brax_spec(env_name, *BRAX_SIZES[env_name], episode_length)
        return _with_reference(spec, default_limit)
    kwargs.pop("num_envs", None)
    kwargs.pop("autoreset_mode", None)
    default_limit = kwargs.get("max_episode_steps") is None
    return _with_reference(gymnasium_spec(env_name, **kwargs), default_limit)


def _resolve(name: str, backend: str | None) -> tuple[str, str]:
    """Returns (backend, the backend's own env id) for a suite env name."""
    if backend is not None and backend not in BACKENDS:
        raise EnvError(f"unknown env backend '{backend}': expected one of {', '.join(BACKENDS)}")
    if name.startswith(GYMNASIUM_PREFIX):
        if backend not in (None, "gymnasium"):
            raise EnvError(f"env '{name}' is a gymnasium env, but backend='{backend}' was given")
        return "gymnasium", name[len(GYMNASIUM_PREFIX):]
    if backend == "gymnasium":
        return "gymnasium", name
    if name in GYMNAX_ENV_NAMES and backend in (None, "gymnax"):
        return "gymnax", name
    if name in BRAX_ENV_NAMES and backend in (None, "brax"):
        return "brax", name
    raise EnvError(
        f"unknown env '{name}'" + (f" for backend '{backend}'" if backend else "")
        + f": known names are {', '.join(list_envs())}, or any gymnasium id as "
        "'gymnasium/<id>' (e.g. 'gymnasium/HalfCheetah-v5')"
    )


def _brax_default_limit(kwargs: dict[str, Any]) -> bool:
    return int(kwargs.get("episode_length", 1000)) == 1000


def _with_reference(spec: EnvSpec, default_limit: bool) -> EnvSpec:
    # Reference returns hold at the default time limit only; a shortened episode gets None.
    ref_min, ref_max = REFERENCE_RETURNS.get(spec.name, (None, None))
    if not default_limit:
        ref_min = ref_max = None
    return spec.replace(ref_min_score=ref_min, ref_max_score=ref_max)
