"""brax-trained experts: the plumbing from brax's PPO into our env adapter, rollouts and evaluate.

MJX compiles slowly on CPU (brax's ``train`` compiles a reset, one training epoch and one
evaluation unroll, 5-15 s each), so the module trains ONE tiny PPO run (a few hundred env steps,
16-unit networks: it does not learn, and nothing here asks it to) and shares one compiled rollout
that steps our adapter and brax's training wrapper side by side.
"""

import functools
import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_suite.envs import evaluate, make_brax_env
from jaxrl_suite.envs.brax_env import BRAX_ENV_NAMES
from jaxrl_suite.errors import EnvError
from jaxrl_suite.generate.brax_experts import (
    BRAX_PPO_CONFIGS,
    BRAX_SAC_CONFIGS,
    ExpertConfig,
    _brax_train_fn,
    make_brax_policy_fns,
    replay_via_sac,
    train_brax_expert,
)

EPISODE_LENGTH = 20
NUM_ENVS = 4  # side-by-side rollout
OBS_DIM, ACT_DIM = 11, 3  # hopper


def _tiny_networks():
    from brax.training.agents.ppo import networks as ppo_networks

    return functools.partial(
        ppo_networks.make_ppo_networks,
        policy_hidden_layer_sizes=(16, 16),
        value_hidden_layer_sizes=(16, 16),
    )


def _tiny_ppo():
    # 10 training steps of 8 envs x 5-step unrolls x 2 minibatches, one epoch, one evaluation.
    return dict(
        num_timesteps=800, num_envs=8, batch_size=8, num_minibatches=2, unroll_length=5,
        num_updates_per_batch=1, num_evals=1, num_eval_envs=8, network_factory=_tiny_networks(),
    )


@pytest.fixture(scope="module")
def expert():
    # No reset noise: every evaluation episode of the deterministic policy is the same, so
    # brax's evaluation and ours must give the same return.
    return train_brax_expert(
        "hopper", algorithm="ppo", episode_length=EPISODE_LENGTH, seed=0,
        env_kwargs=dict(reset_noise_scale=0.0), **_tiny_ppo()
    )


@pytest.fixture(scope="module")
def side_by_side(expert):
    """Our adapter and brax's training wrapper, reset with the same keys and stepped with the
    same (stochastic expert) actions, for EPISODE_LENGTH steps."""
    import brax.envs

    ours = make_brax_env("hopper", episode_length=EPISODE_LENGTH)
    theirs = brax.envs.training.wrap(
        brax.envs.get_environment("hopper", backend="mjx"), episode_length=EPISODE_LENGTH
    )

    def run(params, key):
        reset_key, scan_key = jax.random.split(key)
        keys = jax.random.split(reset_key, NUM_ENVS)
        obs, state = jax.vmap(ours.reset)(keys)
        brax_state = theirs.reset(keys)

        def step(carry, step_key):
            obs, state, brax_state, ended = carry
            actions = expert.stochastic_policy_fn(params, obs, step_key)
            next_obs, state, _, terminated, truncated = jax.vmap(ours.step)(
                state, actions, jax.random.split(step_key, NUM_ENVS)
            )
            brax_state = theirs.step(brax_state, actions)
            ends_here = terminated | truncated
            record = (obs, brax_state.obs, next_obs, actions, ended | ends_here)
            ended = ended | ends_here
            return (next_obs, state, brax_state, ended), record

        first = (obs, state, brax_state, jnp.zeros(NUM_ENVS, bool))
        _, (obs, brax_next_obs, next_obs, actions, ended) = jax.lax.scan(
            step, first, jax.random.split(scan_key, EPISODE_LENGTH)
        )
        return dict(obs=obs, brax_next_obs=brax_next_obs, next_obs=next_obs, actions=actions,
                    ended=ended, first_obs=brax_state.obs)

    out = jax.jit(run)(expert.params, jax.random.PRNGKey(1))
    return jax.tree.map(np.asarray, out)


@pytest.mark.slow
def test_brax_ppo_returns_an_expert_with_its_evaluation_curve(expert):
    assert expert.env_name == "hopper" and expert.algorithm == "ppo"
    assert len(expert.eval_returns) == 1
    step, ret = expert.eval_returns[0]
    assert step >= 800 and np.isfinite(ret) and expert.best_return == ret
    assert expert.params_step == step
    assert expert.train_kwargs["episode_length"] == EPISODE_LENGTH
    assert expert.train_kwargs["deterministic_eval"] is True
    assert expert.final_metrics["eval/episode_reward"] == pytest.approx(ret)
    # brax's PPO inference params: (normaliser state, policy params, value params).
    normaliser = expert.params[0]
    assert normaliser.mean.shape == (OBS_DIM,) and normaliser.std.shape == (OBS_DIM,)


@pytest.mark.slow
def test_jax_compat_shim_is_removed_after_training(expert):
    del expert  # trained: the shim was installed and must be gone again
    assert "device_put_replicated" not in vars(jax)


@pytest.mark.slow
def test_brax_training_wrapper_sees_the_same_observations_as_our_adapter(side_by_side):
    obs, ended = side_by_side["obs"], side_by_side["ended"]
    # Reset: brax's wrapper keeps the first observation for auto-reset.
    np.testing.assert_allclose(side_by_side["first_obs"], obs[0], rtol=1e-5, atol=1e-5)
    # Every step inside an episode: same next observation. (At and after an episode's end brax
    # auto-resets and our adapter does not, so those steps are not comparable.)
    live = ~ended
    assert live[:5].all()  # at least the first steps compare
    np.testing.assert_allclose(
        side_by_side["brax_next_obs"][live], side_by_side["next_obs"][live], rtol=1e-4, atol=1e-4
    )


@pytest.mark.slow
def test_policies_act_in_the_unit_box(expert, side_by_side):
    actions = side_by_side["actions"]
    assert actions.shape == (EPISODE_LENGTH, NUM_ENVS, ACT_DIM)
    assert np.all(np.abs(actions) <= 1.0) and np.all(np.isfinite(actions))
    key = jax.random.PRNGKey(0)
    for obs in (side_by_side["obs"].reshape(-1, OBS_DIM), jnp.full((3, OBS_DIM), 1e4)):
        for policy in (expert.policy_fn, expert.stochastic_policy_fn):
            act = np.asarray(policy(expert.params, obs, key))
            assert act.shape == (obs.shape[0], ACT_DIM)
            assert np.all(np.abs(act) <= 1.0)


@pytest.mark.slow
def test_policy_fn_is_brax_inference_with_its_observation_normaliser(expert, side_by_side):
    from brax.training.acme import running_statistics
    from brax.training.agents.ppo import networks as ppo_networks

    obs = jnp.asarray(side_by_side["obs"][:5].reshape(-1, OBS_DIM))
    key = jax.random.PRNGKey(3)
    normaliser = expert.params[0]
    # The normaliser has seen data: it is not the identity.
    assert not np.allclose(normaliser.mean, 0.0) and not np.allclose(normaliser.std, 1.0)

    networks = _tiny_networks()(
        (OBS_DIM,), ACT_DIM, preprocess_observations_fn=running_statistics.normalize
    )
    make_policy = ppo_networks.make_inference_fn(networks)
    brax_mode, _ = make_policy(expert.params, deterministic=True)(obs, key)
    brax_sample, _ = make_policy(expert.params, deterministic=False)(obs, key)
    np.testing.assert_allclose(expert.policy_fn(expert.params, obs, key), brax_mode, atol=1e-6)
    np.testing.assert_allclose(
        expert.stochastic_policy_fn(expert.params, obs, key), brax_sample, atol=1e-6
    )

    # The rebuilt policy (for saved params) agrees; without its normaliser it is the raw
    # network, which acts like the expert only on normalised observations.
    rebuilt, _ = make_brax_policy_fns("ppo", OBS_DIM, ACT_DIM, network_factory=_tiny_networks())
    raw, _ = make_brax_policy_fns(
        "ppo", OBS_DIM, ACT_DIM, normalize_observations=False, network_factory=_tiny_networks()
    )
    np.testing.assert_allclose(rebuilt(expert.params, obs, key), brax_mode, atol=1e-6)
    normalised = (obs - normaliser.mean) / normaliser.std
    np.testing.assert_allclose(raw(expert.params, normalised, key), brax_mode, atol=1e-5)
    assert not np.allclose(raw(expert.params, obs, key), brax_mode, atol=1e-3)


@pytest.mark.slow
def test_our_evaluate_of_the_expert_matches_brax_evaluation(expert):
    env = make_brax_env("hopper", episode_length=EPISODE_LENGTH, reset_noise_scale=0.0)
    result = jax.jit(lambda p, k: evaluate(expert.policy_fn, p, env, k, 4))(
        expert.params, jax.random.PRNGKey(2)
    )
    returns, lengths = np.asarray(result.returns), np.asarray(result.lengths)
    assert returns.shape == (4,) and np.all(np.isfinite(returns))
    assert np.all((lengths >= 1) & (lengths <= EPISODE_LENGTH))
    # Same params, same deterministic policy, same noise-free env: brax's evaluation loop
    # (its training wrappers) and ours (our adapter) see the same episode.
    step, brax_return = expert.eval_returns[-1]
    assert step == expert.params_step
    np.testing.assert_allclose(returns, brax_return, rtol=1e-3, atol=1e-3)


def test_published_settings_are_keywords_of_brax_train():
    for configs, algorithm in ((BRAX_PPO_CONFIGS, "ppo"), (BRAX_SAC_CONFIGS, "sac")):
        accepted = set(inspect.signature(_brax_train_fn(algorithm)).parameters)
        assert set(configs) == set(BRAX_ENV_NAMES)
        for name, config in configs.items():
            assert set(config) <= accepted, (algorithm, name, set(config) - accepted)


def test_bad_settings_raise_before_training():
    with pytest.raises(EnvError, match="unknown brax env"):
        train_brax_expert("pendulum")
    with pytest.raises(ValueError, match="algorithm"):
        train_brax_expert("hopper", algorithm="td3")
    with pytest.raises(ValueError, match="no keyword 'batchsize'"):
        train_brax_expert("hopper", algorithm="ppo", batchsize=8)
    with pytest.raises(ValueError, match="divisible by num_envs"):
        train_brax_expert("hopper", algorithm="ppo", num_envs=7, batch_size=8, num_minibatches=2)
    with pytest.raises(ValueError, match="min_replay_size"):
        train_brax_expert("hopper", algorithm="sac", num_timesteps=100)


def test_replay_via_sac_runs_our_sac_on_our_adapter_of_the_env(monkeypatch):
    # A real run (total_steps=200) takes ~65 s on a shared 2-core CPU: four MJX compiles
    # (warm-up scan, learning scan, two evaluations). That our SAC's stream is every transition
    # it saw is tested in tests/online and tests/generate; here, only what replay_via_sac hands it.
    import jaxrl_suite.generate.brax_experts as brax_experts

    seen = {}

    def fake_train_online_expert(env, key, config, progress=None):
        seen.update(env=env, key=key, config=config, progress=progress)
        return "run"

    monkeypatch.setattr(brax_experts, "train_online_expert", fake_train_online_expert)
    config = ExpertConfig(total_steps=200, chunk_steps=100, learning_starts=100)
    key = jax.random.PRNGKey(5)
    assert replay_via_sac("hopper", key=key, episode_length=EPISODE_LENGTH, config=config,
                          reset_noise_scale=0.0) == "run"
    spec = seen["env"].spec
    assert (spec.name, spec.backend, spec.max_episode_steps) == ("hopper", "brax", EPISODE_LENGTH)
    assert spec.observation_shape == (OBS_DIM,) and spec.action_dim == ACT_DIM
    assert seen["config"] is config and seen["key"] is key
    # The env is our MJX adapter, whose reset honours the brax constructor argument.
    obs_a, _ = jax.jit(seen["env"].reset)(jax.random.PRNGKey(0))
    obs_b, _ = jax.jit(seen["env"].reset)(jax.random.PRNGKey(1))
    np.testing.assert_array_equal(obs_a, obs_b)  # no reset noise
    with pytest.raises(EnvError):
        replay_via_sac("pendulum")
