"""Command line: ``python -m autodiff demo``.

``demo`` trains networks with the ``nn`` package (the application imports it;
the ``autodiff`` library itself never does).
"""

from __future__ import annotations

import argparse
import sys


def _demo(args: argparse.Namespace) -> int:
    from nn import demo

    return demo.main(args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autodiff", description="autodiff on the command line")
    commands = parser.add_subparsers(dest="command", required=True)
    from nn import demo

    p = commands.add_parser(
        "demo", help="backprop checked by hand, XOR and moons trained, pictures written",
        description=demo.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_arguments(p)
    p.set_defaults(run=_demo)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
