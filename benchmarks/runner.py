"""Run every registered (workload, operation, implementation) and collect rows."""

from __future__ import annotations

import importlib
import sys

from .registry import WORKLOADS, Call, implementations
from .timing import measure, peak_memory

# Modules that register workloads and implementations when imported. A new
# family of workloads (model-level fit/score/decode, hmmlearn side by side) is
# one more module here.
SUITES = ("benchmarks.core",)


def load_suites():
    for name in SUITES:
        importlib.import_module(name)
    return WORKLOADS


def _as_call(prepared):
    return prepared if isinstance(prepared, Call) else Call(run=prepared)


def _log(msg):
    print(msg, file=sys.stderr, flush=True)


def run(workloads=None, quick=False, repeat=5, min_total=1.0, dgemm_gflops=None):
    """Time everything; return a list of result rows (plain dicts, JSON-ready).

    Parameters
    ----------
    workloads : list of str, optional
        Names of the workloads to run (default: all).
    quick : bool
        Smaller sizes (the workload decides which).
    repeat : int
        Least number of timed runs of each call, after one warm-up.
    min_total : float
        Keep timing a call until the runs add up to this many seconds.
    dgemm_gflops : float, optional
        The machine's dgemm throughput, for the "fraction of dgemm" column.
    """
    load_suites()
    names = list(WORKLOADS) if not workloads else list(workloads)
    rows = []
    for wname in names:
        w = WORKLOADS[wname]
        for params in w.sizes(quick):
            data = w.make(**params)
            n_total = data.n_sequences
            label = w.describe(params)
            for op in w.operations:
                refs = {}  # baseline results, by number of sequences
                base_time = None
                for impl in implementations(wname, op):
                    n_timed = min(impl.max_sequences or n_total, n_total)
                    sub = data.subset(n_timed)
                    _log(f"[{wname}] {label}: {op} / {impl.implementation}")
                    call = _as_call(impl.prepare(sub))
                    timing = measure(
                        call.run, repeat=repeat, setup=call.setup, min_total=min_total
                    )
                    scale = n_total / n_timed
                    per_call = timing.median * scale
                    is_base = impl.implementation == w.baseline
                    if is_base:
                        base_time = per_call
                        refs[n_timed] = timing.result

                    full = call if n_timed == n_total else _as_call(impl.prepare(data))
                    peak = peak_memory(full.run, full.setup)

                    discrepancy = None
                    if not is_base and "/" not in op:
                        if n_timed not in refs:
                            base_impl = implementations(wname, op)[0]
                            refs[n_timed] = _as_call(base_impl.prepare(sub)).run()
                        discrepancy = w.agree(op, timing.result, refs[n_timed])
                    timing.result = None

                    flops = w.flops(op, params)
                    gflops = flops / per_call / 1e9 if flops else None
                    rows.append(
                        {
                            "workload": wname,
                            "label": label,
                            "params": dict(params),
                            "operation": op,
                            "implementation": impl.implementation,
                            "baseline": is_base,
                            "n_sequences": n_total,
                            "n_sequences_timed": n_timed,
                            "time_scale": scale,
                            "n_runs": timing.n_runs,
                            "times_s": [float(t) for t in timing.times],
                            "warmup_s": float(timing.warmup),
                            "median_s": float(timing.median),
                            "time_per_call_s": float(per_call),
                            "best_per_call_s": float(timing.best * scale),
                            "ratio_vs_baseline": (
                                float(per_call / base_time) if base_time else None
                            ),
                            "flops": flops,
                            "gflops": gflops,
                            "fraction_of_dgemm": (
                                gflops / dgemm_gflops
                                if gflops and dgemm_gflops
                                else None
                            ),
                            "peak_memory_bytes": int(peak),
                            "discrepancy": (
                                None if discrepancy is None else float(discrepancy)
                            ),
                            "agrees": (
                                None
                                if discrepancy is None
                                else bool(discrepancy <= w.tolerance)
                            ),
                        }
                    )
    return rows


def splits(rows):
    """Kernel split: each operation's API time against its parts' times.

    Uses the best (minimum) time of each call rather than the median: the
    parts are timed separately, and under background load medians of
    separate measurements need not add up, while minima stay comparable.

    Returns
    -------
    list of dict
        One per (workload, parameters, operation) that has parts, with the
        API time, each part's time and the rest (API minus parts: validation,
        copies, allocation).
    """
    api = {
        (r["workload"], r["label"], r["operation"]): r
        for r in rows
        if r["baseline"] and "/" not in r["operation"]
    }
    out = {}
    for r in rows:
        if "/" not in r["operation"]:
            continue
        parent, part = r["operation"].split("/", 1)
        key = (r["workload"], r["label"], parent)
        if key not in api:
            continue
        entry = out.setdefault(
            key,
            {
                "workload": r["workload"],
                "label": r["label"],
                "params": r["params"],
                "operation": parent,
                "api_s": api[key]["best_per_call_s"],
                "parts": [],
            },
        )
        entry["parts"].append(
            {
                "name": part,
                "time_s": r["best_per_call_s"],
                "gflops": r["flops"] / r["best_per_call_s"] / 1e9
                if r["flops"]
                else None,
                "fraction_of_dgemm": (
                    r["fraction_of_dgemm"] * r["time_per_call_s"] / r["best_per_call_s"]
                    if r["fraction_of_dgemm"]
                    else None
                ),
            }
        )
    for entry in out.values():
        entry["rest_s"] = entry["api_s"] - sum(p["time_s"] for p in entry["parts"])
    return list(out.values())
