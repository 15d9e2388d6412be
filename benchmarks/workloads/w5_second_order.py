"""W5, second order: the Hessian of Rosenbrock's function, and a Hessian-vector product.

``f(x) = Σ 100 (x_{i+1} - x_i²)² + (1 - x_i)²`` in n = 100 dimensions, float64.
W5h computes the full Hessian, W5v the product ``H v`` with one vector. The limit is
the analytic (tridiagonal) Hessian written out in numpy, so the ratios show what
generality costs over knowing the answer's structure.
"""

from __future__ import annotations

import numpy as np

from ..registry import Goal, Workload, register
from ._common import rosenbrock_hessian_parts, rosenbrock_point

W5h = register(Workload(
    key="W5h",
    title="Hessian",
    summary="Hessian of Rosenbrock's function in n dimensions, float64",
    size_name="n",
    sizes=(100,),
    quick_sizes=(100,),
    unit="ms",
    goals=(Goal("time", 0.5),),
))

W5v = register(Workload(
    key="W5v",
    title="Hessian-vector product",
    summary="H v for Rosenbrock's function in n dimensions and one vector v, float64",
    size_name="n",
    sizes=(100,),
    quick_sizes=(100,),
    unit="ms",
    goals=(Goal("time", 0.2),),
))


def rosenbrock(x):
    """For any engine whose tensors slice and have ``**``, ``-``, ``*``, ``+`` and ``.sum()``."""
    return (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()


@W5h.implementation("limit")
def w5h_limit(n: int):
    """numpy: the analytic Hessian, its diagonal and off-diagonal filled in."""
    x, _ = rosenbrock_point(n)
    diagonal_index, upper = np.diag_indices(n), (np.arange(n - 1), np.arange(1, n))

    def step():
        diagonal, off = rosenbrock_hessian_parts(x)
        H = np.zeros((n, n))
        H[diagonal_index] = diagonal
        H[upper] = off
        H[upper[::-1]] = off
        return (H,)

    return step


@W5v.implementation("limit")
def w5v_limit(n: int):
    """numpy: the analytic Hessian's three diagonals times v."""
    x, v = rosenbrock_point(n)

    def step():
        diagonal, off = rosenbrock_hessian_parts(x)
        Hv = diagonal * v
        Hv[:-1] += off * v[1:]
        Hv[1:] += off * v[:-1]
        return (Hv,)

    return step


@W5h.implementation("ours")
def w5h_ours(n: int):
    """``ad.hessian``: forward over reverse, all n directions in one batched sweep."""
    import autodiff as ad

    x, _ = rosenbrock_point(n)
    hessian = ad.hessian(rosenbrock)
    return lambda: (hessian(x),)


@W5v.implementation("ours")
def w5v_ours(n: int):
    """``ad.hvp``: forward over reverse, one direction."""
    import autodiff as ad

    x, v = rosenbrock_point(n)
    return lambda: (ad.hvp(rosenbrock, x, v)[1],)


@W5h.implementation("torch")
def w5h_torch(n: int):
    """``torch.autograd.functional.hessian(vectorize=True)``, PyTorch's fastest eager Hessian here."""
    import torch

    x = torch.from_numpy(rosenbrock_point(n)[0])
    return lambda: (torch.autograd.functional.hessian(rosenbrock, x, vectorize=True).numpy(),)


@W5h.implementation("torch-func")
def w5h_torch_func(n: int):
    """``torch.func.hessian`` (forward over reverse, vmapped)."""
    import torch

    x = torch.from_numpy(rosenbrock_point(n)[0])
    hessian = torch.func.hessian(rosenbrock)
    return lambda: (hessian(x).numpy(),)


@W5v.implementation("torch")
def w5v_torch(n: int):
    """PyTorch double backward: the gradient with create_graph=True, then the gradient of g·v."""
    import torch

    x0, v0 = rosenbrock_point(n)
    v = torch.from_numpy(v0)

    def step():
        x = torch.from_numpy(x0).requires_grad_()
        (g,) = torch.autograd.grad(rosenbrock(x), x, create_graph=True)
        (Hv,) = torch.autograd.grad(g @ v, x)
        return (Hv.numpy(),)

    return step


@W5h.implementation("jax")
def w5h_jax(n: int):
    """JAX eager ``jax.hessian`` (forward over reverse, vmapped over the n directions); float64."""
    import jax
    import jax.numpy as jnp

    x = jnp.asarray(rosenbrock_point(n)[0])
    hessian = jax.hessian(rosenbrock)
    return lambda: (np.asarray(hessian(x)),)


@W5h.implementation("jax-jit")
def w5h_jax_jit(n: int):
    """``jax.jit(jax.hessian(f))``; float64."""
    import jax
    import jax.numpy as jnp

    x = jnp.asarray(rosenbrock_point(n)[0])
    hessian = jax.jit(jax.hessian(rosenbrock))
    return lambda: (np.asarray(hessian(x)),)


@W5h.implementation("autograd")
def w5h_autograd(n: int):
    """``autograd.hessian``: the Jacobian of the gradient, reverse over reverse, a backward sweep per row."""
    import autograd

    x = rosenbrock_point(n)[0]
    hessian = autograd.hessian(rosenbrock)
    return lambda: (hessian(x),)


@W5v.implementation("jax")
def w5v_jax(n: int):
    """JAX eager: the jvp of ``jax.grad(f)`` along v (forward over reverse); float64."""
    import jax
    import jax.numpy as jnp

    x0, v0 = rosenbrock_point(n)
    x, v = jnp.asarray(x0), jnp.asarray(v0)
    grad = jax.grad(rosenbrock)
    return lambda: (np.asarray(jax.jvp(grad, (x,), (v,))[1]),)


@W5v.implementation("jax-jit")
def w5v_jax_jit(n: int):
    """The same jvp of the gradient under ``jax.jit``; float64."""
    import jax
    import jax.numpy as jnp

    x0, v0 = rosenbrock_point(n)
    x, v = jnp.asarray(x0), jnp.asarray(v0)
    hvp = jax.jit(lambda x, v: jax.jvp(jax.grad(rosenbrock), (x,), (v,))[1])
    return lambda: (np.asarray(hvp(x, v)),)


@W5v.implementation("autograd")
def w5v_autograd(n: int):
    """``autograd.hessian_vector_product``: the gradient of ``grad(f)(x) · v``, reverse over reverse."""
    import autograd

    x, v = rosenbrock_point(n)
    hvp = autograd.hessian_vector_product(rosenbrock)
    return lambda: (hvp(x, v),)
