"""The engine's transformations: vmapped cells equal single runs, determinism, grids equal
separate runs, exact kill-and-resume, a diverging cell flagged without touching others, and the
final evaluation of every cell in one call."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

from jaxrl_suite import checkpoint
from jaxrl_suite.agents.base import Learner, data_spec
from jaxrl_suite.agents.bc import BCConfig, BCHParams, make_bc
from jaxrl_suite.agents.td3bc import TD3BCConfig, TD3BCHParams, make_td3bc
from jaxrl_suite.data import DatasetMeta, from_arrays
from jaxrl_suite.envs.evaluate import evaluate
from jaxrl_suite.envs.registry import make_env
from jaxrl_suite.errors import SuiteError
from jaxrl_suite.train import (
    TrainConfig, final_evaluate, make_train, sampling_hparams, stack_hparams, train)

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
    hp = stack_hparams([TD3BCHParams()] * 3)  # 3 seeds: the compile of the test above
    a = train(td3bc_trainer, dataset, _keys([5, 6, 7]), hp)
    b = train(td3bc_trainer, dataset, _keys([5, 6, 7]), hp)
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
    hp = stack_hparams([TD3BCHParams()] * 3)  # 3 seeds: the compile of the test above
    full = train(td3bc_trainer, dataset, _keys([7, 8, 9]), hp)
    partial = train(td3bc_trainer, dataset, _keys([7, 8, 9]), hp, checkpoint_dir=tmp_path,
                    stop_after_chunks=1, checkpoint_interval_s=0)
    assert partial.eval_returns.shape[1] == 1
    assert checkpoint.restore_latest(tmp_path, full.state)[2] == 1
    resumed = train(td3bc_trainer, dataset, _keys([7, 8, 9]), hp, checkpoint_dir=tmp_path)
    for x, y in zip(_leaves(full.state), _leaves(resumed.state)):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(full.eval_returns, resumed.eval_returns)
    np.testing.assert_array_equal(np.asarray(full.state.key), np.asarray(resumed.state.key))
    # Within the interval (here the default, 120 s) nothing is saved but the last chunk.
    assert checkpoint.interval() == checkpoint.DEFAULT_INTERVAL_S
    train(td3bc_trainer, dataset, _keys([7, 8, 9]), hp, checkpoint_dir=tmp_path / "b",
          stop_after_chunks=1)
    assert checkpoint.restore_latest(tmp_path / "b", full.state) is None
    train(td3bc_trainer, dataset, _keys([7, 8, 9]), hp, checkpoint_dir=tmp_path / "b")
    assert checkpoint.restore_latest(tmp_path / "b", full.state)[2] == len(full.eval_steps)


def test_checkpoint_interval_takes_seconds_from_zero_and_refuses_the_rest(monkeypatch):
    monkeypatch.setattr(checkpoint, "_interval_s", checkpoint.DEFAULT_INTERVAL_S)
    checkpoint.set_interval(0)
    assert checkpoint.interval() == 0.0
    for bad in (-1.0, float("nan"), float("inf"), "60"):
        with pytest.raises(SuiteError, match="flag '--checkpoint_interval': expected seconds"):
            checkpoint.set_interval(bad)
    assert checkpoint.interval() == 0.0  # a refused value changes nothing


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



# --- Traced RW/AW temperature (issue 14 item 7) ----------------------------------------------

@struct.dataclass
class _CountHParams:
    unused: float = 0.0


def _counting_learner(num_transitions: int):
    """A test-only learner whose state counts how often each transition was sampled: the
    compiled loop's minibatches, seen from inside it."""

    def init(key, spec, hparams):
        del key, spec, hparams
        return jnp.zeros((num_transitions,), jnp.int32)

    def update(counts, batch, key, hparams):
        del key, hparams
        return counts.at[batch.indices].add(1), {"loss": jnp.float32(0.0)}

    def act(counts, obs, key, deterministic):
        del counts, key, deterministic
        return jnp.zeros(obs.shape[:-1] + (1,), jnp.float32)

    return Learner("count", None, _CountHParams(), init, update, act)


@pytest.fixture(scope="module")
def weighted_dataset():
    # 9 episodes of unequal lengths and returns (a length-weighted softmax is visible).
    rng = np.random.default_rng(3)
    lengths = np.array([5, 12, 8, 20, 3, 15, 9, 6, 11])
    n = int(lengths.sum())
    timeouts = np.zeros(n, bool)
    timeouts[np.cumsum(lengths) - 1] = True
    return from_arrays(rng.normal(size=(n, 3)).astype(np.float32), rng.uniform(-2, 2, (n, 1)),
                       rng.normal(size=n), np.zeros(n, bool), timeouts, rng.normal(size=(n, 3)),
                       meta=DatasetMeta(env_id="Pendulum-v1", action_low=(-2.0,),
                                        action_high=(2.0,)))


COUNT_CONFIG = TrainConfig(num_updates=200, batch_size=256, eval_every=200, eval_episodes=1)


@pytest.fixture(scope="module")
def count_trainers(weighted_dataset):
    learner = _counting_learner(weighted_dataset.num_transitions)
    env = make_env("Pendulum-v1")
    return {s: make_train(learner, env, dataclasses.replace(COUNT_CONFIG, sampling=s))
            for s in ("rw", "aw")}


def _numpy_rw_probs(dataset, temperature):
    # Hong et al. Eq. 4 in NumPy: p_t ∝ exp(min-max normalised return of t's episode / α).
    rewards, ids = np.asarray(dataset.rewards, np.float64), np.asarray(dataset.episode_ids)
    returns = np.bincount(ids, weights=rewards)
    scores = (returns - returns.min()) / (returns.max() - returns.min())
    w = np.exp(scores[ids] / temperature)
    return w / w.sum()


def _counts(result):
    return np.asarray(result.state.learner)  # [S, N]


TEMPERATURES = [0.05, 0.2, 1.0]


def test_rw_sampling_in_the_loop_draws_the_weighted_frequencies(count_trainers,
                                                                weighted_dataset):
    from scipy import stats

    result = train(count_trainers["rw"], weighted_dataset, _keys([0, 1, 2]),
                   stack_hparams([_CountHParams()] * 3),
                   sampling=sampling_hparams(COUNT_CONFIG, 3, TEMPERATURES))
    counts = _counts(result)
    draws = COUNT_CONFIG.num_updates * COUNT_CONFIG.batch_size
    assert (counts.sum(axis=1) == draws).all()
    ids = np.asarray(weighted_dataset.episode_ids)
    for cell, temperature in enumerate(TEMPERATURES):
        probs = _numpy_rw_probs(weighted_dataset, temperature)
        # Per transition (uniform inside an episode) and per trajectory.
        assert stats.chisquare(counts[cell], draws * probs).pvalue > 1e-3
        per_episode = np.bincount(ids, weights=counts[cell])
        expected = draws * np.bincount(ids, weights=probs)
        assert stats.chisquare(per_episode, expected).pvalue > 1e-3
    # A lower temperature concentrates on the best trajectory.
    best = np.argmax(np.bincount(ids, weights=np.asarray(weighted_dataset.rewards)))
    share = [np.bincount(ids, weights=c)[best] / draws for c in counts]
    assert share[0] > share[1] > share[2]


def test_aw_sampling_in_the_loop_draws_the_weighted_frequencies(count_trainers,
                                                                weighted_dataset):
    from scipy import stats

    from jaxrl_suite.transforms.reweight import advantage_weighted_probs

    result = train(count_trainers["aw"], weighted_dataset, _keys([4]),
                   stack_hparams([_CountHParams()]), sampling=sampling_hparams(
                       COUNT_CONFIG, 1, 0.3))
    draws = COUNT_CONFIG.num_updates * COUNT_CONFIG.batch_size
    probs = np.asarray(advantage_weighted_probs(weighted_dataset, 0.3), np.float64)
    assert stats.chisquare(_counts(result)[0], draws * probs / probs.sum()).pvalue > 1e-3


def test_temperature_grid_equals_separate_runs_in_one_program(count_trainers,
                                                              weighted_dataset):
    trainer = count_trainers["rw"]
    grid = train(trainer, weighted_dataset, _keys([7, 7, 7]),
                 stack_hparams([_CountHParams()] * 3),
                 sampling=sampling_hparams(COUNT_CONFIG, 3, TEMPERATURES))
    compiled = trainer.run_chunk._cache_size()
    # Other temperatures, same shapes: the same compiled program.
    train(trainer, weighted_dataset, _keys([7, 7, 7]), stack_hparams([_CountHParams()] * 3),
          sampling=sampling_hparams(COUNT_CONFIG, 3, [0.5, 0.1, 2.0]))
    assert trainer.run_chunk._cache_size() == compiled
    for cell, temperature in enumerate(TEMPERATURES):
        alone = train(trainer, weighted_dataset, _keys([7]), stack_hparams([_CountHParams()]),
                      sampling=sampling_hparams(COUNT_CONFIG, 1, temperature))
        np.testing.assert_array_equal(_counts(grid)[cell], _counts(alone)[0])
    assert not np.array_equal(_counts(grid)[0], _counts(grid)[2])


def test_bad_temperature_is_a_suite_error():
    with pytest.raises(SuiteError, match="sampling_temperature"):
        sampling_hparams(COUNT_CONFIG, 2, [0.1, 0.0])
    with pytest.raises(SuiteError, match="sampling_temperature"):
        TrainConfig(sampling="rw", sampling_temperature=-1.0)


@struct.dataclass
class _RoundState:
    rounds: jax.Array  # rounds run so far
    last_round_at: jax.Array  # the update index the last round ran before
    updates: jax.Array


def _round_learner(round_every: int) -> Learner:
    """A learner whose round counts itself and records the global update index it ran at."""

    def init(key, spec, hparams):
        del key, spec, hparams
        return _RoundState(jnp.int32(0), jnp.int32(-1), jnp.int32(0))

    def round_fn(state, dataset, key, hparams, step):
        del dataset, key, hparams
        return state.replace(rounds=state.rounds + 1, last_round_at=step)

    def update(state, batch, key, hparams):
        del batch, key, hparams
        return state.replace(updates=state.updates + 1), dict(
            rounds=state.rounds.astype(jnp.float32),
            since_round=(state.updates - state.last_round_at).astype(jnp.float32))

    def act(state, obs, key, deterministic=True):
        del state, key, deterministic
        return jnp.zeros((obs.shape[0], 1))

    return Learner("rounds", None, _CountHParams(), init, update, act, round=round_fn,
                   round_every=round_every)


def test_rounds_run_before_every_kth_update_in_every_cell_as_a_branch(dataset):
    # Rounds before updates 0, 15, 30, 45 of 50 (chunks of 25: the global index carries over).
    config = TrainConfig(num_updates=50, batch_size=8, eval_every=25, eval_episodes=1)
    trainer = make_train(_round_learner(15), make_env("Pendulum-v1"), config)
    hparams = stack_hparams([_CountHParams()] * 3)
    result = train(trainer, dataset, _keys([0, 1, 2]), hparams)
    state = result.state.learner
    assert np.asarray(state.rounds).tolist() == [4, 4, 4]
    assert np.asarray(state.last_round_at).tolist() == [45, 45, 45]
    # The round's predicate comes from the unbatched update index: under the cell vmap it
    # stays a cond (a select would run the round at every update).
    jaxpr = jax.make_jaxpr(lambda s: trainer.run_chunk(s, dataset, None, hparams))(result.state)
    assert "cond[" in str(jaxpr), "the round is not a lax.cond branch"


def test_round_and_round_every_go_together():
    learner = _round_learner(5)._replace(round_every=0)
    with pytest.raises(SuiteError, match="round"):
        make_train(learner, make_env("Pendulum-v1"), CONFIG)


def _dots(jaxpr) -> int:
    """Returns the number of matrix products in a jaxpr, its sub-jaxprs included."""
    count = 0
    for eqn in jaxpr.eqns:
        count += eqn.primitive.name == "dot_general"
        for sub in jax.core.jaxprs_in_params(eqn.params):
            count += _dots(sub)
    return count


def _scan_body_dots(trainer, state, dataset, hparams) -> tuple[int, int]:
    """Returns (matrix products in the update scan's body, updates that body runs)."""
    jaxpr = jax.make_jaxpr(lambda s: trainer.run_chunk(s, dataset, None, hparams))(state).jaxpr
    inner = jax.core.jaxprs_in_params(jaxpr.eqns[-1].params)  # the pjit of run_chunk
    while True:
        scans = [e for j in inner for e in j.eqns if e.primitive.name == "scan"]
        if scans:
            scan = scans[0]  # the first scan of a chunk is its updates (evaluation follows)
            return _dots(scan.params["jaxpr"].jaxpr), CONFIG.eval_every // scan.params["length"]
        inner = [s for j in inner for e in j.eqns for s in jax.core.jaxprs_in_params(e.params)]


def test_delayed_actor_step_runs_as_blocks_equal_to_one_update_at_a_time(td3bc_trainer,
                                                                         dataset):
    """TD3+BC's policy delay as blocks (the full update, then a critic-only one) trains the
    same parameters as one update at a time, computing the actor's step only where it is
    applied: per update, fewer matrix products than the select form."""
    learner = td3bc_trainer.learner
    assert learner.update_period == 2 and learner.delayed is not None
    stepwise = make_train(learner._replace(delayed=None, update_period=1),
                          make_env("Pendulum-v1"), CONFIG)
    hparams = stack_hparams([TD3BCHParams(), TD3BCHParams(alpha=1.0)])
    keys = _keys([0, 1])
    blocks, steps = (train(t, dataset, keys, hparams) for t in (td3bc_trainer, stepwise))
    for a, b in zip(_leaves(blocks.state), _leaves(steps.state)):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(blocks.update_metrics["critic_loss"],
                               steps.update_metrics["critic_loss"], rtol=1e-4)
    block_dots, block_updates = _scan_body_dots(td3bc_trainer, blocks.state, dataset, hparams)
    step_dots, step_updates = _scan_body_dots(stepwise, steps.state, dataset, hparams)
    assert (block_updates, step_updates) == (2, 1)
    assert block_dots < 0.85 * 2 * step_dots, (block_dots, step_dots)
    # Chunks that do not hold whole blocks fall back to one update at a time.
    odd = make_train(learner, make_env("Pendulum-v1"),
                     dataclasses.replace(CONFIG, eval_every=25, num_updates=50))
    assert _scan_body_dots(odd, blocks.state, dataset, hparams)[0] == step_dots


def test_a_chunk_reuses_its_state_buffers_for_the_new_state(td3bc_trainer, dataset):
    """run_chunk donates its state: the compiled program writes every byte of the new state
    into the old one's buffers (one copy of the cells' parameters and moments in memory, not
    two), and the state passed in is consumed."""
    hparams = stack_hparams([TD3BCHParams()] * 2)
    state = td3bc_trainer.init(_keys([0, 1]), data_spec(dataset), hparams)
    state_bytes = sum(x.nbytes for x in jax.tree.leaves(state))
    stats = td3bc_trainer.run_chunk.lower(state, dataset, None, hparams).compile()
    assert stats.memory_analysis().alias_size_in_bytes == state_bytes
    new, _ = td3bc_trainer.run_chunk(state, dataset, None, hparams)
    assert all(x.is_deleted() for x in jax.tree.leaves(state.learner))
    assert not any(x.is_deleted() for x in jax.tree.leaves(new.learner))
