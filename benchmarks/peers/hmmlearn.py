"""hmmlearn (NumPy and a C extension: nothing is compiled at run time), as
the cold-start table sees it (``python -m benchmarks --peers --cold``); the
model tables time it warm. The same model classes and options as the model
tables (``implementation="log"``, hmmlearn's default), without importing
fasthmm, so that its process loads hmmlearn alone."""

from __future__ import annotations

import logging
from importlib.metadata import version

from hmmlearn import hmm

from ..data import SPECS

VERSION = f"hmmlearn {version('hmmlearn')} (NumPy and C; nothing compiled at run time)"
METHODS = {"score": "score", "decode": "decode", "posteriors": "predict_proba"}
logging.getLogger("hmmlearn").setLevel(logging.ERROR)  # n_iter=1: "not converged"


def _model(kind, params):
    spec = SPECS[kind]
    k = params["startprob_"].shape[0]
    model = getattr(hmm, spec.cls_name)(
        k, n_iter=1, tol=0.0, init_params="", **spec.kwargs
    )
    for name, value in params.items():
        setattr(model, name, value.copy())
    return model


def prepare(kind, params, X, lengths):
    if kind not in SPECS:
        raise NotImplementedError(f"no {kind} model here")
    return kind, params, X, lengths


def call(model, op):
    kind, params, X, lengths = model
    if op in METHODS:
        method = getattr(_model(kind, params), METHODS[op])
        return (lambda: method(X, lengths)), None
    box = {}

    def setup():
        box["model"] = _model(kind, params)

    return (lambda: box["model"].fit(X, lengths)), setup


def answer(op, out):
    if op == "score":
        return float(out)
    if op == "decode":
        return out[1]
    if op == "posteriors":
        return out
    return {"startprob_": out.startprob_, "transmat_": out.transmat_}
