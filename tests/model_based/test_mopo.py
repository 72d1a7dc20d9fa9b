"""Model rollouts, MOPO and MOBILE: the ring buffer and MOBILE's Bellman inconsistency against
NumPy references, the rollout's masks and penalised rewards, each rollout step's penalty against
NumPy (its own transition and member), the member masks, every penalty type in one vmapped
compile, MOBILE's clamped temperature, and MOPO and MOBILE learning on Pendulum data (3 seeds
vmapped).
Whether the model helps at the default real ratio (0.05) against a real-data-only control is
not tested on Pendulum (bench/model_real_ratio.py: on the CPU-sized Pendulum data the effect is
small, learning-rate dependent and below the random policy in both arms; BUILD_NOTES
"Model-based fidelity") but on single-policy data of a point task: test_model_helps.py."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_suite.agents.base import data_spec
from jaxrl_suite.data.dataset import concatenate
from jaxrl_suite.data.sampling import sample_uniform
from jaxrl_suite.errors import SuiteError
from jaxrl_suite.model_based import dynamics, penalties, rollouts
from jaxrl_suite.model_based.mobile import (MOBILEConfig, MOBILEHParams, bellman_inconsistency,
                                            make_mobile, temperature)
from jaxrl_suite.model_based.mopo import MOPOConfig, MOPOHParams, make_mopo, member_masks
from jaxrl_suite.train import TrainConfig, make_train, stack_hparams, train
from tests.agents.learn_check import normalized_returns
from tests.model_based import test_penalties as ref

SMALL_MODEL = dynamics.EnsembleConfig(num_members=5, num_elites=3, hidden_sizes=(64, 64),
                                      weight_decays=(2.5e-5, 5e-5, 1e-4), max_epochs=30)


def _random_rollout(rng, h, n, obs_dim=3, act_dim=1):
    f = lambda *shape: jnp.asarray(rng.normal(size=shape), jnp.float32)
    return rollouts.Rollout(f(h, n, obs_dim), f(h, n, act_dim), f(h, n), f(h, n, obs_dim),
                            jnp.asarray(rng.random((h, n)) < 0.2, jnp.float32),
                            jnp.asarray(rng.random((h, n)) < 0.6), f(h, n), f(h, n),
                            jnp.zeros((h, n), jnp.int32))


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


def test_rollout_penalty_scores_the_transition_taken_by_the_member_that_produced_it(
        mix_and_model):
    # Every penalty of each rollout step against NumPy loops over the ensemble's outputs at the
    # step's (s, a), with the step's own next state, reward and member (test_penalties' refs).
    _, data, model = mix_and_model
    in_use, elites = member_masks(model.holdout_mse, jnp.float32(5), jnp.float32(3))
    start = jnp.asarray(data.observations[::1000][:ref.B])
    policy = lambda obs, key: jax.random.uniform(key, (obs.shape[0], 1), minval=-2, maxval=2)

    @jax.jit
    def run(index):
        return rollouts.rollout(model, policy, start, jax.random.PRNGKey(2), max_horizon=2,
                                horizon=jnp.float32(2), penalty_index=index,
                                penalty_coef=jnp.float32(1), sample_mask=elites,
                                penalty_mask=in_use, done_fn=rollouts.termination_fn(
                                    "Pendulum-v1"))

    mask = np.asarray(in_use)
    for index, name in enumerate(penalties.PENALTIES):
        steps = run(jnp.float32(index))
        member = np.asarray(steps.member)
        assert np.asarray(elites)[member].all() and len(np.unique(member)) > 1
        for t in range(2):
            obs = np.asarray(steps.observations[t])
            means, stds = (np.asarray(x) for x in dynamics.predict(model, steps.observations[t],
                                                                    steps.actions[t]))
            means = means.copy()
            means[..., :-1] += obs
            taken = np.concatenate([np.asarray(steps.next_observations[t]),
                                    np.asarray(steps.raw_rewards[t])[:, None]], axis=-1)
            s_means, s_stds = means[..., :-1], stds[..., :-1]
            want = {
                "max_aleatoric": lambda: ref.ref_max_aleatoric(means, stds, mask),
                "max_pairwise_diff": lambda: ref.ref_max_pairwise_diff(s_means, s_stds, None,
                                                                       mask),
                "ensemble_std": lambda: ref.ref_ensemble_std(s_means, s_stds, None, mask),
                "ensemble_var": lambda: ref.ref_ensemble_var(s_means, s_stds, None, mask),
                "ll_var": lambda: ref.ref_ll_var(s_means, s_stds, taken[:, :-1], mask),
                "loo_kl": lambda: ref.ref_loo_kl(means, stds, member[t], mask),
            }[name]()
            np.testing.assert_allclose(np.asarray(steps.penalty[t]), want, rtol=1e-3,
                                       atol=1e-4, err_msg=f"{name}, step {t}")


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
    # A custom task names its own rule (tests/model_based/test_model_helps.py).
    for make in (make_mopo, make_mobile):
        assert make(mix_and_model[2], "CartPole-v1", termination=rollouts.never).name in (
            "mopo", "mobile")


@pytest.mark.slow
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


@pytest.mark.slow
def test_mobile_learns_from_expert_plus_random_data(mix_and_model, bc_on_random):
    # Pendulum's rewards are negative: the code's floor of the target at 0 is switched off.
    env, data, model = mix_and_model
    learner = make_mobile(model, "Pendulum-v1", MOBILEConfig(
        (64, 64), rollout_starts=32, buffer_size=20_000, num_samples=4, target_floor=None))
    hparams = MOBILEHParams(actor_lr=1e-3, critic_lr=1e-3, alpha_lr=1e-3, num_members=5,
                            num_elites=3, real_ratio=0.5)
    scores = normalized_returns(learner, hparams, env, data, num_updates=3_000)
    assert scores.mean() > 60 and scores.mean() > bc_on_random.mean() + 40, (scores, bc_on_random)


def test_mobile_temperature_starts_at_one_and_is_clamped_there(mix_and_model):
    # policies/mobile.py l. 195: alpha = clamp(exp(log_alpha), 0, 1) after each step, log
    # alpha itself unclamped. A target entropy far above reach drives log alpha up.
    env, data, model = mix_and_model
    learner = make_mobile(model, "Pendulum-v1", MOBILEConfig(
        (16, 16), rollout_starts=8, buffer_size=400, num_samples=2, target_floor=None))
    hparams = MOBILEHParams(alpha_lr=0.1, target_entropy_per_dim=10.0, num_members=5,
                            num_elites=3)
    assert hparams.init_alpha == 1.0 and hparams.max_alpha == 1.0
    spec = data_spec(data)
    state = jax.jit(lambda key, h: learner.init(key, spec, h))(jax.random.PRNGKey(0), hparams)
    update = jax.jit(learner.update)
    sample = jax.jit(sample_uniform, static_argnums=2)
    alphas, log_alphas = [], []
    for i in range(5):
        batch = sample(data, jax.random.PRNGKey(10 + i), 32)
        state, metrics = update(state, batch, jax.random.PRNGKey(i), hparams)
        alphas.append(float(metrics["alpha"]))
        log_alphas.append(float(state.sac.log_alpha))
    assert alphas[0] == 1.0  # exp(0): the temperature the first step used
    assert log_alphas[-1] > 0.0 and all(a == 1.0 for a in alphas)
    np.testing.assert_allclose(temperature(jnp.array([-1.0, 0.0, 2.0]), 1.0),
                               [np.exp(-1.0), 1.0, 1.0], rtol=1e-6)
