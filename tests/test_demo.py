"""The main job, ``python -m autodiff demo``, and the digits bar."""

from __future__ import annotations

import builtins
import subprocess
import sys
import time

import numpy as np
import pytest

import nn
from autodiff.__main__ import main

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_demo_trains_and_writes_pictures(tmp_path, capsys):
    pytest.importorskip("matplotlib", reason="matplotlib not installed: pip install -e '.[examples]'")
    assert main(["demo", "--out", str(tmp_path), "--no-progress", "--epochs", "40"]) == 0
    printed = capsys.readouterr().out
    assert "[1 1] -> " in printed and "WRONG" not in printed
    accuracy = float(printed.split("test accuracy ")[1].split()[0])
    assert accuracy >= 0.97
    for name in ("loss.png", "boundary.png"):
        assert (tmp_path / name).read_bytes()[:8] == PNG_SIGNATURE


def test_demo_without_matplotlib_writes_csv(tmp_path, capsys, monkeypatch):
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    assert main(["demo", "--out", str(tmp_path), "--no-progress", "--epochs", "30"]) == 0
    assert "matplotlib is not installed" in capsys.readouterr().out
    loss = np.loadtxt(tmp_path / "loss.csv", delimiter=",", skiprows=1)
    assert loss.shape == (30, 3) and np.all(np.isfinite(loss))
    boundary = np.loadtxt(tmp_path / "boundary.csv", delimiter=",", skiprows=1)
    assert boundary.shape[1] == 3 and np.all((boundary[:, 2] >= 0) & (boundary[:, 2] <= 1))


def test_demo_help_documents_every_option():
    out = subprocess.run([sys.executable, "-m", "autodiff", "demo", "--help"], capture_output=True, text=True, check=True).stdout
    for option in ("--out", "--seed", "--epochs", "--samples", "--no-progress"):
        assert option in out


def test_digits_reach_96_percent_with_a_64_64_10_mlp():
    pytest.importorskip("sklearn", reason="scikit-learn not installed: pip install -e '.[examples]'")
    rng = np.random.default_rng(0)
    X, y = nn.data.digits()
    X_train, y_train, X_test, y_test = nn.data.train_test_split(X, y, 0.25, rng=rng)
    model = nn.MLP([64, 64, 10], rng=rng)
    start = time.perf_counter()
    nn.fit(model, nn.cross_entropy, nn.optim.Adam(model.parameters(), 3e-3), (X_train, y_train),
           epochs=40, batch_size=32, rng=rng, progress=False)
    seconds = time.perf_counter() - start
    accuracy = nn.evaluate(model, nn.cross_entropy, (X_test, y_test))["accuracy"]
    print(f"digits: test accuracy {accuracy:.3f} after {seconds:.1f} s of training")
    assert accuracy >= 0.96
