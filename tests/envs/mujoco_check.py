"""The MJX ports against gymnasium's C-MuJoCo envs: helpers and the tests themselves, which
each ``test_mujoco_<robot>.py`` imports with its ``NAME`` (one file per robot, so that
pytest-xdist spreads the compiles over workers).

Tolerances (float32 MJX vs float64 C MuJoCo, from the same state): one env step is 4-5
physics substeps, so float32 rounding (~1e-7 relative) grows through the contact solver;
measured one-step errors from a synced state are at most 2.4e-3
(HalfCheetah; 49% of the tolerance), 1.7e-4 (Walker2d) and 4.1e-5 (Hopper) on qpos/qvel
entries (``bench/mujoco_agreement.py``), inside ``ATOL``/``RTOL``. Ant differs at its
contacts, in float64 too (``--x64``), so not by rounding: its qpos/qvel entries and its 78
clipped contact-force entries (``clip(cfrc_ext, -1, 1)``, which flip between the bounds on small
force differences) are held to measured share-of-entries bounds instead.
"""

from __future__ import annotations

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_suite.envs.mujoco import ROBOTS

ATOL, RTOL = 2e-3, 2e-3
BATCH = 16
SYNC_STEPS = 24
MC_EPISODE_LENGTH = 100
MC_EPISODES = 32
# Per robot: qpos/qvel entries leading the observation; Ant is contact-rich (looser, stated
# bounds) and ~10x slower on MJX on a CPU (shorter, fewer Monte-Carlo episodes).
STATE_DIMS = {"HalfCheetah-v5": 17, "Hopper-v5": 11, "Walker2d-v5": 17, "Ant-v5": 27}
CONTACT_RICH = {"Ant-v5"}
MC_SETTINGS = {"Ant-v5": (30, 16)}  # (episode length, episodes)


class Port:
    """A robot's MJX env with its jitted, batch-vmapped reset and step (compiled once)."""

    def __init__(self, name: str, episode_length: int = MC_EPISODE_LENGTH):
        from jaxrl_suite.envs.registry import make_env

        self.name = name
        self.robot = ROBOTS[name]
        self.env = make_env(name, episode_length=episode_length)
        self.reset = jax.jit(jax.vmap(self.env.reset))
        self.step = jax.jit(jax.vmap(self.env.step))
        self.healthy = (jax.jit(jax.vmap(self.robot.healthy))
                        if self.robot.healthy is not None else None)


def gym_envs(name: str, n: int, **kwargs):
    return [gymnasium.make(name, **kwargs) for _ in range(n)]


def synced_state(port: Port, template, envs):
    """Returns the batched MJX state holding each gymnasium env's physics state."""
    def stack(field):
        return jnp.asarray(np.stack([getattr(e.unwrapped.data, field) for e in envs]),
                           template.data.qpos.dtype)
    data = template.data.replace(qpos=stack("qpos"), qvel=stack("qvel"),
                                 qacc_warmstart=stack("qacc_warmstart"), xpos=stack("xpos"))
    return template.replace(data=data)


def synced_step_errors(port: Port, seed: int = 0):
    """Returns (obs errors [T, B, obs], reward errors [T, B], terminated pairs [T, B, 2],
    gymnasium obs [T, B, obs]) of SYNC_STEPS random-action steps, the MJX state reset to
    gymnasium's before every step."""
    envs = gym_envs(port.name, BATCH)
    for i, e in enumerate(envs):
        e.reset(seed=seed + i)
    _, template = port.reset(jax.random.split(jax.random.key(seed), BATCH))
    rng = np.random.default_rng(seed)
    low, high = envs[0].action_space.low, envs[0].action_space.high
    obs_err, rew_err, terms, gym_obs = [], [], [], []
    for _ in range(SYNC_STEPS):
        actions = rng.uniform(low, high, size=(BATCH,) + low.shape).astype(np.float32)
        state = synced_state(port, template, envs)
        obs, _, reward, terminated, _ = port.step(state, actions, jax.random.split(
            jax.random.key(1), BATCH))
        outs = [e.step(a) for e, a in zip(envs, actions)]
        g_obs = np.stack([o[0] for o in outs])
        obs_err.append(np.abs(np.asarray(obs, np.float64) - g_obs))
        gym_obs.append(g_obs)
        rew_err.append(np.abs(np.asarray(reward, np.float64) - np.array([o[1] for o in outs])))
        terms.append(np.stack([np.asarray(terminated), [o[2] for o in outs]], axis=-1))
        for i, (e, o) in enumerate(zip(envs, outs)):
            if o[2] or o[3]:
                e.reset(seed=seed + 100 + i)
    return np.array(obs_err), np.array(rew_err), np.array(terms), np.array(gym_obs)


def linear_policy(obs_dim: int, act_dim: int, seed: int = 0):
    """Returns (W, b) of a fixed deterministic policy a = tanh(obs @ W + b)."""
    rng = np.random.default_rng(seed)
    return (rng.normal(0, 0.3 / np.sqrt(obs_dim), (obs_dim, act_dim)).astype(np.float32),
            rng.normal(0, 0.3, act_dim).astype(np.float32))


def mjx_returns(port: Port, W, b, num_episodes: int, seed: int = 0):
    """Returns (returns, lengths) of ``num_episodes`` MJX episodes of the linear policy."""
    assert num_episodes % BATCH == 0
    returns, lengths = [], []
    for chunk in range(num_episodes // BATCH):
        obs, state = port.reset(jax.random.split(jax.random.key(seed + chunk), BATCH))
        done = np.zeros(BATCH, bool)
        ret, length = np.zeros(BATCH), np.zeros(BATCH, int)
        while not done.all():
            obs, state, reward, terminated, truncated = port.step(
                state, np.tanh(np.asarray(obs) @ W + b), jax.random.split(jax.random.key(0),
                                                                          BATCH))
            ret += np.where(done, 0.0, np.asarray(reward))
            length += ~done
            done |= np.asarray(terminated) | np.asarray(truncated)
        returns.append(ret)
        lengths.append(length)
    return np.concatenate(returns), np.concatenate(lengths)


def gym_returns(port: Port, W, b, num_episodes: int, seed: int = 0):
    name = port.name
    env = gymnasium.make(name, max_episode_steps=port.env.spec.max_episode_steps)
    returns, lengths = [], []
    for i in range(num_episodes):
        obs, _ = env.reset(seed=seed + i)
        ret, length, done = 0.0, 0, False
        while not done:
            obs, r, terminated, truncated, _ = env.step(np.tanh(obs.astype(np.float32) @ W + b))
            ret, length, done = ret + r, length + 1, terminated or truncated
        returns.append(ret)
        lengths.append(length)
    return np.array(returns), np.array(lengths)


def assert_same_mean(a, b, what: str, sigmas: float = 4.0):
    se = np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
    assert abs(a.mean() - b.mean()) <= sigmas * se + 1e-6, (
        f"{what}: MJX mean {a.mean():.3f} vs gymnasium {b.mean():.3f} (combined SE {se:.3f})")


def boundary_states(name: str, n: int, seed: int = 0):
    """Returns [n] (qpos, qvel) pairs of random states whose health-checked coordinates sit
    on either side of gymnasium's ranges (1e-3 away from each edge, so float32 is exact)."""
    env = gymnasium.make(name).unwrapped
    rng = np.random.default_rng(seed)
    robot = ROBOTS[name]
    module = __import__(robot.healthy.__module__, fromlist=["_"])  # the robot's constants
    states = []
    for _ in range(n):
        qpos = env.init_qpos + rng.uniform(-0.1, 0.1, env.model.nq)
        qvel = rng.uniform(-1, 1, env.model.nv)
        z_lo, z_hi = module.HEALTHY_Z_RANGE
        z_edge = z_hi if (rng.random() < 0.5 and np.isfinite(z_hi)) else z_lo
        z_index = 2 if name == "Ant-v5" else 1
        qpos[z_index] = z_edge + rng.choice([-1e-3, 1e-3])
        if hasattr(module, "HEALTHY_ANGLE_RANGE"):
            if rng.random() < 0.5:
                qpos[2] = rng.choice(module.HEALTHY_ANGLE_RANGE) + rng.choice([-1e-3, 1e-3])
        if hasattr(module, "HEALTHY_STATE_RANGE") and rng.random() < 0.3:
            qvel[rng.integers(env.model.nv)] = rng.choice([-100.001, -99.999, 99.999, 100.001])
        states.append((qpos, qvel))
    return states


def check_health_agrees(port: Port, rounds: int = 4):
    """Asserts the port's health check equals gymnasium's ``is_healthy`` on boundary states
    (``rounds`` batches of BATCH), and that both sides of the ranges occur."""
    envs = gym_envs(port.name, BATCH)
    _, template = port.reset(jax.random.split(jax.random.key(0), BATCH))
    ours, theirs = [], []
    states = boundary_states(port.name, rounds * BATCH)
    for r in range(rounds):
        for e, (qpos, qvel) in zip(envs, states[r * BATCH:(r + 1) * BATCH]):
            e.reset(seed=0)
            e.unwrapped.set_state(qpos, qvel)
        ours.append(np.asarray(port.healthy(synced_state(port, template, envs).data)))
        theirs.append([bool(e.unwrapped.is_healthy) for e in envs])
    ours, theirs = np.concatenate(ours), np.concatenate(theirs)
    assert 0 < theirs.sum() < len(theirs), "the boundary states must include both sides"
    np.testing.assert_array_equal(ours, theirs)


def check_model_termination_rule_agrees(name: str, n: int = 64):
    """Asserts the model-based rollouts' termination rule, applied to gymnasium's observation
    of a state, equals ``not is_healthy`` on boundary states whose velocities are in range
    (the rule sees clipped observed velocities, gymnasium the raw state)."""
    from jaxrl_suite.model_based.rollouts import termination_fn

    env = gymnasium.make(name).unwrapped
    env.reset(seed=0)
    obs, unhealthy = [], []
    for qpos, qvel in boundary_states(name, n):
        env.set_state(qpos, np.clip(qvel, -1.0, 1.0))
        obs.append(env._get_obs())
        unhealthy.append(not env.is_healthy)
    obs = np.asarray(obs, np.float32)
    done = np.asarray(termination_fn(name)(obs, None, obs))
    np.testing.assert_array_equal(done, np.array(unhealthy))
    assert 0 < done.sum() < n


# --- the tests each per-robot file imports -------------------------------------------------


@pytest.fixture(scope="module")
def port(request):
    name = request.module.NAME
    return Port(name, episode_length=MC_SETTINGS.get(name, (MC_EPISODE_LENGTH,))[0])


def test_spec_matches_gymnasium_and_the_size_table(port):
    from jaxrl_suite.envs import env_spec
    from jaxrl_suite.envs.mujoco import OBSERVATION_SIZES
    from jaxrl_suite.envs.registry import REFERENCE_RETURNS

    gym_env = gymnasium.make(port.name)
    spec = port.env.spec
    assert (spec.observation_shape == gym_env.observation_space.shape
            == (OBSERVATION_SIZES[port.name],))
    np.testing.assert_array_equal(spec.action_low, gym_env.action_space.low)
    np.testing.assert_array_equal(spec.action_high, gym_env.action_space.high)
    # at the default limit the spec carries the registry's references (a shortened one: None)
    ref_min, ref_max = REFERENCE_RETURNS[port.name]
    assert env_spec(port.name) == spec.replace(max_episode_steps=1000, ref_min_score=ref_min,
                                               ref_max_score=ref_max)
    assert gym_env.spec.max_episode_steps == 1000 and spec.backend == "mjx"


@pytest.mark.slow
def test_steps_from_gymnasium_states_agree(port):
    obs_err, rew_err, terms, gym_obs = synced_step_errors(port)
    n = STATE_DIMS[port.name]
    ok = obs_err[..., :n] <= ATOL + RTOL * np.abs(gym_obs[..., :n])
    if port.name in CONTACT_RICH:
        # Contacts make MJX and C MuJoCo part (module docstring); measured 89% of qpos/qvel
        # entries within tolerance, 99.6% of the clipped contact forces within 0.05.
        assert ok.mean() > 0.8, f"{ok.mean():.1%} of qpos/qvel entries within tolerance"
        assert (obs_err[..., n:] <= 0.05).mean() > 0.98
        assert np.median(rew_err) < 1e-4
    else:
        assert ok.all(), f"worst error {obs_err.max():.2e}"
        assert rew_err.max() < 1e-3
    np.testing.assert_array_equal(terms[..., 0], terms[..., 1])


@pytest.mark.slow
def test_return_distribution_of_a_fixed_policy_matches_gymnasium(port):
    episodes = MC_SETTINGS.get(port.name, (None, MC_EPISODES))[1]
    W, b = linear_policy(port.env.spec.observation_shape[0], port.env.spec.action_dim)
    ours, our_lengths = mjx_returns(port, W, b, episodes)
    theirs, their_lengths = gym_returns(port, W, b, episodes)
    assert_same_mean(ours, theirs, "return")
    if port.healthy is not None:
        assert_same_mean(our_lengths.astype(float), their_lengths.astype(float), "length")


@pytest.mark.slow
def test_health_check_fires_on_the_same_states_as_gymnasium(port):
    check_health_agrees(port)


def test_model_rollout_termination_rule_matches_gymnasium(port):
    check_model_termination_rule_agrees(port.name)
