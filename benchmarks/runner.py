"""The runner: every workload, size and implementation measured, then one table.

For each workload and size the numpy limit runs first and saves its gradients; each
other implementation then runs in a process of its own (:mod:`benchmarks._measure`),
is checked against those gradients, and is timed only if it agrees.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from . import THREAD_VARIABLES
from .peers import PEERS
from .registry import Workload
from .workloads import WORKLOADS

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
    """The git commit measured, and whether autodiff/ differs from it."""
    def git(*command: str) -> str:
        done = subprocess.run(["git", *command], capture_output=True, text=True, cwd=PROJECT_ROOT)
        return done.stdout.strip()

    try:
        commit, changed = git("rev-parse", "--short", "HEAD"), git("status", "--porcelain", "--", "autodiff")
    except OSError:
        commit = ""
    if not commit:
        return "not a git checkout"
    return f"git {commit}" + (" with uncommitted changes to autodiff/" if changed else "")


def load_peers(threads: int) -> dict[str, dict]:
    """For each peer, ``{"version": ...}``, or ``{"skipped": reason}`` if it cannot be imported."""
    peers = {}
    for name, loader in PEERS.items():
        try:
            peers[name] = {"version": loader(threads)}
        except ImportError as error:
            peers[name] = {"skipped": str(error)}
    return peers


def _run_child(workload: Workload, implementation: str, size: int, args: argparse.Namespace,
               min_time: float, *options: str) -> dict:
    """Measure in a fresh process (see ``_measure``); a crash is reported as an error."""
    command = [sys.executable, "-m", "benchmarks._measure", workload.key, implementation, str(size),
               "--threads", str(args.threads), "--repeats", str(args.repeats), "--min-time", str(min_time),
               *options]
    child = subprocess.run(command, capture_output=True, text=True, cwd=PROJECT_ROOT)
    if child.returncode:
        last = (child.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"crashed (exit code {child.returncode}): {last}"}
    return json.loads(child.stdout.strip().splitlines()[-1])


def _record(workload: Workload, size: int, implementation: str, outcome: dict) -> dict:
    """One implementation at one size: status, time per node (µs) and peak memory per node (KB)."""
    nodes = workload.nodes(size)
    record = {"workload": workload.key, "size": size, "nodes": nodes, "implementation": implementation}
    if "error" in outcome:
        return {**record, "status": "failed", "reason": outcome["error"]}
    if "skipped" in outcome:
        return {**record, "status": "skipped", "reason": outcome["skipped"]}
    per_node = [t / nodes * 1e6 for t in outcome["times_s"]]
    return {
        **record, "status": "ok", "times_s": outcome["times_s"],
        "us_per_node": statistics.median(per_node), "us_per_node_range": [min(per_node), max(per_node)],
        "kb_per_node": (outcome["peak_kb"] - outcome["baseline_kb"]) / nodes,
    }


def _goals(workload: Workload, ours: dict) -> list[dict]:
    """The goals that apply at the size of ``ours``, with our figure and whether it is met."""
    return [
        {"workload": workload.key, "size": ours["size"], "goal": goal.describe(), "metric": goal.metric,
         "bound": goal.bound, "value": ours.get(goal.metric),
         "met": ours.get(goal.metric, np.inf) <= goal.bound}
        for goal in workload.goals if goal.applies(ours["size"])
    ]


# ------------------------------------------------------------------ tables
def _size_text(size: int) -> str:
    exponent = len(str(size)) - 1
    return f"10^{exponent}" if size >= 1000 and size == 10**exponent else str(size)


def _time_cell(record: dict) -> str:
    if record["status"] != "ok":
        return "FAILED" if record["status"] == "failed" else "skipped"
    low, high = record["us_per_node_range"]
    return f"{record['us_per_node']:.2f} ({low:.2f}–{high:.2f})"


def _memory_cell(record: dict) -> str:
    return f"{record['kb_per_node']:.3f}" if record["status"] == "ok" else _time_cell(record)


def _goal_cells(goals: list[dict], metrics: tuple[str, ...], ours: dict) -> list[str]:
    chosen = [g for g in goals if g["metric"] in metrics]
    if not chosen:
        return ["", ""]
    missed = [g["goal"] for g in chosen if not g["met"]]
    if ours["status"] != "ok":
        met = "FAILED"
    elif missed:
        met = "MISSED" if len(chosen) == 1 else f"MISSED ({', '.join(missed)})"
    else:
        met = "met"
    return [", ".join(g["goal"] for g in chosen), met]


def table(records: list[dict], goals: list[dict], peers: dict[str, dict]) -> list[list[str]]:
    """The results as rows of cells, the header first: one row per workload, size and figure.

    ``peers`` is :func:`load_peers`'s answer: every peer gets columns, skipped or not.
    """
    absent = {name: "skipped" if "skipped" in peer else "—" for name, peer in peers.items()}
    header = ["Workload", "Size", "Nodes", "Figure", "numpy limit", "ours", "ours/limit"]
    rows = [header + [cell for peer in peers for cell in (peer, f"{peer}/limit")] + ["Goal (ours)", "Met"]]
    for key, size in dict.fromkeys((r["workload"], r["size"]) for r in records):
        workload = WORKLOADS[key]
        found = {r["implementation"]: r for r in records if r["workload"] == key and r["size"] == size}
        limit, ours = found["limit"], found["ours"]
        here = [g for g in goals if g["workload"] == key and g["size"] == size]
        lead = [f"{key} {workload.title}", f"{workload.size_name}={_size_text(size)}",
                str(workload.nodes(size))]

        time_row = lead + ["µs/node", _time_cell(limit)]
        memory_row = lead + ["KB/node", _memory_cell(limit)]
        for name in ["ours", *peers]:
            record = found.get(name)
            if record is None:
                time_row += [absent[name], ""]
                memory_row += [absent[name], ""]
            else:
                time_row += [_time_cell(record), f"{record['ratio']:.1f}×" if "ratio" in record else ""]
                memory_row += [_memory_cell(record), ""]
        rows.append(time_row + _goal_cells(here, ("us_per_node", "ratio"), ours))
        if workload.memory:
            rows.append(memory_row + _goal_cells(here, ("kb_per_node",), ours))
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
        f"threads: {', '.join(f'{v}={threads}' for v in THREAD_VARIABLES)}; peers' pools {threads}",
        f"peers: {', '.join(peers) or 'none'}",
        f"method: {report['method']}",
    ]


# -------------------------------------------------------------------- main
def run(args: argparse.Namespace, argv: list[str]) -> int:
    """Run the suite as ``python -m benchmarks`` was asked to; return the exit code.

    Parameters
    ----------
    args : argparse.Namespace
        ``quick``, ``only``, ``threads``, ``repeats`` and ``out``, as parsed by ``__main__``.
    argv : list of str
        The command line, recorded with the results.

    Returns
    -------
    int
        1 if an implementation failed its gradient check or crashed, else 0.
    """
    min_time = 0.1 if args.quick else 1.0
    peers = load_peers(args.threads)
    report = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": " ".join(["python -m benchmarks", *argv]),
        "machine": machine(),
        "threads": args.threads,
        "quick": args.quick,
        "peers": peers,
        "method": (f"a fresh process per measurement; setup, gc.freeze(), one untimed run whose gradients "
                   f"are checked against the limit's, then ≥ {args.repeats} timed runs and ≥ {min_time:g} s "
                   "(time.perf_counter, forward + backward); cells are median (min–max), ratios are of "
                   "medians; memory is the peak RSS above the RSS before the first run (Linux: VmHWM "
                   "reset after setup, elsewhere ru_maxrss)"),
    }
    print("\n".join(_summary(report)) + "\n", flush=True)

    workloads = [w for key, w in WORKLOADS.items() if not args.only or key in args.only]
    available = [name for name, peer in peers.items() if "version" in peer]
    plan = [(w, size, ["limit", "ours", *(p for p in available if p in w.implementations)])
            for w in workloads for size in (w.quick_sizes if args.quick else w.sizes)]
    total, done = sum(len(names) for *_, names in plan), 0
    records, goals = [], []
    for workload, size, names in plan:
        measured = []
        with tempfile.TemporaryDirectory() as scratch:
            reference = os.path.join(scratch, "limit.npz")
            for name in names:
                done += 1
                print(f"[{done}/{total}] {workload.key} {workload.size_name}={_size_text(size)} {name}:",
                      end="", file=sys.stderr, flush=True)
                if name == "limit":
                    outcome = _run_child(workload, name, size, args, min_time, "--save", reference)
                elif measured[0]["status"] != "ok":
                    outcome = {"skipped": "no reference: the numpy limit failed"}
                else:
                    outcome = _run_child(workload, name, size, args, min_time, "--reference", reference)
                measured.append(_record(workload, size, name, outcome))
                print(" " + _time_cell(measured[-1]), file=sys.stderr)
        limit = measured[0]
        for record in measured[1:]:
            if record["status"] == "ok":
                record["ratio"] = record["us_per_node"] / limit["us_per_node"]
        records += measured
        goals += _goals(workload, measured[1])  # measured in the plan's order: limit, ours, peers

    rows = table(records, goals, peers)
    print(text_table(rows))
    out = Path(args.out) if args.out else RESULTS_DIR
    out.mkdir(parents=True, exist_ok=True)
    report.update(workloads={w.key: {"title": w.title, "summary": w.summary} for w in workloads},
                  results=records, goals=goals)
    (out / "results.json").write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    summary = "\n".join(f"- {line}" for line in _summary(report))
    (out / "results.md").write_text(f"# Benchmark results\n\n{summary}\n\n{markdown_table(rows)}\n")
    print(f"\nwrote {out / 'results.json'} and {out / 'results.md'}")

    failures = [r for r in records if r["status"] == "failed"]
    for r in failures:
        print(f"FAILED: {r['workload']} {r['implementation']} at {r['size']}: {r['reason']}")
    return 1 if failures else 0
