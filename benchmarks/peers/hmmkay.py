"""hmmkay (Numba): categorical emissions only, sequences as an
(n_sequences, n_steps) array; no posteriors. Its ``log_likelihood`` and
``decode`` keep their log-probabilities in float32 buffers."""

from __future__ import annotations

from importlib.metadata import version

import numpy as np
from hmmkay import HMM

VERSION = f"hmmkay {version('hmmkay')} (Numba; float32 log-probabilities in score and Viterbi)"


def set_threads(n):
    """hmmkay's kernels are serial Numba functions (no parallel loops): one
    thread whatever the Numba thread count (set to ``n`` by the driver)."""
    return "serial Numba kernels (1 thread)"


def prepare(kind, params, X, lengths):
    if kind != "categorical":
        raise NotImplementedError("categorical emissions only")
    if np.any(lengths != lengths[0]):
        raise NotImplementedError("this adapter needs sequences of equal length")
    p = [params[n] for n in ("startprob_", "transmat_", "emissionprob_")]
    return p, np.ascontiguousarray(X[:, 0].reshape(len(lengths), -1))


def call(model, op):
    p, seqs = model
    if op == "score":
        hmm = HMM(*p)
        return (lambda: hmm.log_likelihood(seqs)), None
    if op == "decode":
        hmm = HMM(*p)
        return (lambda: hmm.decode(seqs)), None
    if op == "em":
        box = {}

        def setup():
            box["hmm"] = HMM(*p, n_iter=1)

        return (lambda: box["hmm"].fit(seqs)), setup
    raise NotImplementedError("no posteriors")


def answer(op, out):
    if op == "score":
        return float(out)
    if op == "decode":
        return np.asarray(out).reshape(-1)
    return {"startprob_": out.pi, "transmat_": out.A}
