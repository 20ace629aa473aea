"""Posterior-weighted sums of the samples, shared by the Gaussian, mixture and
Poisson emissions (the kernels of :mod:`fasthmm._kernels.moments`)."""

import numpy as np

from .._kernels import moments as _km
from .._kernels.partition import row_blocks
from .._threads import run_blocks


def weighted_sums(X, weights, second=None):
    """Weight sums, weighted sums and optionally weighted second moments.

    The same for any number of threads (sums over fixed blocks of rows, added
    in order).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    weights : ndarray of shape (n_samples, n)
    second : {None, "diagonal", "full"}
        Which second moments to compute: none, ``sum_t w x**2`` per feature,
        or ``sum_t w x x^T``.

    Returns
    -------
    post : ndarray of shape (n,)
        ``sum_t weights[t]``.
    obs : ndarray of shape (n, n_features)
        ``sum_t weights[t, c] X[t]``.
    moments : ndarray of shape (n, n_features) or (n, n_features, n_features), or None
    """
    X = np.ascontiguousarray(X, dtype=np.float64)
    weights = np.ascontiguousarray(weights, dtype=np.float64)
    n, d = weights.shape[1], X.shape[1]
    rows, n_blocks = row_blocks(X.shape[0])
    if second is None:
        post, obs = np.empty(n), np.empty((n, d))
        _km.weighted_first(X, weights, rows, n_blocks, post, obs)
        return post, obs, None
    shape = (n, d) if second == "diagonal" else (n, d, d)
    p_blk, o_blk = np.zeros((n_blocks, n)), np.zeros((n_blocks, n * d))
    s_blk = np.zeros((n_blocks, n * d * (d if second == "full" else 1)))
    blocks = _km.diagonal_blocks if second == "diagonal" else _km.full_blocks
    # Each block's partial sums on one thread (contiguous ranges of blocks on
    # several threads at once, from Python: no parallel kernel to compile),
    # then added in block order (NumPy adds the rows of a C-contiguous array
    # one after another when it sums over the leading axis).
    if n_blocks == 1:  # its partial sums are the sums (0 + x = x)
        blocks(X, weights, rows, 0, 1, p_blk, o_blk, s_blk)
        return p_blk[0], o_blk[0].reshape(n, d), s_blk[0].reshape(shape)
    run_blocks(blocks, (X, weights, rows), (p_blk, o_blk, s_blk), n_blocks)
    post, obs, moments = (a.sum(axis=0) for a in (p_blk, o_blk, s_blk))
    return post, obs.reshape(n, d), moments.reshape(shape)


def add_observed_sums(stats, features, X, weights, second=False):
    """Add posterior-weighted sums over observed entries, in place.

    ``stats["post"]`` gets the rows' mass, ``stats["post_features"]`` the
    mass of the rows observing each feature, ``stats["obs"]`` (and, with
    ``second``, ``stats["second"]``) the sums of the observed values (and of
    their squares). Shared by every family with independent features.

    Parameters
    ----------
    stats : dict
    features : ndarray of int64
        The features (columns of ``stats``' arrays) ``X`` holds.
    X : ndarray of shape (n_rows, features.size)
        Their values, NaN where missing (weighed 0).
    weights : ndarray of shape (n_rows, n)
    second : bool
    """
    seen = ~np.isnan(X)
    values = np.where(seen, X, 0.0)
    post, obs, moments = weighted_sums(values, weights, "diagonal" if second else None)
    _, mass, _ = weighted_sums(seen.astype(np.float64), weights)
    stats["post"] += post
    stats["post_features"][:, features] += mass
    stats["obs"][:, features] += obs
    if second:
        stats["second"][:, features] += moments
