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
        "--list", action="store_true", help="list the registered cases and exit"
    )
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)

    import numba

    from . import compile_time, machine, report, runner
    from .registry import IMPLEMENTATIONS, WORKLOADS

    workloads = runner.load_suites()
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
    compile_info = None
    if not args.no_compile:
        print("measuring compile time in subprocesses ...", file=sys.stderr)
        compile_info = compile_time.measure(numba.get_num_threads())
    rows = runner.run(
        workloads=args.workload,
        quick=args.quick,
        repeat=repeat,
        min_total=min_total,
        dgemm_gflops=info["dgemm"]["gflops"],
    )
    splits = runner.splits(rows)
    info["load"] = monitor.stop()
    try:
        info["threading_layer"] = numba.threading_layer()
    except ValueError:
        info["threading_layer"] = None

    mode = "quick" if args.quick else "full"
    lines = [f"fasthmm benchmarks ({mode} run, median of >= {repeat} runs per call)"]
    lines += report.machine_lines(info)
    lines += report.results_lines(rows, workloads)
    lines += report.split_lines(splits)
    lines += report.compile_lines(compile_info)
    lines.append("")
    lines += report.load_lines(info["load"])
    lines.append(f"benchmark wall time {time.perf_counter() - started:.0f} s")
    print("\n".join(lines))

    if args.json:
        out = {
            "schema": 1,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "mode": mode,
            "repeat": repeat,
            "min_total_s": min_total,
            "machine": info,
            "compile": compile_info,
            "results": rows,
            "splits": splits,
        }
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(out, indent=1) + "\n")
        print(f"results written to {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
