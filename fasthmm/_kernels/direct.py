"""Kernels that read log-emissions directly, a chunk of rows at a time.

The frame route (:func:`fasthmm._kernels.hmm.exp_shift_from`, then the
recursion over the frame) writes an (n_samples, n_components) frame and reads
it back. The inference calls (log-likelihoods, filtered rows, posteriors) do
not need that pass over memory: the kernels here exponentiate one chunk of a
sequence's rows at a time into scratch that stays in the L1 cache
(:data:`~fasthmm._kernels.partition.CHUNK_VALUES` values), then run the
recursion over that chunk; the backward pass exponentiates the chunks again,
from the last one back. They also check the log-emissions as they read them
(NaN or ``+inf`` is reported, not used), so the caller needs no separate
pass over the data; so does the small-K Viterbi kernel, which works in log
space and needs no exponentials. The same forward kernel also runs over a
frame (``from_log=False``) for emissions that give probabilities.

Every value is computed exactly as the frame route computes it: the shift of
a row is its largest log-emission (0 for a row that is all ``-inf``), the
exponentials are :func:`~fasthmm._kernels.expmath.exp_flat` (the arithmetic
of :func:`~fasthmm._kernels.expmath.exp_shifted_rows`), and a step is
``normalise((alpha_prev @ transmat) * e_t)`` with the products summed over the
previous states in index order. A sequence with a step whose normaliser is
below :data:`~fasthmm._kernels.hmm.NORMALISER_FLOOR` is reported as NaN; the
caller settles it exactly, in log space
(:func:`fasthmm.inference.resolve_unsettled`).

Up to :data:`SMALL_K` states, a step is one dot product per state held in
a register (the floor's order of loops); above, it is
:func:`~fasthmm._kernels.hmm.vecmat_rows`, which vectorises over states.
Either way the sums are fused multiply-adds in the same order, so the
results are the same bits. The two forms are separate kernels
(:func:`forward_block` / :func:`forward_block_wide`, chosen by
:func:`forward_block_for`), each made from one source with the other form's
branch pruned before Numba compiles it: a model of few states compiles only
the narrow form, about a quarter less code than both together.
"""

import numpy as np
from numba import njit, prange
from numba.extending import register_jitable

from .expmath import exp_flat
from .fma import fma
from .hmm import (
    NEG_INF,
    NORMALISER_FLOOR,
    TINY,
    XI_STEPS,
    add_transition_counts,
    vecmat_rows,
)
from .partition import CHUNK_VALUES

#: Most states for which a step is a dot product per state.
SMALL_K = 8


@register_jitable
def chunk_rows(n_components):
    """Rows of one sequence exponentiated at a time for ``n_components`` states
    (a Python function that kernels call too: no kernel of its own)."""
    return max(1, CHUNK_VALUES // n_components)


@njit(cache=True, inline="always", nogil=True)
def load_chunk(log_emissions, t0, t1, values, shift, bits):
    """Exponentiate rows ``t0:t1`` of the log-emissions, shifted per row.

    ``values[(t - t0) * K + j] = exp(log_emissions[t, j] - shift[t - t0])``
    with ``shift[t - t0]`` the row's largest log-emission (0 if all ``-inf``).

    Parameters
    ----------
    log_emissions : ndarray of shape (n_samples, n_components)
    t0, t1 : int
    values : ndarray of shape (>= (t1 - t0) * n_components,)
        Output.
    shift : ndarray of shape (>= t1 - t0,)
        Output.
    bits : ndarray of shape (>= (t1 - t0) * n_components,), int64
        Scratch.

    Returns
    -------
    valid : bool
        False when a value is NaN or ``+inf`` (the outputs are then undefined).
    """
    k = log_emissions.shape[1]
    valid = True
    for t in range(t0, t1):
        m = NEG_INF
        for j in range(k):
            v = log_emissions[t, j]
            valid &= v < np.inf
            m = max(m, v)
        m = 0.0 if m == NEG_INF else m
        shift[t - t0] = m
        base = (t - t0) * k
        for j in range(k):
            values[base + j] = log_emissions[t, j] - m
    if not valid:
        return False
    exp_flat(values, (t1 - t0) * k, bits)
    return True


def _make_smooth_block(narrow):
    """:func:`smooth_block` (``narrow``: a step as a dot product per state,
    for up to :data:`SMALL_K` states) or :func:`smooth_block_wide`
    (:func:`~fasthmm._kernels.hmm.vecmat_rows`): the branch not taken is
    pruned before Numba compiles, so each form holds one step's code."""

    @njit(cache=True, nogil=True)
    def smooth_block(
        emissions,
        frame_shift,
        from_log,
        transmat,
        transmat_t,
        starts,
        blocks,
        b0,
        b1,
        ll,
        post,
        xi_blocks,
        long_from,
    ):
        """Backward pass over the sequences of blocks ``b0:b1`` after
        :func:`forward_block`: filtered rows in, posteriors out, and (when
        ``xi_blocks`` has rows) the expected transition counts.

        A kernel of its own that Python runs after the forward pass, over the
        same blocks (on several threads at once for large work, as
        :func:`forward_block`): called from the forward kernel, its code
        would be optimised and compiled to machine code once more inside it.

        ``beta_t = transmat @ (e_{t+1} * beta_{t+1})``, zeroed where the filtered
        probability is zero and scaled to a maximum of 1 over the other states
        (so it cannot overflow however far the posteriors move from the filtered
        rows); a step whose ``beta`` underflows keeps its filtered row and adds
        no counts. Log-emissions are exponentiated again a chunk at a time, from
        the last chunk back (the values are those of the forward pass: a row's
        shift and exponentials depend on the row alone).

        The counts of step ``t -> t+1`` are ``f[i] * transmat[i, j] * w[j]`` with
        ``w = e_{t+1} * beta_{t+1}`` and ``f = alpha_t / (z * m)`` (``z`` the
        posterior normaliser, ``m`` the scale of ``beta_t``); they are added
        :data:`~fasthmm._kernels.hmm.XI_STEPS` steps at a time
        (:func:`~fasthmm._kernels.hmm.add_transition_counts`), and a step whose
        ``f`` overflows at once, dividing first.

        Parameters
        ----------
        emissions, frame_shift, from_log, transmat, starts, blocks, b0, b1 :
            As in :func:`forward_block`.
        transmat_t : ndarray of shape (n_components, n_components)
            Its transpose, C-contiguous.
        ll : ndarray of shape (n_sequences,)
            The forward pass's log-likelihoods: a sequence whose value is NaN
            is left as it is.
        post : ndarray of shape (n_samples, n_components)
            The filtered rows on entry, the posteriors on exit.
        xi_blocks : ndarray of shape (n_blocks, n_components, n_components) or (0, 0, 0)
            When it has rows (the E-step): row ``b`` is set to the expected
            transition counts ``sum_t p(z_t = i, z_{t+1} = j | x)`` of block
            ``b``'s sequences (the caller adds the rows in block order, so the
            total does not depend on the thread count).
        long_from : int
            Sequences of this many steps or more are left as they are (as in
            :func:`forward_block`).
        """
        k = emissions.shape[1]
        chunk = chunk_rows(k) if from_log else 1
        values = np.empty(chunk * k)
        bits = np.empty(chunk * k, dtype=np.int64)
        shift = np.empty(chunk)
        beta = np.empty(k)
        nb = np.empty(k)
        # The steps not yet added to the counts.
        f_buf = np.empty((XI_STEPS, k))
        w_buf = np.empty((XI_STEPS, k))
        counts = xi_blocks.shape[0] > 0
        no_counts = np.empty((0, 0))
        # Row t's emissions are e[(t - off) * k:].
        e = emissions.reshape(emissions.size)
        if from_log:
            e = values
        off = 0
        nb_rows = nb.reshape((1, k))
        for b in range(b0, b1):
            xi_acc = xi_blocks[b] if counts else no_counts
            if counts:
                xi_acc[:, :] = 0.0
            for s in range(blocks[b], blocks[b + 1]):
                lo = starts[s]
                hi = starts[s + 1]
                if hi - lo >= long_from or np.isnan(ll[s]):
                    continue
                n_rows = chunk if from_log else hi - lo
                slot = 0  # steps buffered in (f_buf, w_buf)
                for j in range(k):
                    beta[j] = 1.0
                last = lo + ((hi - 1 - lo) // n_rows) * n_rows
                for t0 in range(last, lo - 1, -n_rows):
                    t1 = min(hi, t0 + n_rows)
                    if from_log:
                        off = t0
                        load_chunk(emissions, t0, t1, values, shift, bits)
                    for t in range(t1 - 1, max(t0, lo + 1) - 1, -1):
                        # beta_{t-1} = transmat @ (e_t * beta_t), summed over j in order.
                        base = (t - off) * k
                        for j in range(k):
                            w_buf[slot, j] = e[base + j] * beta[j]
                        if narrow:
                            for i in range(k):
                                v = 0.0
                                for j in range(k):
                                    v = fma(w_buf[slot, j], transmat[i, j], v)
                                nb[i] = v
                        else:
                            vecmat_rows(w_buf, slot, transmat_t, nb_rows, 0)
                        u = t - 1
                        m = 0.0
                        for i in range(k):
                            if post[u, i] == 0.0:
                                nb[i] = 0.0
                            elif nb[i] > m:
                                m = nb[i]
                        if not m > 0.0:
                            # Underflow: keep the filtered row, forget the future from here.
                            for i in range(k):
                                beta[i] = 1.0
                            continue
                        # Divisions as multiplications by the reciprocal, except by a
                        # subnormal divisor (its reciprocal overflows).
                        if m >= TINY:
                            inv = 1.0 / m
                            for i in range(k):
                                beta[i] = nb[i] * inv
                        else:
                            for i in range(k):
                                beta[i] = nb[i] / m
                        z = 0.0
                        for i in range(k):
                            z += post[u, i] * beta[i]
                        overflow = False
                        if counts:
                            # z >= alpha_u[i*] > 0 for the state i* with beta[i*] = 1.
                            g = 1.0 / (z * m)
                            for i in range(k):
                                f = post[u, i] * g
                                f_buf[slot, i] = f
                                if f == np.inf:
                                    overflow = True
                        # beta[i] = 0 wherever post[u, i] = 0: no product is 0 * inf.
                        if z >= TINY:
                            inv = 1.0 / z
                            for i in range(k):
                                post[u, i] = post[u, i] * beta[i] * inv
                        else:
                            for i in range(k):
                                post[u, i] = post[u, i] * beta[i] / z
                        if not counts:
                            continue
                        if not overflow:
                            slot += 1
                            if slot == XI_STEPS:
                                add_transition_counts(
                                    f_buf, w_buf, slot, transmat, xi_acc
                                )
                                slot = 0
                            continue
                        # alpha_u / (z * m) overflows: add this step at once, the
                        # rows whose factor overflows dividing first.
                        for i in range(k):
                            if not f_buf[slot, i] < np.inf:
                                f_buf[slot, i] = 0.0
                                acc = beta[i] * m
                                if acc > 0.0:
                                    for j in range(k):
                                        xi_acc[i, j] += post[u, i] * (
                                            transmat[i, j] * w_buf[slot, j] / acc
                                        )
                        add_transition_counts(
                            f_buf[slot:], w_buf[slot:], np.int64(1), transmat, xi_acc
                        )
                if counts:
                    add_transition_counts(
                        f_buf, w_buf, np.int64(slot), transmat, xi_acc
                    )

    return smooth_block


#: The backward pass after :func:`forward_block` (up to :data:`SMALL_K` states).
smooth_block = _make_smooth_block(True)
#: The backward pass after :func:`forward_block_wide` (more states).
smooth_block_wide = _make_smooth_block(False)


def smooth_block_for(n_components):
    """:func:`smooth_block` or :func:`smooth_block_wide`, by the state count."""
    return smooth_block if n_components <= SMALL_K else smooth_block_wide


def _make_forward_block(narrow):
    """:func:`forward_block` (``narrow``: up to :data:`SMALL_K` states) or
    :func:`forward_block_wide` (more states); the branch not taken is pruned
    before Numba compiles."""

    @njit(cache=True, nogil=True)
    def forward_block(
        emissions,
        frame_shift,
        from_log,
        startprob,
        transmat,
        starts,
        blocks,
        b0,
        b1,
        ll,
        alpha_out,
        scale_out,
        invalid,
        long_from,
    ):
        """Forward pass over the sequences of blocks ``b0:b1``: the one forward
        kernel of every route (:func:`smooth_block` then runs the backward
        pass over the same blocks when posteriors are wanted).

        Called from Python over every block for small work, or over contiguous
        ranges of blocks on several threads at once
        (:func:`fasthmm._threads.run_blocks`; the kernel releases the GIL): no
        parallel form of it is compiled.

        A step is written out in the loop rather than called as a helper: a call
        per step that passes arrays costs more than the arithmetic of a step at
        small K.

        Parameters
        ----------
        emissions : ndarray of shape (n_samples, n_components), C-contiguous
            Log-emissions when ``from_log``, read a chunk at a time
            (:func:`load_chunk`); else a frame (see
            :func:`fasthmm._kernels.hmm.exp_shift_from`).
        frame_shift : ndarray of shape (n_samples,)
            The frame's shift (unused when ``from_log``).
        from_log : bool
        startprob : ndarray of shape (n_components,)
        transmat : ndarray of shape (n_components, n_components)
        starts : ndarray of shape (n_sequences + 1,)
        blocks : ndarray of shape (n_blocks + 1,)
            Sequence indices where the blocks of
            :func:`~fasthmm._kernels.partition.block_bounds` begin.
        b0, b1 : int
        ll : ndarray of shape (n_sequences,)
            Output: log-likelihood of each sequence of the blocks; NaN when a step's
            normaliser is below :data:`~fasthmm._kernels.hmm.NORMALISER_FLOOR`
            (the sequence is impossible, or its probable states sit too far below
            a step's largest log-emission; the caller settles it in log space)
            or the sequence holds NaN or ``+inf``.
        alpha_out : ndarray of shape (n_samples, n_components) or (0, n_components)
            Output when it has rows: the filtered distributions; from a
            normaliser below the floor on, the sequence's rows are zero.
        scale_out : ndarray of shape (n_samples,) or (0,)
            Output when it has rows: the per-step normalisers (zero from a
            normaliser below the floor on).
        invalid : ndarray of shape (n_blocks,), int64
            Output: 1 for a block with NaN or ``+inf`` in its log-emissions
            (only checked ``from_log``), else 0.
        long_from : int
            Sequences of this many steps or more are skipped (their rows and
            ``ll`` are left as they are): the E-step runs sequences of
            :data:`~fasthmm._kernels.partition.LONG_SEQUENCE` steps on two
            threads (:func:`fasthmm.inference.long_sequence_e_step`).
        """
        k = emissions.shape[1]
        n_rows = chunk_rows(k) if from_log else 1
        store = alpha_out.shape[0] > 0
        store_scale = scale_out.shape[0] > 0
        values = np.empty(n_rows * k)
        bits = np.empty(n_rows * k, dtype=np.int64)
        shift = np.empty(n_rows)
        frame_values = emissions.reshape(emissions.size)
        alpha = np.empty(k)
        nxt = np.empty(k)
        alpha_rows = alpha.reshape((1, k))
        nxt_rows = nxt.reshape((1, k))
        for b in range(b0, b1):
            valid = True
            for s in range(blocks[b], blocks[b + 1]):
                lo = starts[s]
                hi = starts[s + 1]
                if hi - lo >= long_from:
                    continue
                total = 0.0
                # Row t's emissions are e[(t - off) * k:], its shift sh[t - off].
                e, sh, off, chunk = frame_values, frame_shift, 0, hi - lo
                if from_log:
                    e, sh, chunk = values, shift, n_rows
                for t0 in range(lo, hi, chunk):
                    t1 = min(hi, t0 + chunk)
                    if from_log:
                        off = t0
                        if not load_chunk(emissions, t0, t1, values, shift, bits):
                            valid = False
                            total = np.nan
                            break
                    for t in range(t0, t1):
                        # nxt = (alpha @ transmat) * e_t (startprob * e_t first), summed
                        # over previous states in index order by fused multiply-adds,
                        # as vecmat_rows does.
                        base = (t - off) * k
                        c = 0.0
                        if t == lo:
                            for j in range(k):
                                v = startprob[j] * e[base + j]
                                nxt[j] = v
                                c += v
                        elif narrow:
                            for j in range(k):
                                v = 0.0
                                for i in range(k):
                                    v = fma(alpha[i], transmat[i, j], v)
                                v *= e[base + j]
                                nxt[j] = v
                                c += v
                        else:
                            vecmat_rows(alpha_rows, 0, transmat, nxt_rows, 0)
                            for j in range(k):
                                v = nxt[j] * e[base + j]
                                nxt[j] = v
                                c += v
                        if not c >= NORMALISER_FLOOR:
                            total = np.nan
                            if store:
                                alpha_out[t:hi] = 0.0
                            if store_scale:
                                scale_out[t:hi] = 0.0
                            break
                        # alpha = nxt / c, as _normalise_row does it.
                        if c >= TINY:
                            inv = 1.0 / c
                            for j in range(k):
                                alpha[j] = nxt[j] * inv
                        else:  # 1 / c overflows for a subnormal c
                            for j in range(k):
                                alpha[j] = nxt[j] / c
                        total += np.log(c) + sh[t - off]
                        if store_scale:
                            scale_out[t] = c
                        if store:
                            for j in range(k):
                                alpha_out[t, j] = alpha[j]
                    if np.isnan(total):
                        break
                ll[s] = total
            invalid[b] = 0 if valid else 1

    return forward_block


#: The forward kernel of every route, up to :data:`SMALL_K` states.
forward_block = _make_forward_block(True)
#: :func:`forward_block` for more than :data:`SMALL_K` states.
forward_block_wide = _make_forward_block(False)


def forward_block_for(n_components):
    """:func:`forward_block` or :func:`forward_block_wide`, by the state count
    (each compiles only its own form of a step)."""
    return forward_block if n_components <= SMALL_K else forward_block_wide


def forward_backward_one(frame, shift, startprob, transmat, lo, hi, post, scale, xi):
    """Forward-backward of rows ``lo:hi`` of a frame on one thread, as the
    E-step runs a sequence (:func:`forward_block`, then :func:`smooth_block`),
    whatever its length. A Python function: it calls the kernels with the
    E-step's own signatures.

    Adds the sequence's expected transition counts to ``xi``.

    Returns
    -------
    log_likelihood : float
        NaN when a step's normaliser is below
        :data:`~fasthmm._kernels.hmm.NORMALISER_FLOOR` (see
        :func:`forward_block`).
    """
    k = frame.shape[1]
    ll = np.empty(1)
    counts = np.empty((1, k, k))
    starts = np.array([lo, hi], dtype=np.int64)
    blocks = np.array([0, 1], dtype=np.int64)
    invalid = np.empty(1, dtype=np.int64)
    forward_block_for(k)(
        frame,
        shift,
        False,
        startprob,
        transmat,
        starts,
        blocks,
        0,
        1,
        ll,
        post,
        scale,
        invalid,
        hi - lo + 1,
    )
    smooth_block_for(k)(
        frame,
        shift,
        False,
        transmat,
        np.ascontiguousarray(transmat.T),
        starts,
        blocks,
        0,
        1,
        ll,
        post,
        counts,
        hi - lo + 1,
    )
    xi += counts[0]
    return ll[0]


@njit(cache=True, nogil=True)
def viterbi_block(log_emissions, startprob, transmat, starts, s0, s1, back, states, lp):
    """Most likely state paths of sequences ``s0:s1``, in log space.

    The values, back-pointers and ties (towards the lowest state) are those of
    :func:`fasthmm._kernels.hmm.viterbi_sequence`; each state's best
    predecessor is found by one pass over the previous states with the
    running best in a register. That is the fast form up to :data:`SMALL_K`
    states; for more, :func:`fasthmm._kernels.hmm.viterbi_blocks` (which
    compares one previous state's candidates with every state at once, a
    loop that vectorises) is the one to call.

    The logarithms of ``startprob`` and ``transmat`` (``-inf`` for zeros, no
    warning) are taken here, a value at a time (a loop compiles in a
    fraction of the time of whole-array ``np.log``, with the same values),
    so that no kernel of their own is compiled.

    Parameters
    ----------
    log_emissions : ndarray of shape (n_samples, n_components)
    startprob : ndarray of shape (n_components,)
    transmat : ndarray of shape (n_components, n_components)
    starts : ndarray of shape (n_sequences + 1,)
    s0, s1 : int
    back : ndarray of shape (n_samples, n_components), int32
        Scratch space for back-pointers.
    states : ndarray of shape (n_samples,), int64
        Output: the decoded paths.
    lp : ndarray of shape (n_sequences,)
        Output: log-probability of each sequence's best path.

    Returns
    -------
    valid : bool
        False when the log-emissions of these sequences hold NaN or ``+inf``
        (the outputs are computed all the same).
    """
    k = log_emissions.shape[1]
    log_startprob = np.empty(k)
    log_transmat = np.empty((k, k))
    for i in range(k):
        log_startprob[i] = np.log(startprob[i])
        for j in range(k):
            log_transmat[i, j] = np.log(transmat[i, j])
    delta = np.empty(k)
    nxt = np.empty(k)
    valid = True
    for s in range(s0, s1):
        lo = starts[s]
        hi = starts[s + 1]
        for j in range(k):
            v = log_emissions[lo, j]
            valid &= v < np.inf
            delta[j] = log_startprob[j] + v
        for t in range(lo + 1, hi):
            for j in range(k):
                best = NEG_INF
                arg = 0
                for i in range(k):
                    cand = delta[i] + log_transmat[i, j]
                    if cand > best:
                        best = cand
                        arg = i
                v = log_emissions[t, j]
                valid &= v < np.inf
                nxt[j] = best + v
                back[t, j] = arg
            for j in range(k):
                delta[j] = nxt[j]
        best = 0
        for j in range(1, k):
            if delta[j] > delta[best]:
                best = j
        lp[s] = delta[best]
        states[hi - 1] = best
        for t in range(hi - 1, lo, -1):
            best = back[t, best]
            states[t - 1] = best
    return valid


@njit(cache=True, nogil=True)
def backward_rows(frame, transmat_t, beta, lo, hi):
    """Backward pass over rows ``lo:hi`` of a frame that needs nothing from
    the forward pass: the second thread of :func:`two_way_sequence`.

    ``beta[t]`` is proportional to p(x_{t+1..hi-1} | z_t), scaled to a
    maximum of 1 at every step (over all states, since the forward pass is
    not known yet).

    Parameters
    ----------
    frame : ndarray of shape (n_samples, n_components)
        The shifted emission probabilities.
    transmat_t : ndarray of shape (n_components, n_components)
        The transposed transition matrix, C-contiguous.
    beta : ndarray of shape (n_samples, n_components)
        Output (rows ``lo:hi``).
    lo, hi : int

    Returns
    -------
    ok : bool
        False when a step's row underflowed to zero (or overflowed).
    """
    k = frame.shape[1]
    work = np.empty((1, k))
    for j in range(k):
        beta[hi - 1, j] = 1.0
    for t in range(hi - 2, lo - 1, -1):
        # beta_t = transmat @ (e_{t+1} * beta_{t+1}), then scaled.
        for j in range(k):
            work[0, j] = frame[t + 1, j] * beta[t + 1, j]
        vecmat_rows(work, 0, transmat_t, beta, t)
        m = 0.0
        for i in range(k):
            m = max(m, beta[t, i])
        if not (m > 0.0 and m < np.inf):
            return False
        inv = 1.0 / m
        for i in range(k):
            beta[t, i] *= inv
    return True


def _make_two_way_sequence(narrow):
    """:func:`two_way_sequence` (up to :data:`SMALL_K` states) or
    :func:`two_way_sequence_wide`, on :func:`forward_block_for` the same
    states."""

    @njit(cache=True, parallel=True, nogil=True)
    def two_way_sequence(
        frame, shift, startprob, transmat, post, scale, beta, chunks, xi_chunks
    ):
        """Forward-backward of one long sequence on two threads, then in chunks.

        The forward pass (:func:`forward_block` over the frame: filtered rows
        into ``post``) and :func:`backward_rows` run at the same time; the
        expected transition counts and then the posteriors are computed in the
        chunks of time ``chunks``, each chunk's counts into its own row of
        ``xi_chunks`` (summed in order by the caller). The chunks depend only on
        the length, so the result is the same for any number of threads.

        Parameters
        ----------
        frame : ndarray of shape (n, n_components)
            The sequence's shifted emission probabilities
            (:func:`fasthmm._kernels.hmm.exp_shift_from`).
        shift : ndarray of shape (n,)
            The frame's shift.
        startprob : ndarray of shape (n_components,)
        transmat : ndarray of shape (n_components, n_components)
        post : ndarray of shape (n, n_components)
            Output: posteriors p(z_t | x).
        scale : ndarray of shape (n,)
            Output: the forward normalisers.
        beta : ndarray of shape (n, n_components)
            Scratch.
        chunks : ndarray of shape (n_chunks + 1,), int64
            Row boundaries of the chunks, from 0 to ``n``.
        xi_chunks : ndarray of shape (n_chunks, n_components, n_components)
            Output: expected transition counts of each chunk's steps ``t -> t+1``.

        Returns
        -------
        log_likelihood : float
            NaN when this method cannot settle the sequence (a zero normaliser
            in either pass, or a posterior normaliser that under- or overflows):
            the caller then runs :func:`forward_backward_one`, which handles
            those cases. The outputs are then undefined.
        """
        n, k = frame.shape
        forward = forward_block if narrow else forward_block_wide
        transmat_t = np.ascontiguousarray(transmat.T)
        results = np.empty(2)
        for task in prange(2):
            if task == 0:
                ll = np.empty(1)
                # np.int64 / np.bool_: the E-step's own signature of forward_block.
                forward(
                    frame,
                    shift,
                    np.bool_(False),
                    startprob,
                    transmat,
                    np.array([0, n]),
                    np.array([0, 1]),
                    np.int64(0),
                    np.int64(1),
                    ll,
                    post,
                    scale,
                    np.empty(1, dtype=np.int64),
                    np.int64(n + 1),
                )
                results[0] = ll[0]
            else:
                ok = backward_rows(frame, transmat_t, beta, 0, n)
                results[1] = 1.0 if ok else 0.0
        if np.isnan(results[0]) or results[1] == 0.0:
            return np.nan
        n_chunks = chunks.shape[0] - 1
        # Posterior normalisers first (every step's), then the transition counts
        # (they read the filtered rows), then the posteriors in place.
        norm = np.empty(n)
        bad = np.zeros(n_chunks)
        for c in prange(n_chunks):
            for t in range(chunks[c], chunks[c + 1]):
                z = 0.0
                for j in range(k):
                    z += post[t, j] * beta[t, j]
                norm[t] = z
                if not (z > 0.0 and z < np.inf) or (
                    t > 0 and not 1.0 / (scale[t] * z) < np.inf
                ):
                    bad[c] = 1.0
        if bad.sum() > 0.0:
            return np.nan
        for c in prange(n_chunks):
            xi = xi_chunks[c]
            xi[:, :] = 0.0
            for t in range(chunks[c], min(chunks[c + 1], n - 1)):
                g = 1.0 / (scale[t + 1] * norm[t + 1])
                for i in range(k):
                    f = post[t, i] * g
                    if f == 0.0:
                        continue
                    for j in range(k):
                        w = transmat[i, j] * (frame[t + 1, j] * beta[t + 1, j])
                        xi[i, j] = fma(f, w, xi[i, j])
        for c in prange(n_chunks):
            for t in range(chunks[c], chunks[c + 1]):
                z = norm[t]
                for j in range(k):
                    post[t, j] = post[t, j] * beta[t, j] / z
        return results[0]

    return two_way_sequence


#: The E-step of one long sequence on two threads, up to :data:`SMALL_K` states.
two_way_sequence = _make_two_way_sequence(True)
#: :func:`two_way_sequence` for more than :data:`SMALL_K` states.
two_way_sequence_wide = _make_two_way_sequence(False)
