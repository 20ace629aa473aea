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
* ``cand`` (int64, ``(n_tokens, W)``, ``W <= K``) and ``n_cand`` (int64, ``(n_tokens,)``):
  token ``t``'s candidate labels are ``cand[t, :n_cand[t]]`` (at least one).
* ``scores`` (float64, ``(n_tokens, W)``): emission log-score of each token's
  candidates, ``scores[t, q]`` that of label ``cand[t, q]``.
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

    The tables of the recursion are indexed by *candidate positions*
    (``delta[a, q]``: token ``t-1`` takes its ``a``-th candidate, token ``t``
    its ``q``-th), so their size is ``W**2`` per token whatever ``K``.

    Parameters
    ----------
    log_trans : (K + 1, K + 1, K + 1) float64
    scores : (n_tokens, W) float64
        Emission log-score of each candidate.
    cand : (n_tokens, W) int64
    n_cand : (n_tokens,) int64
    starts : (n_sentences + 1,) int64
    out : (n_tokens,) int64
        Written: the label of each token. Ties go to the first maximum in
        candidate order.
    """
    b = log_trans.shape[0] - 1
    width = cand.shape[1]
    boundary = np.full(1, b, dtype=np.int64)
    for s in prange(starts.shape[0] - 1):
        lo, hi = starts[s], starts[s + 1]
        n = hi - lo
        prev = np.empty((width, width))
        cur = np.empty((width, width))
        back = np.empty((n, width, width), dtype=np.int32)
        for t in range(n):
            row = lo + t
            c2, n2 = _cands(cand, n_cand, row - 2, lo, boundary)
            c1, n1 = _cands(cand, n_cand, row - 1, lo, boundary)
            c0, n0 = cand[row], n_cand[row]
            for a in range(n1):
                j = c1[a]
                for q in range(n0):
                    k = c0[q]
                    best, arg = -np.inf, 0
                    for p in range(n2):
                        v = (prev[p, a] if t > 0 else 0.0) + log_trans[c2[p], j, k]
                        if v > best:
                            best, arg = v, p
                    cur[a, q] = best + scores[row, q]
                    back[t, a, q] = arg
            prev, cur = cur, prev
        # the transition to the boundary after the last token
        c1, n1 = _cands(cand, n_cand, hi - 2, lo, boundary)
        c0, n0 = cand[hi - 1], n_cand[hi - 1]
        best, ba, bq = -np.inf, 0, 0
        for a in range(n1):
            for q in range(n0):
                v = prev[a, q] + log_trans[c1[a], c0[q], b]
                if v > best:
                    best, ba, bq = v, a, q
        # candidate positions back to front, then their labels
        out[hi - 1] = bq
        if n > 1:
            out[hi - 2] = ba
        for t in range(n - 1, 1, -1):
            out[lo + t - 2] = back[t, out[lo + t - 1], out[lo + t]]
        for t in range(n):
            out[lo + t] = cand[lo + t, out[lo + t]]


@njit(cache=True, parallel=True, nogil=True)
def marginals_pairs(trans, frame, cand, n_cand, starts, post):
    """Posterior marginal of each token's label (second-order forward-backward).

    Parameters
    ----------
    trans : (K + 1, K + 1, K + 1) float64
        Transition probabilities, laid out as ``log_trans`` of
        :func:`viterbi_pairs`.
    frame : (n_tokens, W) float64
        Emission scores of the candidates, exponentiated after subtracting
        each row's maximum.
    cand, n_cand, starts
        As for :func:`viterbi_pairs`.
    post : (n_tokens, W) float64
        Written: ``post[t, q] = p(z[t] = cand[t, q] | sentence)`` for the
        candidates ``q < n_cand[t]``.
    """
    b = trans.shape[0] - 1
    width = cand.shape[1]
    boundary = np.full(1, b, dtype=np.int64)
    for s in prange(starts.shape[0] - 1):
        lo, hi = starts[s], starts[s + 1]
        n = hi - lo
        # alpha[t, a, q]: token t-1 at its a-th candidate, t at its q-th
        alpha = np.empty((n, width, width))
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
                        w = alpha[t - 1, p, a] if t > 0 else 1.0
                        acc += w * trans[c2[p], j, k]
                    acc *= frame[row, q]
                    alpha[t, a, q] = acc
                    total += acc
            if total > 0.0:
                scale[t] = total
                for a in range(n1):
                    for q in range(n0):
                        alpha[t, a, q] /= total
        # beta[a, q] at token t; nxt[q, r] the one of token t + 1
        beta = np.empty((width, width))
        nxt = np.empty((width, width))
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
                            acc += trans[j, k, m] * frame[row + 1, r] * nxt[q, r]
                        acc /= scale[t + 1]
                    beta[a, q] = acc
            total = 0.0
            for q in range(n0):
                acc = 0.0
                for a in range(n1):
                    acc += alpha[t, a, q] * beta[a, q]
                post[row, q] = acc
                total += acc
            if total > 0.0:
                for q in range(n0):
                    post[row, q] /= total
            beta, nxt = nxt, beta
