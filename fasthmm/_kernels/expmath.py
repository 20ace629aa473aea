"""Vectorisable elementary functions for the kernels.

Numba calls libm's ``exp`` one element at a time (SVML is not available in
the stock llvmlite). :func:`exp_row` computes ``exp`` over a contiguous row with
straight-line arithmetic that LLVM vectorises: Cody-Waite range reduction
``x = k ln2 + r`` with ``|r| <= ln2 / 2``, a degree-13 Taylor polynomial for
``exp(r)`` (truncation error below 1e-17 relative), and ``2**k`` assembled in
the exponent bits. The result is within a few ulp of ``np.exp``. Inputs below
``-708`` (results in the denormal range) give 0.
"""

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

LOG2E = 1.4426950408889634
LN2_HI = 0.6931471803691238  # ln 2 split so that k * LN2_HI is exact
LN2_LO = 1.9082149292705877e-10
UNDERFLOW = -708.0
# 1/n! for n = 13 .. 0, for Horner's scheme.
INV_FACTORIALS = np.array(
    [
        1.0 / 6227020800.0,
        1.0 / 479001600.0,
        1.0 / 39916800.0,
        1.0 / 3628800.0,
        1.0 / 362880.0,
        1.0 / 40320.0,
        1.0 / 5040.0,
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
        1.0,
        1.0,
    ]
)


@intrinsic
def _as_float(typingctx, bits):
    """The float64 whose bits are the int64 ``bits`` (a bit cast: what an
    int64 array's float64 view holds, without compiling an array view)."""
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return sig, codegen


@njit(cache=True, inline="always", nogil=True)
def _exp_poly(r):
    c = INV_FACTORIALS
    p = c[0]
    for i in range(1, 14):
        p = p * r + c[i]
    return p


@njit(cache=True, inline="always", nogil=True)
def _exp_parts(v):
    """``exp(v)`` in two parts whose product it is.

    Returns
    -------
    mantissa : float
        The polynomial of the reduced argument (0 when ``v < UNDERFLOW``).
    exponent_bits : int64
        The bits of the float64 ``2**k``.
    """
    under = v < UNDERFLOW
    v = max(v, UNDERFLOW)
    k = np.floor(v * LOG2E + 0.5)
    r = (v - k * LN2_HI) - k * LN2_LO
    return (0.0 if under else _exp_poly(r)), (np.int64(k) + 1023) << 52


@njit(cache=True, nogil=True)
def exp_shifted_rows(frame, shift, lo, hi, bits):
    """``frame[t, j] = exp(frame[t, j] - shift[t])`` for rows ``lo:hi``, in place.

    Parameters
    ----------
    frame : ndarray of shape (n_samples, n)
    shift : ndarray of shape (n_samples,)
    lo, hi : int
    bits : ndarray of shape (>= (hi - lo) * n,), int64
        Scratch space.
    """
    n = frame.shape[1]
    for t in range(lo, hi):
        m = shift[t]
        base = (t - lo) * n
        for j in range(n):
            p, e = _exp_parts(frame[t, j] - m)
            bits[base + j] = e
            frame[t, j] = p
    for t in range(lo, hi):
        base = (t - lo) * n
        for j in range(n):
            frame[t, j] *= _as_float(bits[base + j])


@njit(cache=True, nogil=True)
def exp_flat(values, n, bits):
    """``values[:n] = exp(values[:n])`` in place, as :func:`exp_shifted_rows`.

    One loop over a flat array, so it vectorises whatever the row length
    (a row of two states does not). Each value is computed exactly as
    :func:`exp_shifted_rows` computes it.

    Parameters
    ----------
    values : ndarray of shape (>= n,)
    n : int
    bits : ndarray of shape (>= n,), int64
        Scratch space.
    """
    for i in range(n):
        p, e = _exp_parts(values[i])
        bits[i] = e
        values[i] = p
    for i in range(n):
        values[i] *= _as_float(bits[i])
