"""statsmodels' Markov-switching regressions reproduced by RegressionHMM and
ARHMM, on statsmodels' own test data and its published (Stata) parameters.

Each configuration of ``statsmodels/tsa/regime_switching/tests/
test_markov_regression.py`` with a switching intercept and per-state
coefficients: the exogenous regressors are RegressionHMM's inputs, a lagged
endogenous regressor is ARHMM's order-1 lag (statsmodels starts the sample
one row later; ARHMM conditions on that row), statsmodels' non-switching
variance is the "tied" covariance and its switching variance one per
state. Its first regime has the chain's stationary distribution, which
``startprob_`` is set to. At the published parameters: the log-likelihood
equals statsmodels' to 1e-6, the filtered and smoothed regime
probabilities to 1e-5; EM from several starts reaches at least the
published optimum.
"""

import warnings

import numpy as np
import pytest
from switching_reference import statsmodels_series

import fasthmm

markov_regression = pytest.importorskip(
    "statsmodels.tsa.regime_switching.markov_regression"
)
sm_data = pytest.importorskip(
    "statsmodels.tsa.regime_switching.tests.test_markov_regression"
)

fedfunds, ogap, inf, areturns, mumpspc = statsmodels_series(sm_data)


class Case:
    """One statsmodels configuration: its endog, exog, options, the
    published parameters and log-likelihood (Stata's, from statsmodels'
    tests), and its fasthmm form (model class, X, inputs, rows compared)."""

    def __init__(self, name, endog, exog, options, params, llf, fast, k=2, fit=None):
        self.name, self.endog, self.exog = name, endog, exog
        self.options, self.params, self.llf = options, params, llf
        self.cls, self.X, self.inputs, self.skip = fast
        self.k = k
        #: The optimum EM must reach (default: the published parameters').
        self.fit = llf if fit is None else fit

    def __repr__(self):
        return self.name


def _exog_lag(series):
    """(endog, exog) of a regression on the previous value."""
    return series[1:], series[:-1, None]


CASES = [
    Case(
        "fedfunds-const",
        fedfunds,
        None,
        {},
        np.r_[0.9820939, 0.0503587, 3.70877, 9.556793, 2.107562**2],
        -508.63592,
        (fasthmm.RegressionHMM, fedfunds, None, 0),
    ),
    Case(
        "fedfunds-const-short",
        fedfunds[-10:],
        None,
        {},
        np.r_[0.9820939, 0.0503587, 3.70877, 9.556793, 2.107562**2],
        -29.909297,
        (fasthmm.RegressionHMM, fedfunds[-10:], None, 0),
        fit=-7.8553370,  # statsmodels' and Stata's optimum
    ),
    Case(
        "fedfunds-const-L1",
        *_exog_lag(fedfunds),
        {},
        np.r_[
            0.6378175,
            0.1306295,
            0.724457,
            -0.0988764,
            0.7631424,
            1.061174,
            0.6915759**2,
        ],
        -264.71069,
        (fasthmm.RegressionHMM, fedfunds[1:], fedfunds[:-1], 0),
    ),
    Case(
        "fedfunds-const-L1-ar",
        *_exog_lag(fedfunds),
        {},
        None,
        -264.71069,
        (fasthmm.ARHMM, fedfunds, None, 1),
    ),
    Case(
        "fedfunds-const-L1-exog",
        fedfunds[4:],
        np.c_[fedfunds[3:-1], ogap[4:], inf[4:]],
        {},
        np.r_[
            0.7279288,
            0.2114578,
            0.6554954,
            -0.0944924,
            0.8314458,
            0.9292574,
            0.1355425,
            0.0343072,
            -0.0273928,
            0.2125275,
            0.5764495**2,
        ],
        -229.25614,
        (
            fasthmm.RegressionHMM,
            fedfunds[4:],
            np.c_[fedfunds[3:-1], ogap[4:], inf[4:]],
            0,
        ),
    ),
    Case(
        "fedfunds-const-L1-exog-ar",
        fedfunds[4:],
        np.c_[fedfunds[3:-1], ogap[4:], inf[4:]],
        {},
        None,
        -229.25614,
        # Row 0 is conditioned on (not scored): its inputs are never used,
        # and inflation is unknown there (NaN), so 0 stands in.
        (fasthmm.ARHMM, fedfunds[3:], np.nan_to_num(np.c_[ogap[3:], inf[3:]]), 1),
    ),
    Case(
        "fedfunds-const-L1-exog-3-regimes",
        fedfunds[4:],
        np.c_[fedfunds[3:-1], ogap[4:], inf[4:]],
        {},
        np.r_[
            0.7253684,
            0.1641252,
            0.6178282,
            0.2564055,
            0.7994204,
            0.3821718,
            0.5261292,
            -0.0034106,
            0.6015991,
            0.8464551,
            0.9690088,
            0.4178913,
            0.1201952,
            0.0464136,
            0.1075357,
            -0.0425603,
            0.1298906,
            0.9099168,
            0.438375**2,
        ],
        -189.89493,
        (
            fasthmm.RegressionHMM,
            fedfunds[4:],
            np.c_[fedfunds[3:-1], ogap[4:], inf[4:]],
            0,
        ),
        k=3,
        fit=-182.27188,  # Stata's optimum (statsmodels' EM stops at -226.89)
    ),
    Case(
        "areturns-const-L1-variance",
        *_exog_lag(areturns),
        {"switching_variance": True},
        np.r_[
            0.7530865,
            0.6825357,
            0.7641424,
            1.972771,
            0.0790744,
            0.527953,
            0.5895792**2,
            1.605333**2,
        ],
        -745.7977,
        (fasthmm.ARHMM, areturns, None, 1),
    ),
    Case(
        "mumpspc-noconst-L1-variance",
        *_exog_lag(mumpspc),
        {"switching_variance": True, "trend": "n"},
        np.r_[0.762733, 0.1473767, 0.420275, 0.9847369, 0.0562405**2, 0.2611362**2],
        131.7225,
        (fasthmm.RegressionHMM, mumpspc[1:], mumpspc[:-1], 0),
    ),
]
# The "-ar" cases share the published parameters of the case before them.
for i, case in enumerate(CASES):
    if case.params is None:
        case.params = CASES[i - 1].params


def stationary(transmat):
    values, vectors = np.linalg.eig(transmat.T)
    pi = np.real(vectors[:, np.argmin(np.abs(values - 1))])
    return pi / pi.sum()


def statsmodels_model(case):
    return markov_regression.MarkovRegression(
        case.endog, k_regimes=case.k, exog=case.exog, **case.options
    )


def fasthmm_model(case, names, params, **kwargs):
    """The fasthmm model of ``case`` holding statsmodels' ``params``."""
    k = case.k
    switching = case.options.get("switching_variance", False)
    model = case.cls(
        k,
        covariance_type="full" if switching else "tied",
        fit_intercept=case.options.get("trend", "c") != "n",
        init_params="",
        **kwargs,
    )
    value = dict(zip(names, params))
    transmat = np.empty((k, k))
    for j in range(k):  # statsmodels' p[j->i] = p(regime i after regime j)
        for i in range(k - 1):
            transmat[j, i] = value[f"p[{j}->{i}]"]
        transmat[j, k - 1] = 1.0 - transmat[j, : k - 1].sum()
    n_exog = 0 if case.exog is None else case.exog.shape[1]
    coef = np.array(
        [[[value[f"x{m + 1}[{s}]"] for m in range(n_exog)]] for s in range(k)]
    )
    model.transmat_ = transmat
    model.startprob_ = stationary(transmat)
    model.coef_ = coef.reshape(k, 1, n_exog)
    model.intercept_ = np.array([[value.get(f"const[{s}]", 0.0)] for s in range(k)])
    if switching:
        model.covars_ = np.array([[[value[f"sigma2[{s}]"]]] for s in range(k)])
    else:
        model.covars_ = np.array([[value["sigma2"]]])
    return model


@pytest.fixture(scope="module", params=CASES, ids=repr)
def pair(request):
    case = request.param
    sm = statsmodels_model(case)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = sm.smooth(case.params)
    return case, result, fasthmm_model(case, sm.param_names, case.params)


def test_log_likelihood_at_the_published_parameters(pair):
    case, result, model = pair
    ll = model.score(case.X, inputs=case.inputs)
    assert ll == pytest.approx(result.llf, abs=1e-6)
    assert ll == pytest.approx(case.llf, abs=1e-4)  # Stata's, as printed


def test_filtered_and_smoothed_probabilities(pair):
    case, result, model = pair
    skip = case.skip
    filtered = model.filter_proba(case.X, inputs=case.inputs)[skip:]
    smoothed = model.predict_proba(case.X, inputs=case.inputs)[skip:]
    np.testing.assert_allclose(
        filtered, np.asarray(result.filtered_marginal_probabilities), atol=1e-5
    )
    np.testing.assert_allclose(
        smoothed, np.asarray(result.smoothed_marginal_probabilities), atol=1e-5
    )


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_em_from_several_starts_reaches_the_published_optimum(case):
    """EM (startprob_ learned, so its optimum can only be higher than with
    the stationary start) from data-initialised starts."""
    best = -np.inf
    for seed in range(8 if case.k > 2 else 4):
        model = case.cls(
            case.k,
            covariance_type="full"
            if case.options.get("switching_variance")
            else "tied",
            fit_intercept=case.options.get("trend", "c") != "n",
            covars_prior=0.0,
            min_covar=1e-10,
            n_iter=1000,
            tol=1e-10,
            random_state=seed,
        )
        model.fit(case.X, inputs=case.inputs)
        best = max(best, model.score(case.X, inputs=case.inputs))
    assert best >= case.fit - 1e-4


def test_underflow_example_of_statsmodels_tests():
    """statsmodels' GH5380 example (switching means and variances of order
    1e-6 and 1e-8), at the parameters where its smoother once returned NaN:
    finite probabilities equal to statsmodels' and the same log-likelihood."""
    y = np.asarray(sm_data.gh5380_series, dtype=float)
    params = np.array(
        [6.97337611e-01, 6.26116329e-01, -6.41266551e-06]
        + [3.81141202e-06, 4.72462327e-08, 4.45291473e-06]
    )
    sm = markov_regression.MarkovRegression(y, k_regimes=2, switching_variance=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = sm.smooth(params)
    model = fasthmm.RegressionHMM(
        2, covariance_type="full", min_covar=1e-12, init_params=""
    )
    model.transmat_ = sm.regime_transition_matrix(params)[:, :, 0].T
    model.startprob_ = stationary(model.transmat_)
    model.coef_ = np.zeros((2, 1, 0))
    model.intercept_ = params[2:4, None]
    model.covars_ = params[4:6].reshape(2, 1, 1)
    X = y[:, None]
    assert model.score(X) == pytest.approx(result.llf, abs=1e-6)
    for ours, theirs in (
        (model.filter_proba(X), result.filtered_marginal_probabilities),
        (model.predict_proba(X), result.smoothed_marginal_probabilities),
    ):
        assert np.all(np.isfinite(ours))
        np.testing.assert_allclose(ours, np.asarray(theirs), atol=1e-5)
