"""One fitted model serves many Python threads: every inference method and
separate streams, run concurrently, give exactly the serial results; and the
kernels release the GIL."""

import importlib
import inspect
import pkgutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from families import BY_NAME
from numba.core.registry import CPUDispatcher

import fasthmm

N_THREADS = 4


def _requests(model, batches):
    """(name, callable) pairs: every inference method on every batch, and a stream."""
    calls = []
    for i, (X, lengths) in enumerate(batches):
        calls += [
            (f"score{i}", lambda X=X, L=lengths: model.score(X, L)),
            (f"proba{i}", lambda X=X, L=lengths: model.predict_proba(X, L)),
            (f"decode{i}", lambda X=X, L=lengths: model.decode(X, L)),
            (f"predict{i}", lambda X=X, L=lengths: model.predict(X, L)),
            (f"filter{i}", lambda X=X, L=lengths: model.filter_proba(X, L)),
            (f"stream{i}", lambda X=X: _stream_all(model, X)),
        ]
    return calls


def _stream_all(model, X):
    stream = model.stream(lag=3)
    filtered = [stream.push(x) for x in X]
    smoothed, states = stream.flush()
    return np.concatenate(filtered), smoothed, states, stream.log_likelihood


def _equal(a, b):
    if isinstance(a, tuple):
        return all(_equal(x, y) for x, y in zip(a, b))
    return np.array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("name", ["gaussian-diag", "categorical", "gmm-full"])
def test_threads_sharing_a_model_get_the_serial_results(name):
    family = BY_NAME[name]
    rng = np.random.default_rng(11)
    model = family.make(rng, 3)
    batches = []
    for _ in range(3):
        lengths = rng.integers(20, 60, size=3)
        X = np.asarray(family.sample(rng, 3, int(lengths.sum())))
        batches.append((X, lengths))
    calls = _requests(model, batches)
    serial = {name: fn() for name, fn in calls}
    order = [calls[i] for i in rng.permutation(len(calls))] * 3
    with ThreadPoolExecutor(N_THREADS) as pool:
        futures = [(name, pool.submit(fn)) for name, fn in order]
        for name, future in futures:
            assert _equal(future.result(), serial[name]), name


def compiled_kernels():
    """(module, name, dispatcher) of every Numba kernel defined in fasthmm.

    Every module of the package whose source compiles anything (mentions
    ``numba``) is imported and searched, so a kernel added anywhere is found.
    """
    kernels = []
    for info in pkgutil.walk_packages(fasthmm.__path__, "fasthmm."):
        spec = importlib.util.find_spec(info.name)
        if info.ispkg or "numba" not in Path(spec.origin).read_text():
            continue
        module = importlib.import_module(info.name)
        kernels += [
            (info.name, n, f)
            for n, f in inspect.getmembers(module)
            if isinstance(f, CPUDispatcher)
            and getattr(f.py_func, "__module__", None) == info.name
        ]
    return kernels


def test_every_kernel_releases_the_gil():
    kernels = compiled_kernels()
    modules = {m for m, _, _ in kernels}
    assert {"fasthmm._kernels.hmm", "fasthmm._kernels.direct"} <= modules
    assert "fasthmm._validation" in modules  # kernels outside _kernels/ too
    held = [f"{m}.{n}" for m, n, f in kernels if not f.targetoptions.get("nogil")]
    assert not held, f"kernels that hold the GIL: {held}"


def test_separate_streams_in_threads_match_one_stream_each():
    family = BY_NAME["gaussian-full"]
    rng = np.random.default_rng(2)
    model = family.make(rng, 4)
    seqs = [np.asarray(family.sample(rng, 4, 200)) for _ in range(6)]
    serial = [_stream_all(model, X) for X in seqs]
    with ThreadPoolExecutor(N_THREADS) as pool:
        results = list(pool.map(lambda X: _stream_all(model, X), seqs))
    for got, want in zip(results, serial):
        assert _equal(got, want)
    assert isinstance(model.stream(), fasthmm.stream.Stream)
