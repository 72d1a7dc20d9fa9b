"""MiniGrid on navix follows MiniGrid's rules: time-discounted goal reward, lava and collision
terminations, truncation at 4 * size**2, MiniGrid's obstacle moves, and MiniGrid's egocentric,
occluded 7x7 symbolic view (the paper's flattened encoding by default)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_suite.envs import env_spec, make_env, make_evaluate, random_policy
from jaxrl_suite.envs import navix_env
from jaxrl_suite.errors import EnvError

LAVA = "MiniGrid-LavaGapS7-v0"
DYN = "MiniGrid-Dynamic-Obstacles-8x8-v0"
LEFT, RIGHT, FORWARD = 0, 1, 2
# MiniGrid's DIR_TO_VEC (core/constants.py:49-58) as (dx, dy); navix numbers headings the same.
DIR_VEC = ((1, 0), (0, 1), (-1, 0), (0, -1))
WALL, EMPTY, GOAL, LAVA_CELL, BALL = (2, 5, 0), (1, 0, 0), (8, 1, 0), (9, 0, 0), (6, 2, 0)


def make_rollout(env, batch, num_steps):
    """Returns jit((states [B], actions [B, T], keys [B]) -> per-step (obs, state, reward,
    terminated, truncated) [B, T, ...]), the env stepped without reset."""

    def rollout(state, actions, key):
        def one_step(state, inputs):
            action, step_key = inputs
            obs, state, reward, terminated, truncated = env.step(state, action, step_key)
            return state, (obs, state, reward, terminated, truncated)

        keys = jax.random.split(key, actions.shape[0])
        return jax.lax.scan(one_step, state, (actions, keys))[1]

    batched = jax.jit(jax.vmap(rollout))

    def run(states, actions, keys):
        assert actions.shape == (batch, num_steps)
        return batched(states, jnp.asarray(actions, jnp.int32), keys)

    return run


@pytest.fixture(scope="module")
def lava():
    env = make_env(LAVA, observation="symbolic")
    return env, jax.jit(env.reset), make_rollout(env, 4, env.spec.max_episode_steps)


@pytest.fixture(scope="module")
def dyn():
    env = make_env(DYN, observation="symbolic")
    return env, jax.jit(env.reset), make_rollout(env, 32, env.spec.max_episode_steps)


def replace_entity(state, kind, **fields):
    world = state.world
    entity = world.entities[kind].replace(**{k: jnp.asarray(v, jnp.int32) for k, v in
                                             fields.items()})
    return state.replace(world=world.replace(entities={**world.entities, kind: entity}))


def with_lava(state, x, gap_y):
    """Returns ``state`` with the lava column at ``x``, open at row ``gap_y``."""
    return replace_entity(state, "lava", position=[[y, x] for y in range(1, 6) if y != gap_y])


def with_player(state, xy, heading):
    return replace_entity(state, "player", position=[[xy[1], xy[0]]], direction=[heading])


def with_balls(state, xys):
    return replace_entity(state, "ball", position=[[y, x] for x, y in xys])


def stack(states):
    return jax.tree.map(lambda *leaves: jnp.stack(leaves), *states)


def padded(actions, num_steps):
    return list(actions) + [LEFT] * (num_steps - len(actions))


def view(obs):
    """Returns the [x, y, 3] image of a "symbolic" observation."""
    return np.asarray(obs).reshape(7, 7, 3).astype(np.int64)


def test_specs_are_minigrids_3_actions_and_time_limits():
    for name, limit in ((LAVA, 4 * 7 * 7), (DYN, 4 * 8 * 8)):
        spec = env_spec(name)
        assert spec == make_env(name).spec
        assert spec.backend == "navix" and spec.discrete and spec.num_actions == 3
        assert spec.max_episode_steps == limit
        assert spec.observation_shape == (98,)
        assert env_spec(name, observation="symbolic").observation_shape == (147,)
    with pytest.raises(EnvError, match="observation"):
        make_env(LAVA, observation="rgb")
    with pytest.raises(EnvError, match="takes only 'observation'"):
        make_env(LAVA, max_steps=10)


def test_lava_gap_scripted_episodes_follow_minigrids_rules(lava):
    env, reset, rollout = lava
    limit = env.spec.max_episode_steps
    _, start = reset(jax.random.key(0))
    to_goal_a = [FORWARD] * 4 + [RIGHT] + [FORWARD] * 4  # gap at (3, 1): 9 steps
    to_goal_b = [RIGHT] + [FORWARD] * 4 + [LEFT] + [FORWARD] * 4  # gap at (2, 5): 10 steps
    states = stack([with_lava(start, 3, 1), with_lava(start, 2, 5), with_lava(start, 2, 5),
                    with_lava(start, 3, 1)])
    actions = np.asarray([padded(to_goal_a, limit), padded(to_goal_b, limit),
                          padded([FORWARD], limit), padded([], limit)])
    obs, _, reward, terminated, truncated = rollout(states, actions, jax.random.split(
        jax.random.key(1), 4))
    reward, terminated, truncated = map(np.asarray, (reward, terminated, truncated))
    assert obs.dtype == jnp.float32 and obs.shape == (4, limit, 147)
    assert reward.dtype == np.float32 and terminated.dtype == truncated.dtype == np.bool_

    for row, steps in ((0, 9), (1, 10)):  # the goal pays 1 - 0.9 * t / max_steps and ends
        assert reward[row, steps - 1] == np.float32(1.0 - 0.9 * steps / limit)
        assert not reward[row, :steps - 1].any()
        assert terminated[row, steps - 1] and not terminated[row, :steps - 1].any()
        assert not truncated[row, :steps].any()
    # Walking into lava ends the episode with reward 0.
    assert terminated[2, 0] and reward[2, 0] == 0.0 and not truncated[2, 0]
    # Turning for the whole limit: truncated exactly at step 196, never terminated.
    assert not terminated[3].any() and not reward[3].any()
    assert truncated[3, limit - 1] and not truncated[3, :limit - 1].any()


def test_dynamic_obstacles_scripted_episodes_follow_minigrids_rules(dyn):
    env, reset, rollout = dyn
    limit = env.spec.max_episode_steps
    _, start = reset(jax.random.key(0))
    far = [(1, 5), (1, 6), (2, 6), (3, 6)]  # bottom-left, away from the agent
    ball_ahead = with_balls(with_player(start, (1, 1), 0), [(2, 1), (1, 5), (1, 6), (2, 6)])
    wall_ahead = with_balls(with_player(start, (1, 1), 3), far)  # facing north, into the wall
    goal_ahead = with_balls(with_player(start, (5, 6), 0), [(1, 1), (2, 1), (3, 1), (1, 2)])
    goal_ahead = goal_ahead.replace(time=jnp.asarray(100, jnp.int32))
    turning = with_balls(start, far)
    states = stack([ball_ahead] * 8 + [wall_ahead] * 8 + [goal_ahead] * 8 + [turning] * 8)
    actions = np.asarray([padded([FORWARD], limit)] * 24 + [padded([], limit)] * 8)
    obs, _, reward, terminated, truncated = rollout(states, actions, jax.random.split(
        jax.random.key(1), 32))
    reward, terminated, truncated = map(np.asarray, (reward, terminated, truncated))
    assert obs.dtype == jnp.float32 and obs.shape == (32, limit, 147)
    assert reward.dtype == np.float32 and terminated.dtype == truncated.dtype == np.bool_
    # forward into a ball or a wall: -1 and terminated, whatever the balls then do.
    np.testing.assert_array_equal(reward[:16, 0], -1.0)
    assert terminated[:16, 0].all() and not truncated[:16, 0].any()
    # forward onto the goal at step 101: 1 - 0.9 * 101 / 256.
    np.testing.assert_array_equal(reward[16:24, 0], np.float32(1.0 - 0.9 * 101 / limit))
    assert terminated[16:24, 0].all()
    # Turning in place never collides (a ball cannot move onto the agent): truncated at 256.
    assert not terminated[24:].any() and not reward[24:].any()
    assert truncated[24:, limit - 1].all() and not truncated[24:, :limit - 1].any()


def test_dynamic_obstacles_balls_move_like_minigrids(dyn):
    env, reset, rollout = dyn
    limit = env.spec.max_episode_steps
    keys = jax.random.split(jax.random.key(2), 32)
    _, states = jax.vmap(reset)(keys)
    actions = np.asarray(jax.random.randint(jax.random.key(3), (32, limit), 0, 3))
    _, after, *_ = rollout(states, actions, keys)
    balls = np.concatenate([np.asarray(states.world.entities["ball"].position)[:, None],
                            np.asarray(after.world.entities["ball"].position)], axis=1)
    agent = np.concatenate([np.asarray(states.world.entities["player"].position)[:, None],
                            np.asarray(after.world.entities["player"].position)], axis=1)[:, :, 0]
    before, moved = balls[:, :-1], balls[:, 1:]  # [B, T, 4, 2] (row, col)
    step = np.abs(moved - before).max(-1)
    assert step.max() == 1  # within the 3x3 block (8-neighbourhood, diagonals included)
    assert (np.abs(moved - before).min(-1)[step == 1] == 1).any()  # some diagonal moves
    assert (step == 0).mean() < 0.02  # a ball stays only when boxed in
    assert np.all((moved >= 1) & (moved <= 6))  # never into a wall
    assert not np.all(moved == 6, axis=-1).any()  # never onto the goal (6, 6)
    assert not np.all(moved == agent[:, :-1, None], axis=-1).any()  # nor the agent's cell
    assert not np.all(agent[:, 1:, None] == moved, axis=-1).any()  # the agent is blocked
    pairs = np.all(moved[:, :, :, None] == moved[:, :, None], axis=-1)
    assert pairs.sum(axis=(-1, -2)).max() == 4  # no two balls share a cell


def test_dynamic_obstacles_reset_places_balls_apart_on_free_cells(dyn):
    _, reset, _ = dyn
    _, states = jax.vmap(reset)(jax.random.split(jax.random.key(4), 256))
    balls = np.asarray(states.world.entities["ball"].position)  # [256, 4, 2]
    cells = {tuple(p) for p in balls.reshape(-1, 2)}
    assert len(cells) == 6 * 6 - 2  # every interior cell but the agent's and the goal's
    assert (1, 1) not in cells and (6, 6) not in cells
    assert all(len({tuple(p) for p in layout}) == 4 for layout in balls)
    np.testing.assert_array_equal(np.asarray(states.world.entities["player"].direction), 0)


def world_cells(world, index):
    """Returns the [x, y, 3] MiniGrid encoding of the whole grid of batch entry ``index``."""
    grid = np.asarray(world.grid[index])
    size = grid.shape[0]
    cells = np.zeros((size, size, 3), np.int64)
    cells[:] = EMPTY
    cells[grid.T != 0] = WALL
    for kind, symbol in (("lava", LAVA_CELL), ("ball", BALL), ("goal", GOAL)):
        if kind in world.entities:
            for row, col in np.asarray(world.entities[kind].position[index]):
                cells[col, row] = symbol
    return cells


def expected_view(cells, xy, heading):
    """Returns what MiniGrid's view shows, ignoring occlusion: view cell (vx, vy) is world cell
    agent + dir * (6 - vy) + right * (vx - 3) (the inverse of ``get_view_coords``,
    minigrid_env.py:426-451), walls outside the grid, the agent's own cell empty."""
    (dx, dy), size = DIR_VEC[heading], cells.shape[0]
    rx, ry = -dy, dx
    out = np.zeros((7, 7, 3), np.int64)
    for vx in range(7):
        for vy in range(7):
            x = xy[0] + dx * (6 - vy) + rx * (vx - 3)
            y = xy[1] + dy * (6 - vy) + ry * (vx - 3)
            out[vx, vy] = cells[x, y] if 0 <= x < size and 0 <= y < size else WALL
    out[navix_env.AGENT_VIEW_POS] = EMPTY
    return out


def minigrid_process_vis(opaque):
    """MiniGrid's ``Grid.process_vis`` (core/grid.py:291-328), verbatim, on ``opaque[x, y]``."""
    width, height = opaque.shape
    mask = np.zeros((width, height), bool)
    mask[navix_env.AGENT_VIEW_POS] = True
    for j in reversed(range(height)):
        for i in range(width - 1):
            if not mask[i, j] or opaque[i, j]:
                continue
            mask[i + 1, j] = True
            if j > 0:
                mask[i + 1, j - 1] = mask[i, j - 1] = True
        for i in reversed(range(1, width)):
            if not mask[i, j] or opaque[i, j]:
                continue
            mask[i - 1, j] = True
            if j > 0:
                mask[i - 1, j - 1] = mask[i, j - 1] = True
    return mask


@pytest.mark.parametrize("name", [LAVA, DYN])
def test_view_is_egocentric_and_occluded_as_in_minigrid(name, lava, dyn):
    env, reset, _ = lava if name == LAVA else dyn
    _, start = reset(jax.random.key(5))
    poses = [((x, y), h) for x, y in ((1, 1), (3, 3), (5, 2)) for h in range(4)]
    states = stack([with_player(start, xy, h) for xy, h in poses])
    views = np.asarray(jax.jit(jax.vmap(
        lambda world: navix_env.egocentric_view(world, name)))(states.world)).astype(np.int64)
    for i, (xy, heading) in enumerate(poses):
        got, want = views[i], expected_view(world_cells(states.world, i), xy, heading)
        if name == DYN:  # Dynamic-Obstacles sees through walls: every cell of the window
            np.testing.assert_array_equal(got, want, err_msg=str((xy, heading)))
        else:  # LavaGap: cells behind walls are unseen (0, 0, 0), as process_vis hides them
            visible = minigrid_process_vis(want[:, :, 0] == WALL[0])
            np.testing.assert_array_equal(got[visible], want[visible], err_msg=str((xy, heading)))
            assert not got[~visible].any()
        # The agent sits at the bottom centre and sees its front cell just above.
        assert tuple(got[navix_env.AGENT_VIEW_POS]) == EMPTY


def test_turning_changes_the_heading_and_four_turns_restore_the_view(lava):
    env, reset, rollout = lava
    limit = env.spec.max_episode_steps
    _, start = reset(jax.random.key(6))
    state = with_player(with_lava(start, 4, 1), (2, 3), 0)  # lava at x = 4, y = 2..5
    actions = np.asarray([padded([LEFT] * 4, limit), padded([RIGHT] * 4, limit),
                          padded([RIGHT, LEFT], limit), padded([], limit)])
    obs, after, *_ = rollout(stack([state] * 4), actions, jax.random.split(jax.random.key(7), 4))
    headings = np.asarray(after.world.entities["player"].direction)[:, :4, 0]
    np.testing.assert_array_equal(headings[0], [3, 2, 1, 0])  # left = counter-clockwise
    np.testing.assert_array_equal(headings[1], [1, 2, 3, 0])
    initial = view(navix_env.egocentric_view(state.world, LAVA).reshape(-1))
    for row, steps in ((0, 4), (1, 4), (2, 2)):
        np.testing.assert_array_equal(view(obs[row, steps - 1]), initial)
    assert not np.array_equal(view(obs[0, 0]), initial)
    # Facing south from (2, 3), the agent's right is west: view (vx, vy) shows world
    # (5 - vx, 9 - vy), so the lava at (4, 4) and (4, 5) appears at view (1, 5) and (1, 4),
    # and the goal (5, 5) at view (0, 4).
    south = view(obs[1, 0])
    assert [tuple(south[1, 5]), tuple(south[1, 4]), tuple(south[0, 4])] == [
        LAVA_CELL, LAVA_CELL, GOAL]


def test_golden_views_match_minigrid_3_2(lava, dyn):
    """Object and colour channels printed by MiniGrid 3.2.0 (``obs["image"][:, :, c].T``) for
    the same layouts, rows = view y, columns = view x."""
    env, reset, rollout = lava
    _, start = reset(jax.random.key(0))
    state = with_lava(start, 3, 1)
    objects = [[0, 0, 0, 0, 0, 0, 0], [0, 0, 2, 2, 2, 2, 2], [0, 0, 2, 1, 1, 1, 1],
               [0, 0, 2, 1, 1, 1, 1], [0, 0, 2, 1, 9, 9, 9], [0, 0, 2, 1, 1, 1, 1],
               [0, 0, 2, 1, 1, 1, 1]]
    image = view(navix_env.egocentric_view(state.world, LAVA).reshape(-1))
    np.testing.assert_array_equal(image[:, :, 0].T, objects)
    obs, *_ = env.step(state, RIGHT, jax.random.key(0))
    after_right = [[0, 0, 0, 0, 0, 0, 0], [2, 2, 2, 2, 2, 0, 0], [1, 9, 1, 1, 2, 0, 0],
                   [1, 9, 1, 1, 2, 0, 0], [1, 9, 1, 1, 2, 0, 0], [1, 9, 1, 1, 2, 0, 0],
                   [1, 1, 1, 1, 2, 0, 0]]
    colours = [[0] * 7] + [[5, 5, 5, 5, 5, 0, 0]] + [[0, 0, 0, 0, 5, 0, 0]] * 5
    np.testing.assert_array_equal(view(obs)[:, :, 0].T, after_right)
    np.testing.assert_array_equal(view(obs)[:, :, 1].T, colours)

    _, reset, _ = dyn
    _, start = reset(jax.random.key(0))
    state = with_balls(start, [(3, 1), (2, 4), (5, 2), (4, 5)])
    image = view(navix_env.egocentric_view(state.world, DYN).reshape(-1))
    objects = [[2] * 7, [2, 2, 2, 1, 1, 1, 1], [2, 2, 2, 1, 6, 1, 1], [2, 2, 2, 1, 1, 1, 1],
               [2, 2, 2, 6, 1, 1, 1], [2, 2, 2, 1, 1, 1, 6], [2, 2, 2, 1, 1, 1, 1]]
    colours = [[5] * 7, [5, 5, 5, 0, 0, 0, 0], [5, 5, 5, 0, 2, 0, 0], [5, 5, 5, 0, 0, 0, 0],
               [5, 5, 5, 2, 0, 0, 0], [5, 5, 5, 0, 0, 0, 2], [5, 5, 5, 0, 0, 0, 0]]
    np.testing.assert_array_equal(image[:, :, 0].T, objects)
    np.testing.assert_array_equal(image[:, :, 1].T, colours)


@pytest.mark.parametrize("name", [LAVA, DYN])
def test_paper_observation_is_object_and_colour_channels_over_10(name):
    key = jax.random.key(8)
    paper, _ = jax.jit(make_env(name).reset)(key)
    symbolic, _ = jax.jit(make_env(name, observation="symbolic").reset)(key)
    assert paper.shape == (98,) and paper.dtype == jnp.float32
    np.testing.assert_allclose(paper, view(symbolic)[:, :, :2].reshape(-1) / 10.0, rtol=1e-6)


@pytest.mark.parametrize("name", [LAVA, DYN])
def test_evaluate_runs_vmapped_over_seeds(name):
    env = make_env(name)
    evaluate_fn = jax.jit(jax.vmap(make_evaluate(random_policy(env.spec), env, num_episodes=8)))
    result = evaluate_fn(None, jax.random.split(jax.random.key(9), 2))
    returns, lengths = np.asarray(result.returns), np.asarray(result.lengths)
    assert returns.shape == lengths.shape == (2, 8)
    assert np.all((lengths >= 1) & (lengths <= env.spec.max_episode_steps))
    success = returns > 0  # a success pays 1 - 0.9 * length / max_steps exactly
    np.testing.assert_allclose(returns[success], 1 - 0.9 * lengths[success]
                               / env.spec.max_episode_steps, rtol=1e-6)
    if name == LAVA:
        assert np.all(returns >= 0)
    else:  # the rest of the Dynamic-Obstacles episodes collided (-1) or timed out (0)
        assert np.all(np.isin(returns[~success], [-1.0, 0.0]))
