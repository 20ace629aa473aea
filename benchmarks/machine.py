"""What machine the benchmarks ran on, its own dgemm throughput, and its load.

Absolute times mean little across machines (AVX-512 or only AVX2, different
clocks), so every report carries the CPU model, the thread counts and the
GFLOP/s of a NumPy float64 matmul measured with the same number of threads;
kernel throughput is reported as a fraction of it.
"""

from __future__ import annotations

import contextlib
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

SIMD_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f")
ENV_VARS = ("NUMBA_NUM_THREADS", "NUMBA_THREADING_LAYER", "OMP_NUM_THREADS")
ENV_VARS += ("OMP_WAIT_POLICY", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def cpu():
    """Model name, MHz and SIMD flags of the first CPU (/proc/cpuinfo, Linux)."""
    info = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            info.setdefault(key.strip().lower(), value.strip())
    flags = set(info.get("flags", "").split())
    try:
        mhz = float(info["cpu mhz"])
    except (KeyError, ValueError):
        mhz = None
    return {
        "cpu_model": info.get("model name") or platform.processor() or "unknown",
        "cpu_mhz": mhz,
        "cpu_flags": [f for f in SIMD_FLAGS if f in flags],
    }


def blas_info():
    """BLAS library and thread count as reported by threadpoolctl (optional)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return {"library": "unknown (threadpoolctl not installed)", "threads": None}
    for pool in threadpool_info():
        if pool.get("user_api") == "blas":
            name = f"{pool.get('internal_api')} {pool.get('version')}"
            return {"library": name, "threads": pool.get("num_threads")}
    return {"library": "unknown", "threads": None}


def dgemm_gflops(threads, n=1024, repeat=10):
    """Median time of ``a @ b`` for two ``n x n`` float64 matrices, as GFLOP/s,
    with BLAS limited to ``threads`` threads when threadpoolctl is installed."""
    rng = np.random.default_rng(0)
    a, b, out = (
        rng.standard_normal((n, n)),
        rng.standard_normal((n, n)),
        np.empty((n, n)),
    )
    try:
        from threadpoolctl import threadpool_limits

        limit = threadpool_limits(limits=threads, user_api="blas")
    except ImportError:
        limit, threads = contextlib.nullcontext(), None
    with limit:
        np.matmul(a, b, out=out)  # warm-up: BLAS thread pool start, page faults
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            np.matmul(a, b, out=out)
            times.append(time.perf_counter() - t0)
    median = statistics.median(times)
    return {
        "n": n,
        "threads": threads,
        "median_s": median,
        "gflops": 2 * n**3 / median / 1e9,
    }


def _proc_stat():
    """(busy, steal, total) jiffies of all CPUs, or None off Linux."""
    try:
        v = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:9]]
    except (OSError, ValueError):
        return None
    # user nice system idle iowait irq softirq steal
    return sum(v) - v[3] - v[4] - v[7], v[7], sum(v)


def _process_cpu(pid):
    """CPU time (user + system, all threads) of a live process, in seconds; 0
    when it is gone or the system has no ``/proc``."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # after the command name: state is field 3, utime 14 and stime 15
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class LoadMonitor:
    """How busy the machine was with *other* work while the benchmarks ran:
    the CPU time the whole machine spent (``/proc/stat``) minus what this
    process and its children used (``os.times``, which counts children once
    they have ended) and what the live worker processes ``pids`` used
    (``/proc/<pid>/stat``); ``steal`` is time the hypervisor gave to other
    virtual machines."""

    def __init__(self, pids=()):
        self.pids = tuple(pids)
        self.start, self.own, self.wall = _proc_stat(), self._own(), time.perf_counter()

    def _own(self):
        t = os.times()
        own = t.user + t.system + t.children_user + t.children_system
        return own + sum(_process_cpu(pid) for pid in self.pids)

    def stop(self):
        end, wall = _proc_stat(), time.perf_counter() - self.wall
        if self.start is None or end is None or wall <= 0:
            return None
        hz = os.sysconf("SC_CLK_TCK")
        busy, steal = (end[0] - self.start[0]) / hz, (end[1] - self.start[1]) / hz
        # clock ticks: allow two of error, so short windows are not flagged busy
        other = max(0.0, busy - (self._own() - self.own) - 2.0 / hz)
        return {"wall_s": wall, "other_load": other / wall, "steal_load": steal / wall}


def git_revision():
    """Short commit of the working tree, ``+dirty(fasthmm)`` when fasthmm/ has
    uncommitted changes; None outside git."""

    def git(*args):
        root = Path(__file__).resolve().parent.parent
        return subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=10
        ).stdout.strip()

    try:
        rev, dirty = (
            git("rev-parse", "--short", "HEAD"),
            git("status", "--porcelain", "--", "fasthmm"),
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return rev and rev + "+dirty(fasthmm)" * bool(dirty) or None


def describe(dgemm=True):
    """Everything about the machine and software that the report prints."""
    import numba

    import fasthmm

    threads = numba.get_num_threads()
    info = {
        **cpu(),
        "logical_cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "numba": numba.__version__,
        "fasthmm": fasthmm.__version__,
        "git_revision": git_revision(),
        "numba_threads": threads,
        "numba_svml": bool(getattr(numba.config, "USING_SVML", False)),
        "blas": blas_info(),
        "env": {k: os.environ[k] for k in ENV_VARS if k in os.environ},
    }
    if dgemm:
        info["dgemm"] = dgemm_gflops(threads)
    return info
