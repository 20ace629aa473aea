"""Numba kernels behind the input checks that scan every sample (the
checks themselves, and their messages, are in :mod:`fasthmm._validation`).

Constant arguments are passed as ``np.int64`` / ``np.bool_`` values: a
literal would compile a specialisation of the callee of its own.

One pass over blocks of the values, the blocks shared out to threads from
Python; the smallest and largest value and the flags do not depend on the
order, so neither does any result. Each
block keeps four running minima and maxima (four independent chains of
comparisons, which the processor overlaps: as fast on one thread as NumPy's
``min`` and ``max`` together).
"""

import numpy as np
from numba import njit

from .partition import row_blocks


@njit(cache=True, nogil=True)
def _scan_block(values, start, stop, fractional):
    """``(flagged, lo, hi)`` of ``values[start:stop]``.

    ``flagged``: some value is NaN (or, when ``fractional``, not an
    integer: NaN included); ``lo``, ``hi``: the smallest and largest value
    that is not NaN (``inf``, ``-inf`` when there is none).

    Four values a pass, each with its own running minimum and maximum, are
    written out rather than made of calls to inlined helpers: the same
    code, compiled in about two thirds of the time.
    """
    count = 0
    l0 = l1 = l2 = l3 = np.inf
    h0 = h1 = h2 = h3 = -np.inf
    i = start
    while i + 4 <= stop:
        v0, v1, v2, v3 = values[i], values[i + 1], values[i + 2], values[i + 3]
        if fractional:
            count += (v0 != np.floor(v0)) + (v1 != np.floor(v1))
            count += (v2 != np.floor(v2)) + (v3 != np.floor(v3))
        else:
            count += (v0 != v0) + (v1 != v1) + (v2 != v2) + (v3 != v3)
        # A comparison with NaN is false: NaN leaves the extremes as they are.
        l0 = v0 if v0 < l0 else l0
        h0 = v0 if v0 > h0 else h0
        l1 = v1 if v1 < l1 else l1
        h1 = v1 if v1 > h1 else h1
        l2 = v2 if v2 < l2 else l2
        h2 = v2 if v2 > h2 else h2
        l3 = v3 if v3 < l3 else l3
        h3 = v3 if v3 > h3 else h3
        i += 4
    while i < stop:
        v = values[i]
        count += (v != np.floor(v)) if fractional else (v != v)
        l0 = v if v < l0 else l0
        h0 = v if v > h0 else h0
        i += 1
    return count > 0, min(min(l0, l1), min(l2, l3)), max(max(h0, h1), max(h2, h3))


@njit(cache=True, nogil=True)
def _scan_range(values, fractional, rows, b0, b1, flagged, lo, hi):
    """:func:`_scan_block` over the blocks ``b0:b1`` of ``rows`` values,
    each block's result in its own entry of ``flagged``, ``lo``, ``hi``."""
    n = values.shape[0]
    for b in range(b0, b1):
        start = b * rows
        flagged[b], lo[b], hi[b] = _scan_block(
            values, start, min(n, start + rows), fractional
        )


def _scan(values, fractional):
    """``(flagged, lo, hi)`` of all ``values``: :func:`_scan_range` over
    blocks on every thread (from Python, :func:`fasthmm._threads.run_blocks`:
    a serial kernel is far cheaper to compile than a parallel one)."""
    from .._threads import run_blocks

    rows, n_blocks = row_blocks(values.shape[0])
    flagged = np.zeros(n_blocks, dtype=np.bool_)
    lo = np.full(n_blocks, np.inf)
    hi = np.full(n_blocks, -np.inf)
    run_blocks(
        _scan_range,
        (values, np.bool_(fractional), np.int64(rows)),
        (flagged, lo, hi),
        n_blocks,
    )
    return bool(flagged.any()), float(lo.min()), float(hi.max())


def integer_range(values):
    """Whether every value is an integer, and the smallest and largest value.

    Parameters
    ----------
    values : ndarray of shape (n,), float64
        ``n >= 1``; NaN counts as a non-integer.

    Returns
    -------
    integers : bool
    lo, hi : float
        Over the values that are not NaN.
    """
    fractional, lo, hi = _scan(values, np.bool_(True))
    return not fractional, lo, hi


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
    return _scan(values, np.bool_(False))


def integer_range_serial(values):
    """:func:`integer_range` on the calling thread (no parallel region: for
    small arrays, where starting one, and compiling it, costs more than the
    scan). A Python function calling the kernel of one block directly, so
    that it compiles nothing of its own."""
    fractional, lo, hi = _scan_block(values, 0, values.shape[0], True)
    return not fractional, lo, hi


def value_range_serial(values):
    """:func:`value_range` on the calling thread (no parallel region: for
    small arrays, such as parameters, where starting one costs more than the
    scan), as :func:`integer_range_serial`."""
    return _scan_block(values, 0, values.shape[0], False)
