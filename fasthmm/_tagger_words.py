"""The unknown-word model of :class:`fasthmm.HMMTagger`.

A word is described by its *shape class* (capitalisation, digits, hyphens,
symbols, links; a capitalised word at the start of a sentence is a class of
its own) and its lowercased suffixes. Label distributions are learnt from the
rare words of the training text, per shape class and suffix, and smoothed by
TnT's successive abstraction (Brants 2000, section 2.3)::

    p(k | class, suffix of length m)
        = (phat(k | class, suffix m) + theta * p(k | class, suffix m-1))
          / (1 + theta)

from the empty suffix (``p(k | class)``, itself smoothed towards the label
distribution of all rare words, then of all words) up to the longest suffix
seen in training.
"""

import re

import numpy as np

_has_digit = re.compile(r"\d").search
_has_letter = re.compile(r"[^\W\d_]").search

#: Shape classes of :func:`word_shape` (their order is part of the file format).
SHAPES = (
    "lower",
    "capitalised",
    "capitalised, first word",
    "all caps",
    "mixed case",
    "hyphenated",
    "number",
    "digits and letters",
    "symbols",
    "link",
)
_SHAPE_ID = {name: i for i, name in enumerate(SHAPES)}
SEP = "\x1f"  # between the shape class and the suffix in a node key


def word_shape(word, first):
    """Index in :data:`SHAPES` of ``word`` (``first``: first of its sentence)."""
    if "@" in word or "://" in word or word.startswith("www."):
        return _SHAPE_ID["link"]
    has_letter = _has_letter(word) is not None
    if _has_digit(word):
        return _SHAPE_ID["digits and letters" if has_letter else "number"]
    if not has_letter:
        return _SHAPE_ID["symbols"]
    if word[0].isupper():
        if len(word) > 1 and word.isupper():
            return _SHAPE_ID["all caps"]
        return _SHAPE_ID["capitalised, first word" if first else "capitalised"]
    if word.islower():
        return _SHAPE_ID["hyphenated" if "-" in word else "lower"]
    return _SHAPE_ID["mixed case"]


def node_keys(word, first, max_suffix):
    """Keys of the nodes of ``word``: its shape class with each lowercased
    suffix of length ``0..max_suffix`` (shorter when the word is), shortest
    first."""
    head = f"{word_shape(word, first)}{SEP}"
    low = word.lower()
    return [
        head + low[len(low) - m :] if m else head
        for m in range(min(len(low), max_suffix) + 1)
    ]


def _parent(key):
    """The key of the node one suffix character shorter ('' for a class)."""
    head, _, suffix = key.partition(SEP)
    return f"{head}{SEP}{suffix[1:]}" if suffix else ""


def build_nodes(words, firsts, labels, n_labels, max_suffix, theta, base):
    """Smoothed label distributions of the nodes seen in rare words.

    Parameters
    ----------
    words : list of str
        Rare-word tokens.
    firsts : (n,) bool
        Whether each token starts its sentence.
    labels : (n,) int64
    n_labels : int
    max_suffix : int
    theta : float
        Weight of the parent node in successive abstraction.
    base : (n_labels,) float64
        The distribution every class is smoothed towards (positive).

    Returns
    -------
    keys : (n_nodes,) str array
    probs : (n_nodes, n_labels) float64
        Smoothed ``p(label | node)``, positive.
    """
    node_of, rows = [], []
    for r, (w, first) in enumerate(zip(words, firsts)):
        keys = node_keys(w, bool(first), max_suffix)
        node_of.extend(keys)
        rows.extend([r] * len(keys))
    index = {}
    inverse = [index.setdefault(k, len(index)) for k in node_of]
    keys = np.array(list(index), dtype=str)
    counts = np.zeros((keys.size, n_labels))
    np.add.at(
        counts, (np.array(inverse, dtype=np.int64), np.asarray(labels)[rows]), 1.0
    )
    ml = counts / counts.sum(axis=1, keepdims=True)
    depth = np.array([len(k) - k.index(SEP) - 1 for k in keys.tolist()])
    parent = np.array([index.get(_parent(k), -1) for k in keys.tolist()])
    probs = np.empty_like(ml)
    for m in range(depth.max() + 1 if keys.size else 0):
        at = np.flatnonzero(depth == m)
        prior = probs[parent[at]] if m else base
        probs[at] = (ml[at] + theta * prior) / (1.0 + theta)
    return keys, probs


def node_index(keys):
    """A dict from node key to row of ``probs``."""
    return {k: i for i, k in enumerate(keys.tolist())}


def unknown_probs(words, firsts, index, probs, base, max_suffix):
    """``p(label | word)`` of the unknown-word model for each word.

    The deepest node of the word's class and suffixes that was seen in
    training; ``base`` when its class never was.

    Returns
    -------
    (len(words), n_labels) float64
    """
    found = []
    for w, first in zip(words, firsts):
        head, low, row = f"{word_shape(w, bool(first))}{SEP}", w.lower(), -1
        for m in range(min(len(low), max_suffix), 0, -1):
            row = index.get(head + low[-m:], -1)
            if row >= 0:
                break
        else:
            row = index.get(head, -1)
        found.append(row)
    found = np.array(found, dtype=np.int64)
    out = probs[found]
    out[found < 0] = base
    return out
