"""The README's code and every docstring example run as written."""

from __future__ import annotations

import doctest
import importlib
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
MODULES = ["autodiff", "autodiff.tensor", "autodiff.functional", "autodiff.viz", "autodiff.ops",
           "autodiff.backward", "autodiff.gradcheck", "autodiff.grad_mode", "autodiff.creation",
           "nn.module", "nn.layers", "nn.losses", "nn.data", "nn.train"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name),
                             optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_readme_code_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the examples write pictures
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    assert blocks
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)
