"""Deep graphs, reference cycles and memory."""

from __future__ import annotations

import gc
import importlib
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


def _random_locks_program(seed: int) -> list:
    """A random program over arrays given to tensors, view ops, hand-outs, ops that save
    them, and graphs finished by backward() or dropped; returns every array it handed out
    or was given, once every graph is gone."""
    rng = np.random.default_rng(seed)
    n = int(rng.choice([4, 96]))  # 96 x 96 float64: 72 KiB, locked rather than copied by ops
    arrays = [rng.standard_normal((n, n)) for _ in range(2)]
    arrays.append(arrays[0].T)  # the caller's own view, given to the engine below
    p = ad.tensor(np.ones((n, n)), requires_grad=True)
    tensors = []
    for a in arrays:
        t = Tensor(np.zeros((n, n)))
        t.data = a
        tensors.append(t)
    views = [ad.transpose, ad.flatten, lambda x: ad.reshape(x, (np.shape(x)[-1], -1)),
             lambda x: ad.getitem(x, slice(0, n // 2))]
    graphs, g = [], None
    for _ in range(16):
        step = rng.integers(4)
        pick = arrays[rng.integers(len(arrays))] if rng.integers(2) else tensors[rng.integers(len(tensors))]
        if step == 0:  # a view op on an array or a tensor
            tensors.append(views[rng.integers(len(views))](pick))
        elif step == 1:  # an array handed out
            t = tensors[rng.integers(len(tensors))]
            arrays.append(t.numpy() if rng.integers(2) else np.asarray(t))
        elif step == 2:  # an op that saves an array or a tensor
            graphs.append((ad.reshape(p, (-1,))[: pick.size].reshape(pick.shape) * pick).sum())
        elif graphs:  # a graph finished or dropped
            g = graphs.pop(rng.integers(len(graphs)))
            if rng.integers(2):
                g.backward()
    del graphs, g
    gc.collect()
    return arrays


def test_random_programs_leave_no_array_read_only_once_every_graph_is_gone():
    locks = importlib.import_module("autodiff.tensor")
    for seed in range(200):  # 2 s
        arrays = _random_locks_program(seed)
        stuck = [i for i, a in enumerate(arrays) if not a.flags.writeable]
        assert not stuck, f"seed {seed}: arrays {stuck} of {len(arrays)} left read-only"
        assert not (locks._FROZEN or locks._WAITING or locks._BLOCKED), f"seed {seed}"
        live = [lock for ref, _ in locks._MEMORY.values() if (lock := ref()) is not None]
        assert not any(lock.count or type(lock.exposed) is tuple for lock in live), f"seed {seed}"
