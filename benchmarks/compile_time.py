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

Model level (:func:`measure_models`): for ``GaussianHMM`` (diag) and
``CategoricalHMM``, each with its own new cache directory, a cold process
times ``import fasthmm`` and the first ``fit`` of a small model (3 sequences of
50 steps, 3 states, default initialisation, 10 iterations) -- everything a
fit compiles --, then the first ``score``, ``decode`` and ``predict_proba``;
a warm process repeats this with the filled cache: import plus first fit is
the latency a user sees. The parent also times each process from start to
exit (interpreter start-up included).

Run as ``python -m benchmarks.compile_time [functional | MODEL]`` it is one
such process and prints its measurements as JSON.
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
MODELS = ("GaussianHMM", "CategoricalHMM")


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


def _model_child(cls_name):
    t0 = time.perf_counter()
    import numpy as np

    import fasthmm

    t1 = time.perf_counter()
    rng = np.random.default_rng(0)
    lengths = [50, 50, 50]
    if cls_name == "CategoricalHMM":
        X = rng.integers(0, 4, size=(150, 1))
    else:
        X = rng.normal(size=(150, 2)) + np.repeat([0.0, 3.0, 6.0], 50)[:, None]
    model = getattr(fasthmm, cls_name)(3, n_iter=10, random_state=0)
    t = time.perf_counter()
    model.fit(X, lengths)
    first_fit = time.perf_counter() - t
    t = time.perf_counter()
    getattr(fasthmm, cls_name)(3, n_iter=10, random_state=0).fit(X, lengths)
    second_fit = time.perf_counter() - t
    t = time.perf_counter()
    model.score(X, lengths)
    model.decode(X, lengths)
    model.predict_proba(X, lengths)
    after = time.perf_counter() - t
    out = {
        "model": cls_name,
        "import_s": t1 - t0,
        "first_fit_s": first_fit,
        "second_fit_s": second_fit,
        "first_score_decode_proba_s": after,
        "import_and_first_fit_s": t1 - t0 + first_fit,
    }
    print(json.dumps(out))


def _run(env, *args):
    root = Path(__file__).resolve().parent.parent
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.compile_time", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"compile-time subprocess failed:\n{proc.stderr}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["process_wall_s"] = wall
    return out


def _env(cache, threads):
    env = dict(os.environ)
    env["NUMBA_CACHE_DIR"] = cache
    if threads is not None:
        env["NUMBA_NUM_THREADS"] = str(threads)
    return env


def measure_models(threads=None):
    """Cold and warm import + first fit of each model in :data:`MODELS`.

    Returns
    -------
    dict: model name -> {"cold": ..., "warm": ..., "cache_files": int}
    """
    out = {}
    for name in MODELS:
        with tempfile.TemporaryDirectory(prefix="fasthmm-numba-cache-") as cache:
            env = _env(cache, threads)
            cold = _run(env, name)
            n_files = sum(len(files) for _, _, files in os.walk(cache))
            warm = _run(env, name)
        out[name] = {"cold": cold, "warm": warm, "cache_files": n_files}
    return out


def measure(threads=None):
    """Cold (empty cache) and warm (filled cache) first calls, in subprocesses.

    Returns
    -------
    dict with "cold", "warm" (as printed by the child) and "cache_files", the
    number of files the cold run wrote to the cache.
    """
    with tempfile.TemporaryDirectory(prefix="fasthmm-numba-cache-") as cache:
        env = _env(cache, threads)
        cold = _run(env)
        n_files = sum(len(files) for _, _, files in os.walk(cache))
        warm = _run(env)
    return {"cold": cold, "warm": warm, "cache_files": n_files}


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in MODELS:
        _model_child(sys.argv[1])
    else:
        _child()
