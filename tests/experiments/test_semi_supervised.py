"""The SS-ORL proxy-label study at --scale=tiny: one record per (variant, seed), the table and
report written, the labelled trajectories' true actions kept, proxies inside the action bounds,
and a re-run that trains nothing, in results/<experiment>/tiny/ beside a copy of the committed
default results, which stay byte-identical."""

import csv

import numpy as np
import pytest

from experiments import semi_supervised as ss
from jaxrl_suite.sweep.store import load_records
from tests.experiments.committed import CommittedResults

pytestmark = pytest.mark.slow  # the full tier (`make test-all`, CI): see tests/conftest.py


def test_tiny_study_keeps_true_labels_and_a_rerun_trains_nothing(tmp_path, tiny_suite_root):
    scale = ss.SCALES["tiny"]
    results = CommittedResults(tmp_path, ss.EXPERIMENT)
    out = results.out
    study = ss.run_study(scale, out, root=tiny_suite_root, log=lambda _: None)

    variants = [ss.FULL] + [ss.variant_name(kind, share) for share in scale.labelled_shares
                            for kind in ("labelled-only", "proxy")]
    expected = {(ss.dataset_name(base, v), algo, scale.seed + s) for base in scale.datasets
                for v in variants for algo in scale.algos for s in range(scale.num_seeds)}
    records = load_records(out)
    runs = [(r["config"]["dataset"], r["config"]["algo"], r["config"]["seed"]) for r in records]
    assert len(runs) == len(set(runs)) == len(expected)
    assert set(runs) == expected
    assert study.sweep["trained"] == study.sweep["programs"] == len(expected) // scale.num_seeds

    rows = study.rows
    assert [(r["variant"], r["algo"]) for r in rows] == [
        (v, a) for _ in scale.datasets for a in scale.algos for v in variants]
    assert all(r["seeds"] == scale.num_seeds for r in rows)
    assert np.isfinite([r["score_mean"] for r in rows]).all()
    assert np.isfinite([r["score_std"] for r in rows]).all()
    proxy_rows = [r for r in rows if r["variant"].startswith("proxy-")]
    assert proxy_rows and all(np.isfinite([r["label_mae"], r["label_mse"], r["idm_val_nll"]]).all()
                              and r["label_mae"] > 0 for r in proxy_rows)
    assert all(r["label_mae"] is None for r in rows if r not in proxy_rows)
    assert len(list(csv.DictReader(open(out / "semi_supervised.csv")))) == len(rows)
    assert {r["config"]["sweep"] for r in records} == {study.spec.name}
    assert study.spec.name.startswith(f"{ss.EXPERIMENT}-tiny-")
    per_task = list(csv.DictReader(open(out / "report" / "per_task.csv")))
    assert len(per_task) == len(variants) * len(scale.algos) * len(scale.datasets)
    assert {int(r["seeds"]) for r in per_task} == {scale.num_seeds}  # tiny records only

    for base in scale.datasets:
        full = study.datasets[ss.dataset_name(base, ss.FULL)]
        returns = np.asarray(full.episode_returns())
        for share in scale.labelled_shares:
            lab = study.labellings[ss.dataset_name(base, ss.share_tag(share))]
            # Drawn from the lowest-return half, as many as the share of all trajectories.
            assert len(lab.labelled_episodes) == int(full.num_episodes * share)
            lowest = np.argsort(returns, kind="stable")[: int(full.num_episodes * 0.5)]
            assert set(lab.labelled_episodes) <= set(lowest)
            truth = full.select_episodes(lab.labelled_episodes)
            n = truth.num_transitions
            only = study.datasets[ss.dataset_name(base, ss.variant_name("labelled-only", share))]
            np.testing.assert_array_equal(np.asarray(only.actions), np.asarray(truth.actions))
            proxy = study.datasets[ss.dataset_name(base, ss.variant_name("proxy", share))]
            assert proxy.num_transitions == full.num_transitions
            np.testing.assert_array_equal(np.asarray(proxy.actions[:n]), np.asarray(truth.actions))
            np.testing.assert_array_equal(np.asarray(proxy.observations[:n]),
                                          np.asarray(truth.observations))
            np.testing.assert_array_equal(lab.proxy.is_proxy, np.arange(proxy.num_transitions) >= n)
            proxies = np.asarray(proxy.actions[n:])
            assert np.isfinite(proxies).all()
            assert (proxies >= np.asarray(full.meta.action_low)).all()
            assert (proxies <= np.asarray(full.meta.action_high)).all()

    again = ss.run_study(scale, out, root=tiny_suite_root, log=lambda _: None)
    assert again.sweep["trained"] == 0 and again.sweep["records"] == 0
    assert again.sweep["skipped"] == study.sweep["programs"]
    assert len(load_records(out)) == len(records)
    assert [r["score_mean"] for r in again.rows] == [r["score_mean"] for r in rows]
    assert [r["label_mae"] for r in again.rows] == [r["label_mae"] for r in rows]
    results.assert_only_tiny_written()
