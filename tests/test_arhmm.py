"""ARHMM (Markov-switching VAR(X)) against plain-NumPy references: the
log-emissions of every row (lags built by hand, the first ``order`` rows of
a sequence not scored), brute force over state paths, the exact forecast by
enumeration of future paths and by Monte Carlo, the weighted least-squares
M-step, monotone EM, sampling, save/load and bad input."""

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import brute_force
from switching_reference import (
    enumerated_forecast,
    log_emissions,
    random_params,
    set_params,
)

import fasthmm

COVARIANCE_TYPES = ("full", "diag", "spherical", "tied")


def model(rng, k=2, d=2, order=1, n_inputs=1, cov="full", **kwargs):
    m = fasthmm.ARHMM(k, order=order, covariance_type=cov, init_params="", **kwargs)
    return set_params(m, random_params(rng, k, d, order * d + n_inputs, cov))


def data(rng, lengths, d=2, n_inputs=1):
    n = sum(lengths)
    return rng.standard_normal((n, d)), rng.standard_normal((n, n_inputs))


@pytest.mark.parametrize("cov", COVARIANCE_TYPES)
@pytest.mark.parametrize("order", [1, 3])
def test_log_emissions_equal_the_numpy_reference(cov, order):
    rng = np.random.default_rng(order)
    m = model(rng, k=3, order=order, cov=cov)
    lengths = [7, 2, 12]
    X, U = data(rng, lengths)
    got = m.log_emissions(X, lengths, inputs=U)
    np.testing.assert_allclose(
        got, log_emissions(m, X, lengths, U), rtol=1e-10, atol=1e-10
    )
    assert np.all(got[:order] == 0.0)  # conditioned on, not scored


@pytest.mark.parametrize("n_inputs", [0, 2])
def test_score_and_posteriors_equal_brute_force(n_inputs):
    rng = np.random.default_rng(4)
    m = model(rng, k=3, order=2, n_inputs=n_inputs)
    lengths = [6, 5]
    X, U = data(rng, lengths, n_inputs=n_inputs)
    U = U if n_inputs else None
    le = log_emissions(m, X, lengths, U)
    exact = [
        brute_force(le[a:b], m.startprob_, m.transmat_) for a, b in ((0, 6), (6, 11))
    ]
    assert m.score(X, lengths, inputs=U) == pytest.approx(
        sum(e["ll"] for e in exact), abs=1e-10
    )
    post = m.predict_proba(X, lengths, inputs=U)
    np.testing.assert_allclose(
        post, np.vstack([e["posteriors"] for e in exact]), atol=1e-10
    )
    # decode: the best path's score is the brute-force maximum
    logprob, _ = m.decode(X, lengths, inputs=U)
    assert logprob == pytest.approx(sum(e["best"] for e in exact), abs=1e-9)


def _weighted_reference(X, lengths, U, order, weights, cov):
    """Weighted least squares (with an intercept) and the residual
    covariance of each state, by np.linalg.lstsq on sqrt-weighted rows."""
    from switching_reference import regressors

    R, scored = regressors(X, lengths, U, order)
    Z = np.hstack([R, np.ones((len(X), 1))])[scored]
    Y, W = X[scored], weights[scored]
    out = []
    for s in range(W.shape[1]):
        sw = np.sqrt(W[:, s])[:, None]
        beta = np.linalg.lstsq(Z * sw, Y * sw, rcond=None)[0].T
        res = Y - Z @ beta.T
        out.append((beta, (W[:, s, None] * res).T @ res, W[:, s].sum()))
    return out


@pytest.mark.parametrize("cov", COVARIANCE_TYPES)
def test_m_step_is_weighted_least_squares(cov):
    rng = np.random.default_rng(7)
    m = model(rng, k=2, order=2, cov=cov, covars_prior=0.0, min_covar=0.0)
    lengths = [30, 25]
    X, U = data(rng, lengths)
    params, Xd, starts = m._checked_batch(X, lengths, U)
    weights = rng.dirichlet(np.ones(2), size=len(X))
    em = params.emission
    new = em.m_step(em.suff_stats(Xd, weights), "mc")
    ref = _weighted_reference(X, lengths, U, 2, weights, cov)
    for s, (beta, _, _) in enumerate(ref):
        np.testing.assert_allclose(new["coef_"][s], beta[:, :-1], atol=1e-10)
        np.testing.assert_allclose(new["intercept_"][s], beta[:, -1], atol=1e-10)
    scatters = np.stack([r[1] for r in ref])
    masses = np.array([r[2] for r in ref])
    if cov == "full":
        want = scatters / masses[:, None, None]
    elif cov == "diag":
        want = np.diagonal(scatters, axis1=1, axis2=2) / masses[:, None]
    elif cov == "spherical":
        want = np.trace(scatters, axis1=1, axis2=2) / masses / 2
    else:
        want = scatters.sum(0) / masses.sum()
    np.testing.assert_allclose(new["covars_"], want, rtol=1e-9)


def test_ridge_prior_is_the_penalised_least_squares():
    rng = np.random.default_rng(8)
    lam = 3.0
    m = model(rng, k=1, order=1, n_inputs=1, cov="diag", coef_weight=lam)
    X, U = data(rng, [40])
    params, Xd, _ = m._checked_batch(X, None, U)
    em = params.emission
    new = em.m_step(em.suff_stats(Xd, np.ones((40, 1))), "m")
    from switching_reference import regressors

    R, scored = regressors(X, None, U, 1)
    Z = np.hstack([R, np.ones((40, 1))])[scored]
    penalty = lam * np.diag([1.0, 1.0, 1.0, 0.0])  # no prior on the intercept
    beta = np.linalg.solve(Z.T @ Z + penalty, Z.T @ X[scored]).T
    np.testing.assert_allclose(new["coef_"][0], beta[:, :-1], atol=1e-10)
    np.testing.assert_allclose(new["intercept_"][0], beta[:, -1], atol=1e-10)


@settings(max_examples=15)
@given(
    seed=st.integers(0, 2**31 - 1),
    cov=st.sampled_from(COVARIANCE_TYPES),
    order=st.integers(1, 2),
    prior=st.booleans(),
)
def test_em_objective_never_decreases(seed, cov, order, prior):
    rng = np.random.default_rng(seed)
    truth = model(rng, k=2, order=order, cov=cov)
    lengths = [40, 25]
    X = np.vstack(
        [
            truth.sample(n, random_state=rng, inputs=rng.standard_normal((n, 1)))[0]
            for n in lengths
        ]
    )
    U = rng.standard_normal((len(X), 1))
    kw = (
        {"coef_weight": 0.5, "covars_prior": 0.3, "covars_weight": 3.0} if prior else {}
    )
    fit = fasthmm.ARHMM(
        2,
        order=order,
        covariance_type=cov,
        n_iter=8,
        tol=-np.inf,
        random_state=seed,
        **kw,
    ).fit(X, lengths, inputs=U)
    h = np.array(fit.monitor_.history)
    assert np.all(np.diff(h) >= -1e-8 * np.abs(h[1:]))


def test_fit_recovers_a_switching_var():
    truth = fasthmm.ARHMM(2, order=1, covariance_type="diag", init_params="")
    set_params(
        truth,
        {
            "startprob_": np.array([0.5, 0.5]),
            "transmat_": np.array([[0.95, 0.05], [0.05, 0.95]]),
            "coef_": np.array([[[0.9, 0.0], [0.0, 0.5]], [[-0.5, 0.2], [0.0, -0.8]]]),
            "intercept_": np.array([[0.0, 1.0], [2.0, -1.0]]),
            "covars_": np.array([[0.1, 0.1], [0.1, 0.1]]),
        },
    )
    X, states = truth.sample(3000, random_state=2)
    fit = fasthmm.ARHMM(2, order=1, covariance_type="diag", n_iter=100, random_state=0)
    fit.fit(X)
    order = np.argsort(fit.intercept_[:, 0])
    np.testing.assert_allclose(fit.coef_[order], truth.coef_, atol=0.06)
    assert fit.score(X) >= truth.score(X)


def test_sample_continues_the_autoregression():
    rng = np.random.default_rng(3)
    m = model(rng, k=2, order=2, cov="diag")
    m.covars_ = np.full((2, 2), 1e-12)  # draws equal their conditional means
    initial = rng.standard_normal((2, 2))
    U = rng.standard_normal((20, 1))
    X, states = m.sample(20, random_state=0, inputs=U, initial=initial)
    hist = list(initial)
    for t, s in enumerate(states):
        x = m.coef_[s] @ np.concatenate([hist[-1], hist[-2], U[t]]) + m.intercept_[s]
        np.testing.assert_allclose(X[t], x, atol=1e-5)
        hist.append(X[t])


def test_default_initial_rows_are_the_first_states_fixed_point():
    m = fasthmm.ARHMM(1, order=1, covariance_type="spherical", init_params="")
    set_params(
        m,
        {
            "startprob_": np.array([1.0]),
            "transmat_": np.array([[1.0]]),
            "coef_": np.array([[[0.5]]]),
            "intercept_": np.array([[2.0]]),
            "covars_": np.array([1e-12]),
        },
    )
    X, _ = m.sample(5, random_state=0)
    np.testing.assert_allclose(X[:, 0], 4.0, atol=1e-5)  # 2 / (1 - 0.5)


@pytest.mark.parametrize("order,n_inputs", [(1, 0), (2, 1), (3, 0)])
def test_forecast_equals_enumeration_over_future_paths(order, n_inputs):
    rng = np.random.default_rng(order)
    m = model(rng, k=2, order=order, n_inputs=n_inputs, cov="diag")
    lengths = [9, 2]
    X, U = data(rng, lengths, n_inputs=n_inputs)
    U = U if n_inputs else None
    steps = 4
    F = rng.standard_normal((2, steps, n_inputs)) if n_inputs else None
    got = m.forecast(X, lengths, steps, inputs=U, future_inputs=F)
    filtered = m.filter_proba(X, lengths, inputs=U)
    for s, (a, b) in enumerate(((0, 9), (9, 11))):
        want = enumerated_forecast(
            m, filtered[b - 1], X[a:b], None if F is None else F[s], steps
        )
        np.testing.assert_allclose(got[s], want, atol=1e-10)


def test_forecast_agrees_with_monte_carlo_draws():
    rng = np.random.default_rng(11)
    m = model(rng, k=2, order=2, n_inputs=0, cov="full")
    X, _ = m.sample(30, random_state=1)
    params, Xd, starts, chain = m._state_forecast(X, None, 3, None)
    draws = m._forecast_draws(
        params, Xd, starts, chain, 20000, np.random.default_rng(0), None
    )
    mean = draws.mean(axis=1)[0]
    se = draws.std(axis=1)[0] / np.sqrt(20000)
    assert np.all(np.abs(mean - m.forecast(X, steps=3)[0]) < 5 * se)


def test_forecast_needs_the_future_inputs():
    rng = np.random.default_rng(0)
    m = model(rng, n_inputs=1)
    X, U = data(rng, [10])
    with pytest.raises(ValueError, match="future_inputs is required"):
        m.forecast(X, inputs=U, steps=2)
    with pytest.raises(ValueError, match="future_inputs"):
        m.forecast(X, inputs=U, steps=2, future_inputs=np.zeros((3, 1)))


def test_save_load_scores_identically():
    rng = np.random.default_rng(5)
    m = model(rng, order=2, cov="tied")
    X, U = data(rng, [15, 10])
    buf = io.BytesIO()
    m.save(buf)
    buf.seek(0)
    loaded = fasthmm.load(buf)
    assert type(loaded) is fasthmm.ARHMM and loaded.order == 2
    assert loaded.score(X, [15, 10], inputs=U) == m.score(X, [15, 10], inputs=U)


def test_bad_input_names_the_argument():
    rng = np.random.default_rng(6)
    m = model(rng, n_inputs=1)
    X, U = data(rng, [10])
    with pytest.raises(ValueError, match="inputs must have 1 columns"):
        m.score(X)  # fitted with one input: missing
    with pytest.raises(ValueError, match="inputs"):
        m.score(X, inputs=U[:9])  # misaligned
    with pytest.raises(ValueError, match="inputs must have 1 columns"):
        m.score(X, inputs=np.hstack([U, U]))
    with pytest.raises(ValueError, match="initial must have order"):
        m.sample(5, inputs=U[:5], initial=np.zeros((3, 2)))
    with pytest.raises(ValueError, match="order"):
        fasthmm.ARHMM(2, order=0).fit(X)
    with pytest.raises(TypeError, match="order"):
        fasthmm.ARHMM(2, order=1.5).fit(X)


def test_failed_fit_leaves_the_model_as_it_was():
    rng = np.random.default_rng(9)
    m = model(rng, n_inputs=1)
    before = m.coef_.copy()
    X, U = data(rng, [10])
    with pytest.raises(ValueError):
        m.fit(X, inputs=np.full_like(U, np.nan))
    np.testing.assert_array_equal(m.coef_, before)
