"""MiniGrid's LavaGapS7 and Dynamic-Obstacles-8x8 on navix, with MiniGrid's rules, as JaxEnvs.

The names are MiniGrid's ids (backend "navix"). navix (0.7.4) supplies the state (base grid,
entities, ``navix.State``), the layouts, the turn/forward actions and the symbolic egocentric
crop; this adapter supplies what navix does differently from MiniGrid, so that an episode here
follows the rules of MiniGrid (Farama-Foundation/Minigrid, read at 9092872; paths below are in
that repo) and the observation is the one "A Dataset Perspective on Offline Reinforcement
Learning" (Schweighofer et al.; ml-jku/OfflineRL at 8cc8eec) feeds its networks.

Rules, MiniGrid's and kept here:
  * Reward ``1 - 0.9 * t / max_steps`` on the step ``t`` (1-based) that reaches the goal, 0
    otherwise (``minigrid_env.py:240-245``, ``:551-556``); stepping into lava terminates with
    reward 0 (``:557-559``). Time limit ``max_steps = 4 * size**2``: 196 for LavaGapS7
    (``envs/lavagap.py:79-80``), 256 for Dynamic-Obstacles-8x8 (``envs/dynamicobstacles.py:92-93``);
    reaching it is ``truncated``, never ``terminated`` (MiniGrid sets both flags when the goal is
    reached on the last step, ``minigrid_env.py:587-588``; here that step is terminated only).
  * LavaGap layout: agent at (x, y) = (1, 1) facing east, goal at (5, 5), a lava column at a
    uniform x in [2, 4] with a gap at a uniform y in [1, 5] (``envs/lavagap.py:109-129``).
    navix draws the same distribution (``navix/environments/lava_gap.py:64-71``).
  * Dynamic-Obstacles-8x8: agent at (1, 1) facing east, goal at (6, 6), 4 blue balls placed
    without overlap on free cells (``envs/dynamicobstacles.py:85-88, 111-132``). Each step, in
    this order (``:136-167``): (1) note whether the cell in front of the agent holds anything but
    the goal (a ball *or a wall*); (2) move each ball in turn to a uniformly drawn free cell of
    the 3x3 block around it (not a wall, ball, the goal or the agent; it stays if none is free);
    (3) apply the action; (4) if the action was ``forward`` and the front cell of (1) was
    occupied, the reward is -1 and the episode terminates. Out-of-range actions act as 0
    (``:137-139``).
  * Egocentric view (``minigrid_env.py:597-648``): the 7x7 cells ahead of and beside the agent,
    rotated so that the agent faces up, in MiniGrid's ``image[x, y]`` layout (first axis = the
    view's column, second = its row; ``core/grid.py:244-268``): the agent sits at
    ``image[3, 6]`` (bottom centre, ``AGENT_VIEW_POS``) and its own cell reads as empty. Each cell
    is MiniGrid's (OBJECT_IDX, COLOR_IDX, STATE) triple (``core/constants.py:20-46``): unseen 0,
    empty 1, wall 2, ball 6, goal 8, lava 9; red 0, green 1, blue 2, grey 5; STATE is 0 here (it
    encodes doors only). Cells outside the grid read as walls. LavaGap does not see through
    walls (``see_through_walls=False``, ``envs/lavagap.py:87``): cells that MiniGrid's
    ``Grid.process_vis`` (``core/grid.py:291-328``) hides behind walls read as unseen (0, 0, 0),
    computed here by the same row-by-row propagation; Dynamic-Obstacles sees every cell of the
    window (``envs/dynamicobstacles.py:99``).

Where navix differs from MiniGrid (all replaced here by MiniGrid's rule above):
  1. No time discount on success: navix rewards exactly 1 on the goal
     (``navix/rewards.py:65``, ``penality_coeff`` defaults to 0, ``environment.py:87, 191``).
  2. ``navix.make`` sets ``max_steps=100`` for every env (``navix/environments/registry.py:34,
     46``), not 4 * size**2; the truncation itself (``t >= max_steps``) matches.
  3. Dynamic-Obstacles: collisions are balls moving *into* the agent (4-neighbourhood random
     moves after the agent's action, ``navix/transitions.py:69-117``), which terminate with
     reward 0 (``navix/environments/dynamic_obstacles.py:101-178`` register ``on_goal_reached``
     as the reward); walking into a ball or wall just blocks the agent. MiniGrid penalises -1
     for a ``forward`` into an occupied cell (balls and walls) and moves balls in the 8-cell
     neighbourhood before the agent acts. navix's balls may also overlap each other (its
     ``jnp.any(not obstructs)`` test, ``transitions.py:117``) and at reset (positions drawn
     with replacement, ``navix/grid.py:251``); here they never do.
  4. Action set: navix's MiniGrid set has all 7 actions (``navix/actions.py:339-351``), as has
     MiniGrid's LavaGap; Dynamic-Obstacles has 3 in MiniGrid. The suite exposes 3 actions for
     both -- 0 turn left, 1 turn right, 2 forward -- as the paper's code does
     (``RestrictMiniGridActionWrapper``, ``source/utils/wrappers.py:86-97``): pickup, drop,
     toggle and done change nothing in these tasks, so the 3-action MDPs have the same optimal
     returns, and a uniform random policy over 3 actions matches the paper's random datasets.
     Actions outside 0..2 act as 0 in both tasks (Dynamic-Obstacles' rule; MiniGrid's LavaGap
     raises, which traced code cannot).
  5. Observation: navix's registered envs observe the full grid (``observations.symbolic``);
     its ``symbolic_first_person`` view is the transpose of MiniGrid's ``image`` (row-major
     ``[y, x]``) and ignores occlusion (it shows walls where MiniGrid shows unseen cells).
     Here it is transposed to ``[x, y]`` and masked as MiniGrid does.
  6. navix auto-resets inside ``step`` and carries a rendering cache in its state; here ``step``
     never resets (the suite's contract) and the cache is a placeholder (nothing renders).
  7. Ball moves draw from the ``key`` passed to ``step`` (navix draws from ``state.key``), so
     an episode is a function of the reset and step keys, as for every suite env.

Observation (float32), ``observation=``:
  * "paper" (default): ``image[:, :, :2].flatten() / 10`` -- [98], the object and colour
    channels of the view in MiniGrid's ``[x, y]`` order, divided by 10, without the direction or
    mission; this is the paper's ``FlatImgObsWrapper`` (``source/utils/wrappers.py:61-83``,
    applied in ``source/utils/utils.py:55-56``), which its 3x256 SELU MLPs take
    (``source/networks/critic.py:16-23``).
  * "symbolic": ``image.flatten()`` -- [147], MiniGrid's raw (object, colour, state) codes.
The paper's code runs the old gym API, where the time limit sets ``done`` and its buffer stores
``not_done = not done`` (``source/utils/buffer.py:25-30``): timeouts there are terminals;
here they are ``truncated``.

``MiniGridState.world`` is navix's full state (grid, agent pose, lava or ball positions), which
a full-state behaviour policy or an oracle can read; ``egocentric_view(world, name)`` returns the
uint8 [7, 7, 3] image. navix is imported inside the factories, so importing ``jaxrl_suite.envs``
stays cheap (``import navix`` pulls in wandb, ~2 s).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax
import jax
import jax.numpy as jnp

from jaxrl_suite.envs.base import EnvSpec, JaxEnv
from jaxrl_suite.errors import EnvError

MINIGRID_ENV_NAMES = ("MiniGrid-LavaGapS7-v0", "MiniGrid-Dynamic-Obstacles-8x8-v0")
OBSERVATIONS = ("paper", "symbolic")
NUM_ACTIONS = 3  # 0 turn left, 1 turn right, 2 forward (MiniGrid's first three)
FORWARD = 2
VIEW_SIZE = 7
AGENT_VIEW_POS = (3, 6)  # (x, y) of the agent in ``image[x, y]``: bottom centre, facing up
_UNSEEN, _WALL = 0, 2  # MiniGrid OBJECT_TO_IDX


@dataclasses.dataclass(frozen=True)
class _Task:
    size: int  # the room is size x size cells, walls included
    see_through_walls: bool
    num_obstacles: int  # Dynamic-Obstacles' balls; 0 for LavaGap

    @property
    def max_steps(self) -> int:
        return 4 * self.size * self.size


_TASKS = {
    "MiniGrid-LavaGapS7-v0": _Task(size=7, see_through_walls=False, num_obstacles=0),
    "MiniGrid-Dynamic-Obstacles-8x8-v0": _Task(size=8, see_through_walls=True, num_obstacles=4),
}


@flax.struct.dataclass
class MiniGridState:
    """navix's world state plus the number of steps taken in this episode."""

    world: Any  # navix.State: grid [size, size] (0 floor, -1 wall), entities, key
    time: jax.Array  # int32 []


def navix_spec(name: str, observation: str = "paper") -> EnvSpec:
    """Returns the EnvSpec of MiniGrid task ``name`` with observation encoding ``observation``."""
    task = _task(name)
    _check_observation(observation)
    obs_dim = VIEW_SIZE * VIEW_SIZE * (2 if observation == "paper" else 3)
    return EnvSpec(
        name=name,
        backend="navix",
        observation_shape=(obs_dim,),
        discrete=True,
        num_actions=NUM_ACTIONS,
        max_episode_steps=task.max_steps,
    )


def make_navix_env(name: str, observation: str = "paper") -> JaxEnv:
    """Returns the MiniGrid task ``name`` ("MiniGrid-LavaGapS7-v0" or
    "MiniGrid-Dynamic-Obstacles-8x8-v0") on navix as a JaxEnv with MiniGrid's rules (see module).

    ``observation``: "paper" (the paper's [98] encoding, default) or "symbolic" ([147]).
    """
    import navix  # deferred: see module docstring

    spec = navix_spec(name, observation)
    task = _TASKS[name]
    if navix.observations.RADIUS != VIEW_SIZE // 2:
        raise EnvError(f"navix view radius is {navix.observations.RADIUS} (navix.observations."
                       f"set_radius was called); MiniGrid's 7x7 view needs radius 3")
    actions = navix.actions
    action_set = (actions.rotate_ccw, actions.rotate_cw, actions.forward)
    max_steps = task.max_steps
    no_cache = navix.rendering.cache.RenderingCache(patches=jnp.zeros((), jnp.uint8))

    if task.num_obstacles:
        def new_world(key):
            return _dynamic_obstacles_world(key, task, no_cache)
    else:
        lava_gap = navix.environments.LavaGap.create(
            height=task.size, width=task.size, max_steps=max_steps)

        def new_world(key):
            return lava_gap.reset(key, cache=no_cache).state

    def observe(world):
        image = egocentric_view(world, name)
        if observation == "paper":
            return image[:, :, :2].reshape(-1).astype(jnp.float32) / 10.0
        return image.reshape(-1).astype(jnp.float32)

    def reset(key):
        world = _strongly_typed(new_world(key))
        return observe(world), MiniGridState(world=world, time=jnp.zeros((), jnp.int32))

    def step(state, action, key):
        world = _copy(state.world)
        action = jnp.where((action >= 0) & (action < NUM_ACTIONS), action, 0).astype(jnp.int32)
        if task.num_obstacles:
            front_occupied = _front_occupied(world)
            world = _move_obstacles(world, key)
        world = jax.lax.switch(action, action_set, world)
        time = state.time + 1
        position = world.get_player().position
        on_goal = jnp.all(position == world.get_goals().position[0])
        success = jnp.where(on_goal, 1.0 - 0.9 * time / max_steps, 0.0)
        if task.num_obstacles:
            collided = (action == FORWARD) & front_occupied
            reward = jnp.where(collided, -1.0, success)
            terminated = on_goal | collided
        else:
            in_lava = jnp.any(jnp.all(world.get_lavas().position == position, axis=-1))
            reward = success
            terminated = on_goal | in_lava
        truncated = (time >= max_steps) & ~terminated
        return (
            observe(world),
            MiniGridState(world=world, time=time),
            jnp.asarray(reward, jnp.float32),
            terminated,
            truncated,
        )

    return JaxEnv(spec=spec, reset=reset, step=step)


def egocentric_view(world, name: str) -> jax.Array:
    """Returns MiniGrid's ``obs["image"]`` for navix state ``world`` of task ``name``: uint8
    [7, 7, 3] indexed ``[x, y, channel]``, agent at ``AGENT_VIEW_POS`` facing up (-y)."""
    import navix

    task = _task(name)
    image = jnp.swapaxes(navix.observations.symbolic_first_person(world), 0, 1)
    if not task.see_through_walls:
        visible = _visibility(image[:, :, 0] == _WALL)
        image = jnp.where(visible[:, :, None], image, jnp.uint8(_UNSEEN))
    return image


def _visibility(opaque: jax.Array) -> jax.Array:
    """Returns MiniGrid's ``Grid.process_vis`` mask (core/grid.py:291-328) for a view whose
    cells ``opaque[x, y]`` block sight, with the agent at ``AGENT_VIEW_POS``.

    Row by row from the agent's row up: within a row, sight spreads right, then left, from the
    seen cells through see-through cells (reaching the first opaque one); a seen see-through
    cell also reveals the three cells above it (x - 1, x, x + 1).
    """
    width = opaque.shape[0]
    src = jnp.arange(width)[:, None]  # the cell sight spreads from
    dst = jnp.arange(width)[None, :]  # the cell it reaches

    def one_row(seen, opaque_row):  # seen, opaque_row: [width] bool
        # walls[a] = number of opaque cells among x < a
        walls = jnp.concatenate([jnp.zeros((1,), jnp.int32), jnp.cumsum(opaque_row)])
        # Left to right, s reaches d >= s when no cell in [s, d) is opaque; then right to left,
        # s reaches d <= s when none in (d, s] is.
        rightward = (src <= dst) & (walls[dst] == walls[src])
        row = jnp.any(seen[:, None] & rightward, axis=0)
        leftward = (dst <= src) & (walls[src + 1] == walls[dst + 1])
        row = jnp.any(row[:, None] & leftward, axis=0)
        lit = row & ~opaque_row
        above = jnp.any(lit[:, None] & (jnp.abs(src - dst) <= 1), axis=0)
        return above, row

    seen = jnp.zeros((width,), bool).at[AGENT_VIEW_POS[0]].set(True)
    _, rows = jax.lax.scan(one_row, seen, opaque.T[::-1])  # from the agent's row (y = 6) up
    return rows[::-1].T


def _dynamic_obstacles_world(key, task: _Task, cache):
    """Returns navix's state for a fresh Dynamic-Obstacles layout, placed as MiniGrid does."""
    import navix
    from navix.entities import Ball, Entities, Goal, Player

    size = task.size
    grid = navix.grid.room(height=size, width=size)
    player_pos = jnp.asarray([1, 1])
    goal_pos = jnp.asarray([size - 2, size - 2])
    cells = jnp.stack(jnp.meshgrid(jnp.arange(size), jnp.arange(size), indexing="ij"), -1)
    cells = cells.reshape(-1, 2)
    free = (grid.reshape(-1) == 0) & ~_same(cells, player_pos) & ~_same(cells, goal_pos)
    ball_key, state_key = jax.random.split(key)
    # Sequential rejection sampling over free cells (minigrid_env.py:313-372) = without replacement.
    idx = jax.random.choice(ball_key, cells.shape[0], (task.num_obstacles,), replace=False,
                            p=free / free.sum())
    balls = Ball.create(
        position=cells[idx],
        colour=jnp.full((task.num_obstacles,), navix.rendering.registry.PALETTE.BLUE),
        probability=jnp.ones((task.num_obstacles,)),
    )
    player = Player.create(position=player_pos, direction=jnp.asarray(0),
                           pocket=navix.components.EMPTY_POCKET_ID)
    goal = Goal.create(position=goal_pos, probability=jnp.asarray(1.0))
    entities = {Entities.PLAYER: player[None], Entities.GOAL: goal[None], Entities.BALL: balls}
    return navix.states.State(key=state_key, grid=grid, cache=cache, entities=entities)


_NEIGHBOURHOOD = tuple((dr, dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1))


def _front_occupied(world) -> jax.Array:
    """Returns whether the cell in front of the agent holds a wall or a ball (MiniGrid's
    ``front_cell and front_cell.type != "goal"``, envs/dynamicobstacles.py:141-143)."""
    import navix

    player = world.get_player()
    front = navix.grid.translate(player.position, player.direction)
    wall = world.grid[front[0], front[1]] != 0
    return wall | jnp.any(_same(world.get_balls().position, front))


def _move_obstacles(world, key):
    """Returns ``world`` with each ball, in turn, moved to a uniform free cell of its 3x3 block
    (envs/dynamicobstacles.py:145-156); a ball with no free cell stays."""
    balls = world.get_balls()
    blocked = jnp.stack([world.get_player().position, world.get_goals().position[0]])
    offsets = jnp.asarray(_NEIGHBOURHOOD)
    # One uniform per (ball, cell); the largest over a ball's free cells is a uniform choice.
    scores = jax.random.uniform(key, (balls.position.shape[0], len(_NEIGHBOURHOOD)))

    def move_one(i, positions):  # positions: [n, 2] (row, col), balls before i already moved
        candidates = positions[i] + offsets  # [9, 2]; the centre is the ball's own cell
        occupied = jnp.concatenate([positions, blocked])
        free = (world.grid[candidates[:, 0], candidates[:, 1]] == 0) & ~jnp.any(
            jnp.all(candidates[:, None] == occupied[None], axis=-1), axis=1)
        choice = jnp.argmax(jnp.where(free, scores[i], -1.0))
        return positions.at[i].set(jnp.where(jnp.any(free), candidates[choice], positions[i]))

    positions = jax.lax.fori_loop(0, balls.position.shape[0], move_one, balls.position)
    return world.set_balls(balls.replace(position=positions))


def _same(positions: jax.Array, position: jax.Array) -> jax.Array:
    return jnp.all(positions == position, axis=-1)


def _strongly_typed(tree):
    # navix builds some fields from Python scalars (weakly typed); fixing their dtypes makes a
    # reset state and a stepped state the same type, so jitted callers do not retrace.
    def strong(x):
        if jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
            return x
        return jax.lax.convert_element_type(x, x.dtype)

    return jax.tree.map(strong, tree)


def _copy(world):
    # navix's setters write into ``world.entities`` in place; a fresh dict keeps step pure.
    return world.replace(entities=dict(world.entities))


def _task(name: str) -> _Task:
    if name not in _TASKS:
        raise EnvError(f"unknown navix env '{name}': expected one of {', '.join(_TASKS)}")
    return _TASKS[name]


def _check_observation(observation: str) -> None:
    if observation not in OBSERVATIONS:
        raise EnvError(f"navix env option 'observation': expected one of "
                       f"{', '.join(OBSERVATIONS)}, found '{observation}'")
