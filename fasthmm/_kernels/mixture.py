"""Numba kernels of the mixture emissions (GMMHMM): each state's log-sum-exp
over its mixture components, and the components' responsibilities.

Parallel over blocks of rows; every value depends on its row alone, so the
results are the same for any number of threads. The exponentials are the
vectorised ones of :mod:`fasthmm._kernels.expmath`.
"""

import math

import numpy as np
from numba import njit, prange

from .expmath import exp_shifted_rows
from .partition import FRAME_ROWS


@njit(cache=True, nogil=True)
def _scaled_terms(comp, log_weights, n_states, n_mix, lo, hi, zero, tops):
    """Rows ``lo:hi`` of ``comp`` become ``weight * density`` over each state's
    largest term, in place; ``tops[(t - lo) * n_states + s]`` gets the log of
    that largest term (0 where every term of the state is zero)."""
    n = n_states * n_mix
    for t in range(lo, hi):
        for s in range(n_states):
            top = -math.inf
            for m in range(s * n_mix, (s + 1) * n_mix):
                top = max(top, comp[t, m] + log_weights[m])
            if not math.isfinite(top):
                top = 0.0
            tops[(t - lo) * n_states + s] = top
            for m in range(s * n_mix, (s + 1) * n_mix):
                comp[t, m] = comp[t, m] + log_weights[m] - top
    bits = np.empty((hi - lo) * n, dtype=np.int64)
    exp_shifted_rows(comp, zero, lo, hi, bits)


@njit(cache=True, parallel=True, nogil=True)
def mixture_log_sum(comp, log_weights, n_mix, out):
    """``out[t, s] = log sum_m exp(comp[t, s n_mix + m] + log_weights[s n_mix + m])``.

    Parameters
    ----------
    comp : ndarray of shape (n_samples, n_states * n_mix)
        Log densities of the components, state by state; overwritten
        (scratch).
    log_weights : ndarray of shape (n_states * n_mix,)
        Log mixture weights (``-inf`` for a zero weight).
    n_mix : int
    out : ndarray of shape (n_samples, n_states)
        Output (``-inf`` where every term is zero).
    """
    n_samples, k = out.shape
    zero = np.zeros(n_samples)
    n_blocks = (n_samples + FRAME_ROWS - 1) // FRAME_ROWS
    for b in prange(n_blocks):
        lo, hi = b * FRAME_ROWS, min(n_samples, (b + 1) * FRAME_ROWS)
        tops = np.empty((hi - lo) * k)
        _scaled_terms(comp, log_weights, k, n_mix, lo, hi, zero, tops)
        for t in range(lo, hi):
            for s in range(k):
                total = 0.0
                for m in range(s * n_mix, (s + 1) * n_mix):
                    total += comp[t, m]
                top = tops[(t - lo) * k + s]
                out[t, s] = (math.log(total) if total > 0.0 else -math.inf) + top


@njit(cache=True, parallel=True, nogil=True)
def mixture_responsibilities(comp, log_weights, n_mix, posteriors):
    """``p(state s, component m | x_t)``, in place of ``comp``: each state's
    posterior shared among its components in proportion to ``weight *
    density``.

    Parameters
    ----------
    comp : ndarray of shape (n_samples, n_states * n_mix)
        Log densities of the components, state by state; overwritten by the
        responsibilities. A state whose terms are all zero gets none.
    log_weights : ndarray of shape (n_states * n_mix,)
    n_mix : int
    posteriors : ndarray of shape (n_samples, n_states)
    """
    n_samples, k = posteriors.shape
    zero = np.zeros(n_samples)
    n_blocks = (n_samples + FRAME_ROWS - 1) // FRAME_ROWS
    for b in prange(n_blocks):
        lo, hi = b * FRAME_ROWS, min(n_samples, (b + 1) * FRAME_ROWS)
        tops = np.empty((hi - lo) * k)
        _scaled_terms(comp, log_weights, k, n_mix, lo, hi, zero, tops)
        for t in range(lo, hi):
            for s in range(k):
                total = 0.0
                for m in range(s * n_mix, (s + 1) * n_mix):
                    total += comp[t, m]
                factor = posteriors[t, s] / total if total > 0.0 else 0.0
                for m in range(s * n_mix, (s + 1) * n_mix):
                    comp[t, m] *= factor
