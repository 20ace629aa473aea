"""The plain-text report of a run (the JSON document ``__main__`` writes)."""

from __future__ import annotations

import statistics

BUSY = 0.2  # CPUs used by other processes above which a timing is flagged
SHORT = {"hmmlearn-log": "hl-log", "hmmlearn-scaling": "hl-scal", "naive": "naive"}


def table(header, rows, align=None):
    """Columns padded to width; ``align``: one ``<`` or ``>`` per column
    (default: first column left, the others right)."""
    align = align or "<" + ">" * (len(header) - 1)
    rows = [[str(c) for c in r] for r in rows]
    widths = [max(len(c) for c in col) for col in zip(header, *rows)]

    def fmt(cells):
        pad = [
            c.ljust(w) if a == "<" else c.rjust(w)
            for c, w, a in zip(cells, widths, align)
        ]
        return "  ".join(pad).rstrip()

    return [fmt(header), fmt(["-" * w for w in widths]), *map(fmt, rows)]


def ms(seconds):
    if seconds is None:
        return "-"
    x = seconds * 1e3
    return f"{x:.0f}" if x >= 100 else f"{x:.1f}" if x >= 10 else f"{x:.2f}"


def mb(n_bytes):
    return "-" if n_bytes is None else f"{n_bytes / 2**20:.1f}"


def ratio(x):
    return "-" if x is None else f"{x:.0f}" if x >= 100 else f"{x:.1f}"


def machine_lines(m):
    blas, d = m["blas"], m.get("dgemm")
    mhz = f", {m['cpu_mhz']:.0f} MHz" if m.get("cpu_mhz") else ""
    env = " ".join(f"{k}={v}" for k, v in m.get("env", {}).items())
    lines = [
        f"fasthmm {m['fasthmm']} (git {m['git_revision']}), python {m['python']}, "
        f"numpy {m['numpy']}, numba {m['numba']}",
        f"CPU      {m['cpu_model']}, {m['logical_cpus']} logical CPUs{mhz}, "
        f"flags: {' '.join(m['cpu_flags']) or '?'}",
        f"threads  numba {m['numba_threads']} (threading layer "
        f"{m.get('threading_layer', '?')}, SVML {'on' if m['numba_svml'] else 'off'})"
        f", BLAS {blas.get('library')} default {blas.get('threads')} threads",
        f"env      {env or '(no NUMBA_/OMP_/BLAS thread variables set)'}",
    ]
    if d:
        limit = (
            f"BLAS limited to {d['threads']} threads"
            if d["threads"]
            else "BLAS default threads"
        )
        lines.append(
            f"dgemm    {d['n']}x{d['n']} float64 matmul: {ms(d['median_s'])} ms "
            f"median -> {d['gflops']:.1f} GFLOP/s ({limit})"
        )
    return lines


def _gflops(r, dgemm, time_key="median_s"):
    if not r.get("flops"):
        return "", ""
    g = r["flops"] / r[time_key] / 1e9
    return f"{g:.2f}", f"{100 * g / dgemm:.1f}%" if dgemm else ""


def _cell(r, repeat):
    if r is None:
        return "-"
    return ms(r["median_s"]) + "*" * (r["scale"] != 1) + "~" * (r["n_runs"] < repeat)


def workload_lines(rows, title, repeat, threads, dgemm):
    """One table: per (size, operation) fasthmm's time, the others' times and
    their ratios to it, the 1-thread slow-down, throughput, memory, checks."""
    cells = {(r["label"], r["operation"], r["implementation"]): r for r in rows}
    keys = list(dict.fromkeys((r["label"], r["operation"]) for r in rows))
    others = [i for i in SHORT if any(k[2] == i for k in cells)]
    one_thread = any(k[2] == "fasthmm-1thread" for k in cells)
    header = ["size", "operation", "fasthmm ms", *[f"{SHORT[i]} ms" for i in others]]
    header += [f"{SHORT[i]}/fh" for i in others]
    header += [f"1->{threads} thr"] * one_thread + [
        "GFLOP/s",
        "% dgemm",
        "peak MB",
        "check",
    ]
    out, prev, busy = [], None, False
    for label, op in keys:
        fh = cells[label, op, "fasthmm"]
        rs = [cells.get((label, op, i)) for i in others]
        checked = [r for r in rs if r is not None and r["discrepancy"] is not None]
        bad = [
            f"{r['implementation']} {r['discrepancy']:.0e}"
            for r in checked
            if not r["agrees"]
        ]
        worst = max((r["discrepancy"] for r in checked), default=None)
        check = (
            "MISMATCH " + ", ".join(bad)
            if bad
            else "ok"
            if worst is None
            else f"ok ({worst:.0e})"
        )
        row = [label.split(",")[0] if label != prev else "", op, _cell(fh, repeat)]
        row += [_cell(r, repeat) for r in rs]
        row += [ratio(r and r["median_s"] / fh["median_s"]) for r in rs]
        one = cells.get((label, op, "fasthmm-1thread"))
        if one_thread:
            same = one["discrepancy"] == 0.0
            check += "" if same else " THREADS DIFFER"
            row.append(
                f"{one['median_s'] / fh['median_s']:.2f} " + ("=" if same else "!=")
            )
        if any((r.get("other_load") or 0) > BUSY for r in [fh, one, *rs] if r):
            check, busy = check + " BUSY", True
        out.append(row + [*_gflops(fh, dgemm), mb(fh["peak_bytes"]), check])
        prev = label
    sizes = ", ".join(dict.fromkeys(k[0] for k in keys))
    lines = ["", f"== {rows[0]['workload']}: {title}", f"   sizes: {sizes}"]
    return lines + table(header, out, "<<" + ">" * (len(header) - 3) + "<"), busy


def results_lines(out, titles):
    rows = [r for r in out["results"] if "/" not in r["operation"]]
    m, repeat = out["machine"], out["repeat"]
    dgemm = (m.get("dgemm") or {}).get("gflops")
    lines, busy = [], False
    for w in dict.fromkeys(r["workload"] for r in rows):
        more, b = workload_lines(
            [r for r in rows if r["workload"] == w],
            titles.get(w, w),
            repeat,
            m["numba_threads"],
            dgemm,
        )
        lines, busy = lines + more, busy or b
    lines += [
        "",
        "ms: median time per call; hl-log / hl-scal: hmmlearn implementation='log' / "
        "'scaling'; x/fh: that time over fasthmm's (> 1: fasthmm is faster); "
        f"1->{m['numba_threads']} thr: fasthmm's time on 1 Numba thread over its time "
        "on the default number, timed alternately, '=' when the results are "
        "bit-for-bit identical; GFLOP/s and % dgemm: forward recursion flops "
        "(2*K^2 per step) over the forward/score time, as a fraction of this "
        "machine's dgemm; peak MB: tracemalloc peak of one fasthmm call (NumPy "
        "buffers, not Numba-internal scratch); check: largest discrepancy of "
        "hmmlearn and naive from fasthmm on the same samples (tolerance 1e-8: "
        "log-likelihoods relative, posteriors absolute, Viterbi path "
        "log-probability, startprob_/transmat_ after one EM iteration).",
        "em = fit(n_iter=1, init_params='', tol=0) from the data's parameters on "
        "a new model (validation included); hmmlearn GMMHMM with the k-means of "
        "its _init skipped. naive has no EM; its log-emissions are computed untimed.",
    ]
    if any(r["scale"] != 1 for r in rows):
        lines.append(
            "* timed on the first samples and scaled linearly: naive on 10,000, "
            "hmmlearn at K=64 on 25 of the 100 sequences."
        )
    if any(r["n_runs"] < repeat for r in rows):
        lines.append(
            f"~ fewer than {repeat} timed runs: calls whose warm-up took >= 1 s "
            "(hmmlearn, naive) are timed 3 times."
        )
    if busy:
        lines.append(
            f"BUSY: other processes used > {BUSY} CPUs while that row was timed: "
            "its times are inflated."
        )
    return lines


def split_lines(rows, dgemm):
    """Each functional-API call's best time against its steps' best times."""
    api = {
        (r["label"], r["operation"]): r
        for r in rows
        if r["implementation"] == "fasthmm"
    }
    parts = [r for r in rows if "/" in r["operation"]]
    if not parts:
        return []
    lines = [
        "",
        "== kernel split of the functional API (fasthmm, best times): call = steps "
        "+ rest (rest: copies, allocation, first touch of new buffers, and "
        "validation where not listed)",
    ]
    prev = None
    for label, op in dict.fromkeys(
        (r["label"], r["operation"].split("/")[0]) for r in parts
    ):
        if label != prev:
            lines.append(label)
            prev = label
        total = api[label, op]["best_s"]
        mine = [
            r
            for r in parts
            if r["label"] == label and r["operation"].startswith(op + "/")
        ]
        text = []
        for r in mine:
            g, frac = _gflops(r, dgemm, "best_s")
            extra = f", {g} GFLOP/s = {frac} dgemm" if g else ""
            name = r["operation"].split("/")[1]
            text.append(
                f"{name} {ms(r['best_s'])} ({100 * r['best_s'] / total:.0f}%{extra})"
            )
        rest = total - sum(r["best_s"] for r in mine)
        if rest >= 0:
            text.append(f"rest {ms(rest)} ({100 * rest / total:.0f}%)")
        else:  # best times of separate runs: the parts may add up to more
            text.append("rest ~0 (the steps' best times exceed the call's: noise)")
        busy = "  [BUSY]" if (api[label, op].get("other_load") or 0) > BUSY else ""
        lines.append(f"  {op:<17} {ms(total):>7} ms = " + " + ".join(text) + busy)
    return lines


def memory_lines(memory):
    if not memory:
        return []
    rows = [
        [
            m["workload"],
            f"K={m['n_components']}",
            m["n_samples"],
            mb(m["input_bytes"]),
            mb(m["fit_peak_bytes"]),
            mb(m["bound_bytes"]),
            "-" if m["within_bound"] is None else "yes" if m["within_bound"] else "NO",
        ]
        for m in memory
    ]
    header = [
        "workload",
        "K",
        "samples",
        "input MB",
        "fit peak MB",
        "expected MB",
        "within",
    ]
    lines = [
        "",
        "== peak memory of fit (own process; default init, n_iter=3): resident-set "
        "peak during the fit minus the resident set before it; expected: at most "
        "input + 2 (n_samples x K) float64 + 100 MB",
    ]
    lines += table(header, rows, "<<>>>><")
    if not all(m.get("peak_reset") for m in memory):
        lines.append(
            "(high-water mark not resettable here: peaks are ru_maxrss, upper bounds)"
        )
    return lines


def compile_lines(c):
    if not c:
        return []
    cold, warm = c["cold"], c["warm"]
    rows = [
        [f"import {m}", cold[f"import_{m}_s"], warm[f"import_{m}_s"]]
        for m in ("numpy", "numba", "fasthmm")
    ]
    rows += [
        [f"first {n}()", cold["first_call_s"][n], warm["first_call_s"][n]]
        for n in cold["first_call_s"]
    ]
    rows.append(
        [
            "second calls, all three",
            sum(cold["second_call_s"].values()),
            sum(warm["second_call_s"].values()),
        ]
    )
    rows.append(["total: imports + first calls", cold["total_s"], warm["total_s"]])
    lines = [
        "",
        "== Numba compile time of the functional API (own processes sharing a new, empty NUMBA_CACHE_DIR; tiny input; seconds)",
    ]
    lines += table(
        ["", "cold cache", "warm cache"],
        [[a, f"{b:.3f}", f"{c:.3f}"] for a, b, c in rows],
    )
    return lines + [
        f"cold run wrote {c['cache_files']} cache files; a kernel shared by several "
        "functions (the exponentials) is compiled by the first called, forward()"
    ]


def compile_model_lines(models):
    if not models:
        return []
    keys = (
        "import_s",
        "first_fit_s",
        "import_and_first_fit_s",
        "process_wall_s",
        "second_fit_s",
        "first_score_decode_proba_s",
    )
    rows = [
        [
            n,
            s,
            *(
                f"{m[s][k]:.3f}" if k == "second_fit_s" else f"{m[s][k]:.2f}"
                for k in keys
            ),
        ]
        for n, m in models.items()
        for s in ("cold", "warm")
    ]
    header = [
        "model",
        "cache",
        "import",
        "first fit",
        "import+fit",
        "process",
        "second fit",
        "then score+decode+proba",
    ]
    lines = [
        "",
        "== import + first fit (own processes, each model with a new NUMBA_CACHE_DIR; 3 states, 150 samples, 10 iterations; seconds)",
    ]
    return (
        lines
        + table(header, rows, "<<>>>>>>")
        + [
            "import: numpy + fasthmm (+ numba); process: the whole subprocess seen from "
            "the parent, interpreter start-up included; cold first fit = compile time"
        ]
    )


def speed_words(x):
    """A ratio of times (reference over fasthmm) in words: "2.1x faster" when
    above 1, "1.1x slower" (the inverse) when below, "as fast" within 2%."""
    if 1 / 1.02 <= x <= 1.02:
        return "as fast"
    return f"{x:.1f}x faster" if x > 1 else f"{1 / x:.1f}x slower"


def _spread(xs):
    xs = sorted(xs)
    return (
        f"{ratio(statistics.median(xs))} ({ratio(xs[0])} .. {ratio(xs[-1])})"
        if xs
        else "-"
    )


def summary_lines(out):
    """What the run says in a few lines: speed-ups over the references, threads."""
    rows = [
        r
        for r in out["results"]
        if r["workload"] != "log-emissions" and "/" not in r["operation"]
    ]
    base = {
        (r["workload"], r["label"], r["operation"]): r["median_s"]
        for r in rows
        if r["implementation"] == "fasthmm"
    }
    ops = list(dict.fromkeys(r["operation"] for r in rows))
    others = [i for i in SHORT if any(r["implementation"] == i for r in rows)]
    if not ops or not others:
        return []

    def ratios(op, impl):
        return [
            r["median_s"] / base[r["workload"], r["label"], op]
            for r in rows
            if r["operation"] == op and r["implementation"] == impl
        ]

    lines = [
        "",
        "== summary over the model tables: time of the reference over fasthmm's, median (min .. max); > 1: fasthmm is faster",
    ]
    lines += table(
        ["operation", *others],
        [[op, *(_spread(ratios(op, i)) for i in others)] for op in ops],
    )
    one = [r for r in rows if r["implementation"] == "fasthmm-1thread"]
    if one:
        x = [
            r["median_s"] / base[r["workload"], r["label"], r["operation"]] for r in one
        ]
        same = sum(r["discrepancy"] == 0.0 for r in one)
        lines.append(
            f"{out['machine']['numba_threads']} threads instead of 1: "
            f"{speed_words(statistics.median(x))} (median; {ratio(min(x))} .. "
            f"{ratio(max(x))} times one thread's speed); "
            f"results bit-for-bit identical in {same} of {len(one)} cases"
        )
    return lines


def load_lines(out):
    load, lines = out["machine"].get("load"), [""]
    if load:
        busy = load["other_load"] + load["steal_load"] > BUSY
        lines.append(
            f"machine load from other processes during the run: {load['other_load']:.2f} "
            f"CPUs on average, hypervisor steal {load['steal_load']:.2f} CPUs"
            + ("  ** the machine was busy: timings are noisy **" if busy else "")
        )
    if out.get("wall_s") is not None:
        lines.append(f"benchmark wall time {out['wall_s']:.0f} s")
    return lines


QUICK_REFS = {
    "hmmlearn-log": "hmmlearn log",
    "hmmlearn-scaling": "hmmlearn scaling",
    "naive": "naive NumPy",
}


def _size(params):
    return f"K={params['n_components']} {params['n_sequences']}x{params['n_steps']}"


def first_call_s(rows):
    """Per workload, what fasthmm's first calls took beyond their run time:
    compile time (empty Numba cache) or cache loading, summed over the
    operations of its first size (later sizes reuse the same kernels)."""
    out = {}
    for r in rows:
        if r["implementation"] != "fasthmm" or "/" in r["operation"]:
            continue
        first = out.setdefault(r["workload"], {"label": r["label"], "s": 0.0})
        if r["label"] == first["label"]:
            first["s"] += max(0.0, r["warmup_s"] - r["median_s"])
    return {w: v["s"] for w, v in out.items()}


def quick_lines(out):
    """The quick run in one table: per model, size and operation fasthmm's
    time and each reference's speed next to it, then the first-call cost."""
    rows = [r for r in out["results"] if "/" not in r["operation"]]
    cells = {
        (r["workload"], r["label"], r["operation"], r["implementation"]): r
        for r in rows
    }
    refs = [i for i in QUICK_REFS if any(r["implementation"] == i for r in rows)]
    table_rows, busy, prev = [], False, None
    for r in rows:
        if r["implementation"] != "fasthmm":
            continue
        key = (r["workload"], r["label"], r["operation"])
        others = [cells.get((*key, i)) for i in refs]
        bad = [o["implementation"] for o in others if o and o["agrees"] is False]
        loaded = any((o.get("other_load") or 0) > BUSY for o in [r, *others] if o)
        busy = busy or loaded
        check = ("MISMATCH " + ", ".join(bad) if bad else "ok") + " BUSY" * loaded
        model = r["workload"] if r["workload"] != prev else ""
        prev = r["workload"]
        table_rows.append(
            [model, _size(r["params"]), r["operation"], ms(r["median_s"])]
            + [
                "-"
                if o is None
                else speed_words(o["median_s"] / r["median_s"])
                + "*" * (o["scale"] != 1)
                for o in others
            ]
            + [check]
        )
    header = ["model", "size", "operation", "fasthmm ms"]
    header += [f"vs {QUICK_REFS[i]}" for i in refs] + ["check"]
    lines = [
        "",
        "== fasthmm's median time per call, and how much faster it is than each "
        "reference on the same call",
        *table(header, table_rows, "<<<" + ">" * (len(header) - 4) + "<"),
    ]
    first = first_call_s(out["results"])
    if first:
        lines += [
            "",
            "first calls of each model (compiling, or loading Numba's cache), not "
            "counted above: " + ", ".join(f"{w} {s:.1f} s" for w, s in first.items()),
        ]
    lines += [
        "",
        "sizes: K states, sequences x steps; em = one EM iteration "
        "(fit with n_iter=1); naive NumPy has no EM.",
        "check: hmmlearn's and naive's results agree with fasthmm's (1e-8).",
    ]
    if any(r["scale"] != 1 for r in rows):
        lines.append("* timed on the first samples and scaled to the whole input.")
    if busy:
        lines.append(
            f"BUSY: other processes used > {BUSY} CPUs while that row was timed."
        )
    return lines + [
        "More: python -m benchmarks (full run, ~10 min), --startup (cold-cache "
        "compile time per kernel), --list (workloads)."
    ]
