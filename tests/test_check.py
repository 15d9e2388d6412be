"""``python -m autodiff check``: every op in both directions and to second order."""

from __future__ import annotations

import subprocess
import sys

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


def test_command_line_table_and_filter():
    result = subprocess.run([sys.executable, "-m", "autodiff", "check", "--op", "softmax", "--no-progress"],
                            capture_output=True, text=True)
    assert result.returncode == 0
    header = result.stdout.splitlines()[0].split()
    assert header[:5] == ["op", "runs", "reverse", "forward", "2nd"]
    assert "softmax" in result.stdout and "matmul" not in result.stdout
    missing = subprocess.run([sys.executable, "-m", "autodiff", "check", "--op", "nonexistent"],
                             capture_output=True, text=True)
    assert missing.returncode == 2 and "no op matches" in missing.stdout
