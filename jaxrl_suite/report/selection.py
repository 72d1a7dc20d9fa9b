"""Online policy selection with a UCB bandit: Unifloral's evaluation protocol.

Jackson et al. (2025), "A Clean Slate for Offline RL", argue that offline RL results should say
how good a policy one can *pick* with a budget of online evaluations, not how good the best
tuned configuration is. Their protocol, as the authors' ``evaluation.py`` implements it
(github.com/EmptyJackson/unifloral at f2dc127; line numbers below are of that file):

- The arms are a population of trained policies (seeds x hyperparameter cells of one algorithm
  on one dataset); each comes with many final-evaluation episode returns (1,000 in Unifloral:
  ``algorithms/td3_bc.py`` lines 31 and 357-371; ``TrainConfig.final_eval_episodes`` here).
  Scores here are those returns D4RL-normalised (0 random, 100 expert).
- A trial draws ``subset`` policies without replacement (lines 234-244; ``subset`` is capped at
  the population, line 227) and runs ``max_pulls`` pulls of a UCB bandit over them
  (``run_bandit``, lines 141-200). A pull is one online evaluation: it draws one of the arm's
  episode returns uniformly (lines 181-182).
- The arm pulled maximises empirical mean + sqrt(alpha * log(total_pulls) / (counts + 1e-9))
  (``ucb``, line 122), ties broken uniformly at random (lines 136-138). ``total_pulls`` starts
  at 1 (line 168), so the first pull's bonus is 0 everywhere and the first arm is a uniform
  draw; after it every unpulled arm's bonus is ~sqrt(alpha log t / 1e-9), so each arm is pulled
  once before any twice. An arm never pulled has empirical mean 0 (rewards / max(counts, 1),
  line 176).
- After each pull the trial reports the *true* mean (over all its episodes) of the arm with the
  best empirical mean, the first such arm on ties (lines 191-193; unpulled arms compete at 0).
- ``repeats`` trials are vmapped (lines 243-251); the curve is their mean at each pull and its
  interval a percentile bootstrap of that mean, ``bootstraps`` resamples of the trials per
  pull (``bootstrap_confidence_interval`` and ``bootstrap_bandit_trials``, lines 255-328).
  Defaults are the authors': seed 17, subset 20, 1,000 trials of 200 pulls, alpha 2, 1,000
  bootstraps, 95%.

The PRNG keys are split and used as the authors' code uses them (seed -> three keys, lines
224-232; per pull three, line 173; the bootstrap's per-pull keys, lines 313-314), so the same
score table and settings give the authors' numbers to float precision (checked against
``evaluation.py``: BUILD_NOTES "UCB policy selection"). Everything runs as ONE jitted program,
trials vmapped; the bootstrap is a ``lax.map`` over pulls so that its [pulls, bootstraps,
trials] draws are never held at once.

``write_selection_report`` groups a results store's records (per method x dataset, every seed
and cell of the method pooled into one population) and writes the curves' CSV and Markdown
tables and their plot.
"""

from __future__ import annotations

import functools
import os
import pathlib
from typing import Any, Mapping, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl_suite.errors import SuiteError
from jaxrl_suite.report import plots, stats, tables

SEED = 17  # the authors' defaults (evaluation.py lines 205-209 and 290-292)
SUBSET = 20
REPEATS = 1000
MAX_PULLS = 200
ALPHA = 2.0
BOOTSTRAPS = 1000
CONFIDENCE = 0.95

TABLE = "selection_ucb"
CURVE_COLUMNS = ("method", "dataset", "pulls", "score_mean", "score_ci_low", "score_ci_high",
                 "policies", "diverged", "episodes", "oracle_score", "population_mean_score")
SUMMARY_COLUMNS = ("method", "dataset", "policies", "diverged", "oracle_score",
                   "population_mean_score")


class SelectionCurve(NamedTuple):
    """The expected score of the policy a UCB bandit selects, after each online evaluation."""

    pulls: np.ndarray  # [max_pulls] int: 1, 2, ..., max_pulls
    mean: np.ndarray  # [max_pulls] mean over trials of the selected policy's true mean score
    ci_low: np.ndarray  # [max_pulls] bootstrap interval of ``mean``
    ci_high: np.ndarray


class UCBState(NamedTuple):
    """One trial's bandit after some pulls: counts and reward sums per arm [K]."""

    key: jax.Array
    counts: jax.Array  # [K] int32
    reward_sums: jax.Array  # [K] float32
    total_pulls: jax.Array  # [] int32, 1 before the first pull


def ucb_values(means: jax.Array, counts: jax.Array, total_pulls: jax.Array,
               alpha: jax.Array) -> jax.Array:
    """Returns each arm's upper confidence bound: its empirical mean plus
    sqrt(alpha log(total_pulls) / counts) (evaluation.py line 122; 1e-9 keeps an unpulled
    arm's bonus finite and huge)."""
    return means + jnp.sqrt(alpha * jnp.log(total_pulls) / (counts + 1e-9))


def _argmax_random_ties(key: jax.Array, values: jax.Array) -> jax.Array:
    # A uniform draw among the maximisers (evaluation.py lines 136-138).
    ties = values == jnp.max(values)
    return jax.random.choice(key, values.shape[0], p=ties / (ties.sum() + 1e-9))


def ucb_trial(arms: jax.Array, key: jax.Array, *, max_pulls: int,
              alpha: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Returns (pulls [max_pulls], estimated best [max_pulls]) of one UCB trial over ``arms``
    [K, E] (K policies' episode scores): after pull t, the true mean score of the arm whose
    empirical mean is best (``run_bandit``, evaluation.py lines 141-200)."""
    num_arms, num_episodes = arms.shape
    true_means = arms.mean(axis=1)  # [K]

    def pull(state: UCBState, _):
        key, lever_key, reward_key = jax.random.split(state.key, 3)
        means = state.reward_sums / jnp.maximum(state.counts, 1)
        arm = _argmax_random_ties(lever_key,
                                  ucb_values(means, state.counts, state.total_pulls, alpha))
        reward = arms[arm, jax.random.randint(reward_key, (), 0, num_episodes)]
        new = UCBState(key, state.counts.at[arm].add(1), state.reward_sums.at[arm].add(reward),
                       state.total_pulls + 1)
        best = jnp.argmax(new.reward_sums / jnp.maximum(new.counts, 1))
        return new, (state.total_pulls, true_means[best])

    init = UCBState(key, jnp.zeros(num_arms, jnp.int32), jnp.zeros(num_arms, jnp.float32),
                    jnp.int32(1))
    _, (pulls, estimated_best) = jax.lax.scan(pull, init, None, length=max_pulls)
    return pulls, estimated_best


def _trials(scores, key, alpha, *, subset, repeats, max_pulls):
    # evaluation.py lines 224-252: one key for the trials, one for the subsets.
    _, trial_key, subset_key = jax.random.split(key, 3)
    policy_idx = jax.vmap(lambda k: jax.random.choice(
        k, scores.shape[0], (subset,), replace=False))(jax.random.split(subset_key, repeats))
    pulls, estimated_best = jax.vmap(
        lambda k, idx: ucb_trial(scores[idx], k, max_pulls=max_pulls, alpha=alpha))(
            jax.random.split(trial_key, repeats), policy_idx)
    return pulls[0], estimated_best, policy_idx


@functools.partial(jax.jit, static_argnames=("subset", "repeats", "max_pulls"))
def _trials_program(scores, key, alpha, *, subset, repeats, max_pulls):
    return _trials(scores, key, alpha, subset=subset, repeats=repeats, max_pulls=max_pulls)


@functools.partial(jax.jit, static_argnames=("subset", "repeats", "max_pulls", "bootstraps"))
def _curve_program(scores, key, alpha, confidence, *, subset, repeats, max_pulls, bootstraps):
    pulls, estimated_best, _ = _trials(scores, key, alpha, subset=subset, repeats=repeats,
                                       max_pulls=max_pulls)

    def interval(args):  # evaluation.py lines 273-281: one pull's bootstrap over the trials
        pull_key, data = args
        means = jax.vmap(lambda k: jax.random.choice(k, data, (repeats,), replace=True).mean())(
            jax.random.split(pull_key, bootstraps))
        return (jnp.percentile(means, 100 * (1 - confidence) / 2),
                jnp.percentile(means, 100 * (1 + confidence) / 2))

    low, high = jax.lax.map(interval, (jax.random.split(key, max_pulls), estimated_best.T))
    return pulls, estimated_best.mean(axis=0), low, high


def _checked(scores: Any, subset: int, repeats: int, max_pulls: int, alpha: float
             ) -> tuple[jax.Array, int]:
    """Returns (scores as float32 [P, E], the subset size capped at P), or raises."""
    table = np.asarray(scores, np.float32)
    if table.ndim != 2 or 0 in table.shape:
        raise SuiteError(f"UCB selection: scores: expected a [policies, episodes] table, found "
                         f"shape {table.shape}")
    if not np.isfinite(table).all():
        raise SuiteError("UCB selection: scores: expected finite values (give diverged "
                         "policies a score), found NaN or inf")
    for name, value in (("subset", subset), ("repeats", repeats), ("max_pulls", max_pulls)):
        if int(value) < 1:
            raise SuiteError(f"UCB selection: {name}: expected >= 1, found {value}")
    if not alpha >= 0:
        raise SuiteError(f"UCB selection: alpha: expected >= 0, found {alpha}")
    return jnp.asarray(table), min(int(subset), table.shape[0])


def ucb_selection_trials(scores: Any, *, seed: int = SEED, subset: int = SUBSET,
                         repeats: int = REPEATS, max_pulls: int = MAX_PULLS,
                         alpha: float = ALPHA) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Returns (pulls [T], estimated best [repeats, T], policy subsets [repeats, K]) of
    ``repeats`` UCB trials on ``scores`` [policies, episodes] (``run_bandit_trials``,
    evaluation.py lines 203-252), K = min(subset, policies)."""
    table, subset = _checked(scores, subset, repeats, max_pulls, alpha)
    out = _trials_program(table, jax.random.PRNGKey(seed), jnp.float32(alpha), subset=subset,
                          repeats=int(repeats), max_pulls=int(max_pulls))
    return tuple(np.asarray(x) for x in jax.device_get(out))


def ucb_selection_curve(scores: Any, *, seed: int = SEED, subset: int = SUBSET,
                        alpha: float = ALPHA, max_pulls: int = MAX_PULLS,
                        repeats: int = REPEATS, bootstraps: int = BOOTSTRAPS,
                        confidence: float = CONFIDENCE) -> SelectionCurve:
    """Returns the selection curve of a UCB bandit choosing among the policies of ``scores``
    [policies, episodes] (``bootstrap_bandit_trials``, evaluation.py lines 284-328): per pull,
    the mean over ``repeats`` trials of the selected policy's true mean score and its
    ``confidence`` percentile-bootstrap interval. One compiled call."""
    table, subset = _checked(scores, subset, repeats, max_pulls, alpha)
    if int(bootstraps) < 1:
        raise SuiteError(f"UCB selection: bootstraps: expected >= 1, found {bootstraps}")
    if not 0.0 < confidence < 1.0:
        raise SuiteError(f"UCB selection: confidence: expected in (0, 1), found {confidence}")
    out = _curve_program(table, jax.random.PRNGKey(seed), jnp.float32(alpha),
                         jnp.float32(confidence), subset=subset, repeats=int(repeats),
                         max_pulls=int(max_pulls), bootstraps=int(bootstraps))
    pulls, mean, low, high = (np.asarray(x) for x in jax.device_get(out))
    return SelectionCurve(pulls, mean, low, high)


# ----------------------------------------------------------------------------- records


class Population(NamedTuple):
    """The trained policies of one method on one dataset: scores [policies, episodes]."""

    method: str
    dataset: str
    scores: np.ndarray
    diverged: int  # policies that diverged, scored ``stats.FAILED_RUN_SCORE`` on every episode


def populations(records: Sequence[Mapping[str, Any]], final_evals: Mapping[str, Mapping],
                *, method_keys: Sequence[str] = ("algo", "sampling"),
                task_key: str = "dataset", log: stats.Log | None = None) -> list[Population]:
    """Returns one population per (method, dataset) of ``records``: every seed and
    hyperparameter cell of a method (the ``method_keys`` values, overrides pooled) with its
    final evaluation's normalised per-episode scores (``final_evals``: {hash: {"scores": [E]}},
    ``store.load_final_evals``). A diverged policy scores ``stats.FAILED_RUN_SCORE`` on every
    episode, as in the rest of the report. Records without a final evaluation are left out
    (``log`` says how many); raises SuiteError when none has one, when a dataset has no
    reference returns, or when a population's episode counts differ."""
    log = log or stats.warn_note
    if not records:
        raise SuiteError("UCB selection: field 'records': expected at least one results "
                         "record, found none")
    groups: dict[tuple[str, str], list[tuple[Mapping, Mapping]]] = {}
    missing = 0
    for r in records:
        if r.get("hash") not in final_evals:
            missing += 1
            continue
        method = "/".join(stats._format_value(stats._config_value(r, k)) for k in method_keys)
        task = str(stats._config_value(r, task_key))
        groups.setdefault((method, task), []).append((r, final_evals[r["hash"]]))
    if not groups:
        raise SuiteError("UCB selection: expected records with final-evaluation returns "
                         "(records/<hash>.npz; run the sweep with final_eval_episodes > 0, e.g. "
                         "--spec.final_eval_episodes=1000), found none")
    if missing:
        log(f"UCB selection: {missing} of {len(records)} records have no final evaluation and "
            "are left out")
    out = []
    for (method, task), members in sorted(groups.items()):
        rows, diverged = [], 0
        for record, final in members:
            if "scores" not in final:
                raise SuiteError(f"UCB selection: {task}: record {record['hash']}: expected "
                                 "normalised final-evaluation scores, found none (the dataset "
                                 "has no reference returns)")
            scores = np.asarray(final["scores"], np.float32)
            if record.get("diverged") or not np.isfinite(scores).all():
                diverged += 1
                scores = np.full_like(scores, stats.FAILED_RUN_SCORE)
            rows.append(scores)
        episodes = sorted({len(s) for s in rows})
        if len(episodes) > 1:
            raise SuiteError(f"UCB selection: {method} on {task}: expected one final-evaluation "
                             f"episode count per population, found {episodes}")
        out.append(Population(method, task, np.stack(rows), diverged))
    return out


def write_selection_report(records: Sequence[Mapping[str, Any]],
                           final_evals: Mapping[str, Mapping], out_dir: str | os.PathLike, *,
                           method_keys: Sequence[str] = ("algo", "sampling"),
                           task_key: str = "dataset", seed: int = SEED, subset: int = SUBSET,
                           alpha: float = ALPHA, max_pulls: int = MAX_PULLS,
                           repeats: int = REPEATS, bootstraps: int = BOOTSTRAPS,
                           confidence: float = CONFIDENCE,
                           log: stats.Log | None = None) -> str:
    """Returns the Markdown summary table after writing, into ``out_dir``:

    - ``selection_ucb.csv``: per population (``populations``) and pull, the expected score of
      the policy UCB selects with its bootstrap interval, beside the population's size, its
      diverged policies, the best policy's true mean (``oracle_score``) and the mean over
      policies (what a uniform pick scores);
    - ``selection_ucb.md``: the same at a few pull counts (1, 5, 10, 20, 50, 100, 200, ...);
    - ``selection_ucb.png``: per dataset, each method's curve against the number of online
      evaluations, with its interval band.
    """
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pops = populations(records, final_evals, method_keys=method_keys, task_key=task_key,
                       log=log)
    settings = dict(seed=seed, subset=subset, alpha=alpha, max_pulls=max_pulls,
                    repeats=repeats, bootstraps=bootstraps, confidence=confidence)
    rows, summary, curves = [], [], {}
    marks = [p for p in (1, 5, 10, 20, 50, 100, 200, 500, 1000) if p < max_pulls] + [max_pulls]
    for pop in pops:
        curve = ucb_selection_curve(pop.scores, **settings)
        curves.setdefault(pop.dataset, {})[pop.method] = curve
        facts = dict(method=pop.method, dataset=pop.dataset, policies=len(pop.scores),
                     diverged=pop.diverged, episodes=pop.scores.shape[1],
                     oracle_score=float(pop.scores.mean(axis=1).max()),
                     population_mean_score=float(pop.scores.mean()))
        for t, m, lo, hi in zip(curve.pulls, curve.mean, curve.ci_low, curve.ci_high):
            rows.append(dict(facts, pulls=int(t), score_mean=float(m), score_ci_low=float(lo),
                             score_ci_high=float(hi)))
        summary.append(dict(facts, **{f"after {p}": tables.interval_cell(
            curve.mean[p - 1], curve.ci_low[p - 1], curve.ci_high[p - 1]) for p in marks}))
    tables.write_table(out, TABLE, rows, CURVE_COLUMNS, formats=("csv",))
    md = tables.markdown_table(summary, (*SUMMARY_COLUMNS, *(f"after {p}" for p in marks)))
    caption = (f"UCB policy selection (Unifloral's protocol): expected normalised score of the "
               f"policy selected after n online evaluations [{confidence:.0%} bootstrap CI over "
               f"{repeats} trials; each trial a UCB bandit, alpha {alpha:g}, over {subset} "
               f"policies drawn from the population (all of them when fewer); seed {seed}]. "
               f"oracle_score: the population's best policy.")
    tables.write_text(out / f"{TABLE}.md", f"{caption}\n\n{md}\n")
    plots.selection_curves_plot(curves, out / f"{TABLE}.png", confidence=confidence,
                                subset=subset)
    return md
