"""pomegranate (torch, float64): a ``DenseHMM`` of ``Normal`` (diagonal) or
``Categorical`` distributions on an (n_sequences, n_steps, features) tensor,
with end probabilities 1 (no end state, as in fasthmm), cast to float64. Its forward-backward
(posteriors, EM) builds an (n_sequences, n_steps, K, K) array: skipped above
``MAX_BYTES``."""

from __future__ import annotations

import numpy as np
import pomegranate
import torch
from pomegranate.distributions import Categorical, Normal
from pomegranate.hmm import DenseHMM

VERSION = f"pomegranate {pomegranate.__version__} (torch {torch.__version__}, float64)"
MAX_BYTES = 2**30


def set_threads(n):
    """torch's intra-op threads, as many as fasthmm's."""
    torch.set_num_threads(n)
    return f"torch threads {torch.get_num_threads()}"


def _t(a):
    return torch.from_numpy(np.array(a, dtype=np.float64))


def _hmm(kind, params):
    if kind == "gaussian-diag":
        dists = [
            Normal(_t(m), _t(c), covariance_type="diag")
            for m, c in zip(params["means_"], params["covars_"])
        ]
    elif kind == "categorical":
        dists = [Categorical(_t(e[None])) for e in params["emissionprob_"]]
    else:
        raise NotImplementedError(f"no {kind} model here")
    ends = _t(np.ones(len(dists)))
    hmm = DenseHMM(
        dists, _t(params["transmat_"]), _t(params["startprob_"]), ends, max_iter=1
    )
    return hmm.to(torch.float64)  # also its float32 device marker, which sets its dtype


def prepare(kind, params, X, lengths):
    if np.any(lengths != lengths[0]):
        raise NotImplementedError("this adapter needs sequences of equal length")
    _hmm(kind, params)  # checks the kind
    return kind, params, torch.from_numpy(X.reshape(len(lengths), -1, X.shape[1]))


def call(model, op):
    kind, params, X = model
    n, t = X.shape[:2]
    need = n * (t - 1) * len(params["startprob_"]) ** 2 * 8
    if op in ("posteriors", "em") and need > MAX_BYTES:
        raise MemoryError(
            f"its forward-backward would allocate {need / 2**30:.1f} GiB (limit: 1 GiB)"
        )
    hmm = _hmm(kind, params)
    if op == "score":
        return (lambda: hmm.log_probability(X).sum()), None
    if op == "decode":
        return (lambda: hmm.viterbi(X)), None
    if op == "posteriors":
        return (lambda: hmm.predict_proba(X)), None
    box = {}

    def setup():
        box["hmm"] = _hmm(kind, params)

    return (lambda: box["hmm"].fit(X)), setup


def answer(op, out):
    if op == "score":
        return float(out)
    if op == "em":
        trans = torch.exp(out.edges).numpy()  # rows also hold the end probability
        return {
            "startprob_": torch.exp(out.starts).numpy(),
            "transmat_": trans / trans.sum(axis=1, keepdims=True),
        }
    out = out.numpy()
    return out.reshape(-1, *out.shape[2:])
