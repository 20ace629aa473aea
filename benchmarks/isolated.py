"""Measurements that need a fresh process: Numba compile time and fit memory.

Compile time (:func:`compile_functional`, :func:`compile_models`): two
processes share a new, empty ``NUMBA_CACHE_DIR``: *cold* (the first calls
compile and fill the cache) and *warm* (they load it). Functional API: each
process times ``import numpy``, ``numba``, ``fasthmm`` and the first and
second call of ``forward``, ``forward_backward``, ``viterbi`` on a tiny input.
Models (GaussianHMM diag and CategoricalHMM, each with its own cache): the
import, the first ``fit`` (3 sequences of 50 steps, 3 states, 10 iterations),
a second fit, then the first ``score`` + ``decode`` + ``predict_proba``; the
parent also times the whole process, interpreter start-up included.

Peak memory of ``fit`` (:func:`fit_memory`): the data go to the child as a
``.npz`` file (generating them leaves no high-water mark); the child fits a
tiny model first (loading every kernel from the warm cache), resets the
resident-set high-water mark (``/proc/self/clear_refs``, Linux; otherwise
``ru_maxrss``, an upper bound) and fits the real one (default
initialisation, ``random_state=0``, ``n_iter=3, tol=0``): peak resident set
minus the resident set before the fit. Expected at most: input + two
``(n_samples x K)`` float64 buffers + 100 MB.

``python -m benchmarks.isolated functional | MODEL | FILE.npz`` is one child.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ("forward", "forward_backward", "viterbi")
MODELS = ("GaussianHMM", "CategoricalHMM")
SLACK, N_ITER = 100 * 2**20, 3


def _functional_child():
    t0 = time.perf_counter()
    import numpy as np

    t1 = time.perf_counter()
    import numba  # noqa: F401

    t2 = time.perf_counter()
    import fasthmm

    t3 = time.perf_counter()
    args = (np.random.default_rng(0).normal(size=(20, 3)), np.full(3, 1 / 3))
    args += (np.full((3, 3), 1 / 3), [8, 12])
    first, second = {}, {}
    for name in FUNCTIONS:
        for times in (first, second):
            t = time.perf_counter()
            getattr(fasthmm, name)(*args)
            times[name] = time.perf_counter() - t
    imports = {"numpy": t1 - t0, "numba": t2 - t1, "fasthmm": t3 - t2}
    out = {f"import_{k}_s": v for k, v in imports.items()}
    return {
        **out,
        "first_call_s": first,
        "second_call_s": second,
        "total_s": t3 - t0 + sum(first.values()),
    }


def _model_child(name):
    t0 = time.perf_counter()
    import numpy as np

    import fasthmm

    t1 = time.perf_counter()
    rng, lengths = np.random.default_rng(0), [50, 50, 50]
    if name == "CategoricalHMM":
        X = rng.integers(0, 4, size=(150, 1))
    else:
        X = rng.normal(size=(150, 2)) + np.repeat([0.0, 3.0, 6.0], 50)[:, None]
    times = []
    for _ in range(2):
        model = getattr(fasthmm, name)(3, n_iter=10, random_state=0)
        t = time.perf_counter()
        model.fit(X, lengths)
        times.append(time.perf_counter() - t)
    t = time.perf_counter()
    model.score(X, lengths)
    model.decode(X, lengths)
    model.predict_proba(X, lengths)
    after = time.perf_counter() - t
    return {
        "import_s": t1 - t0,
        "first_fit_s": times[0],
        "second_fit_s": times[1],
        "first_score_decode_proba_s": after,
        "import_and_first_fit_s": t1 - t0 + times[0],
    }


def _rss():
    """(resident bytes, high-water mark bytes) of this process."""
    try:
        status = Path("/proc/self/status").read_text().splitlines()
        f = dict(line.split(":", 1) for line in status if ":" in line)
        return int(f["VmRSS"].split()[0]) * 1024, int(f["VmHWM"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        import resource

        return None, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _memory_child(path):
    import gc

    import numpy as np

    import fasthmm

    with np.load(path) as f:
        X, lengths, meta = f["X"], f["lengths"], json.loads(str(f["meta"]))
    cls = getattr(fasthmm, meta["cls_name"])

    def model():
        return cls(meta["k"], n_iter=N_ITER, tol=0.0, random_state=0, **meta["kwargs"])

    model().fit(X[:500])  # load the kernels from the cache
    gc.collect()
    before = _rss()[0]
    try:
        Path("/proc/self/clear_refs").write_text("5")
        reset = True
    except OSError:
        reset = False
    model().fit(X, lengths)
    peak = _rss()[1]
    return {
        "peak_reset": reset,
        "fit_peak_bytes": None if before is None else max(0, peak - before),
    }


def _run(*args, env=None):
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.isolated", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark subprocess failed:\n{proc.stderr}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return {**out, "process_wall_s": time.perf_counter() - t0}


def _cold_warm(what, threads):
    with tempfile.TemporaryDirectory(prefix="fasthmm-numba-cache-") as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        if threads is not None:
            env["NUMBA_NUM_THREADS"] = str(threads)
        cold = _run(what, env=env)
        n_files = sum(len(files) for _, _, files in os.walk(cache))
        return {"cold": cold, "warm": _run(what, env=env), "cache_files": n_files}


def compile_functional(threads=None):
    return _cold_warm("functional", threads)


def compile_models(threads=None):
    return {name: _cold_warm(name, threads) for name in MODELS}


def fit_memory(workload, data):
    """Peak memory of one default fit of ``data``'s model (a ``data.Data``)."""
    import numpy as np

    meta = {
        "cls_name": data.spec.cls_name,
        "kwargs": data.spec.kwargs,
        "k": data.n_components,
    }
    with tempfile.TemporaryDirectory(prefix="fasthmm-bench-mem-") as tmp:
        path = os.path.join(tmp, "data.npz")
        np.savez(path, X=data.X, lengths=data.lengths, meta=np.array(json.dumps(meta)))
        out = _run(path)
    size = data.X.nbytes + data.lengths.nbytes
    bound = size + 2 * data.n_samples * data.n_components * 8 + SLACK
    measured = out["fit_peak_bytes"]
    return {
        **out,
        "workload": workload,
        "n_components": data.n_components,
        "n_samples": data.n_samples,
        "input_bytes": size,
        "bound_bytes": bound,
        "within_bound": None if measured is None else bool(measured <= bound),
    }


if __name__ == "__main__":
    what = sys.argv[1]
    if what == "functional":
        print(json.dumps(_functional_child()))
    elif what in MODELS:
        print(json.dumps(_model_child(what)))
    else:
        print(json.dumps(_memory_child(what)))
