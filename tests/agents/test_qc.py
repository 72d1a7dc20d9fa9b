"""Q-chunking: its chunk target and critic loss against a NumPy transcription of QC's
``acfql.py::critic_loss`` (lines 22-53); action chunks executed open loop by the in-jit
evaluator (a toy env whose observation is the time and whose reward is the action: a chunk
[t, t+1, ..., t+h-1] asked at t scores sum_t t only if each chunk runs to its end before the
policy is asked again); QC trains and evaluates through ``train`` with its chunks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_suite.agents.qc import QCConfig, chunk_critic_loss, chunk_target, make_qc
from jaxrl_suite.envs.base import EnvSpec, JaxEnv
from jaxrl_suite.envs.evaluate import evaluate
from jaxrl_suite.train import TrainConfig, make_train, stack_hparams, train


def test_target_and_loss_match_the_reference():
    rng = np.random.default_rng(0)
    b, h, gamma = 7, 4, 0.97
    rewards = rng.normal(size=(b, h))
    masks = np.minimum.accumulate((rng.uniform(size=(b, h)) > 0.2).astype(float), axis=1)
    valid = (rng.uniform(size=(b, h)) > 0.3).astype(float)
    next_q, q = rng.normal(size=b), rng.normal(size=(2, b))
    # sample_sequence's cumulative rewards, then critic_loss's target and weighting
    cum = np.cumsum(rewards * gamma ** np.arange(h), axis=1)
    target = cum[:, -1] + gamma ** h * masks[:, -1] * next_q
    got = chunk_target(*map(jnp.float32, (rewards, masks, next_q)), gamma)
    np.testing.assert_allclose(got, target, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        chunk_critic_loss(jnp.float32(q), jnp.float32(target), jnp.float32(valid)),
        (np.square(q - target) * valid[:, -1]).mean(), rtol=1e-5)


def _clock_env(limit=12):
    spec = EnvSpec(name="clock", backend="gymnax", observation_shape=(1,),
                   max_episode_steps=limit, discrete=False, action_dim=1,
                   action_low=(-100.0,), action_high=(100.0,))

    def reset(key):
        return jnp.zeros((1,)), jnp.int32(0)

    def step(t, action, key):
        t = t + 1
        return (t * jnp.ones((1,)), t, action[0], jnp.bool_(False), t >= limit)

    return JaxEnv(spec, reset, step)


@pytest.mark.parametrize("h", [1, 3, 4])
def test_chunks_run_open_loop_in_jit(h):
    def policy(params, obs, key):  # asked at time t: the chunk [t, ..., t + h - 1]
        return obs[:, :1] + jnp.arange(h, dtype=jnp.float32)[None, :]

    result = jax.jit(lambda k: evaluate(policy, None, _clock_env(), k, 2, chunk=h))(
        jax.random.PRNGKey(0))
    np.testing.assert_allclose(result.returns, [sum(range(12))] * 2)


def test_qc_trains_and_evaluates_with_chunks(pendulum_data):
    env, expert, _ = pendulum_data
    learner = make_qc(QCConfig((16, 16), horizon=3, num_samples=4, flow_steps=2))
    trainer = make_train(learner, env, TrainConfig(num_updates=4, batch_size=16, eval_every=2,
                                                   eval_episodes=2))
    result = train(trainer, expert, jax.random.split(jax.random.PRNGKey(0), 2),
                   stack_hparams([learner.default_hparams] * 2))
    assert np.isfinite(result.eval_returns).all() and not result.diverged.any()
    assert set(result.update_metrics) >= {"critic_loss", "actor_loss", "q_mean"}
    with pytest.raises(Exception, match="draws action chunks uniformly"):
        make_train(learner, env, TrainConfig(num_updates=2, batch_size=8, eval_every=2,
                                             sampling="rw"))
