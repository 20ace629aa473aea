"""What is timed and how: fasthmm's functional API and models, side by side
with hmmlearn (``implementation="log"`` and ``"scaling"``) and naive NumPy.

Every case is one operation on one input, with fasthmm first and the other
implementations after it. fasthmm is timed round-robin with its 1-thread run
(``numba.set_num_threads(1)``) and, for the functional API, with its parts
(:mod:`benchmarks.kernel_split`), so that background load hits them alike.
Each call is warmed up once, then timed at least ``repeat`` times and until
the runs add up to ``min_total`` seconds; calls other than fasthmm whose
warm-up takes >= 1 s are timed 3 times. Slow references run on the start of
the input (``head``) and their time is scaled linearly to the whole input;
their results are checked against fasthmm's on that same start.
"""

from __future__ import annotations

import gc
import logging
import statistics
import time
import tracemalloc
from dataclasses import dataclass, field
from typing import Callable

import numba
import numpy as np

import fasthmm

from . import kernel_split, naive
from .data import SPECS, log_emission_data, model_data
from .machine import LoadMonitor

try:
    from hmmlearn import hmm as hmmlearn
except ImportError:  # the [bench] extra is not installed
    hmmlearn = None
logging.getLogger("hmmlearn").setLevel(logging.ERROR)

TOLERANCE = 1e-8
SLOW_S, SLOW_REPEAT = 1.0, 3
NAIVE_SAMPLES = 10_000  # naive is timed on this many samples, scaled
HMMLEARN_SAMPLES_K64 = 25_000  # hmmlearn at K >= 64 likewise
FUNCTIONAL = "log-emissions"
BATCH, QUICK_BATCH = (100, 1000), (10, 1000)  # sequences x steps
LONG, QUICK_LONG = (1, 100_000), (1, 10_000)
# workload -> (model, K of a full run, K with --quick, size, size with --quick)
WORKLOADS = {
    FUNCTIONAL: (None, (4, 16, 64), (4, 16), BATCH, QUICK_BATCH),
    "gaussian-diag": ("gaussian-diag", (4, 16, 64), (4, 16), BATCH, QUICK_BATCH),
    "gaussian-full": ("gaussian-full", (4, 16, 64), (4, 16), BATCH, QUICK_BATCH),
    "categorical": ("categorical", (4, 16, 64), (4, 16), BATCH, QUICK_BATCH),
    "poisson": ("poisson", (4, 16, 64), (4, 16), BATCH, QUICK_BATCH),
    "gmm-diag": ("gmm-diag", (4, 16, 64), (4, 16), BATCH, QUICK_BATCH),
    "gaussian-diag-long": ("gaussian-diag", (16,), (16,), LONG, QUICK_LONG),
    "categorical-long": ("categorical", (16,), (16,), LONG, QUICK_LONG),
}
#: What ``--quick`` runs when no ``--workload`` is named: about a minute.
QUICK_WORKLOADS = ("gaussian-diag", "categorical", "poisson", "gaussian-diag-long")
MODEL_METHODS = {"score": "score", "decode": "decode", "posteriors": "score_samples"}
FUNCTIONS = {
    "forward": (fasthmm.forward, naive.forward),
    "forward_backward": (fasthmm.forward_backward, naive.forward_backward),
    "viterbi": (fasthmm.viterbi, naive.viterbi),
}
NAIVE_OF = {"score": "forward", "posteriors": "forward_backward", "decode": "viterbi"}


def title(workload):
    spec = WORKLOADS[workload][0]
    if spec is None:
        return "functional API on random log-emissions, random dense model, seed 0"
    return SPECS[spec].title


# --- comparing results ---------------------------------------------------------


def _rel(a, b):
    return abs(a - b) / max(1.0, abs(b))


def agree(op, out, ref):
    """Discrepancy from fasthmm: relative for log-likelihoods, absolute for
    posteriors, the path log-probability (and, functional API, the fraction of
    differing states) for Viterbi; after one EM iteration startprob_ and
    transmat_ (emission M-steps differ by design between the libraries)."""
    if op in ("score", "forward"):
        return _rel(out, ref)
    if op in ("posteriors", "forward_backward"):
        return max(_rel(out[0], ref[0]), float(np.max(np.abs(out[1] - ref[1]))))
    if op == "decode":  # ties may give other paths of the same probability
        return _rel(out[0], ref[0])
    if op == "viterbi":
        return max(_rel(out[0], ref[0]), float(np.mean(out[1] != ref[1])))
    return max(
        float(np.max(np.abs(out[n] - ref[n]))) for n in ("startprob_", "transmat_")
    )


def _arrays(result):
    if isinstance(result, dict):
        return [np.asarray(result[k]) for k in sorted(result)]
    return [np.asarray(r) for r in (result if isinstance(result, tuple) else [result])]


def identical(op, out, ref):
    """0.0 when every output is bit-for-bit equal, else the largest difference."""
    pairs = list(zip(_arrays(out), _arrays(ref)))
    if all(np.array_equal(a, b) for a, b in pairs):
        return 0.0
    return max(float(np.max(np.abs(a - b.astype(float)))) or np.inf for a, b in pairs)


# --- the calls -------------------------------------------------------------------


def with_threads(n, fn):
    """``fn`` run with ``n`` Numba threads (restored afterwards)."""

    def run():
        before = numba.get_num_threads()
        numba.set_num_threads(n)
        try:
            return fn()
        finally:
            numba.set_num_threads(before)

    return run


def _hmmlearn_class(name):
    cls = getattr(hmmlearn, name)
    if name != "GMMHMM":
        return cls

    class GMMHMMNoKMeans(cls):
        """hmmlearn's GMMHMM without the k-means (11 KMeans fits) its ``_init``
        runs even with ``init_params=""`` and then discards."""

        def _init(self, X, lengths=None):
            super(cls, self)._init(X, lengths)
            self._init_covar_priors()
            self._fix_priors_shape()

    return GMMHMMNoKMeans


def new_model(data, library="fasthmm", implementation="log", **kwargs):
    """A model holding the data's parameters, ready for one EM iteration."""
    spec = data.spec
    if library == "fasthmm":
        cls = getattr(fasthmm, spec.cls_name)
    else:
        cls = _hmmlearn_class(spec.cls_name)
    options = dict(n_iter=1, tol=0.0, init_params="", implementation=implementation)
    model = cls(data.n_components, **{**options, **spec.kwargs, **kwargs})
    for name, value in data.params.items():
        setattr(model, name, value.copy())
    return model


def model_call(data, op, library="fasthmm", implementation="log"):
    """``(run, setup)``: ``em`` fits a new model (built by ``setup``, untimed)."""
    X, lengths = data.X, data.lengths
    if op != "em":
        method = getattr(new_model(data, library, implementation), MODEL_METHODS[op])
        return (lambda: method(X, lengths)), None
    box = {}

    def setup():
        box["model"] = new_model(data, library, implementation)

    def run():
        m = box["model"].fit(X, lengths)
        return {n: getattr(m, n) for n in data.params}

    return run, setup


def _once(run, setup=None):
    if setup is not None:
        setup()
    return run()


@dataclass
class Impl:
    """One implementation of a case. ``scale``: time multiplier when timed on
    part of the input; ``reference``: fasthmm's result on that part."""

    name: str
    run: Callable
    setup: Callable | None = None
    scale: float = 1.0
    reference: Callable | None = None
    compare: Callable = agree
    with_fasthmm: bool = False


@dataclass
class Case:
    workload: str
    label: str
    params: dict
    operation: str
    impls: list  # fasthmm first
    parts: dict = field(default_factory=dict)  # kernel split: name -> callable
    flops: float | None = None  # 2 K^2 per step of the forward recursion


def _on_head(name, data, n_samples, make_call, reference):
    sub = data.head(n_samples)
    run, setup = make_call(sub)
    scale = data.n_samples / sub.n_samples
    ref = None if sub is data else (lambda: _once(*reference(sub)))
    return Impl(name, run, setup, scale, ref)


def cases(workload, quick):
    """The cases of one workload, one input size at a time (data built lazily)."""
    spec, ks, quick_ks, size, quick_size = WORKLOADS[workload]
    n_seq, n_steps = quick_size if quick else size
    for k in quick_ks if quick else ks:
        params = {"n_components": k, "n_sequences": n_seq, "n_steps": n_steps}
        seqs = "1 sequence" if n_seq == 1 else f"{n_seq} sequences"
        label = f"K={k}, {seqs} x {n_steps} steps"
        flops = 2.0 * k * k * n_seq * n_steps
        if spec is None:
            data = log_emission_data(k, n_seq, n_steps)
            for op in FUNCTIONS:
                yield _functional_case(workload, label, params, op, data, flops)
        else:
            data = model_data(spec, k, n_seq, n_steps)
            for op in ("score", "decode", "posteriors", "em"):
                yield _model_case(workload, label, params, op, data, flops, quick)


def _functional_case(workload, label, params, op, data, flops):
    fast, slow = FUNCTIONS[op]

    def call(fn):
        return lambda d: ((lambda: fn(d.X, *d.params.values(), d.lengths)), None)

    impls = [
        Impl("fasthmm", call(fast)(data)[0]),
        _on_head("naive", data, NAIVE_SAMPLES, call(slow), call(fast)),
    ]
    parts = kernel_split.parts(op, data.X, *data.params.values(), data.lengths)
    return Case(workload, label, params, op, impls, parts, flops * (op == "forward"))


def _model_case(workload, label, params, op, data, flops, quick=False):
    """fasthmm (and, except with ``quick``, fasthmm on 1 thread), hmmlearn's
    two implementations, and naive NumPy where it has the operation."""

    def fh(d):
        return model_call(d, op)

    run, setup = fh(data)
    impls = [Impl("fasthmm", run, setup)]
    if not quick:
        impls.append(Impl("fasthmm-1thread", with_threads(1, run), setup))
        impls[-1].compare, impls[-1].with_fasthmm = identical, True
    if hmmlearn is not None:
        n = HMMLEARN_SAMPLES_K64 if data.n_components >= 64 else data.n_samples
        for impl in ("log", "scaling"):

            def hl(d, impl=impl):
                return model_call(d, op, "hmmlearn", impl)

            impls.append(_on_head(f"hmmlearn-{impl}", data, n, hl, fh))
    if op in NAIVE_OF:
        fn = getattr(naive, NAIVE_OF[op])

        def nv(d):  # log-emissions computed untimed
            le = d.spec.log_emissions(d.X, d.params)
            sp, tm = d.params["startprob_"], d.params["transmat_"]
            return (lambda: fn(le, sp, tm, d.lengths)), None

        impls.append(_on_head("naive", data, NAIVE_SAMPLES, nv, fh))
    return Case(workload, label, params, op, impls, {}, flops * (op == "score"))


# --- timing ----------------------------------------------------------------------


def time_calls(calls, repeat=5, min_total=0.0, slow_s=None, max_runs=200):
    """Time ``(run, setup)`` pairs round-robin after one warm-up each.

    Returns ``(times, warm-up times, warm-up results)``; each list of times has
    at least ``repeat`` runs, more until all add up to ``min_total`` seconds;
    only ``SLOW_REPEAT`` when every warm-up took ``slow_s`` or more.
    """
    results, warm = [], []
    for run, setup in calls:
        if setup is not None:
            setup()
        t0 = time.perf_counter()
        results.append(run())
        warm.append(time.perf_counter() - t0)
    if slow_s is not None and min(warm) >= slow_s:
        repeat, min_total = min(repeat, SLOW_REPEAT), 0.0
    times = [[] for _ in calls]
    gc_enabled, total, rounds = gc.isenabled(), 0.0, 0
    gc.disable()
    try:
        while rounds < repeat or (total < min_total and rounds < max_runs):
            for (run, setup), ts in zip(calls, times):
                if setup is not None:
                    setup()
                t0 = time.perf_counter()
                run()
                ts.append(time.perf_counter() - t0)
                total += ts[-1]
            rounds += 1
    finally:
        if gc_enabled:
            gc.enable()
    return times, warm, results


def peak_memory(run, setup=None):
    """tracemalloc's peak during one call (NumPy buffers and Python objects,
    not Numba-internal scratch arrays), above what was allocated before."""
    if setup is not None:
        setup()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        run()
        return max(0, tracemalloc.get_traced_memory()[1] - before)
    finally:
        tracemalloc.stop()


def run_case(case, repeat=5, min_total=1.0, log=print):
    """Time one case; return its result rows (JSON-ready dicts)."""
    base = case.impls[0]
    parts = [Impl(f"{case.operation}/{n}", fn) for n, fn in case.parts.items()]
    first = [base] + [i for i in case.impls if i.with_fasthmm] + parts
    groups = [first] + [[i] for i in case.impls[1:] if not i.with_fasthmm]
    rows, ref = [], None
    for group in groups:
        log(
            f"[{case.workload}] {case.label}: {case.operation} / "
            + ", ".join(i.name for i in group)
        )
        monitor = LoadMonitor()
        slow = None if group is first else SLOW_S
        calls = [(i.run, i.setup) for i in group]
        times, warm, results = time_calls(calls, repeat, min_total, slow)
        load = monitor.stop()
        for impl, ts, w, out in zip(group, times, warm, results):
            part = "/" in impl.name
            if impl is base:
                ref = out
            discrepancy = None
            if impl is not base and not part:
                r = impl.reference() if impl.reference else ref
                discrepancy = impl.compare(case.operation, out, r)
            rows.append(
                {
                    "workload": case.workload,
                    "label": case.label,
                    "params": case.params,
                    "operation": impl.name if part else case.operation,
                    "implementation": "fasthmm" if part else impl.name,
                    "scale": impl.scale,
                    "n_runs": len(ts),
                    "times_s": ts,
                    "warmup_s": w,
                    "median_s": statistics.median(ts) * impl.scale,
                    "best_s": min(ts) * impl.scale,
                    "flops": case.flops
                    if impl is base or impl.name == "forward/recursion"
                    else None,
                    "peak_bytes": peak_memory(base.run, base.setup)
                    if impl is base
                    else None,
                    "discrepancy": discrepancy,
                    "agrees": None
                    if discrepancy is None
                    else bool(discrepancy <= TOLERANCE),
                    "other_load": load and load["other_load"] + load["steal_load"],
                }
            )
    return rows
