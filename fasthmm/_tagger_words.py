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

Everything here works on arrays of *distinct* words at once: the words'
characters as a ``(n_words, width)`` matrix of code points, the character
classes looked up once per distinct character, and a node (a shape class with
a suffix) as a short fixed-width string ``chr(class + 1) + suffix`` found by
binary search in the sorted keys of its length.
"""

import unicodedata

import numpy as np

#: Shape classes of :func:`shapes` (their order is part of the file format).
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
_S = {name: i for i, name in enumerate(SHAPES)}

# character flags (bits), computed once per distinct character
_UPPER, _LOWER, _TITLE, _DIGIT, _LETTER, _HYPHEN, _AT = (1 << i for i in range(7))


_MULTI = np.uint32(0xFFFFFFFF)  # a character whose lowercase is several


def _char_info(code):
    """Flags of one character and the code point of its lowercase."""
    if code == 0:  # padding
        return 0, 0
    ch = chr(code)
    decimal = ch.isdecimal()  # what the regular expression \d matches
    flags = (
        _UPPER * ch.isupper()
        | _LOWER * ch.islower()
        | _TITLE * (unicodedata.category(ch) == "Lt")
        | _DIGIT * decimal
        | _LETTER * (ch.isalnum() and not decimal)  # [^\W\d_]
        | _HYPHEN * (ch == "-")
        | _AT * (ch == "@")
    )
    low = ch.lower()
    return flags, ord(low) if len(low) == 1 else _MULTI


_TABLE_SIZE = 1024  # the first code points, looked up once
_table = []


def _char_table(cp):
    """Flags (uint8) and lowercase code points (uint32) of each code point of
    ``cp`` (same shape)."""
    if not _table:
        info = np.array([_char_info(c) for c in range(_TABLE_SIZE)])
        _table.extend([info[:, 0].astype(np.uint8), info[:, 1].astype(np.uint32)])
    # beyond the table: clipped to its last entry, then looked up one by one
    flags, low = (np.take(t, cp, mode="clip") for t in _table)
    rare = cp >= _TABLE_SIZE
    if rare.any():
        codes, inverse = np.unique(cp[rare], return_inverse=True)
        info = np.array([_char_info(int(c)) for c in codes])[inverse.ravel()]
        flags[rare], low[rare] = info[:, 0], info[:, 1]
    return flags, low


def code_points(words, min_width=1):
    """``(n, width)`` uint32 code points of ``words`` (str array), zero-padded."""
    words = np.asarray(words, dtype=str)
    width = max(words.dtype.itemsize // 4, 1)
    cp = np.ascontiguousarray(words).view(np.uint32).reshape(words.size, width)
    if width < min_width:
        cp = np.pad(cp, ((0, 0), (0, min_width - width)))
    return cp


def _contains(cp, text):
    """Whether each row of code points holds ``text``."""
    n = len(text)
    if cp.shape[1] < n:
        return np.zeros(cp.shape[0], dtype=bool)
    hit = np.ones((cp.shape[0], cp.shape[1] - n + 1), dtype=bool)
    for i, ch in enumerate(text):
        hit &= cp[:, i : cp.shape[1] - n + 1 + i] == ord(ch)
    return hit.any(axis=1)


def shapes(words, firsts):
    """Index in :data:`SHAPES` of each word.

    Parameters
    ----------
    words : (n,) str array
        Distinct words (or not: any words).
    firsts : (n,) bool
        Whether each word starts its sentence.

    Returns
    -------
    (n,) int64
    """
    cp = code_points(words, min_width=4)
    return _shapes(cp, _char_table(cp)[0], firsts)


def _shapes(cp, flags, firsts):
    """:func:`shapes` from the code points and their flags."""
    anyf = np.bitwise_or.reduce(flags, axis=1)
    link = (
        (anyf & _AT > 0)
        | _contains(cp, "://")
        | (cp[:, :4] == np.array([ord(c) for c in "www."], np.uint32)).all(axis=1)
    )
    letter = anyf & _LETTER > 0
    caps = (anyf & _UPPER > 0) & (anyf & (_LOWER | _TITLE) == 0)
    lower = (anyf & _LOWER > 0) & (anyf & (_UPPER | _TITLE) == 0)
    long = (cp[:, 1] > 0) if cp.shape[1] > 1 else np.zeros(cp.shape[0], bool)
    firsts = np.asarray(firsts, dtype=bool)
    return np.select(
        [
            link,
            (anyf & _DIGIT > 0) & letter,
            anyf & _DIGIT > 0,
            ~letter,
            (flags[:, 0] & _UPPER > 0) & long & caps,
            (flags[:, 0] & _UPPER > 0) & firsts,
            flags[:, 0] & _UPPER > 0,
            lower & (anyf & _HYPHEN > 0),
            lower,
        ],
        [
            _S["link"],
            _S["digits and letters"],
            _S["number"],
            _S["symbols"],
            _S["all caps"],
            _S["capitalised, first word"],
            _S["capitalised"],
            _S["hyphenated"],
            _S["lower"],
        ],
        _S["mixed case"],
    ).astype(np.int64)


def node_keys(words, firsts, max_suffix):
    """Keys of the nodes of each word, by suffix length.

    Returns
    -------
    list of ``(rows, keys)``, one per suffix length ``m = 0..max_suffix``
        ``keys`` (str array): ``chr(class + 1)`` followed by the last ``m``
        characters of the lowercased word, for the words ``rows`` (int64)
        that have at least ``m`` characters.
    """
    words = np.asarray(words, dtype=str)
    cp = code_points(words, min_width=4)
    flags, low = _char_table(cp)
    head = _shapes(cp, flags, firsts).astype(np.uint32) + 1
    if (low == _MULTI).any():  # e.g. U+0130, whose lowercase has two characters
        words = np.char.lower(words)
        low = code_points(words)
    cp, length = low, np.char.str_len(words).astype(np.int64)
    out = []
    for m in range(max_suffix + 1):
        rows = np.flatnonzero(length >= m)
        key = np.empty((rows.size, m + 1), dtype=np.uint32)
        key[:, 0] = head[rows]
        ends = rows * cp.shape[1] + length[rows]  # flat index past each word
        key[:, 1:] = cp.ravel()[ends[:, None] - m + np.arange(m)]
        out.append((rows, key.view(f"<U{m + 1}").ravel()))
    return out


def build_nodes(words, firsts, labels, n_labels, max_suffix, theta, base):
    """Smoothed label distributions of the nodes seen in rare words.

    Parameters
    ----------
    words : (n,) str array
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
        ``chr(class + 1) + suffix``, by suffix length then in sorted order.
    probs : (n_nodes, n_labels) float64
        Smoothed ``p(label | node)``, positive.
    """
    words = np.asarray(words, dtype=str)
    firsts = np.asarray(firsts, dtype=bool)
    labels = np.asarray(labels, dtype=np.int64)
    # distinct (word, first) pairs and the label counts of each
    pair, inverse = np.unique(
        np.stack([np.unique(words, return_inverse=True)[1].ravel(), firsts]),
        axis=1,
        return_inverse=True,
    )
    inverse = inverse.ravel()
    type_words = words[np.unique(inverse, return_index=True)[1]]
    type_counts = np.bincount(
        inverse * n_labels + labels, minlength=pair.shape[1] * n_labels
    ).reshape(-1, n_labels)
    keys, probs = [], []
    prev = None  # each type's node in the previous suffix length's table
    for rows, key in node_keys(type_words, pair[1].astype(bool), max_suffix):
        uniq, node = np.unique(key, return_inverse=True)
        node = node.ravel()
        counts = np.zeros((uniq.size, n_labels))
        np.add.at(counts, node, type_counts[rows])
        prior = base
        if prev is not None:  # the parent: one suffix character fewer
            parent = np.empty(uniq.size, dtype=np.int64)
            parent[node] = prev[rows]
            prior = probs[-1][parent]
        ml = counts / counts.sum(axis=1, keepdims=True)
        probs.append((ml + theta * prior) / (1.0 + theta))
        keys.append(uniq)
        prev = np.full(type_words.size, -1, dtype=np.int64)
        prev[rows] = node
    if not keys:
        return np.array([], dtype=str), np.zeros((0, n_labels))
    return np.concatenate(keys), np.concatenate(probs)


class NodeIndex:
    """The node keys of a fitted model, sorted per suffix length for lookup."""

    def __init__(self, keys):
        keys = np.asarray(keys, dtype=str)
        length = np.char.str_len(keys)
        self.tables = []
        for m in range(int(length.max(initial=0))):
            rows = np.flatnonzero(length == m + 1)
            order = np.argsort(keys[rows], kind="stable")
            self.tables.append((keys[rows][order], rows[order]))

    def deepest(self, words, firsts, max_suffix):
        """Row of the deepest node of each word that was seen in training
        (-1 where not even its class was)."""
        found = np.full(len(words), -1, dtype=np.int64)
        depth = min(max_suffix + 1, len(self.tables))
        levels = zip(node_keys(words, firsts, depth - 1), self.tables[:depth])
        for (rows, key), (table, table_rows) in reversed(list(levels)):
            todo = found[rows] < 0  # the longest suffix seen wins
            rows, key = rows[todo], key[todo]
            if not table.size or not key.size:
                continue
            pos = np.minimum(np.searchsorted(table, key), table.size - 1)
            hit = table[pos] == key
            found[rows[hit]] = table_rows[pos[hit]]
        return found


def unknown_probs(words, firsts, index, probs, base, max_suffix):
    """``p(label | word)`` of the unknown-word model for each word.

    The deepest node of the word's class and suffixes that was seen in
    training; ``base`` when its class never was.

    Parameters
    ----------
    words : (n,) str array
    firsts : (n,) bool
    index : NodeIndex
    probs : (n_nodes, n_labels) float64
    base : (n_labels,) float64
    max_suffix : int

    Returns
    -------
    (n, n_labels) float64
    """
    found = index.deepest(words, firsts, max_suffix)
    out = probs[found]
    out[found < 0] = base
    return out
