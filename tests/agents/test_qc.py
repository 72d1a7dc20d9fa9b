"""Q-chunking and its family (QC, QC-FQL, FQL, FQL-n, BFN, BFN-n): the chunk target and
critic loss against a NumPy transcription of QC's ``acfql.py::critic_loss`` (lines 22-53),
FQL's one-step policy loss against ``fql.py::actor_loss`` (lines 62-79); action chunks executed
open loop by the in-jit evaluator (a toy env whose observation is the time and whose reward is
the action: a chunk [t, t+1, ..., t+h-1] asked at t scores sum_t t only if each chunk runs to
its end before the policy is asked again); QC trains and evaluates through ``train``."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_suite.agents import learner_parts
from jaxrl_suite.agents.qc import (QCConfig, chunk_critic_loss, chunk_target,
                                   distill_actor_loss, make_qc)
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
    with pytest.raises(Exception, match="draws its own minibatches uniformly"):
        make_train(learner, env, TrainConfig(num_updates=2, batch_size=8, eval_every=2,
                                             sampling="rw"))


@pytest.mark.parametrize("normalize", [False, True])
def test_distill_actor_loss_matches_the_reference(normalize):
    rng = np.random.default_rng(1)
    mu, flow, q = rng.normal(size=(9, 6)), rng.normal(size=(9, 6)), rng.normal(size=(2, 9))
    alpha = 30.0
    q_mean = q.mean(axis=0)  # fql.py line 71: the ensemble's mean
    q_loss = -q_mean.mean() / (np.abs(q_mean).mean() if normalize else 1.0)
    expected = alpha * np.mean((mu - flow) ** 2) + q_loss
    got = distill_actor_loss(*map(jnp.float32, (mu, flow, q)), alpha, normalize)
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_the_q_term_moves_only_the_one_step_policy():
    # d/d mu of the Q term is -dQ/da / B / num_qs at clip(mu): the critic is held fixed and
    # the flow target has no gradient (fql.py: neither is called with grad_params).
    mu = jnp.float32([[0.2, -0.5], [2.0, 0.1]])  # 2.0 is clipped: no Q gradient there
    flow = jnp.zeros_like(mu)

    def loss(m):
        a = jnp.clip(m, -1.0, 1.0)
        q = jnp.stack([jnp.sum(3.0 * a, -1), jnp.sum(a ** 2, -1)])  # [2, B]
        return distill_actor_loss(m, flow, q, 0.0)

    grad = np.asarray(jax.grad(loss)(mu))
    a = np.clip(np.asarray(mu), -1, 1)
    expected = -(3.0 + 2 * a) / 2 / 2 * (np.abs(np.asarray(mu)) <= 1)
    np.testing.assert_allclose(grad, expected, rtol=1e-5)


VARIANTS = {  # id: (policy steps per call, sampled horizon, actor type)
    "qc": (5, 5, "best-of-n"), "qc_fql": (5, 5, "distill-ddpg"),
    "fql": (1, 1, "distill-ddpg"), "fql_n": (1, 5, "distill-ddpg"),
    "bfn": (1, 1, "best-of-n"), "bfn_n": (1, 5, "best-of-n"),
}


@pytest.mark.parametrize("algo", sorted(VARIANTS))
def test_each_variant_is_registered_with_the_readme_settings(algo):
    steps, horizon, actor_type = VARIANTS[algo]
    factory, config_cls, hparams_cls = learner_parts(algo)
    config = config_cls()
    learner = factory(config)
    assert learner.name == algo and learner.chunk_horizon == steps
    assert config.horizon == horizon and config.actor_type == actor_type
    assert config.num_samples == (32 if algo == "qc" else 4) or actor_type == "distill-ddpg"
    assert (learner.sample is None) == (steps == horizon)
    assert hparams_cls().alpha == 100.0 and learner.batch_size == 256


# The fast tier trains FQL-n (the one-step policy and the n-step sampler through train); the
# full tier the chunked one-step policy and best-of-N on n-step returns too.
@pytest.mark.parametrize("algo", [pytest.param("qc_fql", marks=pytest.mark.slow), "fql_n",
                                  pytest.param("bfn_n", marks=pytest.mark.slow)])
def test_variants_train_and_act_with_their_shapes(pendulum_data, algo):
    env, expert, _ = pendulum_data
    _, config_cls, _ = learner_parts(algo)
    config = config_cls(hidden_sizes=(16, 16), horizon=3, flow_steps=2)
    learner = make_qc(config)
    trainer = make_train(learner, env, TrainConfig(num_updates=4, batch_size=16, eval_every=2,
                                                   eval_episodes=2))
    result = train(trainer, expert, jax.random.split(jax.random.PRNGKey(0), 2),
                   stack_hparams([learner.default_hparams] * 2))
    assert np.isfinite(result.eval_returns).all() and not result.diverged.any()
    state = jax.tree.map(lambda x: x[0], result.state.learner)
    actions = learner.act(state, expert.observations[:7], jax.random.PRNGKey(1))
    assert actions.shape == (7, learner.chunk_horizon * 1)
    if config.actor_type == "distill-ddpg":
        assert "distill_actor_loss" in result.update_metrics
        assert state.onestep_params is not None


def test_the_n_step_critic_reads_the_first_action_and_the_h_step_return(pendulum_data):
    # The n-step variant samples h-step chunks (its own sampler) and its critic scores the
    # chunk's first action: the update's q_mean is the critic at (s_t, a_t) alone.
    _, expert, _ = pendulum_data
    learner = make_qc(learner_parts("bfn_n")[1](hidden_sizes=(8,), horizon=4, flow_steps=1))
    hp = learner.default_hparams
    from jaxrl_suite.agents.base import data_spec

    spec = data_spec(expert)
    state = learner.init(jax.random.PRNGKey(0), spec, hp)
    batch = learner.sample(expert, jax.random.PRNGKey(3), 32, hp)
    assert batch.actions.shape == (32, 4, 1) and batch.rewards.shape == (32, 4)
    _, metrics = jax.jit(learner.update)(state, batch, jax.random.PRNGKey(4), hp)
    from jaxrl_suite.agents.qc import ChunkCritic

    q = ChunkCritic((8,), 2).apply(state.critic_params, spec.normalize(batch.observations),
                                   spec.to_unit(batch.actions[:, 0]))
    np.testing.assert_allclose(metrics["q_mean"], np.mean(q), rtol=1e-5)
