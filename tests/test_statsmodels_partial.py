"""statsmodels' Markov-switching regressions with some coefficients shared
by the regimes (``switching_exog`` / ``switching_trend`` False or a list),
reproduced by RegressionHMM and ARHMM (``switching_coef`` /
``switching_intercept``) on statsmodels' own test data.

statsmodels' test files publish no parameters for these configurations, so
the parameters below are statsmodels' own maximum-likelihood estimates
(``MarkovRegression.fit(search_reps=50)``, best of three seeds), and the
reference values are statsmodels' at them: the log-likelihood to 1e-6, the
filtered and smoothed regime probabilities to 1e-5; EM from several starts
reaches at least statsmodels' optimum (fasthmm learns ``startprob_``, so
its optimum can only be higher).
"""

import warnings

import numpy as np
import pytest
from switching_reference import regressors, stationary, statsmodels_series

import fasthmm

markov_regression = pytest.importorskip(
    "statsmodels.tsa.regime_switching.markov_regression"
)
sm_data = pytest.importorskip(
    "statsmodels.tsa.regime_switching.tests.test_markov_regression"
)

fedfunds, ogap, inf, areturns, mumpspc = statsmodels_series(sm_data)

#: The Taylor-rule regressors of statsmodels' tests: the lagged rate, the
#: output gap and inflation (inflation is known from the fifth quarter).
TAYLOR = np.c_[fedfunds[3:-1], ogap[4:], inf[4:]]
#: ARHMM's form of the same model: the rate from the fourth quarter (its
#: first row is conditioned on, as the lag of the second), the output gap
#: and inflation as inputs (0 stands in where the first row's is unknown:
#: a row that is not scored never uses its inputs).
TAYLOR_AR = (fedfunds[3:], np.nan_to_num(np.c_[ogap[3:], inf[3:]]))


class Case:
    """A statsmodels configuration (endog, exog, options, regimes), its
    estimates, and its fasthmm form (model class, X, inputs, rows of X that
    statsmodels does not have)."""

    def __init__(self, name, endog, exog, options, params, fast, k=2):
        self.name, self.endog, self.exog, self.options = name, endog, exog, options
        self.params, self.k = np.asarray(params), k
        self.cls, self.X, self.inputs, self.skip = fast

    def __repr__(self):
        return self.name


CASES = [
    Case(
        "taylor-shared-slopes",
        fedfunds[4:],
        TAYLOR,
        {"switching_exog": False},
        [
            0.336267772457953,
            0.01888138620228487,
            -3.5616500331208627,
            -0.11201201844693126,
            0.9323716016517031,
            0.0633535653279302,
            0.1579694960553245,
            0.48258679296411966,
        ],
        (fasthmm.RegressionHMM, fedfunds[4:], TAYLOR, 0),
    ),
    Case(
        "taylor-switching-lag",
        fedfunds[4:],
        TAYLOR,
        {"switching_exog": [True, False, False]},
        [
            0.6877741145273738,
            0.1441512056802648,
            0.5606359474903833,
            -0.11127362516145729,
            0.692681789823376,
            0.9715665766752823,
            0.08926661983793292,
            0.1456128857613927,
            0.38669735800393745,
        ],
        (fasthmm.RegressionHMM, fedfunds[4:], TAYLOR, 0),
    ),
    Case(
        "taylor-switching-lag-ar",
        fedfunds[4:],
        TAYLOR,
        {"switching_exog": [True, False, False]},
        None,
        (fasthmm.ARHMM, *TAYLOR_AR, 1),
    ),
    Case(
        "taylor-shared-slopes-variance",
        fedfunds[4:],
        TAYLOR,
        {"switching_exog": False, "switching_variance": True},
        [
            0.8607588365333457,
            0.06934901116190087,
            0.06564040164114875,
            0.23076136529753863,
            0.8979967631865525,
            0.07195031098078367,
            0.10985141018891359,
            1.964091106788395,
            0.0909912197101694,
        ],
        (fasthmm.RegressionHMM, fedfunds[4:], TAYLOR, 0),
    ),
    Case(
        "taylor-shared-constant-variance",
        fedfunds[4:],
        TAYLOR,
        {"switching_trend": False, "switching_variance": True},
        [
            0.925863191376479,
            0.14007856506837285,
            0.23323001575745758,
            0.8997585861040538,
            0.910516921813053,
            0.06761911980353971,
            0.15725403429889728,
            0.10241331761358173,
            0.09787270861300011,
            0.08500061345469889,
            1.8612606567575938,
        ],
        (fasthmm.RegressionHMM, fedfunds[4:], TAYLOR, 0),
    ),
    Case(
        "taylor-switching-lag-3-regimes",
        fedfunds[4:],
        TAYLOR,
        {"switching_exog": [True, False, False]},
        [
            8.1923825366930858e-01,
            7.6701568491892469e-02,
            3.8492295683485928e-01,
            8.3105425336916797e-02,
            7.5155210938039962e-01,
            9.7108019796528721e-09,
            3.4110579125381424e-01,
            2.5214878326529067e-01,
            -1.3038870384312548e-01,
            8.0165121882744816e-01,
            6.1986259885040784e-01,
            9.9261519356774208e-01,
            1.0533214499202945e-01,
            2.1413605532653313e-01,
            2.8360025625867608e-01,
        ],
        (fasthmm.RegressionHMM, fedfunds[4:], TAYLOR, 0),
        k=3,
    ),
    Case(
        "fedfunds-L1-shared-constant-ar",
        fedfunds[1:],
        fedfunds[:-1, None],
        {"switching_trend": False},
        [
            8.7841229538352883e-01,
            7.6181342722914053e-10,
            1.8971848269113864e-01,
            6.4848634963204432e-01,
            9.6451259948971235e-01,
            8.3569374531838436e-01,
        ],
        (fasthmm.ARHMM, fedfunds, None, 1),
    ),
    Case(
        "areturns-L1-shared-slope-variance-ar",
        areturns[1:],
        areturns[:-1, None],
        {"switching_exog": False, "switching_variance": True},
        [
            0.9807061256640127,
            0.08962408964562193,
            0.9729368699711308,
            2.7472807755834645,
            0.0676659557053734,
            0.6132297222857311,
            4.899525269155817,
        ],
        (fasthmm.ARHMM, areturns, None, 1),
    ),
    Case(
        "mumpspc-noconst-L1-shared-slope-variance",
        mumpspc[1:],
        mumpspc[:-1, None],
        {"switching_exog": False, "switching_variance": True, "trend": "n"},
        [
            0.8394775154448929,
            0.13944626148195977,
            0.8408437232175777,
            0.0066927907011423,
            0.09833788885300676,
        ],
        (fasthmm.RegressionHMM, mumpspc[1:], mumpspc[:-1], 0),
    ),
]
# An "-ar" case shares the estimates of the case before it.
for i, case in enumerate(CASES):
    if case.params.ndim == 0:
        case.params = CASES[i - 1].params


def statsmodels_model(case):
    return markov_regression.MarkovRegression(
        case.endog, k_regimes=case.k, exog=case.exog, **case.options
    )


def options(sm, **kwargs):
    """fasthmm's constructor arguments for the statsmodels model ``sm``."""
    switching = np.asarray(sm.switching_coeffs, dtype=bool)
    trend = sm.k_trend > 0
    return dict(
        covariance_type="full" if sm.switching_variance else "tied",
        fit_intercept=trend,
        switching_coef=switching[int(trend) :],
        switching_intercept=bool(switching[0]) if trend else True,
        **kwargs,
    )


def fasthmm_model(case, sm, params):
    """The fasthmm model of ``case`` holding statsmodels' ``params``: each
    regime's coefficients read through statsmodels' own index of them."""
    k = case.k
    model = case.cls(k, init_params="", **options(sm))
    transmat = sm.regime_transition_matrix(params)[:, :, 0].T  # p(i -> j)
    model.transmat_ = transmat
    model.startprob_ = stationary(transmat)
    W = np.array([params[sm.parameters[s, "exog"]] for s in range(k)])
    n_trend = sm.k_trend
    model.intercept_ = W[:, :n_trend] if n_trend else np.zeros((k, 1))
    model.coef_ = W[:, None, n_trend:]
    variances = np.array([params[sm.parameters[s, "variance"]] for s in range(k)])
    if sm.switching_variance:
        model.covars_ = variances.reshape(k, 1, 1)
    else:
        model.covars_ = variances[:1].reshape(1, 1)
    return model


@pytest.fixture(scope="module", params=CASES, ids=repr)
def pair(request):
    case = request.param
    sm = statsmodels_model(case)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = sm.smooth(case.params)
    return case, result, fasthmm_model(case, sm, case.params)


def test_log_likelihood_at_statsmodels_estimates(pair):
    case, result, model = pair
    assert model.score(case.X, inputs=case.inputs) == pytest.approx(
        result.llf, abs=1e-6
    )


def test_filtered_and_smoothed_probabilities(pair):
    case, result, model = pair
    filtered = model.filter_proba(case.X, inputs=case.inputs)[case.skip :]
    smoothed = model.predict_proba(case.X, inputs=case.inputs)[case.skip :]
    np.testing.assert_allclose(
        filtered, np.asarray(result.filtered_marginal_probabilities), atol=1e-5
    )
    np.testing.assert_allclose(
        smoothed, np.asarray(result.smoothed_marginal_probabilities), atol=1e-5
    )


def pooled_start(model, case, rng):
    """A random start about the pooled regression (every regime the same
    least squares), the switching columns perturbed by a residual standard
    deviation, as statsmodels' own random search does."""
    order = getattr(model, "order", 0)
    X = np.asarray(case.X, dtype=float).reshape(len(case.X), -1)
    R, scored = regressors(X, None, case.inputs, order)
    Z = np.hstack([R, np.ones((len(X), 1))]) if model.fit_intercept else R
    beta = np.linalg.lstsq(Z[scored], X[scored, 0], rcond=None)[0]
    sd = np.std(X[scored, 0] - Z[scored] @ beta)
    p, k = R.shape[1], case.k
    switching = np.append(model.switching_coef, model.switching_intercept)
    scale = np.append(np.std(R[scored], axis=0), 1.0)[: Z.shape[1]]
    W = beta + rng.standard_normal((k, Z.shape[1])) * sd / scale
    W[:, ~switching[: Z.shape[1]]] = beta[~switching[: Z.shape[1]]]
    model.coef_ = W[:, None, :p]
    model.intercept_ = W[:, p:] if model.fit_intercept else np.zeros((k, 1))
    model.startprob_ = np.full(k, 1.0 / k)
    model.transmat_ = 0.5 * np.eye(k) + 0.5 * rng.dirichlet(np.ones(k), size=k)
    if model.covariance_type == "tied":
        model.covars_ = np.array([[sd**2]])
    else:
        model.covars_ = (sd**2 * rng.uniform(0.2, 2.0, k)).reshape(k, 1, 1)
    return model


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_em_from_several_starts_reaches_statsmodels_optimum(case):
    """EM from data-initialised starts and from random starts about the
    pooled regression."""
    sm = statsmodels_model(case)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        target = sm.loglike(case.params)
    settings = dict(covars_prior=0.0, min_covar=1e-10, n_iter=2000, tol=1e-9)
    best = -np.inf
    n_starts = 8 if case.k > 2 else 4
    for seed in range(n_starts):
        data_start = case.cls(case.k, **options(sm, random_state=seed, **settings))
        random_start = pooled_start(
            case.cls(case.k, **options(sm, init_params="", **settings)),
            case,
            np.random.default_rng(seed),
        )
        for model in (data_start, random_start):
            model.fit(case.X, inputs=case.inputs)
            best = max(best, model.score(case.X, inputs=case.inputs))
    assert best >= target - 1e-4
