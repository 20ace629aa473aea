"""Numba kernels of the mixture emissions (GMMHMM): the steps of each state's
log-sum-exp over its mixture components, and of the components'
responsibilities, around one exponential in NumPy (vectorised; faster than
any exponential compiled here).

Row by row, parallel over the rows: every value depends on its row alone, so
the results are the same for any number of threads.
"""

import math

from numba import njit, prange


@njit(cache=True, parallel=True, nogil=True)
def shift_by_top(comp, log_weights, n_mix, tops):
    """``comp[t, m] += log_weights[m] - tops[t, s]`` in place, with ``tops[t, s]``
    the largest ``comp[t, m] + log_weights[m]`` of state ``s``'s components
    ``m`` (0 when none is finite: every term of the state is zero).

    Parameters
    ----------
    comp : ndarray of shape (n_samples, n_states * n_mix)
        Log densities of the components, state by state.
    log_weights : ndarray of shape (n_states * n_mix,)
        Log mixture weights (``-inf`` for a zero weight).
    n_mix : int
    tops : ndarray of shape (n_samples, n_states)
        Output.
    """
    n, k = tops.shape
    for t in prange(n):
        for m in range(comp.shape[1]):
            comp[t, m] += log_weights[m]
        for s in range(k):
            lo = s * n_mix
            top = comp[t, lo]
            for m in range(lo + 1, lo + n_mix):
                v = comp[t, m]
                top = v if v > top else top
            if not (-math.inf < top < math.inf):
                top = 0.0
            tops[t, s] = top
            for m in range(lo, lo + n_mix):
                comp[t, m] -= top


@njit(cache=True, parallel=True, nogil=True)
def state_totals(terms, n_mix, out):
    """``out[t, s] = sum_m terms[t, s n_mix + m]``: each state's sum over its
    components.

    Parameters
    ----------
    terms : ndarray of shape (n_samples, n_states * n_mix)
    n_mix : int
    out : ndarray of shape (n_samples, n_states)
        Output.
    """
    n, k = out.shape
    for t in prange(n):
        for s in range(k):
            total = 0.0
            for m in range(s * n_mix, (s + 1) * n_mix):
                total += terms[t, m]
            out[t, s] = total


@njit(cache=True, parallel=True, nogil=True)
def share_posteriors(terms, n_mix, posteriors):
    """Each state's posterior shared among its components in proportion to
    ``terms`` (``weight * density``), in place: the responsibilities. A
    state whose terms are all zero gets none.

    Parameters
    ----------
    terms : ndarray of shape (n_samples, n_states * n_mix)
        Overwritten by the responsibilities.
    n_mix : int
    posteriors : ndarray of shape (n_samples, n_states)
    """
    n, k = posteriors.shape
    for t in prange(n):
        for s in range(k):
            total = 0.0
            for m in range(s * n_mix, (s + 1) * n_mix):
                total += terms[t, m]
            factor = posteriors[t, s] / total if total > 0.0 else 0.0
            for m in range(s * n_mix, (s + 1) * n_mix):
                terms[t, m] *= factor
