"""evaluate: agrees with a plain gymnax loop, vmaps over seeds, compiles once."""

import gymnax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_suite.envs import (
    EnvSpec,
    HostEnv,
    evaluate,
    make_env,
    make_evaluate,
    normalized_score,
    random_policy,
)
from jaxrl_suite.errors import EnvError

NUM_EPISODES = 256


def gymnax_loop_returns(name, num_episodes, seed):
    """Returns first-episode returns from gymnax's own auto-resetting ``step`` (6 values),
    with uniform random actions from NumPy, accumulated on the host until each env's first
    ``terminated or truncated``."""
    env, params = gymnax.make(name)
    reset = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))
    step = jax.jit(jax.vmap(env.step, in_axes=(0, 0, 0, None)))
    rng = np.random.default_rng(seed)
    space = env.action_space(params)
    key = jax.random.key(seed)
    key, reset_key = jax.random.split(key)
    _, state = reset(jax.random.split(reset_key, num_episodes), params)
    returns = np.zeros(num_episodes)
    done = np.zeros(num_episodes, bool)
    for _ in range(params.max_steps_in_episode):
        if isinstance(space, gymnax.environments.spaces.Discrete):
            actions = rng.integers(0, space.n, num_episodes)
        else:
            actions = rng.uniform(space.low, space.high, (num_episodes, *space.shape))
        key, step_key = jax.random.split(key)
        _, state, reward, terminated, truncated, _ = step(
            jax.random.split(step_key, num_episodes), state, actions, params
        )
        returns += np.where(done, 0.0, np.asarray(reward))
        done |= np.asarray(terminated) | np.asarray(truncated)
        if done.all():
            break
    assert done.all()
    return returns


@pytest.mark.parametrize("name", ["CartPole-v1", "Pendulum-v1"])
def test_random_policy_mean_return_matches_a_plain_gymnax_loop(name):
    env = make_env(name)
    result = jax.jit(make_evaluate(random_policy(env.spec), env, NUM_EPISODES))(
        None, jax.random.key(0)
    )
    ours = np.asarray(result.returns, np.float64)
    reference = gymnax_loop_returns(name, NUM_EPISODES, seed=1)
    std_err = np.sqrt(ours.var(ddof=1) / ours.size + reference.var(ddof=1) / reference.size)
    assert abs(ours.mean() - reference.mean()) < 4 * std_err, (ours.mean(), reference.mean())
    assert result.returns.shape == (NUM_EPISODES,) and result.returns.dtype == jnp.float32
    assert result.lengths.shape == (NUM_EPISODES,) and result.lengths.dtype == jnp.int32
    if name == "CartPole-v1":  # reward 1 per step: return = length
        np.testing.assert_array_equal(result.returns, result.lengths)
    else:  # Pendulum never terminates: every episode runs to its 200-step limit
        assert np.all(result.lengths == 200)


def linear_cartpole_policy(params, obs, key):
    """Pushes toward the sign of obs @ params; each action is flipped with probability 0.1."""
    greedy = (obs @ params > 0).astype(jnp.int32)
    flip = jax.random.bernoulli(key, 0.1, greedy.shape)
    return jnp.where(flip, 1 - greedy, greedy)


@pytest.fixture(scope="module")
def cartpole_eval():
    env = make_env("CartPole-v1")
    return env, make_evaluate(linear_cartpole_policy, env, num_episodes=16)


def test_vmapped_seeds_match_single_seed(cartpole_eval):
    _, evaluate_fn = cartpole_eval
    num_seeds = 8
    params = jax.random.normal(jax.random.key(0), (num_seeds, 4)) + jnp.array([0.0, 0.0, 1.0, 1.0])
    keys = jax.random.split(jax.random.key(1), num_seeds)
    batched = jax.jit(jax.vmap(evaluate_fn))(params, keys)
    assert batched.returns.shape == (num_seeds, 16) and batched.lengths.shape == (num_seeds, 16)
    single = jax.jit(evaluate_fn)
    for i in range(num_seeds):
        alone = single(params[i], keys[i])
        np.testing.assert_array_equal(batched.lengths[i], alone.lengths)
        np.testing.assert_allclose(batched.returns[i], alone.returns, rtol=1e-6)
    # The seeds differ, so their results should too.
    assert len({tuple(np.asarray(r).tolist()) for r in batched.returns}) == num_seeds


def test_evaluate_traces_once_for_new_params_and_keys(cartpole_eval):
    env, _ = cartpole_eval
    traces = []

    def counting_policy(params, obs, key):
        traces.append(1)
        return linear_cartpole_policy(params, obs, key)

    evaluate_fn = jax.jit(make_evaluate(counting_policy, env, num_episodes=4))
    evaluate_fn(jnp.ones(4), jax.random.key(0))
    evaluate_fn(-jnp.ones(4), jax.random.key(1))
    assert len(traces) == 1


def test_episode_reward_stops_after_its_first_done_step():
    env = make_env("CartPole-v1")

    def push_left(params, obs, key):
        del params, key
        return jnp.zeros((obs.shape[0],), jnp.int32)

    result = jax.jit(make_evaluate(push_left, env, 8))(None, jax.random.key(0))
    # Pushing left topples the pole within a few dozen steps; the remaining ~490 steps of the
    # 500-step scan must add neither reward nor length.
    assert np.all(result.lengths < 50)
    np.testing.assert_array_equal(result.returns, result.lengths)


def test_evaluate_rejects_a_host_env():
    spec = EnvSpec(name="gymnasium/X-v0", backend="gymnasium", observation_shape=(1,),
                   discrete=True, num_actions=2)
    with pytest.raises(EnvError, match="evaluate_host"):
        evaluate(random_policy(spec), None, HostEnv(spec=spec, vector_env=None),
                 jax.random.key(0), 2)


def test_normalized_score_is_0_for_random_and_100_for_expert():
    returns = jnp.array([-10.0, 90.0, 40.0])
    np.testing.assert_allclose(normalized_score(returns, -10.0, 90.0), [0.0, 100.0, 50.0])
    with pytest.raises(EnvError, match="reference returns unknown"):
        normalized_score(returns, None, 90.0)


def test_random_policy_samples_within_the_action_space():
    obs = jnp.zeros((1000, 3))
    discrete = EnvSpec(name="d", backend="gymnax", observation_shape=(3,), discrete=True,
                       num_actions=3)
    actions = random_policy(discrete)(None, obs, jax.random.key(0))
    assert actions.shape == (1000,) and actions.dtype == jnp.int32
    assert set(np.asarray(actions).tolist()) == {0, 1, 2}
    continuous = EnvSpec(name="c", backend="gymnax", observation_shape=(3,), discrete=False,
                         action_dim=2, action_low=(-2.0, 0.0), action_high=(2.0, 0.5))
    actions = np.asarray(random_policy(continuous)(None, obs, jax.random.key(0)))
    assert actions.shape == (1000, 2) and actions.dtype == np.float32
    assert np.all(actions >= [-2.0, 0.0]) and np.all(actions <= [2.0, 0.5])
    assert actions[:, 0].min() < -1.5 and actions[:, 1].max() > 0.4  # spans the bounds


def test_a_recurrent_policy_sees_its_carry_and_the_previous_action_and_reward():
    from jaxrl_suite.envs.evaluate import RecurrentPolicy

    env = make_env("Pendulum-v1")

    def step(params, obs, key, carry):
        del key  # obs: [E, 3 + 1 + 1]: observation, previous action, previous reward
        action = jnp.clip(params * obs[:, :1] + 0.5 * obs[:, 3:4]
                          + 0.1 * (obs[:, -1:] + 0.01 * carry[:, None]), -2.0, 2.0)
        return action, carry + obs[:, -1]

    policy = RecurrentPolicy(lambda params, n: jnp.zeros((n,)), step)
    key = jax.random.PRNGKey(5)
    result = jax.jit(lambda p, k: evaluate(policy, p, env, k, 3))(jnp.float32(0.7), key)
    # The same episodes stepped by hand, with evaluate's key schedule.
    reset_key, rollout_key = jax.random.split(key)
    obs, state = jax.vmap(env.reset)(jax.random.split(reset_key, 3))
    prev_a, prev_r, carry = np.zeros((3, 1)), np.zeros(3), np.zeros(3)
    returns = np.zeros(3)
    for step_key in jax.random.split(rollout_key, env.spec.max_episode_steps):
        _, env_key = jax.random.split(step_key)
        action = np.clip(0.7 * np.asarray(obs)[:, :1] + 0.5 * prev_a
                         + 0.1 * (prev_r[:, None] + 0.01 * carry[:, None]), -2.0, 2.0)
        carry = carry + prev_r
        obs, state, reward, _, _ = jax.vmap(env.step)(
            state, jnp.asarray(action, jnp.float32), jax.random.split(env_key, 3))
        prev_a, prev_r = action, np.asarray(reward)
        returns += prev_r
    np.testing.assert_allclose(result.returns, returns, rtol=1e-4)
