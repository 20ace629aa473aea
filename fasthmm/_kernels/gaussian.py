"""Numba kernels for Gaussian log-densities (used by the Gaussian and GMM emissions).

Written as direct loops rather than the expanded ``x**2 @ prec - 2 x @ (mu*prec)``
form: that avoids cancellation when means are large relative to the spread,
and small matrix products of shape (n_samples, n_features) x (n_features, n)
are slow in BLAS.
"""

import numpy as np
from numba import njit

from .partition import DENSITY_ROWS


def log_density(blocks, X, *args):
    """Run a log-density block kernel over every row of ``X``.

    The rows are cut into blocks of
    :data:`~fasthmm._kernels.partition.DENSITY_ROWS`; ``blocks`` runs on
    the calling thread for one block, else over contiguous ranges of blocks
    on several threads at once from Python
    (:func:`fasthmm._threads.run_blocks`; the kernel releases the GIL), so
    no parallel kernel is compiled. The rows do not depend on each other, so
    the values are the same for any number of threads.

    Parameters
    ----------
    blocks : Numba dispatcher
        ``blocks(X, *args, b0, b1)``: the rows of blocks ``b0:b1``.
    X : ndarray of shape (n_samples, n_columns)
    *args :
        The kernel's other arguments, the output last.
    """
    from .._threads import run_blocks

    n_blocks = (X.shape[0] + DENSITY_ROWS - 1) // DENSITY_ROWS
    if n_blocks <= 1:
        blocks(X, *args, np.int64(0), np.int64(1))
    else:
        run_blocks(blocks, (X, *args), (), n_blocks)


@njit(cache=True, nogil=True)
def diag_log_density_blocks(X, means, precisions, log_norm, out, b0, b1):
    """Log density under diagonal-covariance Gaussians of the rows of blocks
    ``b0:b1`` (:data:`~fasthmm._kernels.partition.DENSITY_ROWS` rows each),
    on the calling thread (run by :func:`log_density`).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    means : ndarray of shape (n, n_features)
    precisions : ndarray of shape (n, n_features)
        Inverse variances.
    log_norm : ndarray of shape (n,)
        ``-0.5 * (n_features * log(2 pi) + sum(log variances))``.
    out : ndarray of shape (n_samples, n)
        Output (the rows of those blocks).
    b0, b1 : int
    """
    for t in range(b0 * DENSITY_ROWS, min(X.shape[0], b1 * DENSITY_ROWS)):
        diag_log_density_row(X[t], means, precisions, log_norm, out[t])


@njit(cache=True, inline="always", nogil=True)
def diag_log_density_row(x, means, precisions, log_norm, out):
    """:func:`diag_log_density_blocks` of one sample ``x`` (n_features,)
    into ``out`` (n,).

    Inlined into each calling kernel (at Numba's level): a callee of its
    own would be compiled, to machine code too, only to be linked into its
    callers, which costs more than typing this small loop again in each."""
    d = x.shape[0]
    for c in range(means.shape[0]):
        acc = 0.0
        for j in range(d):
            diff = x[j] - means[c, j]
            acc += diff * diff * precisions[c, j]
        out[c] = log_norm[c] - 0.5 * acc


@njit(cache=True, nogil=True)
def cholesky_log_density_blocks(X, means, chol, log_norm, out, b0, b1):
    """Log density under full-covariance Gaussians given Cholesky factors,
    of the rows of blocks ``b0:b1``, on the calling thread (run by
    :func:`log_density`).

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
        Output (the rows of those blocks).
    b0, b1 : int
    """
    y = np.empty(X.shape[1])
    for t in range(b0 * DENSITY_ROWS, min(X.shape[0], b1 * DENSITY_ROWS)):
        cholesky_log_density_row(X[t], means, chol, log_norm, y, out[t])


@njit(cache=True, inline="always", nogil=True)
def cholesky_log_density_row(x, means, chol, log_norm, y, out):
    """:func:`cholesky_log_density_blocks` of one sample ``x`` (n_features,)
    into ``out`` (n,); ``y`` (n_features,) is scratch space. Inlined into
    each calling kernel, as :func:`diag_log_density_row`."""
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
