"""``python -m benchmarks``: run the suite, print the table, write results.json, results.md and results.png.

Exits with 1 if an implementation's numbers differ from the numpy limit's, or the
limit or our engine crashes; else 0, whether or not the goals are met.
"""

from __future__ import annotations

import argparse
import sys

from . import pin_threads


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, pin numpy's threads, run the suite; return the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Time the engine, a hand-written numpy limit and installed peers on each workload; "
                    "print the table and write results.json, results.md and results.png.",
    )
    parser.add_argument("--quick", action="store_true",
                        help="small sizes, one round and short timing, for CI (under a minute "
                             "with PyTorch alone, about 3 with every peer)")
    parser.add_argument("--only", nargs="+", metavar="W",
                        help="run only these workloads, e.g. --only W1 W5 (W5 means W5h and W5v, "
                             "W1 means W1 and W1f)")
    parser.add_argument("--threads", type=int, default=1,
                        help="threads for numpy's BLAS/OpenMP and each peer's pool (default 1)")
    parser.add_argument("--repeats", type=int, default=5,
                        help="timed runs at least, over all rounds, after a warm-up (default 5)")
    parser.add_argument("--rounds", type=int,
                        help="turns each implementation takes, a fresh process each "
                             "(default 3, 1 with --quick)")
    parser.add_argument("--timeout", type=float,
                        help="seconds a measuring process may take before it is stopped and reported "
                             "(default 900, 30 with --quick)")
    parser.add_argument("--out", metavar="DIR", help="where to write the results "
                                                     "(default benchmarks/results/)")
    parser.add_argument("--no-progress", dest="progress", action="store_false",
                        help="no progress bar on stderr")
    args = parser.parse_args(argv)
    if args.rounds is None:
        args.rounds = 1 if args.quick else 3
    if args.timeout is None:
        args.timeout = 30.0 if args.quick else 900.0
    if min(args.threads, args.repeats, args.rounds) < 1 or args.timeout <= 0:
        parser.error("--threads, --repeats, --rounds and --timeout must be positive")
    pin_threads(args.threads)  # before numpy is first imported, here and in every measuring process

    from .runner import run
    from .workloads import WORKLOADS, select

    try:
        select(args.only)
    except KeyError as unknown:
        parser.error(f"unknown workload {unknown}; the suite has {', '.join(WORKLOADS)}")
    return run(args, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
