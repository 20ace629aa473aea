"""Kernels of chains whose transition matrix changes at every step.

Input-driven transitions (:mod:`fasthmm.input_transitions`) give a transition
matrix per step, ``log_transmats[t]`` for the step into row ``t`` (row 0 of
each sequence unused). They arrive as logarithms (a log-softmax of the
inputs' linear predictors) and as probabilities. The forward-backward runs
scaled in probability space (multiply-adds only, as the stationary
kernels); a sequence it cannot answer to rounding (extreme log-emissions or
transitions) runs again in log space, exact whatever the range. Viterbi
runs in log space (max-plus: no exponentials).

The stationary kernels (:mod:`fasthmm._kernels.direct`) are untouched: a
model without transition inputs never reaches this module.
"""

import numpy as np
from numba import njit

from .expmath import _as_float, _exp_parts
from .logspace import _log_sum_exp

NEG_INF = -np.inf
#: Smallest normaliser of a step the scaled recursion accepts: below it the
#: terms it sums could be subnormal (imprecise), and the sequence runs in
#: log space instead.
SCALED_FLOOR = 1e-250


@njit(cache=True, nogil=True)
def log_sequence(
    log_emissions, log_startprob, log_transmats, lo, hi, ll, s, post, smooth, xi
):
    """Forward(-backward) of rows ``lo:hi`` in log space (exact whatever the
    range of the log-emissions); fills ``ll[s]``,
    ``post[lo:hi]`` and, when it has rows, ``xi[lo:hi]`` as
    :func:`varying_block`.

    Returns
    -------
    valid : bool
        False when the log-emissions hold NaN or ``+inf``.
    """
    k = log_emissions.shape[1]
    counts = xi.shape[0] > 0
    v = np.empty(k)
    valid = True
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
        return valid
    ll[s] = total
    if not smooth:
        for t in range(n):
            for j in range(k):
                post[lo + t, j] = np.exp(la[t, j])
        return valid
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
                    xi[lo + t, i, j] = np.exp(a + log_transmats[lo + t, i, j] + w[j])
        for i in range(k):
            lb[i] = nb[i] - m
    return valid


@njit(cache=True, nogil=True)
def varying_block(
    log_emissions,
    log_startprob,
    transmats,
    starts,
    blocks,
    b0,
    b1,
    ll,
    post,
    smooth,
    xi,
    fallback,
):
    """Forward(-backward) of the sequences of blocks ``b0:b1`` with a
    transition matrix per step, in probability space, scaled at every step
    (each emission row shifted by its maximum, each filtered row
    normalised).

    A sequence the scaled recursion cannot answer to rounding is flagged in
    ``fallback`` for :func:`log_sequence` (called separately, so that the
    log-space recursion compiles only when a sequence needs it): a
    log-emission that is NaN, ``+inf`` or a row of ``-inf``, a normaliser
    below :data:`SCALED_FLOOR` (its terms could be subnormal) or a backward
    row above ``1 / SCALED_FLOOR``.

    Parameters
    ----------
    log_emissions : ndarray of shape (n_samples, n_components)
    log_startprob : ndarray of shape (n_components,)
    transmats : ndarray of shape (n_samples, n_components, n_components)
        ``p(z_t = j | z_{t-1} = i)`` in ``[t, i, j]``; rows that start a
        sequence are not read.
    starts : ndarray of shape (n_sequences + 1,)
    blocks : ndarray of shape (n_blocks + 1,)
        Sequence indices where the blocks begin.
    b0, b1 : int
    ll : ndarray of shape (n_sequences,)
        Output: log-likelihood of each sequence answered.
    post : ndarray of shape (n_samples, n_components)
        Output: filtered rows, or posteriors with ``smooth``.
    smooth : bool
    xi : ndarray of shape (n_samples, n_components, n_components) or (0, K, K)
        Output when it has rows (needs ``smooth``): ``xi[t, i, j] =
        p(z_{t-1} = i, z_t = j | x)``, zero at the first row of a sequence.
    fallback : ndarray of shape (n_sequences,), int64
        Output: 1 for a sequence left to :func:`log_sequence` (its rows of
        ``ll``, ``post`` and ``xi`` are then to be overwritten), else 0.
    """
    k = log_emissions.shape[1]
    counts = xi.shape[0] > 0
    big = 1.0 / SCALED_FLOOR
    beta = np.empty(k)
    g = np.empty(k)
    nb = np.empty(k)
    # The filtered rows are written in ``post`` (then, with ``smooth``,
    # turned into posteriors in place, backwards).
    for s in range(blocks[b0], blocks[b1]):
        lo = starts[s]
        hi = starts[s + 1]
        n = hi - lo
        em = np.empty((n, k))
        scale = np.empty(n)
        total = 0.0
        ok = True
        for t in range(n):
            top = NEG_INF
            for j in range(k):
                e = log_emissions[lo + t, j]
                ok &= e < np.inf
                top = max(top, e)
            if not (ok and top > NEG_INF):
                ok = False
                break
            r = lo + t
            if t == 0:
                for j in range(k):
                    post[r, j] = np.exp(log_startprob[j])
            else:
                for j in range(k):
                    post[r, j] = 0.0
                for i in range(k):
                    a = post[r - 1, i]
                    if a == 0.0:
                        continue
                    for j in range(k):
                        post[r, j] += a * transmats[r, i, j]
            c = 0.0
            for j in range(k):
                em[t, j] = np.exp(log_emissions[r, j] - top)
                post[r, j] *= em[t, j]
                c += post[r, j]
            if not c >= SCALED_FLOOR:
                ok = False
                break
            for j in range(k):
                post[r, j] /= c
            scale[t] = c
            total += np.log(c) + top
        if ok and smooth:
            for j in range(k):
                beta[j] = 1.0
                if counts:
                    for i in range(k):
                        xi[lo, i, j] = 0.0
            for t in range(n - 1, 0, -1):
                r = lo + t
                inv = 1.0 / scale[t]
                for j in range(k):
                    g[j] = em[t, j] * beta[j] * inv
                for i in range(k):
                    v = 0.0
                    a = post[r - 1, i]
                    for j in range(k):
                        q = transmats[r, i, j] * g[j]
                        v += q
                        if counts:
                            xi[r, i, j] = a * q
                    nb[i] = v
                for i in range(k):
                    ok &= nb[i] <= big
                    beta[i] = nb[i]
                    post[r - 1, i] *= nb[i]
                if not ok:
                    break
        if ok:
            ll[s] = total
        fallback[s] = 0 if ok else 1


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


@njit(cache=True, nogil=True, inline="always")
def _step_logits(coef_t, w_t, z, top):
    """Logits of one step, all rows at once: ``z[i * K + j] =
    transcoef[i, j] @ w_t`` (``coef_t`` is ``transcoef`` as (n_inputs, K * K),
    so the inner loop runs over the K * K entries and vectorises); ``top[i]``
    the maximum of row ``i``; then ``z`` shifted by its row's maximum."""
    d, kk = coef_t.shape
    k = top.shape[0]
    for u in range(kk):
        z[u] = 0.0
    for c in range(d):
        wc = w_t[c]
        for u in range(kk):
            z[u] += coef_t[c, u] * wc
    for i in range(k):
        m = NEG_INF
        for j in range(k):
            m = max(m, z[i * k + j])
        top[i] = m
        for j in range(k):
            z[i * k + j] -= m


@njit(cache=True, nogil=True, inline="always")
def _step_softmax(coef_t, w_t, z, e, top, sums, bits):
    """One step's softmax terms, all rows: ``z`` the logits shifted by
    their row's maximum ``top[i]`` (:func:`_step_logits`), ``e`` their
    exponentials (the arithmetic of
    :func:`fasthmm._kernels.expmath.exp_flat`, from ``z`` into ``e``: a
    call of ``exp_flat`` on a copy of ``z`` made the step 5-10% slower) and
    ``sums[i]`` the sum of row ``i`` of ``e``. Inlined into
    :func:`softmax_pass`, its one caller."""
    k = top.shape[0]
    _step_logits(coef_t, w_t, z, top)
    for u in range(z.shape[0]):
        p, b = _exp_parts(z[u])
        bits[u] = b
        e[u] = p
    for u in range(z.shape[0]):
        e[u] *= _as_float(bits[u])
    for i in range(k):
        s = 0.0
        for j in range(k):
            s += e[i * k + j]
        sums[i] = s


def step_log_transmats(transcoef, w, out, probs):
    """Per-step transition matrices of input-driven transitions, in logs
    (when ``out`` has rows) and as probabilities (when ``probs`` has rows),
    one pass over the rows (:func:`softmax_pass`).

    ``out[t, i, j] = log softmax_j(transcoef[i, j] @ w[t])``. Each step's
    logits are computed all rows at once and exponentiated with the
    vectorised exponential of :mod:`fasthmm._kernels.expmath`.

    Parameters
    ----------
    transcoef : ndarray of shape (n_components, n_components, n_inputs)
    w : ndarray of shape (n_samples, n_inputs)
    out : ndarray of shape (n_samples, n_components, n_components) or (0, K, K)
        Output when it has rows.
    probs : ndarray of shape (n_samples, n_components, n_components) or (0, K, K)
        Output when it has rows: ``exp(out)``.
    """
    softmax_pass(
        transcoef,
        w,
        out,
        probs,
        np.empty((0, 0, 0)),
        np.empty((0, 0)),
        np.empty(0, dtype=np.int64),
        np.int64(-1),
        np.empty(0),
        np.empty((0, 0)),
        np.empty((0, 0, 0)),
    )


def logistic_terms(transcoef, y, nt, w, active, level, values, grad, info):
    """One pass over the steps of the weighted multinomial logistic
    regressions of every row of ``transcoef_`` (the M-step of input-driven
    transitions), all rows at once (:func:`softmax_pass`).

    The counts enter through two reductions of the per-step counts
    ``xi[t, i, j]`` (fixed during an M-step): ``y[i, j] = sum_t xi[t, i, j]
    w[t]`` and ``nt[t, i] = sum_j xi[t, i, j]``, so that row ``i``'s
    objective is ``sum_j transcoef[i, j] @ y[i, j] - sum_t nt[t, i]
    logsumexp_j(transcoef[i, j] @ w[t])``.

    Parameters
    ----------
    transcoef : ndarray of shape (n_components, n_components, n_inputs)
        Coefficients; ``transcoef[i, -1]`` is the reference (zero).
    y : ndarray of shape (n_components, n_components, n_inputs)
    nt : ndarray of shape (n_steps, n_components)
        Steps whose counts are all zero add nothing.
    w : ndarray of shape (n_steps, n_inputs)
    active : ndarray of shape (n_components,), int64
        Rows whose outputs are filled (others are left as they are).
    level : int
        0: the values only; 1: also ``grad``; 2: also ``info`` (the only
        part that costs ``O(n_components**2 * n_inputs**2)`` per step and
        row; untouched below 2).
    values : ndarray of shape (n_components,)
        Output: row ``i``'s objective (above), ``sum_t sum_j xi[t, i, j]
        log softmax_j(transcoef[i] @ w[t])``.
    grad : ndarray of shape (n_components, (n_components - 1) * n_inputs)
        Output: the gradient of row ``i`` with respect to
        ``transcoef[i, :-1]`` (row-major).
    info : ndarray of shape (n_components, grad.shape[1], grad.shape[1])
        Output: minus the Hessian of row ``i`` (the information matrix).
    """
    none = np.empty((0, 0, 0))
    softmax_pass(
        transcoef, w, none, none, y, nt, active, np.int64(level), values, grad, info
    )


@njit(cache=True, nogil=True)
def softmax_pass(transcoef, w, out, probs, y, nt, active, level, values, grad, info):
    """One pass over the steps computing each step's softmax of input-driven
    transitions, all rows at once: with ``level`` -1 it writes the per-step
    matrices (:func:`step_log_transmats`), else it reduces them into the
    terms of the regressions (:func:`logistic_terms`). One kernel for both,
    so that the softmax is compiled once.

    Parameters
    ----------
    transcoef : ndarray of shape (n_components, n_components, n_inputs)
    w : ndarray of shape (n_steps, n_inputs)
    out, probs :
        As in :func:`step_log_transmats` (unused unless ``level`` is -1).
    y, nt, active, level, values, grad, info :
        As in :func:`logistic_terms` (unused when ``level`` is -1).
    """
    n = w.shape[0]
    k, _, d = transcoef.shape
    kk = k * k
    m = k - 1
    matrices = level < 0
    logs = out.shape[0] > 0
    both = probs.shape[0] > 0
    # transcoef as (n_inputs, K * K), and the scratch of _step_softmax.
    coef_t = np.empty((d, kk))
    for i in range(k):
        for j in range(k):
            for c in range(d):
                coef_t[c, i * k + j] = transcoef[i, j, c]
    z = np.empty(kk)
    e = np.empty(kk)
    bits = np.empty(kk, dtype=np.int64)
    top = np.empty(k)
    sums = np.empty(k)
    r = np.empty(kk)
    # Accumulators, zeroed by loops (np.zeros would compile a fill of its own).
    lse = np.empty(k)
    for i in range(k):
        lse[i] = 0.0
    gacc = np.empty((d, kk))
    for c in range(d):
        for u in range(kk):
            gacc[c, u] = 0.0
    # info[i, (j, a), (q, b)] = sum_t h_t(i, j, q) w_ta w_tb: sums of the
    # h_t(i, j, q) (q >= j) of all rows (one long inner loop) times each
    # product w_ta w_tb (a <= b); expanded at the end.
    n_pairs = d * (d + 1) // 2
    n_jq = m * (m + 1) // 2
    ww = np.empty(n_pairs)
    hv = np.empty(k * n_jq)
    acc = np.empty((n_pairs, k * n_jq))
    for q1 in range(n_pairs):
        for u in range(k * n_jq):
            acc[q1, u] = 0.0
    want = level >= 1
    hessian = level >= 2
    for t in range(n):
        if not matrices:
            total = 0.0
            for i in range(k):
                total += nt[t, i]
            if total == 0.0:
                continue
        _step_softmax(coef_t, w[t], z, e, top, sums, bits)
        if matrices:
            for i in range(k):
                s = sums[i]
                if logs:
                    ls = np.log(s)
                    for j in range(k):
                        out[t, i, j] = z[i * k + j] - ls
                if both:
                    inv = 1.0 / s
                    for j in range(k):
                        probs[t, i, j] = e[i * k + j] * inv
            continue
        for i in range(k):
            s = sums[i]
            lse[i] += nt[t, i] * (top[i] + np.log(s))
            if want:
                f = nt[t, i] / s
                for j in range(k):
                    r[i * k + j] = f * e[i * k + j]
        if not want:
            continue
        for c in range(d):
            wc = w[t, c]
            for u in range(kk):
                gacc[c, u] += r[u] * wc
        if not hessian:
            continue
        q0 = 0
        for a in range(d):
            for b in range(a, d):
                ww[q0] = w[t, a] * w[t, b]
                q0 += 1
        for i in range(k):
            u = i * n_jq
            inv = 1.0 / sums[i]  # sums[i] >= 1: the row's largest term is 1
            for j in range(m):
                pj = r[i * k + j]  # nt[t, i] p_j
                for q in range(j, m):
                    hv[u] = pj * ((1.0 if j == q else 0.0) - e[i * k + q] * inv)
                    u += 1
        for q1 in range(n_pairs):
            we = ww[q1]
            for u in range(k * n_jq):
                acc[q1, u] += we * hv[u]
    if matrices:
        return
    for i in range(k):
        if not active[i]:
            continue
        v = -lse[i]
        for j in range(k):
            for c in range(d):
                v += transcoef[i, j, c] * y[i, j, c]
        values[i] = v
        if want:
            for j in range(m):
                for c in range(d):
                    grad[i, j * d + c] = y[i, j, c] - gacc[c, i * k + j]
        if not hessian:
            continue
        u = 0
        for j in range(m):
            for q in range(j, m):
                q1 = 0
                for a in range(d):
                    for b in range(a, d):
                        v = acc[q1, i * n_jq + u]
                        info[i, j * d + a, q * d + b] = v
                        info[i, j * d + b, q * d + a] = v
                        info[i, q * d + a, j * d + b] = v
                        info[i, q * d + b, j * d + a] = v
                        q1 += 1
                u += 1
