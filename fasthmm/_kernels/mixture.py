"""Numba kernels of the mixture emissions (GMMHMM): each state's log-sum-exp
over its mixture components, and the components' responsibilities.

Row by row, parallel over the rows: every value depends on its row alone, so
the results are the same for any number of threads.
"""

import math

from numba import njit, prange


@njit(cache=True, inline="always", nogil=True)
def _top(comp, log_weights, t, lo, hi):
    """Largest ``comp[t, m] + log_weights[m]`` over ``m`` in ``lo:hi``; 0
    when it is not finite (all terms zero), as the shift of a log-sum-exp."""
    top = -math.inf
    for m in range(lo, hi):
        top = max(top, comp[t, m] + log_weights[m])
    return top if math.isfinite(top) else 0.0


@njit(cache=True, parallel=True, nogil=True)
def mixture_log_sum(comp, log_weights, n_mix, out):
    """``out[t, s] = log sum_m exp(comp[t, s n_mix + m] + log_weights[s n_mix + m])``.

    Parameters
    ----------
    comp : ndarray of shape (n_samples, n_states * n_mix)
        Log densities of the components, state by state.
    log_weights : ndarray of shape (n_states * n_mix,)
        Log mixture weights (``-inf`` for a zero weight).
    n_mix : int
    out : ndarray of shape (n_samples, n_states)
        Output (``-inf`` where every term is zero).
    """
    n, k = out.shape
    for t in prange(n):
        for s in range(k):
            lo, hi = s * n_mix, (s + 1) * n_mix
            top = _top(comp, log_weights, t, lo, hi)
            total = 0.0
            for m in range(lo, hi):
                total += math.exp(comp[t, m] + log_weights[m] - top)
            out[t, s] = (math.log(total) if total > 0.0 else -math.inf) + top


@njit(cache=True, parallel=True, nogil=True)
def mixture_responsibilities(comp, log_weights, n_mix, posteriors, out):
    """``p(state s, component m | x_t)``: each state's posterior shared among its
    components in proportion to ``weight * density``.

    Parameters
    ----------
    comp : ndarray of shape (n_samples, n_states * n_mix)
        Log densities of the components, state by state.
    log_weights : ndarray of shape (n_states * n_mix,)
    n_mix : int
    posteriors : ndarray of shape (n_samples, n_states)
    out : ndarray of shape (n_samples, n_states * n_mix)
        Output; may be ``comp`` itself. A state whose terms are all zero gets
        no responsibility.
    """
    n, k = posteriors.shape
    for t in prange(n):
        for s in range(k):
            lo, hi = s * n_mix, (s + 1) * n_mix
            top = _top(comp, log_weights, t, lo, hi)
            total = 0.0
            for m in range(lo, hi):
                e = math.exp(comp[t, m] + log_weights[m] - top)
                out[t, m] = e
                total += e
            factor = posteriors[t, s] / total if total > 0.0 else 0.0
            for m in range(lo, hi):
                out[t, m] *= factor
