"""Peak memory of ``fit``, measured by the operating system in a subprocess.

tracemalloc (used for the per-call "peak MB" column) sees NumPy buffers only,
not what Numba-compiled code allocates. Here each model is fitted in a fresh
process that reads the kernels from the warm on-disk cache and the input
from a ``.npz`` file (so that generating the data leaves no high-water mark),
fits a tiny model first (loading every kernel), then resets the resident-set
high-water mark (``/proc/self/clear_refs``, Linux) and fits the real one:
the peak resident memory during that fit, minus the resident memory just
before it (input already loaded), is the fit's own peak. Where the reset is
unavailable the peak is ``ru_maxrss`` instead, which is then an upper bound.

The bound checked is issue 8's: the input plus two (n_samples x K) float64
buffers plus 100 MB.

The fit is the default one of a new model (default initialisation,
``random_state=0``) with ``n_iter=3, tol=0``.

``python -m benchmarks.memory FILE.npz`` is one such process.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

MB = 2**20
SLACK = 100 * MB
N_ITER = 3


def _rss():
    """(current resident bytes, high-water mark bytes) of this process."""
    try:
        fields = dict(
            line.split(":", 1)
            for line in Path("/proc/self/status").read_text().split("\n")
            if ":" in line
        )
        return int(fields["VmRSS"].split()[0]) * 1024, int(
            fields["VmHWM"].split()[0]
        ) * 1024
    except (OSError, KeyError, ValueError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        return None, peak


def _reset_peak():
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _child(path):
    import fasthmm

    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(str(arrays.pop("meta")))
    X, lengths = arrays.pop("X"), arrays.pop("lengths")
    cls = getattr(fasthmm, meta["cls_name"])

    def model():
        return cls(
            meta["n_components"],
            n_iter=N_ITER,
            tol=0.0,
            random_state=0,
            **meta["kwargs"],
        )

    model().fit(X[: min(500, X.shape[0])])  # load the kernels from the cache
    gc.collect()
    rss_before, _ = _rss()
    reset = _reset_peak()
    model().fit(X, lengths)
    _, peak = _rss()
    print(
        json.dumps(
            {
                "rss_before_bytes": rss_before,
                "peak_rss_bytes": peak,
                "peak_reset": reset,
                "fit_peak_bytes": None
                if rss_before is None
                else max(0, peak - rss_before),
            }
        )
    )


def measure_fit(data):
    """Peak memory of one fit of ``data``'s model on ``data``, in a subprocess.

    Parameters
    ----------
    data : benchmarks.model_specs.ModelData

    Returns
    -------
    dict with the input size, the bound and the child's measurements.
    """
    spec = data.spec
    meta = {
        "cls_name": spec.cls_name,
        "kwargs": spec.kwargs,
        "n_components": data.n_components,
    }
    input_bytes = data.X.nbytes + data.lengths.nbytes
    n, k = data.n_samples, data.n_components
    bound = input_bytes + 2 * n * k * 8 + SLACK
    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory(prefix="fasthmm-bench-mem-") as tmp:
        path = os.path.join(tmp, "data.npz")
        np.savez(path, X=data.X, lengths=data.lengths, meta=np.array(json.dumps(meta)))
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks.memory", path],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=900,
        )
    if proc.returncode != 0:
        raise RuntimeError(f"memory subprocess failed:\n{proc.stderr}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out.update(
        {
            "model": spec.title,
            "n_components": k,
            "n_samples": n,
            "n_sequences": data.n_sequences,
            "input_bytes": input_bytes,
            "bound_bytes": bound,
            "n_iter": N_ITER,
        }
    )
    measured = out["fit_peak_bytes"]
    out["within_bound"] = None if measured is None else bool(measured <= bound)
    return out


def measure(cases):
    """:func:`measure_fit` for each ``(workload name, data)``; list of dicts."""
    results = []
    for name, data in cases:
        r = measure_fit(data)
        r["workload"] = name
        results.append(r)
    return results


if __name__ == "__main__":
    _child(sys.argv[1])
