"""EM (Baum-Welch) of CategoricalHMM and GaussianHMM.

* Every frozen-parameter subset, with every prior switched on, keeps the
  frozen parameters and learns the others, the objective never decreasing
  (the property over random models, data, priors, subsets and labels, for
  every family, is ``test_contracts.test_em_objective_never_decreases``).
* Without priors the recorded objective is the log-likelihood of the
  parameters the E-step used, computed independently.
* Sample-then-fit recovers known parameters from long sequences, up to a
  permutation of the states.
"""

import itertools

import numpy as np
import pytest
from models_helpers import (
    COVARIANCE_TYPES,
    assert_close,
    categorical_model,
    gaussian_model,
    model_loglik,
)
from reference import (
    batch_forward_backward,
    full_covars,
    random_stochastic,
)

import fasthmm


def assert_non_decreasing(history, rel=1e-8):
    """Each value is at least the previous one minus ``rel`` relative."""
    h = np.asarray(history)
    assert np.all(np.isfinite(h)), history
    drops = h[1:] - h[:-1]
    allowed = -rel * np.maximum(np.abs(h[:-1]), 1.0)
    assert np.all(drops >= allowed), f"EM objective decreased: {history}"


def assert_finite_params(model):
    for name in model._param_names():
        value = getattr(model, name)
        assert np.all(np.isfinite(value)), f"{name} is not finite: {value}"


@pytest.mark.parametrize(
    "cov,params",
    [
        (cov, params)
        for cov in COVARIANCE_TYPES
        for params in ("stmc", "st", "mc", "sm", "c", "tc", "m")
    ],
)
def test_gaussian_em_frozen_subsets_with_priors(cov, params):
    """Every frozen subset, with all priors switched on, on sampled data."""
    rng = np.random.default_rng(
        [COVARIANCE_TYPES.index(cov), len(params), ord(params[0])]
    )
    k, d = 3, 2
    gen = gaussian_model(rng, k, d, cov, spread=3.0)
    X, _ = gen.sample(300, random_state=1)
    model = gaussian_model(
        rng,
        k,
        d,
        cov,
        startprob_prior=1.0 + rng.random(k),
        transmat_prior=2.5,
        means_prior=rng.standard_normal((k, d)),
        means_weight=0.7,
        covars_prior=0.3,
        covars_weight=d + 2.5,
        params=params,
        n_iter=15,
        tol=0.0,
    )
    frozen = {n: getattr(model, n).copy() for n in model._param_names()}
    model.fit(X, [100, 150, 50])
    assert len(model.monitor_.history) >= 2
    assert_non_decreasing(model.monitor_.history)
    assert_finite_params(model)
    letters = dict(s="startprob_", t="transmat_", m="means_", c="covars_")
    for letter, name in letters.items():
        if letter not in params:
            np.testing.assert_array_equal(getattr(model, name), frozen[name])
        else:
            assert not np.array_equal(getattr(model, name), frozen[name]), name


@pytest.mark.parametrize("params", ["ste", "st", "e", "se", "t", ""])
def test_categorical_em_frozen_subsets_with_priors(params):
    rng = np.random.default_rng(len(params) + 17 * ("e" in params))
    k, m = 3, 4
    X, _ = categorical_model(rng, k, m).sample(200, random_state=2)
    model = categorical_model(
        rng,
        k,
        m,
        startprob_prior=2.0,
        transmat_prior=1.0 + rng.random((k, k)),
        emissionprob_prior=1.5,
        params=params,
        n_iter=12,
        tol=0.0,
    )
    frozen = {n: getattr(model, n).copy() for n in model._param_names()}
    model.fit(X, [60, 140])
    assert_non_decreasing(model.monitor_.history)
    for letter, name in dict(s="startprob_", t="transmat_", e="emissionprob_").items():
        if letter not in params:
            np.testing.assert_array_equal(getattr(model, name), frozen[name])
    if not params:  # nothing to learn: the objective is constant
        assert_close(np.diff(model.monitor_.history), 0.0, rtol=0, atol=1e-9)


@pytest.mark.parametrize("kind", ["categorical", *COVARIANCE_TYPES])
def test_history_is_the_log_likelihood_without_priors(kind):
    """With every prior switched off, history[i] is the independent
    log-likelihood of the parameters after i M-steps; a run of n_iter steps
    equals n runs of one step each."""
    rng = np.random.default_rng(3)
    lengths = [30, 1, 50]
    if kind == "categorical":
        X, _ = categorical_model(rng, 2, 3).sample(81, random_state=5)

        def make(n_iter):
            return categorical_model(
                np.random.default_rng(8), 2, 3, n_iter=n_iter, tol=0.0
            )
    else:
        X, _ = gaussian_model(rng, 2, 2, "full", spread=2.0).sample(81, random_state=5)

        def make(n_iter):
            return gaussian_model(
                np.random.default_rng(8),
                2,
                2,
                kind,
                covars_prior=0.0,
                covars_weight=0.0,
                n_iter=n_iter,
                tol=0.0,
            )

    full = make(6).fit(X, lengths)
    stepper = make(1)
    for i in range(6):
        le = model_loglik(stepper, X)
        ll, _ = batch_forward_backward(
            le, stepper.startprob_, stepper.transmat_, lengths
        )
        stepper.fit(X, lengths)
        assert stepper.monitor_.history == [pytest.approx(ll, rel=1e-10)]
        assert full.monitor_.history[i] == pytest.approx(ll, rel=1e-10)
    for name in full._param_names():
        assert_close(getattr(stepper, name), getattr(full, name), rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------------------
# recovery of known parameters
def _best_permutation(true_means, fitted_means):
    """The state permutation (fitted index for each true state) matching means."""
    k = true_means.shape[0]
    return min(
        itertools.permutations(range(k)),
        key=lambda p: np.sum((fitted_means[list(p)] - true_means) ** 2),
    )


@pytest.mark.parametrize("cov", COVARIANCE_TYPES)
def test_gaussian_fit_recovers_parameters(cov):
    rng = np.random.default_rng(100)
    k, d = 3, 2
    truth = fasthmm.GaussianHMM(k, covariance_type=cov)
    truth.startprob_ = np.array([0.6, 0.3, 0.1])
    truth.transmat_ = np.array([[0.9, 0.05, 0.05], [0.1, 0.8, 0.1], [0.05, 0.15, 0.8]])
    truth.means_ = np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]])
    truth.covars_ = {
        "spherical": np.array([1.0, 0.5, 1.5]),
        "diag": np.array([[1.0, 0.5], [0.5, 1.0], [1.5, 0.7]]),
        "full": np.array(
            [
                [[1.0, 0.3], [0.3, 0.8]],
                [[0.6, -0.2], [-0.2, 1.2]],
                [[1.5, 0.0], [0.0, 0.5]],
            ]
        ),
        "tied": np.array([[1.0, 0.4], [0.4, 0.9]]),
    }[cov]
    lengths = [5000] * 4
    X, _ = truth.sample(sum(lengths), random_state=rng)
    model = fasthmm.GaussianHMM(
        k, covariance_type=cov, n_iter=200, tol=1e-4, random_state=0
    )
    model.fit(X, lengths)
    assert model.monitor_.converged
    assert_non_decreasing(model.monitor_.history)
    p = list(_best_permutation(truth.means_, model.means_))
    assert_close(model.means_[p], truth.means_, rtol=0, atol=0.06, what="means_")
    assert_close(
        model.transmat_[np.ix_(p, p)],
        truth.transmat_,
        rtol=0,
        atol=0.02,
        what="transmat_",
    )
    fitted = full_covars(model.covars_, cov, k, d)
    if cov != "tied":
        fitted = fitted[p]
    assert_close(
        fitted,
        full_covars(truth.covars_, cov, k, d),
        rtol=0.08,
        atol=0.04,
        what="covars_",
    )
    # startprob_ from 4 sequences only: it must at least be a distribution.
    assert_close(model.startprob_.sum(), 1.0, rtol=0, atol=1e-12)


def test_categorical_fit_recovers_parameters():
    k, m = 2, 4
    truth = fasthmm.CategoricalHMM(k, n_features=m)
    truth.startprob_ = np.array([0.5, 0.5])
    truth.transmat_ = np.array([[0.9, 0.1], [0.2, 0.8]])
    truth.emissionprob_ = np.array([[0.6, 0.3, 0.05, 0.05], [0.05, 0.1, 0.35, 0.5]])
    X, _ = truth.sample(20000, random_state=7)
    # EM on categorical data has local optima: keep the best of a few starts.
    fits = []
    for seed in range(2):
        model = fasthmm.CategoricalHMM(k, n_iter=200, tol=1e-5, random_state=seed)
        model.init_params = "e"  # uniform start/transitions, random emissions
        model.startprob_ = np.full(k, 1.0 / k)
        model.transmat_ = random_stochastic(np.random.default_rng(seed), (k, k))
        model.fit(X)
        assert_non_decreasing(model.monitor_.history)
        fits.append(model)
    model = max(fits, key=lambda f: f.score(X))
    p = list(_best_permutation(truth.emissionprob_, model.emissionprob_))
    assert_close(
        model.emissionprob_[p],
        truth.emissionprob_,
        rtol=0,
        atol=0.03,
        what="emissionprob_",
    )
    assert_close(
        model.transmat_[np.ix_(p, p)],
        truth.transmat_,
        rtol=0,
        atol=0.03,
        what="transmat_",
    )


def test_negative_tol_runs_every_iteration():
    """A negative tol (accepted by hmmlearn) disables the convergence test."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 2))
    model = fasthmm.GaussianHMM(2, n_iter=7, tol=-np.inf, random_state=0).fit(X)
    assert model.monitor_.iter == 7
    assert not model.monitor_.converged
