"""The host evaluator: one episode per (cell, episode) slot, reproducible per cell key,
NaN for inactive cells and for episodes whose policy emits a non-finite action."""

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_suite.envs.host_eval import HostEvaluator
from jaxrl_suite.errors import EnvError


def policy_fn(scale, obs, key):
    # obs: [episodes, 11]; scale: [] per cell; NaN scale -> NaN actions.
    del key
    return jnp.tanh(scale * obs[:, :3])


@pytest.fixture(scope="module")
def evaluator():
    return HostEvaluator("gymnasium/Hopper-v5", max_episode_steps=50)


def _gym_return(scale, seed):
    env = gymnasium.make("Hopper-v5", max_episode_steps=50)
    obs, _ = env.reset(seed=seed)
    total, done = 0.0, False
    while not done:
        action = np.tanh(scale * obs[:3].astype(np.float32))
        obs, r, terminated, truncated, _ = env.step(action)
        total, done = total + r, terminated or truncated
    return total


def test_returns_are_gymnasiums_per_slot_and_reproducible_per_cell_key(evaluator):
    keys = jax.random.split(jax.random.key(0), 3)
    scales = jnp.array([0.5, -1.0, 2.0])
    returns = evaluator.evaluate(policy_fn, scales, keys, 2)
    assert returns.shape == (3, 2) and returns.dtype == np.float32
    # A cell's returns depend on its own key only, not on the other cells.
    alone = evaluator.evaluate(policy_fn, scales[1:2], keys[1:2], 2)
    np.testing.assert_allclose(alone[0], returns[1], rtol=1e-6)
    # Slot (c, e) is gymnasium's episode reset with seed_c + e.
    seed = int(jax.random.randint(jax.random.split(keys[2])[0], (), 0, 2**31 - 1 - 2))
    np.testing.assert_allclose(returns[2], [_gym_return(2.0, seed), _gym_return(2.0, seed + 1)],
                               rtol=1e-5)


def test_inactive_cells_and_non_finite_actions_score_nan(evaluator):
    keys = jax.random.split(jax.random.key(1), 3)
    scales = jnp.array([1.0, jnp.nan, 1.0])
    returns = evaluator.evaluate(policy_fn, scales, keys, 2,
                                 active=np.array([True, True, False]))
    assert np.isfinite(returns[0]).all()
    assert np.isnan(returns[1]).all() and np.isnan(returns[2]).all()


def test_wrong_action_shape_and_discrete_envs_are_refused(evaluator):
    with pytest.raises(EnvError, match=r"expected shape \(1, 1, 3\)"):
        evaluator.evaluate(lambda p, o, k: o[:, :2], jnp.ones(1),
                           jax.random.split(jax.random.key(0), 1), 1)
    with pytest.raises(EnvError, match="discrete"):
        HostEvaluator("gymnasium/CartPole-v1")


def test_more_slots_than_max_slots_run_in_rounds_with_the_same_returns(evaluator):
    keys = jax.random.split(jax.random.key(2), 3)
    scales = jnp.array([0.5, -1.0, 2.0])
    rounds = HostEvaluator("gymnasium/Hopper-v5", max_slots=4, max_episode_steps=50)
    # 3 cells x 5 episodes in rounds of one episode each (4 // 3): the slot seeds are those of
    # one call, so a deterministic policy's returns are too.
    np.testing.assert_allclose(rounds.evaluate(policy_fn, scales, keys, 5),
                               evaluator.evaluate(policy_fn, scales, keys, 5), rtol=1e-6)
    assert len(rounds._envs) <= 4
    rounds.close()


def test_host_final_evaluation_of_a_trained_cell_is_one_evaluator_call():
    from jaxrl_suite.agents.bc import BCConfig, BCHParams, make_bc
    from jaxrl_suite.data import DatasetMeta, from_arrays
    from jaxrl_suite.train import TrainConfig, final_evaluate, make_train, stack_hparams, train

    rng = np.random.default_rng(0)
    n = 200
    timeouts = np.zeros(n, bool)
    timeouts[49::50] = True
    dataset = from_arrays(rng.normal(size=(n, 11)), rng.uniform(-1, 1, (n, 3)),
                          rng.normal(size=n), np.zeros(n, bool), timeouts,
                          rng.normal(size=(n, 11)),
                          meta=DatasetMeta(env_id="Hopper-v5", action_low=(-1.0,) * 3,
                                           action_high=(1.0,) * 3))
    env = HostEvaluator("gymnasium/Hopper-v5", max_episode_steps=20)
    trainer = make_train(make_bc(BCConfig((8,))), env, TrainConfig(
        num_updates=10, batch_size=16, eval_every=10, eval_episodes=1, final_eval_episodes=3))
    keys = jax.vmap(jax.random.PRNGKey)(np.arange(2))
    result = train(trainer, dataset, keys, stack_hparams([BCHParams()] * 2))
    assert result.final_returns.shape == (2, 3) and np.isfinite(result.final_returns).all()
    _, eval_keys = trainer.split_eval_keys(result.state)
    np.testing.assert_allclose(result.final_returns, env.evaluate(
        trainer.policy_fn, result.state.learner, eval_keys, 3), rtol=1e-6)
    np.testing.assert_array_equal(final_evaluate(trainer, result.state), result.final_returns)


def _recurrent(scale):
    """A RecurrentPolicy whose action reads the previous action and reward and a carry (the
    sum of the rewards so far): any slip in their plumbing changes the returns."""
    from jaxrl_suite.envs.evaluate import RecurrentPolicy

    def step(params, obs, key, carry):
        del key  # obs: [E, 11 + 3 + 1]
        action = jnp.tanh(params * obs[:, :3] + 0.5 * obs[:, 11:14]
                          + 0.1 * (obs[:, -1:] + 0.01 * carry[:, None]))
        return action, carry + obs[:, -1]

    return RecurrentPolicy(lambda params, n: jnp.zeros((n,)), step)


def _gym_recurrent_return(scale, seed):
    env = gymnasium.make("Hopper-v5", max_episode_steps=50)
    obs, _ = env.reset(seed=seed)
    total, done, prev_a, prev_r, carry = 0.0, False, np.zeros(3), 0.0, 0.0
    while not done:
        pre = (scale * obs[:3].astype(np.float32) + 0.5 * prev_a
               + 0.1 * (prev_r + 0.01 * carry))
        action = np.tanh(pre.astype(np.float32))
        carry += prev_r
        obs, r, terminated, truncated, _ = env.step(action)
        prev_a, prev_r = action, r
        total, done = total + r, terminated or truncated
    return total


def test_a_recurrent_policy_sees_its_carry_and_the_previous_action_and_reward(evaluator):
    keys = jax.random.split(jax.random.key(3), 2)
    policy = _recurrent(None)
    returns = evaluator.evaluate(policy, jnp.array([0.5, -1.0]), keys, 2)
    for cell, scale in enumerate((0.5, -1.0)):
        seed = int(jax.random.randint(jax.random.split(keys[cell])[0], (), 0, 2**31 - 1 - 2))
        np.testing.assert_allclose(
            returns[cell], [_gym_recurrent_return(scale, seed + e) for e in range(2)],
            rtol=1e-4)
