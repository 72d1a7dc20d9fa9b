"""The model-based build options: --model_config name=value parsing into a learner's static
config (nested fields, types, errors), the ensemble flags, and NEUBAY's BO space."""

import dataclasses

import pytest

from jaxrl_suite.errors import SuiteError
from jaxrl_suite.model_based.neubay import NEUBAYConfig, NEUBAYHParams
from jaxrl_suite.run import ModelOptions, config_overrides, ensemble_config
from jaxrl_suite.sweep import bo


def test_model_config_sets_nested_and_typed_fields():
    out = config_overrides(NEUBAYConfig(), ["memory.d_model=32", "memory.r_max=0.5",
                                            "rollouts_per_round=8", "memory.d_hidden=4"])
    config = dataclasses.replace(NEUBAYConfig(), **out)
    assert (config.memory.d_model, config.memory.d_hidden, config.memory.r_max) == (32, 4, 0.5)
    assert config.rollouts_per_round == 8 and isinstance(config.rollouts_per_round, int)


@pytest.mark.parametrize("spec, message", [("bogus=1", "expected a field"),
                                           ("tape_length=abc", "expected a int"),
                                           ("tape_length", "expected name=value"),
                                           ("utd.x=1", "has no fields")])
def test_model_config_errors_name_the_field(spec, message):
    with pytest.raises(SuiteError, match=message):
        config_overrides(NEUBAYConfig(), [spec])


def test_ensemble_flags_replace_the_algos_paper_ensemble():
    neubay = ensemble_config("neubay", ModelOptions(members=16))
    assert (neubay.num_members, neubay.num_elites, neubay.layer_norm) == (16, 16, True)
    mopo = ensemble_config("mopo", ModelOptions(epochs=20))
    assert (mopo.num_members, mopo.num_elites, mopo.max_epochs) == (7, 5, 20)
    with pytest.raises(SuiteError, match="ensemble"):
        ensemble_config("mopo", ModelOptions(members=3, elites=4))


def test_neubay_space_holds_the_ablation_grids_and_sets_both_encoder_rates():
    space = bo.neubay_space(max_members=100)
    assert space["unc_quantile"].choices == (0.9, 0.99, 0.999, 1.0)
    assert space["penalty_coef"].choices == (0.0, 0.04, 0.2, 1.0, 5.0)
    hp = NEUBAYHParams().replace(**bo.neubay_overrides(
        {"enc_lr": 3e-5, "real_weight": 0.8, "num_elites": 20}))
    assert hp.critic_enc_lr == hp.actor_enc_lr == pytest.approx(3e-5)
    assert (hp.real_weight, hp.num_elites) == (pytest.approx(0.8), 20.0)
