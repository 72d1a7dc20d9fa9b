"""Does the model help on locomotion? MOPO and MOBILE as the locomotion study trains them (real
ratio 0.05) against the same learners on real data only (real ratio 1.0): same data, seeds,
dynamics ensemble, budget and networks (``experiments/locomotion_learners.py --scale=default``'s
sweep specs, one env).

    .venv/bin/python bench/locomotion_real_ratio.py                   # HalfCheetah-v5
    .venv/bin/python bench/locomotion_real_ratio.py --algos=mopo --env=Hopper-v5

The real-only arm is the study's spec with ``real_ratio=1.0`` on its grid and its own sweep name;
the ensemble is trained from the spec's seed and config, so both arms roll out the same model
(the real-only arm never uses it). Records go to --out (a results store: a rerun trains only what
is missing); the study's own records for these learners are copied there first from --study
(same config, same hash), so its runs are not trained twice. Prints the D4RL-normalised final
score per seed and arm, and the paired difference.
"""

from __future__ import annotations

import argparse
import dataclasses
import pathlib
import shutil
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from experiments import locomotion_learners as ll  # noqa: E402
from experiments.common import final_score, run_sweeps  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algos", default="mopo,mobile")
    parser.add_argument("--env", default="HalfCheetah-v5")
    parser.add_argument("--study", default=str(ROOT / "results" / "locomotion_learners" /
                                               "default"))
    parser.add_argument("--out", default=str(ROOT / "bench" / ".cache" /
                                             "locomotion_real_ratio"))
    args = parser.parse_args()
    scale = dataclasses.replace(ll.SCALES["default"], envs=(args.env,))
    out = pathlib.Path(args.out)
    (out / "records").mkdir(parents=True, exist_ok=True)
    algos = args.algos.split(",")
    for path in sorted((pathlib.Path(args.study) / "records").glob("*.json")):
        if not (out / "records" / path.name).exists():
            shutil.copy(path, out / "records" / path.name)
    specs, arms = [], {}
    for spec in ll.sweep_specs(scale, algos):
        algo = spec.algos[0]
        control = dataclasses.replace(spec, name=f"{spec.name}_real_only",
                                      grid={algo: ("real_ratio=1.0",)})
        specs += [spec, control]
        arms[algo] = (spec.name, control.name)
    _, records = run_sweeps(specs, out)
    print(f"\n{args.env}/medium-replay (mujoco-small), {scale.num_seeds} seeds, "
          f"{scale.updates('mopo')} updates; D4RL-normalised final score per seed\n")
    print("| learner | real ratio 0.05 (study) | real ratio 1.0 | paired difference (mean) |")
    print("|---|---|---|---|")
    for algo, (study, control) in arms.items():
        def scores(sweep):
            runs = sorted((r for r in records
                           if (r["config"]["sweep"], r["config"]["algo"]) == (sweep, algo)),
                          key=lambda r: r["config"]["seed"])
            return np.array([final_score(r) for r in runs], float)
        model, real = scores(study), scores(control)
        print(f"| {algo} | {np.round(model, 1).tolist()} (mean {model.mean():.1f}) | "
              f"{np.round(real, 1).tolist()} (mean {real.mean():.1f}) | "
              f"{(model - real).mean():+.1f} |")


if __name__ == "__main__":
    main()
