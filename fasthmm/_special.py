"""The special functions variational Bayes needs, without SciPy.

``digamma`` (the derivative of log Gamma) and ``gammaln`` (log Gamma) of
arrays of positive reals, compiled with Numba. Accurate to about 1e-14
relative error (checked against SciPy in the tests when it is installed).
"""

import math

import numpy as np
from numba import njit

#: digamma's argument is raised above this by the recurrence before the
#: asymptotic series is used (series error below 1e-15 from here).
_ASYMPTOTIC_FROM = 10.0


@njit(cache=True, nogil=True)
def _digamma_scalar(x):
    if not x > 0.0:
        return -np.inf if x == 0.0 else np.nan
    result = 0.0
    while x < _ASYMPTOTIC_FROM:
        result -= 1.0 / x
        x += 1.0
    inv2 = 1.0 / (x * x)
    # ln x - 1/(2x) - sum_n B_2n / (2n x^2n)
    series = inv2 * (
        1.0 / 12.0
        - inv2
        * (
            1.0 / 120.0
            - inv2 * (1.0 / 252.0 - inv2 * (1.0 / 240.0 - inv2 * (1.0 / 132.0)))
        )
    )
    return result + math.log(x) - 0.5 / x - series


@njit(cache=True, nogil=True)
def _digamma_flat(x, out):
    for i in range(x.shape[0]):
        out[i] = _digamma_scalar(x[i])


@njit(cache=True, nogil=True)
def _gammaln_flat(x, out):
    for i in range(x.shape[0]):
        out[i] = math.lgamma(x[i]) if x[i] > 0.0 else np.nan


def _apply(kernel, x):
    arr = np.asarray(x, dtype=np.float64)
    flat = np.ascontiguousarray(arr).ravel()
    out = np.empty_like(flat)
    kernel(flat, out)
    return out.reshape(arr.shape) if arr.ndim else float(out[0])


def digamma(x):
    """psi(x) = d/dx log Gamma(x), elementwise, for x > 0 (NaN below, -inf at 0).

    Parameters
    ----------
    x : float or array-like

    Returns
    -------
    float or ndarray of the shape of ``x``
    """
    return _apply(_digamma_flat, x)


def gammaln(x):
    """log Gamma(x), elementwise, for x > 0 (NaN otherwise).

    Parameters
    ----------
    x : float or array-like

    Returns
    -------
    float or ndarray of the shape of ``x``
    """
    return _apply(_gammaln_flat, x)
