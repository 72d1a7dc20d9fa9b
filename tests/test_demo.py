"""`make demo` end to end at toy size: the suite's quality table, the vmapped sweep with uniform
and RW sampling into the results store, and the rliable summary with its plots."""

import csv

import pytest

from jaxrl_suite import demo
from jaxrl_suite.sweep.store import load_records

pytestmark = pytest.mark.slow  # the full tier (`make test-all`, CI): see tests/conftest.py


def test_tiny_demo_prints_quality_and_rliable_tables_and_writes_plots(
        tmp_path, tiny_suite_root, capsys):
    out = tmp_path / "demo"
    assert demo.run(scale="tiny", root=tiny_suite_root, out=out, reps=200,
                    progress=False) == 0
    printed = capsys.readouterr().out
    spec = demo.DEMO_SPECS["tiny"]
    assert "| env | dataset |" in printed and "rliable summary" in printed
    for algo in spec.algos:
        for sampling in spec.sampling:
            assert f"| {algo}/{sampling} |" in printed
    records = load_records(out)
    assert len(records) == (len(spec.algos) * len(spec.sampling) * len(spec.datasets)
                            * spec.num_seeds)
    aggregates = list(csv.DictReader(open(out / "report" / "aggregates.csv")))
    assert {r["method"] for r in aggregates} == {
        f"{a}/{s}" for a in spec.algos for s in spec.sampling}
    for name in ("learning_curves.png", "performance_profile.png", "tq_saco.png"):
        assert (out / "report" / name).stat().st_size > 1000
    finding = next(line for line in printed.splitlines() if line.startswith("Finding: "))
    assert all(f"{algo} " in finding for algo in spec.algos)  # RW vs uniform, per learner
    assert demo.run(scale="tiny", root=tiny_suite_root, out=out, reps=200,
                    progress=False) == 0  # a re-run trains nothing
    assert f"0 programs trained, {len(spec.algos) * len(spec.sampling) * 2} found done" in \
        capsys.readouterr().out
