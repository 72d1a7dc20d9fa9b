"""Decoupled Q-chunking: each loss against a NumPy transcription of the authors' formulas
(ColinQiyangLi/dqc ``agents/dqc.py`` lines 33-149); the value target's logit of the aggregated
target Q (finite where the authors' log(q) - log(1 - q) overflows); the summed loss gives each
network the gradient of its own loss alone (the authors' one Adam on the sum); the target
critic follows the action critic as it was before the step (lines 175-193); best-of-N keeps the
action critic's argmax; init / update / act under jit(vmap) over 2 seeds (h = 5, h_a 1 and 5,
oracle-style goal entries, the QC variant without a chunk critic); and a learns-test through
``train``: on a 1-D random-walk dataset, DQC reaches goals on either side that its own
goal-free flow BC (best-of-1, no critic) does not."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_suite.agents.base import data_spec
from jaxrl_suite.agents.dqc import (DQCConfig, DQCHParams, aggregate_q, backup_target,
                                    bce_loss, chunk_critic_loss, distill_loss, dqc_inputs,
                                    dqc_loss, dqc_networks, dqc_targets, make_dqc, value_loss)
from jaxrl_suite.data.dataset import DatasetMeta, from_arrays
from jaxrl_suite.envs.base import EnvSpec, JaxEnv
from jaxrl_suite.envs.evaluate import evaluate
from jaxrl_suite.nets.flow import euler_sample
from jaxrl_suite.train import TrainConfig, make_train, stack_hparams, train

TINY = dict(actor_hidden_sizes=(32, 32), value_hidden_sizes=(32, 32), backup_horizon=5,
            best_of_n=4, flow_steps=3)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _bce(logit, target):  # lines 33-39, in float64
    return -(np.log(_sigmoid(logit)) * target + np.log(_sigmoid(-logit)) * (1 - target))


def _logit(p):
    return np.log(p) - np.log(1.0 - p)


def test_bce_loss_matches_the_reference():
    rng = np.random.default_rng(0)
    logits, targets = rng.normal(size=50) * 4, rng.uniform(size=50)
    np.testing.assert_allclose(bce_loss(jnp.float32(logits), jnp.float32(targets)),
                               _bce(logits, targets), rtol=1e-5, atol=1e-6)


def test_chunk_critic_target_and_loss_match_the_reference():
    rng = np.random.default_rng(1)
    b, gamma = 40, 0.97
    k = rng.integers(0, 6, size=b)
    success = (rng.uniform(size=b) < 0.3).astype(float)
    rewards, masks = gamma ** k * success, 1 - success
    next_v, q = rng.normal(size=b) * 3, rng.normal(size=(2, b)) * 3
    # lines 45-57: the target from V(s_{t+k}, g), clipped; BCE over members and batch
    target = np.clip(rewards + gamma ** k * masks * _sigmoid(next_v), 0, 1)
    got = backup_target(*map(jnp.float32, (rewards, masks)), jnp.int32(k), jnp.float32(next_v),
                        gamma)
    np.testing.assert_allclose(got, target, rtol=1e-5)
    np.testing.assert_allclose(chunk_critic_loss(jnp.float32(q), jnp.float32(target)),
                               _bce(q, target[None]).mean(), rtol=1e-5)


@pytest.mark.parametrize("method", ["expectile", "quantile"])
@pytest.mark.parametrize("per_member", [True, False])
def test_distill_loss_matches_the_reference(method, per_member):
    rng = np.random.default_rng(2)
    b, kappa = 30, 0.8
    q = rng.normal(size=(2, b)) * 3
    target = rng.uniform(size=(2, b) if per_member else b)
    target[..., :3] = [0.0, 1.0, 1e-7]  # the clip before the logit matters here
    valid = (rng.uniform(size=b) > 0.2).astype(float)
    # lines 86-95 (valid: ``valids[..., h_a - 1]``)
    weight = np.where(target >= _sigmoid(q), kappa, 1 - kappa)
    if method == "expectile":
        expected = (weight * _bce(q, target) * valid).mean()
    else:
        expected = (weight * np.abs(q - _logit(np.clip(target, 1e-5, 1 - 1e-5))) * valid).mean()
    got = distill_loss(jnp.float32(q), jnp.float32(target), jnp.float32(valid), kappa, method)
    np.testing.assert_allclose(got, expected, rtol=1e-4)  # float32's logit(1 - 1e-5): ~1e-4


@pytest.mark.parametrize("min_share", [0.0, 1.0])
def test_value_target_is_the_logit_of_the_aggregated_q(min_share):
    rng = np.random.default_rng(3)
    q = rng.normal(size=(2, 60)) * 4
    # lines 104-113: sigmoid, then mean or min over members, then its logit
    probs = _sigmoid(q)
    agg = probs.min(0) if min_share else probs.mean(0)
    got_q, got_logit = aggregate_q(jnp.float32(q), min_share)
    np.testing.assert_allclose(got_q, agg, rtol=1e-5)
    np.testing.assert_allclose(got_logit, _logit(agg), rtol=1e-4, atol=1e-4)
    # where float32's log(q) - log(1 - q) is inf (q rounds to 1), the logit stays exact
    saturated = jnp.float32([[30.0, 40.0, -35.0], [36.0, 40.0, -30.0]])
    _, logit = aggregate_q(saturated, min_share)
    expected = (saturated.min(0) if min_share else
                jnp.float32([30.0 + np.log(2 / (1 + np.exp(-6.0))), 40.0,
                             -30.0 - np.log(2 / (1 + np.exp(-5.0)))]))
    np.testing.assert_allclose(logit, expected, rtol=1e-5)


@pytest.mark.parametrize("method", ["quantile", "expectile"])
def test_value_loss_matches_the_reference(method):
    rng = np.random.default_rng(4)
    b, kappa = 50, 0.93
    v, q_members = rng.normal(size=b) * 3, rng.normal(size=(2, b)) * 3
    valid = (rng.uniform(size=b) > 0.2).astype(float)
    ex_q = _sigmoid(q_members).min(0)  # q_agg = min
    weight = np.where(ex_q >= _sigmoid(v), kappa, 1 - kappa)  # lines 119-125
    if method == "expectile":
        expected = (weight * _bce(v, ex_q) * valid).mean()
    else:
        expected = (weight * np.abs(v - _logit(ex_q)) * valid).mean()
    q, q_logit = aggregate_q(jnp.float32(q_members), 1.0)
    got = value_loss(jnp.float32(v), q, q_logit, jnp.float32(valid), kappa, method)
    np.testing.assert_allclose(got, expected, rtol=1e-4)


# -- the learner on a small hand-built dataset --------------------------------------------

LENGTHS = (12, 9, 15, 7, 20, 11)


@pytest.fixture(scope="module")
def dataset():
    rng = np.random.default_rng(5)
    n = sum(LENGTHS)
    timeouts = np.zeros(n, bool)
    timeouts[np.cumsum(LENGTHS) - 1] = True
    obs = rng.normal(size=(n, 3)).astype(np.float32)
    actions = rng.uniform(-2, 2, size=(n, 2)).astype(np.float32)
    return from_arrays(obs, actions, np.zeros(n, np.float32), np.zeros(n, bool), timeouts,
                       obs + 0.1, meta=DatasetMeta(env_id="x", action_low=(-2.0, -2.0),
                                                   action_high=(2.0, 2.0)))


def _parts(config, dataset, hp, key):
    learner = make_dqc(config)
    spec = data_spec(dataset)
    state = jax.jit(learner.init)(jax.random.PRNGKey(0), spec, hp)
    batch = jax.jit(learner.sample, static_argnums=2)(dataset, key, 16, hp)
    nets = dqc_networks(config, spec.action_dim)
    x = dqc_inputs(spec, batch, config)
    return learner, state, nets, x


@pytest.mark.parametrize("use_chunk_critic", [True, pytest.param(False, marks=pytest.mark.slow)])
def test_summed_loss_gives_each_network_its_own_gradient(dataset, use_chunk_critic):
    config = DQCConfig(**TINY, policy_chunk_size=2, use_chunk_critic=use_chunk_critic)
    hp = DQCHParams(discount=0.9)
    _, state, nets, x = _parts(config, dataset, hp, jax.random.PRNGKey(1))
    targets = jax.jit(lambda state, x: dqc_targets(
        nets, config, state.params, state.target_action_critic, x, hp, 0.0))(state, x)
    # with the chunk critic, dqc_loss distils toward its own forward pass (stop-gradient)
    assert (targets.distill is None) if use_chunk_critic else targets.distill.shape == (16,)
    key = jax.random.PRNGKey(2)

    def loss(params, term=None):
        total, parts = dqc_loss(params, nets, config, targets, x, key, hp)
        return total if term is None else parts[term]

    owners = {"action_critic_loss": "action_critic", "value_loss": "value",
              "actor_loss": "actor"}
    if use_chunk_critic:
        owners["chunk_critic_loss"] = "chunk_critic"
    every = jax.jit(lambda params: ({term: jax.grad(loss)(params, term) for term in owners},
                                    jax.grad(loss)(params)))
    by_term, total = every(state.params)
    for term, owner in owners.items():
        grads = by_term[term]
        for name in owners.values():
            for got, summed in zip(jax.tree.leaves(getattr(grads, name)),
                                   jax.tree.leaves(getattr(total, name))):
                if name == owner:  # the summed loss's gradient of a network is its own loss's
                    np.testing.assert_allclose(got, summed, rtol=1e-5, atol=1e-7)
                else:  # a loss reads the other networks undifferentiated
                    assert not np.any(np.asarray(got)), (term, name)
        assert any(np.any(np.asarray(g)) for g in jax.tree.leaves(getattr(grads, owner)))


def test_actor_loss_is_goal_free_flow_bc_weighted_by_prefix_validity(dataset):
    config = DQCConfig(**TINY, policy_chunk_size=2)
    hp = DQCHParams()
    _, state, nets, x = _parts(config, dataset, hp, jax.random.PRNGKey(3))
    x = x.replace(valid=jnp.float32(np.random.default_rng(6).uniform(size=16) > 0.3))
    targets = dqc_targets(nets, config, state.params, state.target_action_critic, x, hp, 0.0)
    key = jax.random.PRNGKey(4)
    _, parts = dqc_loss(state.params, nets, config, targets, x, key, hp)
    # lines 137-147 with the same draws (x_0, then t)
    noise_key, time_key = jax.random.split(key)
    x0 = jax.random.normal(noise_key, x.prefixes.shape)
    t = jax.random.uniform(time_key, (16, 1))
    pred = nets.actor.apply(state.params.actor, x.obs, (1 - t) * x0 + t * x.prefixes, t)
    expected = np.mean(np.mean(np.square(np.asarray(pred) - np.asarray(x.prefixes - x0)), -1)
                       * np.asarray(x.valid))
    np.testing.assert_allclose(parts["actor_loss"], expected, rtol=1e-5)
    assert x.prefixes.shape == (16, 2 * 2)  # h_a x A in [-1, 1]
    assert np.abs(np.asarray(x.chunks)).max() < 1.0


@pytest.mark.parametrize("min_share", [0.0, 1.0])
def test_best_of_n_keeps_the_action_critics_argmax(dataset, min_share):
    config = DQCConfig(**{**TINY, "best_of_n": 8}, policy_chunk_size=2)
    learner, state, nets, _ = _parts(config, dataset, DQCHParams(), jax.random.PRNGKey(5))
    state = state.replace(q_agg_min=jnp.float32(min_share))
    with_goal = jax.random.normal(jax.random.PRNGKey(6), (5, 6))  # [obs 3, goal 3]
    key = jax.random.PRNGKey(7)
    got = learner.act(state, with_goal, key)
    # every candidate from the same noise, then the argmax of mean/min Q_a logits (lines 14-24,
    # 218-231); the policy sees the observation only
    noise = jax.random.normal(key, (5, 8, 4))
    tiled = jnp.repeat(with_goal[:, None], 8, axis=1)
    samples = euler_sample(lambda o, a, t: nets.actor.apply(state.params.actor, o[..., :3], a, t),
                           tiled, noise, 3)
    q = np.asarray(nets.action_critic.apply(state.params.action_critic, tiled, samples))
    scores = q.min(0) if min_share else q.mean(0)
    best = np.asarray(samples)[np.arange(5), scores.argmax(1)]
    np.testing.assert_allclose(got, 2.0 * best, rtol=1e-5, atol=1e-6)  # env units: [-2, 2]
    assert (scores.argmax(1) != 0).any()  # not merely the first candidate
    with pytest.raises(ValueError, match="width 3 \\+ 3"):
        learner.act(state, with_goal[:, :3], key)


# The fast tier compiles one variant (chunk critic, h_a > 1, oracle goals); the full tier all.
@pytest.fixture(scope="module", params=[
    pytest.param(dict(policy_chunk_size=1), marks=pytest.mark.slow),
    dict(policy_chunk_size=5, goal_dims=(0, 2)),
    pytest.param(dict(policy_chunk_size=5, use_chunk_critic=False), marks=pytest.mark.slow)],
    ids=["dqc-ha1", "dqc-ha5-oracle", "qc"])
def jitted_run(request, dataset):
    learner = make_dqc(DQCConfig(**TINY, **request.param))
    spec = data_spec(dataset)
    second = DQCHParams(discount=0.95, kappa_b=0.7, kappa_d=0.8, q_agg_min=1.0)
    hps = stack_hparams([DQCHParams(discount=0.9), second])
    keys = jax.random.split(jax.random.PRNGKey(8), 2)
    init = jax.jit(jax.vmap(learner.init, in_axes=(0, None, 0)))

    def step(state, data, key, hp):
        sample_key, update_key = jax.random.split(key)
        return learner.update(state, learner.sample(data, sample_key, 16, hp), update_key, hp)

    update = jax.jit(jax.vmap(step, in_axes=(0, None, 0, 0)))
    state0 = init(keys, spec, hps)
    state1, metrics1 = update(state0, dataset, keys, hps)
    state2, metrics2 = update(state1, dataset, jax.random.split(keys[0], 2), hps)
    g = len(request.param.get("goal_dims", (0, 1, 2)))
    obs = jax.random.normal(jax.random.PRNGKey(9), (2, 4, 3 + g))
    actions = jax.jit(jax.vmap(learner.act, in_axes=(0, 0, 0)))(state2, obs, keys)
    return learner, hps, (state0, state1, state2), (metrics1, metrics2), actions


def test_init_update_act_under_jit_and_vmap(jitted_run):
    learner, _, states, metrics, actions = jitted_run
    h_a = learner.config.policy_chunk_size
    assert learner.chunk_horizon == h_a and learner.batch_size == 4096
    for m in metrics:
        assert all(np.isfinite(np.asarray(v)).all() for v in m.values())
        assert ("chunk_critic_loss" in m) == learner.config.use_chunk_critic
    assert actions.shape == (2, 4, h_a * 2)
    assert np.isfinite(actions).all() and np.abs(np.asarray(actions)).max() <= 2.0
    assert int(states[2].step[0]) == 2
    # the two seeds differ (their keys are threaded, not re-created)
    leaves = jax.tree.leaves(states[2].params.action_critic)
    assert not np.allclose(leaves[0][0], leaves[0][1])


def test_target_follows_the_action_critic_before_each_step(jitted_run):
    _, hps, (state0, state1, state2), _, _ = jitted_run
    tau = np.asarray(hps.tau)[:, None]
    for before, after in ((state0, state1), (state1, state2)):
        for target, online, new in zip(jax.tree.leaves(before.target_action_critic),
                                       jax.tree.leaves(before.params.action_critic),
                                       jax.tree.leaves(after.target_action_critic)):
            b = target.shape[0]
            expected = ((1 - tau) * target.reshape(b, -1) + tau * online.reshape(b, -1))
            np.testing.assert_allclose(new.reshape(b, -1), expected, rtol=1e-5, atol=1e-7)
    # so after the first step the target is the initial critic, not the updated one
    first = jax.tree.leaves(state1.target_action_critic)[0]
    np.testing.assert_allclose(first, jax.tree.leaves(state0.params.action_critic)[0], rtol=1e-6)


def test_make_dqc_validates_its_config():
    with pytest.raises(ValueError, match="distill_method"):
        make_dqc(DQCConfig(distill_method="mean"))
    with pytest.raises(ValueError, match="policy_chunk_size <= backup_horizon"):
        make_dqc(DQCConfig(backup_horizon=3, policy_chunk_size=5))
    learner = make_dqc(DQCConfig(**TINY, goal_dims=(7,)))
    spec = data_spec(from_arrays(np.zeros((8, 3), np.float32), np.zeros((8, 1), np.float32),
                                 np.zeros(8, np.float32), np.zeros(8, bool),
                                 np.r_[np.zeros(7, bool), True],
                                 meta=DatasetMeta(action_low=(-1.0,), action_high=(1.0,))))
    with pytest.raises(ValueError, match="goal_dims"):
        learner.init(jax.random.PRNGKey(0), spec, learner.default_hparams)


# -- learns: goal reaching on a line ------------------------------------------------------

STEP, TOLERANCE, LIMIT = 0.1, 0.1, 30


def _random_walks(episodes=200, length=40, seed=0):
    """x_{t+1} = clip(x_t + 0.1 a_t, -1, 1), a_t ~ U[-1, 1], x_0 ~ U[-1, 1]: no reward."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (episodes, 1))
    obs, actions, next_obs = [], [], []
    for _ in range(length):
        a = rng.uniform(-1, 1, (episodes, 1))
        obs.append(x)
        actions.append(a)
        x = np.clip(x + STEP * a, -1, 1)
        next_obs.append(x)

    def rows(steps):
        return np.stack(steps, 1).reshape(episodes * length, 1).astype(np.float32)

    n = episodes * length
    timeouts = np.zeros(n, bool)
    timeouts[length - 1::length] = True
    return from_arrays(rows(obs), rows(actions), np.zeros(n, np.float32), np.zeros(n, bool),
                       timeouts, rows(next_obs),
                       meta=DatasetMeta(env_id="walk", action_low=(-1.0,), action_high=(1.0,)))


def _reach_env():
    """Start at +-0.5, the goal at the other one ([x, goal] observed); reward 1 and the end
    within 0.1 of the goal. A goal-free policy cannot know the direction."""
    spec = EnvSpec(name="reach", backend="gymnax", observation_shape=(2,),
                   max_episode_steps=LIMIT, discrete=False, action_dim=1, action_low=(-1.0,),
                   action_high=(1.0,))

    def reset(key):
        start = jnp.where(jax.random.bernoulli(key), 0.5, -0.5)
        state = jnp.stack([start, -start])
        return state, state

    def step(state, action, key):
        x = jnp.clip(state[0] + STEP * action[0], -1.0, 1.0)
        reached = jnp.abs(x - state[1]) <= TOLERANCE
        state = jnp.stack([x, state[1]])
        return state, state, reached.astype(jnp.float32), reached, jnp.bool_(False)

    return JaxEnv(spec, reset, step)


@pytest.mark.slow  # a learns-test: the full tier (`make test-all`, CI), see tests/conftest.py
def test_dqc_reaches_goals_its_flow_bc_does_not():
    tiny = dict(actor_hidden_sizes=(64, 64), value_hidden_sizes=(64, 64), backup_horizon=5,
                policy_chunk_size=1, flow_steps=5)
    learner = make_dqc(DQCConfig(**tiny, best_of_n=16))
    env = _reach_env()
    trainer = make_train(learner, env, TrainConfig(num_updates=1200, batch_size=256,
                                                   eval_every=1200, eval_episodes=20))
    result = train(trainer, _random_walks(), jax.random.split(jax.random.PRNGKey(0), 2),
                   stack_hparams([DQCHParams(lr=1e-3, discount=0.95)] * 2))
    assert not result.diverged.any()
    dqc_success = result.eval_returns[:, -1].mean(-1)
    # the same networks, acting as the flow BC policy alone (one sample, no critic)
    bc = make_dqc(DQCConfig(**tiny, best_of_n=1))
    bc_success = jax.jit(jax.vmap(lambda state, key: evaluate(
        lambda s, o, k: bc.act(s, o, k), state, env, key, 20).returns))(
        result.state.learner, jax.random.split(jax.random.PRNGKey(1), 2)).mean(-1)
    # a critic blind to the goal would reach half of them (always the same direction)
    assert (dqc_success >= 0.9).all(), dqc_success
    assert (np.asarray(bc_success) <= 0.2).all(), bc_success
