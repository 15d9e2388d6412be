"""The benchmark suite runs end to end (``python -m benchmarks --quick``), and its parts behave."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pytest

from benchmarks._measure import _mismatch
from benchmarks.registry import Goal, Workload
from benchmarks.workloads import WORKLOADS, select

ROOT = Path(__file__).parent.parent


@pytest.mark.slow
def test_the_quick_suite_runs_and_writes_its_results(tmp_path):
    command = [sys.executable, "-m", "benchmarks", "--quick", "--no-progress", "--out", str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads((tmp_path / "results.json").read_text())
    measured = {(r["workload"], r["implementation"]): r for r in report["results"]}
    for key, workload in WORKLOADS.items():
        assert measured[key, "ours"]["status"] == "ok", measured[key, "ours"]
        if "limit" in workload.implementations:
            assert measured[key, "limit"]["status"] == "ok"
            assert measured[key, "ours"]["ratio"] > 0
    quick_goals = {key for key, w in WORKLOADS.items()
                   if any(goal.applies(size) for goal in w.goals for size in w.quick_sizes)}
    assert {g["workload"] for g in report["goals"]} == quick_goals
    table = (tmp_path / "results.md").read_text()
    assert all(f"| {key} " in table for key in WORKLOADS)
    if find_spec("matplotlib"):
        assert (tmp_path / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_wrong_result_is_a_mismatch_elementwise_and_in_norm():
    want = [np.linspace(1.0, 2.0, 100_000)]
    assert _mismatch([want[0] * (1 + 1e-12)], want, rtol=1e-9, atol=0.0) is None
    assert "differs" in _mismatch([want[0] * 1.001], want, rtol=1e-9, atol=0.0)
    flipped = want[0].copy()
    flipped[3] = 0.0  # one element of many off, as a ReLU at the edge of rounding makes it
    assert "differs" in _mismatch([flipped], want, rtol=1e-3, atol=0.0)
    assert _mismatch([flipped], want, rtol=5e-3, atol=0.0, check="norm") is None
    assert "relative in norm" in _mismatch([want[0] * 1.1], want, rtol=5e-3, atol=0.0, check="norm")
    assert "shape" in _mismatch([want[0][:10]], want, rtol=1e-9, atol=0.0)


def test_select_takes_variants_and_refuses_unknown_workloads():
    assert select(["W5"]) == ["W5h", "W5v"]
    assert select(["W1"]) == ["W1", "W1f"]
    assert select(["w6"]) == ["W6"]
    with pytest.raises(KeyError):
        select(["W9"])


def test_goals_describe_themselves_and_per_node_workloads_need_nodes():
    assert Goal("time", 0.2).describe("ms") == "≤ 0.2 ms"
    assert Goal("ratio_to", 1.0, other="W1").describe("µs/node") == "≤ 1× ours on W1"
    with pytest.raises(ValueError, match="need nodes"):
        Workload("X", "x", "x", "n", (1,), (1,), unit="µs/node")
    per_node = Workload("Y", "y", "y", "n", (1,), (1,), unit="µs/node", nodes=lambda n: 4 * n)
    assert per_node.figure(1e-3, 5) == pytest.approx(50.0)  # 1 ms over 20 nodes, in µs


def test_a_missing_optimiser_update_is_a_mismatch(tmp_path, monkeypatch):
    # the numbers of a step that updates parameters are checked for two calls: the second
    # call's gradients depend on the first update, so skipping or botching it fails the check
    import nn
    from benchmarks._measure import measure

    reference = str(tmp_path / "limit.npz")
    measure("W2", "limit", 100, 1, 1, 0.0, save=reference)
    assert "times_s" in measure("W2", "ours", 100, 1, 1, 0.0, reference=reference)
    monkeypatch.setattr(nn.optim.SGD, "step", lambda self: None)
    outcome = measure("W2", "ours", 100, 1, 1, 0.0, reference=reference)
    assert "in the second call, after the first update" in outcome["mismatch"]


def test_goals_not_measured_say_so_and_ratios_near_one_keep_three_figures():
    from benchmarks.runner import _goal_cells, _goals, _time_cell

    only_w1f = [{"workload": "W1f", "size": 1000, "implementation": "ours", "status": "ok", "time": 3.0}]
    goals = _goals(only_w1f)
    assert [g["met"] for g in goals] == [None]  # W1 was not run: nothing to compare with
    assert _goal_cells(goals, ("ratio_to",), only_w1f[0]) == ["≤ 1× ours on W1",
                                                              "not measured (needs ours on W1)"]
    record = {"status": "ok", "time": 1.0, "time_range": [1.0, 1.0]}
    assert _time_cell({**record, "ratio": 1.021}, False) == "1.00 (1.02×)"
    assert _time_cell({**record, "ratio": 1.049}, False) == "1.00 (1.05×)"
    assert _time_cell({**record, "ratio": 12.4}, False) == "1.00 (12×)"
    stopped = {"status": "timeout", "reason": "not run: timeout at N=10^5"}
    assert _time_cell(stopped, False) == "not run"
