"""Environments: one functional interface over gymnax, brax (MJX), navix and gymnasium (host loop).

Heavy backends load lazily: brax when a brax env is built, navix when a MiniGrid env is,
gymnasium when a gymnasium env is.
"""

from jaxrl_suite.envs.base import EnvSpec, HostEnv, JaxEnv
from jaxrl_suite.envs.brax_env import BraxEnvState, make_brax_env
from jaxrl_suite.envs.evaluate import (
    EvalResult,
    PolicyFn,
    evaluate,
    make_evaluate,
    normalized_score,
    random_policy,
)
from jaxrl_suite.envs.gymnasium_env import evaluate_host, make_gymnasium_env
from jaxrl_suite.envs.gymnax_env import make_gymnax_env, make_minatar_env
from jaxrl_suite.envs.masked import mask_observations, unmasked_observation
from jaxrl_suite.envs.navix_env import make_navix_env
from jaxrl_suite.envs.registry import REFERENCE_RETURNS, env_spec, list_envs, make_env

__all__ = [
    "BraxEnvState",
    "EnvSpec",
    "EvalResult",
    "HostEnv",
    "JaxEnv",
    "PolicyFn",
    "REFERENCE_RETURNS",
    "env_spec",
    "evaluate",
    "evaluate_host",
    "list_envs",
    "make_brax_env",
    "make_env",
    "make_evaluate",
    "make_gymnasium_env",
    "make_gymnax_env",
    "make_minatar_env",
    "make_navix_env",
    "mask_observations",
    "normalized_score",
    "random_policy",
    "unmasked_observation",
]
