"""The engine's transformations: vmapped cells equal single runs, determinism, grids equal
separate runs, exact kill-and-resume, a diverging cell flagged without touching others, and the
final evaluation of every cell in one call."""

import dataclasses

import jax
import numpy as np
import pytest

from jaxrl_suite.agents.bc import BCConfig, BCHParams, make_bc
from jaxrl_suite.agents.td3bc import TD3BCConfig, TD3BCHParams, make_td3bc
from jaxrl_suite.data import DatasetMeta, from_arrays
from jaxrl_suite.envs.evaluate import evaluate
from jaxrl_suite.envs.registry import make_env
from jaxrl_suite.errors import SuiteError
from jaxrl_suite.train import TrainConfig, final_evaluate, make_train, stack_hparams, train

CONFIG = TrainConfig(num_updates=150, batch_size=32, eval_every=50, eval_episodes=2)


@pytest.fixture(scope="module")
def dataset():
    rng = np.random.default_rng(0)
    n = 600
    timeouts = np.zeros(n, bool)
    timeouts[199::200] = True
    obs = rng.normal(size=(n, 3)).astype(np.float32)
    return from_arrays(obs, rng.uniform(-2, 2, (n, 1)), rng.normal(size=n), np.zeros(n, bool),
                       timeouts, rng.normal(size=(n, 3)),
                       meta=DatasetMeta(env_id="Pendulum-v1", action_low=(-2.0,),
                                        action_high=(2.0,)))


@pytest.fixture(scope="module")
def td3bc_trainer():
    # One Trainer (one compiled chunk function per cell count) shared by the tests.
    return make_train(make_td3bc(TD3BCConfig((16, 16))), make_env("Pendulum-v1"), CONFIG)


@pytest.fixture(scope="module")
def bc_trainer():
    # BC with a final evaluation of 24 episodes per cell, shared by the tests below.
    config = dataclasses.replace(CONFIG, final_eval_episodes=24)
    return make_train(make_bc(BCConfig((16,))), make_env("Pendulum-v1"), config)


def _keys(seeds):
    return jax.vmap(jax.random.PRNGKey)(np.asarray(seeds))


def _leaves(state):
    return [np.asarray(x) for x in jax.tree.leaves(state.learner)]


def test_vmapped_seed_matches_single_seed(td3bc_trainer, dataset):
    hp = TD3BCHParams()
    batched = train(td3bc_trainer, dataset, _keys([0, 1, 2]), stack_hparams([hp] * 3))
    alone = train(td3bc_trainer, dataset, _keys([1]), stack_hparams([hp]))
    for b, a in zip(_leaves(batched.state), _leaves(alone.state)):
        np.testing.assert_allclose(b[1], a[0], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(batched.eval_returns[1], alone.eval_returns[0], rtol=1e-3,
                               atol=1e-2)
    assert batched.eval_returns.shape == (3, 3, 2) and list(batched.eval_steps) == [50, 100, 150]
    assert batched.final_returns is None  # no final evaluation by default


def test_same_key_gives_identical_runs(td3bc_trainer, dataset):
    hp = stack_hparams([TD3BCHParams()] * 2)
    a = train(td3bc_trainer, dataset, _keys([5, 6]), hp)
    b = train(td3bc_trainer, dataset, _keys([5, 6]), hp)
    for x, y in zip(_leaves(a.state), _leaves(b.state)):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(a.eval_returns, b.eval_returns)


def test_grid_over_alpha_equals_separate_runs(td3bc_trainer, dataset):
    grid = [TD3BCHParams(alpha=a) for a in (1.0, 2.5, 10.0)]
    together = train(td3bc_trainer, dataset, _keys([3, 3, 3]), stack_hparams(grid))
    for i, hp in enumerate(grid):
        alone = train(td3bc_trainer, dataset, _keys([3]), stack_hparams([hp]))
        for t, a in zip(_leaves(together.state), _leaves(alone.state)):
            np.testing.assert_allclose(t[i], a[0], rtol=1e-4, atol=1e-5)
    # Different alphas do give different policies.
    assert not np.allclose(_leaves(together.state)[0][0], _leaves(together.state)[0][2])


def test_kill_and_resume_ends_in_the_uninterrupted_state(td3bc_trainer, dataset, tmp_path):
    hp = stack_hparams([TD3BCHParams()] * 2)
    full = train(td3bc_trainer, dataset, _keys([7, 8]), hp)
    partial = train(td3bc_trainer, dataset, _keys([7, 8]), hp, checkpoint_dir=tmp_path,
                    stop_after_chunks=1)
    assert partial.eval_returns.shape[1] == 1
    resumed = train(td3bc_trainer, dataset, _keys([7, 8]), hp, checkpoint_dir=tmp_path)
    for x, y in zip(_leaves(full.state), _leaves(resumed.state)):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(full.eval_returns, resumed.eval_returns)
    np.testing.assert_array_equal(np.asarray(full.state.key), np.asarray(resumed.state.key))


def test_diverging_cell_is_flagged_and_others_unchanged(bc_trainer, dataset):
    ok, boom = BCHParams(learning_rate=1e-3), BCHParams(learning_rate=1e38)
    mixed = train(bc_trainer, dataset, _keys([0, 1]), stack_hparams([ok, boom]))
    alone = train(bc_trainer, dataset, _keys([0]), stack_hparams([ok]))
    assert list(mixed.diverged) == [False, True]
    assert mixed.diverged_at[0] == -1 and 0 <= mixed.diverged_at[1] < CONFIG.num_updates
    for m, a in zip(_leaves(mixed.state), _leaves(alone.state)):
        np.testing.assert_allclose(m[0], a[0], rtol=1e-5, atol=1e-6)
        assert np.isfinite(m[1]).all()  # frozen at its last finite state
    assert np.isfinite(mixed.eval_returns[0]).all()
    assert np.isnan(mixed.eval_returns[1]).all()  # flagged, not scored
    assert np.isnan(mixed.final_returns[1]).all()
    np.testing.assert_allclose(mixed.final_returns[0], alone.final_returns[0], rtol=1e-3,
                               atol=1e-2)


def test_final_evaluation_is_every_cell_by_episodes_as_evaluate_does(bc_trainer, dataset):
    cells = [BCHParams(learning_rate=1e-3), BCHParams(learning_rate=3e-4)]
    result = train(bc_trainer, dataset, _keys([4, 5]), stack_hparams(cells))
    assert result.final_returns.shape == (2, 24) and np.isfinite(result.final_returns).all()
    env = bc_trainer.env
    for i in range(2):  # with the key the next chunk's evaluation would have drawn
        cell = jax.tree.map(lambda x: x[i], result.state)
        alone = evaluate(lambda p, o, k: bc_trainer.learner.act(p, o, k, True), cell.learner,
                         env, jax.random.split(cell.key)[1], 24).returns
        np.testing.assert_allclose(result.final_returns[i], alone, rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(final_evaluate(bc_trainer, result.state), result.final_returns)
    stopped = train(bc_trainer, dataset, _keys([4, 5]), stack_hparams(cells),
                    stop_after_chunks=2)
    assert stopped.final_returns is None  # an unfinished run has no final evaluation


def test_bad_config_is_a_suite_error():
    with pytest.raises(SuiteError, match="--sampling"):
        TrainConfig(sampling="best")
    with pytest.raises(SuiteError, match="multiple"):
        TrainConfig(num_updates=100, eval_every=30)
    with pytest.raises(SuiteError, match="final_eval_episodes"):
        TrainConfig(final_eval_episodes=-1)


def test_rw_sampling_trains(dataset):
    config = TrainConfig(num_updates=50, batch_size=32, eval_every=50, eval_episodes=1,
                         sampling="rw")
    trainer = make_train(make_bc(BCConfig((16,))), make_env("Pendulum-v1"), config)
    result = train(trainer, dataset, _keys([0]), stack_hparams([BCHParams()]))
    assert np.isfinite(result.update_metrics["actor_loss"]).all()

