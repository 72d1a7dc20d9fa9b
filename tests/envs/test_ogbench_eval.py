"""Host evaluation of action chunks (executed open loop, the policy asked once per chunk:
equal to stepping the same action sequence by hand) and OGBench's protocols (goal-conditioned:
the 5 tasks round-robin, [obs, goal] observations; single-task; success as the score)."""

import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_suite.envs.host_eval import HostEvaluator

CHUNK = np.array([[1.5], [-2.0], [0.5]], np.float32)  # 3 actions of Pendulum's 1-D space


def _chunk_policy(params, obs, key):  # obs [E, 3] -> [E, 3 * 1]: the same chunk every call
    del params, key
    return jnp.broadcast_to(jnp.asarray(CHUNK.reshape(-1)), (obs.shape[0], 3))


def test_chunks_run_open_loop_as_a_hand_written_loop():
    import gymnasium

    evaluator = HostEvaluator("gymnasium/Pendulum-v1", chunk=3)
    keys = jnp.stack([jnp.asarray([0, 7], jnp.uint32)])
    got = evaluator.evaluate(_chunk_policy, {"w": jnp.zeros((1, 1))}, keys, 2)
    from jaxrl_suite.envs.host_eval import _cell_streams
    seeds, _ = _cell_streams(keys, 2)
    for e in range(2):
        env = gymnasium.make("Pendulum-v1")
        env.reset(seed=int(seeds[0]) + e)
        total, t, done = 0.0, 0, False
        while not done:
            _, r, terminated, truncated, _ = env.step(CHUNK[t % 3])
            total, t, done = total + r, t + 1, terminated or truncated
        assert got[0, e] == pytest.approx(total, rel=1e-5)
    with pytest.raises(Exception, match="chunk: expected >= 1"):
        HostEvaluator("gymnasium/Pendulum-v1", chunk=0)


def _still_arm(seen):
    """Returns a policy that never moves the arm and records the observation shapes it saw."""

    def policy(params, obs, key):
        del params, key
        seen.append(obs.shape)
        return jnp.zeros((obs.shape[0], 5))

    return policy


@pytest.mark.slow  # full tier: 15-46 s in the fast tier (BUILD_NOTES "Session 13")
def test_ogbench_goal_conditioned_and_single_task_protocols():
    pytest.importorskip("ogbench")
    from jaxrl_suite.envs.ogbench_eval import OGBenchEvaluator

    seen = []
    policy = _still_arm(seen)

    gc = OGBenchEvaluator("cube-single-v0", max_episode_steps=8)
    assert gc.goal_conditioned and gc.spec.observation_shape == (56,)
    keys = jnp.stack([jnp.asarray([0, 1], jnp.uint32), jnp.asarray([0, 2], jnp.uint32)])
    scores = gc.evaluate(policy, {"w": jnp.zeros((2, 1))}, keys, 5)
    assert scores.shape == (2, 5) and set(np.unique(scores)) <= {0.0, 1.0}
    assert (scores == 0).all()  # a still arm does not move the cube to its goal
    assert (5, 56) in seen  # the policy saw [obs, goal] of the 5 episodes
    # each episode of a cell ran one of the 5 tasks, with that task's goal in its observation
    goals = np.stack([gc._goals[s] for s in range(5)])
    assert len({g.tobytes() for g in goals}) == 5
    st = OGBenchEvaluator("cube-single-singletask-task1-v0", max_episode_steps=8)
    assert not st.goal_conditioned and st.spec.observation_shape == (28,)
    assert st.evaluate(policy, {"w": jnp.zeros((1, 1))}, keys[:1], 2).shape == (1, 2)


@pytest.mark.parametrize("env_name", ["cube-double-v0", "puzzle-3x3-v0"])
def test_oracle_goal_dims_select_the_oracle_representation(env_name):
    pytest.importorskip("ogbench")
    import gymnasium

    from jaxrl_suite.envs.ogbench_eval import oracle_goal_dims

    env = gymnasium.make(env_name)
    _, info = env.reset(seed=3, options=dict(task_id=3))  # task 3: puzzle buttons 0 and 1
    if env_name.startswith("puzzle"):  # the goal observation's entries = the oracle goal
        oracle = gymnasium.make(env_name, use_oracle_rep=True)
        _, oracle_info = oracle.reset(seed=3, options=dict(task_id=3))
        dims = list(oracle_goal_dims(env_name, info["goal"].shape[0]))
        np.testing.assert_array_equal(info["goal"][dims], oracle_info["goal"])
        assert set(np.unique(oracle_info["goal"])) == {0.0, 1.0}
    env.action_space.seed(3)
    for _ in range(20):  # enough random steps to move things (cubes fall, buttons may flip)
        obs, *_ = env.step(env.action_space.sample())
        dims = oracle_goal_dims(env_name, obs.shape[0])
        np.testing.assert_allclose(obs[list(dims)], env.unwrapped.compute_oracle_observation(),
                                   rtol=1e-6, atol=1e-6)
    with pytest.raises(Exception, match="observation entries"):
        oracle_goal_dims(env_name, obs.shape[0] + 1)


def test_oracle_rep_evaluator_sees_observation_and_oracle_goal():
    pytest.importorskip("ogbench")
    from jaxrl_suite.envs.ogbench_eval import OGBenchEvaluator, oracle_goal_dims

    seen = []
    policy = _still_arm(seen)

    gc = OGBenchEvaluator("cube-single-v0", use_oracle_rep=True, max_episode_steps=4)
    assert gc.spec.observation_shape == (28 + 3,)
    keys = jnp.stack([jnp.asarray([0, 1], jnp.uint32)])
    assert gc.evaluate(policy, {"w": jnp.zeros((1, 1))}, keys, 2).shape == (1, 2)
    assert (2, 31) in seen
    assert gc._goals[0].shape == (3,) and len(oracle_goal_dims("cube-single-v0", 28)) == 3
    with pytest.raises(Exception, match="goal-conditioned"):
        OGBenchEvaluator("cube-single-singletask-task1-v0", use_oracle_rep=True)
    with pytest.raises(Exception, match="cube-\\* or puzzle-\\*"):
        oracle_goal_dims("scene-v0", 40)
