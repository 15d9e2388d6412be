"""Every transform composes with every other, to any depth, and gives the closed-form derivatives.

The test function is ``f(x) = sin(w·x) + Σ x³ / 3``, whose derivatives of every order are
known in closed form (with ``s = w·x``):

* gradient ``w cos s + x²``;
* Hessian ``-sin s · w wᵀ + diag(2x)``;
* third derivative ``T_ijk = -cos s · w_i w_j w_k + 2 δ_ijk``;
* fourth derivative ``Q_ijkl = sin s · w_i w_j w_k w_l``.

Each composition is checked against these, never against the engine's own output.
"""

from __future__ import annotations

import numpy as np
import pytest

import autodiff as ad
from autodiff.gradcheck import numeric_jacobian

W = np.array([0.7, -1.2, 0.4])
X = np.array([0.3, -0.5, 0.8])
V = np.array([1.0, 2.0, -1.0])
U = np.array([-0.5, 0.3, 2.0])
Z = np.array([0.2, -1.0, 0.6])
M = np.arange(9.0).reshape(3, 3) / 10 - 0.3


def f(x):
    return ad.sin(x @ W) + (x ** 3).sum() / 3


S = W @ X
GRAD = W * np.cos(S) + X ** 2
H = -np.sin(S) * np.outer(W, W) + np.diag(2 * X)
T = -np.cos(S) * np.einsum("i,j,k->ijk", W, W, W) + 2 * np.einsum("ij,jk->ijk", np.eye(3), np.eye(3))
Q = np.sin(S) * np.einsum("i,j,k,l->ijkl", W, W, W, W)


def jvp_(fn, v):
    """x ↦ J(fn)(x) v, as a function."""
    return lambda x: ad.jvp(fn, (x,), (v,))[1]


def grad_and_x(x):
    return ad.concatenate([ad.grad(f)(x), x])


def dot(fn, v):
    """x ↦ fn(x) · v, a scalar."""
    return lambda x: (fn(x) * v).sum()


SECOND_ORDER = {
    "grad∘grad": (lambda: ad.grad(dot(ad.grad(f), V))(X), H @ V),
    "jvp∘grad": (lambda: ad.jvp(ad.grad(f), (X,), (V,))[1], H @ V),
    "grad∘jvp": (lambda: ad.grad(jvp_(f, V))(X), H @ V),
    "value_and_grad∘jvp": (lambda: ad.value_and_grad(jvp_(f, V))(X)[1], H @ V),
    "jvp∘value_and_grad": (lambda: ad.jvp(lambda x: ad.value_and_grad(f)(x)[1], (X,), (V,))[1], H @ V),
    "vjp∘jvp": (lambda: ad.vjp(jvp_(f, V), X)[1](1.0)[0], H @ V),
    "jvp∘vjp": (lambda: ad.jvp(lambda x: ad.vjp(f, x)[1](1.0)[0], (X,), (V,))[1], H @ V),
    "jvp∘jvp": (lambda: ad.jvp(jvp_(f, V), (X,), (U,))[1], U @ H @ V),
    "jacobian(fwd)∘grad": (lambda: ad.jacobian(ad.grad(f), mode="fwd")(X), H),
    "jacobian(rev)∘grad": (lambda: ad.jacobian(ad.grad(f), mode="rev")(X), H),
    "jacobian(auto)∘grad": (lambda: ad.jacobian(ad.grad(f))(X), H),
    "jacobian(fwd)∘jvp": (lambda: ad.jacobian(jvp_(f, V), mode="fwd")(X), H @ V),
    "jacobian(rev)∘jvp": (lambda: ad.jacobian(jvp_(f, V), mode="rev")(X), H @ V),
    "jacobian(auto)∘[grad, x]": (lambda: ad.jacobian(grad_and_x)(X), np.vstack([H, np.eye(3)])),
    "jacobian(rev)∘[grad, x]": (lambda: ad.jacobian(grad_and_x, mode="rev")(X), np.vstack([H, np.eye(3)])),
    "jacobian(fwd)∘vjp": (lambda: ad.jacobian(lambda x: ad.vjp(f, x)[1](1.0)[0], mode="fwd")(X), H),
    "hessian": (lambda: ad.hessian(f)(X), H),
    "hvp": (lambda: ad.hvp(f, X, V)[1], H @ V),
}

THIRD_ORDER = {
    "grad∘grad∘grad": (lambda: ad.grad(dot(ad.grad(dot(ad.grad(f), V)), U))(X), T @ U @ V),
    "jvp∘hessian": (lambda: ad.jvp(ad.hessian(f), (X,), (V,))[1], T @ V),
    "grad∘hessian": (lambda: ad.grad(dot(ad.hessian(f), M))(X), np.einsum("ij,ijk->k", M, T)),
    "jacobian(fwd)∘hessian": (lambda: ad.jacobian(ad.hessian(f), mode="fwd")(X), T),
    "jacobian(rev)∘hessian": (lambda: ad.jacobian(ad.hessian(f), mode="rev")(X), T),
    "hessian∘jvp": (lambda: ad.hessian(jvp_(f, V))(X), T @ V),
    "hessian∘grad·v": (lambda: ad.hessian(dot(ad.grad(f), V))(X), T @ V),
    "jvp∘hvp": (lambda: ad.jvp(lambda x: ad.hvp(f, x, V)[1], (X,), (U,))[1], T @ U @ V),
    "grad∘hvp": (lambda: ad.grad(lambda x: (ad.hvp(f, x, V)[1] * U).sum())(X), T @ U @ V),
    "hvp∘jvp": (lambda: ad.hvp(jvp_(f, V), X, U)[1], T @ U @ V),
    "jvp∘jvp∘grad": (lambda: ad.jvp(jvp_(ad.grad(f), V), (X,), (U,))[1], T @ U @ V),
    "jvp∘jvp∘jvp": (lambda: ad.jvp(jvp_(jvp_(f, V), U), (X,), (Z,))[1],
                    np.einsum("ijk,i,j,k", T, V, U, Z)),
    "grad∘jvp∘jvp": (lambda: ad.grad(jvp_(jvp_(f, V), U))(X), T @ U @ V),
    "jacobian(fwd)∘jacobian(fwd)∘grad": (
        lambda: ad.jacobian(ad.jacobian(ad.grad(f), mode="fwd"), mode="fwd")(X), T),
    "jacobian(rev)∘jacobian(fwd)∘grad": (
        lambda: ad.jacobian(ad.jacobian(ad.grad(f), mode="fwd"), mode="rev")(X), T),
    "jacobian(fwd)∘jacobian(rev)∘grad": (
        lambda: ad.jacobian(ad.jacobian(ad.grad(f), mode="rev"), mode="fwd")(X), T),
    "jacobian(rev)∘jacobian(rev)∘grad": (
        lambda: ad.jacobian(ad.jacobian(ad.grad(f), mode="rev"), mode="rev")(X), T),
}

FOURTH_ORDER = {
    "jvp∘grad∘jvp∘grad": (lambda: ad.jvp(ad.grad(dot(jvp_(ad.grad(f), V), U)), (X,), (Z,))[1],
                          np.einsum("ijkl,j,k,l->i", Q, V, U, Z)),
    "hessian∘hessian": (lambda: ad.hessian(dot(ad.hessian(f), M))(X), np.einsum("ij,ijkl->kl", M, Q)),
    "jacobian(fwd)∘jacobian(rev)∘hessian": (
        lambda: ad.jacobian(ad.jacobian(ad.hessian(f), mode="rev"), mode="fwd")(X), Q),
    "grad∘grad∘grad∘grad": (lambda: ad.grad(dot(ad.grad(dot(ad.grad(dot(ad.grad(f), V)), U)), Z))(X),
                            np.einsum("ijkl,j,k,l->i", Q, V, U, Z)),
}


@pytest.mark.parametrize("name", list(SECOND_ORDER))
def test_second_order_compositions(name):
    compute, expected = SECOND_ORDER[name]
    result = compute()
    assert isinstance(result, np.ndarray | float)  # arrays in, arrays out, at every depth
    np.testing.assert_allclose(result, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", list(THIRD_ORDER))
def test_third_order_compositions(name):
    compute, expected = THIRD_ORDER[name]
    np.testing.assert_allclose(compute(), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", list(FOURTH_ORDER))
def test_fourth_order_compositions(name):
    compute, expected = FOURTH_ORDER[name]
    np.testing.assert_allclose(compute(), expected, rtol=1e-12, atol=1e-12)


def test_tensors_in_tensors_out_through_nesting():
    x, v = ad.tensor(X), ad.tensor(V)
    out, Hv = ad.jvp(ad.grad(f), (x,), (v,))
    assert isinstance(out, ad.Tensor) and isinstance(Hv, ad.Tensor)
    np.testing.assert_allclose(Hv.numpy(), H @ V, rtol=1e-12)
    leaf = ad.tensor(X, requires_grad=True)
    tangent = ad.jvp(f, (leaf,), (V,))[1]  # differentiable, since the primal requires grad
    (g,) = ad.gradients(tangent, leaf)
    np.testing.assert_allclose(g.numpy(), H @ V, rtol=1e-12)


def test_a_tangent_that_requires_grad_is_differentiated_too():
    # d/dv of (J v) is J: the tangent is an input of the enclosing reverse transform
    np.testing.assert_allclose(ad.grad(lambda v: ad.jvp(f, (X,), (v,))[1])(V), GRAD, rtol=1e-12)
    np.testing.assert_allclose(ad.grad(lambda v: (ad.hvp(f, X, v)[1] * U).sum())(V), H @ U, rtol=1e-12)


# ----------------------------------------------------------------- closures
# An inner transform's function may close over the outer transform's variable: its result
# then depends on that variable and must carry its derivative (JAX's tracers do this).
X0 = np.array([0.4, -0.9, 0.5])


def test_grad_of_a_grad_that_closes_over_the_outer_variable():
    def outer(y):
        inner = ad.grad(lambda x: ad.sin(x @ y))(X0)  # y cos(x0·y)
        return (inner * U).sum()

    c = X0 @ V
    expected = U * np.cos(c) - (U @ V) * np.sin(c) * X0
    np.testing.assert_allclose(ad.grad(outer)(V), expected, rtol=1e-12)


def test_jvp_of_a_grad_that_closes_over_the_jvp_variable():
    c = X0 @ V
    expected = U * np.cos(c) - V * np.sin(c) * (X0 @ U)  # d/dy [y cos(x0·y)] · u
    _, tangent = ad.jvp(lambda y: ad.grad(lambda x: ad.sin(x @ y))(X0), (V,), (U,))
    np.testing.assert_allclose(tangent, expected, rtol=1e-12)


def test_grad_of_a_jvp_and_of_a_hessian_that_close_over_the_outer_variable():
    c = X0 @ V
    jvp_expected = U * np.cos(c) - (V @ U) * np.sin(c) * X0  # d/dy [cos(x0·y) (y·u)]
    np.testing.assert_allclose(ad.grad(lambda y: ad.jvp(lambda x: ad.sin(x @ y), (X0,), (U,))[1])(V),
                               jvp_expected, rtol=1e-12)
    total = V.sum()  # the Hessian in x is -sin(x·y) y yᵀ, its sum -sin(x0·y) (Σy)²
    hessian_expected = -np.cos(c) * X0 * total ** 2 - 2 * np.sin(c) * total
    np.testing.assert_allclose(ad.grad(lambda y: ad.hessian(lambda x: ad.sin(x @ y))(X0).sum())(V),
                               hessian_expected, rtol=1e-12)
    column_sums = lambda y: ad.jacobian(lambda x: ad.sin(x * y), mode="fwd")(X0).sum(axis=0)
    np.testing.assert_allclose(ad.jacobian(column_sums)(V), numeric_jacobian(column_sums, V),
                               rtol=1e-6, atol=1e-8)


# ------------------------------------------------------------- grad mode
def test_transforms_differentiate_under_no_grad():
    # as torch.func: an enclosing no_grad does not stop a transform (it gave zeros)
    with ad.no_grad():
        np.testing.assert_allclose(ad.grad(f)(X), GRAD, rtol=1e-12)
        np.testing.assert_allclose(ad.hessian(f)(X), H, rtol=1e-12)
        np.testing.assert_allclose(ad.jacobian(ad.grad(f), mode="rev")(X), H, rtol=1e-12)
        np.testing.assert_allclose(ad.grad(jvp_(f, V))(X), H @ V, rtol=1e-12)
        np.testing.assert_allclose(ad.jvp(ad.grad(f), (X,), (V,))[1], H @ V, rtol=1e-12)
        assert not ad.is_grad_enabled()


def test_no_grad_inside_the_function_is_respected():
    g = ad.grad(lambda x: (x * 2).sum() + ad.no_grad()(lambda x: (x ** 2).sum())(x))(X)
    np.testing.assert_array_equal(g, [2.0, 2.0, 2.0])


def test_nested_transforms_leave_no_state_behind():
    from autodiff import grad_mode
    from autodiff.functional import _nesting

    ad.jvp(ad.grad(jvp_(f, V)), (X,), (U,))
    with pytest.raises(ValueError, match="one-element"):
        ad.jvp(ad.grad(lambda x: x * 2), (X,), (U,))
    assert grad_mode._state.forward == 0 and _nesting.reverse == 0 and ad.is_grad_enabled()


def test_an_inner_transform_by_a_variable_the_function_also_closes_over():
    # d/dx [d/dy (x y²) at y = x] = d/dx 2x² = 4x: the inner derivative is by y alone (JAX: 12)
    assert ad.grad(lambda x: ad.grad(lambda y: x * y ** 2)(x))(3.0) == pytest.approx(12.0, rel=1e-14)
    # d/dx [d²/dy² (x y³) at y = x] = d/dx 6x² = 12x; d/dx [d/dy (x y³)] = d/dx 3x³ = 9x²
    assert ad.grad(lambda x: ad.hessian(lambda y: x * y ** 3)(x))(2.0) == pytest.approx(24.0, rel=1e-14)
    assert ad.grad(lambda x: ad.jacobian(lambda y: x * y ** 3)(x))(2.0) == pytest.approx(36.0, rel=1e-14)


def test_one_tensor_given_as_two_arguments_is_two_variables():
    t = ad.tensor(3.0, requires_grad=True)
    gx, gy = ad.grad(lambda x, y: x * y * y, argnums=(0, 1))(t, t)
    assert (gx.item(), gy.item()) == (9.0, 18.0)  # y², 2xy: as for a tensor that does not require grad
    h = ad.hessian(lambda x, y: x * y * y, argnums=(0, 1))(t, t)
    assert [[b.item() for b in row] for row in h] == [[0.0, 6.0], [6.0, 6.0]]
    with pytest.raises(ValueError, match=r"argnums \(1, 1\) names an argument twice"):
        ad.grad(lambda x, y: x * y, argnums=(1, 1))(2.0, 3.0)
