"""The --suite=locomotion code path at toy size (``locomotion-tiny``): brax PPO expert, our SAC's
replay stream, recipes collected in our MJX adapter, saved and loaded back through Minari. In a
file of its own (it is the suite's longest test: MJX compiles of brax's PPO, our SAC and each
recipe's rollout), so that pytest-xdist runs it beside the brax plumbing tests."""

import numpy as np
import pytest

pytestmark = pytest.mark.slow  # the full tier (`make test-all`, CI): see tests/conftest.py

EPISODE_LENGTH = 20
ACT_DIM = 3  # hopper


def test_locomotion_tiny_suite_builds_with_brax_expert_and_sac_replay(tmp_path):
    from jaxrl_suite.data import io
    from jaxrl_suite.generate import suite

    manifest = suite.build_suite("locomotion-tiny", tmp_path, log=lambda _: None)
    facts = manifest["hopper"]
    replay = io.load_minari("jaxrl_suite/locomotion-tiny/hopper/replay-v0", root=tmp_path)
    expert = io.load_minari("jaxrl_suite/locomotion-tiny/hopper/expert-v0", root=tmp_path)
    assert replay.num_transitions == 300 and expert.num_transitions == 300
    assert replay.meta.env_id == "hopper" and expert.meta.action_dim == ACT_DIM
    assert np.all(np.abs(np.asarray(expert.actions)) <= 1.0)
    # Episodes end by termination or at the 20-step limit, never later.
    assert int(np.asarray(expert.episode_lengths).max()) <= EPISODE_LENGTH
    assert np.isfinite(facts["ref_max_score"]) and np.isfinite(facts["ref_min_score"])
    assert expert.meta.ref_max_score == pytest.approx(facts["ref_max_score"])
