"""forward / forward_backward / forward_filter / viterbi against enumeration of
every state path, for tiny models (K <= 3, T <= 6), to 1e-10."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from reference import brute_force, path_score, run_e_step, split

import fasthmm

TOL = 1e-10

# Probabilities: an exact zero about a quarter of the time.
_prob = st.one_of(
    st.just(0.0), st.floats(0.05, 1.0), st.floats(0.05, 1.0), st.floats(0.05, 1.0)
)
# Log-emissions in [-8, 3], -inf about one time in twelve.
_log_em = st.one_of(st.just(-np.inf), *[st.floats(-8.0, 3.0)] * 11)


def _stochastic(draw, shape):
    a = draw(arrays(np.float64, shape, elements=_prob)).reshape(-1, shape[-1])
    for row in a:
        if row.sum() == 0:
            row[draw(st.integers(0, row.size - 1))] = 1.0
    return (a / a.sum(axis=1, keepdims=True)).reshape(shape)


@st.composite
def tiny_problems(draw, multi=False):
    """(log_emissions, startprob, transmat, lengths) of a tiny model."""
    k = draw(st.integers(1, 3))
    if multi:
        lengths = draw(st.lists(st.integers(1, 4), min_size=1, max_size=4))
    else:
        lengths = [draw(st.integers(1, 6))]
    n = sum(lengths)
    startprob = _stochastic(draw, (k,))
    transmat = _stochastic(draw, (k, k))
    le = draw(arrays(np.float64, (n, k), elements=_log_em))
    if draw(st.integers(0, 4)) != 4:
        # Usually keep the data possible: clear the -inf entries along one
        # path that startprob and transmat allow.
        lo = 0
        for length in lengths:
            z = draw(st.sampled_from(np.flatnonzero(startprob).tolist()))
            for t in range(lo, lo + length):
                if t > lo:
                    z = draw(st.sampled_from(np.flatnonzero(transmat[z]).tolist()))
                if le[t, z] == -np.inf:
                    le[t, z] = draw(st.floats(-8.0, 3.0))
            lo += length
    return le, startprob, transmat, (lengths if multi else None)


def _close(a, b, tol=TOL):
    return abs(a - b) <= tol * max(1.0, abs(b))


def _check(le, startprob, transmat, lengths):
    refs = [
        brute_force(le[lo:hi], startprob, transmat)
        for lo, hi in split(lengths, len(le))
    ]
    ll_ref = sum(r["ll"] for r in refs)
    ll = fasthmm.forward(le, startprob, transmat, lengths)

    if not np.isfinite(ll_ref):
        # Impossible under the model: forward says -inf, the others refuse.
        assert ll == -np.inf
        for fn in (fasthmm.forward_backward, fasthmm.forward_filter, fasthmm.viterbi):
            with pytest.raises(ValueError, match="zero probability"):
                fn(le, startprob, transmat, lengths)
        return

    assert _close(ll, ll_ref), (ll, ll_ref)

    ll2, post = fasthmm.forward_backward(le, startprob, transmat, lengths)
    assert _close(ll2, ll_ref)
    assert post.shape == le.shape
    post_ref = np.concatenate([r["posteriors"] for r in refs])
    np.testing.assert_allclose(post, post_ref, rtol=0, atol=TOL)

    # The E-step the models use: per-sequence ll, transition and start counts.
    ll_seq, xi, start, post_e = run_e_step(le, startprob, transmat, lengths)
    for got, r in zip(ll_seq, refs):
        assert _close(got, r["ll"])
    np.testing.assert_allclose(xi, sum(r["xi"] for r in refs), rtol=0, atol=TOL)
    first = [lo for lo, _ in split(lengths, len(le))]
    np.testing.assert_allclose(start, post_ref[first].sum(axis=0), rtol=0, atol=TOL)
    np.testing.assert_array_equal(post_e, post)

    ll3, filt = fasthmm.forward_filter(le, startprob, transmat, lengths)
    assert _close(ll3, ll_ref)
    filt_ref = np.concatenate([r["filtered"] for r in refs])
    np.testing.assert_allclose(filt, filt_ref, rtol=0, atol=TOL)

    log_prob, states = fasthmm.viterbi(le, startprob, transmat, lengths)
    assert states.dtype == np.int64 and states.shape == (len(le),)
    assert np.all((states >= 0) & (states < le.shape[1]))
    best_ref = sum(r["best"] for r in refs)
    assert _close(log_prob, best_ref), (log_prob, best_ref)
    for (lo, hi), r in zip(split(lengths, len(le)), refs):
        own = path_score(le[lo:hi], startprob, transmat, states[lo:hi])
        # The returned path attains the maximum, and no path beats it.
        assert _close(own, r["best"]), (own, r["best"])
        assert np.all(r["scores"] <= own + TOL * max(1.0, abs(own)))


@given(tiny_problems())
def test_single_sequence_matches_enumeration(problem):
    _check(*problem)


@given(tiny_problems(multi=True))
def test_batch_matches_enumeration(problem):
    _check(*problem)


@pytest.mark.parametrize("k", [1, 2, 3])
@pytest.mark.parametrize("t", [1, 2, 6])
def test_dense_models_match_enumeration(k, t):
    rng = np.random.default_rng(1000 * k + t)
    startprob = rng.dirichlet(np.ones(k))
    transmat = rng.dirichlet(np.ones(k), size=k)
    le = rng.normal(scale=2.0, size=(t, k))
    _check(le, startprob, transmat, None)


def test_all_ties_decode_to_state_zero():
    # Every path has the same score: ties go to the lowest state index.
    k, t = 3, 5
    le = np.full((t, k), -1.0)
    log_prob, states = fasthmm.viterbi(le, np.full(k, 1 / k), np.full((k, k), 1 / k))
    np.testing.assert_array_equal(states, np.zeros(t, dtype=np.int64))
    assert _close(log_prob, t * (-1.0 + np.log(1 / k)))


def test_impossible_sequence_in_a_batch():
    # Second sequence starts with an emission that only state 1 can produce,
    # but startprob excludes state 1.
    startprob = np.array([1.0, 0.0])
    transmat = np.array([[0.5, 0.5], [0.5, 0.5]])
    le = np.array([[0.0, -1.0], [-1.0, 0.0], [-np.inf, 0.0], [0.0, 0.0]])
    assert fasthmm.forward(le, startprob, transmat, [2, 2]) == -np.inf
    with pytest.raises(ValueError, match="sequence 1 "):
        fasthmm.forward_backward(le, startprob, transmat, [2, 2])
    with pytest.raises(ValueError, match="sequence 1 "):
        fasthmm.viterbi(le, startprob, transmat, [2, 2])
    # The first sequence alone is fine.
    _check(le[:2], startprob, transmat, None)
