"""How closely the MJX ports follow gymnasium's C-MuJoCo envs (the figures in BUILD_NOTES.md).

    PYTHONPATH=. .venv/bin/python bench/mujoco_agreement.py [--envs Hopper-v5,Ant-v5] [--x64]
        [--episodes 64]

Uses the test helpers (``tests/envs/mujoco_check.py``): 16 envs x 24 random-action steps with
the MJX state synced to gymnasium's before each step (one-step errors), and a fixed linear
policy's returns over ``--episodes`` episodes of 100 steps (Ant: 30) in both backends.
``--x64`` runs MJX in float64, to tell float32 rounding from a difference of the solvers.
"""

from __future__ import annotations

import argparse
import json
import os
import sys


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--envs", default="HalfCheetah-v5,Hopper-v5,Walker2d-v5,Ant-v5")
    parser.add_argument("--episodes", type=int, default=64)
    parser.add_argument("--x64", action="store_true")
    args = parser.parse_args()
    if args.x64:
        os.environ["JAX_ENABLE_X64"] = "1"  # before jax is imported
    import numpy as np

    from tests.envs import mujoco_check as mc

    for name in args.envs.split(","):
        length, episodes = mc.MC_SETTINGS.get(name, (mc.MC_EPISODE_LENGTH, args.episodes))
        port = mc.Port(name, episode_length=length)
        obs_err, rew_err, terms, gym_obs = mc.synced_step_errors(port)
        n = mc.STATE_DIMS[name]
        ok = obs_err[..., :n] <= mc.ATOL + mc.RTOL * np.abs(gym_obs[..., :n])
        W, b = mc.linear_policy(gym_obs.shape[-1], port.env.spec.action_dim)
        ours, our_len = mc.mjx_returns(port, W, b, episodes)
        theirs, their_len = mc.gym_returns(port, W, b, episodes)
        row = dict(
            env=name, x64=args.x64, worst_state_error=float(obs_err[..., :n].max()),
            share_within_tolerance=float(ok.mean()), steps_all_within=float(ok.all(-1).mean()),
            reward_error_max=float(rew_err.max()), reward_error_median=float(np.median(rew_err)),
            terminations_equal=bool((terms[..., 0] == terms[..., 1]).all()),
            mc_episodes=episodes, mc_steps=length,
            return_mjx=[round(float(ours.mean()), 2), round(float(ours.std()), 2)],
            return_gym=[round(float(theirs.mean()), 2), round(float(theirs.std()), 2)],
            length_mjx=float(our_len.mean()), length_gym=float(their_len.mean()))
        if n < gym_obs.shape[-1]:
            row["contact_force_share_within_0.05"] = float((obs_err[..., n:] <= 0.05).mean())
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
