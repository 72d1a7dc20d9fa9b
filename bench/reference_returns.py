"""Measures reference returns: the uniform random policy's mean return (``ref_min``) and, for
MiniGrid-LavaGapS7, the exact optimal return (``ref_max``) by a shortest-path oracle.

gymnasium's MuJoCo v5 ids run in the host evaluator (C MuJoCo), D4RL's ref_min protocol
(``scripts/reference_scores/generate_ref_min_score.py``: 100 episodes of
``env.action_space.sample()``); every other registered name runs in the suite's jitted, vmapped
``evaluate`` (uniform random actions, each episode to its first terminated-or-truncated step).

    .venv/bin/python bench/reference_returns.py                    # the four MuJoCo envs
    .venv/bin/python bench/reference_returns.py --envs Ant-v5 --episodes 200
    .venv/bin/python bench/reference_returns.py --episodes 1000 --envs MiniGrid-LavaGapS7-v0 \\
        MiniGrid-Dynamic-Obstacles-8x8-v0 Breakout-MinAtar SpaceInvaders-MinAtar \\
        MaskedPendulum-v1 MaskedCartPole-v1 --oracle

``--oracle`` adds, for MiniGrid-LavaGapS7-v0, the optimal return averaged over ``--episodes``
random layouts: a breadth-first search over (cell, heading) states with the 3 actions gives the
fewest steps n to the goal avoiding lava, return ``1 - 0.9 * n / max_steps``; each shortest
path is then replayed in the env and must earn exactly that return.
"""

from __future__ import annotations

import argparse
import collections
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl_suite.envs.evaluate import evaluate, random_policy
from jaxrl_suite.envs.host_eval import HostEvaluator
from jaxrl_suite.envs.mujoco import MUJOCO_ENV_NAMES
from jaxrl_suite.envs.registry import make_env

LAVA_GAP = "MiniGrid-LavaGapS7-v0"
# navix headings 0 east, 1 south, 2 west, 3 north as (row, col) steps.
_HEADINGS = ((0, 1), (1, 0), (0, -1), (-1, 0))
_LEFT, _RIGHT, _FORWARD = 0, 1, 2


def random_returns(name: str, episodes: int, seed: int) -> np.ndarray:
    """Returns the uniform random policy's undiscounted returns of ``episodes`` episodes."""
    if name in MUJOCO_ENV_NAMES:
        evaluator = HostEvaluator(name)
        try:
            return np.asarray(evaluator.evaluate(random_policy(evaluator.spec), None,
                                                 jax.random.PRNGKey(seed)[None], episodes)[0])
        finally:
            evaluator.close()
    env = make_env(name)
    run = jax.jit(lambda key: evaluate(random_policy(env.spec), None, env, key, episodes))
    return np.asarray(run(jax.random.PRNGKey(seed)).returns)


def shortest_path(walls: np.ndarray, lava: set, start, heading: int, goal) -> list[int]:
    """Returns a shortest action sequence (0 left, 1 right, 2 forward) from ``start`` facing
    ``heading`` to ``goal`` that never enters lava; cells are (row, col), walls [H, W] bool."""
    begin = (tuple(start), heading)
    parents = {begin: None}
    queue = collections.deque([begin])
    while queue:
        (cell, head) = node = queue.popleft()
        if cell == tuple(goal):
            actions = []
            while parents[node] is not None:
                node, action = parents[node]
                actions.append(action)
            return actions[::-1]
        ahead = (cell[0] + _HEADINGS[head][0], cell[1] + _HEADINGS[head][1])
        moves = [((cell, (head - 1) % 4), _LEFT), ((cell, (head + 1) % 4), _RIGHT)]
        if not walls[ahead] and ahead not in lava:
            moves.append(((ahead, head), _FORWARD))
        for child, action in moves:
            if child not in parents:
                parents[child] = (node, action)
                queue.append(child)
    raise ValueError("goal unreachable")


def lava_gap_optimal_returns(episodes: int, seed: int) -> np.ndarray:
    """Returns the optimal return of ``episodes`` random LavaGapS7 layouts, each checked by
    replaying its shortest path in the env."""
    env = make_env(LAVA_GAP)
    max_steps = env.spec.max_episode_steps
    keys = jax.random.split(jax.random.PRNGKey(seed), episodes)
    _, states = jax.jit(jax.vmap(env.reset))(keys)
    world = jax.device_get(states.world)
    walls = np.asarray(world.grid[0]) != 0  # the same room every layout
    paths = []
    for i in range(episodes):
        lava = {tuple(p) for p in np.asarray(world.entities["lava"].position[i])}
        player = world.entities["player"]
        paths.append(shortest_path(walls, lava, np.asarray(player.position[i, 0]),
                                   int(player.direction[i, 0]),
                                   np.asarray(world.entities["goal"].position[i, 0])))
    lengths = np.asarray([len(p) for p in paths])
    optimal = 1.0 - 0.9 * lengths / max_steps
    # Replay: pad each path with turns (after the goal the env's flags stop the episode).
    actions = np.full((episodes, lengths.max()), _LEFT, np.int32)
    for i, path in enumerate(paths):
        actions[i, :len(path)] = path

    def replay_one(state, path):  # path: [L] int32 actions
        def one_step(carry, action):
            state, done, total, steps = carry
            _, state, reward, terminated, truncated = env.step(state, action, jax.random.PRNGKey(0))
            total = total + jnp.where(done, 0.0, reward)
            steps = steps + jnp.where(done, 0, 1)
            return (state, done | terminated | truncated, total, steps), None

        init = (state, jnp.asarray(False), jnp.asarray(0.0), jnp.asarray(0))
        (_, done, total, steps), _ = jax.lax.scan(one_step, init, path)
        return done, total, steps

    done, total, steps = jax.jit(jax.vmap(replay_one))(states, jnp.asarray(actions))
    assert np.all(np.asarray(done)) and np.array_equal(np.asarray(steps), lengths)
    np.testing.assert_allclose(np.asarray(total), optimal, rtol=0, atol=1e-6)
    return optimal


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--envs", nargs="+", default=list(MUJOCO_ENV_NAMES))
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--oracle", action="store_true",
                        help=f"also the exact optimal return of {LAVA_GAP}")
    args = parser.parse_args()
    print(f"JAX {jax.__version__}, backend {jax.default_backend()}")
    print("| env | policy | episodes | mean return | std | standard error | seconds |")
    print("|---|---|---|---|---|---|---|")
    rows = [(name, "uniform random", random_returns) for name in args.envs]
    if args.oracle and LAVA_GAP in args.envs:
        rows.append((LAVA_GAP, "optimal (BFS)",
                     lambda name, episodes, seed: lava_gap_optimal_returns(episodes, seed)))
    for name, policy, measure in rows:
        start = time.perf_counter()
        returns = np.asarray(measure(name, args.episodes, args.seed), np.float64)
        seconds = time.perf_counter() - start
        print(f"| {name} | {policy} | {len(returns)} | {returns.mean():.4f} | "
              f"{returns.std():.4f} | {returns.std() / np.sqrt(len(returns)):.4f} | "
              f"{seconds:.1f} |", flush=True)


if __name__ == "__main__":
    main()
