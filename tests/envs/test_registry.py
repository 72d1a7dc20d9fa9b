"""Env names resolve to the right backend, specs agree with built envs, reference returns attach."""

import pytest

from jaxrl_suite.envs import REFERENCE_RETURNS, HostEnv, JaxEnv, env_spec, list_envs, make_env
from jaxrl_suite.envs import registry
from jaxrl_suite.errors import EnvError

GYMNAX = ["Pendulum-v1", "MountainCarContinuous-v0", "CartPole-v1", "Acrobot-v1", "MountainCar-v0",
          "Breakout-MinAtar", "SpaceInvaders-MinAtar", "MaskedPendulum-v1", "MaskedCartPole-v1"]
BRAX = ["hopper", "halfcheetah", "walker2d", "ant"]
MJX = ["HalfCheetah-v5", "Hopper-v5", "Walker2d-v5", "Ant-v5"]
NAVIX = ["MiniGrid-LavaGapS7-v0", "MiniGrid-Dynamic-Obstacles-8x8-v0"]


def test_list_envs_names_every_gymnax_mjx_brax_and_navix_env():
    assert sorted(list_envs()) == sorted(GYMNAX + MJX + BRAX + NAVIX)


def test_every_listed_env_has_a_reference_returns_entry():
    assert set(list_envs()) <= set(REFERENCE_RETURNS)


def test_unknown_name_raises_env_error_listing_the_known_names():
    with pytest.raises(EnvError) as info:
        make_env("HalfCheetah-v9")
    message = str(info.value)
    assert "unknown env 'HalfCheetah-v9'" in message
    for name in GYMNAX + MJX + BRAX + NAVIX:
        assert name in message
    assert "gymnasium/" in message
    with pytest.raises(EnvError, match="known names"):
        env_spec("nope")


def test_backend_must_agree_with_the_name():
    with pytest.raises(EnvError, match="unknown env 'hopper' for backend 'gymnax'"):
        make_env("hopper", backend="gymnax")
    with pytest.raises(EnvError, match="gymnasium env"):
        make_env("gymnasium/CartPole-v1", backend="brax")
    with pytest.raises(EnvError, match="unknown env backend"):
        make_env("CartPole-v1", backend="jax")
    with pytest.raises(EnvError, match="for backend 'gymnax'"):
        env_spec("MiniGrid-LavaGapS7-v0", backend="gymnax")
    assert env_spec("MiniGrid-LavaGapS7-v0", backend="navix").backend == "navix"


@pytest.mark.parametrize("name,backend", [(n, "gymnax") for n in GYMNAX]
                         + [(n, "navix") for n in NAVIX])
def test_env_spec_equals_the_built_env_spec(name, backend):
    env = make_env(name)
    assert isinstance(env, JaxEnv)
    assert env.spec == env_spec(name)
    assert env.spec.backend == backend and env.spec.name == name
    if backend == "navix":
        assert make_env(name, observation="symbolic").spec == env_spec(
            name, observation="symbolic")


def test_new_envs_carry_their_measured_reference_returns():
    lo, hi = REFERENCE_RETURNS["MiniGrid-LavaGapS7-v0"]
    assert 0 <= lo < hi < 1  # random vs the exact optimum, both in MiniGrid's reward range
    assert env_spec("MiniGrid-LavaGapS7-v0").ref_max_score == hi
    for name in ("MiniGrid-Dynamic-Obstacles-8x8-v0", "Breakout-MinAtar", "SpaceInvaders-MinAtar",
                 "MountainCar-v0"):
        lo, hi = REFERENCE_RETURNS[name]
        assert lo < hi and env_spec(name).ref_max_score == hi  # random < the suite's DQN
    for masked_name, name in (("MaskedPendulum-v1", "Pendulum-v1"),
                              ("MaskedCartPole-v1", "CartPole-v1")):
        assert REFERENCE_RETURNS[masked_name][1] == REFERENCE_RETURNS[name][1]


@pytest.mark.parametrize("name", BRAX)
def test_brax_size_table_matches_the_built_env(name):
    built = make_env(name, episode_length=10)
    assert built.spec == env_spec(name, episode_length=10)


def test_a_bare_gymnax_id_is_jax_native_and_the_prefix_selects_gymnasium():
    import gymnasium  # noqa: F401
    assert env_spec("CartPole-v1").backend == "gymnax"
    prefixed = env_spec("gymnasium/CartPole-v1")
    assert prefixed == env_spec("CartPole-v1", backend="gymnasium")
    assert prefixed.backend == "gymnasium" and prefixed.name == "gymnasium/CartPole-v1"
    with make_env("gymnasium/CartPole-v1", num_envs=2) as env:
        assert isinstance(env, HostEnv) and env.num_envs == 2
        assert env.spec == prefixed
    with pytest.raises(EnvError, match="cannot build gymnasium env"):
        make_env("gymnasium/NoSuchEnv-v0")


def test_make_env_attaches_reference_returns_at_the_default_time_limit(monkeypatch):
    monkeypatch.setitem(REFERENCE_RETURNS, "Pendulum-v1", (-1200.0, -150.0))
    monkeypatch.setitem(REFERENCE_RETURNS, "hopper", (10.0, 3000.0))
    spec = make_env("Pendulum-v1").spec
    assert (spec.ref_min_score, spec.ref_max_score) == (-1200.0, -150.0)
    assert env_spec("Pendulum-v1").ref_min_score == -1200.0
    assert env_spec("hopper").ref_max_score == 3000.0
    # Reference returns hold for the default limit only: a shortened episode gets none.
    assert env_spec("hopper", episode_length=20).ref_max_score is None
    assert registry.REFERENCE_RETURNS is REFERENCE_RETURNS


def test_reference_returns_come_from_the_table_or_are_none():
    lo, hi = REFERENCE_RETURNS["CartPole-v1"]
    assert lo < hi  # measured: the random policy scores below the expert
    assert make_env("CartPole-v1").spec.ref_min_score == lo
    assert env_spec("ant").ref_max_score is None  # not measured yet


def test_eval_backend_resolution_and_its_errors():
    from jaxrl_suite.envs.registry import resolve_eval_backend

    assert resolve_eval_backend("CartPole-v1") == "jax"  # no gymnasium twin: in-jit
    assert resolve_eval_backend("HalfCheetah-v5", "jax") == "jax"
    assert resolve_eval_backend("HalfCheetah-v5", "host") == "host"
    assert resolve_eval_backend("HalfCheetah-v5") == "host"  # auto, on this CPU
    assert resolve_eval_backend("gymnasium/Hopper-v5") == "host"
    with pytest.raises(EnvError, match="no gymnasium twin"):
        resolve_eval_backend("CartPole-v1", "host")
    with pytest.raises(EnvError, match="host-side gymnasium env"):
        resolve_eval_backend("gymnasium/Hopper-v5", "jax")
    with pytest.raises(EnvError, match="expected one of auto, jax, host"):
        resolve_eval_backend("Pendulum-v1", "gpu")


def test_ogbench_ids_evaluate_by_ogbench_protocols_on_the_host():
    pytest.importorskip("ogbench")
    from jaxrl_suite.envs.ogbench_eval import OGBenchEvaluator
    from jaxrl_suite.envs.registry import is_ogbench_env, make_eval_env, resolve_eval_backend

    for name in ("cube-double-v0", "scene-singletask-task2-v0", "puzzle-3x3-oraclerep-v0",
                 "antmaze-large-navigate-v0", "visual-cube-single-v0"):
        assert is_ogbench_env(name), name
    for name in ("cube-double-play-v0", "HalfCheetah-v5", "cube-v0"):
        assert not is_ogbench_env(name), name
    assert resolve_eval_backend("cube-double-v0") == "host"
    with pytest.raises(EnvError, match="host-side"):
        resolve_eval_backend("cube-double-v0", "jax")
    evaluator = make_eval_env("cube-single-singletask-task1-v0")
    assert isinstance(evaluator, OGBenchEvaluator) and not evaluator.goal_conditioned
    evaluator.close()
