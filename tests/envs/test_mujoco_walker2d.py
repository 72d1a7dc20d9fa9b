"""Walker2d-v5 on MJX agrees with gymnasium's C-MuJoCo Walker2d-v5: the shared tests of
mujoco_check."""

from tests.envs.mujoco_check import (  # noqa: F401 (pytest collects imported tests)
    port,
    test_spec_matches_gymnasium_and_the_size_table,
    test_steps_from_gymnasium_states_agree,
    test_return_distribution_of_a_fixed_policy_matches_gymnasium,
    test_health_check_fires_on_the_same_states_as_gymnasium,
    test_model_rollout_termination_rule_matches_gymnasium,
)

NAME = "Walker2d-v5"
