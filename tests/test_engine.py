"""The reverse sweep's semantics: accumulation, retain/create graph, hooks, grad mode, errors."""

from __future__ import annotations

import gc
import importlib

import numpy as np
import pytest

import autodiff as ad


def test_issue_example():
    x = ad.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    b = ad.tensor([0.5, -0.5], requires_grad=True)
    loss = ((x @ x.T + b).tanh() ** 2).mean()
    loss.backward()
    assert isinstance(x.grad, ad.Tensor) and x.grad.shape == (2, 2) and b.grad.shape == (2,)
    assert ad.gradcheck(lambda x, b: ((x @ x.T + b).tanh() ** 2).mean(), (x, b))


def test_matches_the_chain_rule_by_hand():
    # y = tanh(w x + b), dy/dw = (1 - y^2) x, dy/db = 1 - y^2
    w, b = ad.tensor(0.7, requires_grad=True), ad.tensor(-0.2, requires_grad=True)
    x = 1.5
    y = (w * x + b).tanh()
    y.backward()
    local = 1 - np.tanh(0.7 * 1.5 - 0.2) ** 2
    assert w.grad.item() == pytest.approx(local * x, rel=1e-15)
    assert b.grad.item() == pytest.approx(local, rel=1e-15)


def test_adjoint_sums_over_all_consumers():
    x = ad.tensor(2.0, requires_grad=True)
    y = x * x + x.sin() * x + 3 * x  # x has five consumers
    y.backward()
    assert x.grad.item() == pytest.approx(2 * 2 + np.cos(2) * 2 + np.sin(2) + 3, rel=1e-14)


def test_a_tensor_times_itself_is_one_square_node_with_the_products_gradient():
    rng = np.random.default_rng(0)
    values, seed = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    x = ad.tensor(values, requires_grad=True)
    y = x * x
    assert y.op == "square" and np.square(x).op == "square" and ad.multiply(x, x).op == "square"
    y.backward(seed)
    np.testing.assert_array_equal(y.numpy(), values * values)
    # the two products' gradients, summed as the sweep sums them, to the bit
    np.testing.assert_array_equal(x.grad.numpy(), seed * values + seed * values)
    # another tensor sharing x's array is another operand: a product, gradient to x alone
    x.grad = None
    twin = x.detach()
    z = x * twin
    assert z.op == "multiply"
    z.backward(seed)
    np.testing.assert_array_equal(x.grad.numpy(), seed * values)


def test_leaves_accumulate_across_backward_calls_and_nonleaves_keep_no_grad():
    x = ad.tensor([1.0, 2.0], requires_grad=True)
    h = x * 3
    (h * h).sum().backward()
    first = x.grad.numpy().copy()
    np.testing.assert_allclose(first, 18 * x.numpy())
    assert h.grad is None
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), first + 2 * x.numpy())


def test_retain_grad_keeps_a_nonleaf_gradient():
    x = ad.tensor([1.0, -2.0], requires_grad=True)
    h = x * 3
    h.retain_grad()
    (h * h).sum().backward()
    np.testing.assert_allclose(h.grad.numpy(), 2 * h.numpy())


def test_retain_grad_keeps_the_gradient_after_every_other_hook():
    # as PyTorch's: retain_grad asked for before a hook that replaces the gradient keeps the replacement
    x = ad.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2
    h.retain_grad()
    h.register_hook(lambda g: g * 10)
    h.sum().backward()
    np.testing.assert_array_equal(h.grad.numpy(), [10.0, 10.0])
    np.testing.assert_array_equal(x.grad.numpy(), [20.0, 20.0])


def test_a_hook_sees_the_gradient_read_only():
    # the gradient an add gives both operands is one array: a write by one hook would reach the other
    a, b = ad.tensor([1.0, 2.0], requires_grad=True), ad.tensor([1.0, 2.0], requires_grad=True)
    pa, pb = a * 1, b * 1
    pb.register_hook(lambda g: g.__iadd__(1.0))
    with pytest.raises(ValueError, match="a hook on the tensor of op 'multiply' wrote into the gradient"):
        (pa + pb).sum().backward()
    a.register_hook(lambda g: g.__imul__(2.0))
    with pytest.raises(ValueError, match="a hook on a leaf wrote into the gradient it was given"):
        (a * 2).sum().backward()
    # a 0-d tensor with two consumers: its contributions add up to a numpy scalar
    s = ad.tensor(2.0, requires_grad=True)
    y = s * 3
    y.retain_grad()
    s.register_hook(lambda g: g * 10)
    (y + y * 2).backward()
    assert y.grad.item() == 3.0 and s.grad.item() == 90.0


def test_a_0d_leaf_used_twice_gets_a_gradient_array():
    # 0-d contributions add up to a numpy scalar: stored as .grad's values, writing into
    # them did nothing (fill(0), then a second backward accumulated onto the old value)
    w = ad.tensor(2.0, requires_grad=True)
    (w * 3 + w * 4).backward()
    assert type(w.grad.numpy()) is np.ndarray and w.grad.item() == 7.0
    w.grad.data.fill(0)
    (w * 3 + w * 4).backward()
    assert w.grad.item() == 7.0
    (w * 3 + w * 4).backward()  # accumulated onto .grad: 0-d too
    assert type(w.grad.numpy()) is np.ndarray and w.grad.item() == 14.0


def test_second_backward_through_a_freed_graph_raises():
    x = ad.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp() * 2).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="already freed.*retain_graph=True"):
        y.backward()


def test_retain_graph_allows_a_repeat_with_the_same_result():
    x = ad.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp() * x).sum()
    (g1,) = ad.gradients(y, x, retain_graph=True)
    (g2,) = ad.gradients(y, x)
    np.testing.assert_array_equal(g1.numpy(), g2.numpy())


def test_gradients_does_not_touch_grad_attributes():
    x = ad.tensor([1.0, 2.0], requires_grad=True)
    (g,) = ad.gradients((x * x).sum(), x)
    assert x.grad is None
    np.testing.assert_array_equal(g.numpy(), [2.0, 4.0])


def test_gradients_drawing_and_explaining_leave_retained_grads_alone():
    x = ad.tensor([1.0, 2.0], requires_grad=True)
    h = x * 3
    h.retain_grad()
    loss = (h * h).sum()
    (gh,) = ad.gradients(loss, h, retain_graph=True)
    ad.draw(loss)
    ad.explain(loss)
    assert h.grad is None and x.grad is None
    seen = []
    h.register_hook(lambda g: seen.append(g.numpy().copy()))  # user hooks still see gradients
    ad.gradients(loss, x, retain_graph=True)
    loss.backward()
    np.testing.assert_allclose(gh.numpy(), 2 * h.numpy())
    np.testing.assert_allclose(h.grad.numpy(), 2 * h.numpy())  # once, from backward alone
    assert len(seen) == 2


def test_gradients_of_an_intermediate_and_unused_inputs():
    x = ad.tensor(1.5, requires_grad=True)
    unused = ad.tensor(1.0, requires_grad=True)
    h = x * x
    y = h.sin()
    gh, gu = ad.gradients(y, (h, unused), allow_unused=True)
    assert gh.item() == pytest.approx(np.cos(2.25)) and gu is None
    with pytest.raises(ValueError, match="not used"):
        ad.gradients(x * 2, unused)
    y = x * 2
    with pytest.raises(ValueError, match=r"input 1 \(shape \(\)\) is not used"):
        ad.gradients(y, [x, unused])
    assert ad.gradients(y, x)[0].item() == 2.0  # the error came before the graph was freed


@pytest.mark.parametrize("order", [0, 1])
def test_gradients_of_outputs_that_repeat_or_feed_each_other(order):
    # y is an output and also feeds z: each of y's own inputs waits for one consumer, not two
    x = ad.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    z = y * y
    outputs = [y, z][::1 - 2 * order]
    (g,) = ad.gradients(outputs, [x], grad_outputs=[np.ones(2), np.ones(2)], retain_graph=True)
    np.testing.assert_array_equal(g.numpy(), 3 + 18 * x.numpy())  # d(y + z)/dx = 3 + 2 y 3
    (g,) = ad.gradients([y, y], [x], grad_outputs=[np.ones(2), 2 * np.ones(2)])  # the seeds add
    np.testing.assert_array_equal(g.numpy(), [9.0, 9.0])


def test_jvp_and_hvp_at_inputs_that_require_grad():
    # jvp's reverse-of-reverse passes the same tensor as two outputs (an add's two gradients)
    values, other = np.array([0.3, 0.5]), np.array([0.1, -0.2])
    a, b = ad.tensor(values, requires_grad=True), ad.tensor(other, requires_grad=True)
    directions = (np.array([1.0, 0.0]), np.array([0.0, 1.0]))
    _, tangent = ad.jvp(lambda a, b: ad.sin(a + b), (a, b), directions)
    np.testing.assert_allclose(tangent.numpy(), np.cos(values + other), rtol=1e-15)
    _, (ha, hb) = ad.hvp(lambda a, b: ad.sin(a + b).sum(), (a, b), directions)
    np.testing.assert_allclose(ha.numpy(), -np.sin(values + other), rtol=1e-15)
    np.testing.assert_allclose(hb.numpy(), -np.sin(values + other), rtol=1e-15)


@pytest.mark.parametrize(
    "fn, derivatives",
    [
        (lambda x: x.sin(), [np.cos, lambda x: -np.sin(x), lambda x: -np.cos(x)]),
        (lambda x: x.tanh(), [lambda x: 1 - np.tanh(x) ** 2,
                              lambda x: -2 * np.tanh(x) * (1 - np.tanh(x) ** 2),
                              lambda x: (6 * np.tanh(x) ** 2 - 2) * (1 - np.tanh(x) ** 2)]),
        (lambda x: x ** 3, [lambda x: 3 * x ** 2, lambda x: 6 * x, lambda x: 6 + 0 * x]),
        (lambda x: x.exp() * x, [lambda x: np.exp(x) * (x + 1), lambda x: np.exp(x) * (x + 2),
                                 lambda x: np.exp(x) * (x + 3)]),
    ],
)
def test_higher_order_derivatives_match_closed_forms(fn, derivatives):
    values = np.array([-1.3, 0.2, 0.9])
    x = ad.tensor(values, requires_grad=True)
    y = fn(x)
    for closed_form in derivatives:
        (y,) = ad.gradients(y.sum(), x, create_graph=True)
        np.testing.assert_allclose(y.numpy(), closed_form(values), rtol=1e-12, atol=1e-12)


def test_backward_with_create_graph_fills_grad_with_a_differentiable_tensor():
    x = ad.tensor(0.5, requires_grad=True)
    (x ** 4).backward(create_graph=True)
    assert x.grad.requires_grad and x.grad.item() == pytest.approx(4 * 0.5 ** 3)
    (g2,) = ad.gradients(x.grad, x)
    assert g2.item() == pytest.approx(12 * 0.5 ** 2)


def test_create_graph_stores_a_gradient_of_its_own_in_each_leaf():
    # an add gives both operands one gradient, the seed is the user's, a sum's is a read-only
    # broadcast: each leaf stores a (recorded) copy, as PyTorch clones
    x, y = ad.tensor(np.ones(3), requires_grad=True), ad.tensor(np.ones(3), requires_grad=True)
    ((x + y) * ad.tensor([1.0, 2.0, 3.0])).sum().backward(create_graph=True)
    assert x.grad is not y.grad
    with ad.no_grad():
        x.grad *= 10
    np.testing.assert_array_equal(y.grad.numpy(), [1.0, 2.0, 3.0])
    seed = ad.tensor([1.0, 2.0, 3.0])
    z = ad.tensor(np.ones(3), requires_grad=True)
    (z + 0).backward(seed, create_graph=True)
    with ad.no_grad():
        z.grad += 1  # writable, and not the seed
    np.testing.assert_array_equal(seed.numpy(), [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(z.grad.numpy(), [2.0, 3.0, 4.0])
    w = ad.tensor([1.0, 2.0], requires_grad=True)
    w.sum().backward(create_graph=True)
    with ad.no_grad():
        w.grad *= 2  # not the read-only broadcast of the sum's gradient
    np.testing.assert_array_equal(w.grad.numpy(), [2.0, 2.0])


def test_copy_has_memory_of_its_own_and_passes_the_gradient():
    x = ad.tensor([1.0, 2.0], requires_grad=True)
    c = ad.copy(x)
    assert not np.shares_memory(c.numpy(), x.numpy()) and c.op == "copy"
    assert np.copy(x).op == "copy" and x.copy().op == "copy"
    (c * c).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])


def test_hook_sees_and_may_replace_the_gradient():
    x = ad.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2
    seen = []
    h.register_hook(lambda g: seen.append(g.numpy().copy()))
    handle = h.register_hook(lambda g: g * 10)
    (h * h).sum().backward(retain_graph=True)
    np.testing.assert_array_equal(seen[0], 2 * h.numpy())
    np.testing.assert_array_equal(x.grad.numpy(), 10 * 2 * 2 * h.numpy())
    handle.remove()
    x.grad = None
    (h * h).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), 2 * 2 * h.numpy())


def test_hook_on_a_leaf_changes_what_is_accumulated():
    x = ad.tensor([1.0, 2.0], requires_grad=True)
    x.register_hook(lambda g: g * 0)
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0])


@pytest.mark.parametrize("create", [False, True])
def test_a_hook_result_takes_its_tensor_s_dtype_and_may_be_a_list(create):
    # a float64 result made a float32 leaf's .grad float64; under create_graph a list failed
    # on its missing .shape
    x = ad.tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
    h = x * 2
    h.register_hook(lambda g: g.numpy().astype(np.float64) * 3 if not create else [3.0, 3.0])
    x.register_hook(lambda g: np.asarray(g, np.float64) + 1)
    h.sum().backward(create_graph=create)
    (x * 2).sum().backward(create_graph=create)  # accumulated: 7 + (2 + 1)
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.numpy(), [10.0, 10.0])  # (3 from h's hook) * 2 + 1, then 3


def test_a_hook_returning_a_list_holding_a_differentiated_tensor_is_an_error():
    # under create_graph the list became a constant: its tensors' derivatives were lost
    # (a wrong second derivative); ad.stack keeps them
    x = ad.tensor([1.0, 2.0], requires_grad=True)
    y = x * 1.0
    y.register_hook(lambda g: [g[0] * x[0], g[1] * x[1]])
    with pytest.raises(TypeError, match=r"a list holding a tensor that requires grad.*ad\.stack"):
        ad.gradients((y ** 2).sum() + (x ** 3).sum(), [x], create_graph=True)


def _diamond():
    """x feeds h twice (two consumers); y = h * h + h: the counts the sweep keeps matter."""
    x = ad.tensor([0.5, -1.5], requires_grad=True)
    h = x.sin() * x
    return x, h, (h * h + h).sum()


def _diamond_grad(x):
    h, dh = np.sin(x) * x, np.cos(x) * x + np.sin(x)
    return (2 * h + 1) * dh


def test_a_sweep_that_fails_leaves_nothing_behind_for_the_next():
    calls = []

    @ad.op(symmetric=True)
    def fragile(x):
        def rule(g, out, x):
            calls.append(1)
            if len(calls) == 1:
                raise ArithmeticError("rule failed once")
            return g
        return x.copy(), rule

    x, h, y = _diamond()
    y = y + fragile(h).sum()
    with pytest.raises(ArithmeticError, match="rule failed once"):
        y.backward(retain_graph=True)
    assert x.grad is None
    y.backward()  # the consumer counts left by the failed sweep must not be reused
    np.testing.assert_allclose(x.grad.numpy(), _diamond_grad(x.numpy()) + np.cos(x.numpy()) * x.numpy()
                               + np.sin(x.numpy()), rtol=1e-14)


def test_a_backward_inside_a_hook_of_another_backward():
    # the inner sweep runs over tensors (h, x) the outer one is half-way through
    x = ad.tensor([0.5, -1.5], requires_grad=True)
    h = x.sin() * x
    hh = h * h
    inner = []

    def hook(g):
        with ad.enable_grad():  # hooks run with recording off, as the sweep runs
            inner.append(ad.gradients((h * 3).sum(), x, retain_graph=True)[0].numpy())

    hh.register_hook(hook)
    (hh + h).sum().backward()
    x_ = x.numpy()
    np.testing.assert_allclose(inner[0], 3 * (np.cos(x_) * x_ + np.sin(x_)), rtol=1e-14)
    np.testing.assert_allclose(x.grad.numpy(), _diamond_grad(x_), rtol=1e-14)


def test_backward_in_several_threads_at_once():
    import sys
    import threading

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads take turns every few bytecodes, inside the sweeps
    x = ad.tensor(np.linspace(-1, 1, 7), requires_grad=True)  # shared by every graph
    errors, results = [], {}

    def work(k: int) -> None:
        try:
            for _ in range(50):
                h = (x * k).tanh()
                results[k] = ad.gradients((h * h + h).sum(), x)[0].numpy()
        except Exception as e:  # reported by the main thread
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in (1, 2, 3, 4)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert not errors
    for k, got in results.items():
        h = np.tanh(k * x.numpy())
        np.testing.assert_allclose(got, (2 * h + 1) * (1 - h * h) * k, rtol=1e-13)


def test_no_grad_and_enable_grad():
    w = ad.tensor([1.0], requires_grad=True)
    with ad.no_grad():
        y = w * 2
        with ad.enable_grad():
            z = w * 2
    assert not y.requires_grad and y.is_leaf
    assert z.requires_grad and not z.is_leaf

    @ad.no_grad()
    def f(t):
        return t * 3

    assert not f(w).requires_grad and ad.is_grad_enabled()


def test_grad_mode_belongs_to_its_thread():
    # ops skip reading their thread's mode while every thread is in the usual one; a thread
    # under no_grad must stop recording there only, and nowhere once it has left
    import threading

    w = ad.tensor([1.0], requires_grad=True)
    inside, leave, seen = threading.Event(), threading.Event(), {}

    def other() -> None:
        with ad.no_grad():
            seen["under no_grad"] = (w * 2).requires_grad
            inside.set()
            leave.wait()
        seen["after"] = (w * 2).requires_grad

    thread = threading.Thread(target=other)
    thread.start()
    inside.wait()
    assert (w * 2).requires_grad  # this thread still records
    with ad.detect_anomaly():
        assert (w * 2).requires_grad
    leave.set()
    thread.join()
    assert seen == {"under no_grad": False, "after": True}
    assert not ad.grad_mode._unusual  # every thread is back to the usual mode


def test_detach_cuts_the_graph_and_shares_values():
    x = ad.tensor([1.0, 2.0], requires_grad=True)
    d = (x * 2).detach()
    assert not d.requires_grad and d.is_leaf
    y = (x * d).sum()
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), d.numpy())


def test_the_first_order_sweep_creates_no_tensor_per_node(monkeypatch):
    x = ad.tensor(np.linspace(-1, 1, 8), requires_grad=True)
    y = x
    for _ in range(100):
        y = (y * 1.01 + 0.1).tanh()
    loss = y.sum()
    made = []
    modules = [importlib.import_module(f"autodiff.{name}")
               for name in ("tensor", "backward", "ops", "gradcheck")]
    original = modules[0]._wrap
    for module in modules:
        # _wrap is the one constructor every tensor-making path goes through
        monkeypatch.setattr(module, "_wrap", lambda *a: made.append(1) or original(*a))
    init = ad.Tensor.__init__
    monkeypatch.setattr(ad.Tensor, "__init__", lambda self, *a, **k: made.append(1) or init(self, *a, **k))
    loss.backward()
    assert len(made) == 1  # the leaf's .grad, nothing per node


def test_numpy_interop():
    x = ad.tensor([1.0, 2.0], requires_grad=True)
    assert isinstance(np.asarray(x), np.ndarray)
    y = np.array([3.0, 4.0]) * x  # an ndarray on the left defers to the tensor
    z = np.exp(x) + np.sum(x)  # numpy functions dispatch to the differentiable ops
    assert isinstance(y, ad.Tensor) and isinstance(z, ad.Tensor)
    (y + z).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 4.0] + np.exp([1.0, 2.0]) + 2)
    with pytest.raises(TypeError, match="arctan has no derivative rule"):
        np.arctan(x)
    with pytest.raises(TypeError, match="cumsum has no derivative rule"):
        np.cumsum(x)
    with pytest.raises(TypeError, match=r"np\.linalg\.norm has no derivative rule"):  # its module named
        np.linalg.norm(x)
    assert np.allclose(x, [1.0, 2.0])  # functions that give no gradient still read values
    np.testing.assert_array_equal(np.cumsum(x.detach()), [1.0, 3.0])


@pytest.mark.parametrize("call", [
    lambda np_, a: np_.sum(a, 0, None, None, True), lambda np_, a: np_.mean(a, 1, None),
    lambda np_, a: np_.max(a, 0, None, True), lambda np_, a: np_.var(a, 0, None, None, 1),
    lambda np_, a: np_.std(a, None, None, None, 1, True), lambda np_, a: np_.prod(a, 1, None),
])
def test_numpy_reductions_take_their_positional_arguments_by_numpy_s_names(call):
    # numpy's third is dtype (max's: out), the op's keepdims or ddof: they failed
    x = ad.tensor(np.arange(1.0, 7.0).reshape(2, 3) ** 1.5, requires_grad=True)
    v = x.detach().numpy()
    y = call(np, x)
    np.testing.assert_allclose(y.numpy(), call(np, v), rtol=1e-14)
    assert y.shape == call(np, v).shape
    assert ad.gradcheck(lambda x: call(np, x), (x,))
    with pytest.raises(TypeError, match=r"np.sum\(..., dtype=...\) is not supported"):
        np.sum(x, 0, np.float32)


def test_numpy_keywords_at_their_defaults_ask_nothing():
    # where=True, casting="same_kind", order="C" were refused as unsupported
    x = ad.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    y = (np.add(x, 1, where=True) + np.multiply(x, 2, casting="same_kind") + np.exp(x, order="K")
         + np.reshape(x, (2, 2), order="C") + np.ravel(x, order="C").reshape(2, 2))
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 5 + np.exp(x.detach().numpy()), rtol=1e-15)
    for other in (lambda: np.add(x, 1, where=np.array([True, False])), lambda: np.reshape(x, (4,), order="F"),
                  lambda: np.multiply(x, 2, casting="unsafe")):
        with pytest.raises(TypeError, match="not supported"):
            other()


def test_numpy_functions_of_indices_and_one_argument_where_read_values():
    # their results are integers or booleans, which carry no gradient: refused before as
    # "no derivative rule"; np.where(t > 0) failed for a missing x and y
    x = ad.tensor([0.5, -1.0, 2.0], requires_grad=True)
    v = x.detach().numpy()
    for fn in (lambda a: np.where(a > 0), np.argwhere, np.flatnonzero, lambda a: np.searchsorted(a, 0.0),
               lambda a: np.argpartition(a, 1), lambda a: np.digitize(a, [0.0, 1.0]),
               lambda a: np.isin(a, [2.0])):
        want, got = fn(v), fn(x)
        for w, g in zip(*((r if isinstance(r, tuple) else (r,)) for r in (want, got)), strict=True):
            assert type(g) is type(w)  # numpy's: arrays, and a number for one value searched
            np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("fn", [
    lambda w, c: ad.matmul(c, w), lambda w, c: ad.matmul(w, np.transpose(c).tolist()),
    lambda w, c: ad.linear(c, w, [0.5, -0.5]), lambda w, c: ad.power(w, c[0]), lambda w, c: w * c,
    lambda w, c: ad.einsum("ij,kj->ik", w, c), lambda w, c: ad.concatenate([w, c]),
])
def test_lists_as_operands_are_arrays_at_every_order(fn):
    rng = np.random.default_rng(0)
    w = ad.tensor(rng.uniform(0.5, 2, (2, 2)), requires_grad=True)
    constant = rng.uniform(0.5, 2, (1, 2))
    as_list = lambda w: fn(w, constant.tolist()).sum()  # noqa: E731
    as_array = lambda w: fn(w, constant).sum()  # noqa: E731
    # the same gradients as with the array, first and second order
    np.testing.assert_array_equal(ad.grad(as_list)(w).numpy(), ad.grad(as_array)(w).numpy())
    assert ad.gradgradcheck(as_list, (w,))


def test_a_list_holding_a_tensor_that_requires_grad_is_an_error_not_a_lost_gradient():
    w, a = ad.tensor([1.0, 2.0], requires_grad=True), ad.tensor(3.0, requires_grad=True)
    for make in (lambda: w * [a, 1.0], lambda: ad.multiply([[a], [1.0]], w),
                 lambda: ad.concatenate([w, [a]])):
        with pytest.raises(TypeError, match="holding a tensor that requires grad; .* ad.stack"):
            make()
    with ad.no_grad():
        np.testing.assert_array_equal((w * [a, 1.0]).numpy(), [3.0, 2.0])  # nothing to lose
    np.testing.assert_array_equal((w * [a.detach(), 1.0]).numpy(), [3.0, 2.0])


def test_a_list_holding_a_tensor_that_carries_a_tangent_is_an_error_not_a_lost_tangent():
    # forward mode: the tangent of x inside the list would be dropped (a zero tangent, silently)
    x, v = ad.tensor([1.0, 2.0]), ad.tensor([1.0, 1.0])
    for f in (lambda x: ad.tensor(1.0) * [x[0], x[1]], lambda x: ad.add([x, x], 1.0),
              lambda x: ad.concatenate([x, [x[0]]])):
        with pytest.raises(TypeError, match="carries a forward-mode tangent; .*ad.stack"):
            ad.jvp(f, (x,), (v,))
    # the same values through ad.stack carry the tangent
    _, tangent = ad.jvp(lambda x: ad.tensor(1.0) * ad.stack([x[0], x[1]]), (x,), (v,))
    np.testing.assert_array_equal(tangent.numpy(), [1.0, 1.0])

    def scaled_by_a_constant(x):  # no_grad pauses forward mode: the list's values are a constant
        with ad.no_grad():
            c = ad.tensor(2.0) * [x[0], x[1]]
        return x * c

    _, tangent = ad.jvp(scaled_by_a_constant, (x,), (v,))
    np.testing.assert_array_equal(tangent.numpy(), [2.0, 4.0])


def test_an_option_that_requires_grad_is_an_error_not_a_lost_gradient():
    # ops differentiate by their operands only: a slope or a fill value that requires grad
    # (or carries a tangent) would get no gradient at all
    x, s = ad.tensor([0.3, -1.2], requires_grad=True), ad.tensor(0.1, requires_grad=True)
    for make, option in ((lambda: ad.leaky_relu(x, s), "'negative_slope'"),
                         (lambda: ad.leaky_relu(x, negative_slope=s), "'negative_slope'"),
                         (lambda: ad.pad(x, 1, constant_values=s), "'constant_values'")):
        with pytest.raises(TypeError, match=f"got a tensor that requires grad as its option {option}"):
            make()
    with pytest.raises(TypeError, match="carries a tangent as its option 'negative_slope'"):
        ad.jvp(lambda s: ad.leaky_relu(ad.tensor([0.3, -1.2]), s), (0.1,), (1.0,))
    np.testing.assert_array_equal(ad.leaky_relu(x, ad.tensor(0.1)).numpy(), [0.3, -0.12])  # values
    with ad.no_grad():
        np.testing.assert_array_equal(ad.leaky_relu(x, s).numpy(), [0.3, -0.12])


def test_custom_op_in_a_few_lines():
    @ad.op(symmetric=True)
    def softsign(x):
        return x / (1 + np.abs(x)), lambda g, out, x: g / (1 + np.abs(x)) ** 2

    x = ad.tensor([-2.0, 0.5, 3.0], requires_grad=True)
    assert softsign(x).op == "softsign"
    assert ad.gradcheck(lambda x: softsign(x).sum(), (x,))
    assert ad.gradgradcheck(lambda x: softsign(x), (x,))  # the same rule serves second order


def test_custom_op_with_options_and_two_operands():
    @ad.op(tangents=True)
    def scaled_dot(x, y, /, scale=1.0):
        return (scale * np.dot(x, y),
                (lambda g, out, x, y: g * scale * y, lambda g, out, x, y: g * scale * x),
                (lambda t, out, x, y: scale * np.dot(t, y), lambda t, out, x, y: scale * np.dot(x, t)))

    x, y = ad.tensor([1.0, 2.0], requires_grad=True), ad.tensor([3.0, -1.0], requires_grad=True)
    assert ad.gradcheck(lambda x, y: scaled_dot(x, y, scale=0.5), (x, y))


def test_dtype_rules():
    x32 = ad.tensor([1.0, 2.0], dtype=np.float32, requires_grad=True)
    assert ad.tensor([1.0]).dtype == np.float64 and ad.tensor([1]).dtype == np.int64
    y = (x32 * 2.5 + 1).exp().sum()  # Python scalars do not upcast float32
    assert y.dtype == np.float32
    y.backward()
    assert x32.grad.dtype == np.float32
    x64 = ad.tensor([1.0, 2.0], requires_grad=True)
    (x32 * x64).sum().backward()  # mixed: the result is float64, each gradient its input's dtype
    assert x32.grad.dtype == np.float32 and x64.grad.dtype == np.float64


def test_float32_stays_float32_in_every_adjoint():
    x = ad.tensor(np.linspace(-1, 1, 12).reshape(3, 4), dtype=np.float32, requires_grad=True)
    w = ad.tensor(np.ones((4, 2)), dtype=np.float32, requires_grad=True)
    seen = []
    h = ad.gelu(x @ w).softmax()
    h.register_hook(lambda g: seen.append(g.dtype))
    m = ad.max(ad.log_softmax(h * 3.0) + ad.var(h, axis=0), axis=1)
    m.register_hook(lambda g: seen.append(g.dtype))
    ad.logsumexp(m / 7).backward()
    assert seen == [np.float32, np.float32] and x.grad.dtype == w.grad.dtype == np.float32


def test_scalars_and_zero_dimensional_tensors():
    x = ad.tensor(3.0, requires_grad=True)
    y = x * x
    assert y.shape == () and isinstance(y.data, np.ndarray)
    y.backward()
    assert x.grad.item() == 6.0 and x.grad.shape == ()


def test_tensor_copies_its_input():
    a = np.array([1.0, 2.0])
    t = ad.tensor(a)
    a[0] = 100.0
    assert t.numpy()[0] == 1.0


def test_tensor_and_the_class_take_the_same_options_or_refuse():
    # ad.tensor(data, dtype, requires_grad) by position, as PyTorch's; the class by keyword only
    # (its order differed: Tensor(x, np.float32) made a float64 tensor that requires grad)
    t = ad.tensor([1.0], np.float32, True)
    assert t.dtype == np.float32 and t.requires_grad
    with pytest.raises(TypeError, match="positional"):
        ad.Tensor([1.0], np.float32)
    t = ad.Tensor([1.0], dtype=np.float32, requires_grad=True)
    assert t.dtype == np.float32 and t.requires_grad


# -------------------------------------------------------------- clear errors
def test_the_shared_seed_of_scalar_roots_never_reaches_the_user():
    # backward() of a scalar starts from one read-only 1 per dtype: every gradient handed
    # out must be a copy of it, writable, so that writing into one changes no later sweep
    for dtype in (np.float64, np.float32):
        x = ad.tensor(2.0, dtype=dtype, requires_grad=True)
        x.backward()  # the root is the leaf: its .grad is the seed itself, copied
        (g,) = ad.gradients(x, x)
        for grad in (x.grad, g):
            grad.numpy()[...] = 7.0  # writable, and the seed's copy
        x.grad, seen = None, []
        y = x * 3.0
        y.register_hook(lambda g, seen=seen: seen.append(g.numpy().copy()))
        y.backward()
        assert x.grad.item() == 3.0 and seen == [1.0] and x.grad.dtype == dtype
        assert ad.gradients(x * 1.0, x)[0].item() == 1.0
    # under forward mode the sweep runs on tensors and may return the seed itself
    primal, _ = ad.jvp(ad.grad(lambda v: v + 1), (ad.tensor(2.0),), (np.ones(()),))
    primal += 1  # writable: not the shared seed
    w = ad.tensor(3.0, requires_grad=True)
    (w * w).backward()
    assert primal.item() == 2.0 and w.grad.item() == 6.0


def test_error_backward_on_a_nonscalar_without_seed():
    x = ad.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"backward\(\) of .* \(2,\) needs a seed gradient.*grad="):
        (x * 2).backward()
    with pytest.raises(RuntimeError, match=r"gradients\(\) of .* \(2,\) needs a seed .* grad_outputs="):
        ad.gradients(x * 2, x)  # it named backward() and grad=
    (x * 2).backward(np.array([1.0, 10.0]))
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 20.0])


def test_error_backward_on_a_tensor_without_graph():
    with pytest.raises(RuntimeError, match="does not require grad"):
        ad.tensor(1.0).backward()


def test_error_requires_grad_on_an_integer_tensor():
    with pytest.raises(TypeError, match="only floating-point tensors can require gradients.*int64"):
        ad.tensor([1, 2], requires_grad=True)


def test_error_shape_mismatch_names_the_op_and_shapes():
    a, b = ad.tensor(np.ones((2, 3))), ad.tensor(np.ones((4, 5)))
    with pytest.raises(ValueError, match=r"matmul: operands of shapes \(2, 3\) and \(4, 5\)"):
        a @ b
    with pytest.raises(ValueError, match=r"add: operands of shapes \(2, 3\) and \(4, 5\)"):
        a + b
    with pytest.raises(ValueError, match=r"linear: operands of shapes \(2, 3\) and \(5, 4\) and \(5,\)"):
        ad.linear(a, np.ones((5, 4)), np.ones(5))
    with pytest.raises(ValueError, match=r"weight must be a matrix .* got shapes \(3,\) and \(2, 3\)"):
        ad.linear(a, np.ones(3), np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"linear: input of shape \(2, 3\) for a weight of shape \(5, 4\)"):
        ad.linear(a, np.ones((5, 4)))  # without a bias too (not matmul's error about weight.T)
    with pytest.raises(ValueError, match="split: the number of sections must be at least 1, got 0"):
        ad.split(ad.tensor([1.0, 2.0]), 0)
    with pytest.raises(ValueError, match=r"einsum: subscripts 'ij' for an operand with 1 axes"):
        ad.einsum("ij,jk->ik", ad.ones(3), ad.ones(3))
    y = ad.tensor([1.0, 2.0], requires_grad=True)
    with ad.no_grad():
        z = (y * y).sum()
    with pytest.raises(ValueError, match="outputs none of which requires grad"):
        ad.gradients(z, y)
    assert ad.gradients(z, y, allow_unused=True) == (None,)
    # used, but through an operand whose rule is None: the error says so (it said "not used")
    blocked = ad.op(lambda x, y: (x + 0 * y, (lambda g, out, x, y: g, None)), name="blocked")
    x = ad.tensor(1.0, requires_grad=True)
    with pytest.raises(ValueError, match=r"input 0 \(shape \(2,\)\) is used .* but no gradient reaches it"):
        ad.gradients(blocked(x, y).sum(), y)
    with pytest.raises(ValueError, match=r"input 1 \(shape \(2,\)\) is not used"):
        ad.gradients(x * 2, [x, y])
    assert ad.gradients(blocked(x, y).sum(), y, allow_unused=True) == (None,)


def test_error_custom_rule_with_the_wrong_number_of_gradients():
    @ad.op
    def bad(x, y):
        return x * y, lambda g, out, x, y: g

    with pytest.raises(TypeError, match="op 'bad' returned 1 derivative rule.*2 operand"):
        bad(ad.tensor(1.0, requires_grad=True), ad.tensor(2.0))


def test_error_custom_rule_with_the_wrong_shape():
    @ad.op
    def bad(x):
        return x.sum(), lambda g, out, x: np.ones(x.size + 1)

    with pytest.raises(ValueError,
                       match=r"rule of op 'bad' returned a gradient of shape \(4,\).*shape \(3,\)"):
        bad(ad.tensor([1.0, 2.0, 3.0], requires_grad=True)).backward()


def test_error_custom_rule_with_extra_leading_axes_is_not_summed_away():
    @ad.op
    def bad(x):
        return x * 2, lambda g, out, x: np.ones((2,) + x.shape)  # one axis too many

    with pytest.raises(ValueError, match=r"rule of op 'bad' returned a gradient of shape \(2, 3\)"):
        bad(ad.tensor([1.0, 2.0, 3.0], requires_grad=True)).sum().backward()
    x, y = ad.tensor([1.0, 2.0, 3.0], requires_grad=True), ad.tensor([[1.0], [2.0]], requires_grad=True)
    (x * y).sum().backward()  # broadcasting's extra axes are still summed
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0, 3.0])
    np.testing.assert_array_equal(y.grad.numpy(), [[6.0], [6.0]])


def test_error_numpy_calls_autodiff_cannot_record_say_what_to_do():
    t = ad.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match=r"np.sum\(..., dtype=...\) is not supported.*astype"):
        np.sum(t, dtype=np.float32)
    with pytest.raises(TypeError, match=r"np.max\(..., initial=...\) is not supported"):
        np.max(t, initial=0.0)
    with pytest.raises(TypeError, match=r"out=array.*a = a \+ t"):
        array = np.zeros(2)
        array += t
    with pytest.raises(TypeError, match="np.add with dtype= is not supported"):
        np.add(t, 1.0, dtype=np.float32)
    assert np.mean(t, dtype=None).item() == 1.5  # numpy's defaults are fine


def test_error_mutating_a_value_a_pending_backward_needs():
    x = ad.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()  # exp's rule reads its output
    z = (y * x).sum()  # multiply's rule reads both operands
    with pytest.raises(RuntimeError, match="saved by op 'multiply'"):
        x.data[0] = 5.0
    with pytest.raises(RuntimeError, match="saved by op 'multiply'"):
        y.data += 1
    with pytest.raises(RuntimeError, match="saved by op 'multiply'.*pending backward"):
        with ad.no_grad():
            x -= 1.0
    with pytest.raises(RuntimeError, match="saved by op"):
        x.data = np.zeros(2)
    z.backward()  # the graph ran and was released: updates are fine now
    expected = (np.exp([1.0, 2.0]) * ([1.0, 2.0])) + np.exp([1.0, 2.0])
    np.testing.assert_allclose(x.grad.numpy(), expected)
    with ad.no_grad():
        x -= 0.1 * x.grad
    x.data[0] = 5.0
    assert x.numpy()[0] == 5.0


def test_advanced_indexing_copies_and_basic_indexing_views_the_saved_values():
    x = ad.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = ad.tensor([1.0, 2.0, 3.0])
    picked, sliced = y[[0, 1]], y[:2]  # a copy and a view of y
    z = (x * y).sum()  # saves y
    with ad.no_grad():
        picked += 1  # its own memory: nothing saved changes
        with pytest.raises(RuntimeError, match="saved by op 'multiply'"):
            sliced += 1
    z.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(picked.numpy(), [2.0, 3.0])


def _add_one_in_place(t):
    with ad.no_grad():
        t += 1.0


@pytest.mark.parametrize("write", [
    lambda y: y.data.__setitem__(0, 9.0),
    lambda y: np.asarray(y).__setitem__(0, 9.0),
    lambda y: setattr(y, "data", np.zeros(2)),
    _add_one_in_place,
    lambda y: _add_one_in_place(y.reshape(2, 1)),  # a view made after the op
    lambda y: _add_one_in_place(y.detach()),
], ids=["data", "asarray", "set data", "in place", "view", "detach"])
def test_an_output_its_own_rule_reads_is_protected_until_backward(write):
    # tanh's rule reads its output: the output's lock is made only when something reaches
    # for its memory, and must then be held already
    x = ad.tensor([0.5, 1.0], requires_grad=True)
    y = x.tanh()
    with pytest.raises((RuntimeError, ValueError), match="saved by op 'tanh'|read-only"):
        write(y)  # (np.asarray drops the saved array's class: numpy's own error then)
    np.testing.assert_array_equal(y.numpy(), np.tanh([0.5, 1.0]))
    (y * 3.0).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 3 * (1 - np.tanh([0.5, 1.0]) ** 2), rtol=1e-15)
    write(y)  # the graph ran and released it


@pytest.mark.parametrize("product", [lambda w, x: w * x, lambda w, x: x @ w])
def test_a_product_saves_only_the_operands_a_wanted_gradient_reads(product):
    # d(w*x)/dw reads x, never w: w may change before backward (an optimiser step on an
    # earlier gradient, say) without changing this gradient; x may not
    w = ad.tensor(np.array([[1.0, 2.0], [3.0, 4.0]]), requires_grad=True)
    x = ad.tensor(np.array([[0.5, -1.0], [2.0, 0.25]]))
    loss = product(w, x).sum()
    with pytest.raises(RuntimeError, match="saved by op"):
        x.data[0, 0] = 9.0
    w.data[...] = 100.0  # not saved: allowed
    loss.backward()
    w0 = ad.tensor(np.zeros((2, 2)), requires_grad=True)
    product(w0, x).sum().backward()  # the product is linear in w: its gradient does not depend on w
    np.testing.assert_array_equal(w.grad.numpy(), w0.grad.numpy())


def test_linear_saves_its_input_and_weight_not_its_bias():
    # no rule of linear reads the bias's values: it may change before backward (an optimiser
    # step, say) without changing any gradient; the input and the weight may not
    rng = np.random.default_rng(0)
    x = ad.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    w = ad.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    b = ad.tensor(rng.standard_normal(2), requires_grad=True)
    loss = (ad.linear(x, w, b) ** 2).sum()
    expected = [2 * (out := x.numpy() @ w.numpy().T + b.numpy()) @ w.numpy(), 2 * out.T @ x.numpy(),
                2 * out.sum(axis=0)]
    for saved in (x, w):
        with pytest.raises(RuntimeError, match="saved by op 'linear'"):
            saved.data[0] = 9.0
    b.data[...] = 100.0  # not saved by linear (the square saved linear's output, not b)
    loss.backward()
    for t, grad in zip((x, w, b), expected, strict=True):
        np.testing.assert_allclose(t.grad.numpy(), grad, rtol=1e-12)


def test_an_op_saving_operands_by_position_checks_them():
    with pytest.raises(ValueError, match=r"saves must be .*a tuple of operand positions, got \(0, 2\)"):
        ad.op(lambda x, y: (x * y, None), saves=(0, 2))


def test_arrays_taken_before_the_graph_cannot_change_saved_values():
    x = ad.tensor([1.0, 2.0], requires_grad=True)
    taken = [x.data, x.numpy(), np.asarray(x), x.reshape(2, 1).data]  # the last one: a view's array
    y = (x * x).sum()
    for array in taken:
        with pytest.raises(ValueError, match="read-only"):
            array[0] = 5.0
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])  # 2x of the values when saved
    for array in taken:  # the graph is gone: writable again
        array[0] = 5.0
    assert x.numpy()[0] == 5.0
    (x * x).sum()  # a graph made and dropped at once leaves them writable too
    taken[0][1] = 7.0
    assert x.numpy()[1] == 7.0


def test_arrays_given_to_ops_or_as_data_cannot_change_what_backward_sees():
    # an array given to an op stays the caller's: a small one is copied where the rules read
    # it, a large one is read-only while a pending backward needs it (no copy of its memory)
    w = ad.tensor([1.0, 1.0], requires_grad=True)
    a, A, mask = np.array([1.0, 2.0]), np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([False, True])
    W = ad.tensor(np.eye(2), requires_grad=True)
    y = (w * a).sum() + (a * w).sum() + (A @ w).sum() + ad.where(mask, w, 0.0).sum()
    y = y + ad.linear(A, W, w).sum()
    a[:], A[:], mask[:] = 100.0, 0.0, True
    y.backward()
    np.testing.assert_array_equal(w.grad.numpy(), [1 + 1 + 4 + 0 + 2, 2 + 2 + 6 + 1 + 2])
    np.testing.assert_array_equal(W.grad.numpy(), [[4.0, 6.0], [4.0, 6.0]])  # A's column sums, each row

    big = np.ones((300, 100))  # 240 KB
    v = ad.tensor(np.ones(100), requires_grad=True)
    first = (big * v).sum()
    y = first + (big @ v).sum() + ad.linear(big, ad.tensor(np.ones((2, 100)), requires_grad=True)).sum()
    with pytest.raises(ValueError, match="read-only"):
        big[0, 0] = 5.0
    del first  # other nodes still hold it
    with pytest.raises(ValueError, match="read-only"):
        big[0, 0] = 5.0
    y.backward()
    np.testing.assert_array_equal(v.grad.numpy(), np.full(100, 600.0))
    big[0, 0] = 5.0  # the graph is gone: writable again
    z = (big * v).sum()
    del z  # a graph dropped unused gives it back too
    big[0, 0] = 1.0
    read_only = np.ones((300, 100))
    read_only.flags.writeable = False
    (read_only * v).sum().backward()  # the caller's own read-only array stays so
    assert not read_only.flags.writeable

    x, given = ad.tensor([0.0, 0.0], requires_grad=True), np.array([1.0, 2.0])
    x.data = given  # the tensor's memory now: read-only while saved, as an array handed out
    y = (x * x).sum()
    with pytest.raises(ValueError, match="read-only"):
        given[0] = 100.0
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])
    given[0] = 100.0  # released with the graph
    assert x.numpy()[0] == 100.0
    other = ad.tensor([3.0, 4.0])
    x.data = other  # one memory: one lock
    y = (x * x).sum()
    with pytest.raises(RuntimeError, match="saved by op"), ad.no_grad():
        other.add_(ad.tensor([1.0, 1.0]))
    y.backward()


def test_data_taken_from_a_saved_tensor_is_shared_as_the_tensor_is():
    # u.data = t.data while t is saved: numpy's plain view of the read-only array stayed
    # read-only for good, and u could not be updated any more
    src, dst = ad.tensor([1.0, 2.0], requires_grad=True), ad.tensor([0.0, 0.0], requires_grad=True)
    y = (src * src).sum()
    dst.data = src.data
    with pytest.raises(RuntimeError, match="saved by op 'square'"), ad.no_grad():
        dst += 1.0  # one memory: writing dst would change what src's node saved
    y.backward()
    np.testing.assert_array_equal(src.grad.numpy(), [2.0, 4.0])
    with ad.no_grad():
        dst += 1.0  # released with the graph
    np.testing.assert_array_equal(src.numpy(), [2.0, 3.0])
    z = (dst * dst).sum()  # and the other way round: dst saved, src's memory held
    with pytest.raises(RuntimeError, match="saved by op"):
        src.data[0] = 7.0
    z.backward()
    src.data[0] = 7.0
    np.testing.assert_array_equal(dst.numpy(), [7.0, 3.0])
    np.testing.assert_array_equal(dst.grad.numpy(), [4.0, 6.0])


def test_requires_grad_set_as_an_attribute_is_checked_as_requires_grad_():
    t = ad.tensor([1, 2])
    with pytest.raises(TypeError, match="only floating-point tensors can require gradients"):
        t.requires_grad = True
    assert not t.requires_grad
    y = ad.tensor([1.0], requires_grad=True) * 2
    with pytest.raises(RuntimeError, match="non-leaf"):
        y.requires_grad = False
    leaf = ad.tensor([1.0, 2.0])
    leaf.requires_grad = True
    (leaf * leaf).sum().backward()
    np.testing.assert_array_equal(leaf.grad.numpy(), [2.0, 4.0])


def test_a_gradient_set_by_hand_must_fit_before_backward_adds_to_it():
    x = ad.tensor([1.0, 2.0], requires_grad=True)
    for wrong, what in ((ad.zeros((2, 2)), r"a Tensor of shape \(2, 2\)"), (np.zeros(2), "a ndarray")):
        x.grad = wrong
        with pytest.raises(ValueError, match=f"set to {what}, which the gradient cannot be added to"):
            (x * x).sum().backward()
    x.grad = ad.ones(2)
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 5.0])


def test_copies_and_pickles_are_new_leaves_with_their_own_values():
    import copy
    import pickle

    x = ad.tensor([1.0, 2.0], requires_grad=True)
    x.grad = ad.tensor([0.5, 0.5])
    y = x * x  # saves x: a copy must not inherit the lock
    for make in (copy.copy, copy.deepcopy, lambda t: pickle.loads(pickle.dumps(t))):
        z = make(x)
        assert z is not x and z.requires_grad and z.is_leaf
        np.testing.assert_array_equal(z.grad.numpy(), [0.5, 0.5])
        with ad.no_grad():
            z -= 1.0  # its own memory, unlocked
        np.testing.assert_array_equal(x.numpy(), [1.0, 2.0])
        made = make(y)  # an op's result: its values, as a leaf
        assert made.is_leaf and made.requires_grad
        np.testing.assert_array_equal(made.numpy(), [1.0, 4.0])
    y.sum().backward()


def test_python_protocols_a_numpy_user_expects():
    loss, i = ad.tensor(0.123456), ad.tensor(1)
    assert f"{loss:.3f}" == "0.123" and f"{loss}" == repr(loss)
    assert ["a", "b"][i] == "b" and list(range(ad.tensor(3))) == [0, 1, 2]
    t = ad.tensor([7.0, -7.0])
    np.testing.assert_array_equal((t % 3).numpy(), [1.0, 2.0])
    np.testing.assert_array_equal((t // 2).numpy(), [3.0, -4.0])
    np.testing.assert_array_equal((10.0 % ad.tensor([3.0])).numpy(), [1.0])
    with pytest.raises(TypeError, match="np.remainder has no derivative rule"):
        ad.tensor([1.0], requires_grad=True) % 2
    p = ad.tensor([2.0, 3.0], requires_grad=True)
    before = p
    with ad.no_grad():
        p **= 2  # in place, as PyTorch's
    assert p is before and p.requires_grad
    np.testing.assert_array_equal(p.numpy(), [4.0, 9.0])
    arr = np.zeros(2)
    same = arr
    arr += ad.tensor([1.0, 2.0])  # numpy's rule: the array written into is the result
    assert arr is same and type(arr) is np.ndarray
    assert "shape=(0, 3)" in repr(ad.zeros((0, 3)))
    np.testing.assert_array_equal(ad.rand(3, rng=5).numpy(), ad.rand(3, rng=np.random.default_rng(5)).numpy())
    with pytest.raises(ValueError, match="without a copy"):
        np.array(ad.tensor([1.0]), dtype=np.float32, copy=False)


def test_a_hook_handle_removes_its_own_registration_once():
    x = ad.tensor([1.0, 1.0], requires_grad=True)
    double = lambda g: g * 2  # noqa: E731
    first = x.register_hook(double)
    x.register_hook(double)
    first.remove()
    first.remove()  # again: nothing more
    (x * 1.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0])  # the second registration still runs


def test_a_view_and_its_base_both_handed_out_are_released_in_either_order():
    x = ad.tensor(np.ones((2, 3)), requires_grad=True)
    view = x.reshape(6)
    taken = [view.data, x.data]  # the view's array first
    (x * view.reshape(2, 3)).sum().backward()
    for array in taken:
        array[0] = 2.0
    assert x.numpy()[0, 0] == 2.0


@pytest.mark.parametrize("subscripts", ["ii->i", "ij->ji", "ij->ij"])
def test_einsum_never_shares_its_operands_memory(subscripts):
    # numpy answers these with views; einsum is not a view op, so a write to its output
    # must not reach a value that a pending backward saved
    x = ad.tensor(np.arange(9.0).reshape(3, 3), requires_grad=True)
    loss = (x * x).sum()
    out = ad.einsum(subscripts, x)
    assert not np.shares_memory(out.numpy(), x.numpy())
    with ad.no_grad():
        out += 1.0
    loss.backward()
    np.testing.assert_array_equal(x.grad.numpy(), 2 * np.arange(9.0).reshape(3, 3))


def test_copies_of_a_saved_array_are_ordinary_arrays():
    x = ad.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    copy, doubled = x.data.copy(), x.numpy() * 2
    copy[0], doubled[0] = 9.0, 9.0  # new memory: no error
    np.testing.assert_array_equal(x.numpy(), [1.0, 2.0])
    del y


def test_dropping_an_unused_graph_releases_its_saved_values():
    x = ad.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    with pytest.raises(RuntimeError, match="saved by op"):
        x.data[0] = 0.0
    del y
    x.data[0] = 0.0
    assert x.numpy()[0] == 0.0


def test_error_in_place_on_a_tensor_that_requires_grad_while_recording():
    x = ad.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="in-place add.*no_grad"):
        x += 1
    with pytest.raises(RuntimeError, match="item assignment"):
        x[0] = 1.0


def test_mutating_through_a_view_is_caught():
    x = ad.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    row = x[0]  # a view of x
    loss = (row.exp()).sum()  # exp saves its output, not row; but sin saves row:
    loss2 = row.sin().sum()
    with pytest.raises(RuntimeError, match="saved by op 'sin'"):
        x.data[0, 0] = 9.0
    del loss, loss2


def test_a_view_made_outside_recording_protects_its_base():
    x = ad.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    loss = x.sin().sum()
    with ad.no_grad():
        flat = x.reshape(-1)
        with pytest.raises(RuntimeError, match="saved by op 'sin'"):
            flat += 1.0
    loss.backward()
    with ad.no_grad():
        flat += 1.0
    assert x.numpy()[0, 0] == 2.0


@pytest.mark.parametrize("shape", [(3, 4), (100, 50)])  # a filled array, and a zero-stride view
def test_a_reduction_spreads_its_gradient_into_an_ordinary_array(shape):
    x = ad.tensor(np.ones(shape), requires_grad=True)
    (x.sum() * 2.0).backward()
    x.sum(axis=0).mean().backward()
    grad = x.grad.numpy()
    np.testing.assert_array_equal(grad, np.full(shape, 2.0 + 1.0 / shape[1]))
    assert grad.flags.writeable  # the user's to change, not a read-only view of the seed
    grad[0, 0] = 7.0
    assert x.grad.numpy()[0, 0] == 7.0


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
@pytest.mark.parametrize("layout", ["C", "F", "strided"])
@pytest.mark.parametrize("shape", [(100, 16), (7, 1), (1, 5), (0, 3), (3, 0)])
def test_a_bias_gradient_sums_the_rows_as_numpy_does(dtype, layout, shape):
    # linear's bias and a bias broadcast over rows (x @ W + b) take column sums by BLAS
    rng = np.random.default_rng(0)
    values = rng.standard_normal((shape[0], 2 * shape[1])).astype(dtype)
    seed = values[:, ::2] if layout == "strided" else np.asarray(values[:, : shape[1]], order=layout)
    expected = seed.astype(np.float64).sum(axis=0)
    # any order of the additions is within n eps sum|x| of the exact sums: a row left out or
    # counted twice is off by that row, which is far more
    tolerance = shape[0] * np.finfo(dtype).eps * np.abs(seed.astype(np.float64)).sum(axis=0)
    for bias, out in (
        (b := ad.tensor(np.zeros(shape[1], dtype), requires_grad=True),
         ad.linear(np.ones((shape[0], 2), dtype), ad.tensor(np.ones((shape[1], 2), dtype)), b)),
        (b := ad.tensor(np.zeros(shape[1], dtype), requires_grad=True),
         ad.tensor(np.ones((shape[0], shape[1]), dtype)) + b),
    ):
        out.backward(seed)
        assert bias.grad.dtype == dtype and bias.grad.shape == (shape[1],)
        if dtype == np.float16:  # numpy's own sum, which BLAS has no type for
            np.testing.assert_array_equal(bias.grad.numpy(), seed.sum(axis=0))
        else:
            assert np.all(np.abs(bias.grad.numpy().astype(np.float64) - expected) <= tolerance)


@pytest.mark.parametrize("shape", [(3,), (300, 700), (1000, 513)])
@pytest.mark.parametrize("layouts", ["CC", "FF", "CF", "FC"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_add_in_place_equals_the_plain_update_to_the_bit(shape, layouts, dtype):
    # large tensors are updated in blocks: the same numbers as p - lr * g in one pass
    rng = np.random.default_rng(0)
    values = np.asarray(rng.standard_normal(shape), dtype, order=layouts[0])
    step = np.asarray(rng.standard_normal(shape), dtype, order=layouts[1])
    p = ad.tensor(values)
    assert p.add_(ad.tensor(step), alpha=-0.01) is p
    np.testing.assert_array_equal(p.numpy(), values - dtype(0.01) * step)
    p.add_(step)  # an array, alpha 1
    np.testing.assert_array_equal(p.numpy(), values - dtype(0.01) * step + step)
    p.add_(step, alpha=-1)  # subtracted in one pass
    np.testing.assert_array_equal(p.numpy(), values - dtype(0.01) * step + step - step)
    assert p.dtype == dtype


def test_add_in_place_of_overlapping_memory_reads_every_value_before_writing():
    base = np.arange(300_001, dtype=np.float32)
    for data, values in ((base[1:], base[:-1]), (base[:-1], base[1:])):  # both ways, numpy's result
        expected = data + 2 * values
        t = ad.tensor(np.zeros(1, np.float32))
        t.data = data  # the tensor's values are this memory itself
        t.add_(values, alpha=2.0)
        np.testing.assert_array_equal(data, expected)
        base[:] = np.arange(300_001)
    p = ad.tensor(np.full(300_000, 3.0))
    p.add_(p, alpha=-0.5)  # itself
    np.testing.assert_array_equal(p.numpy(), np.full(300_000, 1.5))


def test_add_in_place_broadcasts_casts_and_checks_like_the_operator():
    p = ad.tensor(np.ones((2, 3), np.float32))
    p.add_([1.0, 2.0, 3.0], alpha=2.0)  # broadcast, a list
    p.add_(np.full((2, 3), 0.5), alpha=-1.0)  # float64 into float32
    np.testing.assert_array_equal(p.numpy(), [[2.5, 4.5, 6.5]] * 2)
    assert p.dtype == np.float32
    w = ad.tensor(np.ones(3), requires_grad=True)
    with pytest.raises(RuntimeError, match="in-place add involving a tensor that requires grad"):
        w.add_(np.ones(3))
    x = ad.tensor(np.ones(3))
    saved = (x * w).sum()  # x's values are saved for w's gradient
    with ad.no_grad(), pytest.raises(RuntimeError, match="saved by op 'multiply'"):
        x.add_(np.ones(3))
    saved.backward()  # w.grad = x
    with ad.no_grad():
        w.add_(w.grad, alpha=-0.5)
    np.testing.assert_array_equal(w.numpy(), [0.5, 0.5, 0.5])


@pytest.mark.parametrize("subscripts, shapes", [
    ("...b,...->...", [(2, 3), (1,)]),  # a size-1 axis broadcast against another operand's
    ("ij,ij->j", [(2, 3), (1, 3)]),
    ("ij,ij->j", [(1, 3), (2, 3)]),
    ("ii,i->i", [(3, 3), (1,)]),  # and a diagonal
    ("...bc,...c->...c", [(2, 1, 2), (1, 2)]),
    ("...bc,...d->...dc", [(2, 1, 2), (1, 2)]),
    ("...c,...d->...d", [(1, 1, 3), (1, 1, 3)]),
])
def test_einsum_differentiates_operands_numpy_broadcasts(subscripts, shapes):
    rng = np.random.default_rng(0)
    xs = [ad.tensor(rng.standard_normal(s), requires_grad=True) for s in shapes]
    f = lambda *xs: ad.einsum(subscripts, *xs)  # noqa: E731
    np.testing.assert_array_equal(f(*xs).numpy(), np.einsum(subscripts, *(x.numpy() for x in xs)))
    assert ad.gradcheck(f, xs) and ad.gradgradcheck(f, xs)


def test_copy_writes_values_in_place_as_pytorchs_copy_():
    p = ad.tensor(np.zeros((2, 2), np.float32), requires_grad=True)
    view = p.numpy()
    with ad.no_grad():
        assert p.copy_(np.array([1.0, 2.0])) is p  # broadcast and cast
    np.testing.assert_array_equal(view, [[1.0, 2.0], [1.0, 2.0]])
    assert p.dtype == np.float32
    with pytest.raises(RuntimeError, match="in-place copy involving a tensor that requires grad"):
        p.copy_(np.ones(2))
    loss = (p * p).sum()
    with pytest.raises(RuntimeError, match="saved by op"), ad.no_grad():
        p.copy_(np.ones(2))
    loss.backward()


# ------------------------------------------ saved values: found by a review of the locks
def test_an_array_taken_while_its_tensor_is_saved_is_writable_after_backward():
    x = ad.tensor([1.0, 2.0, 3.0], requires_grad=True)
    w = ad.tensor([1.0, 1.0, 1.0])
    loss = (x * w).sum()
    taken = w.data  # read-only now: multiply reads w for x's gradient
    with pytest.raises(RuntimeError, match="pending backward"):
        taken[0] = 5.0
    loss.backward()
    taken -= 0.5
    np.testing.assert_array_equal(w.numpy(), [0.5, 0.5, 0.5])


def test_one_array_under_two_tensors_stays_read_only_until_both_are_done():
    arr = np.ones(3)
    t, u = ad.tensor([0.0, 0.0, 0.0]), ad.tensor([0.0, 0.0, 0.0])
    t.data, u.data = arr, arr
    x1, x2 = ad.tensor([1.0, 2.0, 3.0], requires_grad=True), ad.tensor([4.0, 5.0, 6.0], requires_grad=True)
    y1, y2 = (x1 * t).sum(), (x2 * u).sum()
    y1.backward()
    with pytest.raises(ValueError, match="read-only"):  # y2 still needs the values
        arr[0] = 100.0
    y2.backward()
    np.testing.assert_array_equal(x2.grad.numpy(), [1.0, 1.0, 1.0])
    arr[0] = 100.0  # writable once nothing pending needs it


def test_an_array_of_foreign_memory_is_copied_not_locked_for_good():
    torch = pytest.importorskip("torch")
    w = ad.tensor([0.0, 0.0, 0.0], requires_grad=True)
    w.data = torch.ones(3, dtype=torch.float64).numpy()  # numpy cannot make it writable again
    x = ad.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * w).sum().backward()
    with ad.no_grad():
        w.add_(x.grad, alpha=-0.5)  # an optimiser's update: w was read-only for good before
    np.testing.assert_array_equal(w.numpy(), [0.5, 0.5, 0.5])


@pytest.mark.parametrize("view", [lambda X: ad.squeeze(X), lambda X: ad.reshape(X, (3,)),
                                  lambda X: ad.transpose(X)[0], lambda X: ad.flatten(X)])
def test_a_view_op_on_a_numpy_array_protects_the_array_while_saved(view):
    X = np.ones((3, 1))
    w = ad.tensor([1.0, 2.0, 3.0], requires_grad=True)
    loss = (w * view(X)).sum()
    with pytest.raises(ValueError, match="read-only"):
        X[0, 0] = 100.0
    loss.backward()
    np.testing.assert_array_equal(w.grad.numpy(), [1.0, 1.0, 1.0])
    X[0, 0] = 100.0


@pytest.mark.parametrize("view", [lambda a: ad.transpose(a), lambda a: ad.reshape(a, (-1,)),
                                  lambda a: ad.transpose(ad.reshape(a, (100, 300)))])
def test_a_view_op_on_an_array_a_lock_froze_is_writable_once_the_lock_is_gone(view):
    # numpy makes a view of a read-only array read-only: made while an op held the array, the
    # view op's output stayed read-only for good (t.numpy() then could never be written)
    a = np.ones((300, 100))  # large: locked, not copied, while the op below needs it
    w = ad.tensor(np.ones((300, 100)), requires_grad=True)
    loss = (a * w).sum()
    t = view(a)
    handed = t.numpy()
    assert not handed.flags.writeable  # a's values are still needed
    loss.backward()
    handed[...] = 5.0  # writable again, with a
    assert a[0, 0] == 5.0 and np.all(w.grad.numpy() == 1.0)


def test_an_array_handed_out_from_a_saved_view_of_a_frozen_array_is_writable_at_the_end():
    # the saved tensor's numpy() view waits for its base, itself waiting for the array a lock
    # froze: it stayed read-only for good
    a = np.ones((300, 100))
    w = ad.tensor(np.ones((300, 100)), requires_grad=True)
    first = (a * w).sum()  # a, large, is held (read-only) until first's backward
    t = ad.transpose(a)  # read-only from birth
    second = (t * w.T).sum()  # saves t
    handed = t.numpy()  # a guarded read-only view while t is saved
    first.backward()
    with pytest.raises(RuntimeError, match="saved by op"):
        handed[0, 0] = 2.0  # t is still needed
    second.backward()
    handed[0, 0] = 2.0
    assert a[0, 0] == 2.0 and np.all(w.grad.numpy() == 2.0)


def test_an_index_array_changed_before_backward_changes_nothing():
    x = ad.tensor([1.0, 2.0, 3.0], requires_grad=True)
    idx = np.array([0, 1])
    y = x[idx] * ad.tensor([1.0, 10.0])
    idx[0] = 2
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 10.0, 0.0])


def test_numpy_functions_that_write_into_a_tensor_are_checked_as_assignment():
    w = ad.tensor([1.0, 2.0, 3.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="in-place copyto"):
        np.copyto(w, 5.0)
    with pytest.raises(RuntimeError, match="in-place add.at involving a tensor that requires grad"):
        np.add.at(w, [0], 1.0)  # it said "no derivative rule", as if computing, not writing
    free = ad.tensor([1.0, 2.0, 3.0])
    assert np.add.at(free, [0, 0], 1.0) is None  # numpy's result (it was an object tensor of None)
    np.testing.assert_array_equal(free.numpy(), [3.0, 2.0, 3.0])
    x = ad.tensor([1.0, 1.0, 1.0], requires_grad=True)
    c = ad.tensor([1.0, 2.0, 3.0])
    loss = (x * c).sum()
    with ad.no_grad():
        for write in (lambda: np.copyto(c, 5.0), lambda: np.put(c, [0], 9.0), lambda: np.add.at(c, [0], 1.0)):
            with pytest.raises(RuntimeError, match="pending backward"):
                write()
    loss.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 2.0, 3.0])


def test_where_keeps_only_its_condition():
    x = ad.tensor([1.0, 2.0, 3.0], requires_grad=True)
    z = ad.tensor([4.0, 5.0, 6.0], requires_grad=True)
    cond = np.array([True, False, True])
    y = ad.where(cond, x, z)
    with ad.no_grad():
        x += 1.0  # nothing pending reads x or z: PyTorch allows it too
        z += 1.0
    cond[0] = False  # the condition it read is its own copy
    (y * ad.tensor([1.0, 2.0, 3.0])).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 0.0, 3.0])
    np.testing.assert_array_equal(z.grad.numpy(), [0.0, 2.0, 0.0])


def test_a_sweep_in_a_hook_keeps_the_nodes_the_enclosing_sweep_has_still_to_run():
    x = ad.tensor([0.5, -1.2], requires_grad=True)
    a = ad.sin(x)
    b = a * a
    inner = []

    def hook(g):
        if not inner:  # not again in the sweep it starts
            inner.append(None)
            with ad.enable_grad():
                inner[0] = ad.gradients(b.sum(), x)[0]  # no retain_graph
        return None

    b.register_hook(hook)
    (b * 3).sum().backward()
    want = 2 * np.sin(x.numpy()) * np.cos(x.numpy())
    np.testing.assert_allclose(inner[0].numpy(), want, rtol=1e-15)
    np.testing.assert_allclose(x.grad.numpy(), 3 * want, rtol=1e-15)
    assert not x._pending and not a._pending
    x.grad = None
    (x * 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0])


@pytest.mark.parametrize("form", ["list of one", "one tensor for a list", "nested list"])
def test_gradients_takes_pytorchs_forms_of_one_seed(form):
    x = ad.tensor([1.0, 2.0], requires_grad=True)
    h = x * 3
    v = ad.tensor([1.0, 0.5])
    outputs, seeds = {"list of one": (h, [v]), "one tensor for a list": ([h], v),
                      "nested list": (h, [[1.0, 0.5]])}[form]
    np.testing.assert_array_equal(ad.gradients(outputs, x, grad_outputs=seeds)[0].numpy(), [3.0, 1.5])


def test_arrays_taken_every_step_while_saved_are_not_kept_and_stay_guarded():
    p = ad.tensor([1.0, 2.0], requires_grad=True)
    for _ in range(50):
        loss = (p * p).sum()
        taken = p.data  # a new view each step, as a logger takes it
        loss.backward()
    lock = p._lock
    # the views are not collected (held weakly, the dead references dropped as the list grows)
    assert len(lock.exposed) < 16 and sum(r() is not None for r in lock.exposed) == 1
    loss = (p * p).sum()  # a later pending node: the old view's guard sees it
    with pytest.raises(RuntimeError, match="saved by op"):
        taken[0] = 5.0
    loss.backward()
    taken[0] = 5.0
    np.testing.assert_array_equal(p.numpy(), [5.0, 2.0])


def test_a_view_waiting_for_its_base_is_frozen_again_by_a_new_node():
    B = np.arange(1.0, 5.0)
    V = B[:2]
    s, u = ad.tensor(np.zeros(4)), ad.tensor(np.zeros(2))
    s.data, u.data = B, V
    ws, wu = ad.tensor(np.ones(4), requires_grad=True), ad.tensor(np.ones(2), requires_grad=True)
    g1 = (s * ws).sum()  # B read-only
    g2 = (u * wu).sum()
    del g2  # V waits for B
    g3 = (u * wu).sum()  # saves V again
    del g1  # B writable: V must stay read-only for g3
    with pytest.raises(ValueError, match="read-only"):
        V[:] = 100.0
    g3.backward()
    np.testing.assert_array_equal(wu.grad.numpy(), [1.0, 2.0])
    del g3
    V[:] = 100.0


def test_a_view_of_an_array_read_only_of_itself_is_not_kept_waiting():
    T = importlib.import_module("autodiff.tensor")
    X = np.array([1.0, 2.0])
    X.flags.writeable = False
    x = ad.tensor([0.0, 0.0])
    x.data = X
    w = ad.tensor([1.0, 1.0], requires_grad=True)
    for _ in range(20):
        loss = (x * w).sum()
        x.numpy()
        loss.backward()
    assert not T._WAITING


def test_foreign_memory_given_to_a_view_op_is_copied():
    torch = pytest.importorskip("torch")
    X = torch.ones(3, 4, dtype=torch.float64).numpy()
    w = ad.tensor(np.ones(12), requires_grad=True)
    loss = (ad.reshape(X, (12,)) * w).sum()
    X[0, 0] = 5.0  # its own memory: the op's copy is unchanged
    loss.backward()
    np.testing.assert_array_equal(w.grad.numpy(), np.ones(12))
    assert X.flags.writeable


def test_a_large_view_given_to_an_op_locks_the_array_it_was_taken_from():
    A = np.arange(1.0, 20001.0)
    p = ad.tensor(np.ones(10000), requires_grad=True)
    loss = (A[:10000] * p).sum()  # 80 kB: above the size copied
    with pytest.raises(ValueError, match="read-only"):
        A[0] = 100.0
    loss.backward()
    np.testing.assert_array_equal(p.grad.numpy(), np.arange(1.0, 10001.0))
    A[0] = 100.0


@pytest.mark.parametrize("view", [lambda v: ad.reshape(v, (4,)), ad.transpose])
def test_a_view_op_given_a_numpy_view_locks_the_array_it_was_taken_from(view):
    # only the view was locked: a write through the array got through, a wrong gradient
    u, p = np.ones(4), ad.tensor(np.ones(4), requires_grad=True)
    loss = (view(u[:]) * p).sum()
    with pytest.raises(ValueError, match="read-only"):
        u[:] = 5.0
    loss.backward()
    np.testing.assert_array_equal(p.grad.numpy(), np.ones(4))
    u[:] = 5.0


def _given(u):
    d = ad.Tensor(np.zeros(u.shape))
    d.data = u
    return d


# One memory reached through several ways (tensors, view ops, ops given its arrays): an array
# handed out or given through one, the memory saved through another. A write through it must
# be refused until backward (else a wrong gradient). (The known hole until every way into a
# memory shared its lock: each froze only the arrays it exposed.)
@pytest.mark.parametrize("case", ["view op's output, then the array to an op",
                                  "a tensor's view, then the array to an op",
                                  "view op's output, then a tensor of the array saved",
                                  "a view tensor handed out after the save",
                                  "a view given as .data: its array",
                                  "a view given to a tensor, the array saved through another"])
def test_an_array_of_memory_a_graph_saved_through_another_tensor_is_read_only(case):
    n = 96 if "to an op" in case else 4  # 72 KiB: an op locks the array (a small one it copies)
    u = np.random.default_rng(0).standard_normal((n, n))
    recorded = u.copy()
    p = ad.tensor(np.ones((n, n)), requires_grad=True)
    if case == "view op's output, then the array to an op":
        write = ad.transpose(u).numpy()
        y = p * u
    elif case == "a tensor's view, then the array to an op":
        write = _given(u).T.numpy()
        y = p * u
    elif case == "view op's output, then a tensor of the array saved":
        write = ad.transpose(u).numpy()
        y = p * _given(u)
    elif case == "a view tensor handed out after the save":
        v = ad.transpose(u)  # made while u was writable
        y = p * _given(u)
        write = v.numpy()
    elif case == "a view given as .data: its array":
        y = p * _given(u.T.T)
        write = u
    else:
        write = u.T.T  # the caller's own view (alone, beyond reach) given to a tensor
        keep = _given(write)  # noqa: F841
        y = p * _given(u)
    with pytest.raises((ValueError, RuntimeError), match="read-only|saved by op 'multiply'"):
        write[...] = 0.0
    (y * y).sum().backward()
    np.testing.assert_array_equal(p.grad.numpy(), 2 * recorded ** 2)
    write[...] = 0.0  # writable once the graph is done
    assert not u.any()


def test_a_view_op_output_waiting_for_its_source_is_locked_when_given_to_an_op():
    # read-only because a lock froze its source, it was taken for read-only of itself: not
    # locked, so writable once the source thawed while the second op still needed it (when
    # each tensor given a had its own lock; now h is the read-only view a saved memory hands out)
    a, n = np.random.default_rng(0).standard_normal((100, 100)), 100
    p, q = ad.tensor(np.ones((n, n)), requires_grad=True), ad.tensor(np.ones((n, n)), requires_grad=True)
    first = (p * _given(a)).sum()  # a frozen
    h = _given(a).T.numpy()
    recorded = h.copy()
    second = (q * h).sum()
    first.backward()
    with pytest.raises((ValueError, RuntimeError), match="read-only|saved by op 'multiply'"):
        h[...] = 0.0
    second.backward()
    np.testing.assert_array_equal(q.grad.numpy(), recorded)
    h[...] = 0.0


def test_a_tensor_on_memory_another_tensor_handed_out_refuses_writes_while_that_one_is_saved():
    # t's view tensor, made before: it shared no lock with s, which was given t's array
    t = ad.tensor(np.arange(4.0))
    v = t[1:]
    s = _given(t.numpy())
    p = ad.tensor(np.ones(4), requires_grad=True)
    loss = (p * s).sum()
    with ad.no_grad(), pytest.raises(RuntimeError, match="memory holds values saved by op 'multiply'"):
        v += 1.0
    loss.backward()
    np.testing.assert_array_equal(p.grad.numpy(), np.arange(4.0))
    with ad.no_grad():
        v += 1.0  # once no graph needs it


def test_a_tensor_given_an_array_of_a_saved_tensor_shares_its_lock_and_refuses_writes():
    t, p = ad.tensor(np.ones((4, 4))), ad.tensor(np.ones((4, 4)), requires_grad=True)
    h, ht = t.numpy(), t.T.numpy()
    loss = (p * t).sum()
    s = _given(h)  # while t is saved
    with ad.no_grad(), pytest.raises(RuntimeError, match="memory holds values saved by op 'multiply'"):
        s += 1.0
    assert not ht.flags.writeable
    loss.backward()
    np.testing.assert_array_equal(p.grad.numpy(), np.ones((4, 4)))
    assert h.flags.writeable and ht.flags.writeable


def test_arrays_a_tensor_handed_out_are_read_only_while_one_of_them_is_saved_after_it_is_gone():
    t = ad.tensor(np.random.default_rng(0).standard_normal((96, 96)))  # locked by an op, not copied
    X, XT = t.numpy(), t.T.numpy()
    del t
    p = ad.tensor(np.ones((96, 96)), requires_grad=True)
    recorded = X.copy()
    loss = (p * X).sum()
    with pytest.raises(ValueError, match="read-only"):
        XT[0, 0] = 5.0
    loss.backward()
    np.testing.assert_array_equal(p.grad.numpy(), recorded)
    XT[0, 0] = 5.0


def test_a_view_op_given_the_read_only_array_a_saved_tensor_handed_out_shares_its_lock():
    # it had a lock of its own: writable once the first graph was done, it let a write into
    # t's memory through while the second graph needed t (a wrong gradient: 2 for 1)
    t, p = ad.tensor(np.ones(4)), ad.tensor(np.ones(4), requires_grad=True)
    first = (p * t).sum()
    r = ad.reshape(t.numpy(), (4,))
    first.backward()
    second = (p * t).sum()
    with ad.no_grad(), pytest.raises(RuntimeError, match="memory holds values saved by op 'multiply'"):
        r += 1.0
    p.grad = None
    second.backward()
    np.testing.assert_array_equal(p.grad.numpy(), np.ones(4))


def test_tensors_on_parts_of_one_memory_share_its_lock():
    # as a tensor's views do (PyTorch keeps one version counter per memory): a write to one
    # part while another is saved is refused, not checked part by part
    flat = np.zeros(6)
    p1, p2 = ad.Tensor(0.0), ad.Tensor(0.0)
    p1.data, p2.data = flat[:3], flat[3:]
    p1.requires_grad_(), p2.requires_grad_()
    loss = (p2 ** 3).sum()
    with ad.no_grad(), pytest.raises(RuntimeError, match="memory holds values saved by op 'power'"):
        p1.add_(1.0)
    loss.backward()
    with ad.no_grad():
        p1.add_(1.0)
    np.testing.assert_array_equal(flat, [1, 1, 1, 0, 0, 0])


def test_a_view_op_that_had_to_copy_has_a_lock_of_its_own():
    # flatten of a transpose copies: it shared x's lock, filed under the copy's memory, so x's
    # array given to u found no lock and x.T.numpy() stayed writable while u was saved
    x = ad.tensor(np.ones((3, 3)))
    c = ad.flatten(x.T)
    c.numpy()
    b, u = x.T.numpy(), _given(x.numpy())
    u.requires_grad_(True)
    loss = (u * u).sum()
    with pytest.raises(ValueError, match="read-only"):
        b[...] = 7.0
    loss.backward()
    np.testing.assert_array_equal(u.grad.numpy(), 2 * np.ones((3, 3)))
    saved = (ad.tensor(1.0, requires_grad=True) * c).sum()  # the copy saved: x's memory is free
    with ad.no_grad():
        x += 1.0
    del saved


def test_an_empty_view_made_while_its_memory_is_read_only_is_writable_once_the_graph_is_done():
    # np.may_share_memory says False for an empty view: taken for a copy, it was given no lock
    t = ad.tensor(np.ones((3, 3)), requires_grad=True)
    t.numpy()  # held: read-only while saved, and so the views numpy makes of it
    loss = (t * t).sum()
    empty = t.detach()[3:]
    loss.backward()
    with ad.no_grad():
        empty += 1.0  # raised "output array is read-only"


@pytest.mark.parametrize("given", ["broadcast", "a view made while read-only"])
def test_a_large_read_only_view_given_to_an_op_locks_the_array_it_was_taken_from(given):
    # read-only of itself, it was neither copied nor locked: a write through its base got in
    base, p = np.ones((100, 100)), ad.tensor(np.ones((100, 100)), requires_grad=True)
    if given == "broadcast":
        view = np.broadcast_to(base[0], (100, 100))
    else:
        t = _given(base).requires_grad_()
        first = (t * t).sum()  # base read-only
        view = base.T  # read-only from birth
        del first  # base writable again, view not
    loss = (p * view).sum()
    recorded = np.array(view)
    with pytest.raises(ValueError, match="read-only"):
        base[...] = 7.0
    loss.backward()
    np.testing.assert_array_equal(p.grad.numpy(), recorded)
    base[...] = 7.0


def test_indexing_a_saved_tensors_hand_out_leaves_nothing_read_only():
    t, p = ad.tensor(np.ones(3), requires_grad=True), ad.tensor(np.ones(3), requires_grad=True)
    first = (t * t).sum()
    v = ad.getitem(t.numpy(), slice(None))  # the read-only view a saved tensor hands out
    first.backward()
    a = v.numpy()
    (p * v).sum().backward()
    a[...] = 2.0  # was left read-only: its base a temporary view no lock knew
    with ad.no_grad():
        v += 1.0
    np.testing.assert_array_equal(t.numpy(), [3.0, 3.0, 3.0])


def test_views_of_read_only_memory_made_from_a_saved_tensor_do_not_pile_up():
    locks = importlib.import_module("autodiff.tensor")
    p = ad.tensor(np.ones((4, 4)), requires_grad=True)
    for _ in range(20):
        b = ad.broadcast_to(ad.tensor(np.ones((4, 4))), (4, 4))  # read-only of itself
        loss = (p * b).sum()
        ad.reshape(b.numpy(), (16,))  # waits for an array that never becomes writable
        loss.backward()
    assert not locks._BLOCKED and not locks._FROZEN


@pytest.mark.parametrize("fn", [lambda t: np.moveaxis(t, 0, 1), np.atleast_2d, np.real])
def test_a_numpy_function_without_a_rule_hands_out_a_view_as_numpy_does(fn):
    t, p = ad.tensor(np.ones((3, 3))), ad.tensor(np.ones((3, 3)), requires_grad=True)
    view = fn(t)
    loss = (p * t).sum()
    with pytest.raises((ValueError, RuntimeError), match="read-only|saved by op 'multiply'"):
        view[...] = 7.0
    loss.backward()
    np.testing.assert_array_equal(p.grad.numpy(), np.ones((3, 3)))
    view[...] = 7.0


def test_a_custom_view_op_on_as_strided_shares_its_sources_lock():
    # as_strided's chain of bases ends at numpy's DummyArray: taken for a copy, it got no lock
    @ad.op(view=True, saves=None)
    def evens(x):
        return np.lib.stride_tricks.as_strided(x, (x.shape[0] // 2,), (2 * x.strides[0],)), None

    x = ad.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    loss = (x ** 3).sum()
    view = evens(x.detach())
    with ad.no_grad(), pytest.raises(RuntimeError, match="memory holds values saved by op 'power'"):
        view += 10.0
    loss.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 12.0, 27.0, 48.0])


def test_numpy_functions_without_a_rule_do_not_write_into_a_saved_tensor():
    x = ad.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    loss = (x ** 3).sum()
    d = x.detach()
    with pytest.raises(TypeError, match=r"np.cumsum\(..., out=tensor\) is not supported"):
        np.cumsum(np.ones(4), out=d)
    for write in (lambda: np.put_along_axis(d, np.array([0]), 9.0, axis=0),
                  lambda: np.nan_to_num(d, copy=False)):
        with pytest.raises(RuntimeError, match="memory holds values saved by op 'power'"):
            write()
    read_only = np.diagonal(np.reshape(d, (2, 2)))  # numpy's own read-only view, while saved
    loss.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 12.0, 27.0, 48.0])
    assert not read_only.flags.writeable  # numpy's choice, kept


def test_numpy_functions_returning_named_tuples_work_on_tensors():
    u, s, vh = np.linalg.svd(ad.tensor(np.eye(3)))  # a namedtuple was rebuilt from a generator
    np.testing.assert_array_equal(s, np.ones(3))


def test_arrays_taken_at_every_step_while_graphs_overlap_do_not_pile_up():
    locks = importlib.import_module("autodiff.tensor")
    w = ad.tensor(np.ones(3), requires_grad=True)
    previous = None
    for _ in range(100):  # each graph is dropped after the next one is made: w stays saved
        loss = (w * w).sum()
        w.numpy()
        previous = loss  # noqa: F841
    assert len(locks._FROZEN) <= 2


def test_the_registry_of_memories_does_not_grow_with_arrays_handed_out_and_gone():
    locks = importlib.import_module("autodiff.tensor")
    for _ in range(1000):
        t = ad.tensor(np.ones(3))
        t.numpy()
        ad.reshape(np.ones(3), (3,)).numpy()  # a memory given to a view op
    assert len(locks._MEMORY) < 200 and len(locks._UNFILED) < 200


@pytest.mark.parametrize("flat", [False, True])
def test_an_array_handed_out_from_a_saved_view_tensor_is_writable_once_no_graph_needs_it(flat):
    # its base is the view tensor's array (numpy stops the chain at a subclass): thawed
    # before that base, it was taken for read-only of itself
    x = ad.tensor(np.random.default_rng(0).standard_normal((96, 96)))
    v = ad.flatten(x) if flat else x
    p = ad.tensor(np.ones(v.shape), requires_grad=True)
    y = (p * v).sum()
    s = v.data  # a guarded read-only view while y needs v
    y.backward()
    z = (ad.tensor(np.ones(s.shape), requires_grad=True) * s).sum()  # s given to an op
    del z
    gc.collect()
    s[0] = 1.0


def test_views_handed_out_in_a_loop_are_not_kept_and_those_held_are_protected():
    w = ad.tensor(np.zeros((10, 10)), requires_grad=True)
    held = [w.T.numpy() for _ in range(20)]
    for _ in range(1000):
        w.T.numpy()  # each a new array in w's lock: 1020 were kept, strongly, and each save froze them
    assert len(w._lock.exposed) < 64
    loss = (w * w).sum()
    for h in held:
        with pytest.raises(ValueError, match="read-only"):
            h[0, 0] = 1.0
    loss.backward()
    held[0][0, 1] = 1.0
    assert w.numpy()[1, 0] == 1.0


def test_an_array_handed_out_from_a_view_of_memory_two_locks_froze_is_writable_at_the_end():
    u, p = np.ones(4), ad.tensor(np.ones(4), requires_grad=True)
    d, e = _given(u), _given(u)
    a, b = d * p, e * p  # two locks freeze u
    handed = d[:2].numpy()  # of d[:2]'s read-only view of u
    del a  # u stays frozen by e's lock: the view waits, and handed for it
    assert not handed.flags.writeable
    del b
    assert u.flags.writeable and handed.flags.writeable


def test_a_view_op_on_a_view_that_waits_for_its_base_is_writable_at_the_end():
    u, p = np.ones(4), ad.tensor(np.ones(4), requires_grad=True)
    s = u[:]  # the user's view, made before anything was saved
    e, d = ad.Tensor(np.zeros(4)), ad.Tensor(np.zeros(4))
    e.data, d.data = u, s
    a = e * p  # u frozen
    b = d * p
    del b  # s thawed, but waits for u
    handed = d[:2].numpy()
    del a
    assert s.flags.writeable and handed.flags.writeable


def test_a_view_op_on_a_view_numpy_made_read_only_is_writable_with_its_memory():
    u, p = np.ones(4), ad.tensor(np.ones(4), requires_grad=True)
    e = ad.Tensor(np.zeros(4))
    e.data = u
    a = e * p  # u frozen
    s = u[:2]  # read-only from birth: the user's own view, beyond reach (it stays so)
    handed = ad.transpose(s).numpy()  # a view of u's memory
    del a
    assert u.flags.writeable and handed.flags.writeable


def test_a_view_made_while_its_memory_is_saved_is_writable_after_backward():
    x = ad.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    held = x.numpy()  # handed out: frozen while saved, so numpy makes views of it read-only
    loss = (x * x).sum()
    with ad.no_grad():
        z = x.T  # a view of read-only memory
    loss.backward()
    del loss
    assert held.flags.writeable and z.numpy().flags.writeable
    with ad.no_grad():
        z[0, 0] = 5.0
    assert x.numpy()[0, 0] == 5.0


def test_np_asarray_of_a_saved_tensor_is_writable_after_backward():
    x = ad.tensor([1.0, 2.0], requires_grad=True)
    w = ad.tensor([3.0, 4.0])
    loss = (x * w).sum()
    plain = np.asarray(w)  # a plain ndarray (numpy makes one of the guarded view)
    assert type(plain) is np.ndarray
    with pytest.raises(ValueError, match="read-only"):
        plain[0] = 0.0
    loss.backward()
    plain[0] = 0.0
    np.testing.assert_array_equal(w.numpy(), [0.0, 4.0])


class _Holder:
    """An array-like whose __array__ gives its own array (as a pandas Series may)."""

    def __init__(self, values):
        self.a = np.array(values)

    def __array__(self, dtype=None, copy=None):
        return self.a


@pytest.mark.parametrize("kind", ["array.array", "memoryview", "__array__", "reshape of array.array"])
def test_an_array_like_operand_is_read_as_it_was_when_the_op_ran(kind):
    import array

    if kind == "memoryview":
        buffer = bytearray(np.array([1.0, 2.0, 3.0]).tobytes())
        other, write = memoryview(buffer).cast("d"), lambda o: o.__setitem__(0, 100.0)
    elif kind == "__array__":
        other, write = _Holder([1.0, 2.0, 3.0]), lambda o: o.a.__setitem__(0, 100.0)
    else:
        other, write = array.array("d", [1.0, 2.0, 3.0]), lambda o: o.__setitem__(0, 100.0)
    x = ad.tensor([1.0, 2.0, 3.0], requires_grad=True)
    operand = ad.reshape(other, (3,)) if kind.startswith("reshape") else other
    y = (x * operand).sum()  # d/dx = the operand's values now
    write(other)
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 2.0, 3.0])


class _Plain(np.ndarray):
    """An ndarray subclass with numpy's own arithmetic (as np.memmap)."""


@pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")
@pytest.mark.parametrize("op", ["*", "/", "**", "+ and *"])
def test_an_array_subclass_operand_gets_the_gradient_of_the_values_the_forward_used(op):
    # np.matrix's * is a matrix product and its ** a matrix power: rules that computed with
    # it would give another derivative than that of the elementwise forward (a wrong gradient)
    values = np.array([[3.0, 5.0], [7.0, 11.0]])
    x = ad.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    for other in (np.asmatrix(values), values.view(_Plain)):
        f = {"*": lambda x, m: x * m, "/": lambda x, m: x / m, "**": lambda x, m: x ** m,
             "+ and *": lambda x, m: (x + m) * m}[op]
        y = f(x, other)
        np.testing.assert_array_equal(y.numpy(), f(x.numpy(), values))
        y.sum().backward()
        want = {"*": values, "/": 1 / values, "**": values * x.numpy() ** (values - 1),
                "+ and *": values}[op]
        np.testing.assert_allclose(x.grad.numpy(), want, rtol=1e-15)
        x.grad = None


@pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")
def test_an_array_subclass_option_is_taken_as_its_values():
    # leaky_relu's slope as np.matrix: forward and rule computed x * slope as a matrix product
    slope = np.asmatrix([[0.5, 0.25], [0.125, 2.0]])
    x = ad.tensor([[-1.0, -2.0], [-0.5, -3.0]], requires_grad=True)
    ad.leaky_relu(x, slope).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.asarray(slope))
    with pytest.raises(TypeError, match=r"masked array.*filled"):
        ad.leaky_relu(x, np.ma.masked_array([[0.5, 0.25]], mask=[[False, True]]))


@pytest.mark.parametrize("make", ["x * 1j", "abs(x * 1j)", "x * Fraction", "exp of complex", "where"])
def test_a_complex_or_object_result_of_a_differentiated_operand_is_an_error(make):
    # not recorded, it left the graph: the gradient was 0 in reverse mode, and forward mode
    # passed tangents through rules written for real numbers (abs: the wrong sign)
    from fractions import Fraction

    f = {"x * 1j": lambda x: x * 1j, "abs(x * 1j)": lambda x: ad.abs(x * 1j),
         "x * Fraction": lambda x: x * Fraction(1, 2), "exp of complex": lambda x: ad.exp(x + 0j),
         "where": lambda x: ad.where(np.array([True, False]), x, 1j)}[make]
    v = np.array([1.0, -2.0])
    with pytest.raises(TypeError, match=r"gave a (complex128|object) result from an operand that requires"):
        f(ad.tensor(v, requires_grad=True))
    if make == "x * Fraction":  # 0-d too (a 0-d object result was unboxed to a float before b32d1c0)
        with pytest.raises(TypeError, match=r"gave a object result"):
            f(ad.tensor(2.0, requires_grad=True))
    with pytest.raises(TypeError, match=r"carries a forward-mode tangent"):
        ad.jvp(f, (v,), (np.ones(2),))
    want = f(v)  # nothing differentiated: numpy's result
    with ad.no_grad():
        np.testing.assert_array_equal(f(ad.tensor(v, requires_grad=True)).numpy(), want)
    np.testing.assert_array_equal(f(ad.tensor(v)).numpy(), want)


def test_a_masked_array_is_refused_where_its_mask_would_be_dropped():
    # the values under the mask would count as any other (JAX and Numba refuse them too)
    masked = np.ma.masked_array([3.0, 5.0], mask=[False, True])
    x = ad.tensor([1.0, 2.0], requires_grad=True)
    plain = np.array([3.0, 5.0])
    hooked = ad.tensor([1.0, 2.0], requires_grad=True)
    hooked.register_hook(lambda g: masked)
    for make in (lambda: x * masked, lambda: ad.exp(masked), lambda: ad.tensor(masked),
                 lambda: ad.tensor([1.0, 2.0]).__setitem__(slice(None), masked),
                 lambda: x[np.ma.masked_array([0, 1], mask=[False, True])],
                 lambda: x.sum().backward(np.ma.masked_array(1.0, mask=True)),
                 lambda: setattr(ad.tensor([1.0, 2.0]), "data", masked),
                 lambda: ad.stack([x, masked]), lambda: ad.var(masked),  # composites
                 lambda: ad.grad(lambda v: (v * v).sum())(masked),  # transforms
                 lambda: ad.vjp(lambda v: v * v, plain)[1](masked),
                 lambda: ad.jvp(lambda v: v * v, (plain,), (masked,)),
                 lambda: (hooked * 2).sum().backward()):
        with pytest.raises(TypeError, match=r"masked array.*filled"):
            make()
    assert x.grad is None and hooked.grad is None


def test_a_torch_tensor_operand_is_read_as_it_was_when_the_op_ran():
    torch = pytest.importorskip("torch", reason="torch is not installed")
    values = np.array([1.0, 2.0, 3.0])
    x = ad.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (x * torch.from_numpy(values)).sum()
    values[0] = 100.0  # the torch tensor's memory
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 2.0, 3.0])


def test_index_arrays_and_slice_bounds_are_read_as_they_were_when_the_op_ran():
    x = ad.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    i, k, start, stop = np.array(0), ad.tensor(0), np.array(0), np.array(2)
    y = x[i] + 10 * x[k] + 100 * x[start:stop].sum() + 1000 * x[:, None][:, i].sum()
    i += 2  # a loop counter: the user's, nothing saved it
    start += 2
    stop += 2
    with ad.no_grad():
        k += 3
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1 + 10 + 100 + 1000, 100 + 1000, 1000, 1000])


@pytest.mark.parametrize("as_tensor", [False, True])
def test_an_array_option_is_read_as_it_was_when_the_op_ran(as_tensor):
    x = ad.tensor([-1.0, -2.0, 3.0], requires_grad=True)
    slope = np.array([0.1, 0.2, 0.3])
    option = ad.tensor(slope) if as_tensor else slope
    y = ad.leaky_relu(x, option).sum()  # the rule reads the slope at backward()
    with ad.no_grad():
        option[...] = 5.0
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.1, 0.2, 1.0])


def test_jvp_of_a_callers_tensor_protects_it_while_a_graph_saves_it():
    w = ad.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x = ad.tensor([1.0, 1.0, 1.0])
    held = x.numpy()
    out, _ = ad.jvp(lambda t: t * w, (x,), (np.ones(3),))  # out's graph saves t: x's memory
    with pytest.raises(RuntimeError, match="saved by op 'multiply'"), ad.no_grad():
        x += 10.0
    with pytest.raises(ValueError, match="read-only"):
        held[0] = 50.0
    out.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [1.0, 1.0, 1.0])


def test_a_seed_array_of_a_recorded_sweep_is_read_as_it_was_given():
    x = ad.tensor([1.0, 2.0, 3.0], requires_grad=True)
    v = np.ones(3)
    (x * x).backward(v, create_graph=True)  # x.grad = 2 x v, recorded: it saves v's values
    first = x.grad
    v[:] = 5.0
    x.grad = None
    first.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0, 2.0])
    (g,) = ad.gradients(x * x, x, grad_outputs=v, create_graph=True)
    v[:] = 1.0
    np.testing.assert_array_equal(ad.gradients(g.sum(), x)[0].numpy(), [10.0, 10.0, 10.0])


def test_a_hook_of_a_recorded_sweep_cannot_write_into_a_gradient_another_tensor_shares():
    x = ad.tensor([1.0, 2.0], requires_grad=True)
    w = ad.tensor([3.0, 4.0], requires_grad=True)
    a, v = x * 1.0, w * 1.0
    b = (v + a) * 2.0  # add passes one adjoint to both operands

    def hook(g):
        g[...] = 100.0

    a.register_hook(hook)
    with pytest.raises(ValueError, match="wrote into the gradient it was given"):
        b.sum().backward(create_graph=True)
    assert w.grad is None


def test_a_view_blocked_by_another_thread_while_a_thaw_runs_is_not_lost():
    import sys
    import threading

    tensor = importlib.import_module("autodiff.tensor")
    line = next(i for i, text in enumerate(open(tensor.__file__), 1) if "_BLOCKED[:] = still" in text)
    paused, done = threading.Event(), threading.Event()

    def tracer(frame, event, arg):  # pauses thread A's thaw just before it rewrites _BLOCKED
        if frame.f_code.co_name != "thaw" or frame.f_code.co_filename != tensor.__file__:
            return None

        def local(frame, event, arg):
            if event == "line" and frame.f_lineno == line and not paused.is_set():
                paused.set()
                done.wait(0.5)  # B blocks a view meanwhile (or waits for the thaw to end)
            return local
        return local

    def thread_a():
        p = ad.tensor(np.ones(4), requires_grad=True)
        held = p.numpy()  # noqa: F841  (a hand-out: frozen, then thawed)
        y = ad.sin(p).sum()
        sys.settrace(tracer)
        try:
            y.backward()
        finally:
            sys.settrace(None)

    result = {}

    def thread_b():
        paused.wait(5)
        w = ad.tensor(np.ones(4), requires_grad=True)
        h = w.numpy()
        y = ad.sin(w).sum()  # saves w: h frozen
        result.update(y=y, view=ad.reshape(h, (2, 2)))  # read-only: waits in _BLOCKED for h
        done.set()

    threads = [threading.Thread(target=thread_a), threading.Thread(target=thread_b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result.pop("y").backward()  # nothing is saved any more
    with ad.no_grad():
        result["view"][0, 0] = 5.0


@pytest.mark.parametrize("look", ["np.asarray", "T.numpy", "slice.numpy", "np.moveaxis",
                                  "reshape of numpy()"])
def test_looking_at_a_weight_that_stays_saved_keeps_the_registries_bounded(look):
    tensor = importlib.import_module("autodiff.tensor")
    looks = {"np.asarray": lambda w: np.asarray(w), "T.numpy": lambda w: w.T.numpy(),
             "slice.numpy": lambda w: w[1:].numpy(), "np.moveaxis": lambda w: np.moveaxis(w.detach(), 0, 1),
             "reshape of numpy()": lambda w: ad.reshape(w.numpy(), (-1,))}
    w = ad.tensor(np.ones((4, 4)), requires_grad=True)
    previous = ad.sin(w).sum()  # graphs that overlap: w stays saved from step to step
    sizes, kept = [], []
    for step in range(300):
        y = (ad.sin(w) * 2.0).sum()
        seen = looks[look](w)  # looked at, and mostly not kept
        if step % 50 == 0:
            kept.append(seen)
        previous = y
        sizes.append(len(tensor._FROZEN) + len(tensor._BLOCKED))
    assert max(sizes[150:]) <= max(sizes[:150])  # bounded: it grew by one a step
    previous.backward()  # the ones the user kept are made writable when the last graph goes
    del previous, y, seen
    gc.collect()
    assert all((a if isinstance(a, np.ndarray) else a.numpy()).flags.writeable for a in kept)


def test_an_empty_view_of_a_frozen_array_is_writable_after_backward():
    w = ad.tensor(np.ones((1, 3)), requires_grad=True)
    held = w.numpy()
    y = ad.sin(w).sum()  # saves w: held is read-only
    empty = ad.getitem(held, slice(1, None))  # numpy makes a view of read-only memory read-only
    y.backward()
    with ad.no_grad():
        empty[...] = 0.0  # nothing saved: no error


def test_gradients_of_a_recorded_sweep_are_distinct_tensors():
    x = ad.tensor([1.0, 2.0], requires_grad=True)
    w = ad.tensor([3.0, 4.0], requires_grad=True)
    gx, gw = ad.gradients((x + w) * 1.0, [x, w], grad_outputs=np.ones(2), create_graph=True)
    with ad.no_grad():
        gx += 1.0  # add passed one adjoint to both inputs
    np.testing.assert_array_equal(gw.numpy(), [1.0, 1.0])
    seed = ad.tensor([1.0, 1.0])
    (g,) = ad.gradients(x + 0.0, [x], grad_outputs=seed, create_graph=True)
    with ad.no_grad():
        g += 1.0
    np.testing.assert_array_equal(seed.numpy(), [1.0, 1.0])
    np.testing.assert_array_equal(ad.gradients((g * x).sum(), x)[0].numpy(), [2.0, 2.0])  # still recorded


def test_a_custom_op_gets_an_operand_that_is_no_array_as_it_is():
    @ad.op
    def scaled(x, mode):  # no default: an operand
        factor = {"double": 2.0, "triple": 3.0}[mode]
        return x * factor, (lambda g, out, x, m: g * factor, None)

    @ad.op
    def applied(x, fn):
        return fn(x), (lambda g, out, x, f: -g, None)

    x = ad.tensor([1.0, 2.0], requires_grad=True)
    (scaled(x, "triple").sum() + applied(x, np.negative).sum()).backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0])


def test_a_hook_that_returns_its_gradient_leaves_a_recorded_result_writable():
    x = ad.tensor([1.0, 2.0], requires_grad=True)
    x.register_hook(lambda g: g)  # looks, and returns what it got
    (gx,) = ad.gradients((x * 3.0).sum(), [x], create_graph=True)
    with ad.no_grad():
        gx += 1.0
    np.testing.assert_array_equal(gx.numpy(), [4.0, 4.0])


def test_gradients_of_a_recorded_sweep_under_no_grad_stay_recorded_when_copied():
    x = ad.tensor([1.0, 2.0], requires_grad=True)
    w = ad.tensor([3.0, 4.0], requires_grad=True)
    y = ((x + w) ** 2).sum()
    with ad.no_grad():  # a recorded sweep records there too (as PyTorch's)
        gx, gw = ad.gradients(y, [x, w], create_graph=True)
    assert gx.requires_grad and gw.requires_grad
    (second,) = ad.gradients((gx * gw).sum(), [x])  # 4 (x + w) d(x + w)/dx summed twice
    np.testing.assert_array_equal(second.numpy(), 8 * (x.numpy() + w.numpy()))
