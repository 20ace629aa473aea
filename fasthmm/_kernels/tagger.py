"""Numba kernels of the second-order tagger (:class:`fasthmm.HMMTagger`).

A second-order label chain is a first-order chain over label *pairs*
``(z[t-1], z[t])``. Only ``K`` of the ``K**2`` pair states can follow a given
pair ``(i, j)`` (those of the form ``(j, k)``), so one step costs ``O(K**3)``
instead of the ``O(K**4)`` of a dense pair-state chain. Each token moreover
carries a list of candidate labels (those its emission scores allow), and a
step costs only ``|c[t-2]| * |c[t-1]| * |c[t]|``: exact for the chain
restricted to the candidates, and the dense decoder when every label is a
candidate of every token.

Conventions
-----------
* ``K`` labels are ``0..K-1``; index ``K`` is the sentence boundary, so the
  transition tables have shape ``(K + 1, K + 1, K + 1)`` and the label two
  back on the *last* axis:
  ``log_trans[j, k, i] = log p(z[t] = k | z[t-2] = i, z[t-1] = j)``, with
  ``i = j = K`` before the first token and ``k = K`` after the last one
  (the innermost loops, over the label two back, then read one row).
* The candidates are a compressed table over *word types* (rows): row ``r``
  holds the labels ``labels[offsets[r]:offsets[r + 1]]`` (at least one) and
  their emission log-scores ``scores[offsets[r]:offsets[r + 1]]``
  (``offsets`` int64 ``(n_rows + 1,)``, ``labels`` int64 and ``scores``
  float64 ``(offsets[-1],)``). Token ``t`` is row ``rows[t]`` (int64
  ``(n_tokens,)``): the tokens of one word share its row.
* ``starts`` (int64, ``(n_sentences + 1,)``): sentence ``s`` is the tokens
  ``starts[s]:starts[s + 1]`` (no empty sentence).

The tables of the recursions are indexed by *candidate positions*, so their
size grows with the number of candidates, not with ``K``. Sentences are independent:
the kernels decode sentences ``s0:s1`` on the calling thread (they release
the GIL), and the caller runs contiguous ranges of sentences on several
threads at once for large work (:func:`fasthmm._threads.run_blocks`; no
parallel kernel is compiled), so results do not depend on the number of
threads.
"""

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _cands(rows, offsets, labels, token, lo, boundary):
    """Candidates of ``token`` in a sentence starting at ``lo``: their labels
    and the index of the first one in the table (the boundary label, and -1,
    before the sentence)."""
    if token < lo:
        return boundary, -1
    r = rows[token]
    return labels[offsets[r] : offsets[r + 1]], offsets[r]


@njit(cache=True, nogil=True)
def _width(rows, offsets, lo, hi):
    """The largest number of candidates of a token of ``lo:hi``."""
    width = 1
    for t in range(lo, hi):
        width = max(width, offsets[rows[t] + 1] - offsets[rows[t]])
    return width


@njit(cache=True, nogil=True)
def viterbi_pairs(log_trans, rows, offsets, labels, scores, starts, s0, s1, out):
    """Most probable label sequence of each sentence (second-order Viterbi).

    Parameters
    ----------
    log_trans : (K + 1, K + 1, K + 1) float64
    rows : (n_tokens,) int64
    offsets : (n_rows + 1,) int64
    labels : (n_entries,) int64
    scores : (n_entries,) float64
        The candidate table (module docstring).
    starts : (n_sentences + 1,) int64
    s0, s1 : int
        The sentences decoded.
    out : (n_tokens,) int64
        Written: the label of each token of sentences ``s0:s1``. Ties go to the first maximum in
        candidate order.
    """
    b = log_trans.shape[0] - 1
    boundary = np.empty(1, dtype=np.int64)
    boundary[0] = b
    for s in range(s0, s1):
        lo, hi = starts[s], starts[s + 1]
        n = hi - lo
        width = _width(rows, offsets, lo, hi)
        # prev[a, p]: best score with token t-1 at its a-th candidate and
        # t-2 at its p-th; cur[q, a] the same one token on
        prev = np.empty((width, width))
        prev[0, 0] = 0.0  # before the first token: the boundary, twice
        cur = np.empty((width, width))
        back = np.empty((n, width, width), dtype=np.int32)
        for t in range(n):
            c2, _ = _cands(rows, offsets, labels, lo + t - 2, lo, boundary)
            c1, _ = _cands(rows, offsets, labels, lo + t - 1, lo, boundary)
            c0, e0 = _cands(rows, offsets, labels, lo + t, lo, boundary)
            for q in range(c0.size):
                e = scores[e0 + q]
                for a in range(c1.size):
                    row = log_trans[c1[a], c0[q]]
                    best, arg = -np.inf, 0
                    for p in range(c2.size):
                        v = prev[a, p] + row[c2[p]]
                        if v > best:
                            best, arg = v, p
                    cur[q, a] = best + e
                    back[t, q, a] = arg
            prev, cur = cur, prev
        # the transition to the boundary after the last token
        c1, _ = _cands(rows, offsets, labels, hi - 2, lo, boundary)
        c0, _ = _cands(rows, offsets, labels, hi - 1, lo, boundary)
        top, ba, bq = -np.inf, 0, 0
        for q in range(c0.size):
            row = log_trans[c0[q], b]
            for a in range(c1.size):
                v = prev[q, a] + row[c1[a]]
                if v > top:
                    top, ba, bq = v, a, q
        # candidate positions back to front, then their labels
        out[hi - 1] = bq
        if n > 1:
            out[hi - 2] = ba
        for t in range(n - 1, 1, -1):
            out[lo + t - 2] = back[t, out[lo + t], out[lo + t - 1]]
        for t in range(lo, hi):
            out[t] = labels[offsets[rows[t]] + out[t]]


@njit(cache=True, nogil=True)
def marginals_pairs(
    trans, rows, offsets, labels, frame, label_of, starts, s0, s1, post
):
    """Posterior marginals of each token (second-order forward-backward).

    Parameters
    ----------
    trans : (K + 1, K + 1, K + 1) float64
        Transition probabilities, laid out as ``log_trans`` of
        :func:`viterbi_pairs`.
    rows, offsets, labels, starts, s0, s1
        As for :func:`viterbi_pairs`.
    frame : (n_entries,) float64
        Emission scores of the table's entries, exponentiated after
        subtracting each row's maximum.
    label_of : (K,) int64
        The output column of each label (several labels may share one: the
        states of a lexicalised chain and their plain labels).
    post : (n_tokens, n_columns) float64
        Written: ``post[t, c]``, the posterior probability that token ``t``
        (of sentences ``s0:s1``) takes a label of column ``c``.
    """
    b = trans.shape[0] - 1
    boundary = np.empty(1, dtype=np.int64)
    boundary[0] = b
    for s in range(s0, s1):
        lo, hi = starts[s], starts[s + 1]
        n = hi - lo
        width = _width(rows, offsets, lo, hi)
        # alpha[t, q, a]: token t at its q-th candidate, t-1 at its a-th
        # (explicit loops throughout: an array expression inside prange
        # becomes a nested parallel loop, slow to compile)
        alpha = np.empty((n, width, width))
        scale = np.empty(n)
        for t in range(n):
            c2, _ = _cands(rows, offsets, labels, lo + t - 2, lo, boundary)
            c1, _ = _cands(rows, offsets, labels, lo + t - 1, lo, boundary)
            c0, e0 = _cands(rows, offsets, labels, lo + t, lo, boundary)
            total = 0.0
            for q in range(c0.size):
                f = frame[e0 + q]
                for a in range(c1.size):
                    row = trans[c1[a], c0[q]]
                    v = 0.0
                    for p in range(c2.size):
                        v += (alpha[t - 1, a, p] if t > 0 else 1.0) * row[c2[p]]
                    alpha[t, q, a] = v * f
                    total += v * f
            scale[t] = total if total > 0.0 else 1.0
            for q in range(c0.size):
                for a in range(c1.size):
                    alpha[t, q, a] /= scale[t]
        # beta[q, a] at token t; nxt[r, q] the one of token t + 1
        beta = np.empty((width, width))
        nxt = np.empty((width, width))
        for t in range(n - 1, -1, -1):
            c1, _ = _cands(rows, offsets, labels, lo + t - 1, lo, boundary)
            c0, e0 = _cands(rows, offsets, labels, lo + t, lo, boundary)
            for q in range(c0.size):
                for a in range(c1.size):
                    beta[q, a] = 0.0
            if t == n - 1:
                cn, en = boundary, -1
            else:
                cn, en = _cands(rows, offsets, labels, lo + t + 1, lo, boundary)
            for q in range(c0.size):
                for r in range(cn.size):
                    row = trans[c0[q], cn[r]]
                    g = 1.0 if en < 0 else frame[en + r] * nxt[r, q] / scale[t + 1]
                    for a in range(c1.size):
                        beta[q, a] += row[c1[a]] * g
            for c in range(post.shape[1]):
                post[lo + t, c] = 0.0
            total = 0.0
            for q in range(c0.size):
                v = 0.0
                for a in range(c1.size):
                    v += alpha[t, q, a] * beta[q, a]
                total += v
                post[lo + t, label_of[c0[q]]] += v
            if total > 0.0:
                for c in range(post.shape[1]):
                    post[lo + t, c] /= total
            beta, nxt = nxt, beta
