"""Numba kernels for Gaussian log-densities (used by the Gaussian and GMM emissions).

Written as direct loops rather than the expanded ``x**2 @ prec - 2 x @ (mu*prec)``
form: that avoids cancellation when means are large relative to the spread,
and small matrix products of shape (n_samples, n_features) x (n_features, n)
are slow in BLAS.
"""

import numpy as np
from numba import njit, prange

from .partition import DENSITY_ROWS


def log_density(blocks, parallel, X, *args):
    """Run a log-density kernel over every row of ``X``: the block kernel
    ``blocks`` on the calling thread for one block of
    :data:`~fasthmm._kernels.partition.DENSITY_ROWS` rows or fewer (no
    parallel region to compile or start), else ``parallel``, which runs it
    a block per iteration. The rows do not depend on each other, so the
    values are the same either way.

    Parameters
    ----------
    blocks, parallel : Numba dispatchers
        ``blocks(X, *args, b0, b1)`` and ``parallel(X, *args)``.
    X : ndarray of shape (n_samples, n_columns)
    *args :
        The kernels' other arguments, the output last.
    """
    if X.shape[0] <= DENSITY_ROWS:
        blocks(X, *args, np.int64(0), np.int64(1))
    else:
        parallel(X, *args)


@njit(cache=True, nogil=True)
def diag_log_density_blocks(X, means, precisions, log_norm, out, b0, b1):
    """:func:`diag_log_density` over blocks ``b0:b1`` of
    :data:`~fasthmm._kernels.partition.DENSITY_ROWS` rows, on the calling
    thread (see :func:`log_density`)."""
    for t in range(b0 * DENSITY_ROWS, min(X.shape[0], b1 * DENSITY_ROWS)):
        diag_log_density_row(X[t], means, precisions, log_norm, out[t])


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
    n_blocks = (X.shape[0] + DENSITY_ROWS - 1) // DENSITY_ROWS
    for b in prange(n_blocks):
        diag_log_density_blocks(X, means, precisions, log_norm, out, b, b + 1)


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


@njit(cache=True, nogil=True)
def cholesky_log_density_blocks(X, means, chol, log_norm, out, b0, b1):
    """:func:`cholesky_log_density` over blocks ``b0:b1`` of rows, on the
    calling thread (see :func:`log_density`)."""
    y = np.empty(X.shape[1])
    for t in range(b0 * DENSITY_ROWS, min(X.shape[0], b1 * DENSITY_ROWS)):
        cholesky_log_density_row(X[t], means, chol, log_norm, y, out[t])


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
    n_blocks = (X.shape[0] + DENSITY_ROWS - 1) // DENSITY_ROWS
    for b in prange(n_blocks):
        cholesky_log_density_blocks(X, means, chol, log_norm, out, b, b + 1)


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
