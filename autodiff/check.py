"""Every op of the contract, checked in both directions and to second order: ``python -m autodiff check``.

The table of cases lives here so that the tests (``tests/test_ops.py``) and the
command line run the same rows. A row names an op's function, a domain for each
operand where the op is smooth, and the shapes it runs over (scalars, vectors,
matrices, 3-d arrays and broadcast pairs). For each row the command compares the
Jacobian from reverse mode, the Jacobian from forward mode and the Hessian of a
random projection in all operands (forward over reverse) against central
differences, on the row's shapes and one set of random shapes drawn from the seed.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

import autodiff as ad

from .gradcheck import numeric_jacobian


# ------------------------------------------------------------------ domains
def real(rng, shape):
    return rng.uniform(-2.0, 2.0, shape)


def positive(rng, shape):
    return rng.uniform(0.5, 2.0, shape)


def away_from_zero(rng, shape):
    return rng.choice([-1.0, 1.0], shape) * rng.uniform(0.3, 2.0, shape)


def distinct(rng, shape):
    """Values at least 0.1 apart, so max/min/maximum meet no ties."""
    n = int(np.prod(shape))
    return (rng.permutation(n) * 0.1 - n * 0.05 + rng.uniform(0, 0.01, n)).reshape(shape)


def away_from_bounds(rng, shape):
    """Away from clip's bounds at -1 and 1."""
    return rng.choice([-1.6, 0.0, 1.6], shape) + rng.uniform(-0.3, 0.3, shape)


UNARY = [(), (5,), (3, 4), (2, 3, 4)]
BINARY = [((), ()), ((5,), (5,)), ((3, 4), (3, 4)), ((2, 3, 4), (2, 3, 4)),
          ((3, 1), (1, 4)), ((4,), (3, 4)), ((), (3, 4)), ((2, 1, 4), (3, 1))]
REDUCED = [(5,), (3, 4), (2, 3, 4)]


@dataclass
class Case:
    name: str
    fn: Callable
    domains: tuple
    shapes: list = field(default_factory=lambda: UNARY)


def reductions(name, fn, domain=real, shapes=REDUCED):
    """A reduction over all axes, the last axis, and a pair of axes with keepdims."""
    return [
        Case(f"{name}(all)", lambda x: fn(x), (domain,), [(), *shapes]),
        Case(f"{name}(axis=-1)", lambda x: fn(x, axis=-1), (domain,), shapes),
        Case(f"{name}(axis=(0,-1),keepdims)", lambda x: fn(x, axis=(0, -1), keepdims=True),
             (domain,), shapes[1:]),
    ]


CASES = [
    # arithmetic
    Case("add", lambda x, y: x + y, (real, real), BINARY),
    Case("subtract", lambda x, y: x - y, (real, real), BINARY),
    Case("multiply", lambda x, y: x * y, (real, real), BINARY),
    Case("square", lambda x: x * x, (real,)),
    Case("divide", lambda x, y: x / y, (real, positive), BINARY),
    Case("power", lambda x, y: x ** y, (positive, real), BINARY),
    Case("power(x, 3)", lambda x: x ** 3, (real,)),
    Case("power(x, 0.5)", lambda x: x ** 0.5, (positive,)),
    Case("rpower(2, x)", lambda x: 2.0 ** x, (real,)),
    Case("rsub/rdiv", lambda x: 1.5 - 2.0 / x, (positive,)),
    Case("negative", lambda x: -x, (real,)),
    Case("maximum", ad.maximum, (distinct, distinct), BINARY[:4]),
    Case("minimum", ad.minimum, (distinct, distinct), BINARY[:4]),
    Case("maximum(broadcast)", lambda x, y: ad.maximum(x, y + 5.0), (real, real), BINARY[4:]),
    Case("where", lambda x, y: ad.where(x > 0.3, x, y), (away_from_zero, real), BINARY),
    # elementwise
    Case("exp", ad.exp, (real,)),
    Case("log", ad.log, (positive,)),
    Case("sqrt", ad.sqrt, (positive,)),
    Case("abs", ad.abs, (away_from_zero,)),
    Case("sin", ad.sin, (real,)),
    Case("cos", ad.cos, (real,)),
    Case("tanh", ad.tanh, (real,)),
    Case("sigmoid", ad.sigmoid, (real,)),
    Case("relu", ad.relu, (away_from_zero,)),
    Case("leaky_relu", lambda x: ad.leaky_relu(x, 0.1), (away_from_zero,)),
    Case("gelu", ad.gelu, (real,)),
    Case("softplus", ad.softplus, (real,)),
    Case("clip", lambda x: ad.clip(x, -1.0, 1.0), (away_from_bounds,)),
    Case("clip(tensor bounds)", lambda x, lo: ad.clip(x, lo - 1.0, 1.0), (away_from_bounds, real),
         BINARY[:4]),
    Case("astype", lambda x: ad.astype(x, np.float64) * x, (real,)),
    Case("copy", lambda x: ad.copy(x) * x, (real,)),
    # reductions
    *reductions("sum", ad.sum),
    *reductions("mean", ad.mean),
    *reductions("max", ad.max, distinct),
    *reductions("min", ad.min, distinct),
    *reductions("prod", ad.prod, away_from_zero),
    *reductions("logsumexp", ad.logsumexp),
    Case("var", lambda x: ad.var(x), (real,), REDUCED),
    Case("var(axis=-1,ddof=1)", lambda x: ad.var(x, axis=-1, ddof=1), (real,), REDUCED),
    Case("std(axis=0,keepdims)", lambda x: ad.std(x, axis=0, keepdims=True), (real,), REDUCED),
    Case("softmax", lambda x: ad.softmax(x) * ad.arange(x.shape[-1]), (real,), REDUCED),
    Case("softmax(axis=0)", lambda x: ad.softmax(x, axis=0) ** 2, (real,), REDUCED),
    Case("log_softmax", lambda x: ad.log_softmax(x) * ad.arange(x.shape[-1]), (real,), REDUCED),
    # linear algebra
    Case("matmul", ad.matmul, (real, real),
         [((3, 4), (4, 2)), ((4,), (4,)), ((4,), (4, 3)), ((3, 4), (4,)),
          ((2, 3, 4), (4, 2)), ((2, 1, 3, 4), (3, 4, 2)), ((4,), (2, 4, 3)), ((2, 3, 4), (4,))]),
    Case("linear", ad.linear, (real, real, real),
         [((5,), (3, 5), (3,)), ((4, 5), (3, 5), (3,)), ((2, 3, 5), (2, 5), (1,))]),
    Case("linear(no bias)", ad.linear, (real, real), [((4, 5), (3, 5))]),
    Case("einsum(ij,jk->ik)", lambda x, y: ad.einsum("ij,jk->ik", x, y), (real, real), [((3, 4), (4, 2))]),
    Case("einsum(ii->i)", lambda x: ad.einsum("ii->i", x) ** 2, (real,), [(3, 3)]),
    Case("einsum(ij->)", lambda x: ad.einsum("ij->", x * x), (real,), [(3, 4)]),
    Case("einsum(i,j->ij)", lambda x, y: ad.einsum("i,j", x, y), (real, real), [((3,), (4,))]),
    Case("einsum(...i,...i->...)", lambda x, y: ad.einsum("...i,...i->...", x, y), (real, real),
         [((2, 3, 4), (2, 3, 4)), ((3, 4), (3, 4))]),
    Case("einsum(bij,bjk->bik)", lambda x, y: ad.einsum("bij,bjk->bik", x, y), (real, real),
         [((2, 3, 4), (2, 4, 2))]),
    # shape
    Case("reshape", lambda x: ad.reshape(x, (-1,)) * ad.arange(x.size), (real,)),
    Case("transpose", lambda x: x.T * ad.arange(x.shape[0] if x.ndim else 1), (real,)),
    Case("transpose(axes)", lambda x: ad.transpose(x, (1, 2, 0)) ** 2, (real,), [(2, 3, 4)]),
    Case("swapaxes", lambda x: ad.swapaxes(x, 0, -1) ** 2, (real,), [(3, 4), (2, 3, 4)]),
    Case("flatten", lambda x: ad.flatten(x) ** 3, (real,)),
    Case("squeeze", lambda x: ad.squeeze(x) ** 2, (real,), [(1,), (3, 1), (2, 1, 4)]),
    Case("expand_dims", lambda x: ad.expand_dims(x, 0) ** 2, (real,)),
    Case("broadcast_to", lambda x: ad.broadcast_to(x, (3, 4)) * ad.arange(4.0), (real,),
         [(), (4,), (3, 1), (1, 4)]),
    Case("getitem(basic)", lambda x: x[1:, ..., ::2] ** 2, (real,), [(3, 4), (2, 3, 4)]),
    Case("getitem(int)", lambda x: x[-1] ** 2, (real,), [(5,), (3, 4), (2, 3, 4)]),
    Case("getitem(repeated)", lambda x: x[[0, 2, 0, 0]] ** 2, (real,), [(5,), (3, 4), (3, 3, 4)]),
    Case("getitem(2 arrays)", lambda x: x[[0, 1, 0], [2, 2, 2]] ** 2, (real,), [(3, 4), (2, 3, 4)]),
    Case("getitem(mask)", lambda x: x[x > 0] ** 2, (away_from_zero,), [(5,), (3, 4)]),
    Case("concatenate", lambda x, y: ad.concatenate([x, y, x], axis=-1) ** 2, (real, real),
         [((5,), (2,)), ((3, 4), (3, 2))]),
    Case("stack", lambda x, y: ad.stack([x, y], axis=-1) ** 2, (real, real), BINARY[1:4]),
    Case("split", lambda x: ad.split(x, 2, axis=-1)[1] ** 2 + ad.split(x, [1], axis=-1)[0].sum(),
         (real,), [(4,), (3, 4), (2, 3, 4)]),
    Case("pad", lambda x: ad.pad(x, 1, constant_values=0.5) ** 2, (real,), [(5,), (3, 4)]),
    Case("pad(widths)", lambda x: ad.pad(x, ((0, 2), (1, 0))) ** 2, (real,), [(3, 4)]),
]


def _random_shape(rng, ndim: int, smallest: int = 1) -> tuple:
    return tuple(int(n) for n in rng.integers(smallest, 5, ndim))


def _random_pair(rng) -> tuple:
    """Two shapes that broadcast together: a random shape, with axes dropped in front or set to 1."""
    full = _random_shape(rng, int(rng.integers(1, 4)))
    pair = []
    for _ in range(2):
        kept = full[int(rng.integers(0, len(full) + 1)):]
        pair.append(tuple(1 if rng.random() < 0.3 else n for n in kept))
    return tuple(pair)


def shape_sets(case: Case, seed: int | None = None) -> list:
    """One tuple of operand shapes per run; with a seed, one more set of random shapes when the case
    runs on the standard lists (a case with shapes of its own keeps to them)."""
    sets = [(s,) for s in case.shapes] if len(case.domains) == 1 else list(case.shapes)
    if seed is not None:
        rng = np.random.default_rng([seed, len(case.name)])
        if case.shapes is UNARY:
            sets.append((_random_shape(rng, int(rng.integers(0, 4))),))
        elif case.shapes is REDUCED:  # at least 2 along every axis: var with ddof=1 needs it
            sets.append((_random_shape(rng, int(rng.integers(1, 4)), smallest=2),))
        elif case.shapes is BINARY:
            sets.append(_random_pair(rng))
    return sets


def inputs_for(case: Case, shapes, seed: int) -> tuple:
    """Tensors for one run of ``case``: each operand drawn from its domain."""
    rng = np.random.default_rng(seed)
    return tuple(ad.tensor(domain(rng, shape), requires_grad=True)
                 for domain, shape in zip(case.domains, shapes, strict=True))


MODES = ("rev", "fwd", "2nd")


def check_case(case: Case, seed: int = 0, atol: float = 1e-6, rtol: float = 1e-5) -> dict:
    """Worst absolute and relative errors of each mode against central differences, over the case's shapes.

    ``rev`` and ``fwd``: the Jacobian in each operand by reverse and by forward mode.
    ``2nd``: the Hessian of a random projection ``sum(u * f)`` in all operands at once
    (cross terms included), by forward over reverse, against differences of its gradient.
    The relative error is the largest error divided by the largest entry of the reference.
    An entry passes if its error is at most ``atol + rtol * |reference|`` (10x for ``2nd``).
    """
    worst = {mode: [0.0, 0.0] for mode in MODES}
    passed = True

    def compare(mode: str, computed, numeric, scale: float = 1.0) -> None:
        nonlocal passed
        error = np.abs(computed - numeric)
        passed &= bool(np.all(error <= scale * (atol + rtol * np.abs(numeric))))
        largest = float(error.max(initial=0.0))
        worst[mode][0] = max(worst[mode][0], largest)
        worst[mode][1] = max(worst[mode][1], largest / max(float(np.abs(numeric).max(initial=0.0)), 1e-300))

    sets = shape_sets(case, seed)
    for number, shapes in enumerate(sets):
        xs = [x.numpy().copy() for x in inputs_for(case, shapes, seed + number)]
        argnums = tuple(range(len(xs)))

        def values(*arrays):
            return np.asarray(case.fn(*[ad.tensor(a) for a in arrays]))

        for k, x in enumerate(xs):
            numeric = numeric_jacobian(lambda v, k=k, xs=xs: values(*xs[:k], v, *xs[k + 1:]), x)
            for mode in ("rev", "fwd"):
                compare(mode, ad.jacobian(case.fn, argnums=argnums, mode=mode)(*xs)[k], numeric)
        # second order: the Hessian of a random projection of the output
        u = np.random.default_rng(seed).standard_normal(values(*xs).shape)
        ends = np.cumsum([x.size for x in xs])

        def projection(z, xs=xs, ends=ends, u=u):  # every operand's values, one after another in z
            parts = [z[end - x.size:end].reshape(x.shape) for x, end in zip(xs, ends, strict=True)]
            return (case.fn(*parts) * u).sum()

        z = np.concatenate([x.ravel() for x in xs])
        compare("2nd", ad.hessian(projection)(z), numeric_jacobian(ad.grad(projection), z), 10.0)
    return {"op": case.name, "runs": len(sets), **{mode: tuple(worst[mode]) for mode in MODES},
            "passed": passed}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autodiff check", description=__doc__.splitlines()[0])
    parser.add_argument("--op", help="check only the ops whose name contains this text")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = parser.parse_args(argv)
    return run(args.op, args.seed, progress=not args.no_progress)


def run(op: str | None = None, seed: int = 0, progress: bool = True) -> int:
    """Check the cases (those whose name contains ``op``), print a table; 0 if all pass."""
    from tqdm.auto import tqdm

    cases = [case for case in CASES if op is None or op in case.name]
    if not cases:
        print(f"no op matches {op!r}; ops: {', '.join(sorted({c.name.split('(')[0] for c in CASES}))}")
        return 2
    rows = [check_case(case, seed)
            for case in tqdm(cases, desc="checking", disable=not progress, leave=False)]
    width = max(len(r["op"]) for r in rows)
    heads = "".join(f"  {mode + ' abs':>10} {mode + ' rel':>8}" for mode in MODES)
    print(f"{'op':<{width}}  runs{heads}  result")
    for r in rows:
        cells = "".join(f"  {r[m][0]:10.1e} {r[m][1]:8.1e}" for m in MODES)
        print(f"{r['op']:<{width}}  {r['runs']:>4}{cells}  {'ok' if r['passed'] else 'FAILED'}")
    failed = [r["op"] for r in rows if not r["passed"]]
    print(f"\n{len(rows) - len(failed)} passed, {len(failed)} failed  (errors against central differences, "
          f"largest over every shape of the case, the last shapes random from seed {seed}; rel = abs / "
          "largest reference entry)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
