"""The history-window env wrapper: its windows are the dataset transform's on the same
episodes, a policy acts the same on both, and ``evaluate`` runs on it inside jit and vmap."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_suite.agents.base import data_spec
from jaxrl_suite.agents.bc import BCConfig, BCHParams, make_bc
from jaxrl_suite.envs.evaluate import evaluate, random_policy
from jaxrl_suite.envs.history import with_history
from jaxrl_suite.envs.registry import make_env, make_eval_env
from jaxrl_suite.envs.rollout import init_rollout, rollout
from jaxrl_suite.errors import EnvError
from jaxrl_suite.generate.collect import meta_for, stream_to_dataset
from jaxrl_suite.transforms.history import history_windows

K = 4


def recorded(env_name, policy_fn, params, steps, num_envs=2, seed=0):
    """Returns (the windowed transitions as a Dataset, the raw-observation Dataset) of one
    rollout of ``policy_fn`` in the wrapped env (auto-reset between episodes)."""
    env = with_history(make_env(env_name), K)
    key = jax.random.PRNGKey(seed)
    run = jax.jit(lambda p, k: rollout(env, policy_fn, p, init_rollout(env, k, num_envs), k,
                                       steps, with_stats=False)[1])
    windowed = run(params, key)
    raw = windowed.replace(obs=windowed.obs[..., -1, :-1], next_obs=windowed.next_obs[..., -1, :-1])
    spec = make_env(env_name).spec
    return (stream_to_dataset(windowed, meta_for(env.spec), keep_unfinished=True),
            stream_to_dataset(raw, meta_for(spec), keep_unfinished=True))


def test_env_windows_are_the_dataset_transforms_windows_across_episode_ends():
    env = make_env("CartPole-v1")
    policy = random_policy(env.spec)
    windowed, raw = recorded("CartPole-v1", policy, None, 150)
    assert raw.num_episodes >= 6  # random CartPole episodes last ~20 steps: many ends
    rebuilt = history_windows(raw, K)
    np.testing.assert_array_equal(np.asarray(windowed.observations),
                                  np.asarray(rebuilt.observations))
    np.testing.assert_array_equal(np.asarray(windowed.next_observations),
                                  np.asarray(rebuilt.next_observations))
    first = np.asarray(raw.episode_starts)
    flags = np.asarray(windowed.observations)[..., -1]
    np.testing.assert_array_equal(flags[first], np.eye(K)[-1][None].repeat(len(first), 0))


@pytest.fixture(scope="module")
def gru_bc():
    """A GRU-encoded BC policy (random init) on Pendulum windows, and its jitted act."""
    env = make_env("Pendulum-v1")
    learner = make_bc(BCConfig((16,), history_encoder="gru", history_hidden=8))
    windowed, raw = recorded("Pendulum-v1", random_policy(env.spec), None, 40)
    spec = data_spec(history_windows(raw, K))
    state = learner.init(jax.random.PRNGKey(1), spec, BCHParams())
    act = jax.jit(lambda s, o: learner.act(s, o, jax.random.PRNGKey(0), True))
    return learner, state, act


def test_recurrent_policy_acts_in_the_env_as_on_the_stored_history(gru_bc):
    learner, state, act = gru_bc

    def policy_fn(s, obs, key):
        return learner.act(s, obs, key, True)

    windowed, raw = recorded("Pendulum-v1", policy_fn, state, 60, seed=3)
    stored = history_windows(raw, K)
    np.testing.assert_allclose(np.asarray(act(state, stored.observations)),
                               np.asarray(windowed.actions), rtol=1e-5, atol=1e-6)


def test_evaluate_runs_jitted_and_vmapped_on_windows(gru_bc):
    learner, state, _ = gru_bc
    env = with_history(make_env("Pendulum-v1"), K)

    def policy_fn(s, obs, key):
        return learner.act(s, obs, key, True)

    states = jax.tree.map(lambda x: jnp.stack([x, x]), state)
    returns = jax.jit(jax.vmap(lambda s, k: evaluate(policy_fn, s, env, k, 2).returns))(
        states, jax.random.split(jax.random.PRNGKey(0), 2))
    assert returns.shape == (2, 2) and np.isfinite(np.asarray(returns)).all()
    assert env.spec.observation_shape == (K, 4)


def test_wrapper_refuses_host_envs_image_observations_and_bad_lengths():
    with pytest.raises(EnvError, match="host"):
        with_history(make_eval_env("HalfCheetah-v5", "host"), K)
    env = make_env("Pendulum-v1")
    with pytest.raises(EnvError, match="k >= 1"):
        with_history(env, 0)
    image = env._replace(spec=env.spec.replace(observation_shape=(2, 2)))
    with pytest.raises(EnvError, match="flat"):
        with_history(image, K)
