"""Sequence labelling: :class:`HMMTagger`, a TnT-style HMM tagger on strings.

``fit(sentences, tags)`` on lists of lists of strings, ``predict(sentences)``
returns lists of lists of labels. The model:

* a first- or second-order chain with TnT's deleted interpolation
  (:mod:`fasthmm._tagger_chain`) over *states*: the labels, and for the most
  frequent ambiguous words one state per label they take (a lexicalised
  HMM; ``lexicalised``);
* emission scores ``log p(label | word) - log p(label)`` (Bayes' rule; the
  ``p(word)`` it leaves out is the same for every label), where
  ``p(label | word)`` of a word seen ``c`` times in training is
  ``(c(word, label) + known_weight * q(label | word)) / (c + known_weight)``
  and ``q`` is the unknown-word model (:mod:`fasthmm._tagger_words`): suffixes
  per shape class, learnt from rare words. A word never seen is scored by
  ``q`` alone, or, when its lowercased form was seen (``lowercase=True``), by
  the same formula on the counts of the lowercased form;
* decoding by the second-order Viterbi kernel over label pairs
  (:mod:`fasthmm._kernels.tagger`), each token restricted to its candidate
  states: those whose ``p(state | word)`` is within a factor ``beam`` of its
  best and, for a word seen in training, that it was seen with
  (``tag_dictionary``); worked out once per word type (the vocabulary's
  when fitted or loaded, each unknown word's once per call); or by the
  label with the largest posterior marginal (``decoder="posterior"``);
* optionally, EM on unlabelled text from the supervised start
  (:mod:`fasthmm._tagger_em`).
"""

import itertools
import json
import os

import numpy as np

from . import _tagger_chain as chain
from . import _tagger_words as words
from ._kernels.tagger import marginals_pairs, viterbi_pairs
from ._threads import run_blocks, use_threads
from ._validation import NotFittedError
from ._version import __version__

FORMAT_NAME = "fasthmm-tagger"
FORMAT_VERSION = 2  # 2: states (lexicalised), suffix-node keys chr(class + 1) + suffix
HEADER_KEY = "__fasthmm_header__"
TRANS_FLOOR = 1e-6  # weight of the uniform distribution in p(k | i, j)
_ARRAYS = (
    "labels_",
    "vocabulary_",
    "word_counts_",
    "label_probs_",
    "lambdas_",
    "trans_",
    "node_keys_",
    "node_probs_",
    "rare_probs_",
    "state_label_",
    "state_word_",
)


def _flatten(sentences, name, strings=True):
    """Tokens of ``sentences`` in one list, and the sentence offsets.

    Raises TypeError unless ``sentences`` is a list/tuple of lists/tuples
    (of strings, unless ``strings`` is False: the caller checks the tokens
    with :func:`_check_strings`).
    """
    if isinstance(sentences, (str, bytes)) or not isinstance(sentences, (list, tuple)):
        raise TypeError(
            f"{name} must be a list of sentences, each a list of strings; got "
            f"{type(sentences).__name__}"
        )
    for s, sentence in enumerate(sentences):
        if not isinstance(sentence, (list, tuple)):
            raise TypeError(
                f"{name}[{s}] must be a list of strings (one per token); got "
                f"{type(sentence).__name__}"
                + (
                    " (pass [sentence.split()] for one text)"
                    if isinstance(sentence, str)
                    else ""
                )
            )
    flat = list(itertools.chain.from_iterable(sentences))
    starts = np.zeros(len(sentences) + 1, dtype=np.int64)
    np.cumsum([len(s) for s in sentences], out=starts[1:])
    if strings:
        _check_strings(flat, flat, starts, name)
    return flat, starts


def _check_strings(tokens, flat, starts, name):
    """Raise TypeError naming the first of ``tokens`` (some or all of
    ``flat``, in order) that is not a string."""
    if all(issubclass(t, str) for t in set(map(type, tokens))):
        return
    token = next(t for t in tokens if not isinstance(t, str))
    at = next(i for i, t in enumerate(flat) if t is token)
    s = int(np.searchsorted(starts, at, side="right")) - 1
    raise TypeError(
        f"{name}[{s}][{at - starts[s]}] must be a string; got "
        f"{type(token).__name__} {token!r}"
    )


def _encode(items):
    """Distinct strings in order of first occurrence (str array), and the
    index of each item among them (int64)."""
    distinct = list(dict.fromkeys(items))  # loops in C, no Python per item
    index = dict(zip(distinct, range(len(distinct))))
    ids = np.fromiter(map(index.__getitem__, items), dtype=np.int64, count=len(items))
    return np.array(distinct, dtype=str), ids


def _pair_counts(rows, cols, n_rows, n_cols):
    """``counts[r, c]``: how often ``(rows[i], cols[i]) == (r, c)`` (float64)."""
    flat = np.bincount(rows * n_cols + cols, minlength=n_rows * n_cols)
    return flat.reshape(n_rows, n_cols).astype(np.float64)


def _split(items, starts):
    return [items[a:b] for a, b in zip(starts[:-1].tolist(), starts[1:].tolist())]


def _stack(*tables):
    """One candidate table (``offsets``, ``states``, ``scores``) from several,
    their rows one after the other (None: no rows)."""
    tables = [t for t in tables if t is not None]
    offsets, end = [np.zeros(1, dtype=np.int64)], 0
    for t in tables:
        offsets.append(t[0][1:] + end)
        end += t[0][-1]
    return (
        np.concatenate(offsets),
        np.concatenate([t[1] for t in tables]),
        np.concatenate([t[2] for t in tables]),
    )


def _two_back_last(trans):
    """``trans[i, j, k]`` as the kernels take it: ``out[j, k, i]``."""
    return np.ascontiguousarray(trans.transpose(1, 2, 0))


def _lower_table(vocab, word_counts):
    """The lowercased words (str array) and their summed counts."""
    lower, lw = _encode(np.char.lower(vocab).tolist())
    lower_counts = np.zeros((lower.size, word_counts.shape[1]))
    np.add.at(lower_counts, lw, word_counts)
    return lower, lower_counts


def _check_real(value, name, minimum, allow_none=False, allow_inf=False):
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"{name} must be a number; got {type(value).__name__}")
    if np.isnan(value) or (not allow_inf and np.isinf(value)) or value < minimum:
        raise ValueError(f"{name} must be a finite number >= {minimum}; got {value!r}")


class HMMTagger:
    """An HMM tagger for token sequences (part of speech, BIO tags, any labels).

    Parameters
    ----------
    order : {1, 2}, default 2
        Order of the label chain: 2 conditions each label on the two before
        it (TnT), 1 on the one before it.
    rare_max : int, default 10
        Words seen at most this many times in training teach the unknown-word
        model.
    max_suffix : int, default 5
        Longest suffix of the unknown-word model (TnT: 10).
    theta : float or None, default 1.0
        Weight of the shorter suffix in successive abstraction; None: TnT's
        choice, the standard deviation of the label probabilities (about
        0.05 for part of speech, which smooths less than the default).
    known_weight : float, default 1.0
        Pseudo-count of the unknown-word model in the label distribution of a
        word seen in training (0: the training counts alone, as TnT).
    lowercase : bool, default True
        Score a word never seen by the counts of its lowercased form when that
        was seen.
    beam : float or None, default 1000.0
        Each token keeps only the labels whose ``p(label | word)`` is at least
        its best one's divided by ``beam`` (None: all labels).
    tag_dictionary : bool, default True
        A word seen in training keeps only the states it was seen with (as
        in TnT; ``known_weight`` still smooths their scores), within the
        beam. False: every state in the beam, so that a word can take a
        label it was never seen with.
    decoder : {"viterbi", "posterior"}, default "viterbi"
        The most probable label sequence, or each token's most probable label
        (the largest posterior marginal).
    lambdas : sequence of float or None, default None
        Interpolation weights of the label chain, unigram first
        (``order + 1`` of them); None: TnT's deleted interpolation.
    lexicalised : int, default 50
        The most frequent words whose label is ambiguous (the commonest one
        under 99.5% of their occurrences; "that", "have", "to" in English)
        get chain states of their own, one per label they were seen with at
        least 10 times: the chain then learns, for instance, that "have"
        before a participle is an auxiliary (a *lexicalised* HMM). Each one
        adds its labels to the states ``S``; decoding costs grow with the
        candidates per token, the transition tables with ``S**3``. 0: none.

    Attributes
    ----------
    labels_ : (K,) str array
        The labels, sorted.
    lambdas_ : (order + 1,) float64
        Interpolation weights used, unigram first.
    state_label_ : (S,) int64
        The label of each state of the chain (the first ``K`` are the labels
        themselves, in order).
    state_word_ : (S,) str array
        The word of each lexicalised state ("" for the first ``K``).
    trans_ : (S + 1, S + 1, S + 1) float64
        ``p(k | i, j)`` between states; index ``S`` is the sentence boundary.
    vocabulary_ : (V,) str array
        The words seen in training; ``word_counts_`` (V, S) their
        state counts.
    """

    def __init__(
        self,
        order=2,
        *,
        rare_max=10,
        max_suffix=5,
        theta=1.0,
        known_weight=1.0,
        lowercase=True,
        beam=1000.0,
        decoder="viterbi",
        lambdas=None,
        lexicalised=50,
        tag_dictionary=True,
    ):
        self.order = order
        self.rare_max = rare_max
        self.max_suffix = max_suffix
        self.theta = theta
        self.known_weight = known_weight
        self.lowercase = lowercase
        self.beam = beam
        self.decoder = decoder
        self.lambdas = lambdas
        self.lexicalised = lexicalised
        self.tag_dictionary = tag_dictionary

    # ------------------------------------------------------------------ params
    def get_params(self):
        """The constructor arguments as a dict."""
        names = (
            "order rare_max max_suffix theta known_weight lowercase beam decoder "
            "lambdas lexicalised tag_dictionary"
        ).split()
        return {n: getattr(self, n) for n in names}

    def _check_params(self):
        if self.order not in (1, 2) or isinstance(self.order, bool):
            raise ValueError(f"order must be 1 or 2; got {self.order!r}")
        for name in ("rare_max", "max_suffix", "lexicalised"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise TypeError(f"{name} must be an int; got {type(value).__name__}")
            if value < 0:
                raise ValueError(f"{name} must be >= 0; got {value}")
        _check_real(self.theta, "theta", 0.0, allow_none=True)
        _check_real(self.known_weight, "known_weight", 0.0)
        _check_real(self.beam, "beam", 1.0, allow_none=True)
        if self.decoder not in ("viterbi", "posterior"):
            raise ValueError(
                f"decoder must be 'viterbi' or 'posterior'; got {self.decoder!r}"
            )
        for name in ("lowercase", "tag_dictionary"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise TypeError(f"{name} must be a bool; got {getattr(self, name)!r}")
        if self.lambdas is not None:
            lam = np.asarray(self.lambdas, dtype=np.float64)
            if lam.shape != (self.order + 1,) or (lam < 0).any() or lam.sum() <= 0:
                raise ValueError(
                    f"lambdas must be {self.order + 1} non-negative weights (unigram "
                    f"first) with a positive sum; got {self.lambdas!r}"
                )

    # --------------------------------------------------------------------- fit
    def fit(self, sentences, tags, unlabelled=None, *, n_iter=10, tol=0.01):
        """Train from labelled sentences, in one pass over the counts; with
        ``unlabelled``, then by EM on unlabelled text.

        Parameters
        ----------
        sentences : list of list of str
            Tokens.
        tags : list of list of str
            One label per token, same lengths as ``sentences``.
        unlabelled : list of list of str, optional
            Sentences without labels (semi-supervised training). EM, from the
            supervised tagger, re-estimates the word-label counts on both
            texts (labelled counts plus the expected counts of the unlabelled
            text; words seen only there join the vocabulary); the label chain
            stays the supervised one. ``monitor_.history`` holds the EM
            objective of each iteration (never decreasing). See
            :mod:`fasthmm._tagger_em` for the model EM fits.
        n_iter, tol : int, float
            EM's iteration limit and convergence threshold (on the objective).

        Returns
        -------
        self
        """
        self._check_params()
        u_flat, u_starts = (
            _flatten(unlabelled, "unlabelled") if unlabelled is not None else ([], None)
        )
        if isinstance(n_iter, bool) or not isinstance(n_iter, (int, np.integer)):
            raise TypeError(f"n_iter must be an int; got {type(n_iter).__name__}")
        if n_iter < 1:
            raise ValueError(f"n_iter must be >= 1; got {n_iter}")
        _check_real(tol, "tol", -np.inf, allow_inf=True)
        flat, starts = _flatten(sentences, "sentences")
        flat_tags, tag_starts = _flatten(tags, "tags")
        if len(sentences) != len(tags):
            raise ValueError(
                f"sentences and tags must have the same number of sentences; got "
                f"{len(sentences)} and {len(tags)}"
            )
        if not np.array_equal(starts, tag_starts):
            s = int(np.flatnonzero(np.diff(starts) != np.diff(tag_starts))[0])
            raise ValueError(
                f"tags[{s}] must have one label per token of sentences[{s}]: got "
                f"{len(tags[s])} labels for {len(sentences[s])} tokens"
            )
        if not flat:
            raise ValueError("sentences must hold at least one token to fit")
        nonempty = np.concatenate([[0], np.flatnonzero(np.diff(starts)) + 1])
        starts = np.unique(starts[nonempty])
        labels, y = _encode(flat_tags)
        order = np.argsort(labels)  # the labels sorted, y renumbered
        labels, y = labels[order], np.argsort(order)[y]
        fitted = self._fit_counts(flat, y, starts, labels)
        states = fitted.pop("states")
        backup = dict(self.__dict__)
        try:
            for name, value in fitted.items():
                setattr(self, name, value)
            self._prepare()
            if u_flat:
                self._fit_unlabelled(states, starts, u_flat, u_starts, n_iter, tol)
        except BaseException:  # a failed fit leaves the tagger as it was
            self.__dict__.clear()
            self.__dict__.update(backup)
            raise
        return self

    def _fit_unlabelled(self, states, starts, flat, u_starts, n_iter, tol):
        """EM on the unlabelled tokens ``flat`` (see :mod:`fasthmm._tagger_em`)."""
        from . import _tagger_em

        n = len(flat)
        ids = np.fromiter(
            map(self._index.get, flat, itertools.repeat(-1, n)), dtype=np.int64, count=n
        )
        unseen = np.flatnonzero(ids < 0)
        new, new_ids = _encode([flat[i] for i in unseen.tolist()])
        ids[unseen] = self.vocabulary_.size + new_ids
        new_scores = self._unknown_scores(new, np.zeros(new.size, dtype=bool))
        word_probs = np.exp(np.vstack([self._known_scores, new_scores]))
        word_probs *= self.label_probs_
        counts = np.vstack(
            [self.word_counts_, np.zeros((new.size, self.state_label_.size))]
        )
        lengths = np.diff(u_starts)
        monitor, expected = _tagger_em.run(
            states,
            starts,
            word_probs,
            counts,
            ids,
            lengths[lengths > 0],
            n_iter,
            tol,
        )
        self.vocabulary_ = np.concatenate([self.vocabulary_, new])
        self.word_counts_ = counts + expected
        self.monitor_ = monitor
        self._prepare()

    def _fit_counts(self, flat, y, starts, labels):
        vocab, w = _encode(flat)
        base_counts = _pair_counts(w, y, vocab.size, labels.size)
        y, state_label, state_word = chain.lexical_states(
            w, y, base_counts, self.lexicalised
        )
        n_labels = state_label.size  # from here on, "labels" are the states
        counts = chain.trigram_counts(y, starts, n_labels)
        lambdas = (
            chain.deleted_interpolation(counts, self.order)
            if self.lambdas is None
            else np.asarray(self.lambdas, dtype=np.float64) / np.sum(self.lambdas)
        )
        # a floor keeps every label sequence possible (a transition never seen
        # and weighted 0 would otherwise leave some sentences no path at all)
        trans = (1 - TRANS_FLOOR) * chain.transition_probs(counts, lambdas)
        trans += TRANS_FLOOR / trans.shape[0]
        word_counts = _pair_counts(w, y, vocab.size, n_labels)
        label_probs = np.bincount(y, minlength=n_labels) / y.size
        # the unknown-word model never gives a word's own states
        plain_probs = np.where(state_word < 0, label_probs, 0.0)
        plain_probs /= plain_probs.sum()
        if self.theta is None:  # TnT: the spread of the label probabilities
            theta = np.std(base_counts.sum(axis=0) / y.size, ddof=1)
        else:
            theta = self.theta
        freq = word_counts.sum(axis=1)
        rare = np.flatnonzero(freq[w] <= self.rare_max)
        # the unknown-word model gives labels (the first K states)
        rare_labels = state_label[y[rare]]
        rare_counts = np.bincount(rare_labels, minlength=labels.size).astype(float)
        rare_probs = (
            rare_counts / max(rare.size, 1) + theta * plain_probs[: labels.size]
        ) / (1 + theta)
        firsts = np.zeros(len(flat), dtype=bool)
        firsts[starts[:-1]] = True
        keys, probs = words.build_nodes(
            vocab[w[rare]],
            firsts[rare],
            rare_labels,
            labels.size,
            self.max_suffix,
            theta,
            rare_probs,
        )
        return {
            "labels_": labels,
            "lambdas_": lambdas,
            "trans_": trans,
            "vocabulary_": vocab,
            "word_counts_": word_counts,
            "label_probs_": label_probs,
            "node_keys_": keys,
            "node_probs_": probs,
            "rare_probs_": rare_probs,
            "state_label_": state_label,
            "state_word_": np.where(state_word < 0, "", vocab[state_word]),
            "states": y,
        }

    def _prepare(self):
        """Derived tables: lookups and the emission scores of known words."""
        self._index = {w: i for i, w in enumerate(self.vocabulary_.tolist())}
        self.lower_vocabulary_, self.lower_counts_ = _lower_table(
            self.vocabulary_, self.word_counts_
        )
        self._lower_index = {
            w: i for i, w in enumerate(self.lower_vocabulary_.tolist())
        }
        self._nodes = words.NodeIndex(self.node_keys_)
        # the kernels' layout: the state two back on the last axis
        self._log_trans = np.log(_two_back_last(self.trans_))
        self._trans = None  # the same for posterior decoding, made when needed
        self._label_names = self.labels_.astype(object)
        q = self._unknown(self.vocabulary_, np.zeros(self.vocabulary_.size, bool))
        self._known_scores = self._scores(self.word_counts_, q)
        self._known_table = None

    def _unknown(self, tokens, firsts, width=None):
        """The unknown-word model's ``p(state | word)`` (n, width) for the
        first ``width`` states (default all S): zero for the lexicalised
        states."""
        width = self.state_label_.size if width is None else width
        q = np.zeros((len(tokens), width))
        q[:, : self.labels_.size] = words.unknown_probs(
            tokens,
            firsts,
            self._nodes,
            self.node_probs_,
            self.rare_probs_,
            self.max_suffix,
        )
        return q

    def _scores(self, counts, q):
        """``log p(label | word) - log p(label)`` from counts and ``q`` (the
        first ``q.shape[1]`` states)."""
        kw = self.known_weight
        total = counts.sum(axis=1, keepdims=True)
        p = np.where(total > 0, (counts + kw * q) / np.maximum(total + kw, 1e-300), q)
        with np.errstate(divide="ignore", invalid="ignore"):
            # a state never seen (a label whose every occurrence went to
            # lexicalised states) scores -inf, not -inf - -inf or +inf
            log_prior = np.log(self.label_probs_[: p.shape[1]])
            return np.where(
                (p > 0) & (log_prior > -np.inf), np.log(p) - log_prior, -np.inf
            )

    # ----------------------------------------------------------------- predict
    def _check_fitted(self):
        if not hasattr(self, "trans_"):
            raise NotFittedError(
                "this HMMTagger is not fitted yet: call fit(sentences, tags) first"
            )

    def _table(self, flat, starts):
        """The candidate table of the tokens (:mod:`fasthmm._kernels.tagger`):
        ``rows`` (n_tokens,), ``offsets``, ``states``, ``scores``. The
        vocabulary's rows come first (computed once), then one row per
        distinct unknown word and sentence-start flag of this batch."""
        n = len(flat)
        try:  # a token found is a string: only the others need checking
            rows = np.fromiter(
                map(self._index.get, flat, itertools.repeat(-1, n)),
                dtype=np.int64,
                count=n,
            )
        except TypeError:  # unhashable
            _check_strings(flat, flat, starts, "sentences")
            raise
        key = (self.beam, bool(self.tag_dictionary))
        if self._known_table is None or self._known_table[0] != key:
            seen = self.word_counts_ > 0 if self.tag_dictionary else None
            self._known_table = (key, *self._candidates(self._known_scores, seen))
        known = self._known_table[1:]
        unknown = np.flatnonzero(rows < 0)
        if not unknown.size:
            return (rows, *known)
        tokens = [flat[i] for i in unknown.tolist()]
        _check_strings(tokens, flat, starts, "sentences")
        first = np.zeros(n, dtype=bool)
        first[np.unique(starts)[:-1]] = True
        types, wid = _encode(tokens)
        # distinct (word, first of its sentence) pairs of the unknown tokens
        pairs, pair_of = np.unique(wid * 2 + first[unknown], return_inverse=True)
        row_of, *table = self._unknown_table(types[pairs // 2], pairs % 2 == 1)
        rows[unknown] = self.vocabulary_.size + row_of[pair_of.ravel()]
        return (rows, *_stack(known, table))

    def _unknown_table(self, types, firsts):
        """Candidate table of words not in the vocabulary (``types``, str
        array; ``firsts``: whether each starts its sentence): the table row
        of each word, then ``offsets``, ``states``, ``scores``. Only the K
        label states are scored, except for the words whose lowercased form
        brings counts of lexicalised states."""
        n_labels = self.labels_.size
        q = self._unknown(types, firsts, n_labels)
        counts = np.zeros_like(q)
        wide = np.zeros(0, dtype=np.int64)
        if self.lowercase:
            found, lower_counts = self._lowercase_counts(types)
            counts[found] = lower_counts[:, :n_labels]
            lexical = lower_counts[:, n_labels:].any(axis=1)
            wide, wide_counts = found[lexical], lower_counts[lexical]
        narrow = np.ones(len(types), dtype=bool)
        narrow[wide] = False
        wide_q = np.zeros((wide.size, self.state_label_.size))
        wide_q[:, :n_labels] = q[wide]
        table = _stack(
            self._candidates(self._scores(counts[narrow], q[narrow])),
            self._candidates(self._scores(wide_counts, wide_q)) if wide.size else None,
        )
        row_of = np.empty(len(types), dtype=np.int64)
        row_of[np.concatenate([np.flatnonzero(narrow), wide])] = np.arange(len(types))
        return (row_of, *table)

    def _lowercase_counts(self, types):
        """The words of ``types`` whose lowercased form was seen (int64 rows)
        and the state counts of that form (n_found, S)."""
        lowered = [w.lower() for w in types.tolist()]
        j = np.fromiter(
            map(self._lower_index.get, lowered, itertools.repeat(-1)),
            dtype=np.int64,
            count=len(lowered),
        )
        found = np.flatnonzero(j >= 0)
        return found, self.lower_counts_[j[found]]

    def _unknown_scores(self, types, firsts):
        """Emission scores (n, S) of words not in the vocabulary (``types``,
        str array; ``firsts``: whether each starts its sentence)."""
        q = self._unknown(types, firsts)
        counts = np.zeros_like(q)
        if self.lowercase:
            found, lower_counts = self._lowercase_counts(types)
            counts[found] = lower_counts
        return self._scores(counts, q)

    def _candidates(self, scores, seen=None):
        """The states in the beam of each row of ``scores`` (n, W), the
        emission scores of the first W states, as a candidate table:
        ``offsets`` (n + 1,), ``states`` and their ``scores``. The beam keeps
        the states whose ``p(state | word)`` (the score plus the log prior)
        is at least the largest one's divided by ``beam``; with ``seen``
        (n, W) bool, among those states only (a row with none: all)."""
        keep = np.isfinite(scores)
        if seen is not None:
            keep &= seen | ~(keep & seen).any(axis=1, keepdims=True)
        if self.beam is not None:
            with np.errstate(divide="ignore"):
                log_p = scores + np.log(self.label_probs_[: scores.shape[1]])
            log_p[~keep] = -np.inf
            keep = log_p >= log_p.max(axis=1, keepdims=True) - np.log(self.beam)
        offsets = np.zeros(scores.shape[0] + 1, dtype=np.int64)
        np.cumsum(keep.sum(axis=1), out=offsets[1:])
        row, state = np.nonzero(keep)
        return offsets, state.astype(np.int64), scores[row, state]

    def _decode(self, flat, starts):
        """Label ids (in ``labels_``) of the tokens (int64, ``(n_tokens,)``)."""
        table = self._table(flat, starts)
        bounds = np.unique(starts)  # empty sentences dropped
        if self.decoder == "viterbi":
            out = np.empty(len(flat), dtype=np.int64)
            self._by_sentences(viterbi_pairs, (self._log_trans, *table, bounds), (out,))
            return self.state_label_[out]
        return np.argmax(self._marginals(table, bounds), axis=1)

    def _marginals(self, table, bounds):
        """Posterior marginals of the labels (n_tokens, K): those of the
        candidate states summed per label."""
        rows, offsets, states, scores = table
        top = np.maximum.reduceat(scores, offsets[:-1])
        frame = np.exp(scores - np.repeat(top, np.diff(offsets)))
        post = np.zeros((rows.size, self.labels_.size))
        if self._trans is None:
            self._trans = _two_back_last(self.trans_)
        before = (self._trans, rows, offsets, states, frame, self.state_label_, bounds)
        self._by_sentences(marginals_pairs, before, (post,))
        return post

    def _by_sentences(self, kernel, before, after):
        """``kernel(*before, s0, s1, *after)`` over every sentence (``before``
        ends with the sentence bounds): on the calling thread for small
        work, else in contiguous ranges on several threads at once."""
        bounds = before[-1]
        threads = use_threads(bounds[-1], self.labels_.size)
        run_blocks(kernel, before, after, bounds.shape[0] - 1, threads)

    def predict(self, sentences):
        """Labels of each token.

        Parameters
        ----------
        sentences : list of list of str

        Returns
        -------
        list of list of str
            One label per token.
        """
        self._check_fitted()
        flat, starts = _flatten(sentences, "sentences", strings=False)
        if not flat:
            return [[] for _ in sentences]
        labels = self._label_names[self._decode(flat, starts)].tolist()
        return _split(labels, starts)

    def predict_proba(self, sentences):
        """Posterior marginals ``p(label | sentence)`` of each token.

        Returns
        -------
        list of (n_tokens, K) float64 arrays
            Columns in the order of ``labels_``; labels outside the beam get 0.
        """
        self._check_fitted()
        flat, starts = _flatten(sentences, "sentences", strings=False)
        if not flat:
            return [np.zeros((0, self.labels_.size)) for _ in sentences]
        post = self._marginals(self._table(flat, starts), np.unique(starts))
        return _split(post, starts)

    def is_known(self, sentences):
        """Whether each token was seen in training (list of list of bool)."""
        self._check_fitted()
        flat, starts = _flatten(sentences, "sentences")
        known = [w in self._index for w in flat]
        return _split(known, starts)

    def score(self, sentences, tags):
        """Token accuracy of :meth:`predict` against ``tags``."""
        predicted = self.predict(sentences)
        gold, starts = _flatten(tags, "tags")
        got, got_starts = _flatten(predicted, "predicted")
        if len(tags) != len(sentences) or not np.array_equal(starts, got_starts):
            raise ValueError("tags must have one label per token of sentences")
        if not gold:
            raise ValueError("sentences must hold at least one token to score")
        return float(
            np.mean(np.array(got, dtype=object) == np.array(gold, dtype=object))
        )

    # --------------------------------------------------------------- save/load
    def save(self, path):
        """Write the fitted tagger to ``path`` (an ``.npz`` archive; no pickle).

        Parameters
        ----------
        path : str, os.PathLike or a binary file object
        """
        self._check_fitted()
        params = self.get_params()
        if params["lambdas"] is not None:
            params["lambdas"] = [float(v) for v in params["lambdas"]]
        for name in ("rare_max", "max_suffix", "order", "lexicalised"):
            params[name] = int(params[name])
        for name in ("theta", "known_weight", "beam"):
            if params[name] is not None:
                params[name] = float(params[name])
        params["lowercase"] = bool(params["lowercase"])
        params["tag_dictionary"] = bool(params["tag_dictionary"])
        header = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "fasthmm_version": __version__,
            "class": type(self).__name__,
            "params": params,
        }
        arrays = {f"param/{n}": getattr(self, n) for n in _ARRAYS}
        arrays[HEADER_KEY] = np.array(json.dumps(header))
        if hasattr(path, "write"):
            np.savez_compressed(path, **arrays)
        else:
            with open(os.fspath(path), "wb") as f:
                np.savez_compressed(f, **arrays)

    @classmethod
    def load(cls, path):
        """Read a tagger written by :meth:`save`.

        Raises
        ------
        ValueError
            When ``path`` is not a tagger file (not an ``.npz`` archive, no or a
            bad header, a missing entry, an entry that needs unpickling).
        """
        try:
            archive = np.load(path, allow_pickle=False)
        except ValueError:
            raise ValueError(
                f"{path!s} is not a fasthmm tagger file: not an .npz archive "
                "(fasthmm never unpickles a file)"
            ) from None
        with archive:
            try:
                header = json.loads(str(archive[HEADER_KEY]))
                if header.get("format") != FORMAT_NAME:
                    raise ValueError(f"header format is {header.get('format')!r}")
                if header.get("format_version", 0) < FORMAT_VERSION:
                    raise ValueError(
                        f"written in format version {header.get('format_version')} by "
                        "an earlier fasthmm, whose suffix table this one does not "
                        "read: fit the tagger again"
                    )
                if header.get("format_version", 0) > FORMAT_VERSION:
                    raise ValueError(
                        f"written in format version {header['format_version']}; "
                        f"this fasthmm reads up to {FORMAT_VERSION}: upgrade fasthmm"
                    )
                tagger = cls(**header["params"])
                tagger._check_params()
                for name in _ARRAYS:
                    setattr(tagger, name, archive[f"param/{name}"])
            except (KeyError, ValueError, TypeError, AttributeError) as exc:
                raise ValueError(
                    f"{path!s} is not a fasthmm tagger file: {exc}"
                ) from None
        tagger._prepare()
        return tagger
