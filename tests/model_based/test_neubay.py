"""NEUBAY: per-rollout member sampling (one member per rollout, uniform over the members in
use), uncertainty and its truncation against NumPy, history prefixes that never cross
episodes, the tape buffer against a NumPy ring, REDQ's target and the real/imagined loss mix
against NumPy, rounds and recurrent evaluation inside the engine, and a learns-test (slow)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_suite.agents.base import data_spec
from jaxrl_suite.data.dataset import concatenate
from jaxrl_suite.model_based import dynamics
from jaxrl_suite.model_based.neubay import (
    NEUBAYConfig, NEUBAYHParams, Trajectories, add_trajectories, calibrate,
    empty_tape_buffer, epistemic_uncertainty, huber, make_neubay, members_in_use, mixed_mean,
    redq_target, sample_histories, sample_tape)
from jaxrl_suite.nets.lru import LRUConfig
from jaxrl_suite.train import TrainConfig, make_train, stack_hparams, train
from tests.agents.learn_check import normalized_returns

SMALL_MODEL = dynamics.EnsembleConfig(num_members=5, num_elites=5, hidden_sizes=(32, 32),
                                      weight_decays=(2.5e-5, 5e-5, 1e-4), max_epochs=10)
TINY = NEUBAYConfig(memory=LRUConfig(d_model=16, d_hidden=8), head_hidden=32, num_critics=4,
                    tape_length=128, rollouts_per_round=16, horizon=200, num_updates=40)


@pytest.fixture(scope="module")
def mix(pendulum_data):
    env, expert, random = pendulum_data
    return env, concatenate([expert, random])


@pytest.fixture(scope="module")
def model(mix):
    """Returns a small ensemble (5 members) trained on the Pendulum mix."""
    return dynamics.train_ensemble(jax.random.PRNGKey(4), mix[1], SMALL_MODEL)[0]


@pytest.fixture(scope="module")
def labelled_model(mix, model):
    """Returns an ensemble of 5 members whose member m predicts reward m + 1 and no state
    change, near-deterministically; holdout MSEs rank members 1, 3, 4 first."""
    out = model.params["params"]["output"]
    d = model.target_mean.shape[0]
    bias = jnp.zeros((5, 2 * d)).at[:, d - 1].set(jnp.arange(1.0, 6.0))
    bias = bias.at[:, d:].set(-30.0)  # log-variance at its lower bound
    params = {"params": dict(model.params["params"], output={
        "kernel": jnp.zeros_like(out["kernel"]), "bias": bias})}
    return model.replace(params=params, target_mean=jnp.zeros_like(model.target_mean),
                         target_std=jnp.ones_like(model.target_std),
                         holdout_mse=jnp.array([0.5, 0.1, 0.4, 0.2, 0.3]))


@pytest.fixture(scope="module")
def tiny_round(mix, labelled_model):
    """Returns (learner, jitted round over 3 cells, initial states [3], data)."""
    _, data = mix
    learner = make_neubay(labelled_model, "Pendulum-v1", data, TINY)
    spec = data_spec(data)
    hparams = stack_hparams([NEUBAYHParams(num_elites=3.0, unc_quantile=-1.0)] * 3)
    states = jax.jit(jax.vmap(learner.init, in_axes=(0, None, 0)))(
        jax.random.split(jax.random.PRNGKey(1), 3), spec, hparams)
    run = jax.jit(jax.vmap(learner.round, in_axes=(0, None, 0, 0, None)))
    return learner, run, states, hparams, data


def _trajectories(buffer):
    """Yields each intact trajectory's entries (NumPy) from a TapeBuffer, oldest first."""
    c, e = buffer.reward.shape[-1], buffer.traj_first.shape[-1]
    count = int(buffer.trajectories)
    for r in range(max(0, count - e), count):
        first, length = int(buffer.traj_first[r % e]), int(buffer.traj_length[r % e])
        if first < int(buffer.written) - c:
            continue
        idx = (first + np.arange(length)) % c
        yield {k: np.asarray(getattr(buffer, k))[idx]
               for k in ("obs", "action", "reward", "terminal", "start", "real")}


def test_each_rollout_stays_in_one_member_and_members_are_uniform_over_those_in_use(
        tiny_round):
    learner, run, states, hparams, data = tiny_round
    used = []
    for r in range(4):
        states = run(states, data, jax.random.split(jax.random.PRNGKey(10 + r), 3), hparams,
                     jnp.int32(0))
    for cell in range(3):
        buffer = jax.tree.map(lambda x: x[cell], states.buffer)
        for traj in _trajectories(buffer):
            imagined = ~traj["real"][:-1]
            if not imagined.any():
                continue
            members = np.rint(traj["reward"][:-1][imagined]).astype(int) - 1
            assert len(set(members.tolist())) == 1, members  # one member for the whole rollout
            used.append(members[0])
    counts = np.bincount(used, minlength=5)
    assert counts[[0, 2]].sum() == 0, counts  # members 0 and 2 are not among the 3 in use
    expected = len(used) / 3
    assert all(abs(counts[m] - expected) < 4 * np.sqrt(expected) for m in (1, 3, 4)), counts


def test_history_prefixes_never_cross_episodes_and_cover_every_position(mix):
    _, data = mix
    spec = data_spec(data)
    trajs, u, done = jax.jit(sample_histories, static_argnums=(3, 4))(
        data, jax.random.PRNGKey(3), spec, 512, 200)
    obs, act, rew = (np.asarray(data.observations), np.asarray(data.actions),
                     np.asarray(data.rewards))
    starts, lengths = np.asarray(data.episode_starts), np.asarray(data.episode_lengths)
    obs_dim = obs.shape[1]
    t_obs = np.asarray(trajs.obs)
    unit = np.asarray(spec.to_unit(jnp.asarray(act)))
    first_obs = {obs[s0].tobytes(): e for e, s0 in enumerate(starts)}
    for i in range(512):
        ui = int(u[i])
        prefix = t_obs[i, :ui + 1, :obs_dim]
        # the prefix is the first ui + 1 observations of one episode (found by its first)
        e = first_obs[prefix[0].tobytes()]
        assert ui <= lengths[e]
        np.testing.assert_array_equal(prefix[:ui], obs[starts[e]:starts[e] + ui])
        assert bool(done[i]) == (ui == lengths[e])
        if ui == lengths[e]:  # the last entry is the episode's final observation
            np.testing.assert_allclose(prefix[-1], np.asarray(data.next_observations)[
                starts[e] + lengths[e] - 1])
        # entry j carries a_{j-1} and r_{j-1} of the same episode; entry 0 carries zeros
        np.testing.assert_array_equal(t_obs[i, 0, obs_dim:], 0.0)
        if ui > 0:
            np.testing.assert_allclose(t_obs[i, 1:ui + 1, obs_dim:obs_dim + 1],
                                       unit[starts[e]:starts[e] + ui], rtol=1e-5)
            np.testing.assert_allclose(t_obs[i, 1:ui + 1, -1], rew[starts[e]:starts[e] + ui])
        assert np.asarray(trajs.real)[i, :ui].all() and not np.asarray(trajs.real)[i, ui:].any()
        assert int(trajs.length[i]) == ui + 1
    # u is uniform over the 201 positions of the 200-step episodes
    counts = np.bincount(np.asarray(u) // 40, minlength=6)[:5]
    assert counts.min() > 0.6 * counts.mean(), counts


def test_uncertainty_and_calibration_match_numpy(mix, model):
    _, data = mix
    rng = np.random.default_rng(0)
    means = rng.normal(size=(5, 7, 4)).astype(np.float32)
    in_use = np.array([True, False, True, True, False])
    expected = np.sqrt(np.var(means[in_use], axis=0).mean(-1))
    np.testing.assert_allclose(epistemic_uncertainty(jnp.asarray(means), jnp.asarray(in_use)),
                               expected, rtol=1e-5)
    std_means, _ = dynamics.predict_standardized(model, data.observations, data.actions)
    u = np.sqrt(np.var(np.asarray(std_means)[in_use], axis=0).mean(-1))
    keep = ~np.asarray(data.timeouts)
    for q in (0.9, 0.99, 1.0):
        calib = calibrate(model, data, jnp.asarray(in_use), jnp.float32(q), chunk=777)
        np.testing.assert_allclose(float(calib.threshold), np.quantile(u[keep], q), rtol=1e-4)
        np.testing.assert_allclose(float(calib.mean_uncertainty), u[keep].mean(), rtol=1e-4)
    assert np.isinf(float(calibrate(model, data, jnp.asarray(in_use), jnp.float32(-1.0)).threshold))


def test_rollouts_stop_at_the_first_step_over_the_threshold(mix, model):
    env, data = mix
    learner = make_neubay(model, "Pendulum-v1", data, TINY)
    spec = data_spec(data)
    hp = NEUBAYHParams(num_elites=5.0, unc_quantile=0.9)
    state = learner.init(jax.random.PRNGKey(5), spec, hp)
    state = jax.jit(learner.round)(state, data, jax.random.PRNGKey(6), hp, jnp.int32(0))
    threshold = float(state.calibration.threshold)
    in_use = np.ones(5, bool)
    obs_dim = spec.observation_shape[0]
    trajs = [t for t in _trajectories(state.buffer) if (~t["real"][:-1]).any()]
    steps = [np.flatnonzero(~t["real"][:-1]) for t in trajs]
    s = np.concatenate([t["obs"][i, :obs_dim] for t, i in zip(trajs, steps)])
    a = np.concatenate([t["action"][i] for t, i in zip(trajs, steps)])
    means, _ = jax.jit(dynamics.predict_standardized)(model, jnp.asarray(s),
                                                      spec.to_env(jnp.asarray(a)))
    u_all = np.sqrt(np.var(np.asarray(means)[in_use], axis=0).mean(-1))
    splits = np.split(u_all, np.cumsum([len(i) for i in steps])[:-1])
    stopped_by_uncertainty = 0
    for imagined, u in zip(steps, splits):
        assert (u[:-1] <= threshold * (1 + 1e-5)).all()  # no earlier step crossed it
        last_t = imagined[-1] + 1  # the env timestep after the last imagined step
        if u[-1] > threshold * (1 + 1e-5):
            stopped_by_uncertainty += 1
        else:  # otherwise the rollout ran into the time limit (Pendulum never terminates)
            assert last_t == 200, (last_t, u[-1], threshold)
    assert stopped_by_uncertainty > 0


def test_tape_buffer_matches_a_numpy_ring_of_whole_trajectories():
    rng = np.random.default_rng(1)
    buffer = empty_tape_buffer(37, 1, 1, max_trajectories=37 // 2 + 4)
    add, sample = jax.jit(add_trajectories), jax.jit(sample_tape, static_argnums=2)
    ring, next_id = [], 0  # NumPy: (id, length) of the trajectories, oldest first
    for _ in range(8):
        lengths = rng.integers(2, 9, size=4)
        ids = next_id + np.arange(4)
        next_id += 4
        obs = np.broadcast_to(ids[:, None, None], (4, 9, 3)).astype(np.float32)
        trajs = Trajectories(jnp.asarray(obs), jnp.zeros((4, 9, 1)),
                             jnp.asarray(np.tile(np.arange(9.0), (4, 1))), jnp.zeros((4, 9), bool),
                             jnp.zeros((4, 9), bool), jnp.asarray(lengths, jnp.int32))
        buffer = add(buffer, trajs)
        ring += list(zip(ids.tolist(), lengths.tolist()))
        while sum(length for _, length in ring) > 37:  # whole trajectories leave first
            ring.pop(0)
        held = {i: length for i, length in ring}
        tape = sample(buffer, jax.random.PRNGKey(next_id), 30)
        ids_on_tape, steps = np.asarray(tape.obs)[:, 0], np.asarray(tape.reward)
        starts = np.flatnonzero(np.asarray(tape.start))
        assert starts[0] == 0
        for a, b in zip(starts, list(starts[1:]) + [30]):
            traj_id = int(ids_on_tape[a])
            assert traj_id in held and (ids_on_tape[a:b] == traj_id).all()
            expected_len = held[traj_id]
            assert b - a == expected_len or b == 30  # whole, or cut at the tape's end
            np.testing.assert_array_equal(steps[a:b], np.arange(b - a))


def test_redq_target_mixed_mean_and_huber_match_numpy():
    rng = np.random.default_rng(2)
    t = 101
    r, d = rng.normal(size=t), rng.random(t) < 0.3
    next_qs, log_pi = rng.normal(size=(2, t)), rng.normal(size=t)
    expected = r + (1 - d) * 0.99 * (next_qs.min(0) - 0.2 * log_pi)
    np.testing.assert_allclose(redq_target(*map(jnp.asarray, (r, d, next_qs, log_pi)),
                                           jnp.float32(0.2), jnp.float32(0.99)),
                               expected, rtol=1e-5)
    x = rng.normal(size=t) * 2
    np.testing.assert_allclose(huber(jnp.asarray(x)),
                               np.where(np.abs(x) < 1, 0.5 * x ** 2, np.abs(x) - 0.5), rtol=1e-6)
    values, start, real = rng.normal(size=t - 1), rng.random(t) < 0.2, rng.random(t) < 0.5
    mask = ~start[1:]
    real_m, imag_m = mask & real[:-1], mask & ~real[:-1]
    want = 0.3 * values[real_m].mean() + 0.7 * values[imag_m].mean()
    np.testing.assert_allclose(mixed_mean(*map(jnp.asarray, (values, start, real)),
                                          jnp.float32(0.3)), want, rtol=1e-5)
    # no imagined transition: that half counts zero (its count floored at 1), as the authors'
    all_real = np.ones(t, bool)
    np.testing.assert_allclose(mixed_mean(jnp.asarray(values), jnp.asarray(start),
                                          jnp.asarray(all_real), jnp.float32(0.3)),
                               0.3 * values[mask].mean(), rtol=1e-5)


def test_members_in_use_are_the_lowest_holdout_ones():
    mse = jnp.array([0.5, 0.1, 0.4, 0.2, 0.3])
    assert np.asarray(members_in_use(mse, jnp.float32(3))).tolist() == [
        False, True, False, True, True]
    assert np.asarray(members_in_use(mse, jnp.float32(100))).all()


@pytest.mark.slow
def test_rounds_run_every_round_every_updates_and_train_finitely(mix, model):
    env, data = mix
    learner = make_neubay(model, "Pendulum-v1", data, TINY.__class__(
        **{**TINY.__dict__, "round_every": 15}))
    config = TrainConfig(num_updates=40, batch_size=128, eval_every=20, eval_episodes=2)
    trainer = make_train(learner, env, config)
    hp = stack_hparams([NEUBAYHParams(num_elites=5.0), NEUBAYHParams(num_elites=3.0,
                                                                     penalty_coef=1.0)])
    result = train(trainer, data, jax.random.split(jax.random.PRNGKey(7), 2), hp)
    assert not result.diverged.any()
    # rounds before updates 0, 15, 30: 3 rounds of 16 rollouts, in every cell
    assert (np.asarray(result.state.learner.buffer.trajectories) == 48).all()
    assert np.asarray(result.state.learner.length_counts).sum(-1).tolist() == [48, 48]
    assert np.isfinite(result.eval_returns).all()


@pytest.mark.slow
def test_neubay_learns_from_expert_plus_random_data(mix, bc_on_random):
    # bench/neubay_probes.py (3 seeds): after 1k / 2k / 3k updates -25 / 63 / 89 on average;
    # BC on the random half scores ~2. Widths and learning rates scaled to the budget.
    env, data = mix
    model, _ = dynamics.train_ensemble(jax.random.PRNGKey(0), data, dynamics.EnsembleConfig(
        num_members=5, num_elites=3, hidden_sizes=(64, 64), weight_decays=(2.5e-5, 5e-5, 1e-4),
        max_epochs=30))
    learner = make_neubay(model, "Pendulum-v1", data, NEUBAYConfig(
        memory=LRUConfig(d_model=32, d_hidden=16), head_hidden=64, num_critics=10,
        tape_length=256, rollouts_per_round=8, horizon=200, num_updates=3_000))
    hp = NEUBAYHParams(num_elites=3.0, critic_enc_lr=3e-4, critic_head_lr=1e-3,
                       actor_enc_lr=3e-4, actor_head_lr=1e-3, alpha_lr=1e-3, real_weight=0.5)
    scores = normalized_returns(learner, hp, env, data, num_updates=3_000, batch_size=256)
    assert scores.mean() > 60 and scores.mean() > bc_on_random.mean() + 40, (
        scores, bc_on_random)
