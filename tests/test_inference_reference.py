"""The functional API against the plain NumPy log-space reference, for larger
models (K up to 20) and batches of sequences of mixed lengths."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from reference import (
    batch_path_score,
    batch_reference,
    random_problem,
    run_e_step,
    split,
)

import fasthmm


def _run_and_compare(le, startprob, transmat, lengths):
    ref = batch_reference(le, startprob, transmat, lengths)
    ll_ref = float(np.sum(ref["ll"]))
    best_ref = float(np.sum(ref["best"]))
    assert np.isfinite(ll_ref)
    rtol = 1e-10

    ll = fasthmm.forward(le, startprob, transmat, lengths)
    np.testing.assert_allclose(ll, ll_ref, rtol=rtol, atol=1e-10)

    ll_fb, post = fasthmm.forward_backward(le, startprob, transmat, lengths)
    np.testing.assert_allclose(ll_fb, ll_ref, rtol=rtol, atol=1e-10)
    assert post.shape == le.shape and post.dtype == np.float64
    np.testing.assert_allclose(post, ref["posteriors"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(post.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    assert np.all(post >= 0)
    # A state excluded by a -inf emission gets no posterior mass at all.
    assert np.all(post[le == -np.inf] == 0)

    ll_seq, xi, start, _ = run_e_step(le, startprob, transmat, lengths)
    np.testing.assert_allclose(ll_seq, ref["ll"], rtol=rtol, atol=1e-10)
    np.testing.assert_allclose(xi, ref["xi"], rtol=1e-9, atol=1e-9)
    # Each sequence of length T contributes T - 1 transitions.
    n_trans = sum(hi - lo - 1 for lo, hi in split(lengths, len(le)))
    np.testing.assert_allclose(xi.sum(), n_trans, rtol=1e-12)
    first = [lo for lo, _ in split(lengths, len(le))]
    np.testing.assert_allclose(start, ref["posteriors"][first].sum(axis=0), atol=1e-9)

    ll_f, filt = fasthmm.forward_filter(le, startprob, transmat, lengths)
    np.testing.assert_allclose(ll_f, ll_ref, rtol=rtol, atol=1e-10)
    np.testing.assert_allclose(filt, ref["filtered"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(filt.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    # Filtering and smoothing agree at the last step of every sequence.
    last = [hi - 1 for _, hi in split(lengths, len(le))]
    np.testing.assert_allclose(filt[last], post[last], rtol=0, atol=1e-9)

    log_prob, states = fasthmm.viterbi(le, startprob, transmat, lengths)
    np.testing.assert_allclose(log_prob, best_ref, rtol=rtol, atol=1e-10)
    # Paths may differ on exact ties, so compare them by their score.
    own = batch_path_score(le, startprob, transmat, states, lengths)
    np.testing.assert_allclose(own, best_ref, rtol=rtol, atol=1e-10)


@given(
    seed=st.integers(0, 2**32 - 1),
    k=st.integers(1, 20),
    lengths=st.lists(st.integers(1, 40), min_size=1, max_size=6),
    zero_frac=st.sampled_from([0.0, 0.2, 0.5]),
    neginf_frac=st.sampled_from([0.0, 0.1, 0.3]),
)
def test_matches_log_space_reference(seed, k, lengths, zero_frac, neginf_frac):
    rng = np.random.default_rng(seed)
    le, startprob, transmat = random_problem(rng, k, lengths, zero_frac, neginf_frac)
    _run_and_compare(le, startprob, transmat, lengths)


@pytest.mark.parametrize("k", [1, 2, 5, 20, 64])
def test_mixed_lengths_including_one(k):
    rng = np.random.default_rng(k)
    lengths = [1, 37, 1, 5, 120, 2, 1]
    le, startprob, transmat = random_problem(rng, k, lengths, zero_frac=0.3)
    _run_and_compare(le, startprob, transmat, lengths)


def test_lengths_none_is_one_sequence():
    rng = np.random.default_rng(7)
    le, startprob, transmat = random_problem(rng, 4, [50])
    assert fasthmm.forward(le, startprob, transmat) == fasthmm.forward(
        le, startprob, transmat, [50]
    )
    for fn in (fasthmm.forward_backward, fasthmm.forward_filter, fasthmm.viterbi):
        (a0, a1), (b0, b1) = (
            fn(le, startprob, transmat),
            fn(le, startprob, transmat, [50]),
        )
        assert a0 == b0
        np.testing.assert_array_equal(a1, b1)
    _run_and_compare(le, startprob, transmat, None)


def test_accepts_lists_and_other_dtypes():
    rng = np.random.default_rng(3)
    le, startprob, transmat = random_problem(rng, 3, [4, 6], neginf_frac=0.0)
    ll = fasthmm.forward(le, startprob, transmat, [4, 6])
    ll_list = fasthmm.forward(
        le.tolist(), startprob.tolist(), transmat.tolist(), (4, 6)
    )
    assert ll_list == ll
    ll32 = fasthmm.forward(
        le.astype(np.float32), startprob, transmat, np.array([4, 6], np.int32)
    )
    ref = float(
        np.sum(
            batch_reference(le.astype(np.float32), startprob, transmat, [4, 6])["ll"]
        )
    )
    np.testing.assert_allclose(ll32, ref, rtol=1e-10)


def test_inputs_are_not_modified():
    rng = np.random.default_rng(11)
    le, startprob, transmat = random_problem(rng, 5, [10, 20])
    copies = [a.copy() for a in (le, startprob, transmat)]
    for fn in (
        fasthmm.forward,
        fasthmm.forward_backward,
        fasthmm.forward_filter,
        fasthmm.viterbi,
    ):
        fn(le, startprob, transmat, [10, 20])
        for a, c in zip((le, startprob, transmat), copies):
            np.testing.assert_array_equal(a, c)
