"""The mujoco suites' code path at seconds size (``mujoco-tiny``: Hopper-v5, 50-step episodes):
``generate`` builds D4RL's recipes from a host-side SAC run in C MuJoCo, prints the TQ/SACo
table, caches, and a killed online run resumes from its checkpoint."""

import jax
import numpy as np
import pytest

from jaxrl_suite.data import io
from jaxrl_suite.envs.host_eval import HostEvaluator
from jaxrl_suite.generate import recipes, suite
from jaxrl_suite.generate.experts import ExpertConfig
from jaxrl_suite.generate.host_online import train_host_sac
from jaxrl_suite.online import make_sac
from tests.test_cli import run_cli

SUITE = "mujoco-tiny"


@pytest.fixture(scope="module")
def built(mujoco_tiny_built):
    root, out = mujoco_tiny_built  # `generate --suite=mujoco-tiny` in a fresh root (conftest)
    return root, out, suite.read_manifest(root, SUITE)["Hopper-v5"]


def load(root, name):
    return io.load_minari(suite.dataset_id(SUITE, "Hopper-v5", name), root=root)


@pytest.mark.slow
def test_generate_builds_every_recipe_with_refs_and_prints_the_table(built):
    root, out, facts = built
    spec = suite.get_suite(SUITE)
    names = [i.rsplit("/", 1)[-1][:-3] for i in suite.suite_dataset_ids(spec)["Hopper-v5"]]
    assert set(recipes.D4RL_RECIPES) <= set(names) and "mixed-medium-sigma10pct" in names
    for name in names:
        ds = load(root, name)
        assert ds.meta.env_id == "Hopper-v5"  # the bare id: train resolves its eval backend
        assert ds.meta.ref_min_score == pytest.approx(facts["ref_min_score"])
        assert ds.meta.ref_max_score == pytest.approx(facts["ref_max_score"])
        assert f"| Hopper-v5 | {name} |" in out  # the TQ/SACo table
        assert np.asarray(ds.episode_lengths).max() <= 50
    for name in ("random", "medium", "expert", "noisy"):
        assert load(root, name).num_transitions == 300
    assert load(root, "expert").meta.info_dict()["sampling"] == "stochastic"


@pytest.mark.slow
def test_medium_recipes_follow_d4rl(built):
    root, _, facts = built
    replay, medium, expert = load(root, "replay"), load(root, "medium"), load(root, "expert")
    medium_replay, medium_expert = load(root, "medium-replay"), load(root, "medium-expert")
    step = facts["medium_policy"]["step"]
    assert medium.meta.info_dict()["policy_step"] == step
    # medium-replay: the run's stream up to the medium snapshot, the cut episode a timeout
    assert medium_replay.num_transitions == step
    np.testing.assert_array_equal(np.asarray(medium_replay.observations),
                                  np.asarray(replay.observations)[:step])
    assert bool(medium_replay.terminals[-1]) or bool(medium_replay.timeouts[-1])
    # medium-expert: medium's episodes, then expert's
    np.testing.assert_array_equal(np.asarray(medium_expert.actions),
                                  np.concatenate([medium.actions, expert.actions]))
    # the medium policy is the snapshot nearest a third of the expert's return
    target = facts["ref_max_score"] / 3
    curve = np.asarray(facts["eval_curve"])
    assert abs(facts["medium_policy"]["eval_return"] - target) == pytest.approx(
        np.abs(curve[:, 1] - target).min())


@pytest.mark.slow
def test_mixed_quality_sets_hold_the_high_source_share(built):
    root, _, _ = built
    high = load(root, "medium")
    mixed = load(root, "mixed-medium-sigma50pct")
    info = mixed.meta.info_dict()
    assert info["high_source"] == "medium" and info["sigma"] == 0.5
    n_high = info["num_high_transitions"]
    assert 150 < n_high <= 150 + 50  # whole episodes until just above sigma * N
    np.testing.assert_array_equal(np.asarray(mixed.observations)[:n_high],
                                  np.asarray(high.observations)[:n_high])


@pytest.mark.slow
def test_generate_again_finds_everything_cached(built):
    root, _, _ = built
    rc, out, err = run_cli("generate", f"--suite={SUITE}", f"--minari_root={root}")
    assert rc == 0, err
    assert "[Hopper-v5] cached" in out
    assert not list((root / suite.NAMESPACE / SUITE).glob("*.online.pkl"))  # removed when done


def test_host_sac_resumes_after_a_kill(tmp_path):
    evaluator = HostEvaluator("Hopper-v5", max_episode_steps=50)
    config = ExpertConfig(400, 100, (16,), eval_episodes=1, final_eval_episodes=1,
                          learning_starts=100, update_every=10)
    checkpoint = tmp_path / "run.pkl"

    class Killed(Exception):
        pass

    def kill_at_200(step, _):
        if step == 200:
            raise Killed

    with pytest.raises(Killed):
        train_host_sac(evaluator, jax.random.PRNGKey(0), config, progress=kill_at_200,
                       checkpoint=checkpoint)
    steps = []
    run = train_host_sac(evaluator, jax.random.PRNGKey(0), config,
                         progress=lambda s, r: steps.append(s), checkpoint=checkpoint)
    assert steps == [300, 400]  # resumed after the checkpoint at step 200
    assert run.replay.num_transitions == 400
    assert [s.step for s in run.snapshots] == [200, 300, 400]
    ends = np.asarray(run.replay.terminals) | np.asarray(run.replay.timeouts)
    assert ends[199]  # the episode running at the kill ends there
    assert np.isfinite(run.expert_return)
    evaluator.close()


def test_host_built_sac_refuses_in_jit_training():
    evaluator = HostEvaluator("Hopper-v5")
    sac = make_sac(evaluator.spec)
    with pytest.raises(ValueError, match="host loop"):
        sac.train(jax.random.PRNGKey(0))
    evaluator.close()


def test_d4rl_recipes_in_a_jax_env():
    """The accelerator path (in-jit online run, JaxEnv collection) builds the same recipes; on
    Pendulum, which compiles in seconds."""
    budget = suite.EnvBudget("Pendulum-v1", ExpertConfig(
        1_000, 250, (16,), eval_episodes=2, final_eval_episodes=2, learning_starts=250),
        random_episodes=4, num_transitions=400)
    spec = suite.SuiteSpec(name="d4rl-pendulum", envs=(budget,),
                           recipes=recipes.D4RL_RECIPES, expert_sampling="stochastic")
    datasets, facts = suite.build_env_datasets(spec, budget, jax.random.PRNGKey(0),
                                               log=lambda _: None)
    assert set(datasets) == set(recipes.D4RL_RECIPES)
    step = facts["medium_policy"]["step"]
    assert datasets["medium-replay"].num_transitions == step
    assert datasets["medium-expert"].num_transitions == 800
    assert datasets["expert"].meta.info_dict()["sampling"] == "stochastic"
    assert datasets["expert"].meta.ref_max_score == pytest.approx(facts["ref_max_score"])


@pytest.mark.parametrize("field, value", [("expert_sampling", "stochastc"),
                                          ("mixed_high_sources", ("expert", "noisy"))])
def test_a_suite_with_an_unknown_setting_is_refused_naming_the_field(field, value):
    from jaxrl_suite.errors import SuiteError

    with pytest.raises(SuiteError, match=f"field '{field}'"):
        suite.SuiteSpec(name="bad", envs=(), **{field: value})
