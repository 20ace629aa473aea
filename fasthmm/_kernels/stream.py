"""Numba kernels of the streaming object (:class:`fasthmm.stream.Stream`).

A stream's state is three small arrays owned by the caller:

``fstate`` (3 K + 2 + ROWS + 2 (lag + 1), K), float64
    Rows ``[0, 3K + 2)``: the chain, stacked once per stream (``startprob``,
    ``transmat``, its transpose, ``log(startprob)``, ``log(transmat)``; see
    :func:`fstate_of`). Then, from row ``S = 3K + 2``: ``S + ALPHA`` the last
    filtered row p(z_{t-1} | x_0..x_{t-1}), ``S + DELTA`` the Viterbi scores
    of the last step, ``S + LL`` (column 0) the running log-likelihood,
    scratch rows (``LE``, ``FRAME``, ``SMOOTH`` for one-row pushes). Then the
    fixed-lag ring, from row ``S + ROWS``: the filtered row and the frame row
    (emission probabilities shifted by the step's largest reachable
    log-emission) of time ``u`` in rows ``2 (u % (lag + 1))`` and
    ``2 (u % (lag + 1)) + 1``.
``counters`` (N_COUNTERS,), int64
    ``[T_SEEN]`` rows pushed, ``[UNDECIDED]`` the first time whose Viterbi
    state is not yet emitted, ``[FORCED]`` decisions forced, ``[MAX_DELAY]``
    the option (-1: never forced).
``tring`` (lag + 1, K, K) or (0, K, K), float64
    Chains with a transition matrix per step (input-driven transitions):
    the transposed matrix of the step into time ``u`` in ``tring[u % (lag +
    1)]``, for the fixed-lag smoother. No rows: the chain's ``transmat``
    serves every step. The new rows' matrices come with each push
    (``steps``), the one into row 0 of a sequence unused.
``back`` (capacity, K + 1), int64
    Viterbi back-pointers of the undecided times ``u`` in row
    ``u % capacity``: ``back[u % capacity, j]`` is the best predecessor (at
    ``u - 1``) of state ``j`` at ``u``; column ``K`` the number of states
    through which surviving paths went at ``u`` when last counted
    (:data:`UNCOUNTED` for a new time). No rows: Viterbi is off.

:func:`push` first filters every new row into the output buffers without
touching the state, and returns an error code if a row is NaN, +inf or
impossible: a rejected push leaves the stream as it was. Only then does it
commit the rows (filtered row, log-likelihood, smoothing ring, Viterbi).

The filter shifts each step by the largest log-emission among the states the
chain can reach (predicted probability > 0); when the step's normaliser is
then below :data:`~fasthmm._kernels.hmm.NORMALISER_FLOOR` (the probable
states sit far below a reachable but improbable one), the step is redone
shifted by its largest term ``log(predicted) + log-emission``, so no step
loses precision unless the observation is impossible. Filtered probabilities
are kept in float64: one below about 1e-308 is zero from then on. Viterbi
scores and back-pointers are computed exactly as
:func:`fasthmm._kernels.hmm.viterbi_sequence` computes them (same operations,
same tie-breaking towards lower states), so the emitted path is the batch
path.
"""

import numpy as np
from numba import njit

from .gaussian import diag_log_density_row
from .hmm import NEG_INF, NORMALISER_FLOOR, vecmat

# rows of the state part of ``fstate`` (from row 3K + 2)
ALPHA, DELTA, BETA, BETA_NEXT, DELTA_NEXT, LL, LE, FRAME, SMOOTH = range(9)
ROWS = 9
SCRATCH = (BETA, BETA_NEXT, DELTA_NEXT, LE, FRAME, SMOOTH)  # not part of the state
# entries of ``counters``
T_SEEN, UNDECIDED, FORCED, MAX_DELAY = 0, 1, 2, 3
N_COUNTERS = 4
# Kernels return the number of Viterbi states they decided (>= 0), or
# ``-(code + ERROR_ROW * row)`` for a rejected row; the state is then unchanged.
IMPOSSIBLE, NOT_A_NUMBER, PLUS_INF, CHECK = 1, 2, 3, 4
ERROR_ROW = 8
#: Column ``K`` of ``back`` for a time not yet counted (no count equals it).
UNCOUNTED = -1


def fstate_of(startprob, transmat, lag):
    """A new ``fstate`` for checked start and transition probabilities."""
    k = startprob.shape[0]
    f = np.zeros((3 * k + 2 + ROWS + 2 * (lag + 1), k))
    f[0] = startprob
    f[1 : k + 1] = transmat
    f[k + 1 : 2 * k + 1] = transmat.T
    with np.errstate(divide="ignore"):
        f[2 * k + 1] = np.log(startprob)
        f[2 * k + 2 : 3 * k + 2] = np.log(transmat)
    return f


@njit(cache=True, nogil=True)
def _filter_rows(le, chain, alpha, first, filtered, frames, steps):
    """Filter ``le`` into ``filtered`` / ``frames``; the state is only read.

    ``steps`` (n, K, K): the transition matrix into each row, or (1, K, K):
    one for every row.

    Returns
    -------
    code : int
        0, or ``-(error + ERROR_ROW * row)``.
    total : float
        Log-likelihood of the rows given the past.
    """
    n, k = le.shape
    startprob = chain[0]
    total = 0.0
    for r in range(n):
        row = le[r]
        pred = filtered[r]
        e = frames[r]
        for j in range(k):
            v = row[j]
            if v != v:
                return -(NOT_A_NUMBER + ERROR_ROW * r), 0.0
            if v == np.inf:
                return -(PLUS_INF + ERROR_ROW * r), 0.0
        if r == 0 and first:
            for j in range(k):
                pred[j] = startprob[j]
        else:
            a = steps[min(r, steps.shape[0] - 1)]
            vecmat(alpha if r == 0 else filtered[r - 1], a, pred)
        m = NEG_INF
        for j in range(k):
            if pred[j] > 0.0 and row[j] > m:
                m = row[j]
        if m == NEG_INF:
            return -(IMPOSSIBLE + ERROR_ROW * r), 0.0
        s = 0.0
        for j in range(k):
            # Unreachable states get 0: exp could overflow, and they carry
            # no probability at this step either way.
            f = np.exp(row[j] - m) if pred[j] > 0.0 else 0.0
            e[j] = f
            s += pred[j] * f
        if s >= NORMALISER_FLOOR:
            inv = 1.0 / s
            for j in range(k):
                pred[j] = pred[j] * e[j] * inv
        else:
            # The states carrying the probability sit far below the largest
            # reachable log-emission (a reachable but improbable state's):
            # their terms lost precision. Shift by the largest term instead.
            s, m = _log_shifted_step(pred, row)
        total += np.log(s) + m
    return 0, total


@njit(cache=True, nogil=True)
def _log_shifted_step(pred, row):
    """``pred = normalise(pred * exp(row))`` shifted by its largest term, in place.

    Each term ``exp(log(pred[j]) + row[j] - m)`` is at most 1 and the largest
    is 1, so nothing that matters underflows.

    Returns
    -------
    s : float
        The normaliser, in [1, n_components].
    m : float
        The shift: the log-likelihood of the step is ``log(s) + m``.
    """
    k = pred.shape[0]
    m = NEG_INF
    for j in range(k):
        if pred[j] > 0.0:
            m = max(m, np.log(pred[j]) + row[j])
    s = 0.0
    for j in range(k):
        p = np.exp(np.log(pred[j]) + row[j] - m) if pred[j] > 0.0 else 0.0
        pred[j] = p
        s += p
    inv = 1.0 / s
    for j in range(k):
        pred[j] *= inv
    return s, m


@njit(cache=True, nogil=True)
def _smooth_back(ring, tring, t_end, t_lo, all_rows, beta, beta_next, out):
    """Backward pass over the ring from ``t_end`` (beta = 1) down to ``t_lo``.

    ``tring[u % len(tring)]`` is the transposed transition matrix of the
    step into ``u`` (one row: of every step).

    Writes p(z_u | x_0..x_{t_end}) into ``out[u - t_lo]`` for every ``u`` in
    ``[t_lo, t_end]`` when ``all_rows``, else only ``out[0]`` (``u = t_lo``).
    ``beta`` is renormalised to a maximum of 1 over the states the filter
    reached, as in :func:`fasthmm._kernels.hmm.backward_sequence`.
    """
    size = ring.shape[0] // 2
    k = beta.shape[0]
    for j in range(k):
        beta[j] = 1.0
    u = t_end
    while True:
        if all_rows or u == t_lo:
            alpha = ring[2 * (u % size)]
            post = out[u - t_lo] if all_rows else out[0]
            s = 0.0
            for j in range(k):
                post[j] = alpha[j] * beta[j]
                s += post[j]
            for j in range(k):
                post[j] = post[j] / s
        if u == t_lo:
            return
        frame = ring[2 * (u % size) + 1]
        for j in range(k):
            beta_next[j] = frame[j] * beta[j]
        # beta_{u-1} = transmat @ work
        n_t = tring.shape[0]
        vecmat(beta_next, tring[u % n_t if n_t > 1 else 0], beta)
        u -= 1
        alpha = ring[2 * (u % size)]
        m = 0.0
        for j in range(k):
            if alpha[j] == 0.0:
                beta[j] = 0.0
            elif beta[j] > m:
                m = beta[j]
        if not m > 0.0:  # underflow: keep the filtered row, as the batch pass
            for j in range(k):
                beta[j] = 1.0
        else:
            for j in range(k):
                beta[j] = beta[j] / m


@njit(cache=True, nogil=True)
def _viterbi_step(le_row, chain, log_trans, first, rows, back_row):
    """One Viterbi step into ``rows[DELTA]``, as ``viterbi_sequence`` does it
    (``log_trans``: the step's log transition matrix)."""
    k = le_row.shape[0]
    delta = rows[DELTA]
    if first:
        log_start = chain[2 * k + 1]
        for j in range(k):
            delta[j] = log_start[j] + le_row[j]
        return
    nxt = rows[DELTA_NEXT]
    for j in range(k):
        nxt[j] = NEG_INF
        back_row[j] = 0
    for i in range(k):
        d = delta[i]
        if d > NEG_INF:
            lt = log_trans[i]
            for j in range(k):
                cand = d + lt[j]
                if cand > nxt[j]:
                    nxt[j] = cand
                    back_row[j] = i
    for j in range(k):
        delta[j] = nxt[j] + le_row[j]


@njit(cache=True, nogil=True)
def _trace(back, u, z, lo, states, z0):
    """Write the path ending in state ``z`` at time ``u`` back to time ``lo``
    into ``states[time - z0]``."""
    cap = back.shape[0]
    states[u - z0] = z
    for v in range(u, lo, -1):
        z = back[v % cap, z]
        states[v - 1 - z0] = z


@njit(cache=True, nogil=True)
def _ancestor(back, u, z, lo):
    """State at time ``lo`` on the best path to state ``z`` at time ``u``."""
    cap = back.shape[0]
    for v in range(u, lo, -1):
        z = back[v % cap, z]
    return z


@njit(cache=True, nogil=True)
def _coalesce(back, delta, t, lo, iwork, states, z0):
    """Emit the states every surviving path agrees on; return the new first
    undecided time.

    Follows the set of surviving states (score > -inf) at ``t`` back through
    the back-pointers; at the latest time where the set is one state, every
    surviving path, hence the final best path, goes through it.

    The walk stops early at a time whose set has as many states as the last
    walk found there (column ``K`` of ``back``): the surviving sets only
    shrink, so the set is then the same, and so is every earlier one. Each
    time's count shrinks at most ``K - 1`` times, so a push costs O(K^2)
    amortised however long paths stay apart (not O(K * window)).
    """
    if lo > t:
        return lo
    k = delta.shape[0]
    cap = back.shape[0]
    marks = iwork[0]
    cur = iwork[1]
    nxt = iwork[2]
    cnt = 0
    for j in range(k):
        marks[j] = -1
        if delta[j] > NEG_INF:
            cur[cnt] = j
            cnt += 1
    u = t
    while True:
        if cnt == 1:
            _trace(back, u, cur[0], lo, states, z0)
            return u + 1
        if cnt == back[u % cap, k] or u == lo:
            back[u % cap, k] = cnt
            return lo
        back[u % cap, k] = cnt
        bk = back[u % cap]
        cnt2 = 0
        for c in range(cnt):
            p = bk[cur[c]]
            if marks[p] != u:
                marks[p] = u
                nxt[cnt2] = p
                cnt2 += 1
        cur, nxt = nxt, cur
        cnt = cnt2
        u -= 1


@njit(cache=True, nogil=True)
def _argmax(v):
    best = 0
    for j in range(1, v.shape[0]):
        if v[j] > v[best]:
            best = j
    return best


@njit(cache=True, nogil=True)
def _decide(back, rows, t, max_delay, counters, iwork, states, z0):
    """Coalescence, then forced decisions while a state is ``max_delay`` old."""
    delta = rows[DELTA]
    k = delta.shape[0]
    lo = _coalesce(back, delta, t, counters[UNDECIDED], iwork, states, z0)
    while max_delay >= 0 and lo <= t - max_delay:
        # Force time lo onto the current best path; drop the states whose
        # best path disagrees there, so the emitted path stays one path.
        z = _ancestor(back, t, _argmax(delta), lo)
        for j in range(k):
            if delta[j] > NEG_INF and _ancestor(back, t, j, lo) != z:
                delta[j] = NEG_INF
        states[lo - z0] = z
        counters[FORCED] += 1
        lo = _coalesce(back, delta, t, lo + 1, iwork, states, z0)
    counters[UNDECIDED] = lo


@njit(cache=True, nogil=True)
def _parts(fstate):
    k = fstate.shape[1]
    lo = 3 * k + 2
    return fstate[:lo], fstate[lo : lo + ROWS], fstate[lo + ROWS :]


@njit(cache=True, nogil=True)
def _chain_steps(fstate):
    """The stationary chain's ``transmat``, ``log(transmat)`` and transpose in
    ``fstate``, as views of shape (1, K, K) (one step's matrices)."""
    k = fstate.shape[1]
    return (
        fstate[1 : k + 1].reshape((1, k, k)),
        fstate[2 * k + 2 : 3 * k + 2].reshape((1, k, k)),
        fstate[k + 1 : 2 * k + 1].reshape((1, k, k)),
    )


@njit(cache=True, nogil=True)
def push(le, fstate, counters, back, filtered, frames, smoothed, states, steps, tring):
    """Push rows of log-emissions into a stream.

    Parameters
    ----------
    le : ndarray of shape (n, K)
        Log-emissions of the new rows.
    fstate, counters, back :
        The stream's state (see the module docstring).
    filtered, frames : ndarray of shape (n, K)
        Output: the filtered rows; scratch for the frame rows.
    smoothed : ndarray of shape (n, K)
        Output: the rows smoothed with this push (lag > 0), from time
        ``max(0, t0 - lag)`` on.
    states : ndarray of shape (t0 - undecided + n,), int64
        Output: the Viterbi states decided with this push, from time
        ``undecided`` (at entry) on.
    steps : ndarray of shape (2, n, K, K) or (2, 0, K, K)
        A chain with a transition matrix per step: ``steps[0, r]`` the
        matrix into new row ``r``, ``steps[1, r]`` its logarithm (the one
        into the first row of a sequence is not read). No rows: the chain's
        ``transmat`` serves every step.
    tring : ndarray of shape (lag + 1, K, K) or (0, K, K)
        The stream's ring of transposed per-step matrices (see the module
        docstring); no rows for a stationary chain.

    Returns
    -------
    n_decided : int
        Viterbi states decided, or ``-(error + ERROR_ROW * row)`` (the state
        is then unchanged).
    """
    n, k = le.shape
    chain, rows, ring = _parts(fstate)
    t0 = counters[T_SEEN]
    per_step = steps.shape[1] > 0
    probs, logs, ring_t = steps[0], steps[1], tring
    if not per_step:  # the chain's matrices, as one step's
        probs, logs, ring_t = _chain_steps(fstate)
    code, total = _filter_rows(le, chain, rows[ALPHA], t0 == 0, filtered, frames, probs)
    if code != 0:
        return code
    rows[LL, 0] += total
    for j in range(k):
        rows[ALPHA, j] = filtered[n - 1, j]
    size = ring.shape[0] // 2
    lag = size - 1
    cap = back.shape[0]
    z0 = counters[UNDECIDED]
    # marks and two state lists for the Viterbi decisions
    iwork = np.empty((3 if cap > 0 else 0, k), dtype=np.int64)
    n_s = 0
    for r in range(n):
        t = t0 + r
        if lag > 0:
            slot = 2 * (t % size)
            for j in range(k):
                ring[slot, j] = filtered[r, j]
                ring[slot + 1, j] = frames[r, j]
            if per_step:
                a = probs[r]
                slot_t = ring_t[t % ring_t.shape[0]]
                for i in range(k):
                    for j in range(k):
                        slot_t[j, i] = a[i, j]
            if t >= lag:
                _smooth_back(
                    ring,
                    ring_t,
                    t,
                    t - lag,
                    False,
                    rows[BETA],
                    rows[BETA_NEXT],
                    smoothed[n_s : n_s + 1],
                )
                n_s += 1
        if cap > 0:
            back[t % cap, k] = UNCOUNTED
            lt = logs[min(r, logs.shape[0] - 1)]
            _viterbi_step(le[r], chain, lt, t == 0, rows, back[t % cap])
            _decide(back, rows, t, counters[MAX_DELAY], counters, iwork, states, z0)
    counters[T_SEEN] = t0 + n
    return counters[UNDECIDED] - z0


@njit(cache=True, nogil=True)
def _push_one(fstate, counters, back, states, out):
    """Push the log-emission row in ``fstate``'s ``LE`` row (one observation).

    Needs room in ``back`` and ``states`` for the window plus one step,
    else returns ``-CHECK`` before changing anything.
    """
    k = fstate.shape[1]
    s = 3 * k + 2
    if back.shape[0] > 0:
        window = counters[T_SEEN] - counters[UNDECIDED] + 1
        if back.shape[0] <= window or states.shape[0] < window:
            return -CHECK
    # no per-step matrices (the chain's at every step): an empty view
    none = fstate[:0].reshape((2, 0, k, k))
    return push(
        fstate[s + LE : s + LE + 1],
        fstate,
        counters,
        back,
        out,
        fstate[s + FRAME : s + FRAME + 1],
        fstate[s + SMOOTH : s + SMOOTH + 1],
        states,
        none,
        none[0],
    )


@njit(cache=True, nogil=True)
def push_log_emissions(le, fstate, counters, back, states, out):
    """:func:`push` of one row of log-emissions ``le`` (K,); ``out`` (1, K)."""
    k = fstate.shape[1]
    row = fstate[3 * k + 2 + LE]
    for j in range(k):
        row[j] = le[j]
    return _push_one(fstate, counters, back, states, out)


@njit(cache=True, nogil=True)
def push_symbol(symbol, log_table, fstate, counters, back, states, out):
    """:func:`push` of one categorical symbol; ``log_table`` (n_symbols, K).

    Returns ``-CHECK`` for a symbol out of range (the caller reports it).
    """
    if symbol < 0 or symbol >= log_table.shape[0]:
        return -CHECK
    k = fstate.shape[1]
    row = fstate[3 * k + 2 + LE]
    for j in range(k):
        row[j] = log_table[symbol, j]
    return _push_one(fstate, counters, back, states, out)


@njit(cache=True, nogil=True)
def push_diag_gaussian(x, terms, fstate, counters, back, states, out):
    """:func:`push` of one observation ``x`` (D,) of diagonal Gaussians.

    ``terms`` (K, 2 D + 1): the means, the precisions and the log
    normalisers side by side (:func:`fasthmm.emissions._covariance.density_terms`).
    Returns ``-CHECK`` for a non-finite ``x`` (the caller reports it).
    """
    d = x.shape[0]
    for j in range(d):
        if not np.isfinite(x[j]):
            return -CHECK
    k = fstate.shape[1]
    diag_log_density_row(
        x, terms[:, :d], terms[:, d : 2 * d], terms[:, 2 * d], fstate[3 * k + 2 + LE]
    )
    return _push_one(fstate, counters, back, states, out)


@njit(cache=True, nogil=True)
def flush(fstate, counters, back, smoothed, states, tring):
    """End the sequence: the pending smoothed rows and the rest of the path.

    Parameters
    ----------
    tring : ndarray of shape (lag + 1, K, K) or (0, K, K)
        As in :func:`push`.
    smoothed : ndarray of shape (min(lag, T), K)
        Output: p(z_u | all rows) for the last ``min(lag, T)`` times ``u``.
    states : ndarray of shape (T - undecided,), int64
        Output: the rest of the Viterbi path.

    Returns
    -------
    log_prob : float
        Log-probability of the emitted path and the data (Viterbi), else NaN.
    """
    chain, rows, ring = _parts(fstate)
    t = counters[T_SEEN]
    if smoothed.shape[0] > 0:
        ring_t = tring if tring.shape[0] > 0 else _chain_steps(fstate)[2]
        _smooth_back(
            ring,
            ring_t,
            t - 1,
            t - smoothed.shape[0],
            True,
            rows[BETA],
            rows[BETA_NEXT],
            smoothed,
        )
    if back.shape[0] == 0:
        return np.nan
    lo = counters[UNDECIDED]
    best = _argmax(rows[DELTA])
    if lo <= t - 1:
        _trace(back, t - 1, best, lo, states, lo)
    counters[UNDECIDED] = t
    return rows[DELTA, best]
