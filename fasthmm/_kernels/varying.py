"""Kernels of chains whose transition matrix changes at every step.

Input-driven transitions (:mod:`fasthmm.input_transitions`) give a transition
matrix per step, ``log_transmats[t]`` for the step into row ``t`` (row 0 of
each sequence unused). They arrive as logarithms (a log-softmax of the
inputs' linear predictors), so these kernels work in log space throughout:
no shift, no normaliser floor, nothing to settle again, exact whatever the
range of the log-emissions. A step costs ``K**2`` exponentials, the same
order as computing its transition matrix from the inputs.

The stationary kernels (:mod:`fasthmm._kernels.direct`) are untouched: a
model without transition inputs never reaches this module.
"""

import numpy as np
from numba import njit

from .logspace import _log_sum_exp

NEG_INF = -np.inf


@njit(cache=True, nogil=True)
def varying_block(
    log_emissions,
    log_startprob,
    log_transmats,
    starts,
    blocks,
    b0,
    b1,
    ll,
    post,
    smooth,
    xi,
    invalid,
):
    """Forward(-backward) of the sequences of blocks ``b0:b1`` in log space,
    with a transition matrix per step.

    Parameters
    ----------
    log_emissions : ndarray of shape (n_samples, n_components)
    log_startprob : ndarray of shape (n_components,)
    log_transmats : ndarray of shape (n_samples, n_components, n_components)
        ``log p(z_t = j | z_{t-1} = i)`` in ``[t, i, j]``; rows that start a
        sequence are not read.
    starts : ndarray of shape (n_sequences + 1,)
    blocks : ndarray of shape (n_blocks + 1,)
        Sequence indices where the blocks begin.
    b0, b1 : int
    ll : ndarray of shape (n_sequences,)
        Output: log-likelihood of each sequence (``-inf`` if impossible).
    post : ndarray of shape (n_samples, n_components)
        Output: filtered rows, or posteriors with ``smooth`` (zero rows for
        an impossible sequence).
    smooth : bool
    xi : ndarray of shape (n_samples, n_components, n_components) or (0, K, K)
        Output when it has rows (needs ``smooth``): ``xi[t, i, j] =
        p(z_{t-1} = i, z_t = j | x)``, zero at the first row of a sequence.
    invalid : ndarray of shape (n_blocks,), int64
        Output: 1 for a block whose log-emissions hold NaN or ``+inf``.
    """
    k = log_emissions.shape[1]
    counts = xi.shape[0] > 0
    v = np.empty(k)
    for b in range(b0, b1):
        valid = True
        for s in range(blocks[b], blocks[b + 1]):
            lo = starts[s]
            hi = starts[s + 1]
            n = hi - lo
            la = np.empty((n, k))
            total = 0.0
            for t in range(n):
                for j in range(k):
                    e = log_emissions[lo + t, j]
                    valid &= e < np.inf
                    if t == 0:
                        la[t, j] = log_startprob[j] + e
                    else:
                        for i in range(k):
                            v[i] = la[t - 1, i] + log_transmats[lo + t, i, j]
                        la[t, j] = _log_sum_exp(v, k) + e
                c = _log_sum_exp(la[t], k)
                total += c
                if not c > NEG_INF:
                    break
                for j in range(k):
                    la[t, j] -= c
            if not (valid and total > NEG_INF):
                ll[s] = total if valid else np.nan
                post[lo:hi] = 0.0
                if counts:
                    xi[lo:hi] = 0.0
                continue
            ll[s] = total
            if not smooth:
                for t in range(n):
                    for j in range(k):
                        post[lo + t, j] = np.exp(la[t, j])
                continue
            lb = np.zeros(k)
            nb = np.empty(k)
            w = np.empty(k)
            for j in range(k):
                post[hi - 1, j] = np.exp(la[n - 1, j])
            if counts:
                xi[lo] = 0.0
            for t in range(n - 1, 0, -1):
                for j in range(k):
                    w[j] = log_emissions[lo + t, j] + lb[j]
                for i in range(k):
                    for j in range(k):
                        v[j] = log_transmats[lo + t, i, j] + w[j]
                    nb[i] = _log_sum_exp(v, k)
                # log p(x_{t:} | z_{t-1}) up to a constant: shift by its max.
                m = NEG_INF
                for i in range(k):
                    if la[t - 1, i] > NEG_INF and nb[i] > m:
                        m = nb[i]
                z = NEG_INF
                for i in range(k):
                    v[i] = la[t - 1, i] + nb[i] - m
                z = _log_sum_exp(v, k)
                for i in range(k):
                    post[lo + t - 1, i] = np.exp(v[i] - z)
                if counts:
                    # xi = alpha_{t-1}(i) A_t(i, j) e_t(j) beta_t(j) / p(x).
                    for i in range(k):
                        a = la[t - 1, i] - m - z
                        for j in range(k):
                            xi[lo + t, i, j] = np.exp(
                                a + log_transmats[lo + t, i, j] + w[j]
                            )
                for i in range(k):
                    lb[i] = nb[i] - m
        invalid[b] = 0 if valid else 1


@njit(cache=True, nogil=True)
def varying_viterbi(
    log_emissions, log_startprob, log_transmats, starts, back, states, lp
):
    """Most likely state paths with a transition matrix per step (log space).

    Ties go to the lowest state, as :func:`fasthmm._kernels.direct.viterbi_block`.

    Parameters
    ----------
    log_emissions : ndarray of shape (n_samples, n_components)
    log_startprob : ndarray of shape (n_components,)
    log_transmats : ndarray of shape (n_samples, n_components, n_components)
    starts : ndarray of shape (n_sequences + 1,)
    back : ndarray of shape (n_samples, n_components), int32
        Scratch.
    states : ndarray of shape (n_samples,), int64
        Output.
    lp : ndarray of shape (n_sequences,)
        Output: log-probability of each best path.

    Returns
    -------
    valid : bool
        False when the log-emissions hold NaN or ``+inf``.
    """
    k = log_emissions.shape[1]
    delta = np.empty(k)
    nxt = np.empty(k)
    valid = True
    for s in range(starts.shape[0] - 1):
        lo = starts[s]
        hi = starts[s + 1]
        for j in range(k):
            e = log_emissions[lo, j]
            valid &= e < np.inf
            delta[j] = log_startprob[j] + e
        for t in range(lo + 1, hi):
            for j in range(k):
                best = NEG_INF
                arg = 0
                for i in range(k):
                    cand = delta[i] + log_transmats[t, i, j]
                    if cand > best:
                        best = cand
                        arg = i
                e = log_emissions[t, j]
                valid &= e < np.inf
                nxt[j] = best + e
                back[t, j] = arg
            for j in range(k):
                delta[j] = nxt[j]
        best = 0
        for j in range(1, k):
            if delta[j] > delta[best]:
                best = j
        lp[s] = delta[best]
        states[hi - 1] = best
        for t in range(hi - 1, lo, -1):
            best = back[t, best]
            states[t - 1] = best
    return valid


@njit(cache=True, nogil=True)
def logistic_terms(coef, y, w, want, grad, info):
    """One pass of a weighted multinomial logistic regression (the M-step of
    input-driven transitions, one row of ``transcoef_`` at a time).

    Parameters
    ----------
    coef : ndarray of shape (n_components, n_inputs)
        Coefficients of each destination state; the last row is the
        reference (zero).
    y : ndarray of shape (n_steps, n_components)
        Expected counts of each destination (rows of zeros are skipped).
    w : ndarray of shape (n_steps, n_inputs)
    want : bool
        Also fill ``grad`` and ``info``.
    grad : ndarray of shape ((n_components - 1) * n_inputs,)
        Output: the gradient with respect to ``coef[:-1]`` (row-major).
    info : ndarray of shape (len(grad), len(grad))
        Output: minus the Hessian (the information matrix).

    Returns
    -------
    float
        ``sum_t sum_j y[t, j] log softmax_j(coef @ w[t])``.
    """
    n, k = y.shape
    d = w.shape[1]
    m = k - 1
    z = np.empty(k)
    p = np.empty(k)
    # info[(j, a), (q, b)] = sum_t h_t(j, q) w_ta w_tb: sums of h_t(j, q)
    # times the products a <= b only, for q >= j; expanded at the end.
    n_pairs = d * (d + 1) // 2
    ww = np.empty(n_pairs)
    acc = np.zeros((m, m, n_pairs))
    total = 0.0
    if want:
        grad[:] = 0.0
    for t in range(n):
        nt = 0.0
        for j in range(k):
            nt += y[t, j]
        if nt == 0.0:
            continue
        top = NEG_INF
        for j in range(k):
            v = 0.0
            for c in range(d):
                v += coef[j, c] * w[t, c]
            z[j] = v
            top = max(top, v)
        s = 0.0
        for j in range(k):
            p[j] = np.exp(z[j] - top)
            s += p[j]
        lse = top + np.log(s)
        for j in range(k):
            if y[t, j] != 0.0:
                total += y[t, j] * (z[j] - lse)
        if not want:
            continue
        for j in range(k):
            p[j] /= s
        e = 0
        for a in range(d):
            for b in range(a, d):
                ww[e] = w[t, a] * w[t, b]
                e += 1
        for j in range(m):
            r = y[t, j] - nt * p[j]
            for c in range(d):
                grad[j * d + c] += r * w[t, c]
            pj = nt * p[j]
            for q in range(j, m):
                h = pj * ((1.0 if j == q else 0.0) - p[q])
                for e in range(n_pairs):
                    acc[j, q, e] += h * ww[e]
    if want:
        for j in range(m):
            for q in range(j, m):
                e = 0
                for a in range(d):
                    for b in range(a, d):
                        v = acc[j, q, e]
                        info[j * d + a, q * d + b] = v
                        info[j * d + b, q * d + a] = v
                        info[q * d + a, j * d + b] = v
                        info[q * d + b, j * d + a] = v
                        e += 1
    return total


@njit(cache=True, nogil=True)
def step_log_transmats(transcoef, w, out):
    """Per-step log transition matrices of input-driven transitions.

    ``out[t, i, j] = log softmax_j(transcoef[i, j] @ w[t])``, one pass over
    the rows (no temporaries).

    Parameters
    ----------
    transcoef : ndarray of shape (n_components, n_components, n_inputs)
    w : ndarray of shape (n_samples, n_inputs)
    out : ndarray of shape (n_samples, n_components, n_components)
        Output.
    """
    n, d = w.shape
    k = transcoef.shape[0]
    z = np.empty(k)
    for t in range(n):
        for i in range(k):
            top = NEG_INF
            for j in range(k):
                v = 0.0
                for c in range(d):
                    v += transcoef[i, j, c] * w[t, c]
                z[j] = v
                top = max(top, v)
            s = 0.0
            for j in range(k):
                s += np.exp(z[j] - top)
            lse = top + np.log(s)
            for j in range(k):
                out[t, i, j] = z[j] - lse
