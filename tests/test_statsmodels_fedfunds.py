"""statsmodels' switching-mean model of the federal funds rate, as a GaussianHMM.

``MarkovRegression(fedfunds, k_regimes=2)`` (a switching constant, one
variance) is a two-state Gaussian HMM with a "tied" covariance whose first
state has the chain's stationary distribution. At the published parameters
(Stata's, in statsmodels' tests) the log-likelihood, the filtered, smoothed
and one-step predicted regime probabilities and the predicted means agree
with statsmodels; EM reaches the published optimum.
"""

import warnings

import numpy as np
import pytest

import fasthmm
from fasthmm import datasets

markov_regression = pytest.importorskip(
    "statsmodels.tsa.regime_switching.markov_regression"
)

#: p(0 -> 0), p(1 -> 0), the two means, the variance (Stata, as in
#: statsmodels' TestFedFundsConst).
PUBLISHED = np.r_[0.9820939, 0.0503587, 3.70877, 9.556793, 2.107562**2]
PUBLISHED_LLF = -508.63592


def stationary(transmat):
    values, vectors = np.linalg.eig(transmat.T)
    pi = np.real(vectors[:, np.argmin(np.abs(values - 1))])
    return pi / pi.sum()


@pytest.fixture(scope="module")
def fedfunds():
    return datasets.load_fedfunds().X


@pytest.fixture(scope="module")
def statsmodels_results(fedfunds):
    model = markov_regression.MarkovRegression(fedfunds.ravel(), k_regimes=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.smooth(PUBLISHED)


@pytest.fixture(scope="module")
def hmm():
    p00, p10, mu0, mu1, sigma2 = PUBLISHED
    model = fasthmm.GaussianHMM(2, covariance_type="tied", init_params="")
    model.transmat_ = np.array([[p00, 1 - p00], [p10, 1 - p10]])
    model.startprob_ = stationary(model.transmat_)
    model.means_ = np.array([[mu0], [mu1]])
    model.covars_ = np.array([[sigma2]])
    return model


def test_log_likelihood(hmm, fedfunds, statsmodels_results):
    ll = hmm.score(fedfunds)
    assert ll == pytest.approx(statsmodels_results.llf, abs=1e-6)
    assert ll == pytest.approx(PUBLISHED_LLF, abs=1e-5)


def test_filtered_and_smoothed_probabilities(hmm, fedfunds, statsmodels_results):
    np.testing.assert_allclose(
        hmm.filter_proba(fedfunds),
        statsmodels_results.filtered_marginal_probabilities,
        atol=1e-10,
    )
    np.testing.assert_allclose(
        hmm.predict_proba(fedfunds),
        statsmodels_results.smoothed_marginal_probabilities,
        atol=1e-10,
    )


@pytest.mark.parametrize("t", [1, 10, 60, 150, 225])
def test_one_step_forecasts_are_statsmodels_predictions(
    hmm, fedfunds, statsmodels_results, t
):
    """statsmodels cannot forecast past the end, but its predicted
    probabilities p(s_t | y_1..y_{t-1}) and predicted means inside the sample
    are one-step forecasts from the first t rows."""
    proba = hmm.forecast_proba(fedfunds[:t], steps=1)[0, 0]
    np.testing.assert_allclose(
        proba, statsmodels_results.predicted_marginal_probabilities[t], atol=1e-10
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        predicted = statsmodels_results.predict(probabilities="predicted")
    assert hmm.forecast(fedfunds[:t], steps=1)[0, 0, 0] == pytest.approx(
        np.asarray(predicted)[t], abs=1e-10
    )


def test_em_reaches_the_published_optimum(fedfunds):
    """fasthmm learns the first state's probabilities too (statsmodels ties
    them to the stationary distribution), so its optimum is at least as high."""
    best = max(
        fasthmm.GaussianHMM(
            2,
            covariance_type="tied",
            covars_prior=0.0,
            covars_weight=0.0,
            n_iter=500,
            tol=1e-10,
            random_state=seed,
        )
        .fit(fedfunds)
        .score(fedfunds)
        for seed in range(3)
    )
    assert best >= PUBLISHED_LLF - 1e-6
