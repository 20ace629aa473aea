"""Numba kernels of the E-step, Viterbi and sampling.

Everything here is a pure ``@njit(cache=True, nogil=True)`` function over
float64 / int64 (or int32 for internal back-pointers) arrays. Nothing validates, nothing
allocates inside a time loop; buffers come from the caller.

Conventions
-----------
A batch of sequences is a concatenation of ``n_samples`` rows described by
``starts`` (int64, shape ``(n_sequences + 1,)``): sequence ``s`` occupies rows
``starts[s]:starts[s + 1]``.

The *frame* is the emission probability matrix shifted per time step:
``frame[t, k] = exp(log_emissions[t, k] - shift[t])`` with
``shift[t] = max_k log_emissions[t, k]``, so that log-emissions of -1e4 do not
underflow. The forward recursion is scaled: ``alpha[t]`` is the filtered
distribution p(z_t | x_1..x_t), and ``scale[t]`` is its normaliser, so that the
log-likelihood of a sequence is ``sum_t log(scale[t]) + shift[t]``.

Batch kernels run over *blocks* of consecutive sequences with ``prange``. The
blocks depend only on the sequence lengths (never on the thread count), and the
per-block sums are added in a fixed order by the caller, so results are
identical for any number of threads.
"""

import numpy as np
from numba import njit, prange

from .expmath import exp_shifted_rows
from .fma import fma
from .partition import FRAME_ROWS

NEG_INF = -np.inf
TINY = np.finfo(np.float64).tiny  # smallest normal float64
XI_STEPS = 4  # time steps added to the transition counts per pass
# Largest K for which the Viterbi step takes rows eight at a time (measured on
# AVX-512: 1.1-3x faster than a row at a time for K = 8..32, 0.85x at K = 64).
VITERBI_BLOCK_MAX_K = 32
#: A step whose normaliser is below this (2**-600, about 2.4e-181) leaves its
#: sequence unsettled (NaN) for the exact log-space route. The frame is
#: shifted by the row's largest log-emission over all states; when the states
#: that carry the chain's probability sit far below that state (it is
#: reachable but improbable, or unreachable), their terms of the normaliser
#: reach the subnormal range and lose precision (absolutely, about 2**-1074
#: each), and filtered probabilities below about 2**-1074 / normaliser are
#: lost. Above the floor, the normaliser is exact to ``K * 2**-474`` relative.
NORMALISER_FLOOR = 2.0**-600


@njit(cache=True, parallel=True, nogil=True)
def exp_shift_from(src, frame, shift):
    """Write the frame of the log-emissions ``src`` into ``frame``.

    ``frame[t] = exp(src[t] - shift[t])`` with ``shift[t] = max(src[t])``; the
    copy happens inside the parallel loop, so the first touch of a new
    ``frame`` is spread over the threads. ``src`` may be ``frame`` itself.

    Parameters
    ----------
    src : ndarray of shape (n_samples, n_components)
        Log-emissions.
    frame : ndarray of shape (n_samples, n_components)
        Output.
    shift : ndarray of shape (n_samples,)
        Output: the per-row maximum (0 for a row that is entirely -inf).
    """
    n, k = frame.shape
    n_blocks = (n + FRAME_ROWS - 1) // FRAME_ROWS
    for b in prange(n_blocks):
        lo = b * FRAME_ROWS
        hi = min(n, lo + FRAME_ROWS)
        bits = np.empty((hi - lo) * k, dtype=np.int64)
        for t in range(lo, hi):
            m = NEG_INF
            for j in range(k):
                v = src[t, j]
                frame[t, j] = v
                m = max(m, v)
            shift[t] = 0.0 if m == NEG_INF else m
        exp_shifted_rows(frame, shift, lo, hi, bits)


@njit(cache=True, inline="always", nogil=True)
def vecmat_rows(v, vi, m, out, oi):
    """``out[oi] = v[vi] @ m`` for a square ``m``, summing rows in order.

    Every column is the running sum ``fma(v[n-1], m[n-1, j], ... fma(v[0],
    m[0, j], 0))``: one fused multiply-add per row, in row order, so the result
    does not depend on how the rows are grouped. Rows of ``m`` are taken eight
    at a time (then four, then one): each load and store of ``out[oi, j]``
    carries eight multiply-adds from eight rows whose scalars ``v[vi, i]`` sit
    in registers, and the loop over the contiguous columns vectorises. Rows
    are addressed by index rather than passed as views: a view made at every
    time step costs more than the arithmetic of a small-K step.

    Parameters
    ----------
    v : ndarray of shape (n_rows_v, n)
    vi : int
    m : ndarray of shape (n, n)
    out : ndarray of shape (n_rows_out, n)
        Row ``oi`` is written; may be ``v`` itself if ``oi != vi``.
    oi : int
    """
    n = m.shape[0]
    for j in range(n):
        out[oi, j] = 0.0
    i = 0
    while i + 8 <= n:
        a0 = v[vi, i]
        a1 = v[vi, i + 1]
        a2 = v[vi, i + 2]
        a3 = v[vi, i + 3]
        a4 = v[vi, i + 4]
        a5 = v[vi, i + 5]
        a6 = v[vi, i + 6]
        a7 = v[vi, i + 7]
        for j in range(n):
            x = fma(a0, m[i, j], out[oi, j])
            x = fma(a1, m[i + 1, j], x)
            x = fma(a2, m[i + 2, j], x)
            x = fma(a3, m[i + 3, j], x)
            x = fma(a4, m[i + 4, j], x)
            x = fma(a5, m[i + 5, j], x)
            x = fma(a6, m[i + 6, j], x)
            out[oi, j] = fma(a7, m[i + 7, j], x)
        i += 8
    if i + 4 <= n:
        a0 = v[vi, i]
        a1 = v[vi, i + 1]
        a2 = v[vi, i + 2]
        a3 = v[vi, i + 3]
        for j in range(n):
            x = fma(a0, m[i, j], out[oi, j])
            x = fma(a1, m[i + 1, j], x)
            x = fma(a2, m[i + 2, j], x)
            out[oi, j] = fma(a3, m[i + 3, j], x)
        i += 4
    while i < n:
        a = v[vi, i]
        for j in range(n):
            out[oi, j] = fma(a, m[i, j], out[oi, j])
        i += 1


@njit(cache=True, nogil=True)
def vecmat(v, m, out):
    """``out = v @ m`` on one-dimensional ``v`` and ``out``: :func:`vecmat_rows`.

    Parameters
    ----------
    v : ndarray of shape (n,)
    m : ndarray of shape (n, n)
    out : ndarray of shape (n,)
        Output; must not overlap ``v``.
    """
    n = m.shape[0]
    vecmat_rows(v.reshape((1, n)), 0, m, out.reshape((1, n)), 0)


@njit(cache=True, nogil=True)
def add_transition_counts(f_buf, w_buf, n_steps, transmat, xi_acc):
    """Add ``sum_u f_buf[u, i] * transmat[i, j] * w_buf[u, j]`` to ``xi_acc``.

    Adding several time steps per pass over ``xi_acc`` divides its loads and
    stores by that many.

    Parameters
    ----------
    f_buf, w_buf : ndarray of shape (XI_STEPS, n_components)
    n_steps : int
        Number of buffered steps (rows) to add.
    transmat : ndarray of shape (n_components, n_components)
    xi_acc : ndarray of shape (n_components, n_components)
    """
    k = transmat.shape[0]
    if n_steps == XI_STEPS:
        for i in range(k):
            f0 = f_buf[0, i]
            f1 = f_buf[1, i]
            f2 = f_buf[2, i]
            f3 = f_buf[3, i]
            if f0 == 0.0 and f1 == 0.0 and f2 == 0.0 and f3 == 0.0:
                continue
            for j in range(k):
                x = f0 * w_buf[0, j]
                x = fma(f1, w_buf[1, j], x)
                x = fma(f2, w_buf[2, j], x)
                x = fma(f3, w_buf[3, j], x)
                xi_acc[i, j] = fma(transmat[i, j], x, xi_acc[i, j])
        return
    for u in range(n_steps):
        for i in range(k):
            f = f_buf[u, i]
            if f != 0.0:
                for j in range(k):
                    xi_acc[i, j] += f * (transmat[i, j] * w_buf[u, j])


@njit(cache=True, inline="always", nogil=True)
def viterbi_max_rows(v, vi, m, out, oi, arg, ai):
    """``out[oi, j] = max(out[oi, j], max_i v[vi, i] + m[i, j])``, ``arg`` its argmax.

    ``arg[ai, j]`` becomes the first ``i`` (in increasing order) whose
    candidate is strictly larger than everything before it, ``out[oi, j]``
    included: ties go to the lowest index. Up to ``VITERBI_BLOCK_MAX_K``
    states, rows of ``m`` are taken eight at a time (the rest one at a time),
    so that each load and store of ``out[oi, j]`` and ``arg[ai, j]`` carries
    eight comparisons, made by selects that vectorise over the contiguous
    columns. For more states, a row at a time (a compare and two masked
    stores per vector of columns) is faster. A row with ``v[vi, i] = -inf`` changes nothing (its
    candidates are all ``-inf``), so no test skips it.

    Parameters
    ----------
    v : ndarray of shape (n_rows_v, n)
    vi : int
    m : ndarray of shape (n, n)
        Log-transition matrix (no NaN, no ``+inf``).
    out : ndarray of shape (n_rows_out, n)
        Row ``oi`` is updated; may be ``v`` itself if ``oi != vi``.
    oi : int
    arg : ndarray of shape (n_rows_arg, n), int32
        Row ``ai`` is updated with the argmax.
    ai : int
    """
    n = m.shape[0]
    if n > VITERBI_BLOCK_MAX_K:
        for i in range(n):
            _max_row(v[vi, i], i, m, out, oi, arg, ai)
        return
    i = 0
    while i + 8 <= n:
        d0 = v[vi, i]
        d1 = v[vi, i + 1]
        d2 = v[vi, i + 2]
        d3 = v[vi, i + 3]
        d4 = v[vi, i + 4]
        d5 = v[vi, i + 5]
        d6 = v[vi, i + 6]
        d7 = v[vi, i + 7]
        for j in range(n):
            # Written out rather than eight calls of an inlined helper: the
            # same code, compiled in less time.
            best = out[oi, j]
            where = arg[ai, j]
            c = d0 + m[i, j]
            if c > best:
                best, where = c, np.int32(i)
            c = d1 + m[i + 1, j]
            if c > best:
                best, where = c, np.int32(i + 1)
            c = d2 + m[i + 2, j]
            if c > best:
                best, where = c, np.int32(i + 2)
            c = d3 + m[i + 3, j]
            if c > best:
                best, where = c, np.int32(i + 3)
            c = d4 + m[i + 4, j]
            if c > best:
                best, where = c, np.int32(i + 4)
            c = d5 + m[i + 5, j]
            if c > best:
                best, where = c, np.int32(i + 5)
            c = d6 + m[i + 6, j]
            if c > best:
                best, where = c, np.int32(i + 6)
            c = d7 + m[i + 7, j]
            if c > best:
                best, where = c, np.int32(i + 7)
            out[oi, j] = best
            arg[ai, j] = where
        i += 8
    while i < n:
        _max_row(v[vi, i], i, m, out, oi, arg, ai)
        i += 1


@njit(cache=True, inline="always", nogil=True)
def _max_row(d, i, m, out, oi, arg, ai):
    """Row ``i`` of :func:`viterbi_max_rows`: candidates ``d + m[i]``."""
    if d > NEG_INF:
        for j in range(m.shape[0]):
            c = d + m[i, j]
            if c > out[oi, j]:
                out[oi, j] = c
                arg[ai, j] = i


@njit(cache=True, nogil=True)
def viterbi_sequence(
    log_emissions, log_startprob, log_transmat, lo, hi, delta, back, states
):
    """Most likely state path of rows ``lo:hi``, in log space.

    Ties are broken towards the lowest state index.

    Parameters
    ----------
    log_emissions : ndarray of shape (n_samples, n_components)
    log_startprob : ndarray of shape (n_components,)
    log_transmat : ndarray of shape (n_components, n_components)
    lo, hi : int
    delta : ndarray of shape (2, n_components)
        Scratch space.
    back : ndarray of shape (n_samples, n_components), int32
        Scratch space for back-pointers.
    states : ndarray of shape (n_samples,), int64
        Output: the decoded path.

    Returns
    -------
    log_prob : float
    """
    k = log_emissions.shape[1]
    cur = 0
    for j in range(k):
        delta[cur, j] = log_startprob[j] + log_emissions[lo, j]
    for t in range(lo + 1, hi):
        nxt = 1 - cur
        for j in range(k):
            delta[nxt, j] = NEG_INF
            back[t, j] = 0
        viterbi_max_rows(delta, cur, log_transmat, delta, nxt, back, t)
        for j in range(k):
            delta[nxt, j] += log_emissions[t, j]
        cur = nxt
    best = 0
    for j in range(1, k):
        if delta[cur, j] > delta[cur, best]:
            best = j
    log_prob = delta[cur, best]
    states[hi - 1] = best
    for t in range(hi - 1, lo, -1):
        best = back[t, best]
        states[t - 1] = best
    return log_prob


@njit(cache=True, nogil=True)
def viterbi_blocks(
    log_emissions, log_startprob, log_transmat, starts, blocks, b0, b1, back, states, lp
):
    """Viterbi over the sequences of blocks ``b0:b1``, on the calling thread.

    Python runs it over every block, or over contiguous ranges of blocks on
    several threads at once (:func:`fasthmm._threads.run_blocks`; the kernel
    releases the GIL): each sequence is decoded alone, so the result does
    not depend on the split, and no parallel kernel is compiled.

    Parameters
    ----------
    log_emissions : ndarray of shape (n_samples, n_components)
    log_startprob : ndarray of shape (n_components,)
    log_transmat : ndarray of shape (n_components, n_components)
    starts : ndarray of shape (n_sequences + 1,)
    blocks : ndarray of shape (n_blocks + 1,)
        Sequence indices where the blocks of
        :func:`~fasthmm._kernels.partition.block_bounds` begin.
    b0, b1 : int
    back : ndarray of shape (n_samples, n_components), int32
        Scratch space for back-pointers.
    states : ndarray of shape (n_samples,), int64
        Output: decoded paths.
    lp : ndarray of shape (n_sequences,)
        Output: log-probability of each sequence's best path.
    """
    k = log_emissions.shape[1]
    delta = np.empty((2, k))
    for b in range(b0, b1):
        for s in range(blocks[b], blocks[b + 1]):
            lp[s] = viterbi_sequence(
                log_emissions,
                log_startprob,
                log_transmat,
                starts[s],
                starts[s + 1],
                delta,
                back,
                states,
            )


@njit(cache=True, nogil=True)
def sample_states(cum_startprob, cum_transmat, uniforms, states):
    """Draw a Markov chain by inverse-CDF sampling.

    Parameters
    ----------
    cum_startprob : ndarray of shape (n_components,)
        Cumulative sum of the first state's distribution.
    cum_transmat : ndarray of shape (n_components, n_components)
        Row-wise cumulative sums of the transition matrix.
    uniforms : ndarray of shape (n_samples,)
        Draws from U[0, 1).
    states : ndarray of shape (n_samples,), int64
        Output.
    """
    k = cum_startprob.shape[0]
    n = uniforms.shape[0]
    if n == 0:
        return
    z = min(
        np.searchsorted(cum_startprob, uniforms[0] * cum_startprob[k - 1], "right"),
        k - 1,
    )
    states[0] = z
    for t in range(1, n):
        row = cum_transmat[z]
        z = min(np.searchsorted(row, uniforms[t] * row[k - 1], "right"), k - 1)
        states[t] = z


@njit(cache=True, parallel=True, nogil=True)
def backward_sample_batch(alpha, transmat, starts, uniforms, states):
    """Forward-filtering backward-sampling of state paths.

    Parameters
    ----------
    alpha : ndarray of shape (n_samples, n_components)
        Filtered distributions of a forward pass
        (:func:`fasthmm.inference.forward_pass`).
    transmat : ndarray of shape (n_components, n_components)
    starts : ndarray of shape (n_sequences + 1,)
    uniforms : ndarray of shape (n_draws, n_samples)
    states : ndarray of shape (n_draws, n_samples), int64
        Output: one path per draw.
    """
    k = alpha.shape[1]
    n_draws = uniforms.shape[0]
    n_seq = starts.shape[0] - 1
    for d in prange(n_draws):
        w = np.empty(k)
        for s in range(n_seq):
            lo = starts[s]
            hi = starts[s + 1]
            z = -1
            for t in range(hi - 1, lo - 1, -1):
                tot = 0.0
                for i in range(k):
                    p = alpha[t, i] if z < 0 else alpha[t, i] * transmat[i, z]
                    tot += p
                    w[i] = tot
                u = uniforms[d, t] * tot
                z = k - 1
                for i in range(k):
                    if u < w[i]:
                        z = i
                        break
                states[d, t] = z
