"""Command line: ``python -m autodiff demo``, ``draw`` and ``check``.

``demo`` trains networks with the ``nn`` package, as does the ``mlp-step`` example
of ``draw`` (the application imports it; the ``autodiff`` library itself never does).
"""

from __future__ import annotations

import argparse
import re
import sys


def _demo(args: argparse.Namespace) -> int:
    from nn import demo

    return demo.main(args)


# each example's inputs (the --name value pairs it takes) and their defaults
INPUTS = {
    "two-neuron": {"v": 0.4, "w": -1.3, "s": 0.6, "d": 1.0},
    "neuron": {"x1": 2.0, "x2": 0.0, "w1": -3.0, "w2": 1.0, "b": 6.8813735870195432},
    "mlp-step": {"seed": 0},
}


def _two_neuron(values):
    # the seeds' simplest network: s -> v -> sigmoid -> h -> w -> sigmoid -> r, E = (d - r)^2 / 2
    import autodiff as ad

    values = {**INPUTS["two-neuron"], **values}
    v = ad.tensor(values["v"], requires_grad=True)
    w = ad.tensor(values["w"], requires_grad=True)
    s, d = values["s"], values["d"]
    r = ((s * v).sigmoid() * w).sigmoid()
    return 0.5 * (d - r) ** 2, {"v": v, "w": w}


def _neuron(values):
    # a micrograd-style neuron: tanh(w1 x1 + w2 x2 + b)
    import autodiff as ad

    t = {k: ad.tensor(values.get(k, default), requires_grad=True) for k, default in INPUTS["neuron"].items()}
    return (t["x1"] * t["w1"] + t["x2"] * t["w2"] + t["b"]).tanh(), t


def _mlp_step(values):
    import numpy as np

    import nn

    rng = np.random.default_rng(int(values.get("seed", INPUTS["mlp-step"]["seed"])))
    model = nn.MLP([2, 4, 4, 2], rng=rng)
    X, y = nn.data.moons(8, rng=rng)
    return nn.cross_entropy(model(X), y), dict(model.named_parameters())


EXAMPLES = {"two-neuron": _two_neuron, "neuron": _neuron, "mlp-step": _mlp_step}


def _draw(args: argparse.Namespace, extra: list[str]) -> int:
    import numpy as np

    import autodiff as ad

    # Every error here is the user's to fix (an expression, a value, a path, a format this
    # machine cannot render): it is reported as one line and exit status 1, not a traceback.
    values = {}
    extra = [part for arg in extra for part in (arg.split("=", 1) if arg.startswith("--") else (arg,))]
    for flag, value in zip(extra[::2], extra[1::2], strict=False):
        if not flag.startswith("--"):
            raise SystemExit(f"draw: expected --name value pairs after the expression, got {flag!r}")
        try:
            values[flag[2:]] = float(value)
        except ValueError:
            raise SystemExit(f"draw: {flag} needs a number, got {value!r}") from None
    if len(extra) % 2:
        raise SystemExit(f"draw: {extra[-1]!r} needs a value")
    if args.what in EXAMPLES:
        unknown = [name for name in values if name not in INPUTS[args.what]]
        if unknown:
            raise SystemExit(f"draw: {args.what} has no input {unknown[0]!r}; its inputs are "
                             f"{', '.join(INPUTS[args.what])}")
        root, names = EXAMPLES[args.what](values)
    else:
        names = {k: ad.tensor(v, requires_grad=True) for k, v in values.items()}
        namespace = {name: getattr(ad, name) for name in ad.__all__ if name[0].islower()}
        namespace.update(np=np, **names)
        try:
            root = eval(args.what, {"__builtins__": {}}, namespace)  # the user's own one-line expression
        except NameError as error:
            if error.name and re.search(rf"(?<![\w.]){re.escape(error.name)}\s*\(", args.what):  # called
                raise SystemExit(f"draw: autodiff has no function {error.name!r}; the expression may call "
                                 "autodiff's functions (exp, tanh, sum, ...) and np's") from None
            raise SystemExit(f"draw: {error}; give every input as --name value "
                             f"(examples: {', '.join(EXAMPLES)})") from None
        except Exception as error:  # whatever the expression raises (a typo, a shape), said in one line
            raise SystemExit(f"draw: cannot evaluate {args.what!r}: "
                             f"{type(error).__name__}: {error}") from None
        if not isinstance(root, ad.Tensor):
            raise SystemExit(f"draw: the expression gives a {type(root).__name__}, not one tensor: "
                             "draw one output at a time (or their sum)")
        if not root.requires_grad:
            raise SystemExit("draw: the expression must depend on at least one --name value input")
        from .backward import topological

        reached = {id(t) for t in topological(root)}
        unused = [name for name, t in names.items() if id(t) not in reached]
        if unused:
            raise SystemExit(f"draw: --{unused[0]} is not used by the expression {args.what!r}")
    try:
        ad.draw(root, args.output, rankdir=args.rankdir, max_nodes=args.max_nodes, params=names,
                group_by_module=args.what == "mlp-step", color_by_grad=args.color_by_grad)
    except (RuntimeError, ValueError, OSError) as error:
        raise SystemExit(f"draw: {error}") from None
    print(f"wrote {args.output}")
    if args.explain:
        if hasattr(sys.stdout, "reconfigure"):  # a terminal without ∂ and × gets escapes, not a traceback
            sys.stdout.reconfigure(errors="backslashreplace")
        print(ad.explain(root, params=names))
    return 0


def main(argv: list[str] | None = None) -> int:
    # allow_abbrev=False: an input named --m or --o must not be taken for --max-nodes or --output
    parser = argparse.ArgumentParser(prog="python -m autodiff", description="autodiff on the command line",
                                     allow_abbrev=False)
    commands = parser.add_subparsers(dest="command", required=True)
    from nn import demo

    p = commands.add_parser(
        "demo", help="backprop checked by hand, XOR and moons trained, pictures written",
        description=demo.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter, allow_abbrev=False,
    )
    demo.add_arguments(p)
    p.set_defaults(run=_demo)

    p = commands.add_parser(
        "draw", help="draw a computation graph with values and gradients", allow_abbrev=False,
        description="Draw a built-in example (two-neuron: the seeds' sigmoid chain; neuron: a "
                    "micrograd-style neuron; mlp-step: one MLP training step) or a one-line "
                    "expression over named inputs, e.g.  draw \"tanh(x*w + b)\" --x 0.5 --w -1.2 --b 0.3",
    )
    p.add_argument("what", help=f"an example ({', '.join(EXAMPLES)}) or an expression")
    p.add_argument("-o", "--output", default="graph.png",
                   help="picture to write, format from the extension: .png, .svg, .jpg; .pdf with the system "
                        "Graphviz only; .dot or .gv for the source (default graph.png)")
    p.add_argument("--explain", action="store_true", help="also print backpropagation step by step")
    p.add_argument("--rankdir", default="LR", choices=["LR", "TB"],
                   help="direction of the drawing (default LR)")
    p.add_argument("--max-nodes", type=int, default=250,
                   help="draw larger graphs collapsed: repeated blocks and chains as nodes that count "
                        "what they hold (default 250)")
    p.add_argument("--color-by-grad", action="store_true", help="shade nodes by the size of their gradient")
    p.set_defaults(run=None)

    p = commands.add_parser("check", help="check every op in both directions and to second order",
                            add_help=False)
    p.set_defaults(run=None)

    args, extra = parser.parse_known_args(argv)
    if args.command == "check":
        from . import check

        return check.main(extra)
    if args.command == "draw":
        return _draw(args, extra)
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
