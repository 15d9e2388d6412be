"""The runner: every workload, size and implementation measured, then one table.

For each workload and size the numpy limit runs first and saves its numbers; each
other implementation then runs in a process of its own (:mod:`benchmarks._measure`),
is checked against those numbers, and is timed only if it agrees. Implementations
take turns in rounds (limit, ours, each peer; again), each turn a block of runs in
a fresh process, so that a machine whose speed drifts affects them all alike.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from . import THREAD_VARIABLES
from ._measure import MAX_RUNS
from .peers import PEERS
from .registry import Workload
from .workloads import WORKLOADS, select

RESULTS_DIR = Path(__file__).parent / "results"
PROJECT_ROOT = Path(__file__).parent.parent


def machine() -> dict:
    """The machine and the software the figures are measured on."""
    import autodiff

    cpu = platform.processor() or platform.machine()
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as info:
            cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), cpu)
    blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    return {
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "platform": platform.platform(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas": f"{blas.get('name')} {blas.get('version', '')}".strip(),
        "autodiff": f"{autodiff.__version__} ({_revision()})",
    }


def _revision() -> str:
    """The git commit measured, and whether the code that runs or defines the work
    (autodiff/, nn/, benchmarks/) differs from it."""
    def git(*command: str) -> str:
        done = subprocess.run(["git", *command], capture_output=True, text=True, cwd=PROJECT_ROOT)
        return done.stdout.strip()

    try:
        commit = git("rev-parse", "--short", "HEAD")
        changed = git("status", "--porcelain", "--untracked-files=no", "--", "autodiff", "nn", "benchmarks")
    except OSError:
        commit = ""
    if not commit:
        return "not a git checkout"
    folders = sorted({line[3:].split("/")[0] + "/" for line in changed.splitlines()})
    return f"git {commit}" + (f" with uncommitted changes to {', '.join(folders)}" if changed else "")


def load_peers() -> dict[str, dict]:
    """For each peer, ``{"version": ...}``, or ``{"skipped": reason}`` when it is not installed."""
    peers = {}
    for name, peer in PEERS.items():
        try:
            peers[name] = {"version": peer.version()}
        except ImportError as error:
            peers[name] = {"skipped": str(error)}
    return peers


def _peer_of(implementation: str) -> str:
    """``jax-jit`` is a way of running the peer ``jax``."""
    return implementation.split("-")[0]


def _run_child(workload: Workload, implementation: str, size: int, args: argparse.Namespace,
               repeats: int, min_time: float, *options: str) -> dict:
    """Measure in a fresh process (see ``_measure``); a crash or a timeout is reported as such."""
    command = [sys.executable, "-m", "benchmarks._measure", workload.key, implementation, str(size),
               "--threads", str(args.threads), "--repeats", str(repeats), "--min-time", str(min_time),
               *options]
    try:
        child = subprocess.run(command, capture_output=True, text=True, cwd=PROJECT_ROOT,
                               timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return {"timeout": f"did not finish within {args.timeout:g} s (--timeout)"}
    if child.returncode:
        last = (child.stderr.strip().splitlines() or ["no output"])[-1]
        return {"crash": f"crashed (exit code {child.returncode}): {last}"}
    return json.loads(child.stdout.strip().splitlines()[-1])


def _merge(outcomes: list[dict]) -> dict:
    """One implementation's rounds as one outcome: every run's time, the median memory."""
    for key in ("mismatch", "crash", "timeout"):
        for outcome in outcomes:
            if key in outcome:
                return outcome
    return {
        "first_s": outcomes[0]["first_s"],
        "times_s": [t for o in outcomes for t in o["times_s"]],
        "gc_off_times_s": [t for o in outcomes for t in o["gc_off_times_s"]],
        "memory_kb": statistics.median(o["peak_kb"] - o["baseline_kb"] for o in outcomes),
    }


def _record(workload: Workload, size: int, implementation: str, outcome: dict) -> dict:
    """One implementation at one size: status, times in the workload's unit, memory per node (KB).

    Status ``failed`` is a wrong result, or a crash of the limit or of ours; ``error``
    and ``timeout`` are a peer's own crash or slowness; ``skipped`` had nothing to run.
    """
    record = {"workload": workload.key, "size": size, "implementation": implementation, "unit": workload.unit}
    if workload.nodes is not None:
        record["nodes"] = workload.nodes(size)
    ours = implementation in ("limit", "ours")
    if "mismatch" in outcome:
        return {**record, "status": "failed", "reason": outcome["mismatch"]}
    if "crash" in outcome:
        return {**record, "status": "failed" if ours else "error", "reason": outcome["crash"]}
    if "timeout" in outcome:
        return {**record, "status": "failed" if ours else "timeout", "reason": outcome["timeout"]}
    if "skipped" in outcome:
        return {**record, "status": "skipped", "reason": outcome["skipped"]}
    figures = [workload.figure(t, size) for t in outcome["times_s"]]
    record.update(
        status="ok", first_s=outcome["first_s"], times_s=outcome["times_s"],
        gc_off_times_s=outcome["gc_off_times_s"], time=statistics.median(figures),
        time_range=[min(figures), max(figures)],
    )
    if outcome["gc_off_times_s"]:
        record["gc_off"] = workload.figure(statistics.median(outcome["gc_off_times_s"]), size)
    if workload.memory:
        record["kb_per_node"] = outcome["memory_kb"] / workload.nodes(size)
    return record


def _goals(records: list[dict]) -> list[dict]:
    """Every goal that applies to one of our records, with our figure and whether it is met."""
    ours = {(r["workload"], r["size"]): r for r in records if r["implementation"] == "ours"}
    goals = []
    for (key, size), record in ours.items():
        workload = WORKLOADS[key]
        for goal in workload.goals:
            if not goal.applies(size):
                continue
            if goal.metric == "ratio_to":
                other = ours.get((goal.other, size), {})
                value = record["time"] / other["time"] if "time" in record and "time" in other else None
            else:
                value = record.get(goal.metric)
            # met: None when the figure was not measured (ours failed, or the other workload not run)
            goals.append({"workload": key, "size": size, "goal": goal.describe(workload.unit),
                          "metric": goal.metric, "bound": goal.bound, "value": value,
                          "met": None if value is None else value <= goal.bound, "other": goal.other})
    return goals


# ------------------------------------------------------------------ tables
def _size_text(size: int) -> str:
    exponent = len(str(size)) - 1
    return f"10^{exponent}" if size >= 1000 and size == 10**exponent else str(size)


def _number(x: float) -> str:
    """Three significant figures, without an exponent for the figures a table holds."""
    if x == 0 or not math.isfinite(x):
        return f"{x:g}"
    digits = max(0, 2 - math.floor(math.log10(abs(x))))
    return f"{x:.{digits}f}"


def _status_cell(record: dict) -> str:
    if record.get("reason", "").startswith("not run"):  # stopped at a smaller size (see the notes)
        return "not run"
    return "FAILED" if record["status"] == "failed" else record["status"]


def _time_cell(record: dict, detail: bool) -> str:
    if record["status"] != "ok":
        return _status_cell(record)
    cell = _number(record["time"])
    if detail:
        low, high = record["time_range"]
        cell += f" [{_number(low)}–{_number(high)}]"
    if "ratio" in record:  # three figures near 1, where goals such as 1.02× are judged
        cell += f" ({record['ratio']:.3g}×)" if record["ratio"] < 10 else f" ({record['ratio']:.0f}×)"
    return cell


def _memory_cell(record: dict) -> str:
    return f"{record['kb_per_node']:.3f}" if record["status"] == "ok" else _status_cell(record)


def _gc_cell(record: dict | None) -> str:
    if record is None or "gc_off" not in record:
        return ""
    return f"{(record['time'] - record['gc_off']) / record['time']:+.0%}"


def _goal_cells(goals: list[dict], metrics: tuple[str, ...], ours: dict | None) -> list[str]:
    chosen = [g for g in goals if g["metric"] in metrics]
    if not chosen:
        return ["", ""]
    missed = [g["goal"] for g in chosen if g["met"] is False]
    if ours is None or ours["status"] != "ok":
        met = "FAILED"
    elif any(g["met"] is None for g in chosen):
        needs = sorted({g["other"] for g in chosen if g["met"] is None and g["other"]})
        met = f"not measured (needs ours on {', '.join(needs)})" if needs else "not measured"
    elif missed:
        met = "MISSED" if len(chosen) == 1 else f"MISSED ({', '.join(missed)})"
    else:
        met = "met"
    return [", ".join(g["goal"] for g in chosen), met]


def columns(records: list[dict]) -> list[str]:
    """The implementations as table columns: the limit, ours, then the peers in :data:`PEERS` order."""
    names = list(dict.fromkeys(r["implementation"] for r in records))
    order = ["limit", "ours", *PEERS]
    return sorted(names, key=lambda n: (order.index(_peer_of(n)) if _peer_of(n) in order else len(order), n))


def table(records: list[dict], goals: list[dict], detail: bool = False) -> list[list[str]]:
    """The results as rows of cells, the header first: one row per workload, size and figure.

    Cells are medians in the row's unit with the ratio to the limit in brackets;
    ``detail`` adds the fastest and slowest run. ``GC`` is the share of our time
    that the garbage collector takes (the time with it on, less the time with it off).
    """
    names = columns(records)
    rows = [["Workload", "Size", "Unit", *names, "GC (ours)", "Goal (ours)", "Met"]]
    for key, size in dict.fromkeys((r["workload"], r["size"]) for r in records):
        workload = WORKLOADS[key]
        found = {r["implementation"]: r for r in records if r["workload"] == key and r["size"] == size}
        ours = found.get("ours")
        here = [g for g in goals if g["workload"] == key and g["size"] == size]
        lead = [f"{key} {workload.title}", f"{workload.size_name}={_size_text(size)}"]
        cells = [_time_cell(found[n], detail) if n in found else "—" for n in names]
        rows.append(lead + [workload.unit] + cells + [_gc_cell(ours)]
                    + _goal_cells(here, ("time", "ratio", "ratio_to"), ours))
        if workload.memory:
            rows.append(lead + ["KB/node"] + [_memory_cell(found[n]) if n in found else "—" for n in names]
                        + [""] + _goal_cells(here, ("kb_per_node",), ours))
    return rows


def text_table(rows: list[list[str]]) -> str:
    """Rows of cells as aligned plain text."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows)
    return "\n".join(line.rstrip() for line in lines)


def markdown_table(rows: list[list[str]]) -> str:
    """Rows of cells as a markdown table."""
    lines = ["| " + " | ".join(row) + " |" for row in rows]
    lines.insert(1, "|" + "---|" * len(rows[0]))
    return "\n".join(lines)


def notes(records: list[dict]) -> list[str]:
    """What the table cannot say: reasons for failures, errors and timeouts, and long first calls."""
    lines = []
    for r in records:
        size = f"{WORKLOADS[r['workload']].size_name}={_size_text(r['size'])}"
        where = f"{r['workload']} {size} {r['implementation']}"
        if r["status"] in ("failed", "error", "timeout"):
            lines.append(f"{r['status'].upper()}: {where}: {r['reason']}")
        elif r["status"] == "ok" and r["first_s"] > max(1.0, 5 * statistics.median(r["times_s"])):
            lines.append(f"first call: {where}: {r['first_s']:.2f} s (compilation or warm-up), not timed")
    return lines


def plot(records: list[dict], path: Path) -> str:
    """A bar chart of every implementation's time as a ratio to the limit, on a log scale.

    Returns what was done, for the terminal: matplotlib is optional.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "no plot: matplotlib is not installed (pip install -e '.[examples]')"
    rows = list(dict.fromkeys((r["workload"], r["size"]) for r in records if "ratio" in r))
    names = [n for n in columns(records) if n != "limit"]
    if not rows:
        return "no plot: no ratios to the limit were measured"
    figure, axes = plt.subplots(figsize=(max(6.0, 1.2 * len(rows) + 2), 4.5))
    width = 0.8 / len(names)
    for k, name in enumerate(names):
        found = {(r["workload"], r["size"]): r.get("ratio") for r in records if r["implementation"] == name}
        heights = [found.get(row) or np.nan for row in rows]
        axes.bar(np.arange(len(rows)) + (k - (len(names) - 1) / 2) * width, heights, width, label=name)
    axes.axhline(1.0, color="black", linewidth=0.8)
    axes.set_yscale("log")
    labels = [f"{key}\n{WORKLOADS[key].size_name}={_size_text(size)}" for key, size in rows]
    axes.set_xticks(np.arange(len(rows)), labels, fontsize=8)
    axes.set_ylabel("time / hand-written numpy (log scale; lower is faster)")
    axes.legend(fontsize=8, ncol=min(len(names), 4))
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return f"wrote {path}"


def _summary(report: dict) -> list[str]:
    m, threads = report["machine"], report["threads"]
    peers = [f"{name} {peer['version']}" if "version" in peer else f"{name} skipped ({peer['skipped']})"
             for name, peer in report["peers"].items()]
    return [
        f"date: {report['date']}",
        f"command: {report['command']}",
        f"machine: {m['platform']}; {m['cpu']}; {m['cpu_count']} CPUs ({m['cpus_usable']} usable); "
        f"load average {m['load_average']:.2f} at the start",
        f"software: Python {m['python']}, numpy {m['numpy']} ({m['blas']}), autodiff {m['autodiff']}",
        f"threads: {', '.join(f'{v}={threads}' for v in THREAD_VARIABLES)}; peers' pools {threads} "
        f"({'; '.join(f'{name}: {peer.limits}' for name, peer in PEERS.items())})",
        f"peers: {', '.join(peers) or 'none'}",
        f"method: {report['method']}",
    ]


# -------------------------------------------------------------------- main
def run(args: argparse.Namespace, argv: list[str]) -> int:
    """Run the suite as ``python -m benchmarks`` was asked to; return the exit code.

    Parameters
    ----------
    args : argparse.Namespace
        ``quick``, ``only``, ``threads``, ``repeats``, ``rounds``, ``timeout``, ``out``
        and ``progress``, as parsed by ``__main__``.
    argv : list of str
        The command line, recorded with the results.

    Returns
    -------
    int
        1 if an implementation's numbers differ from the limit's, or the limit or our
        engine crashed or timed out; else 0, whether or not the goals are met.
    """
    from tqdm import tqdm

    min_time = (0.05 if args.quick else 1.0) / args.rounds
    repeats = -(-args.repeats // args.rounds)
    peers = load_peers()
    report = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": " ".join(["python -m benchmarks", *argv]),
        "machine": machine(),
        "threads": args.threads,
        "quick": args.quick,
        "peers": peers,
        "method": (f"a fresh process per measurement, {args.rounds} round(s) taking turns; in each: setup, "
                   "gc.freeze(), one run apart (warm-up or compilation) whose numbers are checked against "
                   f"the limit's (and a second run's, where the step updates parameters), then ≥ {repeats} "
                   f"timed runs and ≥ {min_time:.2g} s (at most {MAX_RUNS} runs) with the garbage "
                   "collector on (time.perf_counter), and for ours as many with it off; cells are the median "
                   "over all rounds' runs with the collector on, ratios are of medians; memory is the peak "
                   "RSS above the RSS before the first run (Linux: VmHWM reset after setup, elsewhere "
                   "ru_maxrss), the median over rounds; an implementation that timed out or crashed at a "
                   f"size is not run at larger ones; a process is stopped after {args.timeout:g} s"),
    }
    print("\n".join(_summary(report)) + "\n", flush=True)

    available = [name for name, peer in peers.items() if "version" in peer]
    plan = []
    for key in select(args.only):
        workload = WORKLOADS[key]
        names = [n for n in workload.implementations
                 if n in ("limit", "ours") or _peer_of(n) in available]
        names.sort(key=lambda n: n != "limit")  # the limit first: it saves the reference
        for size in workload.quick_sizes if args.quick else workload.sizes:
            plan.append((workload, size, names))
    total = args.rounds * sum(len(names) for *_, names in plan)
    records = []
    # a bar on a terminal; none in a log (disable=None), where the table follows anyway
    stopped: dict = {}  # (workload, implementation) -> why it is not run at larger sizes
    with tqdm(total=total, unit="run", file=sys.stderr, disable=None if args.progress else True,
              dynamic_ncols=True) as bar:
        for workload, size, names in plan:
            outcomes = {name: [] for name in names}
            with tempfile.TemporaryDirectory() as scratch:
                reference = os.path.join(scratch, "limit.npz")
                for round_ in range(args.rounds):
                    for name in names:
                        bar.set_description(f"{workload.key} {workload.size_name}={_size_text(size)} {name}")
                        done = outcomes[name]
                        options = ("--gc-off",) if name == "ours" else ()
                        if done and "times_s" not in done[-1]:
                            outcome = None  # failed in an earlier round: not run again
                        elif (workload.key, name) in stopped:
                            outcome = stopped[workload.key, name]
                        elif name == "limit":
                            option = ("--save", reference) if round_ == 0 else ()
                            outcome = _run_child(workload, name, size, args, repeats, min_time, *option)
                        elif "limit" in outcomes and "times_s" not in outcomes["limit"][0]:
                            outcome = {"skipped": "no reference: the numpy limit failed"}
                        elif "limit" in outcomes:
                            outcome = _run_child(workload, name, size, args, repeats, min_time,
                                                 "--reference", reference, *options)
                        else:
                            outcome = _run_child(workload, name, size, args, repeats, min_time, *options)
                        if outcome is not None:
                            done.append(outcome)
                            for key in ("timeout", "crash"):
                                if key in outcome and (workload.key, name) not in stopped:
                                    at = f"{workload.size_name}={_size_text(size)}"
                                    stopped[workload.key, name] = {key: f"not run: {key} at {at}"}
                        bar.update()
            measured = [_record(workload, size, name, _merge(outcomes[name])) for name in names]
            limit = next((r for r in measured if r["implementation"] == "limit"), None)
            for record in measured:
                if limit and limit["status"] == "ok" and record["status"] == "ok" and record is not limit:
                    record["ratio"] = record["time"] / limit["time"]
            records += measured

    goals = _goals(records)
    print(text_table(table(records, goals)))
    for line in notes(records):
        print(line)
    out = Path(args.out) if args.out else RESULTS_DIR
    out.mkdir(parents=True, exist_ok=True)
    workloads = {r["workload"] for r in records}
    report.update(workloads={k: {"title": w.title, "summary": w.summary, "unit": w.unit}
                             for k, w in WORKLOADS.items() if k in workloads},
                  results=records, goals=goals)
    (out / "results.json").write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    summary = "\n".join(f"- {line}" for line in _summary(report))
    extra = "".join(f"- {line}\n" for line in notes(records))
    (out / "results.md").write_text(f"# Benchmark results\n\n{summary}\n\n"
                                    f"{markdown_table(table(records, goals, detail=True))}\n\n{extra}")
    print(f"\nwrote {out / 'results.json'} and {out / 'results.md'}")
    print(plot(records, out / "results.png"))
    return 1 if any(r["status"] == "failed" for r in records) else 0
