"""``python -m benchmarks``: run the suite, print the table, write results.json and results.md.

Exits with 1 if an implementation's gradients differ from the numpy limit's (or it
crashes), else 0, whether or not the goals are met.
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
                    "print the table and write results.json and results.md.",
    )
    parser.add_argument("--quick", action="store_true",
                        help="small sizes and short timing, for CI (well under a minute)")
    parser.add_argument("--only", nargs="+", metavar="W", help="run only these workloads, e.g. --only W1")
    parser.add_argument("--threads", type=int, default=1,
                        help="threads for numpy's BLAS/OpenMP and each peer's pool (default 1)")
    parser.add_argument("--repeats", type=int, default=5,
                        help="timed runs at least, after a warm-up (default 5)")
    parser.add_argument("--out", metavar="DIR", help="where to write results.json and results.md "
                                                     "(default benchmarks/results/)")
    args = parser.parse_args(argv)
    if args.threads < 1 or args.repeats < 1:
        parser.error("--threads and --repeats must be at least 1")
    pin_threads(args.threads)  # before numpy is first imported, here and in every measuring process

    from .runner import run
    from .workloads import WORKLOADS

    unknown = sorted(set(args.only or ()) - set(WORKLOADS))
    if unknown:
        parser.error(f"unknown workload {', '.join(unknown)}; the suite has {', '.join(WORKLOADS)}")

    return run(args, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
