"""OGBench manipulation datasets generated locally with OGBench's own scripted oracles (the
``ogbench`` package ships the envs and oracles, not the data).

As seohongpark/ogbench ``data_gen_scripts/generate_manipspace.py`` (at 1d41409; lines cited):
  env      gymnasium.make(<env>, terminate_at_goal=False, mode="data_collection",
           max_episode_steps=1001)                                         (lines 37-42)
  oracles  "play": the plan oracles (CubePlanOracle ..., noise 0.1, noise_smoothing 0.5);
           "noisy": the Markov oracles (min_norm 0.4; the scene's cube oracle max_step 100,
           the puzzle's button oracle with the gripper always closed) plus Gaussian action
           noise of scale xi ~ U(0, 0.1) per episode, [xi, xi, xi, 3 xi, 10 xi] per
           dimension                                                       (lines 44-86, 113-134)
  per episode: a cube-stacking probability p_stack (single 0; double U(0, 0.25); triple
           U(0.05, 0.35); quadruple U(0.1, 0.5); octuple U(0, 0.35); else 0.5), then for every
           step a random action with probability p_random_action (noisy: cube/scene 0.1,
           puzzle 0.2, ``commands.sh``), else the oracle's (clipped to [-1, 1]); when the
           oracle's task is done the env draws a new target                (lines 96-143)
  rows     the observation before the action, the action, done, and the env's prev_qpos /
           prev_qvel / prev_button_states                                  (lines 145-151)
  scene    an episode whose cube leaves the visible region is redrawn      (lines 156-175)
  split    ``num_episodes`` training episodes to ``<name>.npz``, num_episodes // 10 more to
           ``<name>-val.npz``                                              (lines 91-204)
The files are in OGBench's raw layout, so ``data.ogbench.load_ogbench`` (and ``io.load``) read
them. Paper sizes (``commands.sh``): 1,000 episodes of 1,001 steps (cube-triple and puzzle-4x5
3,000; cube-quadruple and puzzle-4x6 5,000).

Difference: OGBench's script seeds nothing (its ``--seed`` flag is unused); here episode i
(attempt j) seeds NumPy and the env's reset with (seed, i, j), so a build is reproducible and
resumes after an interruption from its last saved episode (``<name>.partial.npz``, written
every ``save_every`` episodes; removed when the build completes).
"""

from __future__ import annotations

import os
import pathlib
from collections import defaultdict
from typing import Any, Callable

import numpy as np

from jaxrl_suite.data.io import atomic_write
from jaxrl_suite.errors import SuiteError

MANIPULATION = ("cube-single", "cube-double", "cube-triple", "cube-quadruple", "cube-octuple",
                "scene", "puzzle-3x3", "puzzle-4x4", "puzzle-4x5", "puzzle-4x6")
DATASET_TYPES = ("play", "noisy")
PAPER_EPISODES = {"cube-triple": 3000, "cube-quadruple": 5000, "puzzle-4x5": 3000,
                  "puzzle-4x6": 5000}  # commands.sh; every other env 1,000
MAX_EPISODE_STEPS = 1001  # commands.sh --max_episode_steps


def p_random_action(env: str, dataset_type: str) -> float:
    """Returns the share of random actions of OGBench's commands (noisy: puzzle 0.2, else 0.1;
    play: 0)."""
    if dataset_type == "play":
        return 0.0
    return 0.2 if env.startswith("puzzle") else 0.1


def _p_stack(env: str, rng: np.random.RandomState) -> float:
    for name, (lo, hi) in (("single", (0.0, 0.0)), ("double", (0.0, 0.25)),
                           ("triple", (0.05, 0.35)), ("quadruple", (0.1, 0.5)),
                           ("octuple", (0.0, 0.35))):
        if name in env:
            return rng.uniform(lo, hi) if hi > 0 else 0.0
    return 0.5


def _oracles(env_name: str, gym_env: Any, dataset_type: str, noise: float,
             noise_smoothing: float, min_norm: float) -> dict[str, Any]:
    from ogbench.manipspace.oracles.markov.button_markov import ButtonMarkovOracle
    from ogbench.manipspace.oracles.markov.cube_markov import CubeMarkovOracle
    from ogbench.manipspace.oracles.markov.drawer_markov import DrawerMarkovOracle
    from ogbench.manipspace.oracles.markov.window_markov import WindowMarkovOracle
    from ogbench.manipspace.oracles.plan.button_plan import ButtonPlanOracle
    from ogbench.manipspace.oracles.plan.cube_plan import CubePlanOracle
    from ogbench.manipspace.oracles.plan.drawer_plan import DrawerPlanOracle
    from ogbench.manipspace.oracles.plan.window_plan import WindowPlanOracle

    markov = dataset_type == "noisy"
    plan = dict(env=gym_env, noise=noise, noise_smoothing=noise_smoothing)
    if env_name.startswith("cube"):
        return {"cube": CubeMarkovOracle(env=gym_env, min_norm=min_norm) if markov
                else CubePlanOracle(**plan)}
    if env_name.startswith("scene"):
        if markov:
            return {"cube": CubeMarkovOracle(env=gym_env, min_norm=min_norm, max_step=100),
                    "button": ButtonMarkovOracle(env=gym_env, min_norm=min_norm),
                    "drawer": DrawerMarkovOracle(env=gym_env, min_norm=min_norm),
                    "window": WindowMarkovOracle(env=gym_env, min_norm=min_norm)}
        return {"cube": CubePlanOracle(**plan), "button": ButtonPlanOracle(**plan),
                "drawer": DrawerPlanOracle(**plan), "window": WindowPlanOracle(**plan)}
    return {"button": ButtonMarkovOracle(env=gym_env, min_norm=min_norm,
                                         gripper_always_closed=True) if markov
            else ButtonPlanOracle(**plan, gripper_always_closed=True)}


def _healthy_scene(qpos: np.ndarray) -> bool:
    """The scene's visibility check (generate_manipspace.py:156-166)."""
    block = qpos[:, 14:17]
    if (block[:, 1] >= 0.29).any():
        return False
    return not ((block[:, 1] <= -0.3) & ((block[:, 2] < 0.06) | (block[:, 2] > 0.08))).any()


def _episode(gym_env: Any, env_name: str, oracles: dict[str, Any], dataset_type: str,
             p_random: float, seed: int, max_steps: int) -> dict[str, list]:
    rng = np.random.RandomState(seed)
    np.random.seed(seed % 2**32)  # the oracles draw their noise from NumPy's global state
    ob, info = gym_env.reset(seed=seed % 2**31)
    space = gym_env.action_space
    p_stack = _p_stack(env_name, rng)
    xi = rng.uniform(0.0, 0.1) if dataset_type == "noisy" else 0.0  # --noise 0.1
    agent = oracles[info["privileged/target_task"]]
    agent.reset(ob, info)
    rows: dict[str, list] = defaultdict(list)
    done, steps = False, 0
    while not done:
        if rng.rand() < p_random:  # action_space.sample(): uniform over the bounded box
            # (drawn from the episode's RandomState: the env builds a new, unseeded space on
            # every access to ``action_space``)
            action = rng.uniform(space.low, space.high).astype(space.dtype)
        else:
            action = np.array(agent.select_action(ob, info))
            if dataset_type == "noisy":
                action = action + rng.normal(0, [xi, xi, xi, xi * 3, xi * 10], action.shape)
        action = np.clip(action, -1, 1)
        next_ob, _, terminated, truncated, info = gym_env.step(action)
        done = terminated or truncated
        if agent.done:
            agent_ob, agent_info = gym_env.unwrapped.set_new_target(p_stack=p_stack)
            agent = oracles[agent_info["privileged/target_task"]]
            agent.reset(agent_ob, agent_info)
        rows["observations"].append(ob)
        rows["actions"].append(action)
        rows["terminals"].append(done)
        rows["qpos"].append(info["prev_qpos"])
        rows["qvel"].append(info["prev_qvel"])
        if "prev_button_states" in info:
            rows["button_states"].append(info["prev_button_states"])
        ob = next_ob
        steps += 1
        if steps > max_steps:
            raise SuiteError(f"{env_name}: an episode ran past {max_steps} steps")
    return rows


def _as_arrays(rows: dict[str, list]) -> dict[str, np.ndarray]:
    dtypes = {"terminals": bool, "button_states": np.int64}  # generate_manipspace.py:190-199
    return {k: np.asarray(v, dtypes.get(k, np.float32)) for k, v in rows.items()}


def _save(path: pathlib.Path, arrays: dict[str, np.ndarray]) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
    atomic_write(path, write)


def generate_manipulation(env_name: str, dataset_type: str, out_dir: str | os.PathLike, *,
                          num_episodes: int | None = None, seed: int = 0,
                          max_episode_steps: int = MAX_EPISODE_STEPS, noise: float = 0.1,
                          noise_smoothing: float = 0.5, min_norm: float = 0.4,
                          save_every: int = 50, progress: bool = True,
                          log: Callable[[str], None] = print) -> tuple[pathlib.Path, pathlib.Path]:
    """Returns (training file, validation file) of ``<env>-<type>-v0`` in ``out_dir``, built
    with OGBench's oracles (cached: an existing pair is returned as it is; an interrupted build
    resumes). ``env_name`` is OGBench's env without version (e.g. "cube-double"),
    ``num_episodes`` the training episodes (default: the paper's)."""
    if env_name not in MANIPULATION:
        raise SuiteError(f"OGBench generation: env '{env_name}': expected one of "
                         f"{list(MANIPULATION)}")
    if dataset_type not in DATASET_TYPES:
        raise SuiteError(f"OGBench generation: dataset type '{dataset_type}': expected one of "
                         f"{list(DATASET_TYPES)}")
    try:
        import gymnasium
        import ogbench.manipspace  # noqa: F401  (registers the envs)
    except ImportError as exc:
        raise SuiteError(f"OGBench generation needs the 'ogbench' package ({exc}); it is in "
                         "the pinned dependencies: run `make install`") from exc
    num_episodes = num_episodes or PAPER_EPISODES.get(env_name, 1000)
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    name = f"{env_name}-{dataset_type}-v0"
    train_path, val_path = out_dir / f"{name}.npz", out_dir / f"{name}-val.npz"
    if train_path.exists() and val_path.exists():
        return train_path, val_path
    partial = out_dir / f"{name}.partial.npz"
    total = num_episodes + max(num_episodes // 10, 1)  # at least one validation episode
    episodes: list[dict[str, np.ndarray]] = []
    if partial.exists():
        with np.load(partial) as f:
            stored = {k: f[k] for k in f.files}
        ends = np.flatnonzero(stored["terminals"]) + 1
        starts = np.concatenate([[0], ends[:-1]])
        episodes = [{k: v[s:e] for k, v in stored.items()} for s, e in zip(starts, ends)]
        log(f"[{name}] resuming after {len(episodes)} of {total} episodes")
    gym_env = gymnasium.make(f"{env_name}-v0", terminate_at_goal=False, mode="data_collection",
                             max_episode_steps=max_episode_steps)
    oracles = _oracles(env_name, gym_env, dataset_type, noise, noise_smoothing, min_norm)
    p_random = p_random_action(env_name, dataset_type)
    from tqdm import trange

    for i in trange(len(episodes), total, desc=name, disable=not progress, leave=False):
        for attempt in range(100):
            rows = _as_arrays(_episode(gym_env, env_name, oracles, dataset_type, p_random,
                                       (seed * 1_000_003 + i) * 101 + attempt,
                                       max_episode_steps))
            if not env_name.startswith("scene") or _healthy_scene(rows["qpos"]):
                break
        else:
            raise SuiteError(f"{name}: episode {i}: no healthy scene in 100 attempts")
        episodes.append(rows)
        if (i + 1) % save_every == 0 and i + 1 < total:
            _save(partial, {k: np.concatenate([e[k] for e in episodes]) for k in rows})
    keys = episodes[0].keys()
    _save(train_path, {k: np.concatenate([e[k] for e in episodes[:num_episodes]]) for k in keys})
    _save(val_path, {k: np.concatenate([e[k] for e in episodes[num_episodes:]]) for k in keys})
    partial.unlink(missing_ok=True)
    log(f"[{name}] {num_episodes} + {total - num_episodes} episodes, "
        f"{sum(len(e['actions']) for e in episodes[:num_episodes])} training rows")
    return train_path, val_path
