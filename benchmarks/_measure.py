"""One measurement in a fresh interpreter: ``python -m benchmarks._measure W6 ours 1000000``.

The runner starts one process per workload, implementation, size and round, so
that peak memory starts clean and no engine's imports, threads or allocator state
can touch another's figures. Prints one JSON object on stdout.

In order: pin the threads (numpy is imported only after that), set the peer up,
build, collect and ``gc.freeze()``, reset the peak RSS to the current RSS and read
it as the baseline, run once (timed apart: warm-up, and compilation for a jit) and
compare the numbers with the numpy limit's (on a mismatch report it and time
nothing); a workload whose step updates parameters runs once more and compares that
call's numbers too, which depend on the update; then a block of timed runs with the
garbage collector on, as users run, until there are ``--repeats`` of them and
``--min-time`` seconds have passed (or ``MAX_RUNS`` runs); read the peak RSS; then,
with ``--gc-off``, as many runs with the collector off, which show its cost.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import sys
import time

from . import pin_threads

MAX_RUNS = 100
STATUS, CLEAR_REFS = "/proc/self/status", "/proc/self/clear_refs"


def _peak_rss_kb() -> float:
    """Peak resident memory of this process so far, in KB (1024 bytes).

    On Linux this is VmHWM: ``ru_maxrss`` would do, but Linux carries it over from
    the parent through fork and exec, so a child would start at the runner's peak.
    """
    if os.path.exists(STATUS):
        with open(STATUS) as status:
            return float(next(line.split()[1] for line in status if line.startswith("VmHWM:")))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if sys.platform == "darwin" else peak  # bytes on macOS


def _reset_peak_rss() -> None:
    """Lower the peak to the current resident memory (Linux), so only what follows counts."""
    try:
        with open(CLEAR_REFS, "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        pass  # elsewhere the baseline is the peak of the setup


def _mismatch(numbers, reference, rtol: float, atol: float, check: str = "elements") -> str | None:
    """How ``numbers`` differ from the limit's ``reference``, or None if they agree (see Workload.check)."""
    import numpy as np

    if len(numbers) != len(reference):
        return f"{len(numbers)} results, the numpy limit has {len(reference)}"
    for i, (got, want) in enumerate(zip(numbers, reference, strict=True)):
        got = np.asarray(got)
        if got.shape != want.shape:
            return f"result {i} has shape {got.shape}, the numpy limit's has {want.shape}"
        if check == "norm":
            distance = np.linalg.norm(got.astype(np.float64) - want) / max(np.linalg.norm(want), 1e-300)
            if not distance <= rtol:
                return f"result {i} is {distance:.2g} from the limit's, relative in norm (rtol={rtol:g})"
            continue
        wrong = ~np.isclose(got, want, rtol=rtol, atol=atol)
        if wrong.any():
            where = np.unravel_index(np.argmax(wrong), got.shape)
            return (f"result {i} differs from the numpy limit's in {wrong.sum()} of {wrong.size} "
                    f"elements, first at index {tuple(map(int, where))}: {got[where].item()!r} vs "
                    f"{want[where].item()!r} (rtol={rtol:g}, atol={atol:g})")
    return None


def _timed(step, repeats: int, min_time: float) -> list[float]:
    times = []
    start = time.perf_counter()
    while len(times) < repeats or (time.perf_counter() - start < min_time and len(times) < MAX_RUNS):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return times


def measure(workload: str, implementation: str, size: int, threads: int, repeats: int,
            min_time: float, reference: str | None = None, save: str | None = None,
            gc_off: bool = False) -> dict:
    """Check, then time one implementation of a workload at one size, in this process.

    Parameters
    ----------
    workload, implementation : str
        Keys of :data:`benchmarks.registry.WORKLOADS` and of its implementations.
    size : int
    threads : int
        Given to a peer's setup (numpy's threads are pinned by the caller).
    repeats : int
        Timed runs at least, in each of the two blocks (after one untimed run, which is checked).
    min_time : float
        Seconds of timed runs with the collector on, at least (at most ``MAX_RUNS`` runs).
    reference : str, optional
        ``.npz`` file with the limit's numbers to check against.
    save : str, optional
        Write this implementation's numbers there (run for the limit itself).
    gc_off : bool
        Also time as many runs with the garbage collector off.

    Returns
    -------
    dict
        ``first_s``, ``times_s`` (collector on), ``gc_off_times_s`` (empty unless asked),
        ``baseline_kb`` and ``peak_kb``; or ``mismatch`` if the check failed.
    """
    import numpy as np

    from .peers import PEERS
    from .workloads import WORKLOADS

    spec = WORKLOADS[workload]
    peer = PEERS.get(implementation.split("-")[0])
    if peer is not None and peer.setup is not None:
        peer.setup(threads)
    step = spec.implementations[implementation](size)
    expected = None
    if reference:
        with np.load(reference) as archive:
            expected = [archive[name] for name in archive.files]
    gc.collect()
    gc.freeze()
    _reset_peak_rss()
    baseline_kb = _peak_rss_kb()

    t0 = time.perf_counter()
    numbers = step()
    first_s = time.perf_counter() - t0
    calls = [tuple(numbers), tuple(step())] if spec.updates else [tuple(numbers)]  # and after the update
    if expected is not None:
        part = len(expected) // len(calls)
        for k, numbers in enumerate(calls):
            error = _mismatch(numbers, expected[k * part:(k + 1) * part], spec.rtol, spec.atol, spec.check)
            if error:
                return {"mismatch": error + (" (in the second call, after the first update)" if k else "")}
    if save:
        np.savez(save, *(a for numbers in calls for a in numbers))
    del numbers, calls

    times = _timed(step, repeats, min_time)
    peak_kb = _peak_rss_kb()
    off = []
    if gc_off:
        gc.collect()
        gc.disable()
        off = _timed(step, len(times), 0.0)
        gc.enable()
    return {"first_s": first_s, "times_s": times, "gc_off_times_s": off,
            "baseline_kb": baseline_kb, "peak_kb": peak_kb}


def main(argv: list[str] | None = None) -> None:
    """Parse the command line, pin numpy's threads, measure, print the outcome as JSON."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks._measure",
                                     description="One measurement in a fresh interpreter (run by the suite).")
    parser.add_argument("workload")
    parser.add_argument("implementation")
    parser.add_argument("size", type=int)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--min-time", type=float, default=1.0)
    parser.add_argument("--reference", help="the limit's numbers (.npz) to check against")
    parser.add_argument("--save", help="write the numbers here (.npz)")
    parser.add_argument("--gc-off", action="store_true", help="also time runs with the garbage collector off")
    args = parser.parse_args(argv)
    pin_threads(args.threads)
    result = measure(args.workload, args.implementation, args.size, args.threads, args.repeats,
                     args.min_time, args.reference, args.save, args.gc_off)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
