"""Numba kernels of the categorical family: the emission lookup and the
posterior-weighted symbol counts (its statistics).

The counts are summed in one of two ways, chosen by the sizes alone (never
the thread count), so the result is identical for any number of threads:

* a small vocabulary: each block of rows
  (:func:`~fasthmm._kernels.partition.row_blocks`) gets its own partial
  counts, summed by one thread in row order; the partial counts are then added
  block after block (their memory is at most that of the weights);
* a large vocabulary: one (n_symbols, n_components) accumulator; each thread
  owns a range of symbols and scans every row, adding only the rows whose
  symbol is in its range. Every count is summed in row order by exactly one
  thread, whatever the split of the symbols. The ranges hold similar numbers
  of rows (from a histogram of the symbols), so a skewed vocabulary still
  spreads the work.
"""

import numpy as np
from numba import njit, prange

from .partition import FRAME_ROWS, MIN_PARALLEL_COUNT_ROWS, row_blocks


@njit(cache=True, nogil=True)
def _symbol_ranges(symbols, n_symbols, n_ranges):
    """Symbol boundaries splitting the rows into ``n_ranges`` similar shares.

    Returns
    -------
    bounds : ndarray of shape (n_ranges + 1,), int64
        Range ``r`` holds the symbols ``bounds[r]:bounds[r + 1]``.
    """
    hist = np.zeros(n_symbols, dtype=np.int64)
    for t in range(symbols.shape[0]):
        hist[symbols[t]] += 1
    bounds = np.empty(n_ranges + 1, dtype=np.int64)
    bounds[0] = 0
    seen = 0
    r = 1
    for m in range(n_symbols):
        seen += hist[m]
        while r < n_ranges and seen * n_ranges >= r * symbols.shape[0]:
            bounds[r] = m + 1
            r += 1
    while r <= n_ranges:
        bounds[r] = n_symbols
        r += 1
    return bounds


@njit(cache=True, parallel=True, nogil=True)
def symbol_counts(symbols, weights, counts, n_threads):
    """Add ``sum_t weights[t, k] * [symbols[t] == m]`` to ``counts[m, k]``.

    Parameters
    ----------
    symbols : ndarray of shape (n_samples,), int64
        In ``[0, n_symbols)``.
    weights : ndarray of shape (n_samples, n_components)
    counts : ndarray of shape (n_symbols, n_components)
        Accumulator (symbols by row, so that one sample touches one row).
    n_threads : int
        Threads to split the symbols among (``numba.get_num_threads()``);
        the result does not depend on it.
    """
    n, k = weights.shape
    n_symbols = counts.shape[0]
    rows, n_blocks = row_blocks(n)
    if n >= MIN_PARALLEL_COUNT_ROWS and n_blocks * n_symbols <= n:
        _block_counts(symbols, weights, counts, rows, n_blocks)
        return
    n_ranges = max(1, min(n_threads, counts.shape[0]))
    if n < MIN_PARALLEL_COUNT_ROWS:  # not worth a parallel region
        n_ranges = 1
    bounds = _symbol_ranges(symbols, counts.shape[0], n_ranges)
    for r in prange(n_ranges):
        lo, hi = bounds[r], bounds[r + 1]
        for t in range(n):
            s = symbols[t]
            if s >= lo and s < hi:
                row = counts[s]
                for c in range(k):
                    row[c] += weights[t, c]


@njit(cache=True, parallel=True, nogil=True)
def _block_counts(symbols, weights, counts, block_rows, n_blocks):
    """:func:`symbol_counts` by partial counts per block of rows, added in order."""
    n, k = weights.shape
    partial = np.zeros((n_blocks, counts.shape[0], k))
    for b in prange(n_blocks):
        for t in range(b * block_rows, min(n, (b + 1) * block_rows)):
            s = symbols[t]
            for c in range(k):
                partial[b, s, c] += weights[t, c]
    for b in range(n_blocks):
        for m in range(counts.shape[0]):
            for c in range(k):
                counts[m, c] += partial[b, m, c]


@njit(cache=True, parallel=True, nogil=True)
def gather_rows(table, symbols, out):
    """``out[t] = table[symbols[t]]``: the emission probabilities of each sample.

    Parallel over blocks of rows, so the first touch of a new ``out`` (page
    faults) is spread over the threads.

    Parameters
    ----------
    table : ndarray of shape (n_symbols, n_components)
        C-contiguous: the transposed emission probabilities.
    symbols : ndarray of shape (n_samples,), int64
    out : ndarray of shape (n_samples, n_components)
    """
    n, k = out.shape
    n_blocks = (n + FRAME_ROWS - 1) // FRAME_ROWS
    for b in prange(n_blocks):
        for t in range(b * FRAME_ROWS, min(n, (b + 1) * FRAME_ROWS)):
            row = table[symbols[t]]
            for c in range(k):
                out[t, c] = row[c]
