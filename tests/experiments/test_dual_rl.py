"""The Dual RL study: its imitation mixtures, its sweeps (one program per learner x dataset,
the temperature grid inside it), its tables on hand-made records, and (slow tier) the tiny
study end to end beside a copy of the committed results, which stay byte-identical."""

import csv

import numpy as np
import pytest

from experiments import dual_rl
from jaxrl_suite.data import io
from jaxrl_suite.data.imitation import demonstration_range
from jaxrl_suite.generate.suite import dataset_id
from jaxrl_suite.sweep.store import load_records
from tests.experiments.committed import CommittedResults

TINY = dual_rl.SCALES["tiny"]
TASK = TINY.imitation[0]


@pytest.fixture(scope="module")
def tiny_datasets(tiny_suite_root):
    return dual_rl.build_datasets(TINY, tiny_suite_root, log=lambda _: None)


def test_mixtures_and_demonstrations(tiny_datasets, tiny_suite_root):
    mix = tiny_datasets[dual_rl.mixture_name(TASK, "random")]
    demos = tiny_datasets[dual_rl.demos_name(TASK, "random")]
    assert set(tiny_datasets) == {"Pendulum-v1/random+expert3/demo1",
                                  "Pendulum-v1/random+expert3/demo1/demos"}
    random = io.load(dataset_id("tiny", "Pendulum-v1", "random"), root=tiny_suite_root)
    expert = io.load(dataset_id("tiny", "Pendulum-v1", "expert"), root=tiny_suite_root)
    lengths = np.asarray(expert.episode_lengths)
    assert mix.num_transitions == random.num_transitions + lengths[:3].sum()
    assert demonstration_range(mix) == (random.num_transitions,
                                        random.num_transitions + lengths[0])
    np.testing.assert_array_equal(demos.actions, expert.actions[:lengths[0]])


def test_sweeps_one_program_per_learner_and_dataset():
    specs = dual_rl.sweep_specs(TINY)
    imitation = [s for s in specs if s.name == "dual_rl_imitation"]
    assert [s.algos for s in imitation] == [("recoil",), ("demodice",), ("bc",), ("iql",),
                                            ("bc",)]
    assert imitation[0].grid == {"recoil": (f"actor_decay_steps={TINY.imitation_updates}",)}
    assert imitation[-1].datasets == ("Pendulum-v1/random+expert3/demo1/demos",)
    stability = {s.algos[0]: s for s in specs if s.name == "dual_rl_stability"}
    assert set(stability) == set(dual_rl.STABILITY_LEARNERS)
    assert stability["xql"].grid == {"xql": ("beta=1,2",)}
    assert stability["iql"].grid == {"iql": ("expectile=0.7",)}
    paper = dual_rl.sweep_specs(dual_rl.SCALES["paper"])
    # the paper scale keeps each learner's own minibatch and widths
    batch = {(s.name, s.algos[0]): s.batch_size for s in paper}
    assert batch[("dual_rl_imitation", "recoil")] == 1024
    assert batch[("dual_rl_imitation", "demodice")] == 512
    assert batch[("dual_rl_stability", "xql")] == 1024
    assert batch[("dual_rl_stability", "iql")] == 256
    assert all(s.hidden_sizes is None for s in paper)


def _record(sweep, algo, dataset, seed, score, hparams=None, diverged=False):
    return dict(config=dict(sweep=sweep, algo=algo, dataset=dataset, seed=seed,
                            hparams=hparams or {}),
                final_score=None if diverged else score, diverged=diverged)


def test_tables_on_hand_made_records(tiny_datasets):
    mix, demos = dual_rl.mixture_name(TASK, "random"), dual_rl.demos_name(TASK, "random")
    rng = np.random.default_rng(0)
    records, expected = [], {}
    for seed in range(3):
        for algo, dataset, method in (("recoil", mix, "recoil"), ("demodice", mix, "demodice"),
                                      ("bc", demos, "bc_demos"), ("bc", mix, "bc_all"),
                                      ("iql", mix, "iql_rewards")):
            score = float(rng.uniform(0, 100))
            records.append(_record("dual_rl_imitation", algo, dataset, seed, score))
            expected.setdefault(method, []).append(score)
        for beta in (1.0, 2.0):
            records.append(_record("dual_rl_stability", "xql", "Pendulum-v1/replay", seed,
                                   50.0, {"beta": beta}, diverged=beta == 1.0 and seed < 2))
        records.append(_record("dual_rl_stability", "fdvl", "Pendulum-v1/replay", seed, 60.0,
                               {"alpha": 1.0}))
    rows, aggregates = dual_rl.imitation_rows(records, tiny_datasets, reps=50)
    assert [r["method"] for r in rows] == list(dual_rl.IMITATION_METHODS)
    for r in rows:
        assert r["score"] == pytest.approx(np.mean(expected[r["method"]]))
        assert r["seeds"] == 3 and r["env"] == "Pendulum-v1" and r["offline"] == "random"
        assert r["mixed_expert_episodes"] == 3 and r["paper"] is None
    assert {a["method"] for a in aggregates} == set(dual_rl.IMITATION_METHODS)
    stability, divergence = dual_rl.stability_rows(records, reps=50)
    by = {(r["learner"], r["temperature"]): r for r in stability}
    assert by[("xql", 1.0)]["diverged"] == 2 and by[("xql", 2.0)]["diverged"] == 0
    summary = {r["learner"]: r for r in divergence}
    assert summary["xql"]["cells"] == 6 and summary["xql"]["diverged_share"] == pytest.approx(
        2 / 6)
    assert summary["fdvl"]["diverged"] == 0
    lines = dual_rl.finding_lines(aggregates, divergence)
    assert "xql 2/6" in lines[1] and lines[0].startswith("Ours, imitation")


@pytest.mark.slow
def test_tiny_study_end_to_end(tmp_path, tiny_suite_root):
    results = CommittedResults(tmp_path, dual_rl.EXPERIMENT)
    out = results.out
    result = dual_rl.run_study(TINY, out, tiny_suite_root, log=lambda _: None,
                               progress=False, reps=100)
    records = load_records(out)
    grid = sum(len(v) for v in TINY.temperatures.values())
    assert len(records) == TINY.num_seeds * (5 + grid * len(TINY.stability_datasets))
    # imitation learners trained on the mixture with its demonstrations; no reward read
    assert {r["config"]["dataset"] for r in records if r["config"]["algo"] == "recoil"} == {
        dual_rl.mixture_name(TASK, "random")}
    assert len(result["imitation"]) == 5 and len(result["divergence"]) == 4
    written = list(csv.DictReader(open(out / "imitation.csv")))
    assert set(dual_rl.IMITATION_COLUMNS) == set(written[0])
    for name in ("imitation_aggregates.png", "stability.png"):
        assert (out / name).stat().st_size > 1000
    assert "could not be read" in (out / "findings.md").read_text()
    results.assert_only_tiny_written()
    again = dual_rl.run_study(TINY, out, tiny_suite_root, log=lambda _: None, progress=False,
                              reps=100)
    assert again["imitation"] == result["imitation"]
