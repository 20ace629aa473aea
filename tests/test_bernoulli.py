"""BernoulliHMM: its entry for the contract tests (see families.py), and
what is particular to it: probabilities of exactly 0 and 1, the Beta prior's
closed-form MAP, bad input.

The references are plain Python: the product of ``p`` or ``1 - p`` per
feature, and the Beta MAP estimate written out from its formula.
"""

import math

import numpy as np
import pytest
from families import Family
from reference import brute_force

from fasthmm import BernoulliHMM


def bernoulli_loglik(X, emissionprob):
    """log prod_j p_j**x_j (1 - p_j)**(1 - x_j), one sample and state at a time."""
    X = np.asarray(X, dtype=np.int64).reshape(len(X), -1)
    p = np.asarray(emissionprob, dtype=float)
    out = np.empty((X.shape[0], p.shape[0]))
    for t, x in enumerate(X):
        for k, row in enumerate(p):
            prob = math.prod(q if v else 1.0 - q for v, q in zip(x, row))
            out[t, k] = math.log(prob) if prob > 0 else -math.inf
    return out


def _emission(rng, k, d, opts):
    return {"emissionprob_": rng.uniform(0.05, 0.95, (k, d))}


def _priors(rng, k, d, opts):
    return {
        "emissionprob_alpha": rng.uniform(1.0, 3.0, (k, d)),
        "emissionprob_beta": float(rng.uniform(1.0, 3.0)),
    }


def _data(rng, n, d, opts):
    return (rng.random((n, d)) < rng.uniform(0.2, 0.8, d)).astype(np.int64)


FAMILIES = (
    Family(
        name="bernoulli",
        cls=BernoulliHMM,
        options={},
        n_features=3,
        feature_range=(1, 4),
        emission=_emission,
        priors=_priors,
        data=_data,
        reference=lambda model, X: bernoulli_loglik(X, model.emissionprob_),
    ),
)


def _model(emissionprob, **kwargs):
    k = len(emissionprob)
    model = BernoulliHMM(k, init_params="", **kwargs)
    model.startprob_ = np.full(k, 1.0 / k)
    model.transmat_ = np.full((k, k), 1.0 / k)
    model.emissionprob_ = np.asarray(emissionprob, dtype=float)
    return model


# -- probabilities of exactly 0 and 1 -------------------------------------------
EDGES = np.array([[0.0, 1.0, 0.5], [1.0, 0.25, 0.0]])
ALL_X = np.array([[a, b, c] for a in (0, 1) for b in (0, 1) for c in (0, 1)])


def test_zero_and_one_give_minus_inf_never_nan():
    model = _model(EDGES)
    got = model.log_emissions(ALL_X)
    np.testing.assert_allclose(got, bernoulli_loglik(ALL_X, EDGES), rtol=1e-15)
    assert not np.isnan(got).any() and np.isneginf(got).any()


def test_zero_and_one_in_scores_and_posteriors_match_brute_force():
    model = _model(EDGES)
    X = np.array([[0, 1, 1], [1, 0, 0], [0, 1, 0]])  # each row possible in one state
    ll, post = model.score_samples(X)
    want = brute_force(bernoulli_loglik(X, EDGES), model.startprob_, model.transmat_)
    assert ll == pytest.approx(want["ll"], rel=1e-12)
    np.testing.assert_allclose(post, want["posteriors"], atol=1e-12)


def test_fit_reaches_zero_and_one_without_nan():
    # Feature 0 is always 0 and feature 1 always 1: the maximum-likelihood
    # probabilities are exactly 0 and 1, and later iterations stay finite.
    rng = np.random.default_rng(1)
    X = np.c_[np.zeros(60, int), np.ones(60, int), rng.integers(0, 2, 60)]
    model = BernoulliHMM(2, n_iter=15, tol=0, random_state=0).fit(X)
    np.testing.assert_array_equal(model.emissionprob_[:, :2], [[0, 1], [0, 1]])
    assert np.isfinite(model.monitor_.history).all()
    assert np.isfinite(model.score(X))


# -- the Beta prior ---------------------------------------------------------------
def test_labelled_fit_is_the_beta_map_estimate():
    rng = np.random.default_rng(2)
    X = rng.integers(0, 2, (50, 3))
    states = rng.integers(0, 2, 50)
    alpha, beta = np.array([[2.0], [3.5]]), 1.5
    model = BernoulliHMM(2, emissionprob_alpha=alpha, emissionprob_beta=beta)
    model.fit(X, states=states)
    for k in range(2):
        ones, n = X[states == k].sum(axis=0), (states == k).sum()
        want = (alpha[k] - 1 + ones) / (alpha[k] + beta - 2 + n)
        np.testing.assert_allclose(model.emissionprob_[k], want, rtol=1e-12)


@pytest.mark.parametrize(
    "name, value, match",
    [
        ("emissionprob_alpha", 0.5, r"emissionprob_alpha must be >= 1, got 0.5"),
        ("emissionprob_beta", np.full((2, 3), 0.0), r"emissionprob_beta must be >= 1"),
        ("emissionprob_alpha", np.ones(4), r"broadcastable to shape \(2, 3\)"),
        ("emissionprob_beta", np.nan, "emissionprob_beta must not contain NaN"),
    ],
)
def test_bad_prior_is_named(name, value, match):
    with pytest.raises(ValueError, match=match):
        BernoulliHMM(2, **{name: value}).fit(ALL_X)


# -- bad input ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "X, match",
    [
        (np.array([[0, 2, 1]]), r"X must hold 0 or 1 \(binary features\), got 2"),
        (np.array([[0, -1, 1]]), "X must hold non-negative integers"),
        (np.array([[0, 0.5, 1]]), "X must hold integers"),
        (np.array([[0, 1]]), "X must have n_features = 3"),
    ],
)
def test_bad_samples_are_named(X, match):
    with pytest.raises(ValueError, match=match):
        _model(EDGES).score(X)


@pytest.mark.parametrize("value", [[[0.5, 1.5, 0.5]] * 2, [[0.5, -0.1, 0.5]] * 2])
def test_probabilities_outside_0_1_are_rejected(value):
    with pytest.raises(ValueError, match=r"emissionprob_ must hold probabilities"):
        _model(value).score(ALL_X)


def test_sample_frequencies_follow_the_probabilities():
    model = _model([[0.0, 1.0, 0.3]])
    X, _ = model.sample(4000, random_state=0)
    assert set(np.unique(X)) <= {0, 1}
    np.testing.assert_array_equal(X[:, :2], np.tile([0, 1], (4000, 1)))
    assert abs(X[:, 2].mean() - 0.3) < 4 * math.sqrt(0.3 * 0.7 / 4000)
