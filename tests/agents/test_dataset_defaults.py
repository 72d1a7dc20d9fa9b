"""Per-dataset defaults (``agents.base.learner_defaults``): ReBRAC trains with its authors'
betas on a D4RL task or the suite's reproduction of one, the discrete learners with the Dataset
Perspective's discount, and an ``--hp`` value still wins; ``train`` and ``sweep`` both use it."""

import pytest

from jaxrl_suite.agents.base import learner_defaults
from jaxrl_suite.agents.rebrac import PAPER_BETAS, ReBRACHParams, make_rebrac
from jaxrl_suite.agents.td3bc import make_td3bc
from jaxrl_suite.data.dataset import DatasetMeta
from jaxrl_suite.sweep import runner
from tests.data.test_d4rl import _write_d4rl_file


@pytest.fixture(scope="module")
def rebrac():
    return make_rebrac()


@pytest.mark.parametrize("name, env_id, info, betas", [
    ("HalfCheetah-v5/medium-replay", "HalfCheetah-v5", {}, PAPER_BETAS[
        "halfcheetah-medium-replay-v2"]),
    ("jaxrl_suite/mujoco-small/walker2d/replay-v0", "Walker2d-v5", {},
     PAPER_BETAS["walker2d-full-replay-v2"]),
    ("x.hdf5", "Hopper-v5", {"d4rl": "hopper-medium-replay-v2"}, (0.05, 0.5)),
    # No tuned task: the code's Config default.
    ("Pendulum-v1/replay", "Pendulum-v1", {}, (1.0, 1.0)),
    ("jaxrl_suite/mujoco-small/hopper/mixed-sigma5pct-v0", "Hopper-v5", {}, (1.0, 1.0)),
    ("mujoco/ant/medium-v0", "Ant-v5", {}, (1.0, 1.0)),  # the paper tuned no Ant config
])
def test_rebrac_defaults_are_the_authors_betas_for_the_task(rebrac, name, env_id, info, betas):
    meta = DatasetMeta(env_id=env_id).with_info(**info)
    hparams = learner_defaults(rebrac, env_id, name, meta)
    assert (hparams.beta_actor, hparams.beta_critic) == betas
    assert hparams.replace(beta_actor=1.0, beta_critic=1.0) == ReBRACHParams()  # nothing else


def test_other_learners_keep_their_defaults_and_discrete_ones_get_the_papers_discount():
    from jaxrl_suite.agents.discrete.dqn import make_dqn

    meta = DatasetMeta(env_id="HalfCheetah-v5")
    td3bc = make_td3bc()
    assert learner_defaults(td3bc, "HalfCheetah-v5", "HalfCheetah-v5/medium", meta) == (
        td3bc.default_hparams)
    dqn = make_dqn()
    cartpole = DatasetMeta(env_id="CartPole-v1", discrete=True, num_actions=2)
    assert learner_defaults(dqn, "CartPole-v1", "CartPole-v1/replay", cartpole).gamma == 0.95


def test_a_sweep_on_a_d4rl_file_records_the_authors_betas_and_an_hp_value_wins(tmp_path):
    path = _write_d4rl_file(tmp_path / "hopper_medium_replay-v2.hdf5", obs_dim=11, act_dim=3)
    spec = runner.SweepSpec(name="b", suite=None, algos=("rebrac",), datasets=(str(path),),
                            num_seeds=1, num_updates=10, eval_every=10,
                            grid={"rebrac": ("beta_critic=0.2,0.5",)})
    loader = runner.DatasetLoader(spec, None, lambda _: None)
    rows = [row for program, _ in runner.expand(spec, loader, lambda _: None)
            for row in program.rows]
    assert [(r["config"]["hparams"]["beta_actor"], r["config"]["hparams"]["beta_critic"])
            for r in rows] == [(0.05, 0.2), (0.05, 0.5)]  # the task's actor beta, the grid's
