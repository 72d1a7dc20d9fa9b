"""Recipes produce the structure they promise; suites save, load back through Minari and cache."""

import jax
import numpy as np
import pytest

from jaxrl_suite.data import io
from jaxrl_suite.envs.registry import make_env
from jaxrl_suite.generate import recipes, suite
from jaxrl_suite.generate.experts import ExpertConfig, train_online_expert

N = 2_000


@pytest.fixture(scope="module")
def cartpole():
    env = make_env("CartPole-v1")
    config = ExpertConfig(2_000, 1_000, (32, 32), eval_episodes=4, final_eval_episodes=8)
    return env, train_online_expert(env, jax.random.PRNGKey(0), config)


@pytest.fixture(scope="module")
def pendulum():
    env = make_env("Pendulum-v1")
    config = ExpertConfig(1_000, 500, (32, 32), eval_episodes=2, final_eval_episodes=2,
                          learning_starts=500)
    return env, train_online_expert(env, jax.random.PRNGKey(0), config)


def greedy_actions(run, ds):
    return np.asarray(jax.jit(run.expert_policy)(run.expert_params, ds.observations,
                                                 jax.random.PRNGKey(0)))


def test_online_run_replay_is_every_step_seen(cartpole):
    env, run = cartpole
    assert run.replay.num_transitions == 2_000
    assert run.replay.meta.info_dict()["recipe"] == "replay"
    assert run.eval_curve.shape == (2, 2) and run.best_eval_return == run.eval_curve[:, 1].max()


def test_expert_dataset_follows_greedy_policy(cartpole):
    env, run = cartpole
    ds = recipes.expert_dataset(env, run, jax.random.PRNGKey(1), N, ref_min=20.0)
    assert ds.num_transitions == N
    np.testing.assert_array_equal(ds.actions, greedy_actions(run, ds))
    assert ds.meta.ref_min_score == 20.0 and ds.meta.ref_max_score == run.expert_return


def test_noisy_actions_differ_from_greedy_at_stated_rate(cartpole, pendulum):
    env, run = cartpole
    ds = recipes.noisy_dataset(env, run, jax.random.PRNGKey(2), N, epsilon=0.3)
    differ = np.mean(np.asarray(ds.actions) != greedy_actions(run, ds))
    expect = 0.3 * (1 - 1 / env.spec.num_actions)  # a random action may equal the greedy one
    assert abs(differ - expect) < 4 * np.sqrt(expect * (1 - expect) / N)
    assert ds.meta.info_dict() == {"recipe": "noisy", "epsilon": 0.3}
    env, run = pendulum
    ds = recipes.noisy_dataset(env, run, jax.random.PRNGKey(3), N, epsilon=0.2)
    differ = np.mean(np.any(np.asarray(ds.actions) != greedy_actions(run, ds), axis=1))
    assert abs(differ - 0.2) < 4 * np.sqrt(0.2 * 0.8 / N)


def test_mixed_has_stated_share_of_random_then_expert(cartpole):
    env, run = cartpole
    ds = recipes.mixed_dataset(env, run, jax.random.PRNGKey(4), N, random_share=0.8)
    assert ds.num_transitions == N
    matches = np.asarray(ds.actions) == greedy_actions(run, ds)
    cut = int(0.8 * N)
    assert matches[cut:].all()  # the expert part is exactly the greedy policy
    assert abs(matches[:cut].mean() - 0.5) < 0.06  # the random part agrees half the time
    assert bool(ds.timeouts[cut - 1] | ds.terminals[cut - 1])  # the random part ends there


def test_random_dataset_is_uniform(cartpole):
    env, run = cartpole
    ds = recipes.random_dataset(env, jax.random.PRNGKey(5), N)
    assert abs(np.asarray(ds.actions).mean() - 0.5) < 0.05


def test_mixed_quality_share_is_just_above_sigma(pendulum):
    env, run = pendulum
    high = recipes.expert_dataset(env, run, jax.random.PRNGKey(6), N)
    low = recipes.random_dataset(env, jax.random.PRNGKey(7), N)
    for sigma in (0.05, 0.5):
        ds = recipes.mixed_quality_dataset(high, low, sigma, 1_000)
        num_high = ds.meta.info_dict()["num_high_transitions"]
        # Whole trajectories until more than sigma * N: overshoot below one episode (200 steps).
        assert sigma * 1_000 < num_high <= sigma * 1_000 + 200
        assert 1_000 < ds.num_transitions <= 1_000 + 200
        np.testing.assert_array_equal(ds.observations[:num_high], high.observations[:num_high])
        np.testing.assert_array_equal(ds.observations[num_high:],
                                      low.observations[: ds.num_transitions - num_high])


def test_suite_builds_saves_loads_and_caches(tmp_path, monkeypatch):
    micro = suite.SuiteSpec(
        name="micro",
        envs=(suite.EnvBudget("CartPole-v1", ExpertConfig(1_000, 500, (16,), eval_episodes=2,
                                                          final_eval_episodes=2),
                              random_episodes=8),),
        recipes=("random", "expert", "replay"))
    monkeypatch.setitem(suite.SUITES, "micro", micro)
    logs = []
    manifest = suite.build_suite("micro", tmp_path, log=logs.append)
    ids = suite.suite_dataset_ids(micro)["CartPole-v1"]
    assert ids == [f"jaxrl_suite/micro/cartpole/{r}-v0" for r in ("random", "expert", "replay")]
    for ds_id in ids:
        ds = io.load_minari(ds_id, root=tmp_path)
        assert ds.num_transitions == 1_000
        assert ds.meta.ref_min_score == pytest.approx(manifest["CartPole-v1"]["ref_min_score"])
        assert ds.meta.info_dict()["suite"] == "micro"
    logs.clear()
    suite.build_suite("micro", tmp_path, log=logs.append)
    assert logs == [f"[CartPole-v1] cached in {tmp_path / 'jaxrl_suite' / 'micro'}"]
