"""The exact route: forward(-backward) of one sequence in log space.

The scaled kernels of :mod:`fasthmm._kernels.hmm` keep probabilities in
float64, shifted per step by the row's largest log-emission. They report a
sequence as unsettled (NaN) when a step's normaliser falls below
:data:`~fasthmm._kernels.hmm.NORMALISER_FLOOR`; such sequences are run again
here, where the filtered and backward quantities are logarithms (normalised
per step, so that the numbers stay small): nothing that matters can
underflow, and the results agree with a log-space reference to rounding,
whatever the range of the log-emissions.

A step's sum over the previous states, ``log sum_i exp(la[i]) T[i, j]``, is
taken as ``mx + log sum_i exp(la[i] - mx) T[i, j]`` with ``mx`` the largest
``la[i]``: ``K`` exponentials and a matrix-vector product instead of ``K**2``
exponentials. Terms lost to underflow there are below ``2**-1074`` each; a
sum below :data:`EXACT_BELOW` (where they could matter) is taken again term
by term, shifted by its own largest term.
"""

import numpy as np
from numba import njit

NEG_INF = -np.inf
TINY = np.finfo(np.float64).tiny  # smallest normal float64
#: A shifted sum below this is recomputed term by term (lost terms are below
#: ``2**-1074`` each, so above it the sum is exact to ``K * 2**-174``).
EXACT_BELOW = 2.0**-900


@njit(cache=True, nogil=True)
def has_subnormal(startprob, transmat):
    """Whether a start or transition probability is positive but below the
    smallest normal float64 (about 2.2e-308): such a chain takes this route
    for every sequence (see :func:`fasthmm.inference.log_space_only`)."""
    for v in startprob.flat:
        if 0.0 < v < TINY:
            return True
    for v in transmat.flat:
        if 0.0 < v < TINY:
            return True
    return False


@njit(cache=True, inline="always", nogil=True)
def _log_sum_exp(v, n):
    """``log(sum(exp(v[:n])))``, ``-inf`` when every entry is ``-inf``."""
    m = NEG_INF
    for i in range(n):
        m = max(m, v[i])
    if m == NEG_INF:
        return NEG_INF
    s = 0.0
    for i in range(n):
        s += np.exp(v[i] - m)
    return m + np.log(s)


@njit(cache=True, inline="always", nogil=True)
def _shifted(v, n, out):
    """``out[:n] = exp(v[:n] - m)``; returns ``m = max(v[:n])`` (``-inf``: all zero)."""
    m = NEG_INF
    for i in range(n):
        m = max(m, v[i])
    for i in range(n):
        out[i] = np.exp(v[i] - m) if m > NEG_INF else 0.0
    return m


@njit(cache=True, inline="always", nogil=True)
def _combined(a, b, n, out):
    """``out[:n] = a[:n] + b[:n] - c``, taken from differences; returns ``c``.

    ``c = a[m] + b[m]`` for the index ``m`` of the largest sum, and
    ``out[j] = (a[j] - a[m]) + (b[j] - b[m])``: a huge common term (log-emissions
    of -1e16) is removed from each operand before the two are added, so the
    small differences it would swamp (``log 0.5``) survive. ``-inf`` and all
    ``out`` ``-inf`` when no sum is finite.
    """
    m = -1
    best = NEG_INF
    for j in range(n):
        s = a[j] + b[j]
        if s > best:
            best = s
            m = j
    if m < 0:
        for j in range(n):
            out[j] = NEG_INF
        return NEG_INF
    am = a[m]
    bm = b[m]
    for j in range(n):
        if a[j] == NEG_INF or b[j] == NEG_INF:
            out[j] = NEG_INF
        else:
            out[j] = (a[j] - am) + (b[j] - bm)
    return am + bm


@njit(cache=True, nogil=True)
def log_space_sequence(log_emissions, init, transmat, post, lo, hi, smooth, xi):
    """Exact forward (and backward) pass over rows ``lo:hi`` in log space.

    Parameters
    ----------
    log_emissions : ndarray of shape (hi - lo, n_components)
        The sequence's log-emissions.
    init : ndarray of shape (n_components,)
        Distribution of the first state (``startprob``).
    transmat : ndarray of shape (n_components, n_components)
    post : ndarray of shape (n_samples, n_components)
        Output, rows ``lo:hi``: the filtered distributions p(z_t | x_lo..x_t),
        or with ``smooth`` the posteriors p(z_t | x). Zero for an impossible
        sequence.
    lo, hi : int
    smooth : bool
        Run the backward pass too: posteriors into ``post`` and expected
        transition counts added to ``xi``.
    xi : ndarray of shape (n_components, n_components)
        Accumulates ``sum_t p(z_t = i, z_t+1 = j | x)`` (with ``smooth``).

    Returns
    -------
    log_likelihood : float
        ``-inf`` when the sequence is impossible under the model.
    """
    n = hi - lo
    k = log_emissions.shape[1]
    log_t = np.empty((k, k))
    for i in range(k):
        for j in range(k):
            log_t[i, j] = np.log(transmat[i, j]) if transmat[i, j] > 0.0 else NEG_INF
    # la[t]: log p(z_t | x_0..x_t), normalised so that its exponentials sum to 1
    la = np.empty((n, k))
    v = np.empty(k)
    q = np.empty(k)
    r = np.empty(k)
    pred = np.empty((n, k))  # log p(z_t | x_0..x_t-1), within a constant
    total = 0.0
    for t in range(n):
        if t > 0:
            # r[j] = sum_i exp(la[t - 1, i] - mx) T[i, j]
            mx = _shifted(la[t - 1], k, q)
            for j in range(k):
                r[j] = 0.0
            for i in range(k):
                qi = q[i]
                if qi != 0.0:
                    for j in range(k):
                        r[j] += qi * transmat[i, j]
        for j in range(k):
            if t == 0:
                p = np.log(init[j]) if init[j] > 0.0 else NEG_INF
            elif r[j] >= EXACT_BELOW:
                p = np.log(r[j]) + mx
            else:
                for i in range(k):
                    v[i] = la[t - 1, i] + log_t[i, j]
                p = _log_sum_exp(v, k)
            pred[t, j] = p
        # la[t] = pred + log_emissions[t] - c0, from differences (see _combined)
        c0 = _combined(pred[t], log_emissions[t], k, la[t])
        c = _log_sum_exp(la[t], k)
        if c == NEG_INF or c0 == NEG_INF:
            post[lo:hi] = 0.0
            return NEG_INF
        for j in range(k):
            la[t, j] -= c
        total += c0 + c
    if not smooth:
        for t in range(n):
            for j in range(k):
                post[lo + t, j] = np.exp(la[t, j])
        return total
    # lb: log p(x_t+1..x_n-1 | z_t) up to a constant per step; w: the next
    # step's log-emissions plus its lb.
    lb = np.empty(k)
    w = np.empty(k)
    for j in range(k):
        post[hi - 1, j] = np.exp(la[n - 1, j])
        lb[j] = 0.0
    for t in range(n - 2, -1, -1):
        # w = log_emissions[t + 1] + lb, less a constant (cancelled by g
        # below), shifted by its largest term among the states the forward
        # pass reaches at t + 1 (pred[t + 1] > -inf; the others carry nothing)
        for j in range(k):
            v[j] = lb[j] + pred[t + 1, j]
        _combined(log_emissions[t + 1], v, k, w)
        for j in range(k):
            p = pred[t + 1, j]
            w[j] = w[j] - p if p > NEG_INF else NEG_INF
        # r[i] = sum_j T[i, j] exp(w[j] - mw)
        mw = _shifted(w, k, q)
        for i in range(k):
            ri = 0.0
            for j in range(k):
                ri += transmat[i, j] * q[j]
            r[i] = ri
            if ri >= EXACT_BELOW:
                lb[i] = np.log(ri) + mw
            else:
                for j in range(k):
                    v[j] = log_t[i, j] + w[j]
                lb[i] = _log_sum_exp(v, k)
        for i in range(k):
            v[i] = la[t, i] + lb[i]
        g = _log_sum_exp(v, k)  # finite: the sequence is possible
        for i in range(k):
            post[lo + t, i] = np.exp(v[i] - g)
            if la[t, i] == NEG_INF:
                continue
            if r[i] >= EXACT_BELOW:
                # exp(la - g + mw) <= 1 / r[i] <= 2**900: no overflow
                a = np.exp(la[t, i] - g + mw)
                for j in range(k):
                    xi[i, j] += a * (transmat[i, j] * q[j])
            else:
                a = la[t, i] - g
                for j in range(k):
                    e = a + log_t[i, j] + w[j]
                    if e > NEG_INF:
                        xi[i, j] += np.exp(e)
        for i in range(k):
            lb[i] -= g  # keeps lb near 0; a constant per step cancels
    return total
