"""Report provenance warnings: mixed code versions, one dataset name with two contents; older
records without the fields load and count as unknown."""

from jaxrl_suite.report.provenance import provenance_warnings
from tests.report.records import record

V1 = dict(commit="a" * 40, dirty=False, package="0.1.0")
V2 = dict(commit="b" * 40, dirty=True, package="0.1.0")


def _with(rec, version=None, fingerprint=None):
    if version is not None:
        rec["code_version"] = version
    if fingerprint is not None:
        rec["dataset_fingerprint"] = fingerprint
    return rec


def test_one_version_and_content_gives_no_warning():
    records = [_with(record("bc", "d", s, 1.0), V1, "f" * 32) for s in range(3)]
    assert provenance_warnings(records) == []
    assert provenance_warnings([record("bc", "d", s, 1.0) for s in range(2)]) == []


def test_mixed_code_versions_warn_once_naming_each():
    records = [_with(record("bc", "d", 0, 1.0), V1, "f" * 32),
               _with(record("bc", "d", 1, 1.0), V2, "f" * 32),
               record("bc", "d", 2, 1.0)]  # an older record: unknown
    note, dataset_note = provenance_warnings(records)
    assert "dataset 'd'" in dataset_note and "unknown" in dataset_note
    assert "3 code versions" in note and "aaaaaaaaaaaa (1 record)" in note
    assert "bbbbbbbbbbbb-dirty" in note and "unknown" in note


def test_same_dataset_name_with_different_content_warns():
    records = [_with(record("bc", "d", 0, 1.0), V1, "1" * 32),
               _with(record("bc", "d", 1, 1.0), V1, "2" * 32),
               _with(record("bc", "e", 0, 1.0), V1, "3" * 32),
               _with(record("iql", "e", 0, 1.0), V1, "3" * 32)]
    (note,) = provenance_warnings(records)
    assert "dataset 'd'" in note and "2 different contents" in note


def test_package_version_outside_git_is_a_version():
    outside = dict(commit=None, dirty=None, package="0.1.0")
    records = [_with(record("bc", "d", 0, 1.0), outside), _with(record("bc", "d", 1, 1.0), V1)]
    (note,) = provenance_warnings(records)
    assert "package-0.1.0" in note
