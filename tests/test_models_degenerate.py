"""Degenerate fits: states without posterior mass, constant features, unused
symbols, sequences of length 1, more states than samples."""

import copy

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
    categorical_loglik,
)

import fasthmm


def _assert_finite(model):
    for name in model._param_names():
        value = getattr(model, name)
        assert np.all(np.isfinite(value)), f"{name} is not finite: {value}"


def _assert_non_decreasing(history):
    h = np.asarray(history)
    assert np.all(h[1:] - h[:-1] >= -1e-8 * np.maximum(np.abs(h[:-1]), 1.0)), history


def _unreachable_third_state(model):
    """Make state 2 unreachable: zero start probability, and no other state
    moves to it (column 2 is zero but for its own self-transition)."""
    model.startprob_ = np.array([0.6, 0.4, 0.0])
    model.transmat_ = np.array([[0.7, 0.3, 0.0], [0.2, 0.8, 0.0], [0.3, 0.3, 0.4]])


@pytest.mark.parametrize("cov", COVARIANCE_TYPES)
@pytest.mark.parametrize("how", ["unreachable", "far away"])
def test_gaussian_state_without_mass_keeps_its_parameters(cov, how):
    rng = np.random.default_rng(COVARIANCE_TYPES.index(cov))
    k, d = 3, 2
    gen = gaussian_model(rng, 2, d, "diag", spread=2.0)
    X, _ = gen.sample(200, random_state=1)
    model = gaussian_model(rng, k, d, cov, n_iter=10, tol=0.0)
    if how == "unreachable":
        _unreachable_third_state(model)
    else:  # reachable, but its Gaussian is 1e4 standard deviations away
        model.means_[2] = 1e4
    old = {n: getattr(model, n).copy() for n in model._param_names()}
    assert model.predict_proba(X)[:, 2].max() < 1e-300
    model.fit(X, [50, 150])
    _assert_finite(model)
    _assert_non_decreasing(model.monitor_.history)
    np.testing.assert_array_equal(model.means_[2], old["means_"][2])
    if cov != "tied":  # a tied covariance is shared with the live states
        np.testing.assert_array_equal(model.covars_[2], old["covars_"][2])
    # The live states did learn.
    assert not np.allclose(model.means_[:2], old["means_"][:2])
    if how == "unreachable":
        # Structural zeros stay zero; the row of a state never left keeps its values.
        assert model.startprob_[2] == 0.0
        np.testing.assert_array_equal(model.transmat_[:2, 2], 0.0)
        np.testing.assert_array_equal(model.transmat_[2], old["transmat_"][2])
    assert np.isfinite(model.score(X, [50, 150]))


def test_categorical_state_without_mass_keeps_its_parameters():
    rng = np.random.default_rng(4)
    X, _ = categorical_model(rng, 2, 4).sample(150, random_state=2)
    model = categorical_model(rng, 3, 4, n_iter=10, tol=0.0)
    _unreachable_third_state(model)
    old = {n: getattr(model, n).copy() for n in model._param_names()}
    model.fit(X, [100, 50])
    _assert_finite(model)
    _assert_non_decreasing(model.monitor_.history)
    np.testing.assert_array_equal(model.emissionprob_[2], old["emissionprob_"][2])
    np.testing.assert_array_equal(model.transmat_[2], old["transmat_"][2])
    np.testing.assert_array_equal(model.transmat_[:2, 2], 0.0)
    assert model.startprob_[2] == 0.0
    assert not np.allclose(model.emissionprob_[:2], old["emissionprob_"][:2])


# ---------------------------------------------------------------------------
# constant features and the min_covar floor
def _min_variance(model):
    """Smallest variance (eigenvalue for full matrices) of a Gaussian model."""
    c = model.covars_
    if model.covariance_type in ("spherical", "diag"):
        return c.min()
    return np.linalg.eigvalsh(c).min()


@pytest.mark.parametrize("covars_prior", [0.0, 1e-2])
@pytest.mark.parametrize("cov", COVARIANCE_TYPES)
def test_constant_feature_keeps_variances_above_min_covar(cov, covars_prior):
    rng = np.random.default_rng(9)
    n = 120
    X = np.column_stack(
        [rng.standard_normal(n) + 4 * (np.arange(n) % 2), np.full(n, 3.0)]
    )
    if cov == "spherical":
        X = X[:, 1:]  # one variance per state: make the whole state constant
    model = fasthmm.GaussianHMM(
        2,
        covariance_type=cov,
        min_covar=1e-3,
        covars_prior=covars_prior,
        n_iter=10,
        random_state=0,
    )
    model.fit(X)
    _assert_finite(model)
    _assert_non_decreasing(model.monitor_.history)
    assert _min_variance(model) >= 1e-3 * (1 - 1e-9)
    if covars_prior == 0.0:  # the constant direction sits exactly on the floor
        assert _min_variance(model) == pytest.approx(1e-3, rel=1e-6)
    le = model_loglik(model, X)
    ll, _ = batch_forward_backward(le, model.startprob_, model.transmat_)
    assert model.score(X) == pytest.approx(ll, rel=1e-9)


@pytest.mark.parametrize("model_class", [fasthmm.GaussianHMM, fasthmm.GMMHMM])
@pytest.mark.parametrize("cov", ["diag", "full"])
def test_constant_feature_without_min_covar_names_the_problem(model_class, cov):
    # Too few points per state for n_mix k-means centres: the GMM draws its
    # initial means from the (singular) data covariance.
    rng = np.random.default_rng(3)
    X = np.column_stack([rng.standard_normal(6), np.zeros(6)])
    kwargs = {"n_mix": 4} if model_class is fasthmm.GMMHMM else {}
    model = model_class(3, covariance_type=cov, min_covar=0.0, random_state=0, **kwargs)
    with pytest.raises(ValueError, match="covars_.*constant feature with min_covar=0"):
        model.fit(X)
    assert not hasattr(model, "means_")


def test_all_samples_identical():
    X = np.full((30, 2), -1.5)
    for cov in COVARIANCE_TYPES:
        model = fasthmm.GaussianHMM(3, covariance_type=cov, n_iter=5, random_state=1)
        model.fit(X, [10, 20])
        _assert_finite(model)
        assert _min_variance(model) >= 1e-3 * (1 - 1e-9)
        assert_close(model.means_, -1.5, rtol=0, atol=1e-12)
        assert np.isfinite(model.score(X))


# ---------------------------------------------------------------------------
# categorical: symbols that never occur
def test_categorical_with_unused_symbols():
    rng = np.random.default_rng(12)
    X = rng.choice([0, 2], size=(80, 1))
    model = fasthmm.CategoricalHMM(2, n_features=6, n_iter=10, random_state=0)
    model.fit(X, [30, 50])
    _assert_finite(model)
    assert model.emissionprob_.shape == (2, 6)
    assert_close(model.emissionprob_.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    # Maximum likelihood gives the unseen symbols no mass.
    np.testing.assert_array_equal(model.emissionprob_[:, [1, 3, 4, 5]], 0.0)
    le = categorical_loglik(X, model.emissionprob_)
    ll, _ = batch_forward_backward(le, model.startprob_, model.transmat_, [30, 50])
    assert model.score(X, [30, 50]) == pytest.approx(ll, rel=1e-10)
    # With a Dirichlet prior every symbol keeps some mass.
    model = fasthmm.CategoricalHMM(
        2, n_features=6, emissionprob_prior=2.0, n_iter=10, random_state=0
    )
    model.fit(X)
    assert np.all(model.emissionprob_ > 0)
    _assert_non_decreasing(model.monitor_.history)


def test_categorical_n_features_inferred_from_data():
    X = np.array([0, 2, 2, 0, 2, 0, 0]).reshape(-1, 1)
    model = fasthmm.CategoricalHMM(2, n_iter=3, random_state=0).fit(X)
    assert model.n_features == 3
    assert model.emissionprob_.shape == (2, 3)
    np.testing.assert_array_equal(model.emissionprob_[:, 1], 0.0)


# ---------------------------------------------------------------------------
# sequences of length 1
@pytest.mark.parametrize("kind", ["categorical", "diag", "full"])
def test_sequences_of_length_one(kind):
    rng = np.random.default_rng(2)
    lengths = [1, 1, 1, 1, 1]
    if kind == "categorical":
        X = rng.integers(0, 3, (5, 1))
        model = fasthmm.CategoricalHMM(2, n_features=3, n_iter=5, random_state=0)
    else:
        X = rng.standard_normal((5, 2))
        model = fasthmm.GaussianHMM(2, covariance_type=kind, n_iter=5, random_state=0)
    initial = copy.deepcopy(model)
    initial.n_iter = 0
    initial.fit(X, lengths)
    model.fit(X, lengths)
    _assert_finite(model)
    _assert_non_decreasing(model.monitor_.history)
    # No transition is ever observed: transmat_ keeps its initial value.
    assert_close(model.transmat_, initial.transmat_, rtol=0, atol=0)
    assert not np.allclose(initial.startprob_, model.startprob_)
    # Each sequence is scored on its own: sum of log sum_k pi_k b_k(x).
    le = model_loglik(model, X)
    expected = np.sum(np.log(np.exp(le) @ model.startprob_))
    assert model.score(X, lengths) == pytest.approx(expected, rel=1e-10)
    post = model.predict_proba(X, lengths)
    ref = np.exp(le) * model.startprob_
    assert_close(post, ref / ref.sum(axis=1, keepdims=True), rtol=0, atol=1e-12)


def test_single_sample_single_state():
    model = fasthmm.GaussianHMM(1, n_iter=3).fit(np.array([[0.5, -2.0]]))
    _assert_finite(model)
    assert_close(model.means_, [[0.5, -2.0]], rtol=0, atol=1e-12)
    assert model.startprob_ == pytest.approx([1.0])
    model = fasthmm.CategoricalHMM(1, n_iter=3).fit(np.array([[4]]))
    assert model.emissionprob_.shape == (1, 5)
    assert model.emissionprob_[0, 4] == pytest.approx(1.0)


# ---------------------------------------------------------------------------
# more states than samples
@pytest.mark.parametrize("kind", ["categorical", "gaussian"])
def test_more_states_than_samples_raises_and_keeps_the_model(kind):
    rng = np.random.default_rng(0)
    if kind == "categorical":
        model = fasthmm.CategoricalHMM(3, n_iter=3, random_state=0)
        X_fit, X_small = rng.integers(0, 3, (40, 1)), np.array([[0], [1]])
    else:
        model = fasthmm.GaussianHMM(3, n_iter=3, random_state=0)
        X_fit, X_small = rng.standard_normal((40, 2)), rng.standard_normal((2, 2))
    with pytest.raises(ValueError, match="n_components"):
        model.fit(X_small)
    with pytest.raises(fasthmm.NotFittedError):  # the failed fit set nothing
        model.score(X_fit)
    model.fit(X_fit)
    before = {n: getattr(model, n).copy() for n in model._param_names()}
    with pytest.raises(ValueError, match="n_components"):
        model.fit(X_small)
    for name, value in before.items():
        np.testing.assert_array_equal(getattr(model, name), value)
