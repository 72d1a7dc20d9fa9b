"""The effect of the references' initialisations and reward preprocessing (issue 14 item 9) on
one locomotion dataset: each learner at its new defaults beside the same learner with flax's
init (and, for IQL, without the 1000 / return-range reward scaling, then with one of the two
changes at a time), in one run on the same data, seeds and budget as
``experiments/locomotion_learners.py --scale=default`` (its sweep specs, one env):

    .venv/bin/python bench/reference_inits.py                      # HalfCheetah-v5/medium-replay
    .venv/bin/python bench/reference_inits.py --algos=iql --env=Hopper-v5
    .venv/bin/python bench/reference_inits.py --algos=cql,rebrac   # JaxCQL's init (session 16)

Needs the env's ``mujoco-small`` datasets (built if missing: ``generate --suite=mujoco-small``
builds one env in ~11 min on 2 cores). Records go to --out (a results store, so a rerun
trains only what is missing); the table prints the D4RL-normalised final score (mean +- std
over the seeds) per variant.
"""

from __future__ import annotations

import argparse
import dataclasses
import pathlib
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from experiments import locomotion_learners as ll  # noqa: E402
from experiments.common import final_score, run_sweeps  # noqa: E402

# (label, learner_config overrides) per learner; the first is the new default.
VARIANTS = {
    "iql": (("orthogonal + iql_locomotion (default)", {}),
            ("orthogonal, rewards as recorded", {"reward_transform": "none"}),
            ("flax + iql_locomotion", {"param_init": "flax"}),
            ("flax, rewards as recorded (before)", {"param_init": "flax",
                                                    "reward_transform": "none"})),
    # Both at the task's betas (the authors' config, since session 16; 1.0 before).
    "rebrac": (("corl (default)", {}), ("flax", {"param_init": "flax"})),
    "cql": (("jaxcql + affine log-std (default)", {}),
            ("flax + tanh log-std (before)", {"param_init": "flax", "log_std_bound": "tanh"})),
    "edac": (("corl + clipped log-std (default)", {}),
             ("flax + tanh log-std (before)", {"param_init": "flax", "log_std_bound": "tanh"})),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algos", default="iql,rebrac")
    parser.add_argument("--env", default="HalfCheetah-v5")
    parser.add_argument("--out", default=str(ROOT / "bench" / ".cache" / "reference_inits"))
    args = parser.parse_args()
    scale = dataclasses.replace(ll.SCALES["default"], envs=(args.env,))
    algos = args.algos.split(",")
    specs, labels = [], {}
    for spec in ll.sweep_specs(scale, algos):
        algo = spec.algos[0]
        for i, (label, overrides) in enumerate(VARIANTS[algo]):
            # The default keeps the study's sweep name: its records are the study's own runs
            # (same config, same hash), which results/locomotion_learners/default/ can take.
            name = spec.name if i == 0 else f"reference_inits_{algo}_{i}"
            specs.append(dataclasses.replace(spec, name=name, learner_config=overrides))
            labels[name, algo] = label
    _, records = run_sweeps(specs, args.out)
    print(f"\n{args.env}/medium-replay (mujoco-small), {scale.num_seeds} seeds, "
          f"{scale.num_updates} updates (CQL/EDAC {scale.updates('edac')}), batch "
          f"{scale.batch_size}; D4RL-normalised final score\n")
    print("| learner | variant | score (mean +- std) | seeds | program s |")
    print("|---|---|---|---|---|")
    for (name, algo), label in labels.items():
        runs = [r for r in records if (r["config"]["sweep"], r["config"]["algo"]) == (name, algo)]
        scores = np.array([final_score(r) for r in runs], float)
        seconds = sum({r["program"]["seconds"] for r in runs if "program" in r})
        print(f"| {algo} | {label} | {scores.mean():.1f} +- {scores.std():.1f} | "
              f"{len(runs)} | {seconds:.0f} |")


if __name__ == "__main__":
    main()
