"""Numba compile time, measured apart from run time in fresh processes.

:func:`measure` starts two Python processes that share a new, empty
``NUMBA_CACHE_DIR`` (a temporary directory):

* *cold*: nothing cached, so the first call of each public function compiles
  its kernels (and writes them to the cache);
* *warm*: the same cache, now full, so the first calls only load the cached
  machine code.

Each process times ``import numpy``, ``import numba``, ``import fasthmm`` and
the first, then the second, call of each function on a tiny input. A kernel
shared by several functions (the exponentials of the log-emissions) is
compiled by whichever is called first (``forward``).

Run as ``python -m benchmarks.compile_time`` it is one such process and prints
its measurements as JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FUNCTIONS = ("forward", "forward_backward", "viterbi")


def _child():
    t0 = time.perf_counter()
    import numpy as np

    t1 = time.perf_counter()
    import numba

    t2 = time.perf_counter()
    import fasthmm

    t3 = time.perf_counter()
    rng = np.random.default_rng(0)
    le = rng.normal(size=(20, 3))
    sp = np.full(3, 1 / 3)
    tm = np.full((3, 3), 1 / 3)
    lengths = [8, 12]
    first, second = {}, {}
    for name in FUNCTIONS:
        fn = getattr(fasthmm, name)
        t = time.perf_counter()
        fn(le, sp, tm, lengths)
        first[name] = time.perf_counter() - t
        t = time.perf_counter()
        fn(le, sp, tm, lengths)
        second[name] = time.perf_counter() - t
    out = {
        "import_numpy_s": t1 - t0,
        "import_numba_s": t2 - t1,
        "import_fasthmm_s": t3 - t2,
        "first_call_s": first,
        "second_call_s": second,
        "numba_threads": numba.get_num_threads(),
        "cache_dir": os.environ.get("NUMBA_CACHE_DIR"),
    }
    out["total_s"] = t3 - t0 + sum(first.values())
    print(json.dumps(out))


def _run(env):
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.compile_time"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"compile-time subprocess failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure(threads=None):
    """Cold (empty cache) and warm (filled cache) first calls, in subprocesses.

    Returns
    -------
    dict with "cold", "warm" (as printed by the child) and "cache_files", the
    number of files the cold run wrote to the cache.
    """
    with tempfile.TemporaryDirectory(prefix="fasthmm-numba-cache-") as cache:
        env = dict(os.environ)
        env["NUMBA_CACHE_DIR"] = cache
        if threads is not None:
            env["NUMBA_NUM_THREADS"] = str(threads)
        cold = _run(env)
        n_files = sum(len(files) for _, _, files in os.walk(cache))
        warm = _run(env)
    return {"cold": cold, "warm": warm, "cache_files": n_files}


if __name__ == "__main__":
    _child()
