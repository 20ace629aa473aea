"""Large vocabularies: ``python -m benchmarks --vocabulary``.

One EM iteration of a CategoricalHMM (K=45, 1000 sequences x 200 tokens drawn
from a Zipf law, as word frequencies are) for vocabularies of 1,000, 10,000
and 100,000 symbols, and 100,000 symbols with 100 x 200 tokens (more symbols
than tokens: the per-iteration work over the (K x n_symbols) emission table
dominates, not the recursion), fasthmm against hmmlearn (``implementation="scaling"``,
its faster one here) from the same parameters, each timed in a row of its
own calls. The fitted
parameters are checked against hmmlearn's, and the peak of the NumPy
allocations of fasthmm's iteration (tracemalloc) shows whether memory grows
with the vocabulary beyond the (n_symbols x K) statistics themselves.
"""

from __future__ import annotations

import logging
import statistics
from functools import partial

import numpy as np

K = 45
N_STEPS = 200
#: (n_symbols, n_sequences of N_STEPS tokens)
WORKLOADS = ((1_000, 1000), (10_000, 1000), (100_000, 1000), (100_000, 100))
TOLERANCE = 1e-8


def _data(n_symbols, n_sequences, seed=0):
    rng = np.random.default_rng(seed)
    tokens = np.minimum(rng.zipf(1.2, size=n_sequences * N_STEPS), n_symbols) - 1
    params = {
        "startprob_": np.full(K, 1.0 / K),
        "transmat_": rng.dirichlet(np.full(K, 5.0), size=K),
        "emissionprob_": rng.dirichlet(np.ones(n_symbols), size=K),
    }
    return tokens.reshape(-1, 1), [N_STEPS] * n_sequences, params


def _model(cls, n_symbols, params, **kwargs):
    model = cls(K, n_iter=1, tol=-np.inf, init_params="", params="ste", **kwargs)
    model.n_features = n_symbols
    for name, value in params.items():
        setattr(model, name, value.copy())
    return model


def _fit_call(make, X, lengths):
    """``(run, setup)`` for :func:`benchmarks.suites.time_calls`: a fresh model
    from the same parameters before every timed fit."""
    holder = {}

    def setup():
        holder["model"] = make()

    def run():
        return holder["model"].fit(X, lengths)

    return run, setup


def run(repeat, log):
    """Rows of the vocabulary table (one per vocabulary size)."""
    import fasthmm

    from .suites import peak_memory, time_calls

    try:
        from hmmlearn import hmm as hmmlearn
    except ImportError:
        hmmlearn = None
    logging.getLogger("hmmlearn").setLevel(logging.ERROR)
    rows = []
    for n_symbols, n_sequences in WORKLOADS:
        log(f"[vocabulary] {n_symbols} symbols, {n_sequences * N_STEPS} tokens, K={K}")
        X, lengths, params = _data(n_symbols, n_sequences)
        makers = {"fasthmm": partial(_model, fasthmm.CategoricalHMM, n_symbols, params)}
        if hmmlearn is not None:
            makers["hmmlearn-scaling"] = partial(
                _model,
                hmmlearn.CategoricalHMM,
                n_symbols,
                params,
                implementation="scaling",
            )
        calls = [_fit_call(make, X, lengths) for make in makers.values()]
        # One library after the other, not alternately: after hmmlearn's
        # calls its BLAS threads keep spinning for a while and would slow
        # the next fasthmm call (up to 2.5x measured here).
        times, results = [], []
        for call in calls:
            t, _, r = time_calls([call], repeat)
            times += t
            results += r
        row = {
            "n_symbols": n_symbols,
            "tokens": X.shape[0],
            **{name: statistics.median(t) for name, t in zip(makers, times)},
            "fasthmm_peak_mb": peak_memory(*calls[0]) / 1e6,
            "statistics_mb": n_symbols * K * 8 / 1e6,
        }
        if hmmlearn is not None:
            ours, theirs = results
            row["agree"] = all(
                np.allclose(
                    getattr(ours, n), getattr(theirs, n), rtol=TOLERANCE, atol=1e-12
                )
                for n in params
            )
        rows.append(row)
    return rows


def lines(rows):
    """The report's table."""
    out = [
        "",
        f"== large vocabularies: one EM iteration of CategoricalHMM, K={K}, "
        f"sequences of {N_STEPS} Zipf-distributed tokens",
        f"{'symbols':>8} {'tokens':>8} {'fasthmm ms':>11} {'hmmlearn-scaling ms':>20} "
        f"{'hl/fh':>6} {'fasthmm peak MB':>16} {'stats MB':>9} {'same fit':>9}",
    ]
    for r in rows:
        hl = r.get("hmmlearn-scaling")
        ratio = f"{hl / r['fasthmm']:6.1f}" if hl else f"{'-':>6}"
        hl_ms = f"{hl * 1e3:20.1f}" if hl else f"{'-':>20}"
        agree = {True: "yes", False: "NO", None: "-"}[r.get("agree")]
        out.append(
            f"{r['n_symbols']:>8} {r['tokens']:>8} {r['fasthmm'] * 1e3:11.1f} {hl_ms} {ratio} "
            f"{r['fasthmm_peak_mb']:16.1f} {r['statistics_mb']:9.1f} {agree:>9}"
        )
    out.append(
        "hl/fh: hmmlearn's time over fasthmm's (above 1: fasthmm faster); peak MB: "
        "tracemalloc peak of fasthmm's NumPy allocations in the iteration; stats MB: "
        "the (n_symbols x K) float64 statistics it must hold."
    )
    return out
