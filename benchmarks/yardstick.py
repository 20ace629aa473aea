"""The machine's compile-time yardstick for ``python -m benchmarks --startup``.

A plain set of Numba kernels written without fasthmm's machinery (no fused
multiply-adds, no unrolled blocks, no chunked exponentials, no checks): one
small E-step's worth of work. A parallel scaled forward-backward with
expected transition counts, a forward pass, a log-space Viterbi and a
diagonal-Gaussian log-likelihood. Compiled cold, they tell how fast Numba
compiles on this machine, under its current load; fasthmm's cold start is
read against it.
"""

from __future__ import annotations

import time

import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True, nogil=True)
def plain_diag_loglik(X, means, variances, out):
    n, d = X.shape
    k = means.shape[0]
    for t in prange(n):
        for j in range(k):
            s = 0.0
            for f in range(d):
                r = X[t, f] - means[j, f]
                s += np.log(2.0 * np.pi * variances[j, f]) + r * r / variances[j, f]
            out[t, j] = -0.5 * s


@njit(cache=True, nogil=True)
def plain_forward(log_emissions, startprob, transmat, lo, hi, alpha, scale):
    k = log_emissions.shape[1]
    total = 0.0
    for t in range(lo, hi):
        m = log_emissions[t].max()
        c = 0.0
        for j in range(k):
            if t == lo:
                v = startprob[j]
            else:
                v = 0.0
                for i in range(k):
                    v += alpha[t - 1, i] * transmat[i, j]
            v *= np.exp(log_emissions[t, j] - m)
            alpha[t, j] = v
            c += v
        for j in range(k):
            alpha[t, j] /= c
        scale[t] = c
        total += np.log(c) + m
    return total


@njit(cache=True, parallel=True, nogil=True)
def plain_forward_backward(log_emissions, startprob, transmat, starts, post, ll, xi):
    """Posteriors in ``post``, per-sequence transition counts in ``xi``."""
    n_seq = starts.shape[0] - 1
    k = log_emissions.shape[1]
    scale = np.empty(log_emissions.shape[0])
    for s in prange(n_seq):
        lo, hi = starts[s], starts[s + 1]
        ll[s] = plain_forward(log_emissions, startprob, transmat, lo, hi, post, scale)
        beta = np.ones(k)
        work = np.empty(k)
        nb = np.empty(k)
        xi[s] = 0.0
        for t in range(hi - 2, lo - 1, -1):
            m = log_emissions[t + 1].max()
            for j in range(k):
                work[j] = np.exp(log_emissions[t + 1, j] - m) * beta[j]
            for i in range(k):
                v = 0.0
                for j in range(k):
                    v += transmat[i, j] * work[j]
                nb[i] = v
            for i in range(k):
                for j in range(k):
                    xi[s, i, j] += post[t, i] * transmat[i, j] * work[j] / scale[t + 1]
            for i in range(k):
                beta[i] = nb[i] / scale[t + 1]
            for i in range(k):
                post[t, i] *= beta[i]


@njit(cache=True, parallel=True, nogil=True)
def plain_viterbi(log_emissions, log_startprob, log_transmat, starts, states, lp):
    n_seq = starts.shape[0] - 1
    n, k = log_emissions.shape
    back = np.empty((n, k), dtype=np.int64)
    for s in prange(n_seq):
        lo, hi = starts[s], starts[s + 1]
        delta = log_startprob + log_emissions[lo]
        nxt = np.empty(k)
        for t in range(lo + 1, hi):
            for j in range(k):
                best, arg = -np.inf, 0
                for i in range(k):
                    c = delta[i] + log_transmat[i, j]
                    if c > best:
                        best, arg = c, i
                nxt[j] = best + log_emissions[t, j]
                back[t, j] = arg
            delta[:] = nxt
        z = np.argmax(delta)
        lp[s] = delta[z]
        states[hi - 1] = z
        for t in range(hi - 1, lo, -1):
            z = back[t, z]
            states[t - 1] = z


def run_once():
    """Call each kernel once on tiny data; the wall time of each first call."""
    rng = np.random.default_rng(0)
    k, d = 3, 2
    X = rng.normal(size=(180, d))
    starts = np.array([0, 90, 180], dtype=np.int64)
    means, variances = rng.normal(size=(k, d)), np.ones((k, d))
    sp, tm = np.full(k, 1 / k), np.full((k, k), 1 / k)
    le = np.empty((180, k))
    times = {}
    t = time.perf_counter()
    plain_diag_loglik(X, means, variances, le)
    times["plain_diag_loglik"] = time.perf_counter() - t
    post, ll, xi = np.empty((180, k)), np.empty(2), np.empty((2, k, k))
    t = time.perf_counter()
    plain_forward_backward(le, sp, tm, starts, post, ll, xi)
    times["plain_forward_backward"] = time.perf_counter() - t
    states, lp = np.empty(180, dtype=np.int64), np.empty(2)
    t = time.perf_counter()
    plain_viterbi(le, np.log(sp), np.log(tm), starts, states, lp)
    times["plain_viterbi"] = time.perf_counter() - t
    return times
