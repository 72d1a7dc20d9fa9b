"""MinAtar on gymnax: gymnax's dynamics plus MinAtar's sticky actions, the paper's flat
observation encoding, 6 actions by default, and truncation (not termination) at 1000 steps."""

import gymnax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_suite.envs import env_spec, make_env, make_evaluate, random_policy
from jaxrl_suite.errors import EnvError

GAMES = {"Breakout-MinAtar": (4, 3), "SpaceInvaders-MinAtar": (6, 4)}  # channels, minimal set
BATCH, STEPS = 4, 48


def rollout_fn(env):
    """Returns jit((keys [B], actions [T, B]) -> per-step (obs, reward, terminated) [T, B])."""

    def rollout(keys, actions):
        obs, state = jax.vmap(env.reset)(keys)

        def one_step(state, inputs):
            action, step_keys = inputs
            obs, state, reward, terminated, _ = jax.vmap(env.step)(state, action, step_keys)
            return state, (obs, reward, terminated)

        step_keys = jax.vmap(lambda k: jax.random.split(k, STEPS))(keys).swapaxes(0, 1)
        return jax.lax.scan(one_step, state, (actions, step_keys))[1]

    return jax.jit(rollout)


def papers_encoding(channels_obs, num_channels):
    """``MinAtarObsWrapper.observation`` (ml-jku/OfflineRL source/utils/wrappers.py:19-22)."""
    obs = np.asarray(channels_obs).reshape(*channels_obs.shape[:-1], 10, 10, num_channels)
    obs = obs * np.arange(1, num_channels + 1)
    return np.max(obs, axis=-1).reshape(*obs.shape[:-3], 100) / num_channels - 0.5


@pytest.mark.parametrize("name", list(GAMES))
def test_specs_and_reference_returns_follow_the_options(name):
    channels, minimal = GAMES[name]
    spec = env_spec(name)
    assert spec == make_env(name).spec
    assert spec.backend == "gymnax" and spec.observation_shape == (100,)
    assert spec.num_actions == 6 and spec.max_episode_steps == 1000  # the paper's 6 actions
    assert spec.ref_min_score is not None
    wide = env_spec(name, observation="channels")
    assert wide == make_env(name, observation="channels").spec
    assert wide.observation_shape == (100 * channels,) and wide.ref_min_score == spec.ref_min_score
    small = env_spec(name, minimal_action_set=True)
    assert small.num_actions == minimal and small.ref_min_score is None
    assert env_spec(name, sticky_action_prob=0.0).ref_min_score is None
    with pytest.raises(EnvError, match="observation"):
        make_env(name, observation="rgb")
    with pytest.raises(EnvError, match="takes only"):
        make_env(name, episode_length=10)
    with pytest.raises(EnvError, match="sticky_action_prob"):
        make_env(name, sticky_action_prob=1.5)


@pytest.mark.parametrize("name", list(GAMES))
def test_without_sticky_actions_both_encodings_view_gymnaxs_own_rollout(name):
    channels, _ = GAMES[name]
    keys = jax.random.split(jax.random.key(0), BATCH)
    actions = jax.random.randint(jax.random.key(1), (STEPS, BATCH), 0, 6)
    wide, reward, terminated = rollout_fn(
        make_env(name, observation="channels", sticky_action_prob=0.0))(keys, actions)
    paper, paper_reward, _ = rollout_fn(make_env(name, sticky_action_prob=0.0))(keys, actions)

    raw, params = gymnax.make(name, use_minimal_action_set=False)

    def gymnax_rollout(keys, actions):
        _, state = jax.vmap(raw.reset_env, in_axes=(0, None))(keys, params)

        def one_step(state, action):
            obs, state, reward, done, _ = jax.vmap(raw.step_env, in_axes=(0, 0, 0, None))(
                keys, state, action, params)
            return state, (obs.reshape(BATCH, -1), reward, done)

        return jax.lax.scan(one_step, state, actions)[1]

    ref_obs, ref_reward, ref_done = jax.jit(gymnax_rollout)(keys, actions)
    alive = np.cumsum(np.asarray(ref_done), axis=0) - np.asarray(ref_done) == 0  # until done
    assert alive.sum() > BATCH * 10
    np.testing.assert_array_equal(np.asarray(wide)[alive], np.asarray(ref_obs)[alive])
    np.testing.assert_array_equal(np.asarray(reward)[alive], np.asarray(ref_reward)[alive])
    np.testing.assert_array_equal(np.asarray(terminated)[alive], np.asarray(ref_done)[alive])
    # "paper" is the paper's MinAtarObsWrapper applied to the same frames.
    assert paper.shape == (STEPS, BATCH, 100) and paper.dtype == jnp.float32
    np.testing.assert_allclose(paper, papers_encoding(wide, channels), rtol=0, atol=1e-6)
    np.testing.assert_array_equal(paper_reward, reward)
    assert np.all((np.asarray(paper) >= -0.5) & (np.asarray(paper) <= 0.5))


@pytest.fixture(scope="module")
def breakout_step():
    env = make_env("Breakout-MinAtar")
    return env, jax.jit(env.reset), jax.jit(jax.vmap(env.step, in_axes=(None, None, 0)))


def test_sticky_actions_repeat_the_last_action_one_time_in_ten(breakout_step):
    env, reset, step = breakout_step
    _, state = reset(jax.random.key(4))
    assert int(state.last_action) == 0
    keys = jax.random.split(jax.random.key(5), 4000)
    _, after, *_ = step(state, jnp.asarray(3, jnp.int32), keys)  # "r" after "n"
    executed = np.asarray(after.last_action)
    assert set(executed.tolist()) == {0, 3}
    assert abs((executed == 0).mean() - 0.1) < 0.025  # binomial s.d. 0.005


def test_the_1000_step_limit_truncates_and_does_not_terminate(breakout_step):
    env, reset, step = breakout_step
    assert env.spec.max_episode_steps == 1000
    _, state = reset(jax.random.key(6))
    keys = jax.random.split(jax.random.key(7), 2)
    for time, limit_reached in ((998, False), (999, True)):
        late = state.replace(env_state=state.env_state.replace(time=time))
        _, _, _, terminated, truncated = step(late, jnp.asarray(0, jnp.int32), keys)
        assert not np.any(terminated)  # the ball is far from the bottom after a reset
        assert np.all(np.asarray(truncated) == limit_reached)


@pytest.mark.parametrize("name", list(GAMES))
def test_evaluate_runs_vmapped_over_seeds(name):
    env = make_env(name)
    evaluate_fn = jax.jit(jax.vmap(make_evaluate(random_policy(env.spec), env, num_episodes=8)))
    result = evaluate_fn(None, jax.random.split(jax.random.key(8), 2))
    returns, lengths = np.asarray(result.returns), np.asarray(result.lengths)
    assert returns.shape == lengths.shape == (2, 8)
    assert np.all(returns >= 0) and np.all(returns == np.round(returns))  # +1 per brick/alien
    assert np.all((lengths >= 1) & (lengths <= 1000))
