"""Posterior-weighted sums of the samples: the statistics of the Gaussian,
mixture and Poisson emissions in one parallel pass.

Each block of rows (:func:`fasthmm._kernels.partition.row_blocks`, fixed by
the number of rows alone) gets its own partial sums, computed by one thread
in row order; the partial sums are then added block after block. The result
is therefore identical for any number of threads.
"""

import numpy as np
from numba import njit, prange

#: What :func:`weighted_moments` computes besides the weight sums and
#: weighted sums: nothing, ``sum_t w x**2`` per feature, or ``sum_t w x x^T``.
FIRST, DIAGONAL, FULL = 0, 1, 2


@njit(cache=True, parallel=True, nogil=True)
def weighted_moments(X, weights, second_kind, block_rows, n_blocks, post, obs, second):
    """Weight sums, weighted sums and (optionally) weighted second moments.

    ``post[c] = sum_t w[t, c]``, ``obs[c, j] = sum_t w[t, c] X[t, j]``, and
    ``second[c, j] = sum_t w[t, c] X[t, j]**2`` (``DIAGONAL``) or
    ``second[c, i, j] = sum_t w[t, c] X[t, i] X[t, j]`` (``FULL``).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    weights : ndarray of shape (n_samples, n)
    second_kind : int
        ``FIRST``, ``DIAGONAL`` or ``FULL``.
    block_rows, n_blocks : int
        The split of the rows (:func:`~fasthmm._kernels.partition.row_blocks`).
    post : ndarray of shape (n,)
        Output.
    obs : ndarray of shape (n, n_features)
        Output.
    second : ndarray of shape (n, n_features) (``DIAGONAL``) or (n, n_features,
    n_features) (``FULL``), C-contiguous
        Output (untouched for ``FIRST``).
    """
    n_samples, d = X.shape
    k = weights.shape[1]
    d2 = d if second_kind == DIAGONAL else (d * d if second_kind == FULL else 0)
    p_blk = np.zeros((n_blocks, k))
    o_blk = np.zeros((n_blocks, k, d))
    s_blk = np.zeros((n_blocks, k, d2))
    for b in prange(n_blocks):
        p, o, s = p_blk[b], o_blk[b], s_blk[b]
        for t in range(b * block_rows, min(n_samples, (b + 1) * block_rows)):
            x = X[t]
            for c in range(k):
                w = weights[t, c]
                p[c] += w
                oc = o[c]
                for j in range(d):
                    oc[j] += w * x[j]
                if second_kind == DIAGONAL:
                    sc = s[c]
                    for j in range(d):
                        sc[j] += w * (x[j] * x[j])
                elif second_kind == FULL:
                    sc = s[c]
                    for i in range(d):
                        wx = w * x[i]
                        for j in range(d):
                            sc[i * d + j] += wx * x[j]
    post[:] = 0.0
    obs[:] = 0.0
    flat = second.reshape(-1)
    if second_kind != FIRST:
        flat[:] = 0.0
    for b in range(n_blocks):
        for c in range(k):
            post[c] += p_blk[b, c]
            for j in range(d):
                obs[c, j] += o_blk[b, c, j]
            for j in range(d2):
                flat[c * d2 + j] += s_blk[b, c, j]
