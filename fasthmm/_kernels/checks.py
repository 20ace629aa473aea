"""Numba kernels behind the input checks that scan every sample (the
checks themselves, and their messages, are in :mod:`fasthmm._validation`)."""

import numpy as np
from numba import njit, prange

from .partition import row_blocks


@njit(cache=True, parallel=True, nogil=True)
def integer_range(values):
    """Whether every value is an integer, and the smallest and largest value.

    One parallel pass over blocks of the values (min and max do not depend on
    the order, so neither does the result).

    Parameters
    ----------
    values : ndarray of shape (n,), float64
        ``n >= 1``; NaN counts as a non-integer.

    Returns
    -------
    integers : bool
    lo, hi : float
    """
    n = values.shape[0]
    rows, n_blocks = row_blocks(n)
    fractional = np.zeros(n_blocks, dtype=np.bool_)
    lo = np.full(n_blocks, np.inf)
    hi = np.full(n_blocks, -np.inf)
    for b in prange(n_blocks):
        bad = False
        low, high = np.inf, -np.inf
        for i in range(b * rows, min(n, (b + 1) * rows)):
            v = values[i]
            bad |= not (v == np.floor(v))
            low = min(low, v)
            high = max(high, v)
        fractional[b], lo[b], hi[b] = bad, low, high
    return not fractional.any(), lo.min(), hi.max()


@njit(cache=True, parallel=True, nogil=True)
def value_range(values):
    """Whether any value is NaN, and the smallest and largest value.

    Parameters
    ----------
    values : ndarray of shape (n,), float64
        ``n >= 1``.

    Returns
    -------
    has_nan : bool
    lo, hi : float
        Over the values that are not NaN.
    """
    n = values.shape[0]
    rows, n_blocks = row_blocks(n)
    nan = np.zeros(n_blocks, dtype=np.bool_)
    lo = np.full(n_blocks, np.inf)
    hi = np.full(n_blocks, -np.inf)
    for b in prange(n_blocks):
        found = False
        low, high = np.inf, -np.inf
        for i in range(b * rows, min(n, (b + 1) * rows)):
            v = values[i]
            found |= v != v
            low = min(low, v)
            high = max(high, v)
        nan[b], lo[b], hi[b] = found, low, high
    return nan.any(), lo.min(), hi.max()
