"""Relabels finished records in a results store when an id is renamed but the computation it names
is unchanged: sets ``config.algo`` and edits ``config.learner_config``, recomputes each record's
hash (its file name), and keeps the old id and hash under ``relabelled_from``. Nothing is
retrained; every other field (curves, scores, created) stays as it was.

Used once (issue 14 item 6): ``qrdqn`` became Dabney et al.'s QR-DQN, and the ml-jku variant the
Dataset Perspective study ran moved to ``qrdqn_mljku`` (the same loss: tau_j = j / N indexed by
the target quantile, double-Q target, 50 quantiles), whose config spells the two choices
``mljku_taus`` and ``double_q``:

    .venv/bin/python tools/relabel_records.py results/dataset_perspective/default \\
        --algo=qrdqn --to=qrdqn_mljku --drop=authors_taus --set=mljku_taus=true,double_q=true

A record is written (temp file, then rename) before its old file is removed, so a kill leaves
at worst both; a rerun skips records already relabelled.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from jaxrl_suite.sweep.store import RECORDS, config_hash  # noqa: E402


def relabel(store: pathlib.Path, algo: str, to: str, drop: list[str],
            assign: dict[str, object]) -> list[tuple[str, str]]:
    """Relabels the records of ``algo`` under ``store``; returns (old hash, new hash) pairs."""
    moved = []
    for path in sorted((store / RECORDS).glob("*.json")):
        record = json.loads(path.read_text())
        config = record["config"]
        if config["algo"] != algo:
            continue
        old = record["hash"]
        learner_config = {k: v for k, v in config["learner_config"].items() if k not in drop}
        missing = [k for k in drop if k not in config["learner_config"]]
        if missing:
            raise SystemExit(f"{path}: field 'config.learner_config': expected {missing}, "
                             f"found {sorted(config['learner_config'])}")
        learner_config.update(assign)
        config = dict(config, algo=to, learner_config=learner_config)
        new = config_hash(config)
        record = dict(record, hash=new, config=config,
                      relabelled_from={"algo": algo, "hash": old})
        target = path.with_name(f"{new}.json")
        tmp = target.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(record, indent=2, sort_keys=False) + "\n")
        os.replace(tmp, target)
        arrays = path.with_suffix(".npz")
        if arrays.exists():
            os.replace(arrays, target.with_suffix(".npz"))
        path.unlink()
        moved.append((old, new))
    return moved


def _value(text: str) -> object:
    return json.loads(text)  # true/false/numbers/quoted strings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("store", type=pathlib.Path)
    parser.add_argument("--algo", required=True)
    parser.add_argument("--to", required=True)
    parser.add_argument("--drop", default="", help="learner_config fields to remove")
    parser.add_argument("--set", default="", help="k=v,... learner_config fields to set (JSON)")
    args = parser.parse_args(argv)
    drop = [k for k in args.drop.split(",") if k]
    assign = dict((k, _value(v)) for k, v in (kv.split("=", 1) for kv in args.set.split(",")
                                              if kv))
    moved = relabel(args.store, args.algo, args.to, drop, assign)
    print(f"{args.store}: relabelled {len(moved)} records {args.algo} -> {args.to}")


if __name__ == "__main__":
    main()
