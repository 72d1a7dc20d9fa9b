"""Env names -> envs and specs, and the table of reference returns for normalised scores.

Naming rule:
  * gymnax classic control: gymnax's id, e.g. "Pendulum-v1", "CartPole-v1"     (backend gymnax)
  * MinAtar on gymnax: gymnax's id, "Breakout-MinAtar", "SpaceInvaders-MinAtar" (backend gymnax)
    (``gymnax_env.make_minatar_env``: MinAtar's sticky actions, a flat observation)
  * velocity-masked classic control: "Masked" + the gymnax id, "MaskedPendulum-v1",
    "MaskedCartPole-v1" (``envs/masked.py``; the gymnax env, fewer observed dims) (backend gymnax)
  * MiniGrid on navix: MiniGrid's id, "MiniGrid-LavaGapS7-v0",                  (backend navix)
    "MiniGrid-Dynamic-Obstacles-8x8-v0" (``envs/navix_env.py``; MiniGrid's rules)
  * gymnasium's MuJoCo v5 locomotion, ported to MJX: gymnasium's id, e.g.      (backend mjx)
    "HalfCheetah-v5", "Hopper-v5" (``envs/mujoco``; gymnasium's XML and semantics)
  * brax locomotion (MJX physics): brax's lower-case name, e.g. "hopper"       (backend brax)
  * any gymnasium id: prefixed "gymnasium/", e.g. "gymnasium/HalfCheetah-v5",   (backend
    "gymnasium/ALE/Pong-v5"; or the bare id with ``backend="gymnasium"``.       gymnasium)
The prefix keeps ids that gymnax or the MJX ports share with gymnasium (CartPole-v1,
HalfCheetah-v5) unambiguous: a bare id is the JAX-native env. ``host_twin`` maps a JAX-native
env to the gymnasium env with the same semantics, where one exists (host-side evaluation).
"""

from __future__ import annotations

import re
from typing import Any

import jax

from jaxrl_suite.envs import gymnax_env, masked, navix_env
from jaxrl_suite.envs.base import EnvSpec, HostEnv, JaxEnv
from jaxrl_suite.envs.brax_env import BRAX_ENV_NAMES, BRAX_SIZES, brax_spec, make_brax_env
from jaxrl_suite.envs.host_eval import HostEvaluator
from jaxrl_suite.envs.gymnasium_env import GYMNASIUM_PREFIX, gymnasium_spec, make_gymnasium_env
from jaxrl_suite.envs.mujoco import MUJOCO_ENV_NAMES, make_mujoco_env, mujoco_spec
from jaxrl_suite.errors import EnvError

GYMNAX_ENV_NAMES = (
    "Pendulum-v1",
    "MountainCarContinuous-v0",
    "CartPole-v1",
    "Acrobot-v1",
    "MountainCar-v0",
) + gymnax_env.MINATAR_ENV_NAMES + masked.MASKED_ENV_NAMES

BACKENDS = ("gymnax", "mjx", "brax", "navix", "gymnasium")

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
    # Measured by `python -m jaxrl_suite generate --suite=perspective` (2-core CPU, 2026-12-03):
    # random policy over 1,000 episodes; the suite's online DQN expert (50k steps, best
    # evaluation) over 100 fresh episodes.
    "MountainCar-v0": (-200.0, -129.74),
    "hopper": (None, None),
    "halfcheetah": (None, None),
    "walker2d": (None, None),
    "ant": (None, None),
    # ref_min of the four entries below (and of the masked envs after the table) measured by
    # `.venv/bin/python bench/reference_returns.py --episodes 1000 --envs MiniGrid-LavaGapS7-v0
    # MiniGrid-Dynamic-Obstacles-8x8-v0 Breakout-MinAtar SpaceInvaders-MinAtar
    # MaskedPendulum-v1 MaskedCartPole-v1 --oracle`
    # (2-core CPU, JAX 0.10.2, seed 0, 2026-12-03): uniform random policy over 1,000 episodes
    # at the default options (MiniGrid: 3 actions; MinAtar: 6 actions, sticky actions 0.1,
    # 1000-step limit).
    # MiniGrid-LavaGapS7 ref_max: the exact optimum, mean over 1,000 random layouts of
    # 1 - 0.9 * n / 196 with n the fewest steps to the goal (BFS over cell x heading, each path
    # replayed in the env by the same command; std 0.0037).
    "MiniGrid-LavaGapS7-v0": (0.0175, 0.9523),
    # Dynamic-Obstacles, MinAtar ref_max: the `perspective` suite's online DQN expert over 100
    # fresh episodes (`python -m jaxrl_suite generate --suite=perspective`, 2-core CPU,
    # 2026-12-03; 50k steps, MinAtar 200k: a tenth of the paper's 2M, so a weak expert).
    "MiniGrid-Dynamic-Obstacles-8x8-v0": (-0.9924, 0.75),
    "Breakout-MinAtar": (0.52, 6.73),
    "SpaceInvaders-MinAtar": (2.771, 13.58),
}
# Masked envs: ref_max is the unmasked env's expert (Pendulum-v1 / CartPole-v1 above), because
# their datasets come from a full-state behaviour policy acting on the unmasked observation
# (masked.unmasked_observation). ref_min is this env's own measurement by the command above;
# the random policy ignores observations, so it estimates the same number as the unmasked
# entry (the command gives identical returns for Pendulum-v1 / CartPole-v1 at seed 0; seeds
# 0-3 give -1218..-1241 and 21.7..22.2, so Pendulum-v1's -1256.07 sits ~3 s.e. low).
_MASKED_RANDOM_RETURNS = {"MaskedPendulum-v1": -1223.90, "MaskedCartPole-v1": 22.09}
for _name, _random_return in _MASKED_RANDOM_RETURNS.items():
    REFERENCE_RETURNS[_name] = (_random_return, REFERENCE_RETURNS[masked.unmasked_env(_name)][1])
# gymnasium's MuJoCo v5 envs (C MuJoCo) and their MJX ports share one entry (same semantics).
# Measured by `python -m jaxrl_suite generate --suite=mujoco-small` (2-core CPU, 2026-12-02;
# manifest.json of the build, BUILD_NOTES "mujoco-small"): ref_min = uniform random policy
# over 100 episodes (D4RL's protocol); ref_max = the suite's SAC expert (two 128-unit layers,
# 150k / 200k / 200k host steps) over 20 fresh episodes. Ant-v5: random only, by
# `bench/reference_returns.py --envs Ant-v5` (100 episodes); no expert trained yet.
_MUJOCO_REFERENCES = {
    "HalfCheetah-v5": (-282.03, 4688.77),
    "Hopper-v5": (17.27, 1490.09),
    "Walker2d-v5": (2.90, 566.34),
    "Ant-v5": (-51.36, None),
}
# How each MuJoCo entry was measured (shown with the scores of Minari's mujoco/* datasets).
REFERENCE_SOURCES: dict[str, str] = {}
for _name in MUJOCO_ENV_NAMES:
    REFERENCE_RETURNS[_name] = REFERENCE_RETURNS[GYMNASIUM_PREFIX + _name] = (
        _MUJOCO_REFERENCES[_name])
    REFERENCE_SOURCES[_name] = REFERENCE_SOURCES[GYMNASIUM_PREFIX + _name] = (
        "suite measurement (envs/registry.py): random policy over 100 episodes; expert: the "
        "mujoco-small suite's SAC expert over 20 episodes" if _name != "Ant-v5" else
        "suite measurement (envs/registry.py): random policy over 100 episodes; no expert")


def list_envs() -> list[str]:
    """Returns the registered JAX-native env names (gymnasium ids are open-ended: see module)."""
    return (list(GYMNAX_ENV_NAMES) + list(MUJOCO_ENV_NAMES) + list(BRAX_ENV_NAMES)
            + list(navix_env.MINIGRID_ENV_NAMES))


def host_twin(name: str) -> str | None:
    """Returns the gymnasium env name with the same semantics as the JAX-native env ``name``
    (e.g. "HalfCheetah-v5" -> "gymnasium/HalfCheetah-v5"), or None where there is none
    (gymnax and brax envs differ from gymnasium's in details)."""
    return GYMNASIUM_PREFIX + name if name in MUJOCO_ENV_NAMES else None


EVAL_BACKENDS = ("auto", "jax", "host")


def resolve_eval_backend(name: str, eval_backend: str = "auto") -> str:
    """Returns where ``train`` evaluates env ``name``: "jax" (in the compiled chunk) or "host"
    (a HostEvaluator of its gymnasium twin, C MuJoCo, between chunks).

    ``eval_backend``: "jax", "host", or "auto" = the faster one for the JAX backend in use:
    host on a CPU (C MuJoCo steps far faster than MJX there; ``bench/eval_throughput.py``),
    in-jit on an accelerator. Envs without a gymnasium twin (gymnax, brax) evaluate in-jit;
    gymnasium ids ("gymnasium/<id>") on the host.
    """
    if eval_backend not in EVAL_BACKENDS:
        raise EnvError(f"flag '--eval_backend': expected one of {', '.join(EVAL_BACKENDS)}, "
                       f"found '{eval_backend}'")
    backend = "gymnasium" if is_ogbench_env(name) else _resolve(name, None)[0]
    if backend == "gymnasium":
        if eval_backend == "jax":
            raise EnvError(f"--eval_backend=jax: env '{name}' is a host-side gymnasium env; "
                           f"use --eval_backend=host or a JAX-native env "
                           f"({', '.join(MUJOCO_ENV_NAMES)} have MJX ports)")
        return "host"
    if host_twin(name) is None:
        if eval_backend == "host":
            raise EnvError(f"--eval_backend=host: env '{name}' has no gymnasium twin with the "
                           "same semantics; use --eval_backend=jax")
        return "jax"
    if eval_backend == "auto":
        return "host" if jax.default_backend() == "cpu" else "jax"
    return eval_backend


# OGBench's env families (seohongpark/ogbench ``ogbench/__init__.py`` registrations): their
# ids, e.g. "cube-double-v0", "scene-singletask-task2-v0", are evaluated by OGBench's protocols
# on the host (``envs/ogbench_eval.py``); "<env>-oraclerep-v0" is the goal-conditioned env with
# oracle goal representations (DQC's ``oraclerep`` datasets; ``use_oracle_rep=True``).
OGBENCH_ENV = re.compile(r"(visual-)?(cube-(single|double|triple|quadruple|octuple)|scene"
                         r"|puzzle-\d+x\d+|(point|ant|humanoid)maze-[a-z]+-[a-z]+"
                         r"|antsoccer-[a-z]+-[a-z]+)(-singletask(-task\d)?|-oraclerep)?-v\d+")


def is_ogbench_env(name: str) -> bool:
    """Returns whether ``name`` is an OGBench env id (``OGBENCH_ENV``)."""
    return OGBENCH_ENV.fullmatch(name) is not None


def make_eval_env(name: str, eval_backend: str = "auto") -> JaxEnv | HostEvaluator:
    """Returns what ``train`` evaluates ``name`` in, per ``resolve_eval_backend``: the JAX
    env, or a HostEvaluator (of ``name`` itself or its gymnasium twin; OGBench's evaluator
    for its envs)."""
    if is_ogbench_env(name):
        resolve_eval_backend(name, eval_backend)  # refuses --eval_backend=jax
        from jaxrl_suite.envs.ogbench_eval import OGBenchEvaluator

        if "-oraclerep-" in name:
            return OGBenchEvaluator(name.replace("-oraclerep", ""), use_oracle_rep=True)
        return OGBenchEvaluator(name)
    if resolve_eval_backend(name, eval_backend) == "jax":
        return make_env(name)
    host_name = name if name.startswith(GYMNASIUM_PREFIX) else host_twin(name)
    evaluator = HostEvaluator(host_name)
    evaluator.spec = _with_reference(evaluator.spec, default_limit=True)
    return evaluator


def make_env(name: str, *, backend: str | None = None, **kwargs: Any) -> JaxEnv | HostEnv:
    """Returns the env ``name`` with its reference returns attached to ``env.spec``.

    gymnax classic-control and masked names build a JaxEnv (no kwargs); MinAtar names a JaxEnv
    with kwargs ``observation`` ("paper" | "channels"), ``sticky_action_prob`` (default 0.1)
    and ``minimal_action_set`` (default False); MiniGrid names a JaxEnv on navix with kwarg
    ``observation`` ("paper" | "symbolic"); gymnasium's MuJoCo v5 ids a JaxEnv on MJX, with
    kwarg ``episode_length`` (default 1000); brax names a JaxEnv, with kwargs
    ``episode_length`` (default 1000), ``brax_backend`` (physics pipeline, default "mjx") and
    brax env constructor arguments; gymnasium names a HostEnv, with kwargs ``num_envs``,
    ``max_episode_steps``, ``autoreset_mode`` and ``gymnasium.make`` arguments.
    ``backend`` ("gymnax" | "mjx" | "brax" | "navix" | "gymnasium") must agree with the name if
    given. Reference returns hold at the env's default time limit (and, for MinAtar, default
    sticky actions and action set); otherwise they are None.
    """
    backend, env_name = _resolve(name, backend)
    if backend == "gymnax":
        if env_name in gymnax_env.MINATAR_ENV_NAMES:
            options = _minatar_options(name, kwargs)
            env = gymnax_env.make_minatar_env(env_name, **options)
            return env._replace(spec=_with_reference(env.spec, _minatar_default(options)))
        _no_options(name, kwargs)
        if env_name in masked.MASKED_ENV_NAMES:
            env = masked.mask_observations(
                env_name, gymnax_env.make_gymnax_env(masked.unmasked_env(env_name)))
        else:
            env = gymnax_env.make_gymnax_env(env_name)
        return env._replace(spec=_with_reference(env.spec, default_limit=True))
    if backend == "navix":
        env = navix_env.make_navix_env(env_name, **_navix_options(name, kwargs))
        return env._replace(spec=_with_reference(env.spec, default_limit=True))
    if backend == "mjx":
        env = make_mujoco_env(env_name, **_mjx_options(name, kwargs))
        return env._replace(spec=_with_reference(env.spec, _has_default_limit(kwargs)))
    if backend == "brax":
        physics = kwargs.pop("brax_backend", "mjx")
        env = make_brax_env(env_name, backend=physics, **kwargs)
        return env._replace(spec=_with_reference(env.spec, _has_default_limit(kwargs)))
    env = make_gymnasium_env(env_name, **kwargs)
    env.spec = _with_reference(env.spec, kwargs.get("max_episode_steps") is None)
    return env


def env_spec(name: str, *, backend: str | None = None, **kwargs: Any) -> EnvSpec:
    """Returns the spec ``make_env(name, backend=backend, **kwargs).spec`` would have.

    gymnax, navix and default brax envs are not built (brax sizes come from a table); a
    gymnasium env is built once and closed.
    """
    backend, env_name = _resolve(name, backend)
    if backend == "gymnax":
        import gymnax

        if env_name in gymnax_env.MINATAR_ENV_NAMES:
            options = _minatar_options(name, kwargs)
            spec = gymnax_env.minatar_spec(
                env_name, observation=options.get("observation", "paper"),
                minimal_action_set=options.get("minimal_action_set", False))
            return _with_reference(spec, _minatar_default(options))
        _no_options(name, kwargs)
        unmasked = masked.MASKED_ENVS.get(env_name, (env_name,))[0]
        env, params = gymnax.make(unmasked)
        spec = gymnax_env.gymnax_spec(unmasked, env, params)
        if env_name in masked.MASKED_ENV_NAMES:
            spec = masked.masked_spec(env_name, spec)
        return _with_reference(spec, default_limit=True)
    if backend == "navix":
        return _with_reference(
            navix_env.navix_spec(env_name, **_navix_options(name, kwargs)), default_limit=True)
    if backend == "mjx":
        spec = mujoco_spec(env_name, **_mjx_options(name, kwargs))
        return _with_reference(spec, _has_default_limit(kwargs))
    if backend == "brax":
        default_limit = _has_default_limit(kwargs)
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
    if name in MUJOCO_ENV_NAMES and backend in (None, "mjx"):
        return "mjx", name
    if name in BRAX_ENV_NAMES and backend in (None, "brax"):
        return "brax", name
    if name in navix_env.MINIGRID_ENV_NAMES and backend in (None, "navix"):
        return "navix", name
    raise EnvError(
        f"unknown env '{name}'" + (f" for backend '{backend}'" if backend else "")
        + f": known names are {', '.join(list_envs())}, or any gymnasium id as "
        "'gymnasium/<id>' (e.g. 'gymnasium/HalfCheetah-v5')"
    )


def _no_options(name: str, kwargs: dict[str, Any]) -> None:
    if kwargs:
        raise EnvError(f"gymnax env '{name}' takes no options, found {sorted(kwargs)}")


def _minatar_options(name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(kwargs) - {"observation", "sticky_action_prob", "minimal_action_set"})
    if unknown:
        raise EnvError(f"MinAtar env '{name}' takes only 'observation', 'sticky_action_prob' "
                       f"and 'minimal_action_set', found {unknown}")
    return dict(kwargs)


def _minatar_default(options: dict[str, Any]) -> bool:
    # Random and expert returns depend on sticky actions and the action set, not on the encoding.
    return (float(options.get("sticky_action_prob", gymnax_env.MINATAR_STICKY_ACTION_PROB))
            == gymnax_env.MINATAR_STICKY_ACTION_PROB
            and not options.get("minimal_action_set", False))


def _navix_options(name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(kwargs) - {"observation"})
    if unknown:
        raise EnvError(f"MiniGrid env '{name}' takes only 'observation', found {unknown}")
    return dict(kwargs)


def _mjx_options(name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(kwargs) - {"episode_length"})
    if unknown:
        raise EnvError(f"MuJoCo env '{name}' takes only 'episode_length', found {unknown}")
    return dict(kwargs)


def _has_default_limit(kwargs: dict[str, Any]) -> bool:
    return int(kwargs.get("episode_length", 1000)) == 1000


def _with_reference(spec: EnvSpec, default_limit: bool) -> EnvSpec:
    # Reference returns hold at the default time limit only; a shortened episode gets None.
    ref_min, ref_max = REFERENCE_RETURNS.get(spec.name, (None, None))
    if not default_limit:
        ref_min = ref_max = None
    return spec.replace(ref_min_score=ref_min, ref_max_score=ref_max)
