"""Streams of regime-switching models: input-driven transitions
(``transition_inputs=True``) and autoregression (ARHMM).

Any split of a sequence into pushes gives the batch calls' results
(``filter_proba``, ``score``, ``decode``, fixed-lag rows against
``predict_proba`` of prefixes), over hypothesis-drawn split points; the
input-driven filter and smoother also against a plain NumPy log-space
forward-backward with per-step softmax matrices, and the ARHMM filter
against a log-space forward over independently computed autoregressive
log-emissions (its first ``order`` rows conditioned on). Forecasts from a
stream equal the batch forecasts of the rows pushed; save/resume; bad
transition inputs name the argument and leave the stream unchanged.
"""

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from models_helpers import assert_same_stream_state, push_all, seeds, stream_state

import fasthmm
from tests.reference import (
    gaussian_loglik,
    log_forward_backward,
    log_forward_backward_steps,
    safe_log,
    softmax_transmats,
)
from tests.switching_reference import log_emissions as ar_log_emissions

TOL = 1e-11


def tvtp_model(rng, k, d):
    model = fasthmm.GaussianHMM(k, transition_inputs=True)
    model.startprob_ = rng.dirichlet(np.ones(k))
    coef = rng.normal(scale=1.5, size=(k, k, d))
    coef[:, -1, :] = 0.0
    model.transcoef_ = coef
    model.means_ = rng.normal(scale=2.0, size=(k, 1))
    model.covars_ = rng.uniform(0.5, 2.0, size=(k, 1))
    return model


def ar_model(rng, k, order, n_inputs=0, d=2):
    model = fasthmm.ARHMM(k, order=order, covariance_type="full")
    model.startprob_ = rng.dirichlet(np.ones(k))
    model.transmat_ = rng.dirichlet(np.ones(k), size=k)
    model.coef_ = 0.3 * rng.normal(size=(k, d, order * d + n_inputs))
    model.intercept_ = rng.normal(size=(k, d))
    a = rng.normal(size=(k, d, d))
    model.covars_ = a @ a.transpose(0, 2, 1) + np.eye(d)
    return model


def chunks(n, cuts):
    """Bounds of the pushes of n rows cut at ``cuts``."""
    bounds = [0, *sorted(c for c in cuts if 0 < c < n), n]
    return list(zip(bounds[:-1], bounds[1:]))


def one_row(x):
    """A chunk of one row pushed as one observation (a scalar or a 1-D row)."""
    return float(x[0, 0]) if x.shape[1] == 1 else np.ascontiguousarray(x[0])


def tvtp_pieces(X, W, bounds, singles):
    return [
        (
            one_row(X[a:b]) if singles and b - a == 1 else X[a:b],
            {"transition_inputs": W[a:b]},
        )
        for a, b in bounds
    ]


def assert_batch_results(model, X, out, lag, kw):
    """The contract: the stream's outputs equal the batch calls'."""
    filtered, smoothed, states = out
    n = X.shape[0]
    np.testing.assert_allclose(filtered, model.filter_proba(X, **kw), rtol=0, atol=TOL)
    for s in range(n - min(lag, n)):
        prefix = {key: v[: s + lag + 1] for key, v in kw.items()}
        np.testing.assert_allclose(
            smoothed[s],
            model.predict_proba(X[: s + lag + 1], **prefix)[s],
            rtol=0,
            atol=TOL,
        )
    post = model.predict_proba(X, **kw)
    tail = min(lag, n)
    np.testing.assert_allclose(smoothed[n - tail :], post[n - tail :], atol=TOL)
    _, path = model.decode(X, **kw)
    np.testing.assert_array_equal(states, path)


# -- input-driven transitions --------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(
    seed=seeds,
    k=st.integers(1, 4),
    n=st.integers(1, 30),
    lag=st.integers(0, 5),
    cuts=st.sets(st.integers(1, 29), max_size=10),
    singles=st.booleans(),
)
def test_tvtp_any_split_equals_the_batch_calls(seed, k, n, lag, cuts, singles):
    rng = np.random.default_rng(seed)
    d = int(rng.integers(1, 4))
    model = tvtp_model(rng, k, d)
    X = rng.normal(scale=2.0, size=(n, 1))
    W = np.column_stack([np.ones(n), rng.normal(size=(n, d - 1))])
    stream = model.stream(lag=lag)
    out = push_all(stream, tvtp_pieces(X, W, chunks(n, cuts), singles))
    kw = {"transition_inputs": W}
    assert_batch_results(model, X, out, lag, kw)
    assert stream.log_likelihood == pytest.approx(model.score(X, **kw), rel=1e-12)
    assert stream.path_log_prob == pytest.approx(model.decode(X, **kw)[0], rel=1e-12)


def _log_viterbi_steps(le, startprob, A):
    """Best path and its log-probability, per-step matrices, in log space."""
    lA = safe_log(A)
    delta = safe_log(startprob) + le[0]
    back = []
    for t in range(1, le.shape[0]):
        cand = delta[:, None] + lA[t]
        back.append(cand.argmax(axis=0))
        delta = cand.max(axis=0) + le[t]
    path = [int(delta.argmax())]
    for b in reversed(back):
        path.append(int(b[path[-1]]))
    return float(delta.max()), np.array(path[::-1])


@settings(max_examples=15, deadline=None)
@given(seed=seeds, n=st.integers(2, 40), lag=st.integers(0, 6))
def test_tvtp_stream_equals_the_numpy_log_space_reference(seed, n, lag):
    rng = np.random.default_rng(seed)
    k, d = 3, 2
    model = tvtp_model(rng, k, d)
    X = rng.normal(scale=2.0, size=(n, 1))
    W = np.column_stack([np.ones(n), rng.normal(size=n)])
    le = gaussian_loglik(X, model.means_, model.covars_, "diag")
    A = softmax_transmats(model.transcoef_, W)
    ll, filtered_ref, post = log_forward_backward_steps(le, model.startprob_, A)

    stream = model.stream(lag=lag)
    pieces = [(X[t], {"transition_inputs": W[t : t + 1]}) for t in range(n)]
    filtered, smoothed, states = push_all(stream, pieces)
    np.testing.assert_allclose(filtered, filtered_ref, rtol=0, atol=1e-10)
    assert stream.log_likelihood == pytest.approx(ll, rel=1e-10)
    for s in range(n - min(lag, n)):  # p(z_s | x_0..x_{s+lag})
        ref = log_forward_backward_steps(
            le[: s + lag + 1], model.startprob_, A[: s + lag + 1]
        )[2]
        np.testing.assert_allclose(smoothed[s], ref[s], rtol=0, atol=1e-10)
    np.testing.assert_allclose(
        smoothed[n - min(lag, n) :], post[n - min(lag, n) :], atol=1e-10
    )
    lp, path = _log_viterbi_steps(le, model.startprob_, A)
    np.testing.assert_array_equal(states, path)
    assert stream.path_log_prob == pytest.approx(lp, rel=1e-10)


def test_tvtp_stream_forecasts_equal_the_batch_forecasts():
    rng = np.random.default_rng(3)
    model = tvtp_model(rng, 3, 2)
    n, steps = 25, 4
    X = rng.normal(size=(n, 1))
    W = np.column_stack([np.ones(n), rng.normal(size=n)])
    future = np.column_stack([np.ones(steps), rng.normal(size=steps)])
    stream = model.stream()
    stream.push(X[:10], transition_inputs=W[:10])
    stream.push(X[10:], transition_inputs=W[10:])
    kw = {"transition_inputs": W, "future_transition_inputs": future}
    np.testing.assert_allclose(
        stream.forecast_proba(steps, future_transition_inputs=future),
        model.forecast_proba(X, steps=steps, **kw)[0],
        atol=1e-12,
    )
    np.testing.assert_allclose(
        stream.forecast(steps, future_transition_inputs=future),
        model.forecast(X, steps=steps, **kw)[0],
        atol=1e-12,
    )
    # by hand: the filtered row through the future softmax matrices
    A = softmax_transmats(model.transcoef_, future)
    p = model.filter_proba(X, transition_inputs=W)[-1]
    for h in range(steps):
        p = p @ A[h]
    np.testing.assert_allclose(
        stream.forecast_proba(steps, future_transition_inputs=future)[-1], p, atol=1e-12
    )
    with pytest.raises(ValueError, match="future_transition_inputs"):
        stream.forecast_proba(steps)
    with pytest.raises(ValueError, match="future_transition_inputs"):
        stream.forecast_proba(steps, future_transition_inputs=future[:, :1])


def test_tvtp_save_and_resume_continue_the_uninterrupted_stream():
    rng = np.random.default_rng(5)
    model = tvtp_model(rng, 3, 2)
    n = 30
    X = rng.normal(scale=2.0, size=(n, 1))
    W = np.column_stack([np.ones(n), rng.normal(size=n)])
    pieces = [(X[t], {"transition_inputs": W[t : t + 1]}) for t in range(n)]
    whole = push_all(model.stream(lag=4), pieces)

    first = model.stream(lag=4)
    for x, kw in pieces[:17]:
        first.push(x, **kw)
    buf = io.BytesIO()
    np.savez(buf, **first.get_state())
    buf.seek(0)
    with np.load(buf) as saved:
        resumed = model.stream(lag=4).set_state(dict(saved))
    rest = push_all(resumed, pieces[17:])
    np.testing.assert_array_equal(rest[0], whole[0][17:])
    np.testing.assert_array_equal(rest[1], whole[1][13:])
    assert resumed.log_likelihood == pytest.approx(model.score(X, transition_inputs=W))

    state = first.get_state()
    state["transitions"] = state["transitions"][:-1]
    with pytest.raises(ValueError, match=r"state\['transitions'\]"):
        model.stream(lag=4).set_state(state)
    del state["transitions"]
    with pytest.raises(ValueError, match="transitions"):
        model.stream(lag=4).set_state(state)


@pytest.mark.parametrize(
    "w, error, match",
    [
        (None, ValueError, "transition_inputs=True"),
        (np.ones((2, 2)), ValueError, "transition_inputs"),  # rows != 3
        (np.ones((3, 3)), ValueError, "2 columns"),
        (np.array([[1.0, np.nan]] * 3), ValueError, "transition_inputs"),
    ],
)
def test_bad_transition_inputs_leave_the_stream_unchanged(w, error, match):
    rng = np.random.default_rng(0)
    model = tvtp_model(rng, 3, 2)
    stream = model.stream(lag=2)
    stream.push(np.zeros((4, 1)), transition_inputs=np.ones((4, 2)))
    before = stream_state(stream)
    with pytest.raises(error, match=match):
        stream.push(np.zeros((3, 1)), transition_inputs=w)
    assert_same_stream_state(stream, before)


def test_stationary_streams_refuse_transition_inputs():
    rng = np.random.default_rng(0)
    model = fasthmm.GaussianHMM(2)
    model.startprob_ = np.array([0.5, 0.5])
    model.transmat_ = np.array([[0.9, 0.1], [0.2, 0.8]])
    model.means_ = rng.normal(size=(2, 1))
    model.covars_ = np.ones((2, 1))
    stream = model.stream()
    with pytest.raises(ValueError, match="transition_inputs were given"):
        stream.push(np.zeros((2, 1)), transition_inputs=np.ones((2, 1)))
    assert stream.n_pushed == 0
    stream.push(np.zeros((2, 1)))
    with pytest.raises(ValueError, match="future_transition_inputs"):
        stream.forecast_proba(2, future_transition_inputs=np.ones((2, 1)))


# -- autoregression ------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(
    seed=seeds,
    k=st.integers(1, 3),
    order=st.integers(1, 3),
    n=st.integers(1, 25),
    lag=st.integers(0, 4),
    cuts=st.sets(st.integers(1, 24), max_size=10),
    n_inputs=st.integers(0, 2),
)
def test_arhmm_any_split_equals_the_batch_calls(seed, k, order, n, lag, cuts, n_inputs):
    rng = np.random.default_rng(seed)
    model = ar_model(rng, k, order, n_inputs)
    U = rng.normal(size=(n, n_inputs)) if n_inputs else None
    X = rng.normal(size=(n, 2))
    kw = {} if U is None else {"inputs": U}
    pieces = []
    for a, b in chunks(n, cuts):
        x = one_row(X[a:b]) if b - a == 1 and U is None else X[a:b]
        pieces.append((x, {} if U is None else {"inputs": U[a:b]}))
    stream = model.stream(lag=lag)
    out = push_all(stream, pieces)
    assert_batch_results(model, X, out, lag, kw)
    assert stream.log_likelihood == pytest.approx(model.score(X, **kw), rel=1e-12)


@pytest.mark.parametrize("order", [1, 3])
def test_arhmm_stream_equals_the_log_space_reference(order):
    """Rows before ``order`` are conditioned on (log-emission 0): their
    filtered rows follow the chain alone, pushed one at a time or in
    chunks that cross the first ``order`` rows."""
    rng = np.random.default_rng(order)
    model = ar_model(rng, 3, order)
    n = 20
    X = rng.normal(size=(n, 2))
    le = ar_log_emissions(model, X)
    assert np.all(le[:order] == 0.0)
    for bounds in (chunks(n, range(1, n)), chunks(n, [2, 5, 11])):
        stream = model.stream()
        filtered = np.concatenate([stream.push(X[a:b]) for a, b in bounds])
        ll_ref, _, ref = log_forward_backward(le, model.startprob_, model.transmat_)
        np.testing.assert_allclose(filtered, ref, rtol=0, atol=1e-10)
        assert stream.log_likelihood == pytest.approx(ll_ref, rel=1e-10)
        # the chain alone before the first scored row
        p = model.startprob_
        for t in range(order):
            np.testing.assert_allclose(filtered[t], p, atol=1e-12)
            p = p @ model.transmat_


def test_arhmm_stream_forecasts_continue_from_the_pushed_rows():
    rng = np.random.default_rng(11)
    model = ar_model(rng, 2, 2, n_inputs=1)
    n, steps = 30, 5
    X = rng.normal(size=(n, 2))
    U = rng.normal(size=(n, 1))
    future = rng.normal(size=(steps, 1))
    stream = model.stream()
    for a, b in chunks(n, [1, 7, 8, 20]):
        stream.push(X[a:b], inputs=U[a:b])
    np.testing.assert_allclose(
        stream.forecast(steps, future_inputs=future),
        model.forecast(X, steps=steps, inputs=U, future_inputs=future)[0],
        atol=1e-12,
    )
    np.testing.assert_allclose(
        stream.forecast_proba(steps),
        model.forecast_proba(X, steps=steps, inputs=U)[0],
        atol=1e-12,
    )
    with pytest.raises(ValueError, match="future_inputs"):
        stream.forecast(steps)


def test_arhmm_stream_state_keeps_the_lags():
    rng = np.random.default_rng(2)
    model = ar_model(rng, 2, 3)
    X = rng.normal(size=(12, 2))
    first = model.stream()
    first.push(X[:2])
    state = first.get_state()
    assert state["past"].shape == (2, 2)  # fewer rows than order so far
    resumed = model.stream().set_state(state)
    np.testing.assert_allclose(
        np.concatenate([resumed.push(X[2:7]), resumed.push(X[7:])]),
        model.filter_proba(X)[2:],
        atol=1e-12,
    )
    state["past"] = np.zeros((3, 2))
    with pytest.raises(ValueError, match=r"state\['past'\]"):
        model.stream().set_state(state)
    # a rejected chunk keeps the lags
    stream = model.stream()
    stream.push(X[:4])
    before = stream_state(stream)
    with pytest.raises(ValueError, match="X"):
        stream.push(np.full((2, 2), np.nan))
    assert_same_stream_state(stream, before)
    with pytest.raises(ValueError):
        stream.push(np.zeros((2, 3)))
    assert_same_stream_state(stream, before)
