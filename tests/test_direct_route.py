"""The direct route: kernels that read log-emissions a chunk of rows at a time.

``fasthmm.forward`` and the models' ``score`` no longer build the
(n_samples, n_components) frame: :mod:`fasthmm._kernels.direct` exponentiates
a chunk of each sequence's rows into scratch, checks the values as it reads
them, and runs the recursion with a small-K form of the step. These tests pin
it to the frame route (the same arithmetic: results bit for bit), to the
log-space reference of ``tests/reference.py``, to ``forward_backward``'s
log-likelihood, and to the thread-count rule; they cover the chunk
boundaries, the small-K / large-K switch, ``-inf`` and extreme log-emissions,
sequences the frame must settle by reshifting, impossible sequences, and
NaN / ``+inf`` input.
"""

import numba
import numpy as np
import pytest
from families import FAMILIES
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import batch_path_score, batch_reference, random_problem

import fasthmm
from fasthmm._kernels import direct
from fasthmm._kernels import hmm as _kernels
from fasthmm._kernels.direct import SMALL_K, chunk_rows
from fasthmm._threads import use_threads
from fasthmm._validation import check_lengths
from fasthmm.inference import (
    Workspace,
    _forward_backward,
    block_bounds,
    direct_log_likelihoods,
    direct_posteriors,
    e_step,
    forward_pass,
    sequence_log_likelihoods,
    viterbi_decode,
)


def _frame_route(le, sp, tm, starts):
    ws = Workspace(starts, le.shape[1])
    ws.load_log_emissions(le)
    return sequence_log_likelihoods(ws, sp, tm)


def _lengths_across_chunks(k):
    """Lengths of 1, of a chunk, one either side of it, and several chunks."""
    c = chunk_rows(k)
    return [1, c - 1, c, c + 1, 1, 2 * c + 3, 2]


@given(
    seed=st.integers(0, 2**32 - 1),
    k=st.integers(1, 2 * SMALL_K + 2),
    lengths=st.lists(st.integers(1, 300), min_size=1, max_size=5),
    zero_frac=st.sampled_from([0.0, 0.3]),
    neginf_frac=st.sampled_from([0.0, 0.2, 0.5]),
    extreme=st.booleans(),
)
@settings(max_examples=60)
def test_direct_equals_frame_route_and_reference(
    seed, k, lengths, zero_frac, neginf_frac, extreme
):
    rng = np.random.default_rng(seed)
    le, sp, tm = random_problem(rng, k, lengths, zero_frac, neginf_frac)
    if extreme:  # log-emissions of -1e4: frame rows that underflow
        le[rng.random(le.shape) < 0.2] = -1e4
    starts = check_lengths(lengths, le.shape[0])
    ll = direct_log_likelihoods(le, starts, sp, tm)
    np.testing.assert_array_equal(ll, _frame_route(le, sp, tm, starts))
    # The filtered rows (forward_filter) are those of the frame kernel too.
    ws = Workspace(starts, k)
    ws.load_log_emissions(le)
    ll_f, filtered = direct_posteriors(le, starts, sp, tm, smooth=False)
    np.testing.assert_array_equal(ll_f, forward_pass(ws, sp, tm))
    np.testing.assert_array_equal(filtered, ws.post)
    if not extreme:  # see test_posteriors_equal_the_e_step_and_reference
        ref = batch_reference(le, sp, tm, lengths)["ll"]
        np.testing.assert_allclose(ll, ref, rtol=1e-10, atol=1e-8)
    # The forward pass alone and forward-backward give the same log-likelihood
    # (forward_backward raises for a sequence the scaled recursion finds
    # impossible: with -1e4 entries it may drop the only possible paths).
    if not np.all(np.isfinite(ll)):
        return
    total, _ = fasthmm.forward_backward(le, sp, tm, lengths)
    assert fasthmm.forward(le, sp, tm, lengths) == pytest.approx(total, rel=1e-12)


@pytest.mark.parametrize("k", [1, 2, 3, SMALL_K, SMALL_K + 1, 16, 33])
def test_chunk_boundaries_and_short_sequences(k):
    rng = np.random.default_rng(k)
    lengths = _lengths_across_chunks(k)
    le, sp, tm = random_problem(rng, k, lengths, zero_frac=0.2, neginf_frac=0.2)
    starts = check_lengths(lengths, le.shape[0])
    ll = direct_log_likelihoods(le, starts, sp, tm)
    np.testing.assert_array_equal(ll, _frame_route(le, sp, tm, starts))
    ref = batch_reference(le, sp, tm, lengths)["ll"]
    np.testing.assert_allclose(ll, ref, rtol=1e-10)
    total, _ = fasthmm.forward_backward(le, sp, tm, lengths)
    assert fasthmm.forward(le, sp, tm, lengths) == pytest.approx(total, rel=1e-12)


@pytest.mark.parametrize("k", [2, 5, 12])
def test_many_short_sequences(k):
    rng = np.random.default_rng(100 + k)
    lengths = rng.integers(1, 4, size=700)  # more sequences than blocks
    le, sp, tm = random_problem(rng, k, lengths, zero_frac=0.2, neginf_frac=0.2)
    ref = batch_reference(le, sp, tm, lengths)["ll"]
    assert fasthmm.forward(le, sp, tm, lengths) == pytest.approx(sum(ref), rel=1e-10)


@pytest.mark.parametrize("k", [2, 4, 20])
def test_underflowing_frame_rows_are_settled_exactly(k):
    """A reachable state far below an unreachable one: its frame value is 0.

    State 0 is never reachable after the first step but has the largest
    log-emission by 1e4, so every shifted probability of the reachable
    states underflows; the direct kernel reports NaN and the sequence is
    settled by reshifting, as on the frame route.
    """
    rng = np.random.default_rng(k)
    n = 3 * chunk_rows(k) + 5
    sp = np.full(k, 1.0 / k)
    tm = rng.dirichlet(np.ones(k), size=k)
    tm[:, 0] = 0.0
    tm[:, 1] += 1e-3
    tm /= tm.sum(axis=1, keepdims=True)
    le = rng.normal(size=(n, k)) - 1e4
    le[:, 0] = 0.0
    lengths = [n, 7, n]
    le = np.concatenate([le, rng.normal(size=(7, k)), le])
    starts = check_lengths(lengths, le.shape[0])
    ll = direct_log_likelihoods(le, starts, sp, tm)
    assert np.all(np.isfinite(ll))
    np.testing.assert_array_equal(ll, _frame_route(le, sp, tm, starts))
    ref = batch_reference(le, sp, tm, lengths)["ll"]
    np.testing.assert_allclose(ll, ref, rtol=1e-10)


def test_impossible_sequence_gives_minus_inf_and_the_others_are_kept():
    rng = np.random.default_rng(5)
    lengths = [30, 40, 30]
    le, sp, tm = random_problem(rng, 3, lengths, zero_frac=0.0, neginf_frac=0.0)
    le[50] = -np.inf  # no state can emit step 20 of the second sequence
    starts = check_lengths(lengths, le.shape[0])
    ll = direct_log_likelihoods(le, starts, sp, tm)
    assert ll[1] == -np.inf
    ref = batch_reference(le, sp, tm, lengths)["ll"]
    np.testing.assert_allclose(ll[[0, 2]], np.array(ref)[[0, 2]], rtol=1e-10)
    assert fasthmm.forward(le, sp, tm, lengths) == -np.inf
    with pytest.raises(ValueError, match="sequence 1 of log_emissions"):
        fasthmm.forward_backward(le, sp, tm, lengths)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("where", [0, 1, -1])
def test_nan_or_plus_inf_is_named(bad, where):
    rng = np.random.default_rng(1)
    lengths = [5, 2 * chunk_rows(3) + 1, 4] * 30  # several blocks and chunks
    le, sp, tm = random_problem(rng, 3, lengths)
    le[[0, 5 + chunk_rows(3) + 1, -1][where], 1] = bad
    what = "must not contain NaN" if np.isnan(bad) else r"must be finite, found \+inf"
    for fn in (
        fasthmm.forward,
        fasthmm.forward_filter,
        fasthmm.forward_backward,
        fasthmm.viterbi,
    ):
        with pytest.raises(ValueError, match="log_emissions " + what):
            fn(le, sp, tm, lengths)


def _numpy_scaled_forward(le, sp, tm, lo, hi):
    """The scaled forward pass of rows ``lo:hi`` in plain NumPy: filtered
    rows, normalisers and the log-likelihood (the shift: each row's max)."""
    alpha, scale, ll = np.empty((hi - lo, le.shape[1])), np.empty(hi - lo), 0.0
    for t in range(lo, hi):
        m = le[t].max()
        m = 0.0 if m == -np.inf else m
        e = np.exp(le[t] - m)
        v = (sp if t == lo else alpha[t - lo - 1] @ tm) * e
        scale[t - lo] = v.sum()
        alpha[t - lo] = v / v.sum()
        ll += np.log(v.sum()) + m
    return ll, alpha, scale


def test_forward_filter_rows_equal_the_frame_kernel():
    """The forward kernel over the frame of probabilities gives the bits it
    gives reading the log-emissions directly, and NumPy's values."""
    rng = np.random.default_rng(11)
    lengths = [1, 9, 300, 2]
    for k in (2, SMALL_K + 3):
        le, sp, tm = random_problem(rng, k, lengths, zero_frac=0.3, neginf_frac=0.2)
        le[5, 1:] = -1e4
        starts = check_lengths(lengths, le.shape[0])
        ws = Workspace(starts, k)
        ws.load_log_emissions(le)
        ll = forward_pass(ws, sp, tm).copy()
        stored = np.empty(len(lengths))
        alpha, scale = np.empty_like(le), np.empty(le.shape[0])
        args = (le, np.zeros(le.shape[0]), True, starts, ws.blocks, sp, tm)
        _forward_backward(*args, stored, alpha, scale, False)
        np.testing.assert_array_equal(ll, stored)
        np.testing.assert_array_equal(ws.post, alpha)
        np.testing.assert_array_equal(ws.scale, scale)
        for s in range(len(lengths)):
            lo, hi = starts[s], starts[s + 1]
            ref_ll, ref_alpha, ref_scale = _numpy_scaled_forward(le, sp, tm, lo, hi)
            assert ll[s] == pytest.approx(ref_ll, rel=1e-12)
            np.testing.assert_allclose(alpha[lo:hi], ref_alpha, rtol=1e-12, atol=1e-15)
            np.testing.assert_allclose(scale[lo:hi], ref_scale, rtol=1e-12)


def test_model_score_equals_forward_of_its_log_emissions():
    rng = np.random.default_rng(2)
    for model in (
        fasthmm.GaussianHMM(3, init_params="", params=""),
        fasthmm.CategoricalHMM(2, init_params="", params=""),
    ):
        k = model.n_components
        model.startprob_ = rng.dirichlet(np.ones(k))
        model.transmat_ = rng.dirichlet(np.ones(k), size=k)
        if isinstance(model, fasthmm.GaussianHMM):
            model.means_ = rng.normal(size=(k, 2))
            model.covars_ = np.full((k, 2), 0.5)
            X = rng.normal(size=(500, 2))
        else:
            model.emissionprob_ = rng.dirichlet(np.ones(4), size=k)
            X = rng.integers(0, 4, size=(500, 1))
        lengths = [1, 250, 249]
        le = model.log_emissions(X, lengths)
        ref = batch_reference(le, model.startprob_, model.transmat_, lengths)["ll"]
        assert model.score(X, lengths) == pytest.approx(sum(ref), rel=1e-10)
        assert model.score(X, lengths) == pytest.approx(
            fasthmm.forward(le, model.startprob_, model.transmat_, lengths), rel=1e-12
        )


@given(
    seed=st.integers(0, 2**32 - 1),
    k=st.integers(1, 2 * SMALL_K + 2),
    lengths=st.lists(st.integers(1, 60), min_size=1, max_size=5),
    zero_frac=st.sampled_from([0.0, 0.3]),
    neginf_frac=st.sampled_from([0.0, 0.2, 0.5]),
    ties=st.booleans(),
)
@settings(max_examples=60)
def test_viterbi_equals_the_frame_kernel_and_reference(
    seed, k, lengths, zero_frac, neginf_frac, ties
):
    """The small-K kernel: the same values, the same back-pointers and the
    same ties (towards the lowest state) as the original kernel, and the
    reference's best score."""
    rng = np.random.default_rng(seed)
    le, sp, tm = random_problem(rng, k, lengths, zero_frac, neginf_frac)
    if ties:  # many exact ties between paths
        le = np.round(le)
        tm = np.where(tm > 0, 1.0 / k, 0.0)
        tm /= tm.sum(axis=1, keepdims=True)
    starts = check_lengths(lengths, le.shape[0])
    with np.errstate(divide="ignore"):
        log_sp, log_tm = np.log(sp), np.log(tm)
    n = le.shape[0]
    old_states, old_lp = np.empty(n, dtype=np.int64), np.empty(len(lengths))
    blocks = block_bounds(starts)
    _kernels.viterbi_blocks(
        le,
        log_sp,
        log_tm,
        starts,
        blocks,
        0,
        len(blocks) - 1,
        np.empty((n, k), dtype=np.int32),
        old_states,
        old_lp,
    )
    # The direct kernel (used up to SMALL_K states, correct for any K)...
    lp, states = np.empty(len(lengths)), np.empty(n, dtype=np.int64)
    back = np.empty((n, k), dtype=np.int32)
    assert direct.viterbi_block(le, sp, tm, starts, 0, len(lengths), back, states, lp)
    np.testing.assert_array_equal(lp, old_lp)
    np.testing.assert_array_equal(states, old_states)
    # ... and the one the public calls pick.
    lp, states, clean = viterbi_decode(le, sp, tm, starts)
    assert clean == (k <= SMALL_K)
    np.testing.assert_array_equal(lp, old_lp)
    np.testing.assert_array_equal(states, old_states)
    ref = batch_reference(le, sp, tm, lengths)["best"]
    np.testing.assert_allclose(lp, ref, rtol=1e-12, atol=1e-10)


def test_viterbi_of_many_short_sequences():
    rng = np.random.default_rng(8)
    lengths = rng.integers(1, 5, size=600)
    for k in (2, SMALL_K + 1):
        le, sp, tm = random_problem(rng, k, lengths, zero_frac=0.2, neginf_frac=0.2)
        ref = batch_reference(le, sp, tm, lengths)["best"]
        lp, states = fasthmm.viterbi(le, sp, tm, lengths)
        assert lp == pytest.approx(sum(ref), rel=1e-12)
        own = batch_path_score(le, sp, tm, states, lengths)
        assert own == pytest.approx(sum(ref), rel=1e-12)


@pytest.mark.parametrize("k", [2, SMALL_K + 1])
def test_same_for_one_and_two_threads(k):
    """Large enough for the parallel kernels: the same bits on one thread
    (impossible sequences and -1e4 rows included)."""
    default = numba.get_num_threads()
    if default < 2:
        pytest.skip("a single Numba thread available")
    rng = np.random.default_rng(3)
    lengths = rng.integers(1, 300, size=400)
    n = int(lengths.sum())
    sp, tm = rng.dirichlet(np.ones(k)), rng.dirichlet(np.ones(k), size=k)
    tm[0, 1] = 0.0
    tm /= tm.sum(axis=1, keepdims=True)
    le = rng.normal(scale=3.0, size=(n, k))
    le[rng.random(le.shape) < 0.05] = -1e4
    le[rng.random(le.shape) < 0.05] = -np.inf
    assert use_threads(*le.shape)
    starts = check_lengths(lengths, le.shape[0])
    results = []
    for threads in (1, 2):
        numba.set_num_threads(threads)
        try:
            results.append(
                (
                    direct_log_likelihoods(le, starts, sp, tm),
                    *direct_posteriors(le, starts, sp, tm),
                    *viterbi_decode(le, sp, tm, starts)[:2],
                )
            )
        finally:
            numba.set_num_threads(default)
    for one, two in zip(*results):
        np.testing.assert_array_equal(one, two)


def _e_step_route(le, sp, tm, starts):
    ws = Workspace(starts, le.shape[1])
    ws.load_log_emissions(le)
    ll, _, _ = e_step(ws, sp, tm)
    return ll, ws.post


@given(
    seed=st.integers(0, 2**32 - 1),
    k=st.integers(1, 2 * SMALL_K + 2),
    lengths=st.lists(st.integers(1, 300), min_size=1, max_size=5),
    zero_frac=st.sampled_from([0.0, 0.3]),
    neginf_frac=st.sampled_from([0.0, 0.2, 0.5]),
    extreme=st.booleans(),
    left_right=st.booleans(),
)
@settings(max_examples=60)
def test_posteriors_equal_the_e_step_and_reference(
    seed, k, lengths, zero_frac, neginf_frac, extreme, left_right
):
    """The backward pass re-exponentiates chunks from the last one back: the
    posteriors are the E-step's bit for bit, and the reference's.

    With random log-emissions of -1e4 the scaled recursion (either route)
    may drop a path whose probability falls more than ~745 nats below the
    best at one step and that turns out to be the best overall; the
    reference is then compared only without them.
    """
    rng = np.random.default_rng(seed)
    le, sp, tm = random_problem(
        rng, k, lengths, zero_frac, neginf_frac, left_right=left_right
    )
    if extreme:
        le[rng.random(le.shape) < 0.2] = -1e4
    starts = check_lengths(lengths, le.shape[0])
    ll, post = direct_posteriors(le, starts, sp, tm)
    ll_e, post_e = _e_step_route(le, sp, tm, starts)
    np.testing.assert_array_equal(ll, ll_e)
    np.testing.assert_array_equal(post, post_e)
    if not extreme:
        ref = batch_reference(le, sp, tm, lengths)
        np.testing.assert_allclose(ll, ref["ll"], rtol=1e-10, atol=1e-8)
        np.testing.assert_allclose(post, ref["posteriors"], atol=1e-8)


@pytest.mark.parametrize("k", [2, 4, 20])
def test_posteriors_of_underflowing_rows_and_chunk_boundaries(k):
    rng = np.random.default_rng(k)
    n = 2 * chunk_rows(k) + 1
    sp = np.full(k, 1.0 / k)
    tm = rng.dirichlet(np.ones(k), size=k)
    tm[:, 0] = 0.0
    tm[:, 1] += 1e-3
    tm /= tm.sum(axis=1, keepdims=True)
    low = rng.normal(size=(n, k)) - 1e4
    low[:, 0] = 0.0
    lengths = _lengths_across_chunks(k) + [n]
    le, _, _ = random_problem(rng, k, lengths[:-1], zero_frac=0.0, neginf_frac=0.0)
    le = np.concatenate([le, low])
    starts = check_lengths(lengths, le.shape[0])
    ll, post = direct_posteriors(le, starts, sp, tm)
    ll_e, post_e = _e_step_route(le, sp, tm, starts)
    np.testing.assert_array_equal(ll, ll_e)
    np.testing.assert_array_equal(post, post_e)
    ref = batch_reference(le, sp, tm, lengths)
    np.testing.assert_allclose(post, ref["posteriors"], atol=1e-8)


@pytest.mark.parametrize("family", FAMILIES, ids=repr)
@pytest.mark.parametrize("k", [2, SMALL_K + 1])
def test_model_methods_equal_the_workspace_route(family, k):
    """score, score_samples and decode of every family: the values of the
    workspace route (frame, E-step, the original Viterbi kernel), bit for bit."""
    family.require("workspace route")
    rng = np.random.default_rng(k)
    model = family.make(rng, k)
    lengths = [1, 2, 150, 40]
    X = np.asarray(family.sample(rng, 3, sum(lengths)))
    params, Xc, starts = model._checked_batch(X, lengths)
    t = params.transitions
    ws = Workspace(starts, k)
    ws.load(params.emission, Xc)
    ll_e, _, _ = e_step(ws, t.startprob, t.transmat)
    ll, post = model.score_samples(X, lengths)
    assert ll == float(ll_e.sum())
    np.testing.assert_array_equal(post, ws.post)
    assert model.score(X, lengths) == pytest.approx(ll, rel=1e-12)
    le = params.emission.log_likelihood(Xc)
    ref = batch_reference(le, t.startprob, t.transmat, lengths)
    assert ll == pytest.approx(sum(ref["ll"]), rel=1e-10)
    lp, states = model.decode(X, lengths, algorithm="viterbi")
    assert lp == pytest.approx(sum(ref["best"]), rel=1e-12)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_after_an_impossible_step_is_named(bad):
    """The direct kernels stop reading a sequence at a zero normaliser; the
    rows after it are still checked."""
    rng = np.random.default_rng(4)
    lengths = [20, 3 * chunk_rows(3), 20]
    le, sp, tm = random_problem(rng, 3, lengths, zero_frac=0.0, neginf_frac=0.0)
    le[30] = -np.inf  # step 10 of the second sequence: impossible
    le[20 + 2 * chunk_rows(3) + 5, 2] = bad  # two chunks later
    what = "must not contain NaN" if np.isnan(bad) else r"must be finite, found \+inf"
    for fn in (fasthmm.forward, fasthmm.forward_filter, fasthmm.forward_backward):
        with pytest.raises(ValueError, match="log_emissions " + what):
            fn(le, sp, tm, lengths)
