"""Numba kernels for Gaussian log-densities (used by the Gaussian and GMM emissions).

Written as direct loops rather than the expanded ``x**2 @ prec - 2 x @ (mu*prec)``
form: that avoids cancellation when means are large relative to the spread,
and small matrix products of shape (n_samples, n_features) x (n_features, n)
are slow in BLAS.
"""

import numpy as np
from numba import njit, prange

from .partition import DENSITY_ROWS


@njit(cache=True, parallel=True, nogil=True)
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
    for t in prange(X.shape[0]):
        diag_log_density_row(X[t], means, precisions, log_norm, out[t])


@njit(cache=True, nogil=True)
def diag_log_density_row(x, means, precisions, log_norm, out):
    """:func:`diag_log_density` of one sample ``x`` (n_features,) into ``out`` (n,)."""
    d = x.shape[0]
    for c in range(means.shape[0]):
        acc = 0.0
        for j in range(d):
            diff = x[j] - means[c, j]
            acc += diff * diff * precisions[c, j]
        out[c] = log_norm[c] - 0.5 * acc


@njit(cache=True, parallel=True, nogil=True)
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
    n_blocks = (n_samples + DENSITY_ROWS - 1) // DENSITY_ROWS
    for b in prange(n_blocks):
        y = np.empty(d)
        for t in range(b * DENSITY_ROWS, min(n_samples, (b + 1) * DENSITY_ROWS)):
            cholesky_log_density_row(X[t], means, chol, log_norm, y, out[t])


@njit(cache=True, nogil=True)
def cholesky_log_density_row(x, means, chol, log_norm, y, out):
    """:func:`cholesky_log_density` of one sample ``x`` (n_features,) into
    ``out`` (n,); ``y`` (n_features,) is scratch space."""
    d = x.shape[0]
    for c in range(means.shape[0]):
        maha = 0.0
        for i in range(d):
            acc = x[i] - means[c, i]
            for j in range(i):
                acc -= chol[c, i, j] * y[j]
            y[i] = acc / chol[c, i, i]
            maha += y[i] * y[i]
        out[c] = log_norm[c] - 0.5 * maha
