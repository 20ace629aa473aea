"""RegressionHMM (switching regression on inputs) against plain-NumPy
references: log-emissions from the public parameters, brute force over
state paths with inputs, the weighted least-squares M-step, monotone EM,
lists of sequences, sampling given the inputs, forecasts given future
inputs, save/load and bad input."""

import io

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import brute_force
from switching_reference import log_emissions, random_params, set_params

import fasthmm
from fasthmm._threads import use_threads

COVARIANCE_TYPES = ("full", "diag", "spherical", "tied")


def model(rng, k=2, d=2, n_inputs=2, cov="full", **kwargs):
    m = fasthmm.RegressionHMM(k, covariance_type=cov, init_params="", **kwargs)
    return set_params(m, random_params(rng, k, d, n_inputs, cov, scale=1.0))


def data(rng, n, d=2, n_inputs=2):
    return rng.standard_normal((n, d)), rng.standard_normal((n, n_inputs))


@pytest.mark.parametrize("cov", COVARIANCE_TYPES)
def test_log_emissions_equal_the_numpy_reference(cov):
    rng = np.random.default_rng(0)
    m = model(rng, k=3, cov=cov)
    X, U = data(rng, 25)
    np.testing.assert_allclose(
        m.log_emissions(X, inputs=U),
        log_emissions(m, X, None, U),
        rtol=1e-10,
        atol=1e-10,
    )


@pytest.mark.parametrize("cov", COVARIANCE_TYPES)
def test_inference_with_inputs_equals_brute_force(cov):
    rng = np.random.default_rng(1)
    m = model(rng, k=3, cov=cov, n_inputs=1)
    lengths = [5, 4]
    X, U = data(rng, 9, n_inputs=1)
    le = log_emissions(m, X, lengths, U)
    exact = [
        brute_force(le[a:b], m.startprob_, m.transmat_) for a, b in ((0, 5), (5, 9))
    ]
    assert m.score(X, lengths, inputs=U) == pytest.approx(
        sum(e["ll"] for e in exact), abs=1e-10
    )
    np.testing.assert_allclose(
        m.predict_proba(X, lengths, inputs=U),
        np.vstack([e["posteriors"] for e in exact]),
        atol=1e-10,
    )
    logprob, _ = m.decode(X, lengths, inputs=U)
    assert logprob == pytest.approx(sum(e["best"] for e in exact), abs=1e-9)


def test_lists_of_sequences_take_lists_of_inputs():
    rng = np.random.default_rng(2)
    m = model(rng)
    X, U = data(rng, 30)
    whole = m.score(X, [12, 18], inputs=U)
    assert m.score([X[:12], X[12:]], inputs=[U[:12], U[12:]]) == pytest.approx(whole)


@pytest.mark.parametrize("cov", COVARIANCE_TYPES)
def test_m_step_is_weighted_least_squares(cov):
    rng = np.random.default_rng(3)
    m = model(rng, cov=cov, covars_prior=0.0, min_covar=0.0)
    X, U = data(rng, 60)
    params, Xd, _ = m._checked_batch(X, None, U)
    weights = rng.dirichlet(np.ones(2), size=60)
    em = params.emission
    new = em.m_step(em.suff_stats(Xd, weights), "mc")
    Z = np.hstack([U, np.ones((60, 1))])
    scatters, masses = [], []
    for s in range(2):
        sw = np.sqrt(weights[:, s])[:, None]
        beta = np.linalg.lstsq(Z * sw, X * sw, rcond=None)[0].T
        np.testing.assert_allclose(new["coef_"][s], beta[:, :2], atol=1e-10)
        np.testing.assert_allclose(new["intercept_"][s], beta[:, 2], atol=1e-10)
        res = X - Z @ beta.T
        scatters.append((weights[:, s, None] * res).T @ res)
        masses.append(weights[:, s].sum())
    scatters, masses = np.array(scatters), np.array(masses)
    want = {
        "full": scatters / masses[:, None, None],
        "diag": np.diagonal(scatters, axis1=1, axis2=2) / masses[:, None],
        "spherical": np.trace(scatters, axis1=1, axis2=2) / masses / 2,
        "tied": scatters.sum(0) / masses.sum(),
    }[cov]
    np.testing.assert_allclose(new["covars_"], want, rtol=1e-9)


def test_no_intercept_keeps_it_fixed():
    rng = np.random.default_rng(4)
    m = model(rng, fit_intercept=False, n_iter=5)
    m.intercept_ = np.zeros((2, 2))
    X, U = data(rng, 50)
    m.fit(X, inputs=U)
    assert np.all(m.intercept_ == 0.0)
    # the M-step's slopes are the regression through the origin
    params, Xd, _ = m._checked_batch(X, None, U)
    new = params.emission.m_step(params.emission.suff_stats(Xd, np.ones((50, 2))), "m")
    np.testing.assert_allclose(
        new["coef_"][0], np.linalg.lstsq(U, X, rcond=None)[0].T, atol=1e-10
    )


@settings(max_examples=15)
@given(
    seed=st.integers(0, 2**31 - 1),
    cov=st.sampled_from(COVARIANCE_TYPES),
    prior=st.booleans(),
    hand_set=st.booleans(),
)
def test_em_objective_never_decreases(seed, cov, prior, hand_set):
    rng = np.random.default_rng(seed)
    truth = model(rng, cov=cov)
    U = rng.standard_normal((80, 2))
    X, _ = truth.sample(80, random_state=rng, inputs=U)
    kw = (
        {"coef_weight": 0.7, "covars_prior": 0.3, "covars_weight": 3.0} if prior else {}
    )
    fit = (
        model(rng, cov=cov, **kw)
        if hand_set
        else fasthmm.RegressionHMM(2, covariance_type=cov, random_state=seed, **kw)
    )
    fit.set_params(n_iter=8, tol=-np.inf).fit(X, [50, 30], inputs=U)
    h = np.array(fit.monitor_.history)
    assert np.all(np.diff(h) >= -1e-8 * np.abs(h[1:]))


def test_fit_recovers_switching_coefficients():
    truth = fasthmm.RegressionHMM(2, covariance_type="diag", init_params="")
    set_params(
        truth,
        {
            "startprob_": np.array([0.5, 0.5]),
            "transmat_": np.array([[0.95, 0.05], [0.1, 0.9]]),
            "coef_": np.array([[[1.0, -2.0]], [[-1.0, 0.5]]]),
            "intercept_": np.array([[0.0], [4.0]]),
            "covars_": np.array([[0.2], [0.2]]),
        },
    )
    U = np.random.default_rng(0).standard_normal((2000, 2))
    X, _ = truth.sample(2000, random_state=1, inputs=U)
    fit = fasthmm.RegressionHMM(2, covariance_type="diag", n_iter=100, random_state=0)
    fit.fit(X, inputs=U)
    order = np.argsort(fit.intercept_[:, 0])
    np.testing.assert_allclose(fit.coef_[order], truth.coef_, atol=0.05)


def test_sample_draws_around_the_regression_means():
    rng = np.random.default_rng(5)
    m = model(rng, cov="spherical")
    m.covars_ = np.full(2, 1e-12)
    U = rng.standard_normal((30, 2))
    X, states = m.sample(30, random_state=0, inputs=U)
    means = np.einsum("tdp,tp->td", m.coef_[states], U) + m.intercept_[states]
    np.testing.assert_allclose(X, means, atol=1e-5)


def test_forecast_is_the_mixture_of_regressions_at_the_future_inputs():
    rng = np.random.default_rng(6)
    m = model(rng)
    X, U = data(rng, 20)
    F = rng.standard_normal((3, 2))
    proba = m.forecast_proba(X, inputs=U, steps=3)[0]
    means = np.einsum("kdp,hp->hkd", m.coef_, F) + m.intercept_[None]
    np.testing.assert_allclose(
        m.forecast(X, inputs=U, steps=3, future_inputs=F)[0],
        np.einsum("hk,hkd->hd", proba, means),
        atol=1e-12,
    )


def test_save_load_scores_identically():
    rng = np.random.default_rng(7)
    m = model(rng, cov="diag")
    X, U = data(rng, 20)
    buf = io.BytesIO()
    m.save(buf)
    buf.seek(0)
    loaded = fasthmm.load(buf)
    assert type(loaded) is fasthmm.RegressionHMM and loaded.n_inputs == 2
    assert loaded.score(X, inputs=U) == m.score(X, inputs=U)


def test_bad_input_names_the_argument():
    rng = np.random.default_rng(8)
    m = model(rng)
    X, U = data(rng, 20)
    with pytest.raises(ValueError, match="inputs must have 2 columns"):
        m.score(X)  # missing
    with pytest.raises(ValueError, match="inputs"):
        m.predict(X, inputs=U[:-1])  # misaligned
    with pytest.raises(ValueError, match="inputs"):
        m.score(X, inputs=np.where(U > 1, np.nan, U))
    with pytest.raises(TypeError, match="inputs must be a list"):
        m.score([X[:10], X[10:]], inputs=U)
    with pytest.raises(ValueError, match="inputs must have 2 columns"):
        m.sample(5, inputs=U[:5, :1])
    with pytest.raises(ValueError, match="X must have n_features = 2"):
        m.score(X[:, :1], inputs=U)
    with pytest.raises(TypeError, match="fit_intercept"):
        fasthmm.RegressionHMM(2, fit_intercept="yes").fit(X, inputs=U)
    with pytest.raises(ValueError, match="coef_weight must be a scalar"):
        fasthmm.RegressionHMM(2, coef_weight=[1.0, 2.0]).fit(X, inputs=U)
    with pytest.raises(ValueError, match="coef_weight must be >= 0"):
        fasthmm.RegressionHMM(2, coef_weight=-1.0).fit(X, inputs=U)
    with pytest.raises(ValueError, match="coef_prior must be"):
        fasthmm.RegressionHMM(2, coef_prior=np.ones((3, 3, 3))).fit(X, inputs=U)
    before = m.coef_.copy()
    with pytest.raises(ValueError):
        m.fit(X, inputs=U[:-1])
    np.testing.assert_array_equal(m.coef_, before)


def test_fixed_nonzero_intercept_is_taken_off_the_observations():
    """fit_intercept=False with intercept_ set by hand: the slopes are the
    least squares of x - intercept on the inputs and EM never decreases (the
    M-step once regressed x itself, and the objective fell)."""
    rng = np.random.default_rng(9)
    U = rng.standard_normal((200, 1))
    X = 5.0 + 2.0 * U + 0.3 * rng.standard_normal((200, 1))
    m = fasthmm.RegressionHMM(
        1, covariance_type="diag", fit_intercept=False, init_params="", n_iter=5
    )
    set_params(
        m,
        {
            "startprob_": np.ones(1),
            "transmat_": np.ones((1, 1)),
            "coef_": np.array([[[1.0]]]),
            "intercept_": np.array([[5.0]]),
            "covars_": np.array([[1.0]]),
        },
    )
    m.set_params(tol=-np.inf).fit(X, inputs=U)
    h = np.array(m.monitor_.history)
    assert np.all(np.diff(h) >= -1e-8 * np.abs(h[1:]))
    slope = np.linalg.lstsq(U, X - 5.0, rcond=None)[0]
    np.testing.assert_allclose(m.coef_[0], slope.T, atol=1e-10)
    np.testing.assert_array_equal(m.intercept_, [[5.0]])


@pytest.mark.parametrize("cov", ["diag", "full"])
def test_log_emissions_do_not_depend_on_the_thread_count(cov):
    """Many blocks of rows, on one thread and on several (from Python): the
    same bits, and the NumPy reference's values."""
    default = numba.get_num_threads()
    if default < 2:
        pytest.skip("a single Numba thread available")
    rng = np.random.default_rng(5)
    m = model(rng, k=3, cov=cov)
    X, U = data(rng, 40_000)
    assert use_threads(X.shape[0], 3)
    outs = []
    for threads in (1, default):
        numba.set_num_threads(threads)
        try:
            outs.append(m.log_emissions(X, inputs=U))
        finally:
            numba.set_num_threads(default)
    np.testing.assert_array_equal(outs[0], outs[1])
    ref = log_emissions(m, X, None, U)
    np.testing.assert_allclose(outs[1], ref, rtol=1e-10, atol=1e-10)
