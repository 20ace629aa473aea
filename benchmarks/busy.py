"""Threads on a busy machine: ``python -m benchmarks --busy N``.

Starts ``N`` competing CPU-bound processes (pure-Python loops) for the whole
measurement, then

* times one EM iteration of a few models (``fit(n_iter=1, init_params="")``
  from the data's parameters, as in the model tables) with the default number
  of Numba threads and with one thread (``numba.set_num_threads``), timed
  alternately, and checks that the fitted parameters are bit-for-bit equal;
* times two fits run at once in two worker processes (joblib when installed,
  else ``concurrent.futures``) against the same two fits one after the other
  in this process, with the default number of threads per fit and with one.

``N=0`` is the quiet reference. The competitors stop at the end, also on an
error or Ctrl-C.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import statistics
import time

# (model, K, sequences, steps) of the EM-iteration rows
EM_WORKLOADS = (
    ("categorical", 2, 100, 200),
    ("categorical", 4, 100, 1000),
    ("gaussian-diag", 4, 100, 1000),
    ("gaussian-diag", 16, 100, 1000),
    ("poisson", 4, 100, 1000),
    ("gmm-diag", 4, 100, 1000),
)
TWO_FITS = ("gaussian-diag", 16, 100, 1000)
TWO_FITS_ITER = 10
HURT = 1.10  # default/1-thread time ratio above which threads are a penalty


def _spin(stop, parent):
    """A competitor: a pure-Python busy loop until ``stop`` is set (or the
    parent process is gone)."""
    with contextlib.suppress(KeyboardInterrupt):
        while not stop.is_set() and os.getppid() == parent:
            for _ in range(100_000):
                pass


@contextlib.contextmanager
def competitors(n):
    """``n`` busy processes for the duration of the block."""
    ctx = multiprocessing.get_context("spawn")
    stop, procs = ctx.Event(), []
    try:
        for _ in range(n):
            procs.append(
                ctx.Process(target=_spin, args=(stop, os.getpid()), daemon=True)
            )
            procs[-1].start()
        yield procs
    finally:
        stop.set()
        for p in procs:
            p.join(5)
            if p.is_alive():
                p.terminate()
                p.join(5)


def _fit(X, lengths, params, model, threads, n_iter):
    """One fit with ``threads`` Numba threads: (seconds, fitted parameters)."""
    import numba

    from .data import SPECS, Data
    from .suites import new_model

    before = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        data = Data(X, lengths, params, SPECS[model])
        m = new_model(data, n_iter=n_iter)
        t0 = time.perf_counter()
        m.fit(X, lengths)
        return time.perf_counter() - t0, {n: getattr(m, n) for n in params}
    finally:
        numba.set_num_threads(before)


@contextlib.contextmanager
def _pool():
    """``(map over 2 worker processes, description)``; workers may use every CPU."""
    try:
        from joblib import Parallel, delayed, parallel_config
    except ImportError:
        from concurrent.futures import ProcessPoolExecutor

        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(2, mp_context=ctx) as ex:
            yield (
                lambda args: list(ex.map(_fit, *zip(*args))),
                "concurrent.futures.ProcessPoolExecutor(2)",
            )
        return
    cpus = os.cpu_count()
    with parallel_config("loky", n_jobs=2, inner_max_num_threads=cpus, max_nbytes=None):
        par = Parallel()
        yield (
            lambda args: par(delayed(_fit)(*a) for a in args),
            f"joblib.Parallel(n_jobs=2), workers allowed {cpus} threads "
            f"(joblib's own default: {max(cpus // 2, 1)})",
        )


def _em_rows(threads, repeat, min_total, log):
    from .data import model_data
    from .machine import LoadMonitor
    from .suites import identical, model_call, time_calls, with_threads

    rows = []
    for model, k, n_seq, n_steps in EM_WORKLOADS:
        log(f"[busy] EM iteration {model} K={k}")
        data = model_data(model, k, n_seq, n_steps)
        run, setup = model_call(data, "em")
        calls = [(run, setup), (with_threads(1, run), setup)]
        monitor = LoadMonitor()
        times, _, results = time_calls(calls, repeat, min_total)
        load = monitor.stop()
        default, one = (statistics.median(t) for t in times)
        rows.append(
            {
                "model": data.spec.title.split(",")[0],
                "workload": model,
                "size": f"K={k}, {n_seq} x {n_steps}",
                "threads": threads,
                "default_s": default,
                "one_thread_s": one,
                "identical": identical("em", *results) == 0.0,
                "loadavg": os.getloadavg()[0],
                "other_load": load and load["other_load"],
            }
        )
    return rows


def _two_fits(threads, repeat, log):
    from .data import model_data
    from .suites import identical

    model, k, n_seq, n_steps = TWO_FITS
    data = model_data(model, k, n_seq, n_steps)
    small = data.head(2 * n_steps)
    rows, reference = [], None
    with _pool() as (pmap, how):
        log(f"[busy] two fits: starting the workers ({how})")
        pmap([(small.X, small.lengths, data.params, model, 1, 2)] * 4)
        for t in dict.fromkeys((threads, 1)):
            log(f"[busy] two fits, {t} thread(s) each")
            args = [(data.X, data.lengths, data.params, model, t, TWO_FITS_ITER)] * 2
            seq, both, fitted = [], [], []
            for _ in range(repeat):
                t0 = time.perf_counter()
                fitted += [_fit(*a)[1] for a in args]
                seq.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                fitted += [r[1] for r in pmap(args)]
                both.append(time.perf_counter() - t0)
            reference = reference or fitted[0]
            same = all(identical("em", f, reference) == 0.0 for f in fitted)
            rows.append(
                {
                    "threads": t,
                    "sequential_s": statistics.median(seq),
                    "concurrent_s": statistics.median(both),
                    "identical": same,
                    "loadavg": os.getloadavg()[0],
                }
            )
    return {"how": how, "rows": rows}


def run(n, repeat=5, min_total=1.0, log=print):
    """The busy-machine measurements with ``n`` competitors (a JSON-ready dict)."""
    import numba

    threads = numba.get_num_threads()
    before = os.getloadavg()[0]
    with competitors(n):
        time.sleep(0.5)  # let the competitors start
        em = _em_rows(threads, repeat, min_total, log)
        two = _two_fits(threads, 3, log)
    return {
        "competitors": n,
        "threads": threads,
        "loadavg_before": before,
        "em": em,
        "two_fits": two,
    }


def lines(b):
    from .report import ms, table

    n, t = b["competitors"], b["threads"]
    head = [
        "",
        f"== one EM iteration on {t} Numba threads (the default) and on 1, with {n} "
        f"competing CPU-bound process{'es' * (n != 1)}; load average before: "
        f"{b['loadavg_before']:.2f}",
    ]
    rows = [
        [
            r["model"],
            r["size"],
            ms(r["one_thread_s"]),
            ms(r["default_s"]),
            f"{r['default_s'] / r['one_thread_s']:.2f}"
            + ("  threads slower" if r["default_s"] > HURT * r["one_thread_s"] else ""),
            "yes" if r["identical"] else "NO",
            f"{r['loadavg']:.2f}",
            "-" if r["other_load"] is None else f"{r['other_load']:.2f}",
        ]
        for r in b["em"]
    ]
    header = ["model", "size", "1 thread ms", f"{t} threads ms", f"{t}thr/1thr"]
    header += ["identical", "load avg", "other CPUs"]
    out = head + table(header, rows, "<<>><>>>")
    two = b["two_fits"]
    m, k, n_seq, n_steps = TWO_FITS
    out += [
        "",
        f"== two fits at once ({m}, K={k}, {n_seq} x {n_steps}, {TWO_FITS_ITER} EM "
        f"iterations each) in {two['how']}, against the same two fits one after "
        "the other in this process; wall time, median of 3",
    ]
    rows = [
        [
            r["threads"],
            f"{r['sequential_s']:.2f}",
            f"{r['concurrent_s']:.2f}",
            f"{r['sequential_s'] / r['concurrent_s']:.2f}",
            "yes" if r["identical"] else "NO",
            f"{r['loadavg']:.2f}",
        ]
        for r in two["rows"]
    ]
    header = ["threads per fit", "one after the other s", "at once s", "speed-up"]
    out += table(header + ["identical", "load avg"], rows)
    return out + [
        f"{t}thr/1thr: median time on {t} threads over the time on 1 (above "
        f"{HURT:.2f}: the extra threads made the iteration slower on this loaded "
        "machine); identical: fitted parameters bit-for-bit equal for every thread "
        "count and way of running; load avg: os.getloadavg() 1-minute average just "
        "after the row (it lags); other CPUs: CPUs used by other processes (the "
        "competitors included) while the row was timed.",
    ]
