"""Both directions of differentiation, and the transforms built on them."""

from __future__ import annotations

import copy
import gc
import pickle
import weakref

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import autodiff as ad
from autodiff.gradcheck import numeric_jacobian

# -------------------------------------------------- random smooth programs
# Each stage grows its input at most linearly (x * x is tamed), so that four stages stay far
# from where rounding swamps the derivatives both modes and the differences compute.
UNARY = [ad.tanh, ad.sin, ad.sigmoid, ad.softplus, lambda x: x * x / (1 + x * x), lambda x: ad.exp(-x * x),
         lambda x: ad.softmax(x, axis=-1), lambda x: ad.log_softmax(x, axis=0), ad.gelu]
MIXING = [
    lambda x, W: x @ W,
    lambda x, W: (x[:, None] * W).sum(axis=0),
    lambda x, W: ad.concatenate([x[1:], x[:1]]) * 2.0,
    lambda x, W: ad.einsum("i,ij->j", x, W),
    lambda x, W: ad.logsumexp(x[:, None] + W, axis=0),
    lambda x, W: ad.reshape(ad.transpose(ad.reshape(x, (2, 2))), (4,)) - x.mean(),
    lambda x, W: ad.pad(x[1:3], 1) + ad.max(W, axis=0),
    lambda x, W: ad.prod(W + 2.0, axis=0) / 17.0 * x,  # prod(W + 2) is about 17: no blow-up
    lambda x, W: ad.where(x > 0, x, 0.5 * x) + ad.var(W, axis=0),
]


def program(choices):
    W = ad.tensor(np.linspace(-1.0, 1.0, 16).reshape(4, 4) ** 2 - 0.3)

    def f(x):
        for a, b in choices:
            x = UNARY[a](MIXING[b](x, W))
        return x

    return f


def assert_matches_differences(J, f, x, rtol=1e-5, atol=1e-6):
    """``J`` against central differences of ``f`` at ``x``, to the accuracy the differences have.

    Differences at a step of 1e-6 err by about 1e-12 times the third derivative, and a random
    program can curve so sharply that they are off by 10% (the engine agreed with differences
    at 1e-9 to 4e-8 there). Their gap to differences at 1e-7 estimates that error, and widens
    the tolerance by as much.
    """
    numeric = numeric_jacobian(lambda x: f(ad.tensor(x)).numpy(), x)
    finer = numeric_jacobian(lambda x: f(ad.tensor(x)).numpy(), x, eps=1e-7)
    allowed = atol + rtol * np.abs(numeric) + 2 * np.abs(numeric - finer)
    worst = np.unravel_index(np.argmax(np.abs(J - numeric) - allowed), J.shape)
    assert np.all(np.abs(J - numeric) <= allowed), (
        f"at {worst}: {J[worst]} by the engine, {numeric[worst]} (step 1e-6) and {finer[worst]} (1e-7) "
        "by central differences")


programs = st.lists(st.tuples(st.integers(0, len(UNARY) - 1), st.integers(0, len(MIXING) - 1)),
                    min_size=1, max_size=4)


@settings(max_examples=40, deadline=None)
@given(programs, st.integers(0, 2**32 - 1))
def test_forward_and_reverse_agree_on_random_programs(choices, seed):
    rng = np.random.default_rng(seed)
    f = program(choices)
    x, v, u = rng.standard_normal(4), rng.standard_normal(4), rng.standard_normal(4)
    _, Jv = ad.jvp(f, (x,), (v,))
    _, pullback = ad.vjp(f, x)
    (uJ,) = pullback(u)
    assert abs(u @ Jv - uJ @ v) <= 1e-10 * (1 + abs(u @ Jv))
    J_fwd = ad.jacobian(f, mode="fwd")(x)
    J_rev = ad.jacobian(f, mode="rev")(x)
    np.testing.assert_allclose(J_fwd, J_rev, rtol=1e-10, atol=1e-12)
    assert_matches_differences(J_fwd, f, x)


# ---------------------------------------------------------------- Hessians
def rosenbrock(x):
    return (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()


def rosenbrock_hessian(x):
    n = len(x)
    H = np.zeros((n, n))
    i = np.arange(n - 1)
    H[i, i] += 1200 * x[:-1] ** 2 - 400 * x[1:] + 2
    H[i, i + 1] = H[i + 1, i] = -400 * x[:-1]
    H[i + 1, i + 1] += 200
    return H


@pytest.mark.parametrize("n", [2, 10, 100])
def test_hessian_of_rosenbrock_is_the_analytic_one(n):
    x = np.random.default_rng(n).uniform(-1.5, 1.5, n)
    np.testing.assert_allclose(ad.hessian(rosenbrock)(x), rosenbrock_hessian(x), rtol=0, atol=1e-9)
    v = np.random.default_rng(0).standard_normal(n)
    value, Hv = ad.hvp(rosenbrock, x, v)
    assert value == pytest.approx(rosenbrock(ad.tensor(x)).item())
    np.testing.assert_allclose(Hv, rosenbrock_hessian(x) @ v, rtol=0, atol=1e-9)


def test_a_networks_hessian_is_symmetric():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((6, 3)), rng.standard_normal(6)
    shapes = [(3, 5), (5,), (5, 1)]
    sizes = [int(np.prod(s)) for s in shapes]

    def loss(theta):
        parts = ad.split(theta, list(np.cumsum(sizes)[:-1]))
        W1, b1, W2 = (ad.reshape(p, s) for p, s in zip(parts, shapes, strict=True))
        return (((ad.tanh(X @ W1 + b1) @ W2)[:, 0] - y) ** 2).mean()

    H = ad.hessian(loss)(rng.standard_normal(sum(sizes)) * 0.5)
    np.testing.assert_allclose(H, H.T, rtol=0, atol=1e-12)
    assert np.abs(H).max() > 1e-3


@pytest.mark.parametrize("fn, third", [
    (ad.sin, lambda x: -np.cos(x)),
    (ad.tanh, lambda x: (6 * np.tanh(x) ** 2 - 2) * (1 - np.tanh(x) ** 2)),
    (lambda x: x ** 3, lambda x: 6.0 + 0 * x),
])
def test_third_derivatives_by_nested_grad(fn, third):
    d3 = ad.grad(ad.grad(ad.grad(fn)))
    for x in (-1.3, 0.2, 0.9):
        assert d3(x) == pytest.approx(third(x), rel=1e-12, abs=1e-12)


# -------------------------------------------------------------- transforms
def test_kinds_in_are_kinds_out_and_no_grad_is_touched():
    f = lambda x: (x ** 2).sum()
    assert isinstance(ad.grad(f)(np.array([1.0, 2.0])), np.ndarray)
    assert isinstance(ad.grad(lambda x: x ** 2)(3.0), float)
    x = ad.tensor([1.0, 2.0], requires_grad=True)
    g = ad.grad(f)(x)
    assert isinstance(g, ad.Tensor) and x.grad is None
    np.testing.assert_array_equal(g.numpy(), [2.0, 4.0])
    integer_input = ad.grad(f)(np.array([1, 2]))
    assert integer_input.dtype == np.float64


def test_value_and_grad_with_aux_and_several_argnums():
    def f(x, y):
        return (x * y).sum(), "aux"

    (value, aux), (gx, gy) = ad.value_and_grad(f, argnums=(0, 1), has_aux=True)(np.array([1.0, 2.0]),
                                                                                np.array([3.0, 4.0]))
    assert value == 11.0 and aux == "aux"
    np.testing.assert_array_equal(gx, [3.0, 4.0])
    np.testing.assert_array_equal(gy, [1.0, 2.0])
    with pytest.raises(ValueError, match="one-element tensor"):
        ad.grad(lambda x: x * 2)(np.array([1.0, 2.0]))


@pytest.mark.parametrize("index", [(0, slice(None), [1, 2]), ([0, 1], slice(None), [1, 2]),
                                   (None, 0, slice(None), [3, 1]), (Ellipsis, [1, 2]), (0, [1, 2], [0, 3])])
def test_jacobians_through_advanced_indices_that_a_slice_separates(index):
    # numpy puts the axes of advanced indices that a slice separates first, also before batch axes
    x = np.arange(24.0).reshape(2, 3, 4) / 10
    expected = np.zeros(x[index].shape + x.shape)  # d x[index] / dx: ones where an element is taken
    positions = np.arange(x.size).reshape(x.shape)[index]
    for out_position, taken in np.ndenumerate(positions):
        expected[out_position + np.unravel_index(taken, x.shape)] = 1.0
    for mode in ("fwd", "rev"):
        np.testing.assert_array_equal(ad.jacobian(lambda x: x[index], mode=mode)(x), expected)
    h = ad.hessian(lambda x: (x[index] ** 3).sum())(x)  # 6 x on the diagonal where taken
    taken = np.isin(np.arange(x.size).reshape(x.shape), positions)
    np.testing.assert_allclose(np.einsum("abcabc->abc", h), 6 * x * taken, rtol=1e-14)


def test_results_keep_their_shape_at_a_number():
    # a number in, a number out only where the result is 0-d: (1,) and (1, 1) stay arrays (as JAX's)
    j = ad.jacobian(lambda x: x[None] ** 2)(1.5)
    assert isinstance(j, np.ndarray) and j.shape == (1,) and j[0] == 3.0
    value, tangent = ad.jvp(lambda x: x.reshape(1, 1) * 2, (1.5,), (1.0,))
    assert value.shape == (1, 1) and tangent.shape == (1, 1) and tangent[0, 0] == 2.0
    assert ad.grad(lambda x: x * x)(1.5) == 3.0 and isinstance(ad.grad(lambda x: x * x)(1.5), float)


def test_a_0d_array_in_gives_arrays_out():
    # arrays in, arrays out: a 0-d array is an array (it gave Python floats, as a number does)
    g = ad.grad(lambda x: x * x)(np.array(1.5))
    assert type(g) is np.ndarray and g.shape == () and g == 3.0
    value, tangent = ad.jvp(lambda v: v * 2, (np.array(1.0),), (np.array(1.0),))
    assert type(value) is np.ndarray and type(tangent) is np.ndarray and tangent == 2.0
    assert type(ad.grad(lambda x: x * x)(np.float64(1.5))) is float  # a numpy number: a number


def test_results_are_differentiable_by_a_tangent_or_cotangent_that_requires_grad():
    x = np.array([0.5, -1.0])
    v = ad.tensor([1.0, 2.0], requires_grad=True)
    _, tangent = ad.jvp(lambda z: ad.sin(z) * z, (x,), (v,))
    np.testing.assert_allclose(ad.gradients(tangent.sum(), v)[0].numpy(), np.cos(x) * x + np.sin(x))
    _, hv = ad.hvp(lambda z: (z ** 3).sum(), x, v)
    np.testing.assert_allclose(ad.gradients(hv.sum(), v)[0].numpy(), 6 * x)
    (cotangent,) = ad.vjp(lambda z: z ** 3, x)[1](v)
    np.testing.assert_allclose(ad.gradients(cotangent.sum(), v)[0].numpy(), 3 * x ** 2)
    assert isinstance(ad.jvp(ad.sin, (x,), (np.ones(2),))[1], np.ndarray)  # arrays in, arrays out


def test_has_aux_needs_a_pair():
    for f in (lambda x: x * x, lambda x: (x * x).sum()):  # two rows; a 0-d value
        with pytest.raises(TypeError, match="with has_aux=True, f must return a pair"):
            ad.value_and_grad(f, has_aux=True)(np.array([1.0, 2.0]))


def test_grad_of_a_function_that_ignores_its_input_is_zero():
    np.testing.assert_array_equal(ad.grad(lambda x: ad.tensor(1.0))(np.array([1.0, 2.0])), [0.0, 0.0])


def test_jacobian_auto_picks_the_cheaper_direction(monkeypatch):
    import autodiff.functional as functional

    calls = []
    real = functional._forward_columns
    monkeypatch.setattr(functional, "_forward_columns", lambda *a, **k: calls.append(1) or real(*a, **k))
    wide = lambda x: ad.concatenate([x, x ** 2, ad.sin(x)])  # 2 inputs, 6 outputs: forward
    x = np.array([0.5, 1.0])
    np.testing.assert_allclose(ad.jacobian(wide)(x), ad.jacobian(wide, mode="rev")(x))
    assert calls == [1]
    tall = lambda x: (x ** 2).sum(keepdims=True)  # 5 inputs, 1 output: reverse
    ad.jacobian(tall)(np.ones(5))
    assert calls == [1]


def test_jacobian_shapes_and_several_argnums():
    f = lambda x, W: ad.tanh(W @ x)
    x, W = np.ones(3), np.arange(6.0).reshape(2, 3) / 10
    Jx, JW = ad.jacobian(f, argnums=(0, 1), mode="fwd")(x, W)
    assert Jx.shape == (2, 3) and JW.shape == (2, 2, 3)
    Jx_r, JW_r = ad.jacobian(f, argnums=(0, 1), mode="rev")(x, W)
    np.testing.assert_allclose(Jx, Jx_r, atol=1e-14)
    np.testing.assert_allclose(JW, JW_r, atol=1e-14)


@pytest.mark.parametrize("mode", ["fwd", "rev"])
def test_jacobians_of_linear_in_a_scalar_bias(mode):
    # a 0-d bias is added to every output: its column of the jacobian is ones
    weight = np.arange(12.0).reshape(4, 3)
    jb = ad.jacobian(lambda b: ad.linear(ad.tensor(np.ones((2, 3))), ad.tensor(weight), b), mode=mode)(0.5)
    np.testing.assert_array_equal(jb, np.ones((2, 4)))
    jx, jb = ad.jacobian(lambda x, b: ad.linear(x, ad.tensor(weight), b), argnums=(0, 1), mode=mode)(
        np.ones((2, 3)), np.array(0.5))
    np.testing.assert_array_equal(jb, np.ones((2, 4)))
    np.testing.assert_array_equal(jx, np.einsum("ac,bd->abcd", np.eye(2), weight))
    h = ad.hessian(lambda b: (ad.linear(ad.tensor(np.ones((1, 3))), ad.tensor(weight), b) ** 2).sum())(0.5)
    assert h == 8.0  # d²/db² of sum((w_i · 1 + b)²) over four rows


def test_an_op_without_batched_tangents_falls_back_to_one_sweep_per_direction():
    @ad.op(tangents=True)
    def cube(x):
        return x ** 3, lambda g, out, x: 3 * g * x ** 2, lambda t, out, x: 3 * t * x ** 2

    x = np.array([0.5, -1.0, 2.0])
    np.testing.assert_allclose(ad.jacobian(lambda x: cube(x) * 2.0, mode="fwd")(x), np.diag(6 * x ** 2))
    np.testing.assert_allclose(ad.hessian(lambda x: cube(x).sum())(x), np.diag(6 * x))


@pytest.mark.parametrize("fn", [lambda x: np.exp2(x), lambda x: np.flip(x) * x, lambda x: np.cumsum(x) * x])
def test_forward_mode_refuses_numpy_functions_without_a_rule(fn):
    # a tensor in a forward sweep does not require grad, but its tangent would be dropped
    with pytest.raises(TypeError, match="has no derivative rule in autodiff"):
        ad.jvp(fn, (np.array([1.0, 2.0]),), (np.ones(2),))


def test_forward_mode_refuses_in_place_writes():
    def add_in_place(x):
        y = x * 2
        y += x
        return y

    def assign(x):
        y = x * 2
        y[0] = 5.0
        return y

    def add_into_plain(x):  # the tangent is the operand's: the tensor written has none
        y = ad.zeros(2)
        y.add_(x)
        return y

    cases = ((add_in_place, "in-place add"), (assign, "item assignment"), (add_into_plain, "in-place add"))
    for fn, what in cases:
        with pytest.raises(RuntimeError, match=f"{what} on a tensor that carries a forward-mode tangent"):
            ad.jvp(fn, (np.array([1.0, 2.0]),), (np.ones(2),))


def test_forward_mode_through_an_op_without_tangent_rule_says_what_to_do():
    @ad.op
    def cube(x):
        return x ** 3, lambda g, out, x: 3 * g * x ** 2

    with pytest.raises(TypeError, match="op 'cube' has no tangent rule.*tangents=True.*symmetric=True"):
        ad.jvp(cube, (np.ones(2),), (np.ones(2),))


def test_jvp_keeps_no_tape():
    x = np.linspace(-1, 1, 8)
    probes = []

    def chain(y):
        for _ in range(200):
            y = (y * 1.01 + 0.1).tanh()
            probes.append(weakref.ref(y))
        return y

    gc.disable()
    try:
        out, tangent = ad.jvp(chain, (x,), (np.ones(8),))
        assert sum(p() is not None for p in probes) == 0  # nothing was kept alive by a graph
    finally:
        gc.enable()
    _, pullback = ad.vjp(chain, x)
    np.testing.assert_allclose(tangent, ad.jacobian(chain, mode="rev")(x) @ np.ones(8), rtol=1e-12)


def test_a_tangent_from_an_earlier_sweep_does_not_leak_into_a_later_one():
    kept = {}

    def f(x):
        kept["h"] = x * 3
        return kept["h"].sum()

    ad.jvp(f, (np.ones(2),), (np.ones(2),))
    _, tangent = ad.jvp(lambda y: (y * kept["h"]).sum(), (np.ones(2),), (np.ones(2),))
    assert tangent == pytest.approx(6.0)  # kept["h"] is a constant here: its old tangent must not count


def test_forward_over_reverse_matches_reverse_over_reverse():
    f = lambda x: (ad.tanh(x) * ad.sin(x[::-1])).sum()
    x, v = np.array([0.3, -0.7, 1.1]), np.array([1.0, 2.0, -1.0])
    _, Hv = ad.hvp(f, x, v)
    g = ad.grad(lambda t: (ad.grad(f)(t) * v).sum())(ad.tensor(x))
    np.testing.assert_allclose(Hv, g.numpy(), rtol=1e-12)


# ---------------------------------------------------------------- grad mode
def test_set_grad_enabled_is_a_function_a_context_manager_and_a_decorator():
    w = ad.tensor([1.0], requires_grad=True)

    @ad.set_grad_enabled(False)
    def frozen(w):
        return (w * 2).requires_grad, ad.is_grad_enabled()

    assert ad.is_grad_enabled()  # making the decorator leaves the mode as it was
    assert frozen(w) == (False, False) and ad.is_grad_enabled()
    with ad.no_grad():
        thawed = ad.set_grad_enabled(True)(lambda w: (w * 2).requires_grad)
        assert not ad.is_grad_enabled() and thawed(w) and not ad.is_grad_enabled()
    ad.set_grad_enabled(False)  # as a plain call, as in PyTorch
    try:
        assert not (w * 2).requires_grad
    finally:
        ad.set_grad_enabled(True)
    with ad.set_grad_enabled(False):
        assert not (w * 2).requires_grad
    assert (w * 2).requires_grad


def test_set_grad_enabled_made_earlier_sets_the_mode_when_entered():
    with ad.enable_grad():
        switch = ad.set_grad_enabled(False)  # sets the mode now, as PyTorch's
        assert not ad.is_grad_enabled()
        with ad.enable_grad():
            with switch:  # and again on entering
                assert not ad.is_grad_enabled()
            assert ad.is_grad_enabled()
    assert ad.is_grad_enabled()


def test_a_decorated_generator_closes_in_its_mode():
    seen = []

    @ad.no_grad
    def numbers():
        try:
            yield 1
        finally:
            seen.append(ad.is_grad_enabled())

    it = numbers()
    next(it)
    it.close()
    assert seen == [False] and ad.is_grad_enabled()


def test_no_grad_and_enable_grad_decorate_with_or_without_parentheses():
    w = ad.tensor([1.0], requires_grad=True)
    double = lambda w: w * 2
    for decorated in (ad.no_grad(double), ad.no_grad()(double)):
        assert not decorated(w).requires_grad and ad.is_grad_enabled()
    with ad.no_grad():
        for decorated in (ad.enable_grad(double), ad.enable_grad()(double)):
            assert decorated(w).requires_grad and not ad.is_grad_enabled()

    @ad.no_grad
    def steps(w):
        yield (w * 2).requires_grad  # the mode holds inside the generator, not between its steps
        yield (w * 2).requires_grad

    it = steps(w)
    assert next(it) is False and (w * 2).requires_grad and next(it) is False
    assert steps.__name__ == "steps"
    with pytest.raises(TypeError, match="takes no arguments"):
        ad.no_grad(3)


# ------------------------------------------------------ batched Jacobians
@pytest.fixture
def sweeps(monkeypatch):
    """Counts of Python-level sweeps: reverse (the engine's _sweep) and forward (_ForwardSweep)."""
    import autodiff.backward as backward
    import autodiff.functional as functional

    counts = {"reverse": 0, "forward": 0}
    real_sweep, real_enter = backward._sweep, functional._ForwardSweep.__enter__

    def counting_sweep(*args, **kwargs):
        counts["reverse"] += 1
        return real_sweep(*args, **kwargs)

    def counting_enter(self):
        counts["forward"] += 1
        return real_enter(self)

    monkeypatch.setattr(backward, "_sweep", counting_sweep)
    monkeypatch.setattr(functional._ForwardSweep, "__enter__", counting_enter)
    return counts


def mlp(sizes, seed=0):
    rng = np.random.default_rng(seed)
    weights = [rng.standard_normal((a, b)) / np.sqrt(a) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]

    def f(x):
        for k, W in enumerate(weights):
            x = x @ W
            x = ad.tanh(x) if k < len(weights) - 1 else x
        return x

    return f


@pytest.mark.parametrize("mode, n, m, reverse, forward", [
    ("rev", 6, 12, 1, 1),   # every row in one sweep: forward mode over the reverse sweep
    ("fwd", 12, 6, 0, 1),   # every column in one forward sweep
    ("auto", 400, 8, 1, 1),  # tall and large: reverse mode
    ("auto", 6, 12, 0, 1),  # wide: forward mode
])
def test_a_jacobian_takes_one_sweep_not_one_per_row(sweeps, mode, n, m, reverse, forward):
    f = mlp([n, 7, m])
    x = np.random.default_rng(1).standard_normal(n)
    J = ad.jacobian(f, mode=mode)(x)
    assert (sweeps["reverse"], sweeps["forward"]) == (reverse, forward)
    numeric = numeric_jacobian(lambda x: f(ad.tensor(x)).numpy(), x)
    np.testing.assert_allclose(J, numeric, rtol=1e-6, atol=1e-8)


def test_a_hessian_takes_one_sweep(sweeps):
    x = np.random.default_rng(0).uniform(-1.5, 1.5, 30)
    np.testing.assert_allclose(ad.hessian(rosenbrock)(x), rosenbrock_hessian(x), rtol=0, atol=1e-9)
    assert (sweeps["reverse"], sweeps["forward"]) == (1, 1)


def test_a_reverse_jacobian_through_an_op_that_cannot_batch_falls_back_to_one_sweep_per_row(sweeps):
    @ad.op(tangents=True)
    def double(x):  # its reverse rule is itself, so the batched sweep meets its unbatched tangents
        return 2 * x, lambda g, out, x: double(g), lambda t, out, x: 2 * t

    x = np.linspace(-1.0, 1.0, 6)
    J = ad.jacobian(lambda x: ad.sin(double(x)), mode="rev")(x)
    np.testing.assert_allclose(J, np.diag(2 * np.cos(2 * x)), rtol=1e-12)
    assert sweeps["reverse"] == 1 + 6  # the batched attempt, then one per row


@settings(max_examples=25, deadline=None)
@given(programs, st.integers(0, 2**32 - 1))
def test_batched_reverse_jacobians_of_random_programs(choices, seed):
    f = program(choices)
    wide = lambda x: ad.concatenate([f(x), ad.tanh(f(x)) * x])  # 8 outputs: the batched path
    x = np.random.default_rng(seed).standard_normal(4)
    J = ad.jacobian(wide, mode="rev")(x)
    np.testing.assert_allclose(J, ad.jacobian(wide, mode="fwd")(x), rtol=1e-10, atol=1e-12)
    assert_matches_differences(J, wide, x)


@pytest.mark.parametrize("mode", ["rev", "fwd", "auto"])
def test_jacobian_blocks_keep_the_input_dtype(mode):
    x, unused = np.array([1.0, 2.0, 3.0], np.float32), np.array([4.0, 5.0], np.float32)
    Jx, Ju = ad.jacobian(lambda x, u: x * x, argnums=(0, 1), mode=mode)(x, unused)
    assert Jx.dtype == Ju.dtype == np.float32
    np.testing.assert_array_equal(Jx, np.diag(2 * x))
    np.testing.assert_array_equal(Ju, np.zeros((3, 2)))


# ------------------------------------------------- hvp, hessian of several
def coupled(a, b):
    """``Σa² · Σb³ + sin(a₀ b₁)``, a in R², b in R³; its gradient in closed form below."""
    return (a * a).sum() * (b ** 3).sum() + ad.sin(a[0] * b[1])


def coupled_gradient(a, b):
    c = np.cos(a[0] * b[1])
    ga, gb = 2 * a * (b ** 3).sum(), 3 * b ** 2 * (a * a).sum()
    ga[0] += b[1] * c
    gb[1] += a[0] * c
    return ga, gb


A, B = np.array([0.5, -1.2]), np.array([0.3, 0.8, -0.6])


def coupled_hessian_blocks():
    """The four blocks ∂²f/∂x_i∂x_j by central differences of the closed-form gradient."""
    def gradient_block(i, j):
        return lambda v: coupled_gradient(*((v, B) if j == 0 else (A, v)))[i]

    return [[numeric_jacobian(gradient_block(i, j), (A, B)[j]) for j in range(2)] for i in range(2)]


def test_hessian_of_several_arguments_gives_the_blocks():
    blocks = ad.hessian(coupled, argnums=(0, 1))(A, B)
    expected = coupled_hessian_blocks()
    for i in range(2):
        for j in range(2):
            assert blocks[i][j].shape == (A, B)[i].shape + (A, B)[j].shape
            np.testing.assert_allclose(blocks[i][j], expected[i][j], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(ad.hessian(coupled, argnums=1)(A, B), expected[1][1], rtol=1e-6, atol=1e-8)
    assert len(ad.hessian(coupled, argnums=(1,))(A, B)) == 1


def test_hvp_of_several_arguments():
    u, v = np.array([1.0, -2.0]), np.array([0.5, 0.0, 2.0])
    blocks = coupled_hessian_blocks()
    value, (Hu, Hv) = ad.hvp(coupled, (A, B), (u, v))
    assert value == pytest.approx(coupled(ad.tensor(A), ad.tensor(B)).item())
    np.testing.assert_allclose(Hu, blocks[0][0] @ u + blocks[0][1] @ v, rtol=1e-6)
    np.testing.assert_allclose(Hv, blocks[1][0] @ u + blocks[1][1] @ v, rtol=1e-6)
    # a one-element tuple gives a one-element tuple; a bare array gives a bare array
    f = lambda x: (x ** 3).sum()
    x = np.array([1.0, 2.0])
    (product,) = ad.hvp(f, (x,), (np.ones(2),))[1]
    np.testing.assert_array_equal(product, 6 * x)
    np.testing.assert_array_equal(ad.hvp(f, x, np.ones(2))[1], 6 * x)


def test_auto_jacobian_takes_reverse_mode_through_an_op_without_a_tangent_rule():
    @ad.op
    def scaled(x, y):  # reverse rules only
        return x * y, (lambda g, out, x, y: g * y, lambda g, out, x, y: g * x)

    x, y = np.array([1.0, 2.0]), np.array([3.0, 5.0, 7.0])
    f = lambda x: scaled(x[:, None], y).ravel()  # wide: auto would take forward mode
    expected = np.kron(np.eye(2), y[:, None])
    np.testing.assert_array_equal(ad.jacobian(f)(x), expected)
    np.testing.assert_array_equal(ad.jacobian(f, mode="rev")(x), expected)
    with pytest.raises(TypeError, match="op 'scaled' has no tangent rule"):
        ad.jacobian(f, mode="fwd")(x)


# --------------------------------- a sweep for some gradients runs only their part of the graph
def test_grad_leaves_a_graph_it_closes_over_intact():
    w = ad.tensor([0.3, -0.7, 1.1], requires_grad=True)
    h = ad.tanh(w) * 3
    assert ad.grad(lambda s: (s * h).sum())(2.0) == pytest.approx(h.numpy().sum())
    (h * h).sum().backward()  # h's node was neither run nor freed by ad.grad
    hv = 3 * np.tanh(w.numpy())
    np.testing.assert_allclose(w.grad.numpy(), 2 * hv * 3 * (1 - np.tanh(w.numpy()) ** 2), rtol=1e-14)


def test_gradients_leave_the_history_of_their_inputs_intact_and_unhooked():
    a = ad.tensor([0.5, -1.0, 2.0], requires_grad=True)
    x = ad.sin(a)
    seen = []
    x.register_hook(lambda g: seen.append(g))
    a.register_hook(lambda g: seen.append(g))
    (g,) = ad.gradients((x * x).sum(), x)
    np.testing.assert_array_equal(g.numpy(), 2 * x.numpy())
    assert len(seen) == 1  # x's own hook; a's is behind the input asked for
    x.sum().backward()  # sin's node is still there
    np.testing.assert_allclose(a.grad.numpy(), np.cos(a.numpy()), rtol=1e-15)


def test_transforms_of_a_tensor_whose_history_was_freed():
    a = ad.tensor([1.0, -2.0, 4.0], requires_grad=True)
    x = a * 2
    x.sum().backward()
    np.testing.assert_array_equal(ad.grad(lambda x: (x ** 2).sum())(x).numpy(), 2 * x.numpy())
    np.testing.assert_array_equal(ad.gradients((x * x).sum(), x)[0].numpy(), 2 * x.numpy())


def test_gradients_through_one_input_to_another_and_through_freed_nodes():
    x = ad.tensor([0.5, 1.5], requires_grad=True)
    y = ad.exp(x)
    gy, gx = ad.gradients((y * x).sum(), [y, x], retain_graph=True)  # x also reaches the sum through y
    np.testing.assert_allclose(gy.numpy(), x.numpy(), rtol=1e-15)
    np.testing.assert_allclose(gx.numpy(), np.exp(x.numpy()) * (1 + x.numpy()), rtol=1e-15)
    y.sum().backward()  # frees exp's node, which the gradient for x needs
    with pytest.raises(RuntimeError, match="already freed"):
        ad.gradients((y * x).sum(), [y, x])
    with pytest.raises(RuntimeError, match="already freed"):  # behind a freed node: cannot be told
        ad.gradients(y.sum(), x, allow_unused=True)


def test_a_function_closing_over_a_tensor_whose_graph_was_freed():
    # h's node is freed; an input made after that cannot lie behind it: PyTorch computes these
    x = ad.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2
    h.sum().backward()
    s0 = np.array([3.0, 4.0])
    np.testing.assert_array_equal(ad.grad(lambda s: (s * h).sum())(s0), [2.0, 4.0])
    np.testing.assert_array_equal(ad.jacobian(lambda s: s * h, mode="rev")(s0), np.diag([2.0, 4.0]))
    np.testing.assert_array_equal(ad.hessian(lambda s: (s * s * h).sum())(s0), np.diag([4.0, 8.0]))
    s = ad.tensor(s0, requires_grad=True)
    np.testing.assert_array_equal(ad.gradients((s * h).sum(), s)[0].numpy(), [2.0, 4.0])
    # x lies behind h; a tensor that required grad before the sweep that freed a node may: errors
    early = ad.tensor(s0)
    early.requires_grad_()
    later = x * 3
    later.sum().backward()  # a sweep after early's first requires_grad: early is older than it
    for target, out in ((x, (x * h).sum()), (early, (early * later).sum())):
        with pytest.raises(RuntimeError, match="already freed"):
            ad.gradients(out, target)
    early.requires_grad_(False).requires_grad_(True)  # again: still as old as its first time
    with pytest.raises(RuntimeError, match="already freed"):
        ad.gradients((early * later).sum(), early)
    # a copy requires grad from its making, not from the next requires_grad_ (it gave [1, 4])
    for copied in (copy.deepcopy(x), pickle.loads(pickle.dumps(x)), copy.copy(x)):
        behind = copied * copied
        behind.sum().backward()
        copied.requires_grad = True  # already: must not count as its first time
        with pytest.raises(RuntimeError, match="already freed"):
            ad.gradients((copied * behind).sum(), copied)


# ------------------------------------------------------ what transforms take and give back
def test_a_list_holding_a_differentiated_tensor_is_an_error_not_a_constant():
    inner = ad.grad(lambda p: (p ** 3).sum())
    with pytest.raises(TypeError, match="ad.stack"):
        ad.grad(lambda x: inner([x, 2 * x]).sum())(np.array([0.5, -1.0]))
    np.testing.assert_array_equal(inner([[1.0, 2.0]]), [[3.0, 12.0]])  # a list of numbers is an array


def test_a_list_holding_a_tensor_with_a_tangent_is_refused_only_during_its_sweep():
    inner = ad.grad(lambda p: (p ** 3).sum())
    kept = []

    def f(x):
        kept.append(2 * x)  # carries x's tangent while the sweep runs, and keeps it after
        with pytest.raises(TypeError, match="forward-mode tangent"):
            inner([kept[0], kept[0]])
        return x

    x = np.array([0.5, -1.0])
    ad.jvp(f, (x,), (np.ones(2),))
    assert kept[0]._tangent is not None  # a tangent of an ended sweep: a constant now
    np.testing.assert_array_equal(inner([kept[0], kept[0]]), [3 * (2 * x) ** 2] * 2)


@pytest.mark.parametrize("value", [np.array([1 + 2j, 3 - 1j]), None, {"a": 1.0}])
def test_arguments_that_are_not_real_numbers_are_an_error(value):
    with pytest.raises(TypeError, match="real numbers"):
        ad.grad(lambda x: (x * x).sum())(value)


@pytest.mark.parametrize("n", [3, 10_000])  # an array copied, and one above the engine's copy size
def test_a_pullback_uses_the_values_at_the_time_of_the_call(n):
    x = np.linspace(0.5, 2.0, n)
    want = np.cos(x) * x + np.sin(x)
    out, pullback = ad.vjp(lambda x: ad.sin(x) * x, x)
    x[0] = 5.0
    np.testing.assert_allclose(pullback(np.ones(n))[0], want, rtol=1e-15)
    t = ad.tensor(np.linspace(0.5, 2.0, n))
    _, pullback = ad.vjp(lambda x: ad.sin(x) * x, t)
    with pytest.raises(RuntimeError, match="pending backward"):
        t.data[0] = 5.0


def test_an_inner_result_that_does_not_depend_on_the_outer_variable():
    x, y = np.array([0.5, -1.0, 2.0]), np.array([1.0, 2.0, 3.0])
    f = lambda x, y: (x * x).sum() + (y * y).sum()  # noqa: E731
    inner = lambda x: ad.grad(f, argnums=1)(x, y)  # noqa: E731  (2 y: constant in x)
    for mode in ("fwd", "rev", "auto"):
        np.testing.assert_array_equal(ad.jacobian(inner, mode=mode)(x), np.zeros((3, 3)))
    value, tangent = ad.jvp(inner, (x,), (np.ones(3),))
    np.testing.assert_array_equal(value, 2 * y)
    np.testing.assert_array_equal(tangent, np.zeros(3))
    assert ad.grad(lambda x: 3.0)(2.0) == 0.0


@pytest.mark.parametrize("transform", [lambda f, x, v: ad.jvp(f, (x,), (v,)), ad.hvp])
@pytest.mark.parametrize("shape", [(2, 3), (5,), ()])
def test_a_tangent_of_another_shape_than_its_primal_is_an_error(transform, shape):
    with pytest.raises(ValueError, match="tangent 0 has shape"):
        transform(lambda x: (x ** 3).sum(), np.array([1.0, 2.0, 3.0]), np.ones(shape))


def test_values_given_back_are_plain_unless_differentiated():
    x = np.array([0.5, -1.0, 2.0])
    out, _ = ad.vjp(lambda x: x * x, x)
    assert type(out) is np.ndarray
    (value, aux), _ = ad.value_and_grad(lambda x: ((x ** 2).sum(), {"h": [x * 3]}), has_aux=True)(x)
    assert type(value) is float and type(aux["h"][0]) is np.ndarray
    np.testing.assert_array_equal(aux["h"][0], 3 * x)
    t = ad.tensor(x)  # does not require grad: its results are constants
    value, g = ad.value_and_grad(lambda x: (x ** 2).sum())(t)
    val, hv = ad.hvp(lambda x: (x ** 3).sum(), t, np.ones(3))
    assert not (value.requires_grad or g.requires_grad or val.requires_grad or hv.requires_grad)
    w = ad.tensor(x, requires_grad=True)  # does: they stay differentiable
    value, _ = ad.value_and_grad(lambda x: (x ** 2).sum())(w)
    value.backward()
    np.testing.assert_array_equal(w.grad.numpy(), 2 * x)


@pytest.mark.parametrize("argnums", [(), 1.0, True, [0, "a"]])
def test_argnums_that_are_not_ints_are_an_error(argnums):
    with pytest.raises(TypeError, match="argnums must be"):
        ad.grad(lambda x, y: (x * y).sum(), argnums=argnums)(1.0, 2.0)
    assert ad.grad(lambda x, y: x * y, argnums=np.int64(1))(3.0, 2.0) == 3.0


def test_gradients_takes_one_seed_in_a_list_for_one_output():
    x = ad.tensor([1.0, 2.0, 3.0], requires_grad=True)
    v = np.array([1.0, 0.5, 2.0])
    (g,) = ad.gradients(x * x, x, grad_outputs=[v])
    np.testing.assert_array_equal(g.numpy(), 2 * x.numpy() * v)


def test_no_grad_inside_f_makes_constants_in_both_modes():
    def f(x):
        with ad.no_grad():
            c = (x ** 2).sum()  # a constant to every transform
            with ad.enable_grad():
                d = x * 3.0  # differentiated again
        return x[:2] * 2 + c + d[1:]

    x = np.array([0.5, -1.0, 2.0])
    want = np.array([[2.0, 3.0, 0.0], [0.0, 2.0, 3.0]])
    for mode in ("fwd", "rev", "auto"):
        np.testing.assert_array_equal(ad.jacobian(f, mode=mode)(x), want)
    np.testing.assert_array_equal(ad.jvp(f, (x,), (np.ones(3),))[1], want.sum(axis=1))
    inside = []
    ad.grad(lambda s: s + (inside.append(ad.jvp(f, (x,), (np.ones(3),))[1]) or 0.0))(1.0)  # by reverse mode
    np.testing.assert_array_equal(np.asarray(inside[0]), want.sum(axis=1))
    h = ad.hessian(lambda x: f(x).sum() * x[0])(x)
    np.testing.assert_allclose(h, h.T, rtol=0, atol=0)
    assert ad.is_grad_enabled()


def test_a_no_grad_left_on_inside_f_ends_with_its_forward_sweep():
    def f(x):
        ad.set_grad_enabled(False)  # not switched back: the sweep's pause must not outlive it
        return x * 2

    try:
        np.testing.assert_array_equal(ad.jvp(f, (np.ones(2),), (np.ones(2),))[1], np.zeros(2))
    finally:
        ad.set_grad_enabled(True)
    value, tangent = ad.jvp(lambda x: x * 3, (np.ones(2),), (np.ones(2),))
    assert type(value) is np.ndarray
    np.testing.assert_array_equal(tangent, [3.0, 3.0])


def test_enable_grad_under_no_grad_resumes_forward_mode_inside_a_reverse_transform():
    x0 = np.array([0.5, -1.2, 2.0])

    def f(x):
        box = []

        def inner(z):
            with ad.enable_grad():
                box.append(x * x)  # recorded, and carries the forward sweep's tangent
            return (z * box[0]).sum()

        with ad.no_grad():
            ad.grad(inner)(1.0)  # the transform turns recording on by itself
        return box[0]

    np.testing.assert_allclose(ad.jvp(f, (x0,), (np.ones(3),))[1], 2 * x0, rtol=1e-15)
    np.testing.assert_allclose(ad.jacobian(f, mode="rev")(x0), np.diag(2 * x0), rtol=1e-15)


def test_a_recorded_sweep_under_no_grad_is_differentiated_in_both_modes():
    x0, w0 = np.array([0.5, -1.2, 2.0]), np.array([1.0, 2.0, 3.0])

    def f(x):
        w = ad.tensor(w0, requires_grad=True)
        y = (w * x * x).sum()
        with ad.no_grad():
            (g,) = ad.gradients(y, w, create_graph=True)  # x * x, recorded (PyTorch too)
        return g

    for mode in ("fwd", "rev"):
        np.testing.assert_allclose(ad.jacobian(f, mode=mode)(x0), np.diag(2 * x0), rtol=1e-15)


def test_a_transforms_value_under_no_grad_is_a_constant_in_both_modes():
    x0 = np.array([0.5, -1.2, 2.0])

    def f(x):
        with ad.no_grad():
            out, _ = ad.vjp(lambda z: z * x, np.ones(3))
        return out

    for mode in ("fwd", "rev"):
        np.testing.assert_array_equal(ad.jacobian(f, mode=mode)(x0), np.zeros((3, 3)))


def test_a_set_grad_enabled_object_used_again_does_not_bring_back_a_finished_sweep():
    frozen = ad.set_grad_enabled(False)
    ad.set_grad_enabled(True)

    def f(x):
        with frozen:
            c = x * 3  # a constant
        return c + x

    x0 = np.array([0.5, -1.2, 2.0])
    np.testing.assert_array_equal(ad.jvp(f, (x0,), (np.ones(3),))[1], np.ones(3))
    with frozen:
        pass
    value, tangent = ad.jvp(lambda x: x * 3, (x0,), (np.ones(3),))
    assert type(value) is np.ndarray and type(tangent) is np.ndarray
    assert ad.is_grad_enabled()
