"""UCB policy selection (Unifloral's evaluation protocol): the JAX bandit against a slow NumPy
re-implementation of the authors' algorithm (its random streams differ, so the checks are of
deterministic paths and of Monte-Carlo means), the authors' own numbers on a fixed table, and
the sweep -> ``report --selection=ucb`` path."""

import csv
import subprocess
import sys

import numpy as np
import pytest

from jaxrl_suite.errors import SuiteError
from jaxrl_suite.report import selection
from jaxrl_suite.sweep import runner
from jaxrl_suite.sweep.store import load_final_evals, load_records


def numpy_ucb_trial(arms, rng, max_pulls, alpha):
    """Returns the estimated best [max_pulls] of one trial: evaluation.py's run_bandit, written
    as plainly as it reads."""
    num_arms, num_episodes = arms.shape
    counts, sums, total_pulls = np.zeros(num_arms), np.zeros(num_arms), 1
    estimated_best = []
    for _ in range(max_pulls):
        means = sums / np.maximum(counts, 1)
        ucb = means + np.sqrt(alpha * np.log(total_pulls) / (counts + 1e-9))
        arm = rng.choice(np.flatnonzero(ucb == ucb.max()))
        sums[arm] += arms[arm, rng.integers(num_episodes)]
        counts[arm] += 1
        total_pulls += 1
        estimated_best.append(arms[np.argmax(sums / np.maximum(counts, 1))].mean())
    return np.array(estimated_best)


def numpy_ucb_trials(scores, rng, subset, repeats, max_pulls, alpha):
    subset = min(subset, len(scores))
    return np.stack([numpy_ucb_trial(scores[rng.choice(len(scores), subset, replace=False)],
                                     rng, max_pulls, alpha) for _ in range(repeats)])


def test_one_episode_per_policy_finds_each_subsets_best_once_every_arm_is_pulled():
    values = np.array([3.0, 17.0, 8.0, 1.0, 12.0, 25.0, 6.0, 9.0, 14.0, 4.0])[:, None]
    pulls, best, subsets = selection.ucb_selection_trials(values, subset=4, repeats=2000,
                                                          max_pulls=9)
    assert list(pulls) == list(range(1, 10)) and best.shape == (2000, 9)
    assert all(len(set(s)) == 4 for s in subsets)  # drawn without replacement
    subset_best = values[subsets, 0].max(axis=1)
    # Each arm is pulled once before any twice; with one episode its mean is then exact.
    np.testing.assert_array_equal(best[:, 3:], np.repeat(subset_best[:, None], 6, axis=1))
    assert (np.diff(best[:, :4], axis=1) >= 0).all()  # the best of a growing set of arms
    # The first arm is a uniform draw (no bonus at total_pulls 1) and, being positive, the
    # best: in expectation the population's mean.
    assert abs(best[:, 0].mean() - values.mean()) < 4 * values.std() / np.sqrt(2000)
    reference = numpy_ucb_trials(values, np.random.default_rng(0), 4, 300, 9, 2.0)
    assert (np.diff(reference[:, :4], axis=1) >= 0).all()
    assert abs(reference[:, 0].mean() - values.mean()) < 4 * values.std() / np.sqrt(300)


def test_mean_curve_matches_the_numpy_reimplementation_within_monte_carlo_error():
    rng = np.random.default_rng(2)
    # Means around 0, so that unpulled arms (empirical mean 0) compete for "best", as upstream.
    scores = rng.normal(0.0, 4.0, (10, 1)) + rng.normal(0.0, 6.0, (10, 20))
    repeats, pulls = 1500, 25
    _, jax_best, _ = selection.ucb_selection_trials(scores, subset=4, repeats=repeats,
                                                    max_pulls=pulls, alpha=1.0)
    reference = numpy_ucb_trials(scores, rng, 4, repeats, pulls, 1.0)
    se = np.sqrt(jax_best.var(axis=0) / repeats + reference.var(axis=0) / repeats)
    assert (np.abs(jax_best.mean(axis=0) - reference.mean(axis=0)) <= 4.5 * se + 1e-6).all()
    assert jax_best.mean(axis=0)[-1] > jax_best.mean(axis=0)[0]  # evaluations help


def test_a_dominant_policy_is_selected_for_good_once_every_arm_is_pulled():
    rng = np.random.default_rng(1)
    scores = rng.uniform(0, 10, (10, 20))  # the shapes of the test above: no new compile
    scores[3] = 100.0
    _, best, subsets = selection.ucb_selection_trials(scores, subset=4, repeats=1500,
                                                      max_pulls=25)
    has_it = (subsets == 3).any(axis=1)
    assert 0 < has_it.sum() < 1500
    np.testing.assert_allclose(best[has_it, 4:], 100.0, rtol=1e-6)
    assert (best[~has_it] < 10).all()
    reference = numpy_ucb_trials(scores[[3, 0, 1, 2]], rng, 4, 50, 25, 2.0)
    np.testing.assert_allclose(reference[:, 4:], 100.0, rtol=1e-6)


# bootstrap_bandit_trials(TABLE, seed=17, num_subsample=4, num_repeats=64, max_pulls=12,
# ucb_alpha=2.0, n_bootstraps=128) of EmptyJackson/unifloral evaluation.py at f2dc127, run once
# under this venv's JAX (BUILD_NOTES "UCB policy selection").
TABLE = np.array([[12, -3, 30, 7, 18], [25, 2, 9, 14, -6], [0, 4, 8, 1, 3],
                  [40, -20, 15, 22, 5], [-8, -2, -5, -1, -9], [10, 11, 12, 9, 13]], np.float32)
SETTINGS = dict(seed=17, subset=4, repeats=64, max_pulls=12, alpha=2.0, bootstraps=128)


def test_curve_equals_the_authors_evaluation_py_on_a_fixed_table():
    # The keys are split as upstream splits them, so the numbers agree to float precision.
    curve = selection.ucb_selection_curve(TABLE, **SETTINGS)
    np.testing.assert_allclose(curve.mean, [
        8.2688, 9.8188, 11.2531, 11.3844, 11.5687, 11.2375, 11.2094, 11.325, 11.5719, 11.625,
        11.5781, 11.5], atol=2e-4)
    np.testing.assert_allclose(curve.ci_low, [
        6.7787, 8.9334, 10.652, 10.8424, 11.1625, 10.673, 10.6472, 10.7162, 11.1698, 11.2211,
        11.1636, 11.1474], atol=2e-4)
    np.testing.assert_allclose(curve.ci_high, [
        9.2686, 10.6692, 11.7362, 11.857, 11.9781, 11.757, 11.8291, 11.7611, 11.9686, 11.9666,
        12.0046, 11.8682], atol=2e-4)
    np.testing.assert_array_equal(curve.pulls, np.arange(1, 13))


def test_equal_policies_give_a_flat_curve_with_a_zero_width_interval():
    curve = selection.ucb_selection_curve(np.full_like(TABLE, 42.0), **SETTINGS)
    for x in (curve.mean, curve.ci_low, curve.ci_high):
        np.testing.assert_allclose(x, 42.0, rtol=1e-6)


@pytest.mark.parametrize("scores, kwargs, match", [
    (np.ones(5), {}, "policies, episodes"),
    (np.array([[1.0, np.nan]]), {}, "finite"),
    (np.ones((3, 2)), dict(max_pulls=0), "max_pulls"),
    (np.ones((3, 2)), dict(confidence=1.5), "confidence"),
])
def test_bad_tables_and_settings_are_suite_errors(scores, kwargs, match):
    with pytest.raises(SuiteError, match=match):
        selection.ucb_selection_curve(scores, **kwargs)


def test_populations_pool_cells_and_seeds_and_score_diverged_policies_as_failed():
    def record(h, algo, lr, seed, diverged=False):
        return dict(hash=h, diverged=diverged, config=dict(
            algo=algo, sampling="uniform", dataset="d", overrides={"learning_rate": lr},
            seed=seed))

    records = [record("a", "bc", 1e-3, 0), record("b", "bc", 1e-4, 0, diverged=True),
               record("c", "cql", 1e-3, 0), record("d", "cql", 1e-3, 1)]
    finals = {"a": {"scores": np.array([1.0, 3.0])}, "b": {"scores": np.array([np.nan] * 2)},
              "c": {"scores": np.array([5.0, 5.0])}}
    notes = []
    pops = selection.populations(records, finals, log=notes.append)
    assert [(p.method, p.dataset, p.diverged) for p in pops] == [
        ("bc/uniform", "d", 1), ("cql/uniform", "d", 0)]
    np.testing.assert_array_equal(pops[0].scores, [[1.0, 3.0], [0.0, 0.0]])  # both cells
    assert notes == ["UCB selection: 1 of 4 records have no final evaluation and are left out"]
    with pytest.raises(SuiteError, match="final_eval_episodes"):
        selection.populations(records, {})
    with pytest.raises(SuiteError, match="reference returns"):
        selection.populations(records[:1], {"a": {"returns": np.ones(2)}})


@pytest.mark.slow  # full tier: 15-46 s in the fast tier (BUILD_NOTES "Session 13")
def test_sweep_final_eval_feeds_report_selection_and_keeps_old_hashes(tmp_path, tiny_suite_root):
    base = dict(name="sel", suite="tiny", algos=("bc",), datasets=("Pendulum-v1/replay",),
                grid={"bc": ("learning_rate=0.001,0.0003",)}, num_seeds=2, num_updates=20,
                eval_every=20, eval_episodes=1, batch_size=16, hidden_sizes=(8,))
    quiet = dict(root=tiny_suite_root, log=lambda _: None)
    off, on = (runner.SweepSpec(**base, final_eval_episodes=n) for n in (0, 6))
    loader = runner.DatasetLoader(off, tiny_suite_root, lambda _: None)
    configs = [row["config"] for program, _ in runner.expand(off, loader, lambda _: None)
               for row in program.rows]
    assert all("final_eval_episodes" not in c for c in configs)  # hashes as before the field
    out = tmp_path / "results"
    runner.run_sweep(on, out, progress=False, **quiet)
    records, finals = load_records(out), load_final_evals(out)
    assert len(records) == 4 and set(finals) == {r["hash"] for r in records}
    for r in records:
        assert r["config"]["final_eval_episodes"] == 6
        assert finals[r["hash"]]["returns"].shape == finals[r["hash"]]["scores"].shape == (6,)
        assert r["final_eval_return"] == pytest.approx(finals[r["hash"]]["returns"].mean(),
                                                       rel=1e-5)
        assert np.isfinite(r["final_eval_score"])
    proc = subprocess.run(
        [sys.executable, "-m", "jaxrl_suite", "report", f"--results={out}", "--selection=ucb",
         "--selection_subset=3", "--selection_pulls=7", "--selection_repeats=40", "--reps=50"],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(open(out / "report" / "selection_ucb.csv")))
    assert [int(r["pulls"]) for r in rows] == list(range(1, 8))
    assert {r["method"] for r in rows} == {"bc/uniform"} and rows[0]["policies"] == "4"
    assert (out / "report" / "selection_ucb.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "after 7" in (out / "report" / "selection_ucb.md").read_text()
    assert "after 7" in proc.stdout
