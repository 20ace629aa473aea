"""Numba kernel for Poisson log-densities (used by the Poisson emission).

A direct loop: the equivalent ``X @ log(lambdas).T`` is a matrix product of
shape (n_samples, n_features) x (n_features, n_components), which BLAS runs
slowly and on one thread for few features.
"""

import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True, nogil=True)
def poisson_log_density(X, log_lambdas, lambda_sums, log_factorials, out):
    """``out[t, k] = sum_d X[t, d] log(lambda[k, d]) - sum_d lambda[k, d] - log_factorials[t]``.

    A zero rate is the point mass at 0: its term is 0 where ``X[t, d] == 0``
    (not ``0 * log(0)``, which would be NaN) and ``-inf`` elsewhere.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Counts (as float64).
    log_lambdas : ndarray of shape (n_components, n_features)
        ``-inf`` for a zero rate.
    lambda_sums : ndarray of shape (n_components,)
    log_factorials : ndarray of shape (n_samples,)
        ``sum_d log(X[t, d]!)``.
    out : ndarray of shape (n_samples, n_components)
        Output.
    """
    n, d = X.shape
    k = log_lambdas.shape[0]
    for t in prange(n):
        for c in range(k):
            acc = 0.0
            for j in range(d):
                if X[t, j] != 0.0:
                    acc += X[t, j] * log_lambdas[c, j]
            out[t, c] = acc - lambda_sums[c] - log_factorials[t]


@njit(cache=True, parallel=True, nogil=True)
def table_row_sums(X, table, out):
    """``out[t] = sum_d table[X[t, d]]``: e.g. ``sum_d log(X[t, d]!)`` from a
    table of ``log(x!)``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Non-negative integers (as float64) below ``table.shape[0]``.
    table : ndarray of shape (n_values,)
    out : ndarray of shape (n_samples,)
        Output.
    """
    n, d = X.shape
    for t in prange(n):
        acc = 0.0
        for j in range(d):
            acc += table[np.int64(X[t, j])]
        out[t] = acc
