"""Extreme values: huge log-emissions, subnormal probabilities, overflowing
covariances and log-likelihoods.

Huge log-emissions (-1e16, -1e300) are compared with a brute-force reference
that sums each path's log-emissions exactly (``fractions.Fraction``), so that
the small terms a huge common term would swamp in float64 survive; subnormal
start and transition probabilities with the log-space NumPy reference of
tests/reference.py. Cases that used to leak a warning run with warnings
turned into errors.
"""

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import log_forward_backward, safe_log

import fasthmm
from fasthmm.transitions import Transitions

# --- huge log-emissions --------------------------------------------------


def exact_reference(le, sp, tm):
    """Log-likelihood and posteriors of one sequence by enumerating its paths.

    Each path's log-emissions are summed exactly and compared with the best
    sum before rounding; only the (small) start and transition terms are
    summed in float64. Posteriors are None for an impossible sequence.
    """
    n, k = le.shape
    log_sp, log_tm = safe_log(sp), safe_log(tm)
    paths, sums, small = [], [], []
    for path in itertools.product(range(k), repeat=n):
        rows = le[np.arange(n), path]
        p = log_sp[path[0]] + sum(log_tm[a, b] for a, b in zip(path, path[1:]))
        if np.isneginf(rows).any() or p == -np.inf:
            continue
        paths.append(path)
        sums.append(sum(Fraction(float(v)) for v in rows))
        small.append(p)
    if not paths:
        return -np.inf, None
    top = max(sums)
    d = np.array([float(s - top) + p for s, p in zip(sums, small)])
    m = d.max()
    w = np.exp(d - m)
    post = np.zeros((n, k))
    for path, wi in zip(paths, w):
        post[np.arange(n), path] += wi
    total = w.sum()
    return float(top) + m + math.log(total), post / total


def test_defect_case_posteriors_sum_to_one():
    le = np.array([[-2e16, -2e16, -1e16]])
    sp, tm = np.array([0.5, 0.5, 0.0]), np.full((3, 3), 1 / 3)
    ll_ref, post_ref = exact_reference(le, sp, tm)
    ll, post = fasthmm.forward_backward(le, sp, tm)
    np.testing.assert_allclose(post, post_ref, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(post.sum(axis=1), 1.0, rtol=1e-12)
    assert ll == pytest.approx(ll_ref, rel=1e-15)
    _, filt = fasthmm.forward_filter(le, sp, tm)
    np.testing.assert_allclose(filt, post_ref, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("scale", [1e10, 1e15, 2e16, 1e300])
def test_huge_common_term_keeps_small_differences(scale):
    # Two rows: the second moves the probability to state 1 by a small margin
    # on top of the huge common term.
    le = np.array([[-scale, -scale, -scale / 2], [-scale - 3.0, -scale, -scale]])
    sp, tm = (
        np.array([0.5, 0.5, 0.0]),
        np.array([[0.6, 0.4, 0], [0.3, 0.7, 0], [0, 0, 1.0]]),
    )
    ll_ref, post_ref = exact_reference(le, sp, tm)
    ll, post = fasthmm.forward_backward(le, sp, tm)
    np.testing.assert_allclose(post, post_ref, rtol=1e-9, atol=1e-12)
    assert ll == pytest.approx(ll_ref, rel=1e-14)
    assert fasthmm.forward(le, sp, tm) == pytest.approx(ll_ref, rel=1e-14)


def test_gaussian_model_far_from_every_mean():
    # Far from the means, states 0 and 1 have the same log-density (about
    # -5e299) and the impossible state 2 the largest (about -1.25e299).
    m = fasthmm.GaussianHMM(3, init_params="")
    m.startprob_ = np.array([0.5, 0.5, 0.0])
    m.transmat_ = np.full((3, 3), 1 / 3)
    m.means_ = np.array([[0.0], [1.0], [5e149]])
    m.covars_ = np.ones((3, 1))
    X = np.array([[1e150]])
    ll_ref, post_ref = exact_reference(m.log_emissions(X), m.startprob_, m.transmat_)
    ll, post = m.score_samples(X)
    np.testing.assert_allclose(post, post_ref, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(m.predict_proba(X), post_ref, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(m.filter_proba(X), post_ref, rtol=1e-12, atol=1e-15)
    assert ll == pytest.approx(ll_ref, rel=1e-15)


def test_huge_term_on_a_state_no_state_reaches():
    # Found by the property below: at step 2 the largest log-emission is that
    # of state 2, which no state can reach; the backward pass must shift by
    # the largest reachable term, or the posteriors sum to 1 + 9e-9.
    le = np.array([[0.0, 0, 0], [0, 0, 0], [-1e10, -1e10, -5e9], [0, 0, 0]])
    sp = np.array([1.0, 0.0, 0.0])
    tm = np.array([[10 / 11, 1 / 11, 0], [1, 0, 0], [1, 0, 0]])
    ll_ref, post_ref = exact_reference(le, sp, tm)
    ll, post = fasthmm.forward_backward(le, sp, tm)
    np.testing.assert_allclose(post.sum(axis=1), 1.0, rtol=1e-14)
    np.testing.assert_allclose(post, post_ref, rtol=1e-12, atol=1e-15)
    assert ll == pytest.approx(ll_ref, rel=1e-15)


def test_huge_term_on_a_state_the_chain_cannot_be_in():
    # Found by the property below: state 0 is reachable in general but not at
    # step 3 (only from states 1 and 2, which step 2 excludes).
    le = np.array([[0.0, 0, 0], [0, 0, 0], [0, 0, 0], [-5e9, -1e10, -1e10]])
    sp = np.array([1.0, 0.0, 0.0])
    tm = np.array([[0, 10 / 11, 1 / 11], [1, 0, 0], [1, 0, 0]])
    ll_ref, post_ref = exact_reference(le, sp, tm)
    ll, post = fasthmm.forward_backward(le, sp, tm)
    np.testing.assert_allclose(post.sum(axis=1), 1.0, rtol=1e-14)
    np.testing.assert_allclose(post, post_ref, rtol=1e-12, atol=1e-15)
    assert ll == pytest.approx(ll_ref, rel=1e-15)


EPS = np.finfo(np.float64).eps
BASES = [0.0, -1e10, -1e15, -2e16, -1e16, -1e300, 1e15]


@st.composite
def huge_problems(draw):
    k = draw(st.integers(1, 3))
    n = draw(st.integers(1, 4))
    base = draw(st.lists(st.sampled_from(BASES), min_size=n, max_size=n))
    le = np.empty((n, k))
    for t in range(n):
        for j in range(k):
            kind = draw(st.sampled_from(["same", "half", "-inf"]))
            small = draw(st.floats(-40.0, 40.0))
            if kind == "-inf":
                le[t, j] = -np.inf
            else:
                le[t, j] = (base[t] if kind == "same" else base[t] / 2) + small

    def probs(size):
        w = np.array(
            draw(
                st.lists(
                    st.sampled_from([0.0, 0.1, 1.0, 3.0]), min_size=size, max_size=size
                )
            )
        )
        w[draw(st.integers(0, size - 1))] = 1.0
        return w / w.sum()

    sp = probs(k)
    tm = np.array([probs(k) for _ in range(k)])
    return le, sp, tm


@settings(deadline=None)
@given(huge_problems())
def test_huge_log_emissions_match_exact_reference(problem):
    le, sp, tm = problem
    ll_ref, post_ref = exact_reference(le, sp, tm)
    if post_ref is None:
        assert fasthmm.forward(le, sp, tm) == -np.inf
        with pytest.raises(ValueError, match="zero probability"):
            fasthmm.forward_backward(le, sp, tm)
        return
    ll, post = fasthmm.forward_backward(le, sp, tm)
    np.testing.assert_allclose(post.sum(axis=1), 1.0, rtol=1e-12)
    # A log-probability carried from one step to the next is rounded at the
    # magnitude of the log-emissions it differs by; the log-likelihood is a
    # sum of per-step terms that may cancel.
    size = np.abs(le[np.isfinite(le)]).max(initial=0.0)
    np.testing.assert_allclose(post, post_ref, atol=1e-12 + 16 * EPS * size)
    tol = 1e-9 + 4 * EPS * size * len(le)
    assert ll == pytest.approx(ll_ref, rel=1e-14, abs=tol)
    assert fasthmm.forward(le, sp, tm) == pytest.approx(ll_ref, rel=1e-14, abs=tol)


# --- subnormal start and transition probabilities -----------------------


def subnormal_chain(s):
    """State 1 is entered from state 0 with probability ``s`` only; after
    two steps it carries all of the probability."""
    sp = np.array([0.7, 0.0, 0.3])
    tm = np.array([[1.0, s, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    le = np.array([[0.0, -np.inf, 0.0], [-415.0, 0.0, -415.0], [-np.inf, 0.0, -np.inf]])
    return le, sp, tm


@pytest.mark.parametrize("s", [5e-324, 1.5e-323, 1e-320, 1e-315, 2e-308])
def test_subnormal_transitions_match_log_space_reference(s):
    le, sp, tm = subnormal_chain(s)
    ll_ref, post_ref, filt_ref = log_forward_backward(le, sp, tm)
    assert fasthmm.forward(le, sp, tm) == pytest.approx(ll_ref, rel=1e-13)
    ll, post = fasthmm.forward_backward(le, sp, tm)
    assert ll == pytest.approx(ll_ref, rel=1e-13)
    np.testing.assert_allclose(post, post_ref, rtol=1e-9, atol=1e-300)
    ll_f, filt = fasthmm.forward_filter(le, sp, tm)
    assert ll_f == pytest.approx(ll_ref, rel=1e-13)
    np.testing.assert_allclose(filt, filt_ref, rtol=1e-9, atol=1e-300)


@pytest.mark.parametrize("s", [1.5e-323, 2.5e-323, 3.3e-322, 1e-320])
def test_subnormal_transitions_in_a_model(s):
    _, sp, tm = subnormal_chain(s)
    m = fasthmm.CategoricalHMM(3, init_params="")
    m.startprob_, m.transmat_ = sp, tm
    far = 0.5 * np.exp(-415.0)
    m.emissionprob_ = np.array([[0.5, far, 0.0], [0.0, 0.5, 0.5], [0.5, far, 0.0]])
    m.emissionprob_ /= m.emissionprob_.sum(axis=1, keepdims=True)
    X = np.array([[0], [1], [2]])
    ref, post_ref, _ = log_forward_backward(m.log_emissions(X), sp, tm)
    assert m.score(X) == pytest.approx(ref, rel=1e-13)
    ll, post = m.score_samples(X)
    assert ll == pytest.approx(ref, rel=1e-13)
    np.testing.assert_allclose(post, post_ref, rtol=1e-9, atol=1e-300)


@settings(deadline=None)
@given(st.integers(1, 2**52 - 1), st.floats(300.0, 700.0))
def test_subnormal_transition_property(mantissa, gap):
    s = mantissa * 5e-324
    le, sp, tm = subnormal_chain(s)
    le[1, [0, 2]] = -gap
    ll_ref, post_ref, _ = log_forward_backward(le, sp, tm)
    ll, post = fasthmm.forward_backward(le, sp, tm)
    assert ll == pytest.approx(ll_ref, rel=1e-13)
    np.testing.assert_allclose(post, post_ref, rtol=1e-9, atol=1e-300)


def test_gradual_regain_through_a_subnormal_transition_is_exact():
    # State 0 underflows at step 1 (750 below the dead end, state 1) and is
    # regained over 80 steps through a transition 1 -> 0 of 1e-320.
    le = np.array([[0.0, -np.inf], [-750.0, 0.0]] + [[0.0, -10.0]] * 80)
    sp, tm = np.array([1.0, 0.0]), np.array([[0.5, 0.5], [1e-320, 1.0]])
    ll_ref, post_ref, _ = log_forward_backward(le, sp, tm)
    assert fasthmm.forward(le, sp, tm) == pytest.approx(ll_ref, rel=1e-13)
    ll, post = fasthmm.forward_backward(le, sp, tm)
    assert ll == pytest.approx(ll_ref, rel=1e-13)
    np.testing.assert_allclose(post, post_ref, rtol=1e-9, atol=1e-12)


def test_m_step_sets_subnormal_probabilities_to_zero():
    t = Transitions(2, np.array([0.5, 0.5]), np.full((2, 2), 0.5))
    new = t.m_step(np.array([1.0, 1e-320]), np.array([[1.0, 1e-320], [1.0, 1.0]]), "st")
    tiny = np.finfo(np.float64).tiny
    for probs in (new.startprob, new.transmat):
        assert not ((probs > 0) & (probs < tiny)).any()
    np.testing.assert_array_equal(new.startprob, [1.0, 0.0])
    np.testing.assert_array_equal(new.transmat[0], [1.0, 0.0])
    np.testing.assert_array_equal(new.transmat[1], [0.5, 0.5])


# --- overflow: covariances, log-likelihoods; leaked warnings -------------


COVARS_1E_320 = {
    "spherical": np.array([1e-320]),
    "diag": np.array([[1e-320]]),
    "full": np.array([[[1e-320]]]),
    "tied": np.array([[1e-320]]),
}


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("covariance_type", sorted(COVARS_1E_320))
def test_covariance_whose_inverse_overflows_is_rejected(covariance_type):
    m = fasthmm.GaussianHMM(1, covariance_type=covariance_type, init_params="")
    m.startprob_, m.transmat_ = np.array([1.0]), np.array([[1.0]])
    m.means_ = np.array([[0.0]])
    m.covars_ = COVARS_1E_320[covariance_type]
    with pytest.raises(ValueError, match="covars_"):
        m.score(np.array([[0.0], [1.0]]))


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("covariance_type", ["spherical", "diag", "full", "tied"])
def test_variational_gaussian_on_one_sample_leaks_no_warning(covariance_type):
    X = np.array([[0.3]])
    m = fasthmm.VariationalGaussianHMM(1, covariance_type=covariance_type)
    m.fit(X)
    assert np.isfinite(m.score(X))


FUNCTIONS = [
    fasthmm.forward,
    fasthmm.forward_filter,
    fasthmm.forward_backward,
    fasthmm.viterbi,
]


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("lengths", [None, [1, 1]])
@pytest.mark.parametrize("fn", FUNCTIONS, ids=lambda f: f.__name__)
def test_overflowing_log_likelihood_is_one_clear_error(fn, lengths):
    # +inf for one sequence, or for the sum of two finite ones
    le = np.full((2, 2), 1e308)
    sp, tm = np.array([0.5, 0.5]), np.full((2, 2), 0.5)
    with pytest.raises(ValueError, match="log_emissions.*overflow"):
        fn(le, sp, tm, lengths)


def test_large_finite_log_likelihood_is_returned():
    le = np.array([[1e308, 1e308], [-1e308, -np.inf]])
    sp, tm = np.array([0.5, 0.5]), np.full((2, 2), 0.5)
    ll_ref, post_ref, _ = log_forward_backward(le, sp, tm)
    assert fasthmm.forward(le, sp, tm) == pytest.approx(ll_ref, abs=1e-9)
    assert fasthmm.forward_backward(le, sp, tm)[0] == pytest.approx(ll_ref, abs=1e-9)


@pytest.mark.parametrize("X", [[["a", "b"], ["c", "d"]], [["1", "2"], ["3", "4"]]])
@pytest.mark.parametrize("model", [fasthmm.GaussianHMM, fasthmm.CategoricalHMM])
def test_list_of_lists_of_strings_is_a_dtype_error(X, model):
    with pytest.raises(TypeError, match="X must hold real numbers, got dtype"):
        model(2).fit(X)
