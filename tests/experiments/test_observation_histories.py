"""The observation-histories study: its datasets (masked, nested sizes, history windows, the
filtered-BC subsets), its method labels and tables on hand-made records, and (slow tier) the
tiny study end to end beside a copy of the committed results, which stay byte-identical."""

import csv

import numpy as np
import pytest

from experiments import observation_histories as oh
from jaxrl_suite.data import io
from jaxrl_suite.errors import SuiteError
from jaxrl_suite.generate.suite import dataset_id
from jaxrl_suite.sweep.store import load_records
from tests.experiments.committed import CommittedResults

TINY = oh.SCALES["tiny"]


@pytest.fixture(scope="module")
def tiny_datasets(tiny_suite_root):
    return oh.build_datasets(TINY, tiny_suite_root, log=lambda _: None)


def test_datasets_are_nested_masked_history_windows(tiny_datasets, tiny_suite_root):
    k = TINY.history
    names = {oh.dataset_name(t, TINY, n, f) for t in TINY.tasks for n in TINY.sizes
             for f in (False, True)}
    assert set(tiny_datasets) == names
    for task in TINY.tasks:
        source = io.load(dataset_id(task.suite, task.source_env, task.recipe),
                         root=tiny_suite_root)
        kept = {"MaskedCartPole-v1": [0, 2], "MaskedPendulum-v1": [0, 1]}[task.env]
        sets = [tiny_datasets[oh.dataset_name(task, TINY, n)] for n in TINY.sizes]
        for n, ds in zip(TINY.sizes, sets):
            assert ds.num_episodes == n and ds.meta.env_id == task.env
            obs = np.asarray(ds.observations)
            assert obs.shape == (ds.num_transitions, k, len(kept) + 1)
            # The current step's observation is the source's, velocity dims dropped: find each
            # episode's first row in the source by its full observation.
            src = np.asarray(source.observations)[:, kept]
            first = np.asarray(ds.episode_starts)
            for s in first:
                assert np.isclose(src, obs[s, -1, :-1]).all(axis=1).any()
                # an episode's first window is padding, then its first observation
                assert (obs[s, :-1] == 0).all() and obs[s, -1, -1] == 1.0
        # nested: the smaller set's episodes are among the larger set's
        small, large = (np.asarray(d.observations)[np.asarray(d.episode_starts), -1]
                        for d in sets)
        assert all(np.isclose(large, row).all(axis=1).any() for row in small)
        # filtered BC keeps the top fraction by return of the same episodes
        for n, ds in zip(TINY.sizes, sets):
            top = tiny_datasets[oh.dataset_name(task, TINY, n, True)]
            keep = max(1, int(n * TINY.filter_fraction))
            assert top.num_episodes == keep
            np.testing.assert_allclose(np.sort(np.asarray(top.episode_returns())),
                                       np.sort(np.asarray(ds.episode_returns()))[-keep:],
                                       rtol=1e-5)


def test_a_size_beyond_the_episodes_names_the_dataset(tiny_suite_root):
    import dataclasses
    scale = dataclasses.replace(TINY, tasks=TINY.tasks[1:], sizes=(10_000,))
    with pytest.raises(SuiteError, match=r"pendulum/replay-v0: field 'episodes': expected at "
                                         r"least 10000"):
        oh.build_datasets(scale, tiny_suite_root, log=lambda _: None)


def _record(algo, dataset, seed, score, loss, weight=0.0):
    return dict(config=dict(algo=algo, dataset=dataset, seed=seed,
                            hparams=dict(bisim_weight=weight)),
                final_score=score, diverged=False, metrics=dict(bisim_loss=loss))


def test_tables_on_hand_made_records(tiny_datasets):
    cartpole, pendulum = TINY.tasks
    records, expected = [], {}
    rng = np.random.default_rng(0)
    for task in (cartpole, pendulum):
        for n in TINY.sizes:
            full, top = oh.dataset_name(task, TINY, n), oh.dataset_name(task, TINY, n, True)
            for seed in range(3):
                for algo, name, weight, method in (
                        ("bc", full, 0.0, "bc"), ("bc", top, 0.0, "filtered_bc"),
                        (task.rl, full, 0.0, task.rl),
                        (task.rl, full, oh.BISIM_WEIGHT, f"{task.rl}+bisim")):
                    score = float(rng.uniform(0, 100))
                    records.append(_record(algo, name, seed, score, 100.0 - score, weight))
                    expected.setdefault((method, task.env, n), []).append(score)
    assert [oh.method_of(r) for r in records[:4]] == ["bc", "filtered_bc", "cql", "cql+bisim"]
    rows = oh.score_rows(records, TINY, tiny_datasets, reps=50)
    assert len(rows) == len(expected)
    for r in rows:
        mine = expected[(r["method"], r["env"], r["trajectories"])]
        assert r["score"] == pytest.approx(np.mean(mine)) and r["seeds"] == 3
        assert r["iqm_lo"] <= r["iqm"] <= r["iqm_hi"]
        assert r["bisim_loss"] == pytest.approx(100.0 - np.mean(mine))
    effects = oh.effect_rows(rows)
    assert {(e["learner"], e["env"]) for e in effects} == {("cql", cartpole.env),
                                                           ("iql", pendulum.env)}
    for e in effects:
        assert e["change"] == pytest.approx(
            np.mean(expected[(f"{e['learner']}+bisim", e["env"], e["trajectories"])])
            - np.mean(expected[(e["learner"], e["env"], e["trajectories"])]))
    # the loss was built as 100 - score: perfectly anti-correlated in every method
    correlations = oh.correlation_rows(records, TINY)
    assert all(c["spearman_loss_score"] == pytest.approx(-1.0) for c in correlations)
    aggregates = oh.aggregate_rows(records, TINY, reps=50)
    bc = [a for a in aggregates if a["method"] == "bc"]
    assert [a["trajectories"] for a in bc] == list(TINY.sizes)
    assert all(a["tasks"] == 2 and a["runs"] == 3 for a in bc)
    # cql only on CartPole: one task
    assert {a["tasks"] for a in aggregates if a["method"] == "cql"} == {1}
    lines = oh.finding_lines(effects, correlations)
    assert len(lines) == 2 and "-1.00" in lines[1]


@pytest.mark.slow
def test_tiny_study_end_to_end(tmp_path, tiny_suite_root):
    results = CommittedResults(tmp_path, oh.EXPERIMENT)
    out = results.out
    result = oh.run_study(TINY, out, tiny_suite_root, log=lambda _: None, progress=False,
                          reps=100)
    records = load_records(out)
    # bc on full and filtered sets, the RL learner at two weights: per task x size x seed
    per_task = len(TINY.sizes) * TINY.num_seeds * 4
    assert len(records) == per_task * len(TINY.tasks)
    assert all(r["config"]["auxiliary"] == ["bisimulation"] for r in records)
    assert all(np.isfinite(r["metrics"]["bisim_loss"]) for r in records)
    assert {r["config"]["learner_config"]["history_encoder"] for r in records} == {"gru"}
    assert len(result["scores"]) == len(TINY.tasks) * len(TINY.sizes) * 4
    written = list(csv.DictReader(open(out / "scores.csv")))
    assert len(written) == len(result["scores"]) and set(oh.SCORE_COLUMNS) == set(written[0])
    for name in ("score_vs_size.png", "score_vs_bisim_loss.png"):
        assert (out / name).stat().st_size > 1000
    results.assert_only_tiny_written()
    # a rerun trains nothing
    again = oh.run_study(TINY, out, tiny_suite_root, log=lambda _: None, progress=False,
                         reps=100)
    assert again["scores"] == result["scores"]
