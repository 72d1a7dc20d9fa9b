"""Online SAC: learns Pendulum, its replay stream is well formed, seeds vmap faithfully."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_suite.envs.evaluate import evaluate, random_policy
from jaxrl_suite.envs.gymnax_env import make_gymnax_env
from jaxrl_suite.online import SACConfig, SACHParams, make_sac
from jaxrl_suite.nets.networks import TanhGaussianActor
from tests.online.streams import check_stream

NUM_SEEDS = 3
# Small, CPU-friendly budget: 12k steps (1k random warm-up), 64-unit layers, batch 128.
# Measured deterministic returns at this budget: about -100 to -210 (random: about -1,200).
CONFIG = SACConfig(total_steps=12_000, hidden_sizes=(64, 64), batch_size=128, learning_starts=1_000)


@pytest.fixture(scope="module")
def pendulum():
    env = make_gymnax_env("Pendulum-v1")
    sac = make_sac(env, CONFIG)
    keys = jax.random.split(jax.random.PRNGKey(0), NUM_SEEDS)
    out = jax.jit(jax.vmap(sac.train))(keys)
    return env, sac, out


@pytest.mark.slow
def test_sac_expert_beats_random_policy_on_pendulum(pendulum):
    env, sac, out = pendulum
    eval_keys = jax.random.split(jax.random.PRNGKey(1), NUM_SEEDS)
    expert = jax.jit(
        jax.vmap(lambda p, k: evaluate(sac.deterministic_policy, p, env, k, 10).returns)
    )
    expert_means = np.asarray(expert(out.state.actor_params, eval_keys).mean(axis=1))
    random = evaluate(random_policy(env.spec), None, env, eval_keys[0], 50).returns
    random_mean = float(random.mean())
    assert random_mean < -900.0
    assert np.all(expert_means > random_mean + 600.0), (expert_means, random_mean)


# The stream's form does not need the expert's budget: 1k warm-up steps and 600 updates.
STREAM_CONFIG = SACConfig(total_steps=1_600, hidden_sizes=(32, 32), batch_size=32,
                          learning_starts=1_000)


def test_sac_replay_stream_truncates_every_200_steps():
    sac = make_sac(make_gymnax_env("Pendulum-v1"), STREAM_CONFIG)
    out = jax.jit(jax.vmap(sac.train))(jax.random.split(jax.random.PRNGKey(0), NUM_SEEDS))
    steps, warmup_steps = STREAM_CONFIG.total_steps, STREAM_CONFIG.learning_starts
    tr, stats = jax.tree.map(np.asarray, (out.transitions, out.metrics.episode))
    assert tr.obs.shape == (NUM_SEEDS, steps, 3)
    assert tr.action.shape == (NUM_SEEDS, steps, 1)
    assert np.all(np.abs(tr.action) <= 2.0)
    assert not tr.terminated.any()
    for seed in range(NUM_SEEDS):
        seed_tr, seed_stats = jax.tree.map(lambda x: x[seed], (tr, stats))
        check_stream(seed_tr, seed_stats, max_steps=200)
        np.testing.assert_array_equal(np.nonzero(seed_tr.truncated)[0],
                                      np.arange(199, steps, 200))
    # Warm-up actions are uniform over [-2, 2].
    warmup = tr.action[:, :warmup_steps].ravel()
    assert abs(warmup.mean()) < 0.15 and 1.05 < warmup.std() < 1.26  # 4 / sqrt(12)
    assert np.all(np.asarray(out.metrics.critic_loss[:, :warmup_steps]) == 0.0)
    assert np.any(np.asarray(out.metrics.critic_loss[:, warmup_steps:]) != 0.0)
    assert np.all(np.asarray(out.state.num_updates) == steps - warmup_steps)


@pytest.mark.slow  # full tier: 15-46 s in the fast tier (BUILD_NOTES "Session 13")
def test_vmapped_seed_matches_single_seed():
    # Short run: float rounding differs between batched and single matmuls, and a long chaotic
    # run amplifies it; over a few hundred updates the two agree closely.
    env = make_gymnax_env("Pendulum-v1")
    sac = make_sac(
        env, SACConfig(total_steps=500, hidden_sizes=(32, 32), batch_size=32, learning_starts=200)
    )
    hparams = SACHParams(actor_lr=1e-3, critic_lr=1e-3)
    keys = jax.random.split(jax.random.PRNGKey(7), 3)
    batched = jax.jit(jax.vmap(sac.train, in_axes=(0, None)))(keys, hparams)
    alone = jax.jit(sac.train)(keys[1], hparams)
    for got, want in zip(jax.tree.leaves(batched), jax.tree.leaves(alone)):
        np.testing.assert_allclose(np.asarray(got[1]), np.asarray(want), rtol=1e-4, atol=1e-4)
    assert not np.array_equal(batched.transitions.obs[0], batched.transitions.obs[1])


def test_deterministic_and_noisy_actions_respect_bounds():
    env = make_gymnax_env("MountainCarContinuous-v0")
    sac = make_sac(env, SACConfig(total_steps=100, hidden_sizes=(16,), learning_starts=10))
    state = sac.init(jax.random.PRNGKey(0), sac.default_hparams)
    obs = 3.0 * jax.random.normal(jax.random.PRNGKey(1), (256, 2))
    mean, _ = TanhGaussianActor((16,), 1).apply(state.actor_params, obs)
    det = sac.deterministic_policy(state.actor_params, obs, jax.random.PRNGKey(2))
    np.testing.assert_allclose(det, jnp.tanh(mean), rtol=1e-5, atol=1e-6)  # bounds are [-1, 1]
    noisy = sac.noisy_policy(0.5)(state.actor_params, obs, jax.random.PRNGKey(3))
    assert noisy.shape == (256, 1) and np.all(np.abs(noisy) <= 1.0)
    assert 0.2 < float(jnp.std(noisy - det)) < 0.6
    sampled = sac.stochastic_policy(state.actor_params, obs, jax.random.PRNGKey(4))
    assert np.all(np.abs(sampled) <= 1.0) and not np.allclose(sampled, det)


def test_make_sac_rejects_discrete_env_and_bad_config():
    with pytest.raises(ValueError, match="discrete"):
        make_sac(make_gymnax_env("CartPole-v1"))
    pendulum = make_gymnax_env("Pendulum-v1")
    with pytest.raises(ValueError, match="total_steps"):
        make_sac(pendulum, SACConfig(total_steps=1_000, learning_starts=5_000))
    with pytest.raises(ValueError, match="buffer_size"):
        make_sac(pendulum, SACConfig(buffer_size=0))


def test_sac_training_and_noisy_policy_never_reuse_a_key():
    env = make_gymnax_env("Pendulum-v1")
    sac = make_sac(
        env, SACConfig(total_steps=40, hidden_sizes=(8,), batch_size=4, learning_starts=8)
    )
    with jax.debug_key_reuse(True):
        out = jax.jit(sac.train)(jax.random.key(0))
        jax.jit(lambda p, k: evaluate(sac.noisy_policy(0.1), p, env, k, 2))(
            out.state.actor_params, jax.random.key(1)
        )
