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
    return "-" if n_bytes is None else f"{n_bytes / 2**20:.1f}"


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


def results_lines(rows, workloads, repeat=5):
    lines = []
    main = [r for r in rows if "/" not in r["operation"]]
    wide = [r for r in main if workloads[r["workload"]].layout == "wide"]
    main = [r for r in main if workloads[r["workload"]].layout != "wide"]
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
            if r["time_scale"] != 1:
                impl += "*"
                notes[r["implementation"]] = (
                    f"* {r['implementation']}: timed on the first "
                    f"1/{r['time_scale']:g} of the samples and "
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
    if wide:
        lines += wide_lines(wide, workloads, repeat)
    return lines


WIDE_IMPLS = ("hmmlearn-log", "hmmlearn-scaling", "naive")


def _cell_ms(r, repeat):
    if r is None:
        return "-"
    mark = "*" if r["time_scale"] != 1 else ""
    mark += "~" if r["n_runs"] < repeat else ""
    return _ms(r["time_per_call_s"]) + mark


def _ratio(r):
    if r is None or not r.get("ratio_vs_baseline"):
        return "-"
    x = r["ratio_vs_baseline"]
    return f"{x:.0f}" if x >= 100 else f"{x:.1f}"


def wide_lines(rows, workloads, repeat=5):
    """One table per workload: per (size, operation), fasthmm's time, the
    others' times and their ratios to fasthmm, the 1 -> 2 thread speed-up."""
    lines = []
    busy_seen = scaled = fewer = False
    for wname in dict.fromkeys(r["workload"] for r in rows):
        w = workloads[wname]
        lines += ["", f"== {wname}: {w.description}"]
        header = [
            "size",
            "operation",
            "fasthmm ms",
            "hl-log ms",
            "hl-scal ms",
            "naive ms",
            "log/fh",
            "scal/fh",
            "naive/fh",
            "1->2 thr",
            "% dgemm",
            "peak MB",
            "check",
        ]
        cells = {}
        for r in rows:
            if r["workload"] == wname:
                cells[r["label"], r["operation"], r["implementation"]] = r
        table, prev = [], None
        for label, op in dict.fromkeys(
            (r["label"], r["operation"]) for r in rows if r["workload"] == wname
        ):
            fh = cells.get((label, op, w.baseline))
            one = cells.get((label, op, "fasthmm-1thread"))
            others = [cells.get((label, op, i)) for i in WIDE_IMPLS]
            present = [r for r in [fh, one, *others] if r is not None]
            scaled |= any(r["time_scale"] != 1 for r in present)
            fewer |= any(r["n_runs"] < repeat for r in present)
            bad = [
                f"{r['implementation']} {r['discrepancy']:.0e}"
                for r in others
                if r is not None and r["agrees"] is False
            ]
            check = "ok" if not bad else "MISMATCH " + ", ".join(bad)
            if one is not None:
                speedup = f"{one['time_per_call_s'] / fh['time_per_call_s']:.2f}"
                if one["discrepancy"] == 0.0:
                    speedup += " ="
                else:
                    speedup += " !="
                    check += " THREADS DIFFER"
            else:
                speedup = "-"
            if any((r.get("other_load") or 0.0) > BUSY for r in present):
                check += " BUSY"
                busy_seen = True
            frac = fh.get("fraction_of_dgemm") if fh else None
            table.append(
                [
                    "" if prev == label else label.split(",")[0],
                    op,
                    _cell_ms(fh, repeat),
                    *[_cell_ms(r, repeat) for r in others],
                    *[_ratio(r) for r in others],
                    speedup,
                    f"{100 * frac:.1f}%" if frac else "",
                    _mb(fh["peak_memory_bytes"]) if fh else "-",
                    check,
                ]
            )
            prev = label
        sizes = ", ".join(
            dict.fromkeys(r["label"] for r in rows if r["workload"] == wname)
        )
        lines.append(f"   sizes: {sizes}")
        lines += _table(header, table, "<<>>>>>>>>>><")
    lines += [
        "",
        "Model tables: ms per call (median); hl-log / hl-scal: hmmlearn "
        "implementation='log' / 'scaling'; x/fh: that time over fasthmm's; "
        "1->2 thr: fasthmm time with 1 Numba thread over the default (2), "
        "'=' when the results are bit-for-bit identical; % dgemm: forward "
        "recursion flops (2*K^2 per step) / score time, as a fraction of dgemm; "
        "peak MB: tracemalloc peak of one fasthmm call (NumPy buffers, not "
        "Numba-internal scratch); check: hmmlearn and naive against fasthmm on "
        "the same samples (tolerance 1e-8: log-likelihoods relative, "
        "posteriors absolute, Viterbi path log-probability, startprob_/"
        "transmat_ after one EM iteration).",
        "em = fit(n_iter=1, init_params='', tol=0) from fixed parameters on a "
        "new model (validation included); hmmlearn GMMHMM with the k-means of "
        "its _init skipped (see benchmarks/models.py). No naive EM.",
    ]
    if scaled:
        lines.append(
            "* timed on part of the input and scaled linearly: naive on the "
            "first 10,000 samples, hmmlearn at K=64 on the first 25 sequences "
            "(the log-emission matrix of naive is computed untimed)."
        )
    if fewer:
        lines.append(
            f"~ fewer than {repeat} timed runs: calls whose warm-up took >= 1 s "
            "(hmmlearn, naive) are timed 3 times after the warm-up."
        )
    if busy_seen:
        lines.append(
            f"BUSY: other processes used > {BUSY} CPUs while a call of that row "
            "was timed: its time is inflated"
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


def memory_lines(memory):
    if not memory:
        return []
    lines = [
        "",
        "== peak memory of fit (subprocess, resident set; default init, "
        "n_iter=3): peak during fit minus resident before it, against "
        "input + 2 (n_samples x K) float64 + 100 MB",
    ]
    table = []
    for m in memory:
        peak = m["fit_peak_bytes"]
        table.append(
            [
                m["workload"],
                f"K={m['n_components']}",
                f"{m['n_samples']}",
                _mb(m["input_bytes"]),
                _mb(peak),
                _mb(m["bound_bytes"]),
                "-"
                if m["within_bound"] is None
                else ("ok" if m["within_bound"] else "OVER"),
            ]
        )
    lines += _table(
        ["workload", "K", "samples", "input MB", "fit peak MB", "bound MB", ""],
        table,
        "<<>>>><",
    )
    if not all(m.get("peak_reset") for m in memory):
        lines.append(
            "(high-water mark not resettable here: peaks are ru_maxrss, upper bounds)"
        )
    return lines


def compile_model_lines(models):
    if not models:
        return []
    lines = [
        "",
        "== import + first fit (separate processes, each model with its own new "
        "NUMBA_CACHE_DIR; 3 states, 150 samples, 10 iterations; seconds)",
    ]
    table = []
    for name, m in models.items():
        for state in ("cold", "warm"):
            c = m[state]
            table.append(
                [
                    name,
                    state,
                    f"{c['import_s']:.2f}",
                    f"{c['first_fit_s']:.2f}",
                    f"{c['import_and_first_fit_s']:.2f}",
                    f"{c['process_wall_s']:.2f}",
                    f"{c['second_fit_s']:.3f}",
                    f"{c['first_score_decode_proba_s']:.2f}",
                ]
            )
    lines += _table(
        [
            "model",
            "cache",
            "import",
            "first fit",
            "import+fit",
            "process",
            "second fit",
            "then score+decode+proba",
        ],
        table,
        "<<>>>>>>",
    )
    lines.append(
        "import: numpy + fasthmm (+ numba); process: the whole subprocess from the "
        "parent, interpreter start-up included; cold first fit = compile time"
    )
    return lines


def target_lines(targets):
    if not targets:
        return []
    lines = ["", "== issue 8 targets (ratios measured side by side in this run)"]
    table = []
    for t in targets:
        if t.get("measured") is None:
            verdict, text = "not measured", ""
        else:
            verdict, text = ("met" if t["met"] else "MISSED"), t["text"]
        table.append([t["target"], verdict, text])
    lines += _table(["target", "", "measured"], table, "<<<")
    return lines
