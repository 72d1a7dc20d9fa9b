"""Report statistics: the suite's estimates equal rliable's own under the same seed, their
point estimates equal plain NumPy/SciPy, and records become the right score matrices."""

import random

import numpy as np
import pytest
import scipy.stats
from rliable import library as rly, metrics

from jaxrl_suite.errors import SuiteError
from jaxrl_suite.report import stats
from tests.report.records import STEPS, grid_records, record

REPS = 300
SEED = 7
# The direct rliable calls pass random_state as its README does; arch deprecates it.
pytestmark = pytest.mark.filterwarnings("ignore:random_state is deprecated:FutureWarning")


@pytest.fixture
def score_dict():
    rng = np.random.default_rng(0)
    return {m: rng.uniform(-5.0, 115.0, size=(5, 4)) for m in ("bc/uniform", "iql/uniform",
                                                              "iql/rw")}


def _direct(seed, fn, *args, **kwargs):
    """Returns rliable's answer under the seeding the suite documents (global NumPy seed)."""
    np.random.seed(seed)
    return fn(*args, **kwargs)


def test_aggregates_equal_calling_rliable_directly(score_dict):
    rows = stats.aggregate_table(score_dict, reps=REPS, seed=SEED)
    func = lambda s: np.array([metrics.aggregate_iqm(s), metrics.aggregate_mean(s),
                               metrics.aggregate_median(s),
                               metrics.aggregate_optimality_gap(s, gamma=100)])
    point, interval = _direct(SEED, rly.get_interval_estimates, score_dict, func, reps=REPS,
                              random_state=np.random.RandomState(SEED))
    assert [r["method"] for r in rows] == list(score_dict)
    for r in rows:
        m = r["method"]
        got = [r[k] for k in stats.AGGREGATE_METRICS]
        np.testing.assert_allclose(got, point[m], rtol=1e-12)
        np.testing.assert_allclose([r[f"{k}_lo"] for k in stats.AGGREGATE_METRICS],
                                   interval[m][0], rtol=1e-12)
        np.testing.assert_allclose([r[f"{k}_hi"] for k in stats.AGGREGATE_METRICS],
                                   interval[m][1], rtol=1e-12)
        assert (r["runs"], r["tasks"]) == (5, 4)


def test_performance_profiles_equal_calling_rliable_directly(score_dict):
    taus = np.linspace(0.0, 120.0, 13)
    point, interval = stats.performance_profiles(score_dict, taus, reps=REPS, seed=SEED)
    ref_point, ref_interval = _direct(SEED, rly.create_performance_profile, score_dict, taus,
                                      reps=REPS)
    for m in score_dict:
        np.testing.assert_allclose(point[m], ref_point[m], rtol=1e-12)
        np.testing.assert_allclose(interval[m], ref_interval[m], rtol=1e-12)
        np.testing.assert_allclose(point[m], [(score_dict[m] > t).mean() for t in taus])


def test_probability_of_improvement_equal_calling_rliable_directly(score_dict):
    pairs = [("iql/uniform", "bc/uniform"), ("iql/rw", "bc/uniform")]
    rows = stats.probability_of_improvement(score_dict, pairs, reps=REPS, seed=SEED)
    pair_dict = {f"{x},{y}": (score_dict[x], score_dict[y]) for x, y in pairs}
    point, interval = _direct(
        SEED, rly.get_interval_estimates, pair_dict,
        lambda x, y: np.array([metrics.probability_of_improvement(x, y)]), reps=REPS,
        random_state=np.random.RandomState(SEED))
    assert [(r["x"], r["y"]) for r in rows] == pairs
    for r, key in zip(rows, pair_dict):
        np.testing.assert_allclose(r["probability"], point[key][0], rtol=1e-12)
        np.testing.assert_allclose([r["lo"], r["hi"]], interval[key][:, 0], rtol=1e-12)


def test_default_pairs_compare_every_method_with_the_first(score_dict):
    rows = stats.probability_of_improvement(score_dict, reps=20, seed=0)
    assert [(r["x"], r["y"]) for r in rows] == [("iql/uniform", "bc/uniform"),
                                                ("iql/rw", "bc/uniform")]
    with pytest.raises(SuiteError, match="'nope'"):
        stats.probability_of_improvement_pairs(list(score_dict), baseline="nope")


def test_point_estimates_equal_numpy_references(score_dict):
    rows = {r["method"]: r for r in stats.aggregate_table(score_dict, reps=20, seed=0)}
    for m, s in score_dict.items():
        r = rows[m]
        np.testing.assert_allclose(r["iqm"], scipy.stats.trim_mean(s.ravel(), 0.25), rtol=1e-12)
        np.testing.assert_allclose(r["mean"], s.mean(axis=0).mean(), rtol=1e-12)
        np.testing.assert_allclose(r["median"], np.median(s.mean(axis=0)), rtol=1e-12)
        np.testing.assert_allclose(r["optimality_gap"], 100.0 - np.minimum(s, 100.0).mean(),
                                   rtol=1e-12)
        assert r["iqm_lo"] <= r["iqm"] <= r["iqm_hi"]
    x, y = score_dict["iql/uniform"], score_dict["bc/uniform"]
    # P(X > Y) per task over all run pairs, ties counting one half, averaged over tasks.
    wins = (x[:, None, :] > y[None, :, :]) + 0.5 * (x[:, None, :] == y[None, :, :])
    poi = stats.probability_of_improvement(score_dict, [("iql/uniform", "bc/uniform")], reps=20)
    np.testing.assert_allclose(poi[0]["probability"], wins.mean(axis=(0, 1)).mean(), rtol=1e-12)


def test_same_seed_gives_same_intervals_and_leaves_global_rng_alone(score_dict):
    np.random.seed(123)
    expected_next = np.random.rand()
    np.random.seed(123)
    a = stats.aggregate_table(score_dict, reps=50, seed=3)
    b = stats.aggregate_table(score_dict, reps=50, seed=3)
    c = stats.aggregate_table(score_dict, reps=50, seed=4)
    assert np.random.rand() == expected_next
    assert a == b
    assert a != c


def test_learning_curve_iqm_equals_per_step_trim_mean():
    rng = np.random.default_rng(1)
    curves = {"a": rng.uniform(0, 100, (6, 3, 5))}
    point, interval = stats.learning_curve_estimates(curves, reps=50, seed=0)
    ref = [scipy.stats.trim_mean(curves["a"][..., k].ravel(), 0.25) for k in range(5)]
    np.testing.assert_allclose(point["a"], ref, rtol=1e-12)
    assert interval["a"].shape == (2, 5)
    assert np.all(interval["a"][0] <= interval["a"][1])


def test_score_matrices_order_seeds_and_tasks_whatever_the_record_order():
    records = [record(a, t, s, 10.0 * s + (1.0 if t == "b" else 0.0) + (50 if a == "iql" else 0))
               for a in ("iql", "bc") for t in ("b", "a") for s in (2, 0, 1)]
    random.Random(0).shuffle(records)
    scores, tasks = stats.score_matrices(records)
    assert tasks == ["a", "b"]
    assert list(scores) == ["bc/uniform", "iql/uniform"]
    np.testing.assert_array_equal(scores["bc/uniform"], [[0, 1], [10, 11], [20, 21]])
    np.testing.assert_array_equal(scores["iql/uniform"], [[50, 51], [60, 61], [70, 71]])


def test_override_cells_become_separate_methods():
    records = [record("iql", t, s, 1.0, overrides={"expectile": e})
               for e in (0.7, 0.9) for t in ("a", "b") for s in (0, 1)]
    records += [record("bc", t, s, 2.0, overrides={"lr": 3e-4}) for t in ("a", "b")
                for s in (0, 1)]
    scores, _ = stats.score_matrices(records)
    # bc has one override cell, so its label stays the plain method name.
    assert list(scores) == ["bc/uniform", "iql/uniform expectile=0.7",
                            "iql/uniform expectile=0.9"]
    assert all(s.shape == (2, 2) for s in scores.values())


def test_method_keys_choose_what_makes_a_method():
    records = [record(a, "t", s, 1.0, sampling=w) for a, w in (("iql", "uniform"), ("bc", "rw"))
               for s in (0, 1)]
    assert list(stats.score_matrices(records)[0]) == ["bc/rw", "iql/uniform"]
    scores, _ = stats.score_matrices(records, method_keys=("sampling",))
    assert list(scores) == ["rw", "uniform"]
    assert scores["rw"].shape == (2, 1)


def test_missing_task_raises_naming_method_and_task():
    records = [record("iql", t, 0, 1.0) for t in ("a", "b")] + [record("bc", "a", 0, 1.0)]
    with pytest.raises(SuiteError, match=r"bc/uniform.*\['b'\]"):
        stats.score_matrices(records)


def test_uneven_seeds_keep_the_common_seeds_and_say_so():
    records = [record("iql", "a", s, float(s)) for s in (0, 1, 2)]
    records += [record("iql", "b", s, float(s)) for s in (1, 2)]
    notes = []
    scores, _ = stats.score_matrices(records, log=notes.append)
    np.testing.assert_array_equal(scores["iql/uniform"], [[1, 1], [2, 2]])
    assert len(notes) == 1 and "[1, 2]" in notes[0] and "iql/uniform" in notes[0]
    with pytest.warns(UserWarning, match="different seeds"):
        stats.score_matrices(records)


def test_diverged_run_without_score_counts_as_zero_and_finite_one_as_is():
    records = [record("iql", "a", 0, 80.0), record("iql", "a", 1, None, diverged=True),
               record("iql", "a", 2, 12.5, diverged=True)]
    scores, _ = stats.score_matrices(records)
    np.testing.assert_array_equal(scores["iql/uniform"][:, 0], [80.0, 0.0, 12.5])


def test_dataset_without_reference_returns_raises():
    records = [record("iql", "a", s, 1.0) for s in (0, 1)] + [record("iql", "b", 0, None),
                                                             record("iql", "b", 1, None)]
    with pytest.raises(SuiteError, match="no reference returns"):
        stats.score_matrices(records)


def test_missing_score_of_a_run_that_did_not_diverge_raises_naming_the_record():
    bad = record("iql", "a", 1, None)
    records = [record("iql", "a", 0, 1.0), bad]
    with pytest.raises(SuiteError, match=bad["hash"]):
        stats.score_matrices(records)


def test_duplicate_records_raise_naming_both():
    a, b = record("iql", "a", 0, 1.0), record("iql", "a", 0, 2.0)
    b["hash"] = "f" * 16
    with pytest.raises(SuiteError, match=f"{a['hash']}.*{b['hash']}"):
        stats.score_matrices([a, b])


def test_curve_matrices_stack_runs_tasks_steps_with_failed_points_zero():
    records = grid_records({"iql/uniform": 50.0}, ["a", "b"], 3, np.random.default_rng(0))
    records[0] = record("iql", "a", 0, None, diverged=True,
                        curve=[5.0, 10.0, None, None, None])
    curves, steps, tasks = stats.curve_matrices(records)
    assert tasks == ["a", "b"]
    assert curves["iql/uniform"].shape == (3, 2, len(STEPS))
    np.testing.assert_array_equal(steps["iql/uniform"], STEPS)
    np.testing.assert_array_equal(curves["iql/uniform"][0, 0], [5.0, 10.0, 0.0, 0.0, 0.0])


def _at_scale(r, num_updates, eval_every, hidden_sizes):
    """Returns record ``r`` as a run of another budget: its curve evaluated every ``eval_every``
    of ``num_updates`` updates, ``hidden_sizes`` wide."""
    steps = list(range(0, num_updates + 1, eval_every))
    config = dict(r["config"], num_updates=num_updates, eval_every=eval_every,
                  learner_config={"hidden_sizes": list(hidden_sizes)})
    return dict(r, hash=f"{r['hash'][:12]}{num_updates:04d}", config=config,
                curve=dict(step=steps, score=[r["final_score"]] * len(steps),
                           return_mean=[0.0] * len(steps)))


def test_records_of_two_scales_are_refused_in_one_line_naming_the_fields():
    tiny = [_at_scale(record("bc", t, s, 10.0), 400, 200, (32, 32)) for t in ("a", "b")
            for s in (0, 1)]
    default = [_at_scale(record("bc", t, s, 50.0), 5000, 1000, (64, 64)) for t in ("a", "b")
               for s in (0, 1, 2)]
    for fn in (stats.score_matrices, stats.curve_matrices, stats.per_task_rows):
        with pytest.raises(SuiteError) as info:
            fn(tiny + default)
        message = str(info.value)
        assert "\n" not in message and "bc/uniform" in message
        assert "different settings" in message
        assert "num_updates: 400 vs 5000" in message
        assert "learner_config.hidden_sizes: [32, 32] vs [64, 64]" in message
    scores, _ = stats.score_matrices(default)  # one scale alone reports
    assert scores["bc/uniform"].shape == (3, 2)


def test_two_scales_on_disjoint_tasks_or_in_separate_grid_cells_are_refused():
    tiny = [_at_scale(record("bc", "a", s, 10.0), 400, 200, (32, 32)) for s in (0, 1)]
    default = [_at_scale(record("bc", "b", s, 50.0), 5000, 1000, (64, 64)) for s in (0, 1)]
    with pytest.raises(SuiteError, match="method 'bc/uniform': .*num_updates"):
        stats.score_matrices(tiny + default)
    # A grid cell of one scale beside the defaults of another is one method's two budgets.
    cell = [_at_scale(record("bc", "a", s, 10.0, overrides={"lr": 1e-3}), 400, 200, (32, 32))
            for s in (0, 1)]
    plain = [_at_scale(record("bc", "a", s, 50.0), 5000, 1000, (32, 32)) for s in (0, 1)]
    with pytest.raises(SuiteError, match="eval_every: 200 vs 1000"):
        stats.score_matrices(cell + plain)


def test_records_of_one_task_from_two_sources_are_refused_naming_the_field():
    records = [record("bc", "a", s, 1.0) for s in (0, 1)]
    other = record("bc", "a", 2, 1.0)
    other["config"] = dict(other["config"], sweep="another", dataset_source="tiny/a")
    with pytest.raises(SuiteError, match=r"dataset 'a'.*\(sweep: \"test\" vs \"another\"; "
                                         r"dataset_source: null vs \"tiny/a\"\)"):
        stats.score_matrices(records + [other])


def test_curve_whose_steps_and_scores_differ_in_length_is_refused():
    records = [record("bc", "a", s, 1.0) for s in (0, 1)]
    records[1]["curve"]["score"] = records[1]["curve"]["score"][:3]
    with pytest.raises(SuiteError, match=f"{records[1]['hash']}.*one length, found 5 and 3"):
        stats.curve_matrices(records)
