"""Command line: ``python -m autodiff demo``.

The demo trains networks once the ``nn`` package lands; until then it shows the
engine on the single linear neuron of the backpropagation literature and checks
the gradient against finite differences.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

import autodiff as ad


def demo(args: argparse.Namespace) -> int:
    # The single linear neuron: inputs (1, 1), target 0, squared error E = (t - y)^2 / 2.
    x = ad.tensor([1.0, 1.0])
    w = ad.tensor([0.3, -0.8], requires_grad=True)
    target = 0.0
    y = (w * x).sum()
    error = 0.5 * (target - y) ** 2
    error.backward()
    print("single linear neuron, inputs (1, 1), target 0, weights", w.tolist())
    print(f"  output y = {y.item():.6f}, error E = {error.item():.6f}")
    print(f"  dE/dw by backpropagation: {w.grad.tolist()}")
    print(f"  by hand, (y - t) * x:     {((y.item() - target) * x.numpy()).tolist()}")
    ok = ad.gradcheck(lambda w: 0.5 * (target - (w * x).sum()) ** 2, (w,))
    print(f"  gradcheck against central differences: {'passed' if ok else 'FAILED'}")

    rng = np.random.default_rng(args.seed)
    a = ad.tensor(rng.standard_normal((3, 3)), requires_grad=True)
    b = ad.tensor(rng.standard_normal(3), requires_grad=True)
    f = lambda a, b: ((a @ a.T + b).tanh() ** 2).mean()
    f(a, b).backward()
    print("\nloss = mean(tanh(A Aᵀ + b)²) for a random 3x3 A and 3-vector b")
    print("  dloss/db =", np.array2string(b.grad.numpy(), precision=6))
    print("  gradcheck, first order:  ", ad.gradcheck(f, (a, b)))
    print("  gradcheck, second order: ", ad.gradgradcheck(f, (a, b)))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autodiff", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("demo", help="show a gradient and its finite-difference check")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.set_defaults(run=demo)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
