"""A naive NumPy HMM: the reference the compiled kernels are compared with.

Log space throughout, a Python loop over time, each step vectorised over the
states (a ``K x K`` log-sum-exp or max). Written independently of fasthmm: it
shares no code with it, so that it also serves as a cross-check of the results.

All functions take a log-emission matrix of shape ``(n_samples, K)`` holding
the concatenated sequences, ``startprob`` (K,), ``transmat`` (K, K) and
``lengths`` (None for one sequence).
"""

from __future__ import annotations

import numpy as np


def _log(a):
    with np.errstate(divide="ignore"):
        return np.log(np.asarray(a, dtype=np.float64))


def _logsumexp(a, axis):
    """log(sum(exp(a))) along ``axis``, stable, ``-inf`` for all ``-inf``."""
    m = np.max(a, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        out = np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True)) + m
    return np.squeeze(out, axis=axis)


def _sequences(log_emissions, lengths):
    """Yield (lo, hi) row bounds of each sequence."""
    n = log_emissions.shape[0]
    if lengths is None:
        lengths = [n]
    lo = 0
    for length in lengths:
        hi = lo + int(length)
        yield lo, hi
        lo = hi
    if lo != n:
        raise ValueError(f"lengths add up to {lo}, not {n}")


def log_alpha(le, log_start, log_trans):
    """Forward variables log p(x_1..x_t, z_t = k) of one sequence."""
    n, k = le.shape
    la = np.empty((n, k))
    la[0] = log_start + le[0]
    for t in range(1, n):
        la[t] = _logsumexp(la[t - 1][:, None] + log_trans, axis=0) + le[t]
    return la


def log_beta(le, log_trans):
    """Backward variables log p(x_{t+1}..x_T | z_t = k) of one sequence."""
    n, k = le.shape
    lb = np.empty((n, k))
    lb[n - 1] = 0.0
    for t in range(n - 2, -1, -1):
        lb[t] = _logsumexp(log_trans + (le[t + 1] + lb[t + 1])[None, :], axis=1)
    return lb


def forward(log_emissions, startprob, transmat, lengths=None):
    """Total log-likelihood of the sequences."""
    le = np.asarray(log_emissions, dtype=np.float64)
    ls, lt = _log(startprob), _log(transmat)
    total = 0.0
    for lo, hi in _sequences(le, lengths):
        if hi > lo:
            total += float(_logsumexp(log_alpha(le[lo:hi], ls, lt)[-1], axis=0))
    return total


def forward_backward(log_emissions, startprob, transmat, lengths=None):
    """Total log-likelihood and the posteriors p(z_t | x), shape (n_samples, K)."""
    le = np.asarray(log_emissions, dtype=np.float64)
    ls, lt = _log(startprob), _log(transmat)
    post = np.empty_like(le)
    total = 0.0
    for lo, hi in _sequences(le, lengths):
        if hi == lo:
            continue
        la = log_alpha(le[lo:hi], ls, lt)
        lb = log_beta(le[lo:hi], lt)
        ll = float(_logsumexp(la[-1], axis=0))
        post[lo:hi] = np.exp(la + lb - ll)
        total += ll
    return total, post


def viterbi(log_emissions, startprob, transmat, lengths=None):
    """Log-probability of the best paths (summed) and the states, int64.

    Ties go to the lowest state index (``np.argmax`` returns the first).
    """
    le = np.asarray(log_emissions, dtype=np.float64)
    ls, lt = _log(startprob), _log(transmat)
    states = np.empty(le.shape[0], dtype=np.int64)
    total = 0.0
    for lo, hi in _sequences(le, lengths):
        n = hi - lo
        if n == 0:
            continue
        back = np.empty((n, le.shape[1]), dtype=np.int64)
        delta = ls + le[lo]
        for t in range(1, n):
            cand = delta[:, None] + lt
            back[t] = np.argmax(cand, axis=0)
            delta = np.max(cand, axis=0) + le[lo + t]
        best = int(np.argmax(delta))
        total += float(delta[best])
        states[hi - 1] = best
        for t in range(n - 1, 0, -1):
            best = int(back[t, best])
            states[lo + t - 1] = best
    return total, states
