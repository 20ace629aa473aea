"""Numba kernels for the emissions' sufficient statistics.

Each kernel splits the rows into a fixed number of blocks (independent of the
thread count), accumulates per-block partial sums in parallel, and adds the
blocks in order, so the statistics are identical for any number of threads.
"""

import numpy as np
from numba import njit, prange

from .partition import STATS_BLOCKS


@njit(cache=True)
def _block_range(n, n_blocks, b):
    return b * n // n_blocks, (b + 1) * n // n_blocks


@njit(cache=True, parallel=True)
def symbol_counts(symbols, weights, n_symbols, out):
    """Add ``sum_t weights[t, k] * [symbols[t] == m]`` to ``out[k, m]``.

    Parameters
    ----------
    symbols : ndarray of shape (n_samples,), int64
    weights : ndarray of shape (n_samples, n_components)
    n_symbols : int
    out : ndarray of shape (n_components, n_symbols)
    """
    n, k = weights.shape
    nb = min(STATS_BLOCKS, n)
    partial = np.zeros((nb, n_symbols, k))
    for b in prange(nb):
        lo, hi = _block_range(n, nb, b)
        acc = partial[b]
        for t in range(lo, hi):
            row = acc[symbols[t]]
            for c in range(k):
                row[c] += weights[t, c]
    for b in range(nb):
        for m in range(n_symbols):
            for c in range(k):
                out[c, m] += partial[b, m, c]
