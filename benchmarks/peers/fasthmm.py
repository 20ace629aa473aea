"""fasthmm, as the peers see it: the same model calls as the model tables
(:func:`benchmarks.suites.model_call`), run in a worker process of its own."""

from __future__ import annotations

import fasthmm

from ..data import SPECS, Data
from ..suites import model_call

VERSION = f"fasthmm {fasthmm.__version__}"


def set_threads(n):
    import numba

    return f"Numba threads {numba.get_num_threads()}"


def prepare(kind, params, X, lengths):
    return Data(X, lengths, params, SPECS[kind])


def call(data, op):
    return model_call(data, op)


def answer(op, out):
    if op == "score":
        return float(out)
    if op in ("decode", "posteriors"):
        return out[1]
    return {n: out[n] for n in ("startprob_", "transmat_")}
