"""Deep graphs, reference cycles and memory."""

from __future__ import annotations

import gc
import sys
import weakref

import numpy as np
import pytest

import autodiff as ad
from autodiff.tensor import Tensor


@pytest.mark.slow  # 20 s: CI runs it with the other slow checks (pytest -m slow)
def test_a_million_op_chain_goes_forward_and_backward_without_recursion():
    x = ad.tensor([1.0], requires_grad=True)
    y = x
    for _ in range(500_000):
        y = y * 1.000001 + 0.0  # two ops per step
    assert sys.getrecursionlimit() < 1_000_000
    y.backward(np.ones(1))
    assert x.grad.item() == np.float64(1.000001) ** 500_000 or np.isclose(x.grad.item(), 1.000001 ** 500_000)


def test_a_deep_graph_dropped_without_backward_is_freed_without_recursion():
    x = ad.tensor([1.0], requires_grad=True)
    first = y = x + 1.0
    probe = weakref.ref(first)
    del first
    for _ in range(300_000):
        y = y + 1.0
    del y
    assert probe() is None


def _live_tensors() -> int:
    return sum(1 for o in gc.get_objects() if type(o) is Tensor)


def test_no_reference_cycles_over_ten_thousand_training_steps():
    rng = np.random.default_rng(0)
    w = ad.tensor(rng.standard_normal((4, 3)) * 0.1, requires_grad=True)
    b = ad.tensor(np.zeros(3), requires_grad=True)
    data = ad.tensor(rng.standard_normal((8, 4)))
    target = ad.tensor(rng.standard_normal((8, 3)))

    def step():
        loss = (((data @ w + b).tanh() - target) ** 2).mean()
        loss.backward()
        with ad.no_grad():
            for p in (w, b):
                p -= 0.01 * p.grad
                p.grad = None

    gc.collect()
    gc.disable()
    try:
        for _ in range(100):
            step()
        before = _live_tensors()
        for _ in range(10_000):
            step()
        after = _live_tensors()
        assert gc.collect() == 0  # nothing was left for the cycle collector
    finally:
        gc.enable()
    assert after == before


def test_memory_is_freed_when_the_last_reference_to_the_output_goes():
    gc.disable()
    try:
        x = ad.tensor(np.ones(1000), requires_grad=True)
        h = x.exp()
        y = (h * x).sin().sum()
        s = (h * x).sin()
        probes = [weakref.ref(h), weakref.ref(s)]
        del s
        del h
        assert probes[0]() is not None  # still needed by the graph of y
        del y
        assert all(p() is None for p in probes)
    finally:
        gc.enable()


def test_backward_releases_the_graph():
    gc.disable()
    try:
        x = ad.tensor(np.ones(10), requires_grad=True)
        h = x.exp()
        probe = weakref.ref(h)
        y = (h * 2).sum()
        del h
        y.backward()
        assert probe() is None  # y is alive but its graph's saved values are gone
    finally:
        gc.enable()
