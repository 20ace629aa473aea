"""Numba kernels of the second-order tagger (:class:`fasthmm.HMMTagger`).

A second-order label chain is a first-order chain over label *pairs*
``(z[t-1], z[t])``. Only ``K`` of the ``K**2`` pair states can follow a given
pair ``(i, j)`` (those of the form ``(j, k)``), so one step costs ``O(K**3)``
instead of the ``O(K**4)`` of a dense pair-state chain. Each token also
carries a list of candidate labels (the labels its emission scores leave in
the beam); a step costs ``|c[t-2]| * |c[t-1]| * |c[t]|``.

Conventions
-----------
* ``K`` labels are ``0..K-1``; index ``K`` is the sentence boundary, so the
  transition tables have shape ``(K + 1, K + 1, K + 1)``:
  ``log_trans[i, j, k] = log p(z[t] = k | z[t-2] = i, z[t-1] = j)``, with
  ``i = j = K`` before the first token and ``k = K`` after the last one.
* ``scores`` (float64, ``(n_tokens, K)``): emission log-scores of each token.
* ``cand`` (int64, ``(n_tokens, W)``, ``W <= K``) and ``n_cand`` (int64, ``(n_tokens,)``):
  token ``t``'s candidate labels are ``cand[t, :n_cand[t]]`` (at least one).
* ``starts`` (int64, ``(n_sentences + 1,)``): sentence ``s`` is the tokens
  ``starts[s]:starts[s + 1]`` (no empty sentence).

Sentences are independent and each is decoded by one thread, so results do not
depend on the number of threads.
"""

import numpy as np
from numba import njit, prange


@njit(cache=True, inline="always", nogil=True)
def _cands(cand, n_cand, row, lo, boundary):
    """Candidates of token ``row`` of a sentence starting at ``lo`` (the
    boundary label before the sentence) as ``(array, count)``."""
    if row < lo:
        return boundary, 1
    return cand[row], n_cand[row]


@njit(cache=True, parallel=True, nogil=True)
def viterbi_pairs(log_trans, scores, cand, n_cand, starts, out):
    """Most probable label sequence of each sentence (second-order Viterbi).

    Parameters
    ----------
    log_trans : (K + 1, K + 1, K + 1) float64
    scores : (n_tokens, K) float64
    cand : (n_tokens, W) int64
    n_cand : (n_tokens,) int64
    starts : (n_sentences + 1,) int64
    out : (n_tokens,) int64
        Written: the label of each token. Ties go to the first maximum in
        candidate order.
    """
    n_labels = log_trans.shape[0]
    b = n_labels - 1
    boundary = np.full(1, b, dtype=np.int64)
    for s in prange(starts.shape[0] - 1):
        lo, hi = starts[s], starts[s + 1]
        n = hi - lo
        prev = np.full((n_labels, n_labels), -np.inf)
        cur = np.full((n_labels, n_labels), -np.inf)
        back = np.empty((n, n_labels, n_labels), dtype=np.int32)
        for t in range(n):
            row = lo + t
            c2, n2 = _cands(cand, n_cand, row - 2, lo, boundary)
            c1, n1 = _cands(cand, n_cand, row - 1, lo, boundary)
            c0, n0 = cand[row], n_cand[row]
            for a in range(n1):
                j = c1[a]
                for q in range(n0):
                    k = c0[q]
                    best, arg = -np.inf, c2[0]
                    for p in range(n2):
                        i = c2[p]
                        v = (prev[i, j] if t > 0 else 0.0) + log_trans[i, j, k]
                        if v > best:
                            best, arg = v, i
                    cur[j, k] = best + scores[row, k]
                    back[t, j, k] = arg
            prev, cur = cur, prev
        # the transition to the boundary after the last token
        c1, n1 = _cands(cand, n_cand, hi - 2, lo, boundary)
        c0, n0 = cand[hi - 1], n_cand[hi - 1]
        best, bj, bk = -np.inf, c1[0], c0[0]
        for a in range(n1):
            j = c1[a]
            for q in range(n0):
                k = c0[q]
                v = prev[j, k] + log_trans[j, k, b]
                if v > best:
                    best, bj, bk = v, j, k
        out[hi - 1] = bk
        if n > 1:
            out[hi - 2] = bj
        for t in range(n - 1, 1, -1):
            out[lo + t - 2] = back[t, out[lo + t - 1], out[lo + t]]


@njit(cache=True, parallel=True, nogil=True)
def marginals_pairs(trans, frame, cand, n_cand, starts, post):
    """Posterior marginal of each token's label (second-order forward-backward).

    Parameters
    ----------
    trans : (K + 1, K + 1, K + 1) float64
        Transition probabilities, laid out as ``log_trans`` of
        :func:`viterbi_pairs`.
    frame : (n_tokens, K) float64
        Emission scores exponentiated after subtracting each row's maximum
        (positive where a candidate is).
    cand, n_cand, starts
        As for :func:`viterbi_pairs`.
    post : (n_tokens, K) float64
        Written: ``p(z[t] = k | sentence)``; zero outside the candidates.
    """
    n_labels = trans.shape[0]
    b = n_labels - 1
    boundary = np.full(1, b, dtype=np.int64)
    for s in prange(starts.shape[0] - 1):
        lo, hi = starts[s], starts[s + 1]
        n = hi - lo
        alpha = np.zeros((n, n_labels, n_labels))
        scale = np.ones(n)
        for t in range(n):
            row = lo + t
            c2, n2 = _cands(cand, n_cand, row - 2, lo, boundary)
            c1, n1 = _cands(cand, n_cand, row - 1, lo, boundary)
            c0, n0 = cand[row], n_cand[row]
            total = 0.0
            for a in range(n1):
                j = c1[a]
                for q in range(n0):
                    k = c0[q]
                    acc = 0.0
                    for p in range(n2):
                        i = c2[p]
                        acc += (alpha[t - 1, i, j] if t > 0 else 1.0) * trans[i, j, k]
                    acc *= frame[row, k]
                    alpha[t, j, k] = acc
                    total += acc
            if total > 0.0:
                scale[t] = total
                for a in range(n1):
                    for q in range(n0):
                        alpha[t, c1[a], c0[q]] /= total
        beta = np.zeros((n_labels, n_labels))
        nxt = np.zeros((n_labels, n_labels))
        for t in range(n - 1, -1, -1):
            row = lo + t
            c1, n1 = _cands(cand, n_cand, row - 1, lo, boundary)
            c0, n0 = cand[row], n_cand[row]
            for a in range(n1):
                j = c1[a]
                for q in range(n0):
                    k = c0[q]
                    if t == n - 1:
                        acc = trans[j, k, b]
                    else:
                        acc = 0.0
                        cn, nn = cand[row + 1], n_cand[row + 1]
                        for r in range(nn):
                            m = cn[r]
                            acc += trans[j, k, m] * frame[row + 1, m] * nxt[k, m]
                        acc /= scale[t + 1]
                    beta[j, k] = acc
            total = 0.0
            for q in range(n0):
                k = c0[q]
                acc = 0.0
                for a in range(n1):
                    j = c1[a]
                    acc += alpha[t, j, k] * beta[j, k]
                post[row, k] = acc
                total += acc
            if total > 0.0:
                for q in range(n0):
                    post[row, c0[q]] /= total
            beta, nxt = nxt, beta
