"""The reference initialisations (nets/networks.py INITS) against NumPy statements of their
definitions, layer by layer, and the learners' defaults: EDAC and ReBRAC start as the EDAC
paper's code (CORL, ReBRAC), IQL/XQL/f-DVL as ikostrikov's, CQL as JaxCQL's, EDAC's initial
policy is a unit-std Gaussian around 0 and CQL's a std-exp(-1) one, and MOPO/MOBILE's SAC keeps
flax's init."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_suite.agents.base import DataSpec
from jaxrl_suite.agents.cql import CQLConfig, make_cql
from jaxrl_suite.agents.edac import EDACConfig, make_edac
from jaxrl_suite.agents.fdvl import make_fdvl
from jaxrl_suite.agents.iql import IQLConfig, make_iql
from jaxrl_suite.agents.rebrac import ReBRACConfig, make_rebrac
from jaxrl_suite.agents.td3bc import make_td3bc
from jaxrl_suite.agents.xql import make_xql
from jaxrl_suite.nets.networks import (CriticEnsemble, DeterministicActor, StateValue,
                                       TanhGaussianActor, check_init, orthogonal)

OBS, ACT, WIDTH = 11, 3, (64, 48)


def _layers(params):
    """Returns the Dense layers {name: (kernel, bias)} of a param tree, in layer order."""
    flat = jax.tree_util.tree_flatten_with_path(params)[0]
    layers = {}
    for path, leaf in flat:
        keys = [getattr(k, "key", str(k)) for k in path]
        layers.setdefault("/".join(keys[:-1]), {})[keys[-1]] = np.asarray(leaf)
    return {k: (v["kernel"], v["bias"]) for k, v in layers.items() if "kernel" in v}


def _members(kernel, bias):
    """Splits an ensemble's leading member axis (none: one member)."""
    if kernel.ndim == 3:
        return list(zip(kernel, bias))
    return [(kernel, bias)]


def assert_uniform(x, bound):
    """x is U(-bound, bound): inside the bounds, and (for enough draws) filling them."""
    assert np.all(np.abs(x) <= bound + 1e-7), (np.abs(x).max(), bound)
    if x.size >= 200:
        assert np.abs(x).max() > 0.9 * bound and abs(np.std(x) - bound / np.sqrt(3)) < 0.1 * bound


def check_corl(layers, output):
    """Hidden: kernel U(+-1/sqrt(fan_in)), bias 0.1; output layers (1 unit: a critic's or
    value's; ACT units: an actor's heads) kernel and bias U(+-output)."""
    assert any(k.shape[-1] in (1, ACT) for k, _ in layers.values())
    for name in layers:
        for kernel, bias in _members(*layers[name]):
            if kernel.shape[-1] in (1, ACT):
                assert_uniform(kernel, output)
                assert_uniform(bias, output)
            else:
                assert_uniform(kernel, 1.0 / np.sqrt(kernel.shape[0]))
                np.testing.assert_allclose(bias, 0.1)


def check_orthogonal(layers):
    """Every kernel has orthogonal columns (or rows) of norm sqrt(2); biases 0."""
    for name, (k, b) in layers.items():
        for kernel, bias in _members(k, b):
            small = min(kernel.shape)
            gram = kernel.T @ kernel if kernel.shape[0] >= kernel.shape[1] else kernel @ kernel.T
            np.testing.assert_allclose(gram, 2.0 * np.eye(small), atol=1e-5, err_msg=name)
            np.testing.assert_array_equal(bias, 0.0)


def _init(module, *inputs):
    return module.init(jax.random.PRNGKey(0), *inputs)


def test_corl_init_of_critics_values_and_actors():
    obs, act = jnp.zeros((1, OBS)), jnp.zeros((1, ACT))
    check_corl(_layers(_init(CriticEnsemble(WIDTH, 4, param_init="corl"), obs, act)), 3e-3)
    check_corl(_layers(_init(StateValue(WIDTH, param_init="corl"), obs)), 3e-3)
    actor = _layers(_init(TanhGaussianActor(WIDTH, ACT, param_init="corl"), obs))
    assert sum(k.shape[-1] == ACT for k, _ in actor.values()) == 2  # the mean and log-std heads
    check_corl(actor, 1e-3)
    check_corl(_layers(_init(DeterministicActor(WIDTH, ACT, param_init="corl"), obs)), 1e-3)


def test_orthogonal_init_of_every_layer():
    obs, act = jnp.zeros((1, OBS)), jnp.zeros((1, ACT))
    check_orthogonal(_layers(_init(CriticEnsemble(WIDTH, 2, param_init="orthogonal"), obs, act)))
    check_orthogonal(_layers(_init(StateValue(WIDTH, param_init="orthogonal"), obs)))
    check_orthogonal(_layers(_init(TanhGaussianActor(WIDTH, ACT, param_init="orthogonal"), obs)))


@pytest.mark.parametrize("shape", [(3, 64), (64, 64), (64, 1), (17, 256)])
def test_orthogonal_equals_flax_orthogonal(shape):
    key = jax.random.PRNGKey(4)
    np.testing.assert_allclose(orthogonal()(key, shape),
                               nn.initializers.orthogonal(np.sqrt(2.0))(key, shape), atol=2e-5)


def check_jaxcql(layers, hidden_widths):
    """Hidden: flax's default (zero biases, LeCun-normal kernels: std 1/sqrt(fan_in));
    output layers (any width not in ``hidden_widths``): kernels U(+-sqrt(3e-2 / fan_in)),
    biases 0."""
    outputs = 0
    for name in layers:
        for kernel, bias in _members(*layers[name]):
            np.testing.assert_array_equal(bias, 0.0, err_msg=name)
            fan_in = kernel.shape[0]
            if kernel.shape[-1] in hidden_widths:
                assert abs(np.std(kernel) * np.sqrt(fan_in) - 1.0) < 0.15, name
            else:
                outputs += 1
                assert_uniform(kernel, np.sqrt(3 * 1e-2 / fan_in))
    assert outputs


def test_jaxcql_init_and_affine_log_std():
    obs, act = jnp.zeros((1, OBS)), jnp.zeros((1, ACT))
    check_jaxcql(_layers(_init(CriticEnsemble(WIDTH, 2, param_init="jaxcql"), obs, act)), WIDTH)
    actor = TanhGaussianActor(WIDTH, ACT, param_init="jaxcql", log_std_bound="affine")
    params = _init(actor, obs)
    check_jaxcql(_layers(params), WIDTH)
    assert (float(params["params"]["log_std_multiplier"]),
            float(params["params"]["log_std_offset"])) == (1.0, -1.0)
    # log std = multiplier * head + offset, clipped to [-20, 2] (JaxCQL model.py:120-121).
    params["params"]["log_std_multiplier"] = jnp.float32(40.0)
    head = _layers(params)
    x = jax.random.normal(jax.random.PRNGKey(5), (256, OBS))
    _, log_std = actor.apply(params, x)
    h = np.maximum(np.asarray(x) @ head["params/MLP_0/Dense_0"][0], 0.0)
    h = np.maximum(h @ head["params/MLP_0/Dense_1"][0], 0.0)
    raw = h @ head["params/Dense_1"][0]
    np.testing.assert_allclose(log_std, np.clip(40.0 * raw - 1.0, -20.0, 2.0), atol=1e-4)
    assert np.any(np.asarray(log_std) == 2.0) or np.any(np.asarray(log_std) == -20.0)


def test_unknown_init_is_refused():
    with pytest.raises(ValueError, match="init: expected one of"):
        check_init("xavier")
    with pytest.raises(ValueError, match="init: expected one of"):
        make_edac(EDACConfig(param_init="xavier"))


SPEC = DataSpec(observation_shape=(OBS,), action_dim=ACT, discrete=False, num_actions=None,
                obs_mean=jnp.zeros(OBS), obs_std=jnp.ones(OBS),
                action_low=-jnp.ones(ACT), action_high=jnp.ones(ACT))


@pytest.fixture(scope="module")
def states():
    def init(learner):
        return jax.jit(lambda key: learner.init(key, SPEC, learner.default_hparams))(
            jax.random.PRNGKey(1))
    return {"edac": init(make_edac(EDACConfig(WIDTH, num_critics=3))),
            "rebrac": init(make_rebrac(ReBRACConfig(WIDTH))),
            "iql": init(make_iql(IQLConfig(WIDTH))), "xql": init(make_xql()),
            "fdvl": init(make_fdvl()), "td3bc": init(make_td3bc()),
            "cql": init(make_cql(CQLConfig(WIDTH)))}


def test_learners_start_from_their_references_init(states):
    for name in ("edac", "rebrac"):
        check_corl(_layers(states[name].critic_params), 3e-3)
        check_corl(_layers(states[name].actor_params), 1e-3)
    for name in ("iql", "xql", "fdvl"):
        s = states[name]
        for params in (s.actor_params, s.critic_params, s.value_params):
            check_orthogonal(_layers(params))
        np.testing.assert_array_equal(s.actor_params["params"]["log_std"], 0.0)  # std 1
    check_jaxcql(_layers(states["cql"].critic_params), WIDTH)
    check_jaxcql(_layers(states["cql"].actor_params), WIDTH)
    # TD3+BC keeps flax's init (LeCun-normal kernels, zero biases).
    for kernel, bias in (v for v in _layers(states["td3bc"].critic_params).values()):
        np.testing.assert_array_equal(bias, 0.0)


def test_edac_initial_policy_is_a_unit_std_gaussian_around_zero(states):
    mean, log_std = TanhGaussianActor(WIDTH, ACT, param_init="corl", log_std_bound="clip").apply(
        states["edac"].actor_params, jax.random.normal(jax.random.PRNGKey(2), (64, OBS)))
    assert np.abs(np.asarray(mean)).max() < 0.05
    assert np.abs(np.asarray(log_std)).max() < 0.05  # std exp(0) = 1, as CORL's
    # The tanh-squashed bound (MOPO/MOBILE's SAC) maps the same head output to log std -1.5.
    _, squashed = TanhGaussianActor(WIDTH, ACT, param_init="corl").apply(
        states["edac"].actor_params, jnp.zeros((1, OBS)))
    np.testing.assert_allclose(squashed, -1.5, atol=0.05)


def test_cql_initial_policy_is_a_std_exp_minus_one_gaussian_around_zero(states):
    mean, log_std = TanhGaussianActor(WIDTH, ACT, param_init="jaxcql",
                                      log_std_bound="affine").apply(
        states["cql"].actor_params, jax.random.normal(jax.random.PRNGKey(2), (64, OBS)))
    # Outputs of std ~0.1 (sqrt(1e-2) times a unit-scale feature norm), around 0 and -1.
    assert np.abs(np.asarray(mean)).mean() < 0.15 and np.abs(np.asarray(mean)).max() < 0.4
    assert abs(float(np.mean(log_std)) + 1.0) < 0.05  # JaxCQL's log_std_offset
    assert np.abs(np.asarray(log_std) + 1.0).max() < 0.4


def test_model_based_sac_keeps_flax_init():
    from jaxrl_suite.model_based.mobile import MOBILEConfig
    from jaxrl_suite.model_based.mopo import MOPOConfig, sac_config
    for config in (MOPOConfig(), MOBILEConfig()):
        sac = sac_config(config)
        assert (sac.param_init, sac.log_std_bound, sac.diversity) == ("flax", "tanh", False)
        state = make_edac(sac).init(jax.random.PRNGKey(3), SPEC, make_edac(sac).default_hparams)
        for kernel, bias in _layers(state.critic_params).values():
            np.testing.assert_array_equal(bias, 0.0)
