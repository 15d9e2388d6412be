"""``python -m autodiff check``: every op in both directions and to second order."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

import autodiff as ad
import autodiff.check as check
import autodiff.ops as ops


def test_every_op_passes_reverse_forward_and_second_order_on_every_shape(capsys):
    assert check.run(progress=False) == 0
    out = capsys.readouterr().out
    assert f"{len(check.CASES)} passed, 0 failed" in out


def test_a_wrong_tangent_rule_fails_the_check(monkeypatch, capsys):
    monkeypatch.setattr(ops, "_TANH", lambda g, out, x: g * (1 - out))  # tanh's rule, both directions
    assert check.run("tanh", progress=False) == 1
    assert "FAILED" in capsys.readouterr().out


def test_second_order_covers_the_cross_terms_between_operands(monkeypatch, capsys):
    # values right, first derivatives right, d²/dx² right (0): only d²(xy)/dxdy = 1 is lost
    detached = (lambda g, out, x, y: g * np.asarray(y), lambda g, out, x, y: g * np.asarray(x))
    monkeypatch.setattr(ops, "_MULTIPLY", detached)
    x, y = ad.tensor([1.0, -2.0, 3.0], requires_grad=True), ad.tensor([0.5, 2.0, -1.0], requires_grad=True)
    assert ad.gradcheck(ad.multiply, (x, y))
    row = check.check_case(next(c for c in check.CASES if c.name == "multiply"))
    assert not row["passed"] and row["2nd"][0] > 0.5


def test_random_shapes_come_from_the_seed():
    case = next(c for c in check.CASES if c.name == "add")
    assert check.shape_sets(case, 3) == check.shape_sets(case, 3)
    assert check.shape_sets(case)[:len(case.shapes)] == check.shape_sets(case, 3)[:-1]
    drawn = {check.shape_sets(case, seed)[-1] for seed in range(20)}
    assert len(drawn) > 5
    for x, y in drawn:
        np.broadcast_shapes(x, y)  # always a broadcastable pair


def test_command_line_table_and_filter():
    result = subprocess.run([sys.executable, "-m", "autodiff", "check", "--op", "softmax", "--no-progress"],
                            capture_output=True, text=True)
    assert result.returncode == 0
    header = result.stdout.splitlines()[0].split()
    assert header == ["op", "runs", "rev", "abs", "rev", "rel", "fwd", "abs", "fwd", "rel",
                      "2nd", "abs", "2nd", "rel", "result"]
    assert "softmax" in result.stdout and "matmul" not in result.stdout
    missing = subprocess.run([sys.executable, "-m", "autodiff", "check", "--op", "nonexistent"],
                             capture_output=True, text=True)
    assert missing.returncode == 2 and "no op matches" in missing.stdout
