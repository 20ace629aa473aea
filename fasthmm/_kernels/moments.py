"""Posterior-weighted sums of the samples: the statistics of the Gaussian,
mixture and Poisson emissions in one pass.

Each block of rows (:func:`fasthmm._kernels.partition.row_blocks`, fixed by
the number of rows alone) gets its own partial sums, computed by one thread
in row order; the partial sums are then added block after block. The result
is therefore identical for any number of threads. The first moments run in
a parallel kernel; the kernels with second moments run one block range on
the calling thread, and Python runs them on several threads at once
(:func:`fasthmm.emissions._weighted.weighted_sums`).

One kernel per kind of second moment, each a branch-free loop with plain
indexing, which LLVM vectorises over the features.
"""

import numpy as np
from numba import njit, prange


@njit(cache=True, nogil=True)
def _add_blocks(blocks, out):
    """``out = sum_b blocks[b]``, added in block order (``out`` flat)."""
    out[:] = 0.0
    for b in range(blocks.shape[0]):
        for i in range(out.shape[0]):
            out[i] += blocks[b, i]


@njit(cache=True, parallel=True, nogil=True)
def weighted_first(X, weights, block_rows, n_blocks, post, obs):
    """``post[c] = sum_t w[t, c]`` and ``obs[c, j] = sum_t w[t, c] X[t, j]``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    weights : ndarray of shape (n_samples, n)
    block_rows, n_blocks : int
        The split of the rows (:func:`~fasthmm._kernels.partition.row_blocks`).
    post : ndarray of shape (n,)
        Output.
    obs : ndarray of shape (n, n_features), C-contiguous
        Output.
    """
    n_samples, d = X.shape
    k = weights.shape[1]
    p_blk = np.zeros((n_blocks, k))
    o_blk = np.zeros((n_blocks, k * d))
    for b in prange(n_blocks):
        for t in range(b * block_rows, min(n_samples, (b + 1) * block_rows)):
            for c in range(k):
                w = weights[t, c]
                p_blk[b, c] += w
                for j in range(d):
                    o_blk[b, c * d + j] += w * X[t, j]
    _add_blocks(p_blk, post)
    _add_blocks(o_blk, obs.reshape(-1))


@njit(cache=True, nogil=True)
def diagonal_blocks(X, weights, block_rows, b0, b1, p_blk, o_blk, s_blk):
    """Partial sums of :func:`weighted_first` and of ``sum_t w[t, c]
    X[t, j]**2`` for blocks ``b0:b1`` of rows, on the calling thread.

    :func:`fasthmm.emissions._weighted.weighted_sums` runs it over every
    block (contiguous ranges of blocks on several threads at once, from
    Python) and adds the blocks in order.

    Parameters
    ----------
    X, weights, block_rows :
        As in :func:`weighted_first`.
    b0, b1 : int
    p_blk : ndarray of shape (n_blocks, n), zeros
        Output: ``sum_t w[t, c]`` of each block.
    o_blk, s_blk : ndarray of shape (n_blocks, n * n_features), zeros
        Output: ``sum_t w[t, c] X[t, j]`` and ``sum_t w[t, c] X[t, j]**2``
        of each block (``c * n_features + j``).
    """
    n_samples, d = X.shape
    k = weights.shape[1]
    for b in range(b0, b1):
        for t in range(b * block_rows, min(n_samples, (b + 1) * block_rows)):
            for c in range(k):
                w = weights[t, c]
                p_blk[b, c] += w
                for j in range(d):
                    x = X[t, j]
                    wx = w * x
                    o_blk[b, c * d + j] += wx
                    s_blk[b, c * d + j] += wx * x


@njit(cache=True, nogil=True)
def full_blocks(X, weights, block_rows, b0, b1, p_blk, o_blk, s_blk):
    """Partial sums of :func:`weighted_first` and of ``sum_t w[t, c] X[t, i]
    X[t, j]`` for blocks ``b0:b1`` of rows, as :func:`diagonal_blocks`.

    Parameters
    ----------
    X, weights, block_rows, b0, b1, p_blk, o_blk :
        As in :func:`diagonal_blocks`.
    s_blk : ndarray of shape (n_blocks, n * n_features**2), zeros
        Output: ``sum_t w[t, c] X[t, i] X[t, j]`` of each block
        (``(c * n_features + i) * n_features + j``).
    """
    n_samples, d = X.shape
    k = weights.shape[1]
    dd = d * d
    for b in range(b0, b1):
        for t in range(b * block_rows, min(n_samples, (b + 1) * block_rows)):
            for c in range(k):
                w = weights[t, c]
                p_blk[b, c] += w
                for i in range(d):
                    wx = w * X[t, i]
                    o_blk[b, c * d + i] += wx
                    for j in range(d):
                        s_blk[b, c * dd + i * d + j] += wx * X[t, j]
