"""Numerical robustness: very long sequences, extreme log-emissions, zeros in
the model, and invariance to batching and to the number of threads."""

import numba
import numpy as np
import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from reference import (
    batch_path_score,
    batch_reference,
    fast_path_score,
    log_forward_backward,
    product_tree_loglik,
    random_problem,
    random_stochastic,
    run_e_step,
    scaled_forward_in_range,
    split,
)

import fasthmm
from fasthmm._kernels.partition import MAX_SEQUENCE_BLOCKS as MAX_BLOCKS
from fasthmm._kernels.partition import block_bounds
from fasthmm._validation import check_lengths
from fasthmm.inference import Workspace, _forward_backward

# A 4-state cycle with exact zeros: irreducible, but no state reaches every
# other state in one step.
CYCLE_START = np.array([0.6, 0.0, 0.4, 0.0])
CYCLE_TRANS = np.array(
    [
        [0.90, 0.10, 0.00, 0.00],
        [0.00, 0.80, 0.20, 0.00],
        [0.00, 0.00, 0.70, 0.30],
        [0.25, 0.00, 0.00, 0.75],
    ]
)


@pytest.fixture(scope="module")
def million_steps():
    rng = np.random.default_rng(20240601)
    n = 10**6
    le = -1.0 + rng.normal(scale=2.0, size=(n, 4))
    return le, CYCLE_START, CYCLE_TRANS


def test_million_steps_match_product_tree(million_steps):
    le, startprob, transmat = million_steps
    ll = fasthmm.forward(le, startprob, transmat)
    assert np.isfinite(ll)
    ref = product_tree_loglik(le, startprob, transmat)
    np.testing.assert_allclose(ll, ref, rtol=1e-9)


def test_million_steps_chunked_filtering_chains(million_steps):
    # log p(x_1..x_T) = sum over chunks of log p(chunk | everything before),
    # where each chunk starts from the previous chunk's last filtered
    # distribution pushed through transmat.
    le, startprob, transmat = million_steps
    ll_whole = fasthmm.forward(le, startprob, transmat)
    total, init = 0.0, startprob
    for lo in range(0, le.shape[0], 125_000):
        ll, filt = fasthmm.forward_filter(le[lo : lo + 125_000], init, transmat)
        total += ll
        init = filt[-1] @ transmat
    np.testing.assert_allclose(total, ll_whole, rtol=1e-9)


def test_million_steps_posteriors_and_viterbi(million_steps):
    le, startprob, transmat = million_steps
    ll, post = fasthmm.forward_backward(le, startprob, transmat)
    np.testing.assert_allclose(ll, fasthmm.forward(le, startprob, transmat), rtol=1e-12)
    assert np.all(np.isfinite(post))
    np.testing.assert_allclose(post.sum(axis=1), 1.0, rtol=0, atol=1e-9)
    log_prob, states = fasthmm.viterbi(le, startprob, transmat)
    assert np.isfinite(log_prob) and log_prob <= ll
    np.testing.assert_allclose(
        fast_path_score(le, startprob, transmat, states), log_prob, rtol=1e-9
    )
    # Smoothing over the whole sequence agrees with a short-window reference
    # away from the edges (the chain forgets its start within a few dozen steps).
    mid = le.shape[0] // 2
    window = le[mid - 300 : mid + 300]
    _, post_ref, _ = log_forward_backward(window, np.full(4, 0.25), transmat)
    np.testing.assert_allclose(post[mid - 5 : mid + 5], post_ref[295:305], atol=1e-8)


@pytest.mark.parametrize("offset", [-1e4, -1e5])
def test_large_negative_log_emissions_are_a_pure_shift(offset):
    rng = np.random.default_rng(5)
    lengths = [300, 1, 57]
    base, startprob, transmat = random_problem(rng, 5, lengths, zero_frac=0.3)
    # Dyadic values, so that base + offset is exact in float64.
    base = np.round(base * 2**20) / 2**20
    shifted = base + offset
    n = base.shape[0]

    ll_b, post_b = fasthmm.forward_backward(base, startprob, transmat, lengths)
    ll_s, post_s = fasthmm.forward_backward(shifted, startprob, transmat, lengths)
    assert np.isfinite(ll_s)
    np.testing.assert_allclose(ll_s, ll_b + n * offset, rtol=1e-13)
    np.testing.assert_allclose(post_s, post_b, rtol=0, atol=1e-12)
    # And both are right, not merely consistent.
    ref = batch_reference(shifted, startprob, transmat, lengths)
    np.testing.assert_allclose(ll_s, np.sum(ref["ll"]), rtol=1e-12)
    np.testing.assert_allclose(post_s, ref["posteriors"], atol=1e-9)

    _, filt_b = fasthmm.forward_filter(base, startprob, transmat, lengths)
    _, filt_s = fasthmm.forward_filter(shifted, startprob, transmat, lengths)
    np.testing.assert_allclose(filt_s, filt_b, rtol=0, atol=1e-12)

    lp_b, states_b = fasthmm.viterbi(base, startprob, transmat, lengths)
    lp_s, states_s = fasthmm.viterbi(shifted, startprob, transmat, lengths)
    np.testing.assert_array_equal(states_s, states_b)
    np.testing.assert_allclose(lp_s, lp_b + n * offset, rtol=1e-13)


@given(
    seed=st.integers(0, 2**32 - 1),
    k=st.integers(1, 6),
    lengths=st.lists(st.integers(1, 150), min_size=1, max_size=4),
    zero_frac=st.sampled_from([0.3, 0.6, 0.9]),
    neginf_frac=st.sampled_from([0.0, 0.2, 0.5]),
    scale=st.sampled_from([1.0, 10.0, 40.0]),
    left_right=st.booleans(),
    possible=st.booleans(),
)
def test_zeros_never_give_nan(
    seed, k, lengths, zero_frac, neginf_frac, scale, left_right, possible
):
    rng = np.random.default_rng(seed)
    le, startprob, transmat = random_problem(
        rng, k, lengths, zero_frac, neginf_frac, scale, left_right
    )
    if not possible:
        le[rng.random(le.shape) < neginf_frac] = -np.inf
    ref = batch_reference(le, startprob, transmat, lengths)
    ll_ref = float(np.sum(ref["ll"]))

    ll = fasthmm.forward(le, startprob, transmat, lengths)
    assert not np.isnan(ll)
    if not np.isfinite(ll_ref):
        assert ll == -np.inf
        for fn in (fasthmm.forward_backward, fasthmm.forward_filter, fasthmm.viterbi):
            with pytest.raises(ValueError, match="zero probability"):
                fn(le, startprob, transmat, lengths)
        return

    # Viterbi works in log space: exact whatever the dynamic range.
    lp, states = fasthmm.viterbi(le, startprob, transmat, lengths)
    np.testing.assert_allclose(lp, np.sum(ref["best"]), rtol=1e-10)
    np.testing.assert_allclose(
        batch_path_score(le, startprob, transmat, states, lengths), lp, rtol=1e-10
    )

    # Out of a scaled pass's range too (filtered probabilities or normalisers
    # below ~1e-300), sequences are detected and settled in log space: exact.
    in_range = scaled_forward_in_range(le, startprob, transmat, lengths)
    event(f"scaled forward within float64 range: {in_range}")
    np.testing.assert_allclose(ll, ll_ref, rtol=1e-10)
    _, post = fasthmm.forward_backward(le, startprob, transmat, lengths)
    assert not np.any(np.isnan(post))
    np.testing.assert_allclose(post, ref["posteriors"], atol=1e-9)
    _, xi, _, _ = run_e_step(le, startprob, transmat, lengths)
    assert np.all(np.isfinite(xi))
    np.testing.assert_allclose(xi, ref["xi"], rtol=1e-9, atol=1e-9)
    _, filt = fasthmm.forward_filter(le, startprob, transmat, lengths)
    assert not np.any(np.isnan(filt))
    np.testing.assert_allclose(filt, ref["filtered"], atol=1e-9)


def test_unreachable_better_state_gives_no_nan():
    # Left-to-right model: once in state 1 the chain stays there. The middle
    # forces state 1; afterwards state 0 would explain the data far better,
    # but it is unreachable. Its backward variable must not overflow into
    # 0 * inf = NaN.
    startprob = np.array([1.0, 0.0])
    transmat = np.array([[0.9, 0.1], [0.0, 1.0]])
    le = np.zeros((200, 2))
    le[:50, 1] = -1.0
    le[50:60, 0] = -np.inf
    le[60:, 1] = -10.0
    ll_ref, post_ref, _ = log_forward_backward(le, startprob, transmat)
    ll, post = fasthmm.forward_backward(le, startprob, transmat)
    np.testing.assert_allclose(ll, ll_ref, rtol=1e-12)
    assert not np.any(np.isnan(post))
    np.testing.assert_allclose(post, post_ref, atol=1e-12)
    np.testing.assert_array_equal(post[50:, 0], 0.0)


def test_posterior_far_from_filtered_gives_no_nan():
    # Two absorbing states. The first 10 steps push p(z = 1 | x_1..x_t) down to
    # e^-725 ~ 1e-315 (a subnormal, still non-zero); the next 20 favour state 1
    # by 1000 nats, so p(z = 1 | x) ~ 1. A backward variable scaled like the
    # forward one would be ~1 / 1e-315: beyond the float64 range.
    startprob = np.array([0.5, 0.5])
    transmat = np.eye(2)
    le = np.zeros((30, 2))
    le[:10, 1] = -72.5
    le[10:, 0] = -50.0
    ll_ref, post_ref, filt_ref = log_forward_backward(le, startprob, transmat)
    assert 0 < filt_ref[9, 1] < np.finfo(float).tiny  # the premise of the test
    ll, post = fasthmm.forward_backward(le, startprob, transmat)
    # The forward pass carries a subnormal (~28 significant bits) here.
    np.testing.assert_allclose(ll, ll_ref, rtol=0, atol=1e-7)
    assert not np.any(np.isnan(post))
    np.testing.assert_allclose(post, post_ref, atol=1e-12)
    np.testing.assert_allclose(post[:, 1], 1.0)
    _, xi, start, _ = run_e_step(le, startprob, transmat)
    np.testing.assert_allclose(xi, [[0.0, 0.0], [0.0, 29.0]], atol=1e-9)
    np.testing.assert_allclose(start, [0.0, 1.0], atol=1e-12)


def test_reachable_states_far_below_the_row_maximum():
    """Every reachable state ~800 below an unreachable one: no false -inf."""
    startprob = np.array([1.0, 0.0])
    transmat = np.array([[0.0, 1.0], [1.0, 0.0]])  # strict alternation
    le = np.array([[0.0, 0.0], [0.0, -800.0]])  # step 2 must be in state 1
    assert fasthmm.forward(le, startprob, transmat) == pytest.approx(-800.0)
    ll, post = fasthmm.forward_backward(le, startprob, transmat)
    assert ll == pytest.approx(-800.0)
    np.testing.assert_array_equal(post, [[1.0, 0.0], [0.0, 1.0]])
    _, filt = fasthmm.forward_filter(le, startprob, transmat)
    np.testing.assert_array_equal(filt, [[1.0, 0.0], [0.0, 1.0]])


@pytest.mark.parametrize("k", [2, 3, 4])
def test_underflowing_steps_match_the_log_space_reference(k):
    """Reachable states' log-emissions far below unreachable ones, in a batch."""
    rng = np.random.default_rng(k)
    lengths = [1, 5, 9, 30, 2]
    le, startprob, transmat = random_problem(
        rng, k, lengths, zero_frac=0.0, neginf_frac=0.0, left_right=True
    )
    # Left-right, leaving state 0 at once: after t = 0 it is unreachable.
    transmat = np.triu(np.ones((k, k)), 1)
    transmat[-1, -1] = 1.0
    transmat /= transmat.sum(axis=1, keepdims=True)
    startprob = np.eye(k)[0]
    bounds = np.cumsum([0] + lengths)
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        if hi - lo > 3:  # late in the sequence, state 0 looks 1000 nats better
            le[hi - 2 : hi, 0] += 1000.0
            le[hi - 2 : hi, 1:] -= 1000.0
    le[bounds[-2] + 4 :, 0] = 2000.0  # ... and overwhelmingly so in the last one
    ref = batch_reference(le, startprob, transmat, lengths)
    # The batch kernel alone cannot score some of them (the case under test) ...
    ws = Workspace(check_lengths(lengths, le.shape[0]), k)
    ws.load_log_emissions(le)
    raw = np.empty(len(lengths))
    args = (ws.frame, ws.shift, ws.from_log, ws.starts, ws.blocks)
    _forward_backward(*args, startprob, transmat, raw, ws.post, ws.scale, False)
    assert np.isnan(raw).any()
    # ... and the public functions settle them exactly.
    assert fasthmm.forward(le, startprob, transmat, lengths) == pytest.approx(
        sum(ref["ll"]), rel=1e-12
    )
    ll, xi, start, post = run_e_step(le, startprob, transmat, lengths)
    np.testing.assert_allclose(ll, ref["ll"], rtol=1e-12)
    np.testing.assert_allclose(post, ref["posteriors"], atol=1e-10)
    np.testing.assert_allclose(xi, ref["xi"], rtol=1e-9, atol=1e-9)
    _, filt = fasthmm.forward_filter(le, startprob, transmat, lengths)
    np.testing.assert_allclose(filt, ref["filtered"], atol=1e-10)


def test_model_scores_sequences_whose_frame_underflows():
    """The models rebuild the log-emissions of such a sequence on demand."""
    model = fasthmm.GaussianHMM(2, covariance_type="spherical", init_params="")
    model.startprob_ = np.array([1.0, 0.0])
    model.transmat_ = np.array([[0.0, 1.0], [0.0, 1.0]])  # state 0 only at t = 0
    model.means_ = np.array([[0.0], [0.0]])
    model.covars_ = np.array([1.0, 1e-4])  # state 1: a very narrow Gaussian
    X = np.array([[0.0], [0.0], [0.0], [2.0], [0.0]])  # x = 2 is ~2e4 nats off for 1
    le = np.column_stack(
        [-0.5 * (np.log(2 * np.pi * v) + X[:, 0] ** 2 / v) for v in model.covars_]
    )
    ref = batch_reference(le, model.startprob_, model.transmat_)
    assert model.score(X) == pytest.approx(ref["ll"][0], rel=1e-12)
    np.testing.assert_allclose(model.predict_proba(X), ref["posteriors"], atol=1e-10)
    model.fit(X)  # and EM proceeds from there
    assert np.isfinite(model.monitor_.history).all()


def _batch_problem(seed, n_seq, k=4, max_len=60):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, max_len + 1, size=n_seq).tolist()
    le, startprob, transmat = random_problem(rng, k, lengths, zero_frac=0.3)
    return le, startprob, transmat, lengths


@pytest.mark.parametrize("n_seq", [7, 200])
def test_batch_equals_sequences_one_at_a_time(n_seq):
    le, startprob, transmat, lengths = _batch_problem(n_seq, n_seq)
    ll_b = fasthmm.forward(le, startprob, transmat, lengths)
    llfb_b, post_b = fasthmm.forward_backward(le, startprob, transmat, lengths)
    llf_b, filt_b = fasthmm.forward_filter(le, startprob, transmat, lengths)
    lp_b, states_b = fasthmm.viterbi(le, startprob, transmat, lengths)

    lls, lps = [], []
    for lo, hi in split(lengths, len(le)):
        part = le[lo:hi]
        ll, post = fasthmm.forward_backward(part, startprob, transmat)
        assert fasthmm.forward(part, startprob, transmat) == ll
        np.testing.assert_array_equal(post, post_b[lo:hi])  # bitwise
        _, filt = fasthmm.forward_filter(part, startprob, transmat)
        np.testing.assert_array_equal(filt, filt_b[lo:hi])
        lp, states = fasthmm.viterbi(part, startprob, transmat)
        np.testing.assert_array_equal(states, states_b[lo:hi])
        lls.append(ll)
        lps.append(lp)
    for total in (ll_b, llfb_b, llf_b):
        np.testing.assert_allclose(total, np.sum(lls), rtol=1e-12)
    np.testing.assert_allclose(lp_b, np.sum(lps), rtol=1e-12)


@pytest.mark.parametrize("n_seq", [1, 5, 200])
def test_results_do_not_depend_on_thread_count(n_seq):
    le, startprob, transmat, lengths = _batch_problem(
        100 + n_seq, n_seq, k=6, max_len=300
    )
    original = numba.get_num_threads()
    results = []
    try:
        for threads in (1, numba.config.NUMBA_NUM_THREADS):
            numba.set_num_threads(threads)
            results.append(
                (
                    fasthmm.forward(le, startprob, transmat, lengths),
                    fasthmm.forward_backward(le, startprob, transmat, lengths),
                    fasthmm.forward_filter(le, startprob, transmat, lengths),
                    fasthmm.viterbi(le, startprob, transmat, lengths),
                )
            )
    finally:
        numba.set_num_threads(original)
    assert numba.get_num_threads() == original
    (f1, fb1, ff1, v1), (f2, fb2, ff2, v2) = results
    assert f1 == f2
    for (a0, a1), (b0, b1) in ((fb1, fb2), (ff1, ff2), (v1, v2)):
        assert a0 == b0
        np.testing.assert_array_equal(a1, b1)


def test_many_sequences_match_reference():
    # More sequences than MAX_BLOCKS, so several sequences share a block.
    le, startprob, transmat, lengths = _batch_problem(42, 200, k=5, max_len=40)
    assert (
        len(block_bounds(np.concatenate(([0], np.cumsum(lengths))))) - 1 <= MAX_BLOCKS
    )
    ref = batch_reference(le, startprob, transmat, lengths)
    ll, post = fasthmm.forward_backward(le, startprob, transmat, lengths)
    np.testing.assert_allclose(ll, np.sum(ref["ll"]), rtol=1e-11)
    np.testing.assert_allclose(post, ref["posteriors"], atol=1e-9)
    _, filt = fasthmm.forward_filter(le, startprob, transmat, lengths)
    np.testing.assert_allclose(filt, ref["filtered"], atol=1e-9)
    lp, states = fasthmm.viterbi(le, startprob, transmat, lengths)
    np.testing.assert_allclose(lp, np.sum(ref["best"]), rtol=1e-11)
    np.testing.assert_allclose(
        batch_path_score(le, startprob, transmat, states, lengths), lp, rtol=1e-11
    )


@given(lengths=st.lists(st.integers(1, 1000), min_size=1, max_size=300))
def test_block_bounds_partition_the_sequences(lengths):
    starts = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
    blocks = block_bounds(starts)
    n_seq = len(lengths)
    assert blocks.dtype == np.int64
    assert blocks[0] == 0 and blocks[-1] == n_seq
    assert np.all(np.diff(blocks) > 0)  # contiguous, non-empty
    assert len(blocks) - 1 <= MAX_BLOCKS
    if n_seq <= MAX_BLOCKS:
        np.testing.assert_array_equal(blocks, np.arange(n_seq + 1))


def test_zero_startprob_and_transmat_rows_with_one_state():
    # K = 1: the only path; the likelihood is the sum of the emissions.
    le = np.array([[-1.5], [-np.inf], [0.25]])
    assert fasthmm.forward(le[[0, 2]], [1.0], [[1.0]]) == pytest.approx(
        -1.25, abs=1e-14
    )
    assert fasthmm.forward(le, [1.0], [[1.0]]) == -np.inf


def test_random_stochastic_helper_is_stochastic():
    # Guard for the reference helper itself.
    rng = np.random.default_rng(0)
    a = random_stochastic(rng, (7, 7), zero_frac=0.9)
    np.testing.assert_allclose(a.sum(axis=1), 1.0)
    assert np.all(a >= 0) and np.any(a == 0)
