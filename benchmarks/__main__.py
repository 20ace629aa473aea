"""Command line: ``python -m benchmarks [--quick] [--json PATH] ...``."""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Time fasthmm against reference implementations.",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: smaller workloads, 3 repetitions",
    )
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    p.add_argument(
        "--workload",
        action="append",
        metavar="NAME",
        help="run only this workload (repeatable; see --list)",
    )
    p.add_argument(
        "--repeat",
        type=int,
        help="least number of timed runs per call (default 5, 3 with --quick)",
    )
    p.add_argument(
        "--threads",
        type=int,
        help="Numba threads (and BLAS threads for dgemm); default: Numba's default",
    )
    p.add_argument(
        "--no-compile",
        action="store_true",
        help="skip the compile-time subprocesses",
    )
    p.add_argument(
        "--no-memory",
        action="store_true",
        help="skip the peak-memory subprocesses (fit of each model)",
    )
    p.add_argument(
        "--plot",
        nargs="?",
        const="docs/figures/benchmark_time_vs_k.png",
        metavar="PATH",
        help="draw time against K (matplotlib) to PATH "
        "(default docs/figures/benchmark_time_vs_k.png)",
    )
    p.add_argument(
        "--from-json",
        metavar="PATH",
        help="print the report (and --plot) of a run saved with --json; run nothing",
    )
    p.add_argument(
        "--list", action="store_true", help="list the registered cases and exit"
    )
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)

    import numba

    from . import compile_time, machine, memory, runner, targets
    from .registry import IMPLEMENTATIONS, WORKLOADS

    workloads = runner.load_suites()
    if args.from_json:
        out = json.loads(Path(args.from_json).read_text())
        print("\n".join(render(out, workloads)))
        _plot(out, args.plot)
        return 0
    if args.list:
        for w, op, impl in IMPLEMENTATIONS:
            print(f"{w:<16} {op:<40} {impl}")
        return 0
    for name in args.workload or ():
        if name not in WORKLOADS:
            sys.exit(f"unknown workload {name!r}; known: {', '.join(WORKLOADS)}")

    if args.threads:
        numba.set_num_threads(args.threads)
    repeat = args.repeat or (3 if args.quick else 5)
    min_total = 0.0 if args.quick else 1.0

    started = time.perf_counter()
    monitor = machine.LoadMonitor()
    info = machine.describe()
    compile_info = compile_models = None
    selected = args.workload or list(workloads)
    if not args.no_compile:
        print("measuring compile time in subprocesses ...", file=sys.stderr)
        threads = numba.get_num_threads()
        if "log-emissions" in selected:
            compile_info = compile_time.measure(threads)
        if any(workloads[w].layout == "wide" for w in selected):
            compile_models = compile_time.measure_models(threads)
    rows = runner.run(
        workloads=args.workload,
        quick=args.quick,
        repeat=repeat,
        min_total=min_total,
        dgemm_gflops=info["dgemm"]["gflops"],
    )
    splits = runner.splits(rows)
    memory_info = None
    if not args.no_memory:
        cases = [
            (w, workloads[w].make(**workloads[w].sizes(args.quick)[-1]))
            for w in selected
            if workloads[w].layout == "wide"
        ]
        if cases:
            print("measuring peak memory of fit in subprocesses ...", file=sys.stderr)
            memory_info = memory.measure(cases)
    info["load"] = monitor.stop()
    try:
        info["threading_layer"] = numba.threading_layer()
    except ValueError:
        info["threading_layer"] = None
    out = {
        "schema": 2,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "mode": "quick" if args.quick else "full",
        "repeat": repeat,
        "min_total_s": min_total,
        "wall_s": time.perf_counter() - started,
        "machine": info,
        "compile": compile_info,
        "compile_models": compile_models,
        "memory": memory_info,
        "targets": targets.evaluate(rows, memory_info, compile_models),
        "results": rows,
        "splits": splits,
    }
    print("\n".join(render(out, workloads)))
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(out, indent=1) + "\n")
        print(f"results written to {path}", file=sys.stderr)
    _plot(out, args.plot)
    return 0


def render(out, workloads):
    """The report's lines for a run's results (``out`` as written to JSON)."""
    from . import report, targets

    rows = out["results"]
    lines = [
        f"fasthmm benchmarks ({out['mode']} run {out['created']}, "
        f"median of >= {out['repeat']} runs per call)"
    ]
    lines += report.machine_lines(out["machine"])
    lines += report.results_lines(rows, workloads, out["repeat"])
    lines += report.split_lines(out["splits"])
    lines += report.memory_lines(out.get("memory"))
    lines += report.compile_lines(out.get("compile"))
    lines += report.compile_model_lines(out.get("compile_models"))
    lines += report.target_lines(
        targets.evaluate(rows, out.get("memory"), out.get("compile_models"))
    )
    lines.append("")
    lines += report.load_lines(out["machine"].get("load"))
    if out.get("wall_s") is not None:
        lines.append(f"benchmark wall time {out['wall_s']:.0f} s")
    return lines


def _plot(out, path):
    if path:
        from . import plot

        written = plot.plot(out, path)
        if written:
            print(f"plot written to {written}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
