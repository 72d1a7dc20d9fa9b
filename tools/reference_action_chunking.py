"""Writes ``results/reference/action_chunking_qc.csv`` and ``action_chunking_dqc.csv`` from the
authors' released result files (read from their repositories' git objects, not downloaded):

  QC   ColinQiyangLi/qc ``plot_data/ogbench-individual.pkl`` and ``ogbench-agg.pkl``
       ({(task, method): {steps, means, ci_lows, ci_highs}}, every 100K steps from 0 to 2M,
       ``plot_data/README.md``); the offline phase ends at 1M (``main.py`` --offline_steps
       1000000), so the row at step 1.0 is each method's offline success rate (%).
  DQC  ColinQiyangLi/dqc ``exp_data/dqc-exp-data.pkl`` ({(task, method): [4, 10]}: success rate
       averaged over the 5 evaluation goals at 250K/500K/750K/1M steps for 10 seeds,
       ``exp_data/README.md``); the 1M row's mean and std over seeds (%).

    .venv/bin/python tools/reference_action_chunking.py /work/.mirror/ColinQiyangLi+qc/repo \
        /work/.mirror/ColinQiyangLi+dqc/repo
"""

from __future__ import annotations

import csv
import io
import pathlib
import pickle
import subprocess
import sys

import numpy as np

OUT = pathlib.Path(__file__).resolve().parent.parent / "results" / "reference"


def _blob(repo: str, path: str) -> tuple[object, str]:
    commit = subprocess.run(["git", "-C", repo, "rev-parse", "HEAD"], check=True,
                            capture_output=True, text=True).stdout.strip()
    data = subprocess.run(["git", "-C", repo, "show", f"HEAD:{path}"], check=True,
                          capture_output=True).stdout
    return pickle.loads(data), commit


def _write(name: str, source: list[str], columns: list[str], rows: list[dict]) -> None:
    text = io.StringIO()
    for line in source:
        text.write(f"# {line}\n")
    writer = csv.DictWriter(text, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    (OUT / name).write_text(text.getvalue())


def qc_rows(repo: str) -> None:
    rows = []
    for file, level in (("plot_data/ogbench-individual.pkl", "task"),
                        ("plot_data/ogbench-agg.pkl", "domain")):
        data, commit = _blob(repo, file)
        for (task, method), curve in sorted(data.items()):
            steps = np.asarray(curve["steps"], float)
            at = np.flatnonzero(np.isclose(steps, 1.0))
            if not len(at):  # online-only baselines (RLPD, ...) have no offline phase
                continue
            i = int(at[0])
            rows.append(dict(level=level, task=task, method=method,
                             success=round(100 * float(curve["means"][i]), 2),
                             ci_low=round(100 * float(curve["ci_lows"][i]), 2),
                             ci_high=round(100 * float(curve["ci_highs"][i]), 2)))
    _write("action_chunking_qc.csv", [
        "source: Li, Zhou & Levine, \"Reinforcement Learning with Action Chunking\", NeurIPS "
        f"2025; ColinQiyangLi/qc at {commit}, plot_data/ogbench-individual.pkl and "
        "ogbench-agg.pkl: success rate (%) after the 1M offline steps (OGBench play data, "
        "1M transitions; cube-quadruple 100M), mean and 95% bootstrap CI over seeds; "
        "task rows are <domain>-play-task<i> (single-task), domain rows the mean over its 5 "
        "tasks; written by tools/reference_action_chunking.py"],
        ["level", "task", "method", "success", "ci_low", "ci_high"], rows)


def dqc_rows(repo: str) -> None:
    data, commit = _blob(repo, "exp_data/dqc-exp-data.pkl")
    rows = []
    for (task, method), runs in sorted(data.items()):
        final = 100 * np.asarray(runs, float)[-1]
        rows.append(dict(task=task, method=method, seeds=final.size,
                         success=round(float(final.mean()), 2),
                         success_std=round(float(final.std()), 2)))
    _write("action_chunking_dqc.csv", [
        "source: Li, Park & Levine, \"Decoupled Q-Chunking\", ICLR 2026; ColinQiyangLi/dqc at "
        f"{commit}, exp_data/dqc-exp-data.pkl: success rate (%) over OGBench's 5 evaluation "
        "goals at 1M steps, mean and std over 10 seeds (oracle goal representations; "
        "cube-triple/quadruple on 100M-transition and cube-octuple/puzzle-4x6 on 1B-transition "
        "datasets, humanoidmaze-giant and puzzle-4x5 on the standard ones: the README); "
        "written by tools/reference_action_chunking.py"],
        ["task", "method", "seeds", "success", "success_std"], rows)


if __name__ == "__main__":
    qc_rows(sys.argv[1])
    dqc_rows(sys.argv[2])
