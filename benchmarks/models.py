"""Model-level workloads: fasthmm's models side by side with hmmlearn and naive NumPy.

One builder, :func:`register_model_workload`, registers a workload for each
:class:`~benchmarks.model_specs.ModelSpec` with four operations:

* ``score``: ``model.score(X, lengths)``;
* ``decode``: ``model.decode(X, lengths)`` (Viterbi);
* ``posteriors``: ``model.score_samples(X, lengths)`` (forward-backward);
* ``em``: one EM iteration, ``fit`` with ``n_iter=1, init_params="", tol=0``
  from the parameters the data were drawn from, on a new model each run
  (built untimed). Both libraries validate the input inside ``fit``; that is
  part of the time. hmmlearn's ``GMMHMM._init`` runs k-means (11 KMeans fits)
  even with ``init_params=""`` and then discards the result; the benchmark
  times a subclass whose ``_init`` skips that (it still sets the default
  priors, as hmmlearn does), so that both libraries do the same work: one
  E-step and one M-step.

and these implementations:

* ``fasthmm`` (the baseline) and ``fasthmm-1thread`` (the same call with
  ``numba.set_num_threads(1)``, timed round-robin with the baseline; its
  results must be identical to the baseline's, bit for bit);
* ``hmmlearn-log`` and ``hmmlearn-scaling`` (``implementation=``), when
  hmmlearn is installed; at K=64 timed on the first 25 sequences and scaled
  (their time is linear in the number of sequences);
* ``naive`` (score, decode, posteriors): :mod:`benchmarks.naive` on the
  log-emission matrix computed with plain NumPy (:mod:`benchmarks.naive_emissions`)
  while preparing, untimed (which favours naive); timed on the first 10,000
  samples and scaled. There is no naive EM.
"""

from __future__ import annotations

import logging

import numba
import numpy as np

import fasthmm

from . import model_specs, naive
from .model_specs import SPECS
from .registry import Call, Workload, register, register_workload

try:
    from hmmlearn import hmm as _hmmlearn
except ImportError:  # the [bench] extra is not installed
    _hmmlearn = None

OPERATIONS = ("score", "decode", "posteriors", "em")
NAIVE_SAMPLES = 10_000
HMMLEARN_SAMPLES_K64 = 25_000
BATCH = {"n_sequences": 100, "n_steps": 1000}
QUICK_BATCH = {"n_sequences": 10, "n_steps": 1000}
LONG = {"n_sequences": 1, "n_steps": 100_000}
QUICK_LONG = {"n_sequences": 1, "n_steps": 10_000}
# (spec, K values of the full run, K values of --quick)
BATCH_WORKLOADS = (
    ("gaussian-diag", (4, 16, 64), (4, 16, 64)),
    ("gaussian-full", (4, 16, 64), (4, 16)),
    ("categorical", (4, 16, 64), (4, 16, 64)),
    ("poisson", (4, 16, 64), (4, 16, 64)),
    ("gmm-diag", (4, 16, 64), (4, 16)),
)
LONG_WORKLOADS = ("gaussian-diag", "categorical")
LONG_K = 16


def hmmlearn_available():
    return _hmmlearn is not None


# --- results and how they are compared ---------------------------------------


def _rel(a, b):
    return abs(a - b) / max(1.0, abs(b))


def agree(operation, out, ref):
    """Discrepancy from the baseline: relative for log-likelihoods, absolute
    for posteriors; after one EM iteration, startprob_ and transmat_ (they
    depend on the E-step only; emission M-steps differ by design, e.g.
    hmmlearn's scalar covars_prior for "full" and its GMM covariance
    statistics)."""
    if operation == "score":
        return _rel(out, ref)
    if operation == "decode":  # path log-probabilities (ties may differ)
        return _rel(out[0], ref[0])
    if operation == "posteriors":
        return max(_rel(out[0], ref[0]), float(np.max(np.abs(out[1] - ref[1]))))
    if operation == "em":
        return max(
            float(np.max(np.abs(out[n] - ref[n]))) for n in ("startprob_", "transmat_")
        )
    return None


def _arrays(result):
    if isinstance(result, dict):
        return [np.asarray(result[k]) for k in sorted(result)]
    if isinstance(result, tuple):
        return [np.asarray(r) for r in result]
    return [np.asarray(result)]


def identical(operation, out, ref):
    """0.0 when every output is bit-for-bit equal, else the largest difference."""
    pairs = list(zip(_arrays(out), _arrays(ref)))
    if all(np.array_equal(a, b) for a, b in pairs):
        return 0.0
    return max(
        float(np.max(np.abs(a.astype(float) - b.astype(float)))) or np.inf
        for a, b in pairs
    )


# --- building models ---------------------------------------------------------


def _hmmlearn_class(name):
    cls = getattr(_hmmlearn, name)
    if name != "GMMHMM":
        return cls

    class GMMHMMNoKMeans(cls):
        """hmmlearn's GMMHMM without the k-means its ``_init`` always runs."""

        def _init(self, X, lengths=None):
            super(cls, self)._init(X, lengths)
            self._init_covar_priors()
            self._fix_priors_shape()

    return GMMHMMNoKMeans


def _model(data, library, implementation):
    """A model holding the data's parameters, ready for one EM iteration."""
    spec = data.spec
    if library == "fasthmm":
        cls = getattr(fasthmm, spec.cls_name)
    else:
        cls = _hmmlearn_class(spec.cls_name)
    model = cls(
        data.n_components,
        n_iter=1,
        tol=0.0,
        init_params="",
        implementation=implementation,
        **spec.kwargs,
    )
    for name, value in data.params.items():
        setattr(model, name, value.copy())
    return model


def _one_thread(fn):
    def run():
        n = numba.get_num_threads()
        numba.set_num_threads(1)
        try:
            return fn()
        finally:
            numba.set_num_threads(n)

    return run


def _model_call(library, implementation, operation, threads=None):
    """prepare(data) for one library on one operation."""

    def prepare(data):
        X, lengths = data.X, data.lengths
        if operation == "em":
            names = list(data.params)
            box = {}

            def setup():
                box["model"] = _model(data, library, implementation)

            def fit():
                m = box["model"].fit(X, lengths)
                return {n: getattr(m, n) for n in names}

            run = fit
        else:
            model = _model(data, library, implementation)
            method = {
                "score": model.score,
                "decode": model.decode,
                "posteriors": model.score_samples,
            }[operation]

            def run():
                return method(X, lengths)

            setup = None
        if threads == 1:
            run = _one_thread(run)
        return Call(run=run, setup=setup)

    return prepare


NAIVE_FUNCTIONS = {
    "score": naive.forward,
    "decode": naive.viterbi,
    "posteriors": naive.forward_backward,
}


def _naive_call(operation):
    fn = NAIVE_FUNCTIONS[operation]

    def prepare(data):
        le = data.spec.log_emissions(data.X, data.params)
        sp, tm = data.params["startprob_"], data.params["transmat_"]
        lengths = data.lengths
        return lambda: fn(le, sp, tm, lengths)

    return prepare


# --- workloads -----------------------------------------------------------------


def flops(operation, params):
    """2 K^2 flops per step of the forward recursion, for ``score`` only."""
    if operation == "score":
        k = params["n_components"]
        return 2.0 * k * k * params["n_sequences"] * params["n_steps"]
    return None


def describe(params):
    k, n, t = params["n_components"], params["n_sequences"], params["n_steps"]
    if n == 1:
        return f"K={k}, 1 sequence x {t} steps"
    return f"K={k}, {n} sequences x {t} steps"


def _hmmlearn_samples(params):
    return HMMLEARN_SAMPLES_K64 if params["n_components"] >= 64 else None


def register_model_workload(name, spec_name, sizes):
    """Register the workload ``name`` on model ``spec_name`` with every
    implementation of every operation.

    Parameters
    ----------
    sizes : callable(quick) -> list of dict
        Parameter sets (``n_components``, ``n_sequences``, ``n_steps``).
    """
    spec = SPECS[spec_name]

    def make(n_components, n_sequences, n_steps):
        return model_specs.make(spec_name, n_components, n_sequences, n_steps)

    register_workload(
        Workload(
            name=name,
            description=spec.title,
            sizes=sizes,
            make=make,
            describe=describe,
            flops=flops,
            agree=agree,
            tolerance=1e-8,
            baseline="fasthmm",
            layout="wide",
        )
    )
    for op in OPERATIONS:
        register(name, op, "fasthmm")(_model_call("fasthmm", "log", op))
        register(name, op, "fasthmm-1thread", with_baseline=True, agree=identical)(
            _model_call("fasthmm", "log", op, threads=1)
        )
        if hmmlearn_available():
            for impl in ("log", "scaling"):
                register(
                    name,
                    op,
                    f"hmmlearn-{impl}",
                    max_samples=_hmmlearn_samples,
                    peak_memory=False,
                )(_model_call("hmmlearn", impl, op))
        if op in NAIVE_FUNCTIONS:
            register(name, op, "naive", max_samples=NAIVE_SAMPLES, peak_memory=False)(
                _naive_call(op)
            )


def _batch_sizes(ks, quick_ks):
    def sizes(quick):
        batch = QUICK_BATCH if quick else BATCH
        return [{"n_components": k, **batch} for k in (quick_ks if quick else ks)]

    return sizes


def _long_sizes(quick):
    return [{"n_components": LONG_K, **(QUICK_LONG if quick else LONG)}]


for _spec, _ks, _quick_ks in BATCH_WORKLOADS:
    register_model_workload(_spec, _spec, _batch_sizes(_ks, _quick_ks))
for _spec in LONG_WORKLOADS:
    register_model_workload(f"{_spec}-long", _spec, _long_sizes)

logging.getLogger("hmmlearn").setLevel(logging.ERROR)
