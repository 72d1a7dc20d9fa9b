"""NEUBAY's central claims (Ni et al., "Long-Horizon Model-Based Offline RL Without
Conservatism", arXiv 2512.04341; code twni2016/neubay): (a) the bandit illustration, a
Bayesian agent (no penalty) adapting at test time where a conservative one cannot; (b) NEUBAY
against the suite's MOPO and MOBILE on locomotion datasets (medium, medium-replay, random),
with the rollout horizons NEUBAY reaches (the claim: several hundred steps work, no
conservatism needed); (c) the README's ablations, each one vmapped grid on one dataset: the
truncation quantile {0.9, 0.99, 0.999, 1.0}, the penalty {0, 0.04, 0.2, 1, 5} and the
planning ensemble size {5, 20, 100} (README l. 171-176).

(b) and (c) are SweepSpecs of the shared sweep machinery, so a re-run trains only what the
store at --out (default results/neubay/<scale>/; the ablations' in its ``ablations/``) lacks;
every learner's dynamics ensemble is cached on disk (``<out>/ensembles``,
``model_based/cache.py``), so the ablations reuse (b)'s.

    .venv/bin/python experiments/neubay.py --scale=tiny      # tests
    .venv/bin/python experiments/neubay.py --scale=default   # this 2-core CPU
    .venv/bin/python experiments/neubay.py --scale=paper     # GPU-sized

Outputs: ``neubay_comparison.{md,csv}`` (per learner x dataset: final D4RL-normalised score,
mean and std over seeds, and NEUBAY's rollout-horizon statistics), ``neubay_ablations.{md,csv}``,
``rollout_lengths.png`` (NEUBAY's rollout-length histogram per dataset, all rounds), and
``bandit/`` (``model_based/neubay_bandit.py``).

Scales. ``paper``: the authors' budgets on the suite's GPU-sized ``mujoco`` datasets (not
D4RL's files): 2M updates, tapes of 2,048, 128 members (100 used), LRU d_model 256, 100
rollouts per round, 3 seeds; MOPO and MOBILE at their papers' settings and 1M updates.
``default`` fits a 2-core CPU and cuts (stated in ``DEFAULT_CUTS``). ``tiny`` is for tests.
The data are the suite's gymnasium-v5 datasets with its own random/expert normalisers, so the
authors' D4RL numbers are orientation, not targets.
"""

from __future__ import annotations

import dataclasses
import pathlib
import sys
from typing import Any, Callable, Sequence

import numpy as np

if not __package__:  # run as a script: make the `experiments` package importable
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from experiments.common import (define_study_flags, final_score, print_study, run_app,
                                run_sweeps, study_setup)
from jaxrl_suite.report import tables
from jaxrl_suite.sweep.bo import NEUBAY_PENALTIES, NEUBAY_QUANTILES
from jaxrl_suite.sweep.runner import SweepSpec

EXPERIMENT = "neubay"
COMPARED = ("neubay", "mopo", "mobile")
COMPARISON_COLUMNS = ("algo", "env", "level", "updates", "seeds", "diverged", "score",
                      "score_std", "horizon_mean", "horizon_q50", "horizon_max",
                      "truncated_by_uncertainty", "utd", "seconds")
ABLATION_COLUMNS = ("factor", "value", "env", "level", "updates", "seeds", "diverged", "score",
                    "score_std", "horizon_mean", "horizon_max", "seconds")
SETTING_NOTE = ("The suite's gymnasium-v5 datasets and normalisers (not D4RL's -v2 files), and "
                "at default far smaller budgets and networks than the paper's: read the "
                "authors' D4RL numbers for orientation, not as targets.")
DEFAULT_CUTS = (
    "NEUBAY at default: LRU d_model 64 / d_hidden 32 (paper 256 / 128), heads 2 x 64 (256), "
    "tapes of 512 (2,048), 20 rollouts per round (100), 5k updates (2M), 12 dynamics members "
    "trained with 10 used (128 / 100) and at most 15 epochs (a 24-member ensemble took over "
    "10 minutes per dataset here), the ensemble-size ablation over {2, 5, 10} (paper {5, 20, "
    "100}); HalfCheetah only; 2 seeds (paper 6); encoder learning rates 3e-5 and head 3e-4 "
    "(paper 1e-5 / 1e-4, tuned for 2M updates). MOPO and MOBILE: 5k updates (1M), their "
    "7-member ensembles capped at 15 epochs.")


@dataclasses.dataclass(frozen=True)
class Scale:
    suite: str
    envs: tuple[str, ...]
    levels: tuple[str, ...]
    num_seeds: int
    num_updates: int  # NEUBAY's
    eval_every: int
    eval_episodes: int
    tape_length: int
    neubay_config: tuple[tuple[str, Any], ...]  # NEUBAYConfig overrides
    neubay_ensemble: tuple[tuple[str, Any], ...]  # neubay_ensemble_config overrides
    neubay_hparams: tuple[tuple[str, str], ...]  # traced NEUBAYHParams overrides (grid values)
    baseline_updates: int  # MOPO's and MOBILE's
    baseline_ensemble: tuple[tuple[str, Any], ...]
    baseline_config: tuple[tuple[str, Any], ...]
    ablation_level: str  # the dataset of the ablations: envs[0] at this level
    elite_grid: tuple[int, ...]  # planning ensemble sizes of the ablation
    bandit_scale: str | None  # model_based/neubay_bandit.py's scale, None: no bandit part


def _lru(d_model: int, d_hidden: int):
    from jaxrl_suite.nets.lru import LRUConfig

    return LRUConfig(d_model=d_model, d_hidden=d_hidden)


_TINY_NET = (("memory", _lru(16, 8)), ("head_hidden", 32), ("num_critics", 4),
             ("rollouts_per_round", 8), ("horizon", 50))
_DEFAULT_NET = (("memory", _lru(64, 32)), ("head_hidden", 64), ("rollouts_per_round", 20))
_FAST_LR = (("critic_enc_lr", "3e-5"), ("actor_enc_lr", "3e-5"), ("critic_head_lr", "3e-4"),
            ("actor_head_lr", "3e-4"))
_ENVS = ("HalfCheetah-v5", "Hopper-v5", "Walker2d-v5")
SCALES = {
    "tiny": Scale(
        "mujoco-tiny", ("Hopper-v5",), ("medium-replay",), 2, 40, 20, 1, 64, _TINY_NET,
        (("num_members", 4), ("num_elites", 3), ("hidden_sizes", (16,)), ("max_epochs", 2)),
        _FAST_LR, 20,
        (("num_members", 3), ("num_elites", 2), ("hidden_sizes", (16,)),
         ("weight_decays", (2.5e-5, 5e-5)), ("max_epochs", 2)),
        (("rollout_starts", 16), ("buffer_size", 1_000), ("hidden_sizes", (16, 16))),
        "medium-replay", (2, 3), None),
    "default": Scale(
        "mujoco-small", ("HalfCheetah-v5",), ("medium", "medium-replay", "random"), 2, 5_000,
        1_000, 5, 512, _DEFAULT_NET,
        (("num_members", 12), ("num_elites", 10), ("max_epochs", 15)), _FAST_LR, 5_000,
        (("max_epochs", 15),), (), "medium-replay", (2, 5, 10), "default"),
    "paper": Scale(
        "mujoco", _ENVS, ("medium", "medium-replay", "random"), 3, 2_000_000, 20_000, 10,
        2_048, (), (), (), 1_000_000, (), (), "medium-replay", (5, 20, 100), "paper"),
}


def _datasets(scale: Scale, levels: Sequence[str] | None = None) -> tuple[str, ...]:
    return tuple(f"{env}/{level}" for env in scale.envs for level in (levels or scale.levels))


def _neubay_spec(scale: Scale, name: str, datasets: tuple[str, ...],
                 grid: dict[str, tuple[float, ...]]) -> SweepSpec:
    # The scale's fixed settings are one-value axes; an ablation adds its factor's values.
    axes = [f"{k}={v}" for k, v in scale.neubay_hparams if k not in grid]
    axes += [f"{k}={','.join(str(v) for v in values)}" for k, values in grid.items()]
    return SweepSpec(
        name=name, algos=("neubay",), datasets=datasets, suite=scale.suite,
        grid={"neubay": tuple(axes)}, num_seeds=scale.num_seeds, num_updates=scale.num_updates,
        eval_every=scale.eval_every, eval_episodes=scale.eval_episodes,
        batch_size=scale.tape_length, learner_config=dict(scale.neubay_config),
        ensemble=dict(scale.neubay_ensemble), ensemble_cache=_CACHE[0])


_CACHE = [None]  # the ensemble cache of this invocation (set by run_study)


def comparison_specs(scale: Scale) -> list[SweepSpec]:
    """Returns the specs of part (b): NEUBAY, MOPO and MOBILE on every dataset of the scale."""
    specs = [_neubay_spec(scale, "neubay_comparison", _datasets(scale), {})]
    for algo in ("mopo", "mobile"):
        specs.append(SweepSpec(
            name="neubay_comparison", algos=(algo,), datasets=_datasets(scale),
            suite=scale.suite, num_seeds=scale.num_seeds, num_updates=scale.baseline_updates,
            eval_every=min(scale.eval_every, scale.baseline_updates),
            eval_episodes=scale.eval_episodes, ensemble=dict(scale.baseline_ensemble),
            learner_config=dict(scale.baseline_config), ensemble_cache=_CACHE[0]))
    return specs


def ablation_grids(scale: Scale) -> dict[str, tuple[float, ...]]:
    """Returns the ablated factor -> its values (README l. 171-176; ensemble sizes scaled)."""
    return {"unc_quantile": NEUBAY_QUANTILES, "penalty_coef": NEUBAY_PENALTIES,
            "num_elites": tuple(float(v) for v in scale.elite_grid)}


def ablation_specs(scale: Scale) -> list[SweepSpec]:
    """Returns the specs of part (c): one vmapped grid per factor on the ablation dataset."""
    datasets = (f"{scale.envs[0]}/{scale.ablation_level}",)
    return [_neubay_spec(scale, f"neubay_ablation_{factor}", datasets, {factor: values})
            for factor, values in ablation_grids(scale).items()]


def _mean(values: Sequence[float]) -> float | None:
    values = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(values)) if values else None


def _summary(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    scores = np.array([final_score(r) for r in runs], float)
    metric = lambda name: _mean([r.get("metrics", {}).get(name) for r in runs])  # noqa: E731
    return dict(
        updates=",".join(map(str, sorted({r["config"]["num_updates"] for r in runs}))),
        seeds=len(runs), diverged=sum(bool(r.get("diverged")) for r in runs),
        score=float(scores.mean()) if runs else None,
        score_std=float(scores.std()) if runs else None,
        horizon_mean=metric("horizon_mean"), horizon_q50=metric("horizon_q50"),
        horizon_max=metric("horizon_max"),
        truncated_by_uncertainty=metric("truncated_by_uncertainty"), utd=metric("utd"),
        seconds=sum({r["program"]["seconds"] for r in runs if "program" in r}) if runs
        else None)


def comparison_rows(records: Sequence[dict[str, Any]], scale: Scale) -> list[dict[str, Any]]:
    """Returns per learner x dataset the score's mean and std over seeds and, for NEUBAY, the
    last chunk's rollout-horizon statistics (model steps per rollout, averaged over seeds)."""
    rows = []
    for algo in COMPARED:
        for env in scale.envs:
            for level in scale.levels:
                runs = [r for r in records if r["config"]["sweep"] == "neubay_comparison"
                        and (r["config"]["algo"], r["config"]["dataset"])
                        == (algo, f"{env}/{level}")]
                rows.append(dict(algo=algo, env=env, level=level, **_summary(runs)))
    return rows


def ablation_rows(records: Sequence[dict[str, Any]], scale: Scale) -> list[dict[str, Any]]:
    """Returns per ablation factor and value the score over seeds and the horizons."""
    rows = []
    env, level = scale.envs[0], scale.ablation_level
    for factor, values in ablation_grids(scale).items():
        for value in values:
            runs = [r for r in records if r["config"]["sweep"] == f"neubay_ablation_{factor}"
                    and np.isclose(float(r["config"]["hparams"][factor]), value)]
            row = _summary(runs)
            rows.append(dict(factor=factor, value=float(value), env=env, level=level,
                             **{k: row[k] for k in ABLATION_COLUMNS if k in row}))
    return rows


def plot_rollout_lengths(records: Sequence[dict[str, Any]], scale: Scale,
                         path: pathlib.Path, horizon: int) -> None:
    """Writes NEUBAY's rollout-length histogram per dataset (share of all rollouts of the run
    per bin of horizon / bins steps, averaged over seeds) to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = _datasets(scale)
    fig, axes = plt.subplots(1, len(datasets), figsize=(4 * len(datasets), 3.2), squeeze=False)
    for ax, name in zip(axes[0], datasets):
        runs = [r for r in records if r["config"]["sweep"] == "neubay_comparison"
                and r["config"]["algo"] == "neubay" and r["config"]["dataset"] == name]
        bins = sorted(k for k in (runs[0]["metrics"] if runs else {})
                      if k.startswith("rollout_len_bin"))
        if runs and bins:
            shares = np.array([[r["metrics"][b] for b in bins] for r in runs]).mean(0)
            width = horizon / len(bins)
            ax.bar(np.arange(len(bins)) * width, shares, width=width * 0.9, align="edge")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("model steps per rollout")
        ax.set_ylabel("share of rollouts")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run_study(scale: Scale, out: pathlib.Path, root: Any = None, *,
              cache: str | None = None, parts: Sequence[str] = ("bandit", "compare", "ablate"),
              log: Callable[[str], None] = print, progress: bool = True
              ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Returns (comparison rows, ablation rows, run_sweep summaries) after training what the
    store at ``out`` lacks and writing the tables, the histogram and the bandit study."""
    from jaxrl_suite.envs.registry import env_spec

    _CACHE[0] = cache if cache is not None else str(out / "ensembles")
    summaries: list[dict[str, Any]] = []
    comparison, ablation = [], []
    if "bandit" in parts and scale.bandit_scale is not None:
        from jaxrl_suite.model_based.neubay_bandit import run_bandit_study

        run_bandit_study(scale.bandit_scale, out / "bandit")
    if "compare" in parts:
        sums, records = run_sweeps(comparison_specs(scale), out, root=root, log=log,
                                   progress=progress)
        summaries += sums
        comparison = comparison_rows(records, scale)
        tables.write_table(out, "neubay_comparison", comparison, COMPARISON_COLUMNS)
        horizon = dict(scale.neubay_config).get(
            "horizon", env_spec(scale.envs[0]).max_episode_steps)
        plot_rollout_lengths(records, scale, out / "rollout_lengths.png", horizon)
    if "ablate" in parts:  # their own store: a default-valued cell repeats a comparison run
        sums, records = run_sweeps(ablation_specs(scale), out / "ablations", root=root,
                                   log=log, progress=progress)
        summaries += sums
        ablation = ablation_rows(records, scale)
        tables.write_table(out, "neubay_ablations", ablation, ABLATION_COLUMNS)
    return comparison, ablation, summaries


def main(argv: list[str]) -> None:
    del argv
    from absl import flags

    scale, out, start = study_setup(EXPERIMENT, SCALES)
    f = flags.FLAGS
    comparison, ablation, summaries = run_study(scale, out, f.minari_root, parts=f.parts)
    print_study(comparison, COMPARISON_COLUMNS, None, None, SETTING_NOTE, summaries, start, out)
    if ablation:
        print(tables.markdown_table(ablation, ABLATION_COLUMNS))
    if f.scale == "default":
        print(DEFAULT_CUTS)


if __name__ == "__main__":
    from absl import flags as _flags

    define_study_flags(EXPERIMENT, SCALES)
    _flags.DEFINE_list("parts", ["bandit", "compare", "ablate"], "Parts of the study to run.")
    run_app(main)
