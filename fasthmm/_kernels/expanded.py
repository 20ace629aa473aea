"""Numba kernels of a chain whose state is the tuple of its last ``m`` regimes.

The state at step ``t`` is ``(s_t, s_{t-1}, ..., s_{t-m+1})`` of an underlying
K-state Markov chain, numbered in base K with the current regime as the most
significant digit: ``i = s_t * R + q`` with ``R = K ** (m - 1)`` and ``q`` the
number of the ``m - 1`` older regimes. The only predecessors of ``i`` are the
K states ``j = q * K + b`` (``b``: the regime that leaves the window), all
with the probability ``transmat[q // D, s_t]`` (``D = K ** (m - 2)``: the
previous regime ``s_{t-1}`` is ``q``'s first digit; the matrix may change
from step to step: input-driven transitions). So one forward step is

    c[q] = sum_b alpha_prev[q * K + b]                 (K^m additions)
    alpha[a * R + q] = c[q] * transmat[q // D, a] * e[t, a * R + q]

and one backward step

    d[q] = sum_a transmat[q // D, a] * e[t, a * R + q] * beta[a * R + q]
    beta_prev[j] = d[j // K]

O(K^m) per step instead of the O(K^(2m)) of a dense K^m x K^m transition
matrix. The expected counts of the underlying K x K transitions come out of
the same sums. Rows are scaled as in the other kernels (``e[t]`` is
``exp(log_emissions[t] - max(log_emissions[t]))``, every stored row sums to
one), so long sequences do not underflow. ``m >= 2``.
"""

import numpy as np
from numba import njit


@njit(cache=True, nogil=True, inline="always")
def _sizes(log_emissions, transmat):
    """(K, matrix index step: 1 per row or 0, K^m, R = K^(m-1), D = K^(m-2))."""
    k = transmat.shape[1]
    n_states = log_emissions.shape[1]
    return (
        k,
        1 if transmat.shape[0] > 1 else 0,
        n_states,
        n_states // k,
        n_states // k // k,
    )


@njit(cache=True, nogil=True)
def _scaled_row(log_emissions, t, e):
    """``e = exp(log_emissions[t] - shift)``; returns ``shift``, the row's
    largest entry (a loop: cheaper to compile than ``ndarray.max``)."""
    n_states = e.shape[0]
    shift = log_emissions[t, 0]
    for i in range(1, n_states):
        if log_emissions[t, i] > shift:
            shift = log_emissions[t, i]
    for i in range(n_states):
        e[i] = np.exp(log_emissions[t, i] - shift)
    return shift


@njit(cache=True, nogil=True)
def _collapse(post, t, k, c):
    """``c[q] = sum_b post[t, q * K + b]``: the row summed over the regime
    that leaves the window."""
    for q in range(c.shape[0]):
        acc = 0.0
        for b in range(k):
            acc += post[t, q * k + b]
        c[q] = acc


@njit(cache=True, nogil=True)
def forward_backward(
    log_emissions, starts, prior, transmat, smooth, loglik, post, counts
):
    """Forward(-backward) over the tuple chain, sequence after sequence.

    Parameters
    ----------
    log_emissions : ndarray (n_rows, K ** m)
    starts : ndarray of int64 (n_sequences + 1,)
        Row offsets of the sequences.
    prior : ndarray (n_sequences, K ** m)
        Distribution of each sequence's first tuple.
    transmat : ndarray (n_mats, K, K)
        One matrix for every step (n_mats = 1), or the matrix into each row
        (n_mats = n_rows; the first row of a sequence does not use its own).
    smooth : bool
        False: ``post`` receives the filtered rows and ``counts`` is untouched.
    loglik : ndarray (n_sequences,), out
    post : ndarray (n_rows, K ** m), out
        Smoothed (or filtered) tuple probabilities.
    counts : ndarray (n_mats, K, K), out
        Expected transitions into each row (or summed, n_mats = 1), added to.
    """
    k, step, n_states, r, d = _sizes(log_emissions, transmat)
    c = np.empty(r)
    beta = np.empty(n_states)
    e = np.empty(n_states)
    norm = np.empty(log_emissions.shape[0])
    for s in range(starts.shape[0] - 1):
        lo, hi = starts[s], starts[s + 1]
        total = 0.0
        for t in range(lo, hi):
            shift = _scaled_row(log_emissions, t, e)
            if t == lo:
                for i in range(n_states):
                    post[t, i] = prior[s, i] * e[i]
            else:
                _collapse(post, t - 1, k, c)
                m = t * step
                for a in range(k):
                    for u in range(k):  # q = u * D + v: s_{t-1} = u
                        for v in range(d):
                            q = u * d + v
                            i = a * r + q
                            post[t, i] = c[q] * transmat[m, u, a] * e[i]
            z = 0.0
            for i in range(n_states):
                z += post[t, i]
            norm[t] = z
            total += np.log(z) + shift
            for i in range(n_states):
                post[t, i] /= z
        loglik[s] = total
        if not smooth:
            continue
        for i in range(n_states):
            beta[i] = 1.0
        for t in range(hi - 1, lo, -1):
            _scaled_row(log_emissions, t, e)
            for i in range(n_states):
                e[i] = e[i] * beta[i] / norm[t]
            _collapse(post, t - 1, k, c)
            for i in range(n_states):
                post[t, i] *= beta[i]
            m = t * step
            for u in range(k):
                for v in range(d):
                    q = u * d + v
                    acc = 0.0
                    for a in range(k):
                        w = transmat[m, u, a] * e[a * r + q]
                        acc += w
                        counts[m, u, a] += c[q] * w
                    for b in range(k):
                        beta[q * k + b] = acc
        for i in range(n_states):
            post[lo, i] *= beta[i]


@njit(cache=True, nogil=True)
def viterbi(log_emissions, starts, log_prior, log_transmat, logprob, path):
    """Most likely tuple path of each sequence, in O(K^m) per step.

    Parameters
    ----------
    log_emissions : ndarray (n_rows, K ** m)
    starts : ndarray of int64 (n_sequences + 1,)
    log_prior : ndarray (n_sequences, K ** m)
    log_transmat : ndarray (n_mats, K, K)
        As ``transmat`` in :func:`forward_backward`.
    logprob : ndarray (n_sequences,), out
    path : ndarray of int64 (n_rows,), out
        Tuple states; ties go to the lowest state.
    """
    k, step, n_states, r, d = _sizes(log_emissions, log_transmat)
    delta = np.empty(n_states)
    best = np.empty(r)
    for s in range(starts.shape[0] - 1):
        lo, hi = starts[s], starts[s + 1]
        back = np.empty((hi - lo, r), dtype=np.int64)
        for i in range(n_states):
            delta[i] = log_prior[s, i] + log_emissions[lo, i]
        for t in range(lo + 1, hi):
            for q in range(r):
                arg = 0
                top = delta[q * k]
                for b in range(1, k):
                    if delta[q * k + b] > top:
                        top = delta[q * k + b]
                        arg = b
                best[q] = top
                back[t - lo, q] = arg
            lt = log_transmat[t * step]
            for a in range(k):
                for q in range(r):
                    i = a * r + q
                    delta[i] = best[q] + lt[q // d, a] + log_emissions[t, i]
        arg = 0
        for i in range(1, n_states):
            if delta[i] > delta[arg]:
                arg = i
        logprob[s] = delta[arg]
        path[hi - 1] = arg
        for t in range(hi - 1, lo, -1):
            q = path[t] % r
            path[t - 1] = q * k + back[t - lo, q]
