"""Plain-NumPy references for the switching regressions (RegressionHMM,
ARHMM): log-emissions from the public parameters, random models, and the
exact predictive mean by enumeration of the future state paths.

Nothing here calls fasthmm's emission code: the regressors of each row are
built by hand, row by row, from X, the lengths and the inputs.
"""

import itertools

import numpy as np
from reference import LOG_2PI, full_covars, random_covars, random_stochastic


def regressors(X, lengths, inputs, order):
    """Row ``t``'s regressors ``[x_{t-1}, ..., x_{t-order}, u_t]`` and
    whether the row is scored (at least ``order`` rows into its sequence)."""
    X = np.asarray(X, dtype=float).reshape(len(X), -1)
    n = X.shape[0]
    U = np.zeros((n, 0)) if inputs is None else np.asarray(inputs).reshape(n, -1)
    rows, scored = [], []
    t0 = 0
    for length in lengths if lengths is not None else [n]:
        for i in range(length):
            t = t0 + i
            lags = [
                X[t - lag] if i >= lag else np.zeros(X.shape[1])
                for lag in range(1, order + 1)
            ]
            rows.append(np.concatenate([*lags, U[t]]))
            scored.append(i >= order)
        t0 += length
    return np.array(rows).reshape(n, -1), np.array(scored)


def log_emissions(model, X, lengths=None, inputs=None):
    """``log p(x_t | z_t = k, past, u_t)``, 0 for rows not scored."""
    X = np.asarray(X, dtype=float).reshape(len(X), -1)
    order = getattr(model, "order", 0)
    R, scored = regressors(X, lengths, inputs, order)
    coef, icpt = np.asarray(model.coef_), np.asarray(model.intercept_)
    k, d = icpt.shape
    sigmas = full_covars(model.covars_, model.covariance_type, k, d)
    out = np.zeros((X.shape[0], k))
    for t in range(X.shape[0]):
        if not scored[t]:
            continue
        for s in range(k):
            r = X[t] - coef[s] @ R[t] - icpt[s]
            _, logdet = np.linalg.slogdet(sigmas[s])
            out[t, s] = -0.5 * (
                d * LOG_2PI + logdet + r @ np.linalg.solve(sigmas[s], r)
            )
    return out


def random_params(rng, k, d, n_regressors, covariance_type, scale=0.3):
    """Random chain and emission parameters, by public attribute name."""
    return {
        "startprob_": random_stochastic(rng, (k,)),
        "transmat_": random_stochastic(rng, (k, k)),
        "coef_": scale * rng.standard_normal((k, d, n_regressors)),
        "intercept_": 2.0 * rng.standard_normal((k, d)),
        "covars_": random_covars(rng, covariance_type, k, d),
    }


def set_params(model, params):
    for name, value in params.items():
        setattr(model, name, value)
    return model


def enumerated_forecast(model, filtered, observed, future_inputs, steps):
    """``E[x_{T+h} | data]`` by enumerating every future state path
    z_{T}, ..., z_{T+steps} (z_T from ``filtered``): along a path the
    conditional mean follows the autoregression with noise-free lags."""
    coef, icpt = np.asarray(model.coef_), np.asarray(model.intercept_)
    k, d = icpt.shape
    order = getattr(model, "order", 0)
    T = np.asarray(model.transmat_)
    U = np.zeros((steps, 0)) if future_inputs is None else np.asarray(future_inputs)
    out = np.zeros((steps, d))
    hist0 = [
        observed[-lag] if lag <= len(observed) else np.zeros(d)
        for lag in range(order, 0, -1)
    ]
    for path in itertools.product(range(k), repeat=steps + 1):
        p = filtered[path[0]]
        for a, b in zip(path[:-1], path[1:]):
            p *= T[a, b]
        if p == 0:
            continue
        hist = list(hist0)
        for h in range(steps):
            s = path[h + 1]
            lags = [hist[-lag] for lag in range(1, order + 1)]
            x = coef[s] @ np.concatenate([*lags, U[h]]) + icpt[s]
            hist.append(x)
            out[h] += p * x
    return out


def stationary(transmat):
    """The stationary distribution of a transition matrix (eigenvector of
    its transpose for the eigenvalue 1)."""
    values, vectors = np.linalg.eig(np.asarray(transmat).T)
    pi = np.real(vectors[:, np.argmin(np.abs(values - 1))])
    return pi / pi.sum()


#: The series of statsmodels' Markov-regression tests that the comparison
#: files use (federal funds rate, output gap, inflation, returns, mumps).
STATSMODELS_SERIES = ("fedfunds", "ogap", "inf", "areturns", "mumpspc")


def statsmodels_series(sm_data):
    """statsmodels' test series, as float arrays, in STATSMODELS_SERIES order.

    Parameters
    ----------
    sm_data : module
        ``statsmodels.tsa.regime_switching.tests.test_markov_regression``.
    """
    return tuple(
        np.asarray(getattr(sm_data, name), dtype=float) for name in STATSMODELS_SERIES
    )
