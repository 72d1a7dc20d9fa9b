"""Model rollouts, MOPO and MOBILE: the ring buffer and MOBILE's Bellman inconsistency against
NumPy references, the rollout's masks and penalised rewards, the member masks, every penalty type
in one vmapped compile, and MOPO and MOBILE learning on Pendulum data (3 seeds vmapped)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_suite.data.dataset import concatenate
from jaxrl_suite.errors import SuiteError
from jaxrl_suite.model_based import dynamics, penalties, rollouts
from jaxrl_suite.model_based.mobile import (MOBILEConfig, MOBILEHParams, bellman_inconsistency,
                                            make_mobile)
from jaxrl_suite.model_based.mopo import MOPOConfig, MOPOHParams, make_mopo, member_masks
from jaxrl_suite.train import TrainConfig, make_train, stack_hparams, train
from tests.agents.learn_check import normalized_returns

SMALL_MODEL = dynamics.EnsembleConfig(num_members=5, num_elites=3, hidden_sizes=(64, 64),
                                      weight_decays=(2.5e-5, 5e-5, 1e-4), max_epochs=30)


def _random_rollout(rng, h, n, obs_dim=3, act_dim=1):
    f = lambda *shape: jnp.asarray(rng.normal(size=shape), jnp.float32)
    return rollouts.Rollout(f(h, n, obs_dim), f(h, n, act_dim), f(h, n), f(h, n, obs_dim),
                            jnp.asarray(rng.random((h, n)) < 0.2, jnp.float32),
                            jnp.asarray(rng.random((h, n)) < 0.6), f(h, n), f(h, n))


def test_buffer_add_matches_numpy_ring_buffer():
    rng = np.random.default_rng(0)
    buffer = rollouts.empty_buffer(23, 3, 1)
    ref_obs, ref_rew, ptr, size = np.zeros((23, 3)), np.zeros(23), 0, 0
    add = jax.jit(rollouts.add)
    for _ in range(6):
        steps = _random_rollout(rng, 4, 5)
        buffer = add(buffer, steps)
        valid = np.asarray(steps.valid).reshape(-1)
        for o, r in zip(np.asarray(steps.observations).reshape(-1, 3)[valid],
                        np.asarray(steps.rewards).reshape(-1)[valid]):
            ref_obs[ptr], ref_rew[ptr] = o, r
            ptr, size = (ptr + 1) % 23, min(size + 1, 23)
        np.testing.assert_array_equal(np.asarray(buffer.observations), ref_obs.astype(np.float32))
        np.testing.assert_array_equal(np.asarray(buffer.rewards), ref_rew.astype(np.float32))
        assert int(buffer.ptr) == ptr and int(buffer.size) == size


def test_member_masks_pick_the_lowest_holdout_members():
    mse = jnp.array([0.3, 0.1, 0.5, 0.2, 0.4])
    in_use, elites = member_masks(mse, jnp.float32(4), jnp.float32(2))
    assert list(np.asarray(in_use)) == [True, True, False, True, True]
    assert list(np.asarray(elites)) == [False, True, False, True, False]
    in_use, elites = member_masks(mse, jnp.float32(1), jnp.float32(3))
    assert list(np.asarray(elites)) == list(np.asarray(in_use)) == [False, True, False, False,
                                                                     False]


@pytest.fixture(scope="module")
def mix_and_model(pendulum_data):
    """Returns (env, expert + random Pendulum data, an ensemble trained on it)."""
    env, expert, random = pendulum_data
    data = concatenate([expert, random])
    model, _ = dynamics.train_ensemble(jax.random.PRNGKey(0), data, SMALL_MODEL)
    return env, data, model


def test_rollout_masks_horizon_and_termination_and_penalises_rewards(mix_and_model):
    _, data, model = mix_and_model
    in_use, elites = member_masks(model.holdout_mse, jnp.float32(5), jnp.float32(3))
    start = jnp.asarray(data.observations[:16])
    policy = lambda obs, key: jax.random.uniform(key, (obs.shape[0], 1), minval=-2, maxval=2)
    done_fn = lambda obs, act, nxt: nxt[:, 0] > 0.9  # cos(theta) > 0.9: "upright" ends it

    @jax.jit
    def run(horizon, coef):
        return rollouts.rollout(model, policy, start, jax.random.PRNGKey(1), max_horizon=6,
                                horizon=horizon, penalty_index=jnp.float32(2),
                                penalty_coef=coef, sample_mask=elites, penalty_mask=in_use,
                                done_fn=done_fn)

    steps = run(jnp.float32(4), jnp.float32(2.5))
    valid, done = np.asarray(steps.valid), np.asarray(steps.terminals) > 0
    assert not valid[4:].any()  # t >= horizon
    for n in range(16):
        ended = np.flatnonzero(done[:, n])
        last = min(ended[0] if len(ended) else 99, 3)
        assert valid[: last + 1, n].all() and not valid[last + 1:, n].any()
    np.testing.assert_allclose(steps.rewards, steps.raw_rewards - 2.5 * steps.penalty,
                               rtol=1e-6, atol=1e-6)
    assert np.all(np.asarray(steps.penalty) >= 0)
    assert not run(jnp.float32(0), jnp.float32(1)).valid.any()


def test_every_penalty_type_trains_in_one_vmapped_compile(mix_and_model):
    env, data, model = mix_and_model
    learner = make_mopo(model, "Pendulum-v1", MOPOConfig((32, 32), rollout_starts=8,
                                                          buffer_size=2_000))
    cells = [MOPOHParams(penalty_index=float(i), horizon=float(1 + i % 5))
             for i in range(len(penalties.PENALTIES))]
    config = TrainConfig(num_updates=20, batch_size=32, eval_every=20, eval_episodes=1)
    result = train(make_train(learner, env, config), data,
                   jax.random.split(jax.random.PRNGKey(0), len(cells)), stack_hparams(cells))
    assert not result.diverged.any()
    penalty = result.update_metrics["model_penalty"][:, -1]
    assert np.all(np.isfinite(penalty)) and np.all(penalty > 0)
    assert len(np.unique(np.round(penalty, 6))) == len(cells)  # six different penalties


def test_mopo_refuses_an_env_without_a_known_termination_rule(mix_and_model):
    with pytest.raises(SuiteError, match="termination rule"):
        make_mopo(mix_and_model[2], "CartPole-v1")


def test_mopo_learns_from_expert_plus_random_data(mix_and_model, bc_on_random):
    # As EDAC: on the narrow expert data alone a SAC-based learner does not learn in a
    # test-sized budget (MOPO, 3k updates: -18 at lambda 0, -3 at lambda 1, measured).
    env, data, model = mix_and_model
    learner = make_mopo(model, "Pendulum-v1", MOPOConfig((64, 64), rollout_starts=32,
                                                          buffer_size=20_000))
    hparams = MOPOHParams(actor_lr=1e-3, critic_lr=1e-3, alpha_lr=1e-3, num_members=5,
                          num_elites=3, real_ratio=0.5)
    scores = normalized_returns(learner, hparams, env, data, num_updates=3_000)
    assert scores.mean() > 60 and scores.mean() > bc_on_random.mean() + 40, (scores, bc_on_random)


def test_bellman_inconsistency_matches_numpy_unbiased_std_over_elites():
    rng = np.random.default_rng(0)
    next_q = rng.normal(size=(4, 5, 7)).astype(np.float32)  # [samples, members, batch]
    elites = np.array([True, False, True, True, False])
    expected = np.std(next_q.mean(axis=0)[elites], axis=0, ddof=1)  # torch.std: unbiased
    np.testing.assert_allclose(bellman_inconsistency(jnp.asarray(next_q), jnp.asarray(elites)),
                               expected, rtol=1e-5)


def test_mobile_learns_from_expert_plus_random_data(mix_and_model, bc_on_random):
    # Pendulum's rewards are negative: the code's floor of the target at 0 is switched off.
    env, data, model = mix_and_model
    learner = make_mobile(model, "Pendulum-v1", MOBILEConfig(
        (64, 64), rollout_starts=32, buffer_size=20_000, num_samples=4, target_floor=None))
    hparams = MOBILEHParams(actor_lr=1e-3, critic_lr=1e-3, alpha_lr=1e-3, num_members=5,
                            num_elites=3, real_ratio=0.5)
    scores = normalized_returns(learner, hparams, env, data, num_updates=3_000)
    assert scores.mean() > 60 and scores.mean() > bc_on_random.mean() + 40, (scores, bc_on_random)
