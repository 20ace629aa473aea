"""The label chain of :class:`fasthmm.HMMTagger`: n-gram counts and TnT's
deleted interpolation (Brants 2000, "TnT - a statistical part-of-speech
tagger", section 2.2).

Labels are ``0..K-1`` and ``K`` is the sentence boundary. Each sentence
``z[0..n-1]`` is padded as ``K, K, z[0], ..., z[n-1], K``; every position
from ``z[0]`` to the closing ``K`` is a *target* with two labels of history.
The chain may run over *states* rather than labels: :func:`lexical_states`
gives frequent ambiguous words states of their own (a lexicalised HMM).
"""

import numpy as np

LEXICAL_MIN_COUNT = 10  # a word's label seen fewer times gets no state of its own
LEXICAL_MAX_SHARE = 0.995  # a word is ambiguous when its commonest label has less


def trigram_counts(labels, starts, n_labels):
    """Counts of (label two back, label one back, label) over every target.

    Parameters
    ----------
    labels : (n_tokens,) int64
        Labels ``0..n_labels-1`` of the concatenated sentences.
    starts : (n_sentences + 1,) int64
        Sentence ``s`` is ``labels[starts[s]:starts[s + 1]]`` (not empty).
    n_labels : int
        ``K``.

    Returns
    -------
    counts : (K + 1, K + 1, K + 1) float64
        ``counts[i, j, k]``: how often ``k`` follows ``i, j``.
    """
    b = n_labels
    lengths = np.diff(starts)
    # the padded sequence: boundary, boundary, labels..., boundary per sentence
    padded = np.full(labels.size + 3 * lengths.size, b, dtype=np.int64)
    offset = starts[:-1] + 3 * np.arange(lengths.size)
    token_pos = np.repeat(offset + 2 - starts[:-1], lengths) + np.arange(labels.size)
    padded[token_pos] = labels
    target = np.ones(padded.size, dtype=bool)
    target[offset] = False  # the two boundaries before each sentence
    target[offset + 1] = False
    t = np.flatnonzero(target)
    size = b + 1
    flat = (padded[t - 2] * size + padded[t - 1]) * size + padded[t]
    return (
        np.bincount(flat, minlength=size**3)
        .astype(np.float64)
        .reshape(size, size, size)
    )


def _ngram_tables(counts, order):
    """The (order+1)-gram count tables from unigram up, each of ndim m+1...

    Returns a list ``tables[m]`` (``m = 0..order``) of the counts of
    ``(m labels of history, target)``, shape ``(K + 1,) * (m + 1)``.
    """
    tables = [counts.sum(axis=(0, 1)), counts.sum(axis=0), counts]
    return tables[: order + 1]


def deleted_interpolation(counts, order):
    """TnT's interpolation weights ``lambda_1..lambda_{order+1}``.

    For every n-gram ``(history, k)`` of the highest order seen ``f > 0``
    times, the ratios ``(f(h_m, k) - 1) / (f(h_m) - 1)`` are computed for the
    history ``h_m`` cut to its last ``m`` labels (``m = 0``: ``f(h_0)`` is the
    number of targets), with ``0/0`` taken as 0; the weight of the largest
    ratio grows by ``f``. Ties share ``f`` equally. The weights are then
    normalised to sum to one.

    Parameters
    ----------
    counts : (K + 1, K + 1, K + 1) float64
        From :func:`trigram_counts`.
    order : {1, 2}

    Returns
    -------
    lambdas : (order + 1,) float64
        Unigram weight first.
    """
    tables = _ngram_tables(counts, order)
    top = tables[order]
    idx = np.nonzero(top)
    f = top[idx]
    ratios = np.empty((order + 1, f.size))
    for m, table in enumerate(tables):
        suffix = idx[order - m :]  # the last m history labels and the target
        num = table[suffix] - 1.0
        hist = table.sum(axis=-1)[suffix[:-1]] if m else np.full(f.size, table.sum())
        den = hist - 1.0
        ratios[m] = np.divide(num, den, out=np.zeros(f.size), where=den > 0)
    best = ratios == ratios.max(axis=0)
    weights = (best * (f / best.sum(axis=0))).sum(axis=1)
    return weights / weights.sum()


def transition_probs(counts, lambdas):
    """Interpolated ``p(k | i, j)`` of shape ``(K + 1,) * 3``.

    ``lambdas`` of length 2 give a first-order chain (``p`` does not depend on
    ``i``), of length 3 a second-order one. A history never seen uses the
    next lower order's estimate in its place, so each row sums to one.
    """
    tables = _ngram_tables(counts, lambdas.size - 1)
    size = counts.shape[0]
    est = tables[0] / tables[0].sum()  # unigram
    probs = lambdas[0] * est
    for m in range(1, lambdas.size):
        table = tables[m]
        hist = table.sum(axis=-1, keepdims=True)
        cond = np.where(hist > 0, table / np.maximum(hist, 1.0), est)
        probs = probs + lambdas[m] * cond
        est = cond
    return np.broadcast_to(probs, (size, size, size)).copy()


def lexical_states(w, y, word_counts, n_lexical):
    """States of the label chain: the labels, then (word, label) pairs for the
    ``n_lexical`` most frequent ambiguous words.

    Parameters
    ----------
    w : (n_tokens,) int64
        Word id of each token.
    y : (n_tokens,) int64
        Label of each token.
    word_counts : (V, K) float64
        Label counts of each word.
    n_lexical : int

    Returns
    -------
    states : (n_tokens,) int64
        The state of each token: its label, or for the chosen words' labels
        seen at least ``LEXICAL_MIN_COUNT`` times, ``K +`` the pair's index.
    state_label : (S,) int64
        The label of each state.
    state_word : (S,) int64
        The word of each state (-1: a label's own state).
    """
    n_labels = word_counts.shape[1]
    freq = word_counts.sum(axis=1)
    ambiguous = word_counts.max(axis=1) < LEXICAL_MAX_SHARE * freq
    by_freq = np.argsort(-freq, kind="stable")
    chosen = by_freq[ambiguous[by_freq]][:n_lexical]
    own = word_counts[chosen] >= LEXICAL_MIN_COUNT  # (n_chosen, K)
    table = np.full(own.shape, -1, dtype=np.int64)
    table[own] = n_labels + np.arange(own.sum())
    row = np.full(word_counts.shape[0], -1, dtype=np.int64)
    row[chosen] = np.arange(chosen.size)
    states = y.copy()
    hit = np.flatnonzero(row[w] >= 0)
    pair = table[row[w[hit]], y[hit]]
    states[hit[pair >= 0]] = pair[pair >= 0]
    words_of, labels_of = np.nonzero(own)
    state_label = np.concatenate([np.arange(n_labels), labels_of])
    state_word = np.concatenate([np.full(n_labels, -1), chosen[words_of]])
    return states, state_label.astype(np.int64), state_word.astype(np.int64)
