"""The main job, ``python -m autodiff demo``, and the digits bar."""

from __future__ import annotations

import builtins
import struct
import subprocess
import sys
import time

import numpy as np
import pytest

import autodiff.viz as viz
import nn
from autodiff.__main__ import main

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR", f"{path.name} is not a PNG"
    return struct.unpack(">II", data[16:24])


def test_demo_with_its_defaults_trains_and_writes_every_picture(tmp_path, capsys):
    # the README's first command, as it runs it: no option but where to write and no bars
    pytest.importorskip("matplotlib", reason="matplotlib not installed: pip install -e '.[examples]'")
    assert viz.renderer("png") is not None, "graphviz-pure is a dependency: a PNG renderer is always there"
    assert main(["demo", "--out", str(tmp_path), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "[1 1] -> " in printed and "WRONG" not in printed
    accuracy = float(printed.split("test accuracy ")[1].split()[0])
    assert accuracy >= 0.97
    assert f"graph of one training step (8 samples): {tmp_path / 'graph.png'}" in printed
    for name in ("graph.png", "loss.png", "boundary.png"):
        assert min(png_size(tmp_path / name)) > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["boundary.png", "graph.png", "loss.png"]


def test_demo_without_matplotlib_or_a_renderer_says_so_and_writes_the_numbers(tmp_path, capsys, monkeypatch):
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    monkeypatch.setattr(viz, "_find", lambda name: None)  # neither the system dot nor graphviz-pure
    epochs = 30  # the fallbacks, not the training, are under test here
    assert main(["demo", "--out", str(tmp_path), "--no-progress", "--epochs", str(epochs)]) == 0
    printed = capsys.readouterr().out
    assert "matplotlib is not installed" in printed
    assert "graph of one training step not drawn: cannot render .png: no Graphviz program found" in printed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["boundary.csv", "graph.dot", "loss.csv"]
    loss = np.loadtxt(tmp_path / "loss.csv", delimiter=",", skiprows=1)
    assert loss.shape == (epochs, 3) and np.all(np.isfinite(loss))
    boundary = np.loadtxt(tmp_path / "boundary.csv", delimiter=",", skiprows=1)
    assert boundary.shape[1] == 3 and np.all((boundary[:, 2] >= 0) & (boundary[:, 2] <= 1))
    source = (tmp_path / "graph.dot").read_text()
    assert source.startswith("digraph") and "cross_entropy" in source and "layers.0.weight" in source


def test_demo_help_documents_every_option():
    out = subprocess.run([sys.executable, "-m", "autodiff", "demo", "--help"],
                         capture_output=True, text=True, check=True).stdout
    for option in ("--out", "--seed", "--epochs", "--samples", "--no-progress"):
        assert option in out


def test_demo_says_in_one_line_when_its_folder_cannot_be_made(tmp_path):
    (tmp_path / "taken").write_text("a file")
    start = time.perf_counter()
    failed = subprocess.run([sys.executable, "-m", "autodiff", "demo", "--out", str(tmp_path / "taken"),
                             "--no-progress"], capture_output=True, text=True)
    assert failed.returncode == 1 and "Traceback" not in failed.stderr
    assert failed.stderr.startswith("demo: cannot make the output folder --out")
    assert failed.stderr.count("\n") == 1
    assert "XOR" not in failed.stdout  # said before any training
    assert time.perf_counter() - start < 30


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
