"""What machine the benchmarks ran on, and its own dgemm throughput.

Absolute times mean little across machines (AVX-512 or only AVX2, different
clocks), so every report carries the CPU model, the thread counts and the
GFLOP/s of a NumPy float64 matmul measured with the same number of threads;
kernel throughput is reported as a fraction of it.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

SIMD_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f")


def _cpuinfo():
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def cpu_model():
    """The CPU model name, from /proc/cpuinfo when there is one."""
    for line in _cpuinfo().splitlines():
        if line.lower().startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown"


def cpu_flags():
    """The SIMD-related flags of the first CPU (Linux only; else empty)."""
    for line in _cpuinfo().splitlines():
        if line.lower().startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            return [f for f in SIMD_FLAGS if f in flags]
    return []


def cpu_mhz():
    for line in _cpuinfo().splitlines():
        if line.lower().startswith("cpu mhz"):
            try:
                return float(line.split(":", 1)[1])
            except ValueError:
                return None
    return None


def blas_info():
    """BLAS library and thread count as reported by threadpoolctl (optional)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return {"library": "unknown (threadpoolctl not installed)", "threads": None}
    for pool in threadpool_info():
        if pool.get("user_api") == "blas":
            return {
                "library": f"{pool.get('internal_api')} {pool.get('version')}",
                "threads": pool.get("num_threads"),
                "architecture": pool.get("architecture"),
            }
    return {"library": "unknown", "threads": None}


@contextmanager
def blas_threads(n):
    """Limit BLAS to ``n`` threads inside the block (needs threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield False
        return
    with threadpool_limits(limits=n, user_api="blas"):
        yield True


def dgemm_gflops(threads, n=1024, repeat=10, seed=0):
    """Median time of ``a @ b`` for two ``n x n`` float64 matrices, as GFLOP/s.

    BLAS is limited to ``threads`` threads during the measurement when
    threadpoolctl is available (otherwise it uses its own default).
    """
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, n))
    b = rng.standard_normal((n, n))
    out = np.empty((n, n))
    with blas_threads(threads) as limited:
        np.matmul(a, b, out=out)  # warm-up: BLAS thread pool start, page faults
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            np.matmul(a, b, out=out)
            times.append(time.perf_counter() - t0)
    median = statistics.median(times)
    return {
        "n": n,
        "threads": threads if limited else None,
        "times_s": times,
        "median_s": median,
        "gflops": 2.0 * n**3 / median / 1e9,
    }


ENV_VARS = (
    "NUMBA_NUM_THREADS",
    "NUMBA_THREADING_LAYER",
    "OMP_NUM_THREADS",
    "OMP_WAIT_POLICY",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
)


def _proc_stat():
    """(busy, steal, total) jiffies of all CPUs, or None off Linux."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except (OSError, IndexError):
        return None
    v = [int(x) for x in fields]
    # user nice system idle iowait irq softirq steal [guest guest_nice]
    idle = v[3] + v[4]
    steal = v[7] if len(v) > 7 else 0
    total = sum(v[:8])
    return total - idle - steal, steal, total


class LoadMonitor:
    """How busy the machine was with *other* work while the benchmarks ran.

    Compares the CPU time the whole machine spent (``/proc/stat``) with what
    this process and its children used (``os.times``): the difference is
    other processes' load, which makes timings noisy; ``steal`` is time the
    hypervisor gave to other virtual machines.
    """

    def __init__(self):
        self.start = _proc_stat()
        self.own = self._own()
        self.wall = time.perf_counter()

    @staticmethod
    def _own():
        t = os.times()
        return t.user + t.system + t.children_user + t.children_system

    def stop(self):
        end = _proc_stat()
        wall = time.perf_counter() - self.wall
        if self.start is None or end is None or wall <= 0:
            return None
        hz = os.sysconf("SC_CLK_TCK")
        busy = (end[0] - self.start[0]) / hz
        steal = (end[1] - self.start[1]) / hz
        own = self._own() - self.own
        # /proc/stat and os.times count in clock ticks: allow two ticks of
        # error, so that short windows are not flagged busy by rounding.
        other = max(0.0, busy - own - 2.0 / hz)
        return {
            "wall_s": wall,
            "own_cpu_s": own,
            "other_cpu_s": other,
            "steal_s": steal,
            "other_load": other / wall,  # in CPUs
            "steal_load": steal / wall,
        }


def git_revision():
    """``git describe``-like revision of the working tree, or None."""
    root = Path(__file__).resolve().parent.parent
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "fasthmm"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    if not rev:
        return None
    return rev + ("+dirty(fasthmm)" if dirty else "")


def describe(dgemm=True):
    """Everything about the machine and software that the report prints."""
    import numba

    import fasthmm

    threads = numba.get_num_threads()
    info = {
        "cpu_model": cpu_model(),
        "cpu_mhz": cpu_mhz(),
        "cpu_flags": cpu_flags(),
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
