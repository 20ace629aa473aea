"""HMMTagger: the pair-state kernels against brute force and a direct NumPy
second-order Viterbi, TnT's deleted interpolation worked by hand, save/load,
bad input. Tiny inputs only (the corpus benchmark is ``--tagger``)."""

import io
import itertools
import re

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fasthmm
from fasthmm import HMMTagger
from fasthmm._kernels.tagger import marginals_pairs, viterbi_pairs
from fasthmm._tagger_chain import (
    deleted_interpolation,
    transition_probs,
    trigram_counts,
)
from fasthmm._tagger_words import SHAPES, NodeIndex, build_nodes, shapes
from fasthmm._threads import run_blocks


def _random_chain(rng, k):
    trans = rng.dirichlet(np.ones(k + 1), size=(k + 1, k + 1))
    return trans


def _kernel_layout(trans):
    """``trans[i, j, k]`` as the kernels take it (``[j, k, i]``)."""
    return np.ascontiguousarray(trans.transpose(1, 2, 0))


def _table(scores, allowed, rng=None):
    """Candidate table with one row per row of ``scores`` (n, K): the labels
    ``allowed`` (n, K) there, shuffled when ``rng`` is given."""
    per_row = [np.flatnonzero(a) for a in allowed]
    if rng is not None:
        per_row = [rng.permutation(c) for c in per_row]
    offsets = np.concatenate([[0], np.cumsum([c.size for c in per_row])])
    labels = np.concatenate(per_row).astype(np.int64)
    rows = np.repeat(np.arange(len(per_row)), [c.size for c in per_row])
    return offsets.astype(np.int64), labels, scores[rows, labels].astype(np.float64)


def _frame(offsets, scores):
    """``exp(scores - the maximum of its row)``, one row at a time."""
    return np.concatenate(
        [
            np.exp(scores[a:b] - scores[a:b].max())
            for a, b in zip(offsets[:-1], offsets[1:])
        ]
    )


def _kernels(trans, rows, table, starts, label_of, n_columns):
    """Viterbi labels and posterior marginals (n_tokens, n_columns), the
    sentences split into ``numba.get_num_threads()`` ranges run at once."""
    offsets, labels, scores = table
    out = np.zeros(rows.size, dtype=np.int64)
    with np.errstate(divide="ignore"):
        log_trans = np.log(_kernel_layout(trans))
    n = starts.shape[0] - 1
    before = (log_trans, rows, offsets, labels, scores, starts)
    run_blocks(viterbi_pairs, before, (out,), n)
    post = np.full((rows.size, n_columns), np.nan)
    frame = _frame(offsets, scores)
    before = (_kernel_layout(trans), rows, offsets, labels, frame, label_of, starts)
    run_blocks(marginals_pairs, before, (post,), n)
    return out, post


def _path_logp(log_trans, scores, path):
    b = log_trans.shape[0] - 1
    padded = [b, b, *path, b]
    total = sum(scores[t, z] for t, z in enumerate(path))
    return total + sum(
        log_trans[padded[i - 2], padded[i - 1], padded[i]]
        for i in range(2, len(padded))
    )


def _brute_force(log_trans, scores):
    """Every label sequence: the best one and each token's posterior marginal
    (a label scored -inf is excluded)."""
    n, k = scores.shape
    paths = list(itertools.product(range(k), repeat=n))
    logp = np.array([_path_logp(log_trans, scores, p) for p in paths])
    weights = np.exp(logp - logp.max())
    post = np.zeros((n, k))
    for w, p in zip(weights, paths):
        post[np.arange(n), p] += w
    return np.array(paths[int(np.argmax(logp))]), post / weights.sum()


def _direct_viterbi(log_trans, scores, allowed):
    """Second-order Viterbi written directly over (previous, current) label
    grids with NumPy broadcasting, no candidate lists (``allowed`` masks)."""
    n, k = scores.shape
    b = k
    em = np.where(allowed, scores, -np.inf)
    # delta[j, k]: best score of a prefix ending in labels j (t-1), k (t)
    delta = np.full((k + 1, k + 1), -np.inf)
    delta[b, :k] = log_trans[b, b, :k] + em[0]
    backs = []
    for t in range(1, n):
        cand = delta[:, :, None] + log_trans[:, :, :]  # (i, j, k)
        cand[:, :, b] = -np.inf
        backs.append(cand.argmax(axis=0))
        delta = cand.max(axis=0)
        delta[:, :k] += em[t]
    final = delta + log_trans[:, :, b]
    j, kk = np.unravel_index(np.argmax(final), final.shape)
    path = [kk, j] if n > 1 else [kk]
    for back in reversed(backs[1:]):
        path.append(back[path[-1], path[-2]])
    return np.array(path[::-1])


def _starts(lengths):
    return np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)


@pytest.mark.parametrize("seed", range(6))
def test_dense_pair_viterbi_and_marginals_equal_brute_force(seed):
    # every label a candidate of every token (in a shuffled order): the
    # exact dense decoder
    rng = np.random.default_rng(seed)
    k = 3
    lengths = [1, 2, 3, 5]
    trans = _random_chain(rng, k)
    scores = rng.normal(scale=2.0, size=(sum(lengths), k))
    table = _table(scores, np.ones(scores.shape, dtype=bool), rng)
    starts = _starts(lengths)
    rows = np.arange(scores.shape[0])
    out, post = _kernels(trans, rows, table, starts, np.arange(k), k)
    for lo, hi in zip(starts[:-1], starts[1:]):
        best, marg = _brute_force(np.log(trans), scores[lo:hi])
        np.testing.assert_array_equal(out[lo:hi], best)
        np.testing.assert_allclose(post[lo:hi], marg, atol=1e-10)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 4),
    st.lists(st.integers(1, 4), min_size=1, max_size=3),
    st.integers(1, 5),
    st.integers(1, 3),
    st.integers(0, 2**32 - 1),
)
def test_sparse_decoding_equals_brute_force_over_the_candidates(
    k, lengths, n_rows, n_columns, seed
):
    # Tokens share rows of the candidate table (as the tokens of one word
    # do); each row allows a random subset of the labels. Brute force over
    # every label sequence, the labels outside a token's candidates scored
    # -inf, gives the same best sequence and marginals; the marginals are
    # summed over the labels of each output column.
    rng = np.random.default_rng(seed)
    allowed = rng.random((n_rows, k)) < 0.6
    allowed[np.arange(n_rows), rng.integers(0, k, n_rows)] = True
    row_scores = rng.normal(scale=2.0, size=(n_rows, k))
    rows = rng.integers(0, n_rows, sum(lengths))
    trans = _random_chain(rng, k)
    label_of = rng.integers(0, n_columns, k)
    starts = _starts(lengths)
    table = _table(row_scores, allowed, rng)
    out, post = _kernels(trans, rows, table, starts, label_of, n_columns)
    masked = np.where(allowed, row_scores, -np.inf)[rows]
    for lo, hi in zip(starts[:-1], starts[1:]):
        best, marg = _brute_force(np.log(trans), masked[lo:hi])
        np.testing.assert_array_equal(out[lo:hi], best)
        want = np.zeros((hi - lo, n_columns))
        for c in range(n_columns):
            want[:, c] = marg[:, label_of == c].sum(axis=1)
        np.testing.assert_allclose(post[lo:hi], want, atol=1e-10)


@pytest.mark.parametrize("seed", range(4))
def test_pair_viterbi_with_candidates_equals_direct_viterbi(seed):
    rng = np.random.default_rng(seed)
    k, lengths = 6, [1, 2, 17, 40, 9]
    trans = _random_chain(rng, k)
    trans[..., :k] *= rng.random((k + 1, k + 1, k)) < 0.8  # some zero transitions
    trans[..., k] += 1e-3
    trans /= trans.sum(axis=-1, keepdims=True)
    with np.errstate(divide="ignore"):
        log_trans = np.log(trans)
    scores = rng.normal(scale=3.0, size=(sum(lengths), k))
    allowed = rng.random(scores.shape) < 0.6
    allowed[np.arange(scores.shape[0]), rng.integers(0, k, scores.shape[0])] = True
    starts = _starts(lengths)
    rows = np.arange(scores.shape[0])
    out, _ = _kernels(trans, rows, _table(scores, allowed), starts, np.arange(k), k)
    for lo, hi in zip(starts[:-1], starts[1:]):
        want = _direct_viterbi(log_trans, scores[lo:hi], allowed[lo:hi])
        got = out[lo:hi]
        assert allowed[np.arange(lo, hi), got].all()
        assert _path_logp(log_trans, scores[lo:hi], got) == pytest.approx(
            _path_logp(log_trans, scores[lo:hi], want), abs=1e-9
        )


def test_decoding_does_not_depend_on_thread_count():
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("one thread only")
    rng = np.random.default_rng(3)
    k, lengths = 5, rng.integers(1, 30, size=60)
    trans = _random_chain(rng, k)
    scores = rng.normal(size=(lengths.sum(), k))
    allowed = rng.random(scores.shape) < 0.7
    allowed[:, 0] = True
    table = _table(scores, allowed, rng)
    rows = np.arange(scores.shape[0])
    results = []
    before = numba.get_num_threads()
    try:
        for threads in (1, 2):
            numba.set_num_threads(threads)
            label_of = np.arange(k) % 3
            results.append(_kernels(trans, rows, table, _starts(lengths), label_of, 3))
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])


@pytest.mark.parametrize("decoder", ["viterbi", "posterior"])
def test_tagging_on_threads_equals_tagging_each_sentence_alone(monkeypatch, decoder):
    """Many sentences tagged at once on threads (contiguous ranges of
    sentences, empty ones among them) give each sentence the labels and
    marginals it gets alone on the calling thread."""
    import fasthmm._threads

    rng = np.random.default_rng(0)
    vocab = sorted({w for s in TRAIN[0] for w in s}) + ["yelled", "dogs"]
    sentences = [
        [str(w) for w in rng.choice(vocab, size=n)] for n in rng.integers(0, 9, size=70)
    ]
    tagger = HMMTagger(decoder=decoder).fit(*TRAIN)
    alone = [tagger.predict([s])[0] for s in sentences]
    alone_proba = [tagger.predict_proba([s])[0] for s in sentences]
    monkeypatch.setattr(fasthmm._threads, "MIN_PARALLEL_WORK", 0)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        together = tagger.predict(sentences)
        together_proba = tagger.predict_proba(sentences)
    finally:
        numba.set_num_threads(before)
    assert together == alone
    for got, want in zip(together_proba, alone_proba):
        np.testing.assert_array_equal(got, want)


def test_deleted_interpolation_matches_tnt_worked_by_hand():
    # One sentence x y x y, padded # # x y x y #: five targets, every trigram
    # seen once. By Brants' rule, per trigram (unigram, bigram, trigram ratio):
    #   # # x: (1/4, 0/0, 0/0) -> unigram     # x y: (1/4, 1/1, 0/0) -> bigram
    #   x y x: (1/4, 0/1, 0/1) -> unigram     y x y: (1/4, 1/1, 0/0) -> bigram
    #   x y #: (0/4, 0/1, 0/1) -> a three-way tie, 1/3 each
    # so lambdas = (2 + 1/3, 2 + 1/3, 1/3) / 5.
    labels = np.array([0, 1, 0, 1])
    counts = trigram_counts(labels, np.array([0, 4]), 2)
    want = np.zeros((3, 3, 3))
    for i, j, k in [(2, 2, 0), (2, 0, 1), (0, 1, 0), (1, 0, 1), (0, 1, 2)]:
        want[i, j, k] = 1
    np.testing.assert_array_equal(counts, want)
    np.testing.assert_allclose(
        deleted_interpolation(counts, 2), [7 / 15, 7 / 15, 1 / 15], rtol=1e-12
    )
    # first order, per bigram: # x: (1/4, 0/0) -> unigram; x y: (1/4, 1/1) ->
    # bigram (twice); y x: (1/4, 0/1) -> unigram; y #: (0/4, 0/1) -> tie
    np.testing.assert_allclose(
        deleted_interpolation(counts, 1), [2.5 / 5, 2.5 / 5], rtol=1e-12
    )
    tagger = HMMTagger().fit([["a", "b", "a", "b"]], [["x", "y", "x", "y"]])
    np.testing.assert_allclose(tagger.lambdas_, [7 / 15, 7 / 15, 1 / 15], rtol=1e-12)


def test_transition_probs_interpolate_and_sum_to_one():
    labels = np.array([0, 1, 0, 1, 1, 0, 2])
    counts = trigram_counts(labels, np.array([0, 4, 7]), 3)
    lam = np.array([0.2, 0.3, 0.5])
    probs = transition_probs(counts, lam)
    np.testing.assert_allclose(probs.sum(axis=-1), 1.0, rtol=1e-12)
    # a seen history: p(1 | 0 after boundary) by hand. Targets: x0 y1 x0 y1 #,
    # y1 x0 z2 #: unigrams 3, 3, 1, 2 (of 9); after 0: 1 twice, 2 once;
    # after (#, 0): 1 once.
    want = 0.2 * 3 / 9 + 0.3 * 2 / 3 + 0.5 * 1.0
    assert probs[3, 0, 1] == pytest.approx(want, rel=1e-12)


TRAIN = (
    [
        ["the", "dog", "walked", "home"],
        ["a", "cat", "jumped", "."],
        ["The", "dog", "barked", "."],
        ["the", "cats", "talked", "loudly"],
    ],
    [
        ["DET", "NOUN", "VERB", "ADV"],
        ["DET", "NOUN", "VERB", "PUNCT"],
        ["DET", "NOUN", "VERB", "PUNCT"],
        ["DET", "NOUN", "VERB", "ADV"],
    ],
)


@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("decoder", ["viterbi", "posterior"])
def test_tags_training_sentences_and_unknown_suffixes(order, decoder):
    tagger = HMMTagger(order=order, decoder=decoder).fit(*TRAIN)
    assert tagger.predict(TRAIN[0]) == TRAIN[1]
    assert tagger.score(*TRAIN) == 1.0
    # "yelled" was never seen: its suffix -ed says VERB
    assert tagger.predict([["a", "dog", "yelled", "."]]) == [
        ["DET", "NOUN", "VERB", "PUNCT"]
    ]
    assert tagger.predict([[], ["dog"]])[0] == []
    assert tagger.is_known([["dog", "yelled"]]) == [[True, False]]
    post = tagger.predict_proba([["the", "dog"]])[0]
    assert post.shape == (2, tagger.labels_.size)
    np.testing.assert_allclose(post.sum(axis=1), 1.0)


def test_save_load_round_trip():
    tagger = HMMTagger(order=2, known_weight=0.7, beam=50.0, tag_dictionary=False).fit(
        *TRAIN
    )
    buf = io.BytesIO()
    tagger.save(buf)
    buf.seek(0)
    loaded = HMMTagger.load(buf)
    assert loaded.get_params() == tagger.get_params()
    for name in ("trans_", "lambdas_", "word_counts_", "node_probs_", "labels_"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(tagger, name))
    test = [["a", "cat", "yelled", "Home"], ["dogs"]]
    assert loaded.predict(test) == tagger.predict(test)


@pytest.mark.parametrize("to_file", [True, False])
def test_fasthmm_load_opens_tagger_files(tmp_path, to_file):
    tagger = HMMTagger(lexicalised=1).fit(*TRAIN)
    if to_file:
        where = tmp_path / "tagger.npz"
        tagger.save(where)
    else:
        where = io.BytesIO()
        tagger.save(where)
        where.seek(0)
    loaded = fasthmm.load(where)
    assert isinstance(loaded, HMMTagger)
    assert loaded.get_params() == tagger.get_params()
    test = [["a", "cat", "yelled", "Home"], ["dogs"]]
    assert loaded.predict(test) == tagger.predict(test)


def test_load_refuses_other_files(tmp_path):
    path = tmp_path / "x.npz"
    np.savez(path, a=np.arange(3))
    with pytest.raises(ValueError, match="not a fasthmm tagger file"):
        HMMTagger.load(path)
    path.write_bytes(b"not numpy")
    with pytest.raises(ValueError, match="not a fasthmm tagger file"):
        HMMTagger.load(path)


@pytest.mark.parametrize(
    "sentences, tags, error, match",
    [
        ("the dog", [["DET", "NOUN"]], TypeError, "sentences must be a list"),
        (["the dog"], [["DET", "NOUN"]], TypeError, r"sentences\[0\] must be a list"),
        (
            [["the", 3]],
            [["DET", "NOUN"]],
            TypeError,
            r"sentences\[0\]\[1\] must be a string",
        ),
        ([["the", "dog"]], [["DET"]], ValueError, r"tags\[0\] must have one label"),
        ([["the"]], [["DET"], ["X"]], ValueError, "same number of sentences"),
        ([[]], [[]], ValueError, "at least one token"),
    ],
)
def test_bad_input(sentences, tags, error, match):
    tagger = HMMTagger()
    with pytest.raises(error, match=match):
        tagger.fit(sentences, tags)
    assert not hasattr(tagger, "trans_")  # a failed fit leaves nothing behind


def test_bad_parameters_and_unfitted():
    with pytest.raises(ValueError, match="order must be 1 or 2"):
        HMMTagger(order=3).fit(*TRAIN)
    with pytest.raises(ValueError, match="beam"):
        HMMTagger(beam=0.5).fit(*TRAIN)
    with pytest.raises(ValueError, match="lambdas"):
        HMMTagger(lambdas=[1.0, 2.0]).fit(*TRAIN)
    with pytest.raises(TypeError, match="tag_dictionary must be a bool"):
        HMMTagger(tag_dictionary="yes").fit(*TRAIN)
    with pytest.raises(ValueError, match="not fitted"):
        HMMTagger().predict([["a"]])
    with pytest.raises(TypeError, match=r"sentences\[0\]\[0\] must be a string"):
        HMMTagger().fit(*TRAIN).predict([[None]])


# ---------------------------------------------------------------------------
# The vectorised unknown-word model against plain per-word Python.

_LETTERS = re.compile(r"[^\W\d_]").search
_DIGITS = re.compile(r"\d").search


def _shape_reference(word, first):
    """The shape class of one word, written with str methods and re."""
    if "@" in word or "://" in word or word.startswith("www."):
        return "link"
    letter = _LETTERS(word) is not None
    if _DIGITS(word):
        return "digits and letters" if letter else "number"
    if not letter:
        return "symbols"
    if word[0].isupper():
        if len(word) > 1 and word.isupper():
            return "all caps"
        return "capitalised, first word" if first else "capitalised"
    if word.islower():
        return "hyphenated" if "-" in word else "lower"
    return "mixed case"


TRICKY = [
    "dog", "Dog", "DOG", "D", "dOg", "e-mail", "E-mail", "x@y.com", "http://a.b",
    "www.x.org", "wwwx", "1999", "3rd", "½", "²", "٣", "Ünïcödé", "ÉCOLE", "ǅemal",
    "ǅ", "_", "__init__", "a_b", "...", "-", "--", "", "İstanbul", "ß", "ﬁne",
    "Straße", "日本", "日本語です", "Ω", "ω", "3-D", "U.S.", "a" * 60 + "ing",
]  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.text(
            st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
            max_size=12,
        ),
        min_size=1,
        max_size=30,
    ),
    st.data(),
)
def test_shapes_equal_per_word_python(random_words, data):
    words = TRICKY + random_words
    firsts = np.array(data.draw(st.lists(st.booleans(), min_size=len(words),
                                         max_size=len(words))))  # fmt: skip
    got = shapes(np.array(words, dtype=str), firsts)
    want = [SHAPES.index(_shape_reference(w, f)) for w, f in zip(words, firsts)]
    assert got.tolist() == want


def _nodes_reference(words, firsts, labels, k, max_suffix, theta, base):
    """Successive abstraction per node key, one token at a time."""
    counts = {}
    for w, f, y in zip(words, firsts, labels):
        head = chr(SHAPES.index(_shape_reference(w, f)) + 1)
        low = w.lower()
        for m in range(min(len(low), max_suffix) + 1):
            key = head + (low[len(low) - m :] if m else "")
            counts.setdefault(key, np.zeros(k))[y] += 1
    probs = {}
    for key in sorted(counts, key=len):
        prior = probs[key[0] + key[2:]] if len(key) > 1 else base
        phat = counts[key] / counts[key].sum()
        probs[key] = (phat + theta * prior) / (1 + theta)
    return probs


def test_suffix_nodes_and_lookup_equal_per_token_python():
    rng = np.random.default_rng(0)
    pool = TRICKY + ["walked", "talked", "Walked", "running", "sing", "ring", "s"]
    words = [pool[i] for i in rng.integers(0, len(pool), 300)]
    firsts = rng.random(300) < 0.3
    labels = rng.integers(0, 4, 300)
    base = np.array([0.1, 0.2, 0.3, 0.4])
    keys, probs = build_nodes(np.array(words), firsts, labels, 4, 3, 0.7, base)
    want = _nodes_reference(words, firsts, labels, 4, 3, 0.7, base)
    assert sorted(keys.tolist()) == sorted(want)
    for key, row in zip(keys.tolist(), probs):
        np.testing.assert_allclose(row, want[key], rtol=1e-12)
    # lookup: the deepest key seen, for new words too
    queries = ["talking", "Ring", "RING", "xyz", "e-mailing", "9", "", "unseen-x"]
    qfirst = np.array([False, True, False, False, False, True, False, False])
    found = NodeIndex(keys).deepest(np.array(queries), qfirst, 3)
    for w, f, row in zip(queries, qfirst, found):
        head = chr(SHAPES.index(_shape_reference(w, f)) + 1)
        low = w.lower()
        seen = [
            head + (low[len(low) - m :] if m else "")
            for m in range(min(len(low), 3) + 1)
            if head + (low[len(low) - m :] if m else "") in want
        ]
        assert (keys[row] if row >= 0 else None) == (seen[-1] if seen else None)


# ---------------------------------------------------------------------------
# Lexicalised states


def _lexical_corpus(rng):
    """'that' as DET or SCONJ (ambiguous, frequent), 'the' always DET."""
    sentences, tags = [], []
    for _ in range(40):
        if rng.random() < 0.5:
            sentences.append(["I", "know", "that", "dogs", "bark"])
            tags.append(["PRON", "VERB", "SCONJ", "NOUN", "VERB"])
        else:
            sentences.append(["that", "dog", "saw", "the", "cat"])
            tags.append(["DET", "NOUN", "VERB", "DET", "NOUN"])
    sentences.append(["that", "is", "it"])  # PRON only once: no state of its own
    tags.append(["PRON", "AUX", "PRON"])
    sentences.append(["because", "a", "dog", "bark"])
    tags.append(["SCONJ", "DET", "NOUN", "VERB"])
    return sentences, tags


def test_lexicalised_states_are_the_frequent_ambiguous_words_labels():
    sentences, tags = _lexical_corpus(np.random.default_rng(0))
    tagger = HMMTagger(lexicalised=1).fit(sentences, tags)
    k = tagger.labels_.size
    extra = {
        (str(tagger.state_word_[s]), str(tagger.labels_[tagger.state_label_[s]]))
        for s in range(k, tagger.state_label_.size)
    }
    # 'that': DET and SCONJ seen >= 10 times each; PRON once stays a plain label.
    # 'dog', 'the', ... are not ambiguous; only one word was asked for.
    assert extra == {("that", "DET"), ("that", "SCONJ")}
    np.testing.assert_array_equal(tagger.state_label_[:k], np.arange(k))
    assert HMMTagger(lexicalised=0).fit(sentences, tags).state_label_.size == k


def test_a_label_seen_only_in_lexicalised_states_scores_no_nan():
    # every SCONJ is 'that': the plain SCONJ state is never seen
    sentences, tags = _lexical_corpus(np.random.default_rng(0))
    sentences, tags = sentences[:-1], tags[:-1]
    tagger = HMMTagger(lexicalised=1).fit(sentences, tags)
    assert not np.isnan(tagger._known_scores).any()
    for decoder in ("viterbi", "posterior"):
        tagger.decoder = decoder
        assert tagger.predict([["I", "know", "that", "dogs", "bark"]]) == [
            ["PRON", "VERB", "SCONJ", "NOUN", "VERB"]
        ]


def test_lexicalised_chain_equals_a_plain_chain_on_word_tagged_labels():
    # The same chain as a plain tagger trained on tags rewritten "that|TAG"
    # for the lexicalised pairs: the trigram statistics are the same up to
    # the order of the states.
    sentences, tags = _lexical_corpus(np.random.default_rng(1))
    lex = HMMTagger(lexicalised=1).fit(sentences, tags)
    names = [
        str(lex.labels_[lab]) + (f"|{w}" if w else "")
        for lab, w in zip(lex.state_label_, lex.state_word_.tolist())
    ]
    rewritten = [
        [f"{t}|{w}" if f"{t}|{w}" in names else t for w, t in zip(s, ts)]
        for s, ts in zip(sentences, tags)
    ]
    plain = HMMTagger(lexicalised=0).fit(sentences, rewritten)
    order = [plain.labels_.tolist().index(n) for n in names] + [len(names)]
    np.testing.assert_allclose(lex.lambdas_, plain.lambdas_, rtol=1e-12)
    np.testing.assert_allclose(
        lex.trans_, plain.trans_[np.ix_(order, order, order)], rtol=1e-12
    )
    # and the tagger uses them: 'that' before a noun, after 'know'
    test = [["I", "know", "that", "cats", "bark"], ["that", "cat", "saw", "the", "dog"]]
    assert lex.predict(test)[0][2] == "SCONJ"
    assert lex.predict(test)[1][0] == "DET"
    # posteriors are over the labels: the states of a label summed
    post = lex.predict_proba(test)
    assert post[0].shape == (5, lex.labels_.size)
    for p in post:
        np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)
    lex.decoder = "posterior"
    assert lex.predict(test) == [
        lex.labels_[np.argmax(p, axis=1)].tolist() for p in post
    ]


# ---------------------------------------------------------------------------
# Semi-supervised training

UNLABELLED = [
    ["the", "cat", "walked", "home"],
    ["a", "dog", "yelled", "."],
    ["The", "birds", "sang", "loudly"],
]


@pytest.mark.parametrize("unlabelled", [[], [[]], [[], []]])
def test_empty_unlabelled_text_changes_nothing(unlabelled):
    plain = HMMTagger().fit(*TRAIN)
    semi = HMMTagger().fit(*TRAIN, unlabelled=unlabelled)
    for name in ("trans_", "word_counts_", "vocabulary_", "node_probs_"):
        np.testing.assert_array_equal(getattr(semi, name), getattr(plain, name))
    assert not hasattr(semi, "monitor_")
    assert semi.predict(UNLABELLED) == plain.predict(UNLABELLED)


def test_unlabelled_text_adds_its_expected_counts():
    plain = HMMTagger().fit(*TRAIN)
    semi = HMMTagger().fit(*TRAIN, unlabelled=UNLABELLED, n_iter=3)
    n_train = sum(map(len, TRAIN[0]))
    n_new = sum(map(len, UNLABELLED))
    assert semi.word_counts_.sum() == pytest.approx(n_train + n_new, rel=1e-12)
    # labelled words absent from the unlabelled text keep their counts
    v = plain.vocabulary_.size
    untouched = ~np.isin(plain.vocabulary_, [w for s in UNLABELLED for w in s])
    np.testing.assert_array_equal(
        semi.word_counts_[:v][untouched], plain.word_counts_[untouched]
    )
    assert set(semi.vocabulary_[v:]) == {"birds", "sang", "yelled"}
    assert semi.is_known([["birds"]]) == [[True]]
    np.testing.assert_array_equal(semi.trans_, plain.trans_)


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.lists(
            st.sampled_from(["the", "a", "dog", "cat", "walked", "new", "Zorp", "."]),
            min_size=1,
            max_size=6,
        ),
        min_size=1,
        max_size=6,
    ),
    st.sampled_from([0, 1]),
    st.sampled_from([1, 2]),
)
def test_em_objective_never_decreases_on_unlabelled_text(unlabelled, lexical, order):
    tagger = HMMTagger(order=order, lexicalised=lexical).fit(
        *TRAIN, unlabelled=unlabelled, n_iter=8, tol=-np.inf
    )
    history = np.array(tagger.monitor_.history)
    assert np.all(np.diff(history) >= -1e-9 * np.abs(history[:-1]))


def test_semi_supervised_bad_input_leaves_the_tagger_as_it_was():
    tagger = HMMTagger().fit(*TRAIN)
    before = tagger.word_counts_.copy()
    with pytest.raises(TypeError, match=r"unlabelled\[0\] must be a list"):
        tagger.fit(*TRAIN, unlabelled=["a dog"])
    with pytest.raises(ValueError, match="n_iter must be >= 1"):
        tagger.fit(*TRAIN, unlabelled=UNLABELLED, n_iter=0)
    np.testing.assert_array_equal(tagger.word_counts_, before)


def test_unknown_words_table_narrow_equals_wide():
    # the candidates of unknown words are scored over the K labels only,
    # except for words whose lowercased form brings lexicalised states: the
    # same candidates as from the scores over every state
    sentences, tags = _lexical_corpus(np.random.default_rng(0))
    tagger = HMMTagger(lexicalised=1).fit(sentences, tags)
    k = tagger.labels_.size
    types = np.array(["barks", "That", "THAT", "Dogs", "zzz"])
    firsts = np.array([False, True, False, False, False])
    wide = tagger._unknown_scores(types, firsts)
    assert np.isfinite(wide[2, k:]).any()  # "THAT" lowercases to "that"
    assert np.isneginf(wide[[0, 3, 4], k:]).all()
    for beam in (None, 1000.0, 3.0):
        tagger.beam = beam
        row_of, offsets, states, scores = tagger._unknown_table(types, firsts)
        want = tagger._candidates(wide)
        for i, r in enumerate(row_of):
            a, b = offsets[r], offsets[r + 1]
            c, d = want[0][i], want[0][i + 1]
            np.testing.assert_array_equal(states[a:b], want[1][c:d])
            np.testing.assert_array_equal(scores[a:b], want[2][c:d])
    assert tagger.predict([["I", "know", "THAT", "dogs", "bark"]])[0][2] == "SCONJ"


def test_tagger_decodes_the_chain_restricted_to_its_candidates():
    # The tagger's Viterbi (the kernel on its candidate table and its
    # transition layout) equals a direct dense second-order Viterbi over
    # every state, the states outside each token's candidates excluded.
    sentences, tags = _lexical_corpus(np.random.default_rng(2))
    test = [
        ["I", "know", "that", "Zorps", "bark", "."],
        ["that", "cat", "saw", "THAT", "dog"],
        ["dogs"],
    ]
    for beam in (None, 1000.0, 5.0):
        tagger = HMMTagger(lexicalised=1, beam=beam).fit(sentences, tags)
        flat = [w for s in test for w in s]
        starts = _starts([len(s) for s in test])
        rows, offsets, states, scores = tagger._table(flat, starts)
        n_states = tagger.state_label_.size
        dense = np.full((len(flat), n_states), -np.inf)
        for t, r in enumerate(rows):
            dense[t, states[offsets[r] : offsets[r + 1]]] = scores[
                offsets[r] : offsets[r + 1]
            ]
        log_trans = np.log(tagger.trans_)
        got = [
            tagger.labels_.tolist().index(x) for s in tagger.predict(test) for x in s
        ]
        for lo, hi in zip(starts[:-1], starts[1:]):
            want = _direct_viterbi(log_trans, dense[lo:hi], np.isfinite(dense[lo:hi]))
            np.testing.assert_array_equal(got[lo:hi], tagger.state_label_[want])


@pytest.mark.parametrize("beam", [None, 1000.0, 4.0])
@pytest.mark.parametrize("tag_dictionary", [True, False])
def test_candidates_of_seen_words_follow_the_beam_and_the_tag_dictionary(
    beam, tag_dictionary
):
    # p(state | word) = (c(word, state) + known_weight * q(state | word))
    #                   / (c(word) + known_weight),
    # q the unknown-word model; the candidates are the states with p at
    # least the largest p (among the states seen with the word, with the tag
    # dictionary) divided by beam.
    sentences, tags = _lexical_corpus(np.random.default_rng(4))
    tagger = HMMTagger(
        lexicalised=1, known_weight=0.5, beam=beam, tag_dictionary=tag_dictionary
    ).fit(sentences, tags)
    counts = tagger.word_counts_
    vocab = tagger.vocabulary_
    q = np.zeros(counts.shape)
    k = tagger.labels_.size
    q[:, :k] = tagger._unknown(vocab, np.zeros(vocab.size, dtype=bool), k)[:, :k]
    p = (counts + 0.5 * q) / (counts.sum(axis=1, keepdims=True) + 0.5)
    allowed = counts > 0 if tag_dictionary else p > 0
    best = np.where(allowed, p, 0).max(axis=1, keepdims=True)
    want = allowed & (p >= best / (beam or np.inf) * (1 - 1e-12))
    rows, offsets, states, _ = tagger._table(vocab.tolist(), np.array([0, vocab.size]))
    for v in range(vocab.size):
        got = states[offsets[rows[v]] : offsets[rows[v] + 1]]
        np.testing.assert_array_equal(got, np.flatnonzero(want[v]), err_msg=vocab[v])


@pytest.mark.parametrize("bad", [None, 5, b"dog", ["dog"], ("dog",)])
@pytest.mark.parametrize("method", ["predict", "predict_proba", "is_known"])
def test_a_token_that_is_not_a_string_is_named(bad, method):
    tagger = HMMTagger().fit(*TRAIN)
    sentences = [["the", "dog"], [], ["a", "cat", bad, "barked", 7]]
    with pytest.raises(TypeError, match=r"sentences\[2\]\[2\] must be a string"):
        getattr(tagger, method)(sentences)
