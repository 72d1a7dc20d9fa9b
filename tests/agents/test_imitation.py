"""Offline imitation (Dual RL's setting): the mixture layout against its definition, ReCOIL's
and DemoDICE's losses against NumPy transcriptions of their authors' code on random inputs,
the one shared implicit-maximiser loss, and the engine's guarantees (rewards unreadable, the
expert batch drawn from the demonstrations only, clear errors)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_suite.agents import demodice, losses, recoil, xql
from jaxrl_suite.agents.recoil import ReCOILConfig, ReCOILHParams, make_recoil
from jaxrl_suite.data.dataset import DatasetMeta, from_arrays
from jaxrl_suite.data.imitation import demonstration_range, demonstrations, imitation_mixture
from jaxrl_suite.data.sampling import sample_imitation
from jaxrl_suite.envs.registry import make_env
from jaxrl_suite.errors import DatasetError, SuiteError
from jaxrl_suite.train import TrainConfig, make_train, stack_hparams, train

B = 16


def _episodes(lengths, seed, source, terminal_last=False):
    rng = np.random.default_rng(seed)
    n = sum(lengths)
    obs = rng.normal(size=(n, 3)).astype(np.float32)
    ends = np.cumsum(lengths) - 1
    term, tout = np.zeros(n, bool), np.zeros(n, bool)
    (term if terminal_last else tout)[ends] = True
    return from_arrays(obs, rng.uniform(-2, 2, (n, 1)).astype(np.float32),
                       rng.normal(size=n).astype(np.float32), term, tout,
                       obs + rng.normal(size=obs.shape).astype(np.float32),
                       meta=DatasetMeta(env_id="Pendulum-v1", action_low=(-2.0,),
                                        action_high=(2.0,), ref_min_score=-1200.0,
                                        ref_max_score=-150.0), source=source)


@pytest.fixture(scope="module")
def mixture():
    offline = _episodes([30, 20, 25], 0, "offline.npz")
    expert = _episodes([12, 15, 11, 14], 1, "expert.npz")
    return offline, expert, imitation_mixture(offline, expert, mixed_expert_episodes=3,
                                              demo_episodes=2)


def test_mixture_is_the_offline_data_then_the_first_expert_episodes(mixture):
    offline, expert, mix = mixture
    assert mix.num_transitions == 75 + 12 + 15 + 11
    np.testing.assert_array_equal(mix.observations[:75], offline.observations)
    np.testing.assert_array_equal(mix.observations[75:], expert.observations[:38])
    assert demonstration_range(mix) == (75, 75 + 27)  # the first two expert episodes
    demos = demonstrations(mix)
    np.testing.assert_array_equal(demos.actions, expert.actions[:27])
    assert demos.num_episodes == 2 and demonstration_range(demos) is None
    assert mix.meta.ref_max_score == offline.meta.ref_max_score
    assert demonstration_range(offline) is None


def test_mixture_refuses_bad_requests(mixture):
    offline, expert, _ = mixture
    with pytest.raises(DatasetError, match="episodes.*>= 9 expert episodes"):
        imitation_mixture(offline, expert, 9, 1)
    with pytest.raises(DatasetError, match="demo_episodes"):
        imitation_mixture(offline, expert, 2, 3)
    other = offline.replace(meta=offline.meta.replace(env_id="Hopper-v5"))
    with pytest.raises(DatasetError, match="env_id"):
        imitation_mixture(other, expert, 2, 1)


def test_expert_batches_come_from_the_demonstrations_only(mixture):
    _, _, mix = mixture
    batch = sample_imitation(mix, jnp.asarray([75, 102]), jax.random.PRNGKey(0), 512)
    idx = np.asarray(batch.expert.indices)
    assert idx.min() >= 75 and idx.max() < 102 and len(set(idx.tolist())) > 20
    assert np.asarray(batch.offline.indices).max() >= 102  # the offline batch spans all
    starts = set(np.asarray(mix.observations)[np.asarray(mix.episode_starts)].tobytes()
                 [i * 12:(i + 1) * 12] for i in range(mix.num_episodes))
    got = np.asarray(batch.initial_observations)
    assert all(row.tobytes() in starts for row in got)


# ---------------------------------------------------------------------------------------------
# ReCOIL's losses against NumPy transcriptions of critic.py / actor.py


def _np_gumbel(diff, temp, clip):
    z = np.minimum(diff / temp, clip)
    m = max(z.max(), -1.0)
    return np.exp(z - m) - z * np.exp(-m) - np.exp(-m)


@pytest.mark.parametrize("temp,clip", [(1.0, 7.0), (2.5, 3.0)])
def test_recoil_value_loss_matches_rkl_loss_imitate(temp, clip):
    rng = np.random.default_rng(3)
    q, v = 50 * rng.normal(size=2 * B), 50 * rng.normal(size=2 * B)
    hp = ReCOILHParams(loss_temp=temp, max_clip=clip)
    # rkl_loss_imitate: z over both halves (the max too), the loss kept on the first half.
    expected = _np_gumbel(q - v, temp, clip)[:B].mean()
    got = recoil.value_loss(jnp.asarray(q, jnp.float32), jnp.asarray(v, jnp.float32), B, hp)
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_the_implicit_maximiser_is_one_function():
    assert recoil.gumbel_loss is losses.gumbel_loss is xql.gumbel_loss
    from jaxrl_suite.agents import fdvl, iql
    assert fdvl.chi_square_loss is losses.chi_square_loss
    assert iql.expectile_loss is losses.expectile_loss
    assert iql.awr_actor_loss is losses.awr_actor_loss


def test_recoil_critic_loss_and_target_match_update_q_imitate():
    rng = np.random.default_rng(4)
    next_v, q = 30 * rng.normal(size=2 * B), 100 * rng.normal(size=2 * B)
    masks = (rng.uniform(size=2 * B) > 0.3).astype(np.float64)  # 1 - terminal
    hp = ReCOILHParams(gamma=0.97)
    target = -2 + 0.97 * masks * next_v + 0.97 * (1 - masks) * (-200)
    got = recoil.bellman_target(jnp.asarray(next_v, jnp.float32),
                                jnp.asarray(1 - masks, jnp.float32), hp)
    np.testing.assert_allclose(got, target, rtol=1e-5, atol=1e-3)
    expected = (0.5 * (q[B:] - 200) ** 2 + 0.5 * (q[:B] - target[:B]) ** 2).mean()  # ls_iq_loss
    np.testing.assert_allclose(recoil.critic_loss(jnp.asarray(q, jnp.float32),
                                                  jnp.asarray(target, jnp.float32), B, hp),
                               expected, rtol=1e-5)


def test_recoil_actor_weights_and_cosine_decay():
    rng = np.random.default_rng(5)
    adv = 20 * rng.normal(size=B)
    expected = np.minimum(np.exp(adv * 0.1), 100.0)  # actor.py::update_gcrl
    np.testing.assert_allclose(losses.awr_weights(jnp.asarray(adv, jnp.float32), 0.1, 100.0),
                               expected, rtol=1e-5)
    import optax
    schedule = optax.cosine_decay_schedule(1.0, 1000)  # DVL learner.py: cosine over max_steps
    for step in (0, 1, 250, 999, 1000, 5000):
        np.testing.assert_allclose(recoil.cosine_factor(jnp.float32(step), 1000.0),
                                   schedule(step), atol=1e-6)


# ---------------------------------------------------------------------------------------------
# DemoDICE's losses against NumPy transcriptions of demodice.py


def test_demodice_losses_match_the_authors_formulas():
    rng = np.random.default_rng(6)
    ce, cu = 3 * rng.normal(size=B), 3 * rng.normal(size=B)
    sig = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    # tfgan minimax_discriminator_loss: real (expert) labelled 1, generated (union) 0
    expected = -np.mean(np.log(sig(ce))) - np.mean(np.log(1 - sig(cu)))
    np.testing.assert_allclose(demodice.discriminator_loss(*map(jnp.float32, (ce, cu))),
                               expected, rtol=1e-5)
    np.testing.assert_allclose(demodice.cost_of_logit(jnp.float32(cu)),
                               np.log(1 / (sig(cu) + 1e-3) - 1 + 1e-3), rtol=1e-4, atol=1e-5)
    adv, init_nu = 4 * rng.normal(size=B), rng.normal(size=B)
    for alpha in (0.0, 0.5):
        reg = 1 + alpha
        m = (adv / reg).max()
        expected = reg * (m + np.log(np.exp(adv / reg - m).sum())) + 0.01 * init_nu.mean()
        np.testing.assert_allclose(demodice.nu_loss(jnp.float32(adv), jnp.float32(init_nu),
                                                    0.99, reg), expected, rtol=1e-5)
        w = np.exp((adv - adv.max()) / reg)
        np.testing.assert_allclose(demodice.bc_weights(jnp.float32(adv), reg), w / w.mean(),
                                   rtol=1e-5)


def test_demodice_log_prob_matches_get_log_prob():
    rng = np.random.default_rng(7)
    mean, log_std = rng.normal(size=(B, 2)), rng.uniform(-2, 1, size=(B, 2))
    action = np.tanh(rng.normal(size=(B, 2)))
    eps = np.finfo(np.float32).eps
    pre = np.arctanh(np.clip(action, -1 + eps, 1 - eps))
    std = np.exp(log_std)
    normal = (-0.5 * ((pre - mean) / std) ** 2 - log_std - 0.5 * np.log(2 * np.pi)).sum(-1)
    expected = normal - np.log(1 - action ** 2 + eps).sum(-1)
    np.testing.assert_allclose(demodice.tanh_log_prob(*map(jnp.float32, (mean, log_std,
                                                                         action))),
                               expected, rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------------------------------------
# The engine


@pytest.fixture(scope="module")
def recoil_trainer():
    learner = make_recoil(ReCOILConfig((8, 8), gradient_penalty=True))
    return learner, make_train(learner, make_env("Pendulum-v1"), TrainConfig(
        num_updates=6, batch_size=8, eval_every=3, eval_episodes=1))


def _run(trainer, learner, dataset):
    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    return train(trainer, dataset, keys, stack_hparams([learner.default_hparams] * 2))


@pytest.fixture(scope="module")
def demodice_trainer():
    from jaxrl_suite.agents.demodice import DemoDICEConfig, make_demodice
    learner = make_demodice(DemoDICEConfig((8, 8)))
    return learner, make_train(learner, make_env("Pendulum-v1"), TrainConfig(
        num_updates=6, batch_size=8, eval_every=3, eval_episodes=1))


@pytest.mark.parametrize("which", ["recoil_trainer", "demodice_trainer"])
def test_imitation_learners_cannot_read_rewards(mixture, which, request):
    _, _, mix = mixture
    learner, trainer = request.getfixturevalue(which)
    other = mix.replace(rewards=mix.rewards * 100.0 + 7.0)
    a, b = _run(trainer, learner, mix), _run(trainer, learner, other)
    for x, y in zip(jax.tree.leaves(a.state.learner), jax.tree.leaves(b.state.learner)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    assert all(np.isfinite(v).all() for v in a.update_metrics.values())


def test_imitation_learners_refuse_data_without_demonstrations(mixture, recoil_trainer):
    offline, _, mix = mixture
    learner, trainer = recoil_trainer
    with pytest.raises(SuiteError, match="offline.npz.*'recoil' imitates.*--demos"):
        _run(trainer, learner, offline)
    rw = make_train(learner, make_env("Pendulum-v1"), TrainConfig(
        num_updates=3, batch_size=8, eval_every=3, eval_episodes=1, sampling="rw"))
    with pytest.raises(SuiteError, match="--sampling.*uniformly"):
        _run(rw, learner, mix)
