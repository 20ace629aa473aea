"""Exactness when the shifted frame cannot hold the probable states.

The scaled kernels shift each step's emission probabilities by the row's
largest log-emission. When that state is reachable but improbable (or
unreachable) and the states carrying the chain's probability sit ~700 or
more below it, their shifted probabilities are subnormal or zero: the scaled
pass would lose them (a finite but wrong log-likelihood, or a false -inf).
Such sequences must be detected and settled exactly; every route is
compared here with the log-space reference of tests/reference.py.
"""

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from reference import batch_reference, log_forward_backward, path_score, run_e_step

import fasthmm
from fasthmm._kernels.partition import LONG_SEQUENCE
from fasthmm.em import expected_stats

# Found by the fuzz suite: state 1 is the row maximum at step 2 by 1e4 but
# cannot reach state 2, the row maximum at step 3; the paths through states 0
# and 2 at step 2 (1e4 below) end up as likely as the path through state 1.
FUZZ_LE = np.array(
    [
        [-1.0, -1e4, 0.0],
        [-np.inf, -1e4, -1e4],
        [-1e4, 0.0, -1e4],
        [-1e4, -1e4, 0.0],
    ]
)
FUZZ_SP = np.full(3, 1 / 3)
FUZZ_TM = np.array([[1 / 3, 1 / 3, 1 / 3], [0.5, 0.5, 0.0], [0.5, 0.0, 0.5]])

# A survivor state 0 and a dead end 1 (absorbing): at step 1 the dead end is
# the row maximum by `gap` while the survivor carries half the probability;
# at step 2 the dead end is `dead` (far below the survivor).
DEAD_END_SP = np.array([1.0, 0.0])
DEAD_END_TM = np.array([[0.5, 0.5], [0.0, 1.0]])


def dead_end(gap, dead):
    return np.array([[0.0, -np.inf], [-gap, 0.0], [0.0, dead]])


CASES = [pytest.param(FUZZ_LE, FUZZ_SP, FUZZ_TM, id="fuzz")] + [
    pytest.param(dead_end(gap, dead), DEAD_END_SP, DEAD_END_TM, id=f"{gap}-{dead}")
    for gap in (720.0, 740.0, 744.0, 800.0, 1e4)
    for dead in (-np.inf, -1e4, -800.0)
]


def assert_exact(le, sp, tm, lengths=None):
    """Every functional route agrees with the log-space reference."""
    ref = batch_reference(le, sp, tm, lengths)
    ll_ref = float(np.sum(ref["ll"]))
    ll = fasthmm.forward(le, sp, tm, lengths)
    if not np.isfinite(ll_ref):
        assert ll == -np.inf
        for fn in (fasthmm.forward_backward, fasthmm.forward_filter):
            with pytest.raises(ValueError, match="zero probability"):
                fn(le, sp, tm, lengths)
        return
    # The reference sums logarithms over whole sequences: its own rounding
    # grows with their magnitude (about 1e-9 after 50 rows of -1e4).
    with np.errstate(divide="ignore"):
        log_t = np.abs(np.log(tm))
    magnitude = np.abs(le[np.isfinite(le)]).sum() + len(le) * log_t.max(
        initial=0.0, where=np.isfinite(log_t)
    )
    tol = 1e-12 + 64 * np.finfo(float).eps * magnitude
    np.testing.assert_allclose(ll, ll_ref, rtol=1e-9, atol=1e-9)
    ll_f, filt = fasthmm.forward_filter(le, sp, tm, lengths)
    np.testing.assert_allclose(ll_f, ll_ref, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(filt, ref["filtered"], rtol=1e-9, atol=tol)
    ll_b, post = fasthmm.forward_backward(le, sp, tm, lengths)
    np.testing.assert_allclose(ll_b, ll_ref, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(post, ref["posteriors"], rtol=1e-9, atol=tol)
    _, xi, _, _ = run_e_step(le, sp, tm, lengths)
    np.testing.assert_allclose(xi, ref["xi"], rtol=1e-9, atol=tol * len(le))
    lp, _ = fasthmm.viterbi(le, sp, tm, lengths)
    np.testing.assert_allclose(lp, np.sum(ref["best"]), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("le", "sp", "tm"), CASES)
def test_regression_cases_are_exact(le, sp, tm):
    assert_exact(le, sp, tm)


@pytest.mark.parametrize(("le", "sp", "tm"), CASES[:4])
def test_regression_cases_are_exact_among_ordinary_sequences(le, sp, tm):
    # The unsettled sequence sits between ordinary ones (other blocks, same
    # batch); only it takes the exact route.
    rng = np.random.default_rng(0)
    other = rng.normal(-2.0, 1.0, (6, le.shape[1]))
    batch = np.concatenate([other, le, other])
    assert_exact(batch, sp, tm, [6, le.shape[0], 6])


def test_dead_end_in_a_long_sequence_is_exact():
    # A sequence long enough for the two-way kernel that ends in the trap;
    # the reference is the log-space recursion over all of it.
    n = LONG_SEQUENCE + 7
    rng = np.random.default_rng(1)
    le = np.empty((n, 2))
    le[:, 0] = rng.normal(-1.0, 0.5, n)
    le[:, 1] = -np.inf
    le[-3:] = dead_end(800.0, -800.0)
    ll_ref, post_ref, _ = log_forward_backward(le, DEAD_END_SP, DEAD_END_TM)
    ll, post = fasthmm.forward_backward(le, DEAD_END_SP, DEAD_END_TM)
    np.testing.assert_allclose(ll, ll_ref, rtol=1e-9)
    # (the reference's log-space sums over 16k steps carry ~1e-9 of rounding)
    np.testing.assert_allclose(post, post_ref, atol=1e-7)
    np.testing.assert_allclose(post[-3:], post_ref[-3:], rtol=1e-9, atol=1e-12)
    ll = fasthmm.forward(le, DEAD_END_SP, DEAD_END_TM)
    np.testing.assert_allclose(ll, ll_ref, rtol=1e-9)


@pytest.mark.parametrize("gap", [700.0, 720.0, 740.0, 744.0])
def test_stream_step_is_exact_when_an_improbable_state_leads(gap):
    # State 1 is reachable but improbable (startprob 1e-323) and is the row
    # maximum by `gap`: the terms of the probable state 0 are subnormal when
    # shifted by it. (A stream keeps its filtered row in float64, so unlike
    # the batch routes it cannot bring back a filtered probability that
    # underflowed at an earlier step; this is the step itself.)
    sp = np.array([1.0, 1e-323])
    tm = np.array([[0.9, 0.1], [0.1, 0.9]])
    le = np.array([[-gap, 0.0], [0.0, -1.0], [-3.0, 0.0]])
    ll_ref, _, filt_ref = log_forward_backward(le, sp, tm)
    stream = fasthmm.stream_filter(sp, tm, viterbi=False)
    filt = np.array([stream.push(row) for row in le]).reshape(le.shape)
    np.testing.assert_allclose(stream.log_likelihood, ll_ref, rtol=1e-12)
    np.testing.assert_allclose(filt, filt_ref, rtol=1e-9, atol=1e-15)
    assert_exact(le, sp, tm)


def dead_end_gaussian():
    """A 1-D Gaussian model whose log-emissions on ``X`` form a dead end.

    State 1 (mean 40) is absorbing; X = 0, 40, 0 puts it 800 above state 0
    (mean 0) at step 1 and 800 below at step 2, so that the path 0, 0, 0 and
    the path 0, 1, 1 are about equally likely.
    """
    model = fasthmm.GaussianHMM(2, covariance_type="spherical", init_params="")
    model.startprob_ = DEAD_END_SP.copy()
    model.transmat_ = DEAD_END_TM.copy()
    model.means_ = np.array([[0.0], [40.0]])
    model.covars_ = np.array([1.0, 1.0])
    X = np.array([[0.0], [40.0], [0.0]])
    mu = model.means_[:, 0]
    le = -0.5 * np.log(2 * np.pi) - 0.5 * (X - mu[None, :]) ** 2
    return model, X, le


def test_model_routes_are_exact_on_a_dead_end():
    model, X, le = dead_end_gaussian()
    ll_ref, post_ref, _ = log_forward_backward(le, DEAD_END_SP, DEAD_END_TM)
    # Both paths count: the scaled frame alone would keep only one.
    paths = [
        path_score(le, DEAD_END_SP, DEAD_END_TM, p) for p in ([0, 0, 0], [0, 1, 1])
    ]
    assert ll_ref > max(paths) + 0.3
    np.testing.assert_allclose(model.score(X), ll_ref, rtol=1e-9)
    ll, post = model.score_samples(X)
    np.testing.assert_allclose(ll, ll_ref, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(post, post_ref, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(model.predict_proba(X), post_ref, rtol=1e-9)
    # fit's E-step
    params, Xc, starts = model._checked_batch(X, None)
    stats = expected_stats(params, Xc, starts)
    np.testing.assert_allclose(stats.log_likelihood, ll_ref, rtol=1e-9)


EXTREME = st.one_of(
    st.floats(-50, 5),
    st.just(-np.inf),
    st.sampled_from([-1e4, -800.0, -745.0, -740.0, -720.0, -400.0]),
)


def stochastic(shape):
    def normalise(a):
        a = a.copy()
        a[a.sum(axis=-1) == 0] = 1.0
        return a / a.sum(axis=-1, keepdims=True)

    return arrays(
        np.float64, shape, elements=st.one_of(st.just(0.0), st.floats(0.01, 1.0))
    ).map(normalise)


@st.composite
def extreme_problems(draw):
    k = draw(st.integers(1, 3))
    lengths = draw(st.lists(st.integers(1, 8), min_size=1, max_size=3))
    le = draw(arrays(np.float64, (sum(lengths), k), elements=EXTREME))
    return le, draw(stochastic((k,))), draw(stochastic((k, k))), lengths


@settings(max_examples=150)
@given(problem=extreme_problems())
def test_extreme_log_emissions_are_exact(problem):
    le, sp, tm, lengths = problem
    assert_exact(le, sp, tm, lengths)


@st.composite
def dense_chain_problems(draw):
    """Extreme rows repeated in runs (so that a state lost at one step can be
    regained over many), under a chain whose every transition is >= 1e-100."""
    k = draw(st.integers(2, 3))
    runs = draw(
        st.lists(
            st.tuples(arrays(np.float64, (k,), elements=EXTREME), st.integers(1, 40)),
            min_size=1,
            max_size=5,
        )
    )
    le = np.concatenate([np.tile(row, (n, 1)) for row, n in runs])
    weights = arrays(np.float64, (k + 1, k), elements=st.floats(-100.0, 0.0))
    w = 10.0 ** draw(weights)
    w /= w.sum(axis=1, keepdims=True)
    return le, w[0], w[1:], None


@settings(max_examples=60)
@given(problem=dense_chain_problems())
def test_dense_chains_are_exact_even_when_regained_gradually(problem):
    # With every transition probability above 1e-130, mass lost to underflow
    # at one step is outweighed by the kept mass at the next (see
    # docs/robustness.md): the normaliser floor alone makes every route exact.
    assert_exact(*problem)


def test_gradual_regain_is_exact_when_a_transition_leads_back():
    # State 0's filtered probability underflows at step 1 (750 below the dead
    # end state 1), then state 0 gains 10 per step. With a transition 1 -> 0
    # of 1e-200 the kept mass reaches state 0 too, and the result is exact.
    # (With that transition 0 it is not: the case docs/robustness.md
    # describes, beyond an O(1) check.)
    le = np.array([[0.0, -np.inf], [-750.0, 0.0]] + [[0.0, -10.0]] * 80)
    tm = np.array([[0.5, 0.5], [1e-200, 1.0 - 1e-200]])
    assert_exact(le, DEAD_END_SP, tm)


def test_exact_route_does_not_depend_on_the_thread_count():
    default = numba.get_num_threads()
    if default < 2:
        pytest.skip("a single Numba thread available")
    rng = np.random.default_rng(3)
    pieces, lengths = [], []
    for i in range(150):  # several blocks; every third sequence a dead end
        n = int(rng.integers(5, 30))
        le = rng.normal(-1.0, 1.0, (n, 2))
        le[:, 1] = -np.inf
        if i % 3 == 0:
            le[-3:] = dead_end(800.0 + i, -800.0)
        pieces.append(le)
        lengths.append(n)
    le = np.concatenate(pieces)

    def run(threads):
        numba.set_num_threads(threads)
        try:
            ll, post = fasthmm.forward_backward(le, DEAD_END_SP, DEAD_END_TM, lengths)
            ll_e, xi, start, _ = run_e_step(le, DEAD_END_SP, DEAD_END_TM, lengths)
            return ll, post, ll_e, xi, start
        finally:
            numba.set_num_threads(default)

    for one, many in zip(run(1), run(default)):
        np.testing.assert_array_equal(one, many)
