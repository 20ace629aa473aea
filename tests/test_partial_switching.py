"""Regressions with some coefficients shared by the states
(``switching_coef`` / ``switching_intercept`` of RegressionHMM and ARHMM)
against plain NumPy: the coefficient step is the generalised least squares
of the design stacked over the states, solved here by ``np.linalg.lstsq``
on whitened rows built one by one; EM never decreases its objective; shared
values stay shared; save/load, the free-parameter count and bad input."""

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import full_covars
from switching_reference import random_params, set_params

import fasthmm

COVARIANCE_TYPES = ("full", "diag", "spherical", "tied")


def shared_params(rng, k, d, p, cov, switching):
    """Random parameters whose non-switching columns (``switching`` over
    coef_'s columns, then the intercept) are equal in every state."""
    params = random_params(rng, k, d, p, cov, scale=1.0)
    W = np.concatenate([params["coef_"], params["intercept_"][:, :, None]], axis=2)
    W[:, :, ~switching] = W[:1, :, ~switching]
    params["coef_"], params["intercept_"] = W[:, :, :p], W[:, :, p]
    return params


def model(rng, k, d, p, cov, switching, **kwargs):
    m = fasthmm.RegressionHMM(
        k,
        covariance_type=cov,
        switching_coef=switching[:p],
        switching_intercept=bool(switching[p]),
        init_params="",
        **kwargs,
    )
    return set_params(m, shared_params(rng, k, d, p, cov, switching))


def stacked_least_squares(X, Z, weights, covars, switching, ridge=0.0):
    """Weights (K, d, q) of the stacked design, by ``np.linalg.lstsq``.

    Unknowns: vec of [shared columns, state 0's switching columns, state
    1's, ...] (each column d entries). Row block (t, k): ``sqrt(w_tk)
    L_k^{-1} (x_t - W_k z_t)``, ``L_k`` the Cholesky factor of state k's
    covariance; the ridge adds ``sqrt(ridge) L_k^{-1} W_k[:, j]`` for every
    state k and every column j but the last (the intercept)."""
    n, d = X.shape
    k, q = weights.shape[1], Z.shape[1]
    shared, own = np.flatnonzero(~switching), np.flatnonzero(switching)
    n_blocks = shared.size + k * own.size

    def block(s, j):
        if not switching[j]:
            return int(np.flatnonzero(shared == j)[0])
        return shared.size + s * own.size + int(np.flatnonzero(own == j)[0])

    def placed(s, z):  # (d, d * n_blocks): x = this @ theta gives W_s z
        out = np.zeros((d, d * n_blocks))
        for j in range(q):
            b = block(s, j)
            out[:, b * d : (b + 1) * d] += z[j] * np.eye(d)
        return out

    rows, rhs = [], []
    for s in range(k):
        inv = np.linalg.inv(np.linalg.cholesky(covars[s]))
        for t in range(n):
            w = np.sqrt(weights[t, s])
            rows.append(w * inv @ placed(s, Z[t]))
            rhs.append(w * inv @ X[t])
        for j in range(q - 1):
            rows.append(np.sqrt(ridge) * inv @ placed(s, np.eye(q)[j]))
            rhs.append(np.zeros(d))
    theta = np.linalg.lstsq(np.vstack(rows), np.concatenate(rhs), rcond=None)[0]
    return np.array(
        [
            np.column_stack(
                [theta[block(s, j) * d : (block(s, j) + 1) * d] for j in range(q)]
            )
            for s in range(k)
        ]
    )


def coefficient_step(m, rng, n):
    """The coefficients of one M-step of ``m`` on random data and random
    posterior weights: (new parameters, X, regressors with the 1, weights)."""
    k, d, p = m.coef_.shape
    X, U = rng.standard_normal((n, d)), rng.standard_normal((n, p))
    weights = rng.dirichlet(np.ones(k), size=n)
    params, Xd, _ = m._checked_batch(X, None, U)
    em = params.emission
    new = em.m_step(em.suff_stats(Xd, weights), "m")
    return new, X, np.hstack([U, np.ones((n, 1))]), weights


MASKS = [
    np.array([False, False, True]),  # slopes shared, intercept switching
    np.array([True, False, False]),  # one slope switching, intercept shared
    np.array([False, False, False]),  # only the covariance switches
]


@pytest.mark.parametrize("cov", COVARIANCE_TYPES)
@pytest.mark.parametrize("mask", range(len(MASKS)))
@pytest.mark.parametrize("ridge", [0.0, 0.8])
def test_coefficient_step_is_the_stacked_least_squares(cov, mask, ridge):
    switching = MASKS[mask]
    rng = np.random.default_rng(mask)
    k, d, p, n = 3, 2, 2, 40
    m = model(rng, k, d, p, cov, switching, coef_weight=ridge)
    new, X, Z, weights = coefficient_step(m, rng, n)
    want = stacked_least_squares(
        X, Z, weights, full_covars(m.covars_, cov, k, d), switching, ridge
    )
    np.testing.assert_allclose(new["coef_"], want[:, :, :p], atol=1e-9)
    np.testing.assert_allclose(new["intercept_"], want[:, :, p], atol=1e-9)


def test_tied_step_does_not_depend_on_the_covariance():
    """One covariance for all states: the joint step is exact (the same
    solution in any metric), here the identity's."""
    rng = np.random.default_rng(10)
    k, d, p, n = 2, 2, 2, 50
    switching = MASKS[0]
    m = model(rng, k, d, p, "tied", switching)
    new, X, Z, weights = coefficient_step(m, rng, n)
    want = stacked_least_squares(
        X, Z, weights, np.broadcast_to(np.eye(d), (k, d, d)), switching
    )
    np.testing.assert_allclose(new["coef_"], want[:, :, :p], atol=1e-9)


def test_empty_state_keeps_its_switching_coefficients():
    rng = np.random.default_rng(11)
    k, d, p, n = 3, 1, 2, 30
    switching = MASKS[0]
    m = model(rng, k, d, p, "full", switching)
    X, U = rng.standard_normal((n, d)), rng.standard_normal((n, p))
    weights = np.zeros((n, k))
    weights[:, :2] = rng.dirichlet(np.ones(2), size=n)
    params, Xd, _ = m._checked_batch(X, None, U)
    em = params.emission
    new = em.m_step(em.suff_stats(Xd, weights), "m")
    assert new["intercept_"][2] == m.intercept_[2]
    Z = np.hstack([U, np.ones((n, 1))])
    want = stacked_least_squares(
        X, Z, weights[:, :2], full_covars(m.covars_, "full", k, d)[:2], switching
    )
    np.testing.assert_allclose(new["coef_"][:2], want[:, :, :p], atol=1e-9)
    np.testing.assert_allclose(new["coef_"][2], new["coef_"][0], atol=0)


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    cov=st.sampled_from(COVARIANCE_TYPES),
    k=st.integers(2, 3),
    d=st.integers(1, 2),
    mask=st.lists(st.booleans(), min_size=3, max_size=3),
    prior=st.booleans(),
    hand_set=st.booleans(),
)
def test_em_objective_never_decreases(seed, cov, k, d, mask, prior, hand_set):
    rng = np.random.default_rng(seed)
    switching = np.array(mask)
    truth = model(rng, k, d, 2, cov, switching)
    U = rng.standard_normal((90, 2))
    X, _ = truth.sample(90, random_state=rng, inputs=U)
    kw = (
        {"coef_weight": 0.7, "covars_prior": 0.3, "covars_weight": 3.0} if prior else {}
    )
    if hand_set:
        fit = model(rng, k, d, 2, cov, switching, **kw)
    else:
        fit = fasthmm.RegressionHMM(
            k,
            covariance_type=cov,
            switching_coef=switching[:2],
            switching_intercept=bool(switching[2]),
            random_state=seed,
            **kw,
        )
    fit.set_params(n_iter=10, tol=-np.inf).fit(X, [60, 30], inputs=U)
    h = np.array(fit.monitor_.history)
    assert np.all(np.diff(h) >= -1e-8 * np.abs(h[1:]))
    W = np.concatenate([fit.coef_, fit.intercept_[:, :, None]], axis=2)
    shared = W[:, :, ~switching]
    np.testing.assert_array_equal(shared, np.broadcast_to(shared[:1], shared.shape))


def test_arhmm_shares_its_lag_coefficients():
    """ARHMM with ``switching_coef=False``: one autoregression, switching
    intercepts (a switching-mean VAR in intercept form)."""
    rng = np.random.default_rng(12)
    truth = fasthmm.ARHMM(2, order=2, covariance_type="diag", init_params="")
    A = np.array([[0.5, 0.1], [0.0, 0.3]])
    set_params(
        truth,
        {
            "startprob_": np.array([0.5, 0.5]),
            "transmat_": np.array([[0.95, 0.05], [0.1, 0.9]]),
            "coef_": np.stack([np.hstack([A, 0.2 * np.eye(2)])] * 2),
            "intercept_": np.array([[0.0, 0.0], [3.0, -2.0]]),
            "covars_": np.full((2, 2), 0.3),
        },
    )
    X, _ = truth.sample(400, random_state=rng)
    fit = fasthmm.ARHMM(
        2,
        order=2,
        covariance_type="diag",
        switching_coef=False,
        n_iter=100,
        random_state=0,
    ).fit(X)
    np.testing.assert_array_equal(fit.coef_[0], fit.coef_[1])
    np.testing.assert_allclose(fit.coef_[0], truth.coef_[0], atol=0.15)
    order = np.argsort(fit.intercept_[:, 0])
    np.testing.assert_allclose(fit.intercept_[order], truth.intercept_, atol=0.4)


def test_free_parameters_count_shared_columns_once():
    rng = np.random.default_rng(13)
    k, d, p, n = 3, 2, 2, 60
    X, U = rng.standard_normal((n, d)), rng.standard_normal((n, p))
    full = model(rng, k, d, p, "diag", np.ones(3, bool))
    part = model(rng, k, d, p, "diag", MASKS[1])
    part.set_params(init_params="")
    for name in ("startprob_", "transmat_", "coef_", "intercept_", "covars_"):
        setattr(full, name, getattr(part, name))
    # a shared column has d free entries instead of k * d
    n_fewer = 2 * d * (k - 1)
    difference = full.aic(X, inputs=U) - part.aic(X, inputs=U)
    assert difference == pytest.approx(2 * n_fewer)


def test_save_load_keeps_the_sharing():
    rng = np.random.default_rng(14)
    m = model(rng, 2, 1, 2, "full", MASKS[1])
    X, U = rng.standard_normal((30, 1)), rng.standard_normal((30, 2))
    buf = io.BytesIO()
    m.save(buf)
    buf.seek(0)
    loaded = fasthmm.load(buf)
    np.testing.assert_array_equal(loaded.switching_coef, m.switching_coef)
    assert loaded.switching_intercept is False
    assert loaded.score(X, inputs=U) == m.score(X, inputs=U)
    loaded.set_params(n_iter=2).fit(X, inputs=U)  # still shares
    assert loaded.intercept_[0, 0] == loaded.intercept_[1, 0]


def test_bad_switching_options_name_the_argument():
    rng = np.random.default_rng(15)
    X, U = rng.standard_normal((30, 1)), rng.standard_normal((30, 2))
    with pytest.raises(TypeError, match="switching_coef"):
        fasthmm.RegressionHMM(2, switching_coef=[1, 0]).fit(X, inputs=U)
    with pytest.raises(TypeError, match="switching_coef"):
        fasthmm.RegressionHMM(2, switching_coef="no").fit(X, inputs=U)
    with pytest.raises(TypeError, match="switching_intercept"):
        fasthmm.RegressionHMM(2, switching_intercept=0).fit(X, inputs=U)
    with pytest.raises(ValueError, match="switching_coef must be .* one boolean"):
        fasthmm.RegressionHMM(2, switching_coef=np.array([True])).fit(X, inputs=U)
    m = model(rng, 2, 1, 2, "tied", MASKS[0])
    m.coef_ = m.coef_ + np.array([0.0, 1.0])[:, None, None]
    with pytest.raises(ValueError, match="coef_ must be the same in every state"):
        m.score(X, inputs=U)
    m = model(rng, 2, 1, 2, "tied", MASKS[1])
    m.intercept_ = np.array([[0.0], [1.0]])
    before = m.coef_.copy()
    with pytest.raises(ValueError, match="intercept_ must be the same"):
        m.fit(X, inputs=U)
    np.testing.assert_array_equal(m.coef_, before)


def test_fully_labelled_fit_reaches_the_joint_maximum():
    """Known states, shared slopes, a covariance per state: the fit iterates
    the conditional steps to their fixed point, where the coefficients are
    the stacked least squares in the fitted covariances and the covariances
    the residual scatter of the fitted coefficients."""
    rng = np.random.default_rng(16)
    k, d, p, n = 2, 1, 2, 200
    X, U = rng.standard_normal((n, d)), rng.standard_normal((n, p))
    labels = rng.integers(0, k, n)
    X[labels == 1] *= 4.0  # very different variances: the weighting matters
    fit = fasthmm.RegressionHMM(
        k,
        covariance_type="full",
        switching_coef=False,
        covars_prior=0.0,
        min_covar=1e-10,
        n_iter=500,
        tol=1e-12,
    ).fit(X, inputs=U, states=labels)
    Z = np.hstack([U, np.ones((n, 1))])
    onehot = np.eye(k)[labels]
    want = stacked_least_squares(
        X, Z, onehot, fit.covars_, np.array([False, False, True])
    )
    np.testing.assert_allclose(fit.coef_, want[:, :, :p], atol=1e-7)
    resid = X[:, 0] - np.einsum("tq,tq->t", Z, want[labels, 0])
    for s in range(k):
        variance = np.mean(resid[labels == s] ** 2)
        assert fit.covars_[s, 0, 0] == pytest.approx(variance, rel=1e-7)
