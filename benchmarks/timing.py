"""Wall-clock timing and peak memory of one callable."""

from __future__ import annotations

import gc
import statistics
import time
import tracemalloc
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Timing:
    """Times of the measured runs (seconds), warm-up excluded."""

    times: list = field(default_factory=list)
    warmup: float = 0.0
    result: Any = None  # what the warm-up call returned

    @property
    def median(self):
        return statistics.median(self.times)

    @property
    def best(self):
        return min(self.times)

    @property
    def n_runs(self):
        return len(self.times)


def measure(fn, repeat=5, setup=None, min_total=0.0, max_runs=200):
    """Time ``fn()`` after one warm-up call.

    Parameters
    ----------
    fn : callable
    repeat : int
        Least number of timed runs.
    setup : callable, optional
        Run before every call (warm-up included), untimed.
    min_total : float
        Keep running (up to ``max_runs``) until the timed runs add up to at
        least this many seconds, so that millisecond calls get a stable median.

    Returns
    -------
    Timing
        With ``result`` the return value of the warm-up call.
    """
    return measure_interleaved([(fn, setup)], repeat, min_total, max_runs)[0]


def measure_interleaved(
    calls, repeat=5, min_total=0.0, max_runs=200, slow_s=None, slow_repeat=3
):
    """Time several calls round-robin, so that they see the same conditions.

    Each call is warmed up once; then every round runs each call once, in
    order. Background load that comes and goes then affects all of them alike,
    which matters when their times are compared or added up (a call against
    its parts).

    Parameters
    ----------
    calls : list of (fn, setup)
        ``setup`` (or None) runs untimed before every call of ``fn``.
    repeat, min_total, max_runs :
        As in :func:`measure`; ``min_total`` applies to all calls together.
    slow_s : float, optional
        When every warm-up took at least this many seconds, time only
        ``min(repeat, slow_repeat)`` runs (for slow reference code).

    Returns
    -------
    list of Timing
    """
    timings = [Timing() for _ in calls]
    for (fn, setup), timing in zip(calls, timings):
        if setup is not None:
            setup()
        t0 = time.perf_counter()
        timing.result = fn()
        timing.warmup = time.perf_counter() - t0
    if slow_s is not None and min(t.warmup for t in timings) >= slow_s:
        repeat, min_total = min(repeat, slow_repeat), 0.0
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        total, rounds = 0.0, 0
        while rounds < repeat or (total < min_total and rounds < max_runs):
            for (fn, setup), timing in zip(calls, timings):
                if setup is not None:
                    setup()
                t0 = time.perf_counter()
                fn()
                dt = time.perf_counter() - t0
                timing.times.append(dt)
                total += dt
            rounds += 1
    finally:
        if gc_was_enabled:
            gc.enable()
    return timings


def peak_memory(fn, setup=None):
    """Peak of the Python-visible memory allocated during one ``fn()`` call.

    Measured with :mod:`tracemalloc`, which sees NumPy array buffers and Python
    objects but not memory that Numba-compiled code allocates internally
    (its scratch arrays) nor native libraries' private buffers.

    Returns
    -------
    int
        Bytes above what was allocated when the call started.
    """
    if setup is not None:
        setup()
    gc.collect()
    started = tracemalloc.is_tracing()
    if not started:
        tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        result = fn()
        _, peak = tracemalloc.get_traced_memory()
        del result
    finally:
        if not started:
            tracemalloc.stop()
    return max(0, peak - before)
