"""Plain-text tables of a benchmark run."""

from __future__ import annotations

BUSY = 0.2  # CPUs used by other processes above which a timing is flagged


def _ms(seconds):
    if seconds is None:
        return "-"
    ms = seconds * 1e3
    if ms >= 100:
        return f"{ms:.0f}"
    if ms >= 10:
        return f"{ms:.1f}"
    return f"{ms:.2f}"


def _mb(n_bytes):
    return f"{n_bytes / 2**20:.1f}"


def _table(header, rows, align):
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]

    def fmt(cells):
        return "  ".join(
            str(c).rjust(w) if a == ">" else str(c).ljust(w)
            for c, w, a in zip(cells, widths, align)
        ).rstrip()

    lines = [fmt(header), fmt(["-" * w for w in widths])]
    lines.extend(fmt(r) for r in rows)
    return lines


def machine_lines(m):
    blas = m["blas"]
    flags = " ".join(m["cpu_flags"]) or "?"
    mhz = f", {m['cpu_mhz']:.0f} MHz" if m.get("cpu_mhz") else ""
    lines = [
        f"fasthmm {m['fasthmm']} (git {m['git_revision']}), python {m['python']}, "
        f"numpy {m['numpy']}, numba {m['numba']}",
        f"CPU      {m['cpu_model']}, {m['logical_cpus']} logical CPUs{mhz}, "
        f"flags: {flags}",
        f"threads  numba {m['numba_threads']} (threading layer "
        f"{m.get('threading_layer', '?')}, SVML {'on' if m['numba_svml'] else 'off'})"
        f", BLAS {blas.get('library')} default {blas.get('threads')} threads",
    ]
    env = " ".join(f"{k}={v}" for k, v in m.get("env", {}).items())
    lines.append(f"env      {env or '(no NUMBA_/OMP_/BLAS thread variables set)'}")
    d = m.get("dgemm")
    if d:
        limit = (
            f"BLAS limited to {d['threads']} threads"
            if d["threads"]
            else "BLAS default threads"
        )
        lines.append(
            f"dgemm    {d['n']}x{d['n']} float64 matmul: {_ms(d['median_s'])} ms "
            f"median -> {d['gflops']:.1f} GFLOP/s ({limit})"
        )
    return lines


def results_lines(rows, workloads):
    lines = []
    main = [r for r in rows if "/" not in r["operation"]]
    for wname in dict.fromkeys(r["workload"] for r in main):
        w = workloads[wname]
        lines += ["", f"== {wname}: {w.description}"]
        header = [
            "size",
            "operation",
            "implementation",
            "ms/call",
            "best ms",
            f"x {w.baseline}",
            "GFLOP/s",
            "% dgemm",
            "peak MB",
            "check",
        ]
        table, notes, prev = [], {}, None
        for r in (r for r in main if r["workload"] == wname):
            impl = r["implementation"]
            if r["n_sequences_timed"] < r["n_sequences"]:
                impl += "*"
                notes[r["implementation"]] = (
                    f"* {r['implementation']}: timed on the first "
                    f"{r['n_sequences_timed']} of {r['n_sequences']} sequences and "
                    f"scaled x{r['time_scale']:g} (time is linear in the number of "
                    f"sequences); peak memory measured on all {r['n_sequences']}"
                )
            same = prev is not None and prev["label"] == r["label"]
            same_op = same and prev["operation"] == r["operation"]
            if r["agrees"] is None:
                check = ""
            else:
                check = "ok" if r["agrees"] else "MISMATCH"
                check += f" ({r['discrepancy']:.0e})"
            busy = (r.get("other_load") or 0.0) > BUSY
            if busy:
                check = (check + " " if check else "") + "BUSY"
                notes["busy"] = (
                    f"BUSY: other processes used > {BUSY} CPUs while this row was "
                    "timed: its time is inflated"
                )
            table.append(
                [
                    "" if same else r["label"].split(",")[0],
                    "" if same_op else r["operation"],
                    impl,
                    _ms(r["time_per_call_s"]),
                    _ms(r["best_per_call_s"]),
                    f"{r['ratio_vs_baseline']:.1f}" if r["ratio_vs_baseline"] else "-",
                    f"{r['gflops']:.2f}" if r["gflops"] else "",
                    (
                        f"{100 * r['fraction_of_dgemm']:.1f}%"
                        if r["fraction_of_dgemm"]
                        else ""
                    ),
                    _mb(r["peak_memory_bytes"]),
                    check,
                ]
            )
            prev = r
        sizes = ", ".join(
            dict.fromkeys(r["label"] for r in main if r["workload"] == wname)
        )
        lines.append(f"   sizes: {sizes}")
        lines += _table(header, table, "<<<>>>>>><")
        lines += list(notes.values())
        lines.append(
            "ms/call: median; best: minimum; x fasthmm: ratio of medians; "
            "GFLOP/s: 2*K^2 flops per step (forward recursion) / median time; "
            "% dgemm: fraction of this machine's dgemm GFLOP/s; "
            "check: discrepancy from the baseline on the same sequences"
        )
    return lines


def split_lines(splits, dgemm=None):
    if not splits:
        return []
    lines = [
        "",
        "== kernel split (fasthmm, best times): API call = kernels + rest "
        "(rest: the API call minus the parts timed, i.e. copies, allocation, "
        "first touch of new buffers, and validation where not listed)",
    ]
    label = None
    for s in splits:
        if s["label"] != label:
            label = s["label"]
            lines.append(f"{label}")
        api = s["api_s"]
        parts = []
        for p in s["parts"]:
            extra = f"{100 * p['time_s'] / api:.0f}%"
            if p["gflops"]:
                extra += f", {p['gflops']:.2f} GFLOP/s"
                if p["fraction_of_dgemm"]:
                    extra += f" = {100 * p['fraction_of_dgemm']:.1f}% dgemm"
            parts.append(f"{p['name']} {_ms(p['time_s'])} ({extra})")
        parts.append(f"rest {_ms(s['rest_s'])} ({100 * s['rest_s'] / api:.0f}%)")
        busy = "  [BUSY]" if (s.get("other_load") or 0.0) > BUSY else ""
        lines.append(
            f"  {s['operation']:<17} {_ms(api):>7} ms = " + " + ".join(parts) + busy
        )
    return lines


def compile_lines(c):
    if not c:
        return []
    cold, warm = c["cold"], c["warm"]
    rows = [
        ["import numpy", cold["import_numpy_s"], warm["import_numpy_s"]],
        ["import numba", cold["import_numba_s"], warm["import_numba_s"]],
        ["import fasthmm", cold["import_fasthmm_s"], warm["import_fasthmm_s"]],
    ]
    for name in cold["first_call_s"]:
        rows.append(
            [f"first {name}()", cold["first_call_s"][name], warm["first_call_s"][name]]
        )
    rows.append(
        [
            "second calls, all three",
            sum(cold["second_call_s"].values()),
            sum(warm["second_call_s"].values()),
        ]
    )
    rows.append(["total: imports + first calls", cold["total_s"], warm["total_s"]])
    table = [[r[0], f"{r[1]:.3f}", f"{r[2]:.3f}"] for r in rows]
    lines = [
        "",
        "== Numba compile time (separate processes, new empty NUMBA_CACHE_DIR, "
        "tiny input; seconds)",
    ]
    lines += _table(["", "cold cache", "warm cache"], table, "<>>")
    lines.append(
        f"cold run wrote {c['cache_files']} cache files; a kernel shared by several "
        "functions (the exponentials) is compiled by the first called, forward()"
    )
    return lines


def load_lines(load):
    if not load:
        return []
    return [
        f"machine load from other processes during the run: "
        f"{load['other_load']:.2f} CPUs on average, hypervisor steal "
        f"{load['steal_load']:.2f} CPUs"
        + (
            "  ** WARNING: the machine was busy; timings are noisy **"
            if load["other_load"] + load["steal_load"] > BUSY
            else ""
        )
    ]
