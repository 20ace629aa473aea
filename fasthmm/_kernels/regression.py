"""Numba kernels for the log-densities of Gaussian regressions (RegressionHMM,
ARHMM): each row's state means ``intercept[k] + coef[k] @ z_t`` are formed
in scratch, then the Gaussian row helpers of :mod:`fasthmm._kernels.gaussian`
score the row, so no (n_samples, n_features) residual is built per state.

The rows are a design (see :mod:`fasthmm.emissions.regression`): the
observations' ``n_features`` columns, then the regressors, then (for
autoregression) a flag that is 0.0 on rows not scored, whose log-emissions
are 0.
"""

import numpy as np
from numba import njit

from .gaussian import cholesky_log_density_row, diag_log_density_row
from .partition import DENSITY_ROWS


@njit(cache=True, nogil=True)
def _state_means(row, d, coef, intercept, means):
    """``means[k] = intercept[k] + coef[k] @ row[d:d + p]``."""
    p = coef.shape[2]
    for k in range(coef.shape[0]):
        for i in range(d):
            acc = intercept[k, i]
            for j in range(p):
                acc += coef[k, i, j] * row[d + j]
            means[k, i] = acc


@njit(cache=True, nogil=True)
def diag_log_density_blocks(
    X, d, coef, intercept, precisions, log_norm, flag, out, b0, b1
):
    """Log-densities under diagonal-covariance regressions of the rows of
    blocks ``b0:b1`` (:data:`~fasthmm._kernels.partition.DENSITY_ROWS` rows
    each), on the calling thread (run by
    :func:`fasthmm._kernels.gaussian.log_density`, on several threads for
    more than one block).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_columns)
        The design: observations (``d`` columns), regressors, flag.
    d : int64
        Number of observation columns.
    coef : ndarray of shape (n_components, d, n_regressors)
    intercept : ndarray of shape (n_components, d)
    precisions : ndarray of shape (n_components, d)
    log_norm : ndarray of shape (n_components,)
    flag : int64
        Column of the scored-row flag, or -1 (every row scored).
    out : ndarray of shape (n_samples, n_components)
        Output (the rows of those blocks).
    b0, b1 : int
    """
    n_samples = X.shape[0]
    means = np.empty((coef.shape[0], d))
    for t in range(b0 * DENSITY_ROWS, min(n_samples, b1 * DENSITY_ROWS)):
        if flag >= 0 and X[t, flag] == 0.0:
            out[t, :] = 0.0
            continue
        _state_means(X[t], d, coef, intercept, means)
        diag_log_density_row(X[t, :d], means, precisions, log_norm, out[t])


@njit(cache=True, nogil=True)
def cholesky_log_density_blocks(
    X, d, coef, intercept, chol, log_norm, flag, out, b0, b1
):
    """Log-densities under full-covariance regressions, given the lower
    Cholesky factors ``chol`` (n_components, d, d), of the rows of blocks
    ``b0:b1``; the other arguments as :func:`diag_log_density_blocks`."""
    n_samples = X.shape[0]
    means = np.empty((coef.shape[0], d))
    y = np.empty(d)
    for t in range(b0 * DENSITY_ROWS, min(n_samples, b1 * DENSITY_ROWS)):
        if flag >= 0 and X[t, flag] == 0.0:
            out[t, :] = 0.0
            continue
        _state_means(X[t], d, coef, intercept, means)
        cholesky_log_density_row(X[t, :d], means, chol, log_norm, y, out[t])
