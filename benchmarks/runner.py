"""Run every registered (workload, operation, implementation) and collect rows."""

from __future__ import annotations

import importlib
import sys

from .machine import LoadMonitor
from .registry import WORKLOADS, Call, implementations
from .timing import measure_interleaved, peak_memory

# Modules that register workloads and implementations when imported. A new
# family of workloads (model-level fit/score/decode, hmmlearn side by side) is
# one more module here.
SUITES = ("benchmarks.core", "benchmarks.models")

# Non-baseline calls whose warm-up takes this long are timed only 3 times.
SLOW_S = 1.0


def load_suites():
    for name in SUITES:
        importlib.import_module(name)
    return WORKLOADS


def _as_call(prepared):
    return prepared if isinstance(prepared, Call) else Call(run=prepared)


def _call_once(prepared):
    call = _as_call(prepared)
    if call.setup is not None:
        call.setup()
    return call.run()


def _log(msg):
    print(msg, file=sys.stderr, flush=True)


def _row(w, label, params, impl, timing, sizes, peak, discrepancy, dgemm):
    n_total, n_timed, scale = sizes
    per_call = timing.median * scale
    flops = w.flops(impl.operation, params)
    gflops = flops / per_call / 1e9 if flops else None
    return {
        "workload": w.name,
        "label": label,
        "params": dict(params),
        "operation": impl.operation,
        "implementation": impl.implementation,
        "baseline": impl.implementation == w.baseline,
        "n_sequences": n_total,
        "n_sequences_timed": n_timed,
        "time_scale": scale,
        "n_runs": timing.n_runs,
        "times_s": [float(t) for t in timing.times],
        "warmup_s": float(timing.warmup),
        "median_s": float(timing.median),
        "time_per_call_s": float(per_call),
        "best_per_call_s": float(timing.best * scale),
        "ratio_vs_baseline": None,  # filled in by run()
        "flops": flops,
        "gflops": gflops,
        "fraction_of_dgemm": gflops / dgemm if gflops and dgemm else None,
        "peak_memory_bytes": None if peak is None else int(peak),
        "discrepancy": None if discrepancy is None else float(discrepancy),
        "agrees": None if discrepancy is None else bool(discrepancy <= w.tolerance),
    }


def _groups(w):
    """Lists of implementations timed together (round-robin).

    Per operation: first the baseline with the baseline's parts of that
    operation (so that the kernel split adds up under changing load), then
    every other implementation on its own.
    """
    base = w.baseline
    top = [op for op in w.operations if "/" not in op]
    done = set()
    for op in top:
        impls = implementations(w.name, op)
        together = [i for i in impls if i.implementation == base]
        for part in w.operations:
            if part.startswith(op + "/"):
                together += [
                    i for i in implementations(w.name, part) if i.implementation == base
                ]
        together += [i for i in impls if i.with_baseline]
        groups = [together] + [
            [i] for i in impls if i.implementation != base and not i.with_baseline
        ]
        for part in w.operations:
            if part.startswith(op + "/"):
                groups += [
                    [i]
                    for i in implementations(w.name, part)
                    if i.implementation != base
                ]
        for g in groups:
            if g:
                done.update(id(i) for i in g)
                yield g
    for op in w.operations:  # parts of no registered operation
        for i in implementations(w.name, op):
            if id(i) not in done:
                yield [i]


def _timed_input(impl, data, params):
    """(input timed, (n_sequences, n_sequences timed, time scale))."""
    n_total = data.n_sequences
    limit = impl.samples_limit(params)
    if limit is not None and limit < data.n_samples:
        sub = data.head(limit)
        return sub, (n_total, sub.n_sequences, data.n_samples / sub.n_samples)
    n_timed = min(impl.max_sequences or n_total, n_total)
    return data.subset(n_timed), (n_total, n_timed, n_total / n_timed)


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
        Keep timing until the runs add up to this many seconds.
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
            label = w.describe(params)
            refs = {}  # baseline results, by (operation, number of samples)
            for group in _groups(w):
                subs, calls = [], []
                for impl in group:
                    sub, sizes_ = _timed_input(impl, data, params)
                    call = _as_call(impl.prepare(sub))
                    subs.append((sizes_, sub, call))
                    calls.append((call.run, call.setup))
                names_ = ", ".join(f"{i.operation} / {i.implementation}" for i in group)
                _log(f"[{wname}] {label}: {names_}")
                slow = None if group[0].implementation == w.baseline else SLOW_S
                monitor = LoadMonitor()
                timings = measure_interleaved(calls, repeat, min_total, slow_s=slow)
                load = monitor.stop()
                for impl, (sizes_, sub, call), timing in zip(group, subs, timings):
                    op = impl.operation
                    key = (op, sub.n_samples)
                    if impl.implementation == w.baseline:
                        refs[key] = timing.result
                    discrepancy = None
                    if impl.implementation != w.baseline and "/" not in op:
                        if key not in refs:
                            base = implementations(wname, op)[0]
                            refs[key] = _call_once(base.prepare(sub))
                        agree = impl.agree or w.agree
                        discrepancy = agree(op, timing.result, refs[key])
                    timing.result = None
                    peak = None
                    if impl.peak_memory:
                        full = call if sub is data else _as_call(impl.prepare(data))
                        peak = peak_memory(full.run, full.setup)
                    rows.append(
                        _row(
                            w,
                            label,
                            params,
                            impl,
                            timing,
                            sizes_,
                            peak,
                            discrepancy,
                            dgemm_gflops,
                        )
                    )
                    rows[-1]["other_load"] = (
                        load["other_load"] + load["steal_load"] if load else None
                    )
            refs.clear()
    base_time = {
        (r["workload"], r["label"], r["operation"]): r["time_per_call_s"]
        for r in rows
        if r["baseline"]
    }
    for r in rows:
        t = base_time.get((r["workload"], r["label"], r["operation"]))
        if t:
            r["ratio_vs_baseline"] = r["time_per_call_s"] / t
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
                "other_load": api[key].get("other_load"),
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
