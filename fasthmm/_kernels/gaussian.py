"""Numba kernels for Gaussian log-densities (used by the Gaussian and GMM emissions).

Written as direct loops rather than the expanded ``x**2 @ prec - 2 x @ (mu*prec)``
form: that avoids cancellation when means are large relative to the spread,
and small matrix products of shape (n_samples, n_features) x (n_features, n)
are slow in BLAS.
"""

import numpy as np
from numba import njit, prange

from .partition import DENSITY_ROWS


@njit(cache=True, parallel=True)
def diag_log_density(X, means, precisions, log_norm, out):
    """Log density under diagonal-covariance Gaussians.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    means : ndarray of shape (n, n_features)
    precisions : ndarray of shape (n, n_features)
        Inverse variances.
    log_norm : ndarray of shape (n,)
        ``-0.5 * (n_features * log(2 pi) + sum(log variances))``.
    out : ndarray of shape (n_samples, n)
        Output.
    """
    n_samples, d = X.shape
    n = means.shape[0]
    for t in prange(n_samples):
        for c in range(n):
            acc = 0.0
            for j in range(d):
                diff = X[t, j] - means[c, j]
                acc += diff * diff * precisions[c, j]
            out[t, c] = log_norm[c] - 0.5 * acc


@njit(cache=True, parallel=True)
def cholesky_log_density(X, means, chol, log_norm, out):
    """Log density under full-covariance Gaussians given Cholesky factors.

    Solves ``L y = x - mean`` by forward substitution for every sample and
    component (no explicit inverse).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    means : ndarray of shape (n, n_features)
    chol : ndarray of shape (n, n_features, n_features)
        Lower Cholesky factors of the covariances.
    log_norm : ndarray of shape (n,)
        ``-0.5 * (n_features * log(2 pi) + log det covariance)``.
    out : ndarray of shape (n_samples, n)
        Output.
    """
    n_samples, d = X.shape
    n = means.shape[0]
    n_blocks = (n_samples + DENSITY_ROWS - 1) // DENSITY_ROWS
    for b in prange(n_blocks):
        y = np.empty(d)
        for t in range(b * DENSITY_ROWS, min(n_samples, (b + 1) * DENSITY_ROWS)):
            for c in range(n):
                maha = 0.0
                for i in range(d):
                    acc = X[t, i] - means[c, i]
                    for j in range(i):
                        acc -= chol[c, i, j] * y[j]
                    y[i] = acc / chol[c, i, i]
                    maha += y[i] * y[i]
                out[t, c] = log_norm[c] - 0.5 * maha
