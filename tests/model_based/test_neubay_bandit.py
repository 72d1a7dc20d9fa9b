"""NEUBAY's bandit illustration: the offline data's statistics, the reward ensemble's NLL
against NumPy, one member per imagined rollout, greedy evaluation's metrics, the DDQN tape
target against NumPy, the epsilon schedule, the authors' round schedule, the seeds x penalties
program (cells equal single runs, the ensemble trained once per seed, no recompilation) and
the study's files. Tiny sizes; the default-scale run under results/neubay/bandit is the
learning evidence."""

import csv
import json
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_suite.errors import SuiteError
from jaxrl_suite.model_based.neubay_bandit import (
    EVAL_PROBS, NUM_ARMS, STUDY_SCALES, BanditConfig, BanditData, BanditHParams, BanditStudy,
    QNetwork, RewardEnsemble, bandit_dataset, best_cells, collect, ddqn_tape_target,
    epsilon_at, evaluate, generate_bandit_data, make_bandit_grid, make_bandit_train,
    make_q_network, make_world, run_bandit_study, split_transitions, study_inputs,
    train_reward_ensemble)

TINY = STUDY_SCALES["tiny"]
CFG = TINY.config


@pytest.fixture(scope="module")
def ensemble() -> RewardEnsemble:
    return jax.jit(lambda k: train_reward_ensemble(k, bandit_dataset(CFG), CFG))(
        jax.random.PRNGKey(3))


@pytest.fixture(scope="module")
def grid_result():
    """Returns the tiny study's (keys, hparams, result [S, H]) from the cached grid program."""
    keys, hparams = study_inputs(TINY)
    return keys, hparams, jax.device_get(make_bandit_grid(CFG)(keys, hparams))


# ----------------------------------------------------------------------------- data


def test_dataset_pulls_only_arm_0_with_bernoulli_half_rewards():
    cfg = BanditConfig()
    data = bandit_dataset(cfg)
    actions, rewards = np.asarray(data.actions), np.asarray(data.rewards)
    assert actions.shape == rewards.shape == (10, 100)
    assert np.all(actions == 0)
    assert set(np.unique(rewards)) <= {0.0, 1.0}
    assert abs(rewards.mean() - 0.5) < 4 * np.sqrt(0.25 / rewards.size)
    # The success probability is arm 0's: a (0.2, 0.9) bandit gives 0.2.
    skewed = generate_bandit_data(jax.random.PRNGKey(1), BanditConfig(
        data_episodes=100, data_probs=(0.2, 0.9)))
    assert abs(float(skewed.rewards.mean()) - 0.2) < 4 * np.sqrt(0.16 / 10_000)
    # One fixed dataset (data_seed), the same for every call.
    np.testing.assert_array_equal(bandit_dataset(cfg).rewards, data.rewards)


def test_split_is_eighty_twenty_and_fixed():
    data = bandit_dataset(BanditConfig())
    x_tr, y_tr, x_va, y_va = split_transitions(data, 0.2)
    assert x_tr.shape == (800, NUM_ARMS) and x_va.shape == (200, NUM_ARMS)
    assert y_tr.shape == (800,) and y_va.shape == (200,)
    np.testing.assert_array_equal(split_transitions(data, 0.2)[3], y_va)
    assert np.isclose(float(y_tr.sum() + y_va.sum()), float(data.rewards.sum()))


# ----------------------------------------------------------------------------- ensemble


def _numpy_member(params: dict, m: int, x: np.ndarray):
    """Returns (mu, sigma) [B] of member m: two Linear-LayerNorm-leaky_relu blocks, mu and
    soft-clamped log sigma (offline_world/modules.py:62-133), in float64 loops."""
    p = jax.tree.map(lambda a: np.asarray(a, np.float64)[m], params["params"])
    h = x.astype(np.float64)
    for name in ("Block_0", "Block_1"):
        dense, norm = p[name]["Dense_0"], p[name]["LayerNorm_0"]
        h = h @ dense["kernel"] + dense["bias"]
        mean = h.mean(-1, keepdims=True)
        var = ((h - mean) ** 2).mean(-1, keepdims=True)
        h = (h - mean) / np.sqrt(var + 1e-5) * norm["scale"] + norm["bias"]
        h = np.where(h > 0, h, 0.01 * h)
    mu = (h @ p["mu"]["kernel"] + p["mu"]["bias"])[:, 0]
    raw = (h @ p["log_sigma"]["kernel"] + p["log_sigma"]["bias"])[:, 0]
    softplus = lambda z: np.log1p(np.exp(z))  # noqa: E731
    log_sigma = 0.25 - softplus(0.25 - raw)
    log_sigma = -5.0 + softplus(log_sigma + 5.0)
    return mu, np.exp(log_sigma)


def test_ensemble_validation_nll_matches_numpy(ensemble):
    _, _, x_va, y_va = split_transitions(bandit_dataset(CFG), CFG.valid_fraction)
    x_va, y_va = np.asarray(x_va), np.asarray(y_va, np.float64)
    for m in range(CFG.members):
        mu, sigma = _numpy_member(ensemble.params, m, x_va)
        nll = np.mean([0.5 * np.log(2 * np.pi) + np.log(s) + 0.5 * ((y - u) / s) ** 2
                       for u, s, y in zip(mu, sigma, y_va)])
        np.testing.assert_allclose(float(ensemble.valid_nll[m]), nll, rtol=2e-5)


def test_ensemble_fits_arm_0_and_disagrees_on_arm_1(ensemble):
    # Early stopping ran at least the patience and at most the cap; every member's best
    # snapshot is a Gaussian fit to Bernoulli(0.5) rewards (NLL of N(0.5, 0.5^2): 0.7258).
    assert CFG.model_patience <= int(ensemble.epochs) <= CFG.model_epochs
    assert np.all(np.asarray(ensemble.valid_nll) < 0.80)
    world = jax.jit(make_world, static_argnums=0)(CFG, ensemble)
    mu = np.asarray(world.mu)
    assert mu.shape == (CFG.elites, NUM_ARMS)
    assert np.all(np.abs(mu[:, 0] - 0.5) < 0.1)
    # The never-pulled arm is where members disagree: the epistemic uncertainty.
    assert world.uncertainty[1] > 3 * world.uncertainty[0]
    np.testing.assert_allclose(world.uncertainty, mu.std(axis=0), rtol=1e-6)


# ----------------------------------------------------------------------------- rollouts


def _labelled_world(ensemble):
    """Returns (world, elites): members predicting 10 (m + 1) for both arms with sigma at its
    floor, validation NLLs ranking members in a known order."""
    params = jax.tree.map(lambda a: a, ensemble.params)
    head = params["params"]
    m = CFG.members
    head["mu"] = {"kernel": jnp.zeros_like(head["mu"]["kernel"]),
                  "bias": 10.0 * (jnp.arange(m, dtype=jnp.float32)[:, None] + 1.0)}
    head["log_sigma"] = {"kernel": jnp.zeros_like(head["log_sigma"]["kernel"]),
                         "bias": jnp.full((m, 1), -30.0)}
    nll = jnp.asarray(np.random.default_rng(0).permutation(m), jnp.float32)
    labelled = RewardEnsemble(params, nll, ensemble.epochs)
    world = jax.jit(make_world, static_argnums=0)(CFG, labelled)
    return world, np.argsort(np.asarray(nll))[:CFG.elites]


def test_each_rollout_lives_in_one_member(ensemble):
    world, elites = _labelled_world(ensemble)
    np.testing.assert_allclose(world.mu[:, 0], 10.0 * (elites + 1))
    net = make_q_network(CFG)
    params = jax.jit(net.init)(jax.random.PRNGKey(0))
    coef = 0.3
    run = jax.jit(lambda k: collect(net, params, world, k, jnp.float32(0.5), coef, CFG))
    out = run(jax.random.PRNGKey(1))
    p, t_len = CFG.rollouts_per_round, CFG.episode_length
    per_member = p // CFG.elites
    # rollout n in the n // (P / N)-th member in use (bandit_ensemble.py:43-47), so every
    # member in use gets P / N rollouts.
    np.testing.assert_array_equal(out.member, np.arange(p) // per_member)
    raw = np.asarray(out.trajs.obs)[:, 1:, -1]  # entry t + 1 holds r_t unpenalised
    expected = 10.0 * (elites[np.arange(p) // per_member] + 1)
    np.testing.assert_allclose(raw, np.broadcast_to(expected[:, None], (p, t_len)), atol=0.05)
    actions = np.argmax(np.asarray(out.trajs.action)[:, :t_len], axis=-1)
    assert 0 < actions.mean() < 1  # both arms pulled (epsilon 0.5)
    unc = np.asarray(world.uncertainty)[actions]
    np.testing.assert_allclose(np.asarray(out.trajs.reward)[:, :t_len], raw - coef * unc,
                               rtol=1e-5, atol=1e-4)
    # Entry layout: start (0, arm 0, reward 0), the previous arm one-hot, the final entry
    # copying the last action and reward, T + 1 entries each.
    obs = np.asarray(out.trajs.obs)
    np.testing.assert_array_equal(obs[:, 0], np.tile([0.0, 1.0, 0.0, 0.0], (p, 1)))
    np.testing.assert_array_equal(obs[:, 1:, 1:3], np.asarray(out.trajs.action)[:, :t_len])
    np.testing.assert_array_equal(out.trajs.length, t_len + 1)
    np.testing.assert_array_equal(out.trajs.reward[:, -1], out.trajs.reward[:, -2])


def test_evaluation_reports_reward_and_best_arm_rate():
    """A fixed agent that always pulls arm 1: best-arm rate 1 where arm 1 is better, 0 where
    worse; mean episode reward ~ T p."""
    always_arm1 = QNetwork(init=None, tape=None, step=lambda params, obs, start, memory: (
        jnp.tile(jnp.array([0.0, 1.0]), (obs.shape[0], 1)), memory))
    cfg = BanditConfig(eval_episodes=50)
    reward, rate = jax.jit(lambda k: evaluate(always_arm1, None, k, cfg))(
        jax.random.PRNGKey(0))
    probs = np.asarray(EVAL_PROBS)
    np.testing.assert_array_equal(rate, (probs > 0.5).astype(np.float32))
    sd = np.sqrt(100 * probs * (1 - probs) / 50)
    assert np.all(np.abs(np.asarray(reward) - 100 * probs) < 4 * sd + 0.5)


# ----------------------------------------------------------------------------- learning


def test_ddqn_tape_target_matches_numpy():
    rng = np.random.default_rng(0)
    t_len, a = 12, NUM_ARMS
    q_online, q_target = rng.normal(size=(t_len, a)), rng.normal(size=(t_len, a))
    reward = rng.normal(size=t_len)
    terminal = rng.random(t_len) < 0.2
    start = np.zeros(t_len, bool)
    start[[0, 5, 9]] = True
    gamma = 0.9
    target, mask = ddqn_tape_target(*(jnp.asarray(v, jnp.float32) for v in (
        q_online, q_target, reward)), jnp.asarray(terminal), jnp.asarray(start),
        jnp.float32(gamma))
    for t in range(t_len - 1):
        a_next = int(np.argmax(q_online[t + 1]))  # action from the online network
        want = reward[t] + (1 - terminal[t]) * gamma * q_target[t + 1, a_next]
        np.testing.assert_allclose(float(target[t]), want, rtol=1e-5, atol=1e-6)
        assert mask[t] == (0.0 if start[t + 1] else 1.0)


def test_epsilon_anneals_over_first_tenth_then_holds():
    hp = jax.tree.map(jnp.float32, BanditHParams())
    steps = jnp.array([0, 1000, 2000, 3000, 20_000])
    np.testing.assert_allclose(epsilon_at(steps, hp, 20_000), [1.0, 0.55, 0.1, 0.1, 0.1],
                               rtol=1e-6)


def test_schedule_is_the_authors():
    cfg = BanditConfig()
    # ceil(0.02 x 100 x 100) grad steps a round; the loop's "> grad_steps" bound gives 101
    # rounds (offline_bandit.py:254, :280-283).
    assert cfg.steps_per_round == 200 and cfg.num_rounds == 101
    assert cfg.eval_grad_steps[0] == 0 and cfg.eval_grad_steps[-1] == 20_200
    with pytest.raises(SuiteError, match="multiple"):
        BanditConfig(rollouts_per_round=100, elites=30)
    with pytest.raises(SuiteError, match="elites"):
        BanditConfig(members=10, elites=20)


# ----------------------------------------------------------------------------- program


def test_vmapped_cells_equal_single_runs(grid_result):
    keys, hparams, result = grid_result
    assert result.reward.shape == (2, 2, len(EVAL_PROBS))
    assert result.curve_reward.shape == (2, 2, len(CFG.eval_rounds), len(EVAL_PROBS))
    single = jax.jit(make_bandit_train(CFG))
    one = jax.device_get(single(keys[1], jax.tree.map(lambda x: x[1], hparams)))
    for name in ("reward", "best_arm_rate", "curve_reward", "member_mu", "elites", "loss",
                 "q_mean", "epsilon", "rollout_return", "rollout_arm1"):
        np.testing.assert_allclose(getattr(result, name)[1, 1], getattr(one, name),
                                   rtol=1e-4, atol=1e-5, err_msg=name)
    # The seed's ensemble is shared by its penalties.
    np.testing.assert_array_equal(result.member_mu[0, 0], result.member_mu[0, 1])
    assert not np.allclose(result.member_mu[0, 0], result.member_mu[1, 0])


def _while_loops(jaxpr):
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "while":
            yield eqn
        for sub in jax.core.jaxprs_in_params(eqn.params):
            yield from _while_loops(sub)


def test_grid_trains_the_ensemble_once_per_seed():
    """The ensemble's early-stopping while_loop (the program's only one) carries members
    [S, M, ...], never [S, H, ...]: vmap left it unbatched over the penalties."""
    keys = jnp.stack([jax.random.PRNGKey(s) for s in range(2)])
    hparams = jax.tree.map(lambda x: jnp.full((3,), x, jnp.float32), BanditHParams())
    train = make_bandit_train(CFG)
    closed = jax.make_jaxpr(jax.vmap(jax.vmap(train, in_axes=(None, 0)),
                                     in_axes=(0, None)))(keys, hparams)
    loops = list(_while_loops(closed.jaxpr))
    assert loops
    for eqn in loops:
        shapes = [v.aval.shape for v in eqn.invars if hasattr(v.aval, "shape")]
        assert any(s[:2] == (2, CFG.members) for s in shapes)
        assert not any(s[:2] == (2, 3) for s in shapes), shapes


def test_study_writes_csv_png_json_without_recompiling(grid_result, tmp_path):
    _, _, result = grid_result
    grid = make_bandit_grid(CFG)
    summary = run_bandit_study("tiny", tmp_path)
    assert grid._cache_size() == 1  # the fixture's compiled program, reused
    with open(tmp_path / "bandit.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["penalty_coef", "enc_lr", "seed", "eval_prob", "reward",
                             "best_arm_rate"]
    assert len(rows) == len(TINY.cells) * len(TINY.seeds) * len(EVAL_PROBS)
    first = rows[0]
    assert float(first["penalty_coef"]) == TINY.penalties[0] and int(first["seed"]) == 0
    assert np.isclose(float(first["reward"]), result.reward[0, 0, 0])
    assert (tmp_path / "bandit.png").stat().st_size > 10_000
    saved = json.loads((tmp_path / "bandit.json").read_text())
    assert saved["scale"] == "tiny" and saved["wall_s"] == summary["wall_s"]
    assert saved["grad_steps_run"] == CFG.num_rounds * CFG.steps_per_round
    with pytest.raises(SuiteError, match="unknown scale"):
        run_bandit_study("huge", tmp_path)


def test_dataset_type_is_a_pytree():
    data = BanditData(jnp.zeros((2, 3), jnp.int32), jnp.zeros((2, 3)))
    assert len(jax.tree.leaves(data)) == 2


def test_best_cells_pick_each_penalty_best_encoder_lr():
    study = BanditStudy(CFG, penalties=(0.0, 1.0), seeds=(0, 1), enc_lrs=(1e-6, 1e-5, 1e-4))
    assert study.cells[:4] == ((0.0, 1e-6), (0.0, 1e-5), (0.0, 1e-4), (1.0, 1e-6))
    reward = np.zeros((2, 6, 3))  # [S, H, K]
    reward[:, 2] = 5.0  # penalty 0: lr 1e-4
    reward[0, 4], reward[1, 3] = 9.0, 1.0  # penalty 1: 1e-5 (mean 4.5) over 1e-6 (0.5)
    assert best_cells(SimpleNamespace(reward=reward), study) == [2, 4]
