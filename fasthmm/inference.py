"""Inference over log-emission matrices: the functional API and the E-step.

The public functions here take a log-emission matrix (from any source: one of
fasthmm's emission classes, a neural network, ...) plus the start and
transition probabilities, validate them once, and run the batch kernels.
The models use the same :class:`Workspace` and :func:`e_step`: the workspace
owns the E-step's buffers, builds the frame from an emission
(:meth:`Workspace.load`), applies known states (:class:`Clamp`) and settles
sequences the scaled kernels cannot settle (:func:`resolve_unsettled`). Emissions
only return log-likelihoods (or probabilities) and never see these buffers.

The inference calls (log-likelihoods, filtered rows, posteriors, Viterbi)
need no frame: :func:`direct_log_likelihoods`, :func:`direct_posteriors`
and :func:`viterbi_decode` run the kernels of
:mod:`fasthmm._kernels.direct` on the log-emissions themselves, and settle
the few sequences those leave unsettled by the frame route on their rows
alone (:func:`_sub_batch`), with the same results.
"""

import math

import numpy as np

from ._kernels import direct as D
from ._kernels import hmm as K
from ._kernels import varying as V
from ._kernels.logspace import has_subnormal, log_space_sequence
from ._kernels.partition import LONG_SEQUENCE, TIME_CHUNK, block_bounds
from ._threads import run_blocks, threads_for, use_threads
from ._validation import (
    as_float_array,
    check_finite,
    check_lengths,
    check_log_emissions,
    check_startprob,
    check_transmat,
)


class PerStep:
    """Transition matrices that change at every step (input-driven chains).

    What a bound :class:`fasthmm.input_transitions.InputTransitions` gives as
    its ``transmat``; every route given one runs the kernels of
    :mod:`fasthmm._kernels.varying` instead of the stationary ones (a scaled
    forward-backward with a log-space fallback, a log-space Viterbi).

    Parameters
    ----------
    log : ndarray of shape (n_samples, n_components, n_components) or None
        ``log p(z_t = j | z_{t-1} = i)`` in ``[t, i, j]`` (rows that start a
        sequence unused).
    probs : ndarray of the same shape, optional
        ``exp(log)``, when the caller has it.
    make : callable, optional
        ``make(probs)`` returns ``log``, or with ``probs`` the pair ``(log,
        probs)`` from one pass: the matrices are then computed on first use,
        only the logarithms for the routes that need no more (Viterbi).
    make_probs : callable, optional
        ``make_probs()`` returns ``probs`` alone: the routes that run in
        probability space (scores, posteriors) then compute the logarithms
        only for a sequence that needs them (:attr:`known_log`).
    """

    def __init__(self, log=None, probs=None, make=None, make_probs=None):
        self._log = log
        self._probs = probs
        self._make = make
        self._make_probs = make_probs

    @property
    def known_log(self):
        """The log transition matrices if computed, else None."""
        return self._log

    @property
    def log(self):
        """The log transition matrices (computed once, on first use)."""
        if self._log is None:
            self._log = self._make(False)
        return self._log

    @property
    def probs(self):
        """The matrices as probabilities, ``exp(log)`` (computed once, on
        first use, with the logarithms when they are not there yet)."""
        if self._probs is None:
            if self._log is None and self._make_probs is not None:
                self._probs = self._make_probs()
            elif self._log is None and self._make is not None:
                self._log, self._probs = self._make(True)
            else:
                self._probs = np.exp(self.log)
        return self._probs


def _workspace_log_emissions(ws):
    """The log-emissions of a loaded workspace, every row."""
    if ws.from_log:
        return ws.frame
    n = int(ws.starts[-1])
    return np.ascontiguousarray(ws.log_emissions_of(0, n), dtype=np.float64)


def varying_pass(log_emissions, starts, startprob, steps, post, smooth, xi=None):
    """Forward(-backward) with per-step transitions (:class:`PerStep`).

    Runs :func:`fasthmm._kernels.varying.varying_block` over blocks of
    sequences (on several threads for large work; each sequence's results
    depend on its rows alone), then
    :func:`fasthmm._kernels.varying.log_sequence` on each sequence it left
    to the log-space recursion (a kernel compiled only when one needs it).

    Parameters
    ----------
    log_emissions : ndarray of shape (n_samples, n_components)
    starts : ndarray of shape (n_sequences + 1,)
    startprob : ndarray of shape (n_components,)
    steps : PerStep
    post : ndarray of shape (n_samples, n_components)
        Output: filtered rows, or posteriors with ``smooth``.
    smooth : bool
    xi : ndarray of shape (n_samples, n_components, n_components), optional
        Output: per-step expected transition counts.

    Returns
    -------
    ll : ndarray of shape (n_sequences,)

    Raises
    ------
    ValueError
        When the log-emissions hold NaN or ``+inf``.
    """
    n, k = log_emissions.shape
    le = np.ascontiguousarray(log_emissions, dtype=np.float64)
    with np.errstate(divide="ignore"):
        log_sp = np.log(startprob)
    blocks = block_bounds(starts)
    n_blocks = blocks.shape[0] - 1
    ll = np.empty(starts.shape[0] - 1)
    fallback = np.zeros(starts.shape[0] - 1, dtype=np.int64)
    out_xi = np.empty((0, k, k)) if xi is None else xi
    args = (le, log_sp, steps.probs, starts, blocks)
    after = (ll, post, np.bool_(smooth), out_xi, fallback)
    run_blocks(V.varying_block, args, after, n_blocks, use_threads(n, k * k))
    valid = True
    for s in np.flatnonzero(fallback):  # sequences that need log space
        lo, hi = starts[s], starts[s + 1]
        tail = (lo, hi, ll, s, post, np.bool_(smooth), out_xi)
        valid &= V.log_sequence(le, log_sp, steps.log, *tail)
    if not valid:
        check_finite(le, "log_emissions", allow_neg_inf=True)
    return ll


class Clamp:
    """Known states of a partly labelled batch.

    Parameters
    ----------
    labels : ndarray of shape (n_samples,), int64
        A state in [0, n_components), or -1 for unknown.
    """

    def __init__(self, labels):
        self.n_samples = labels.shape[0]
        self.rows = np.flatnonzero(labels >= 0)
        self.states = labels[self.rows]

    def apply(self, frame, fill, offset=0):
        """Set every entry of a labelled row but the known state's to ``fill``.

        Parameters
        ----------
        frame : ndarray of shape (n_rows, n_components)
            Rows ``offset:offset + n_rows`` of the batch.
        fill : float
        offset : int
        """
        rows, states = self.rows, self.states
        if offset or frame.shape[0] != self.n_samples:
            inside = (rows >= offset) & (rows < offset + frame.shape[0])
            rows, states = rows[inside] - offset, states[inside]
        keep = frame[rows, states]
        frame[rows] = fill
        frame[rows, states] = keep


class Workspace:
    """Buffers for the E-step of one batch, allocated once and reused.

    Parameters
    ----------
    starts : ndarray of shape (n_sequences + 1,)
    n_components : int
    alloc : callable ``shape -> ndarray``, optional
        Gives the buffers (default ``numpy.empty``); a caller walking many
        batches passes views of memory it reuses.

    Attributes
    ----------
    frame : ndarray of shape (n_samples, n_components)
        What the kernels read: log-emissions (``from_log``, after
        :meth:`load`), or the shifted emission probabilities (after
        :meth:`load_probabilities` or :meth:`load_log_emissions`).
    from_log : bool
        Whether :attr:`frame` holds log-emissions (read a chunk of rows at a
        time by :mod:`fasthmm._kernels.direct`, no frame of probabilities).
    shift : ndarray of shape (n_samples,)
        The shift of a frame of probabilities (unused when ``from_log``).
    post : ndarray of shape (n_samples, n_components)
        Filtered distributions after a forward pass, posteriors after an E-step.
    scale : ndarray of shape (n_samples,)
    ll : ndarray of shape (n_sequences,)
        Log-likelihood of each sequence.
    xi_blocks : ndarray of shape (n_blocks, n_components, n_components)
    """

    def __init__(self, starts, n_components, alloc=np.empty):
        n = int(starts[-1])
        self.starts = starts
        self.blocks = block_bounds(starts)
        self.frame = alloc((n, n_components))
        self.shift = alloc(n)
        self.post = alloc((n, n_components))
        self.scale = alloc(n)
        self.ll = alloc(starts.shape[0] - 1)
        self.from_log = False
        self.log_emissions_of = None
        lengths = np.diff(starts)
        self.long_sequences = np.flatnonzero(lengths >= LONG_SEQUENCE)
        self.beta = None  # backward rows of long sequences, allocated when needed
        self.xi_blocks = alloc((self.blocks.shape[0] - 1, n_components, n_components))

    def load(self, emission, X, clamp=None):
        """Load ``X`` under ``emission`` into :attr:`frame`, in place.

        Uses the emission's probability fast path when it offers one (no
        shift, no exponentials), else its log-likelihoods, which the kernels
        read directly (``from_log``: no frame of probabilities is built).
        With ``clamp``, every state but the known one of a labelled row
        becomes impossible.

        Parameters
        ----------
        emission : fasthmm.emissions.Emission
        X : ndarray
            Checked samples.
        clamp : Clamp, optional
        """

        if self.load_probabilities(emission, X, clamp):
            return
        frame = emission.log_likelihood(X, out=self.frame)
        if clamp is not None:
            clamp.apply(frame, -np.inf)
        self.from_log = True
        self.log_emissions_of = lambda lo, hi: frame[lo:hi]

    def load_probabilities(self, emission, X, clamp=None):
        """Build the frame from the emission's probabilities, if it offers them.

        Parameters
        ----------
        emission, X, clamp :
            As in :meth:`load`.

        Returns
        -------
        loaded : bool
            False when the emission has no probability fast path (the frame
            is then undefined).
        """
        if emission.likelihood(X, self.frame) is None:
            return False
        self.shift[:] = 0.0
        if clamp is not None:
            clamp.apply(self.frame, 0.0)
        self.from_log = False
        self.log_emissions_of = _rows_of(emission, X, clamp)
        return True

    def load_log_emissions(self, log_emissions):
        """Build the shifted probability frame of ``log_emissions``.

        Parameters
        ----------
        log_emissions : ndarray of shape (n_samples, n_components)
            Kept (not copied) for :func:`resolve_unsettled`.
        """
        self.from_log = False
        K.exp_shift_from(log_emissions, self.frame, self.shift)
        self.log_emissions_of = lambda lo, hi: log_emissions[lo:hi]


def _rows_of(emission, X, clamp):
    """``(lo, hi) -> log-emissions of rows lo:hi`` (known states clamped)."""

    def log_emissions_of(lo, hi):
        out = emission.log_likelihood(X[lo:hi])
        if clamp is not None:
            clamp.apply(out, -np.inf, offset=lo)
        return out

    return log_emissions_of


def log_space_only(startprob, transmat):
    """Whether a chain must take the exact log-space route for every sequence.

    True when a start or transition probability is subnormal (positive, below
    about 2.2e-308): the scaled kernels' products with it keep only a few bits,
    an error a later step can amplify into the log-likelihood, while the
    log-space route takes its logarithm, which is exact. EM never produces
    such values (its M-step sets them to 0); a model set by hand can hold them.
    """
    return has_subnormal(startprob, transmat)


def resolve_unsettled(ws, ll, startprob, transmat, xi=None):
    """Settle the sequences the scaled kernels left as NaN, exactly.

    A NaN log-likelihood means a step's normaliser fell below
    :data:`fasthmm._kernels.hmm.NORMALISER_FLOOR`: the sequence is
    impossible, or the states carrying its probability sit so far below the
    step's largest log-emission (over all states) that the shifted frame
    loses them. Each such sequence is run again in log space by
    :func:`fasthmm._kernels.logspace.log_space_sequence`: its exact
    log-likelihood (``-inf`` if impossible), its filtered rows in ``ws.post``
    or, when ``xi`` is given, its posteriors (and its transition counts added
    to ``xi``). Sequences are settled one by one in order, so the result does
    not depend on the thread count.

    Parameters
    ----------
    ws : Workspace
    ll : ndarray of shape (n_sequences,)
        Updated in place.
    startprob, transmat : ndarray
    xi : ndarray of shape (n_components, n_components), optional

    Returns
    -------
    ll : ndarray of shape (n_sequences,)
    """
    k = ws.frame.shape[1]
    for s in np.flatnonzero(np.isnan(ll)):
        lo, hi = int(ws.starts[s]), int(ws.starts[s + 1])
        le = np.ascontiguousarray(ws.log_emissions_of(lo, hi), dtype=np.float64)
        counts = np.zeros((k, k))
        ll[s] = log_space_sequence(
            le, startprob, transmat, ws.post, lo, hi, xi is not None, counts
        )
        if xi is not None:
            xi += counts
    return ll


def _no_rows(k):
    """Empty outputs for :func:`fasthmm._kernels.direct.forward_block`."""
    return np.empty((0, k)), np.empty(0)


#: ``long_from`` of :func:`fasthmm._kernels.direct.forward_block` that skips
#: no sequence.
_ANY_LENGTH = np.iinfo(np.int64).max
_NO_COUNTS = np.empty((0, 0, 0))


def _forward_backward(
    emissions,
    shift,
    from_log,
    starts,
    blocks,
    startprob,
    transmat,
    ll,
    post,
    scale,
    smooth,
    xi_blocks=_NO_COUNTS,
):
    """The one forward-backward route over every sequence of a batch:
    :func:`fasthmm._kernels.direct.forward_block` (then, with ``smooth``,
    :func:`fasthmm._kernels.direct.smooth_block`) over all the blocks on the
    calling thread for small work (see :func:`fasthmm._threads.use_threads`),
    else over contiguous ranges of blocks on several threads at once
    (:func:`fasthmm._threads.run_blocks`: no parallel kernel to compile).

    Every route runs it: log-likelihoods (``post`` without rows), filtered
    rows (``smooth=False``), posteriors, and the E-step (``xi_blocks`` with
    a row per block: transition counts; long sequences are then left to
    :func:`long_sequence_e_step`).

    Returns
    -------
    status : int
        0: every sequence is settled; 1: some log-likelihood is NaN (a
        normaliser fell below the floor); 2: NaN or ``+inf`` in the
        log-emissions.
    """
    n, k = emissions.shape
    n_blocks = blocks.shape[0] - 1
    invalid = np.empty(n_blocks, dtype=np.int64)
    long_from = LONG_SEQUENCE if xi_blocks.shape[0] else _ANY_LENGTH
    threads = use_threads(n, k)
    args = (emissions, shift, from_log, startprob, transmat, starts, blocks)
    run_blocks(
        D.forward_block_for(k),
        args,
        (ll, post, scale, invalid, long_from),
        n_blocks,
        threads,
    )
    if smooth:
        args = (emissions, shift, from_log, transmat, np.ascontiguousarray(transmat.T))
        run_blocks(
            D.smooth_block_for(k),
            (*args, starts, blocks),
            (ll, post, xi_blocks, long_from),
            n_blocks,
            threads,
        )
    if invalid.any():
        return 2
    return 1 if np.isnan(ll).any() else 0


def _run_forward(ws, startprob, transmat, alpha, scale, smooth=False):
    """The forward kernel over a loaded workspace's frame (then, with
    ``smooth``, the backward pass: posteriors in ``alpha``), and the
    sequences it leaves unsettled settled by :func:`resolve_unsettled`."""
    k = ws.frame.shape[1]
    if isinstance(transmat, PerStep):
        le = _workspace_log_emissions(ws)
        out = alpha if alpha.shape[0] else np.empty(ws.post.shape)
        ws.ll[:] = varying_pass(le, ws.starts, startprob, transmat, out, smooth)
        return ws.ll
    xi = np.zeros((k, k)) if smooth else None  # posteriors wanted, counts not
    if log_space_only(startprob, transmat):
        ws.ll[:] = np.nan
        return resolve_unsettled(ws, ws.ll, startprob, transmat, xi)
    _forward_backward(
        ws.frame,
        ws.shift,
        ws.from_log,
        ws.starts,
        ws.blocks,
        startprob,
        transmat,
        ws.ll,
        alpha,
        scale,
        smooth,
    )
    return resolve_unsettled(ws, ws.ll, startprob, transmat, xi)


def sequence_log_likelihoods(ws, startprob, transmat):
    """Log-likelihood of each sequence of a loaded workspace (forward pass only).

    Keeps one filtered row per thread instead of all of them.

    Returns
    -------
    ll : ndarray of shape (n_sequences,)
    """
    return _run_forward(ws, startprob, transmat, *_no_rows(ws.frame.shape[1]))


def forward_pass(ws, startprob, transmat):
    """Run the forward kernel over a loaded workspace; filtered rows go to ``ws.post``."""
    return _run_forward(ws, startprob, transmat, ws.post, ws.scale)


def _direct(log_emissions, starts, startprob, transmat, post, smooth=True):
    """Run :func:`fasthmm._kernels.direct.forward_block` over log-emissions.

    With ``post`` of shape (n_samples, n_components), filtered rows into
    ``post``, then (``smooth``) the backward pass turns them into posteriors;
    with no rows, the forward pass alone.

    Returns
    -------
    ll : ndarray of shape (n_sequences,)
    status : int
        See :func:`_forward_backward`.
    """
    k = log_emissions.shape[1]
    ll = np.empty(starts.shape[0] - 1)
    if log_space_only(startprob, transmat):
        ll[:] = np.nan  # every sequence for the frame route, which settles it
        return ll, 1
    smooth = smooth and post.shape[0] > 0
    no_scale = _no_rows(k)[1]  # no frame shift, no normalisers kept
    status = _forward_backward(
        log_emissions,
        no_scale,
        True,
        starts,
        block_bounds(starts),
        startprob,
        transmat,
        ll,
        post,
        no_scale,
        smooth,
    )
    return ll, status


def direct_log_likelihoods(log_emissions, starts, startprob, transmat):
    """Log-likelihood of each sequence, read from the log-emissions directly.

    No frame is built: :func:`fasthmm._kernels.direct.forward_block`
    exponentiates a chunk of rows at a time and checks the values as it reads
    them. Small work runs on the calling thread (see
    :func:`fasthmm._threads.use_threads`). Sequences with a normaliser
    below the floor are settled exactly (:func:`resolve_unsettled`) on their
    rows alone; the result is the one :func:`sequence_log_likelihoods` gives.

    Parameters
    ----------
    log_emissions : ndarray of shape (n_samples, n_components), C-contiguous
    starts : ndarray of shape (n_sequences + 1,)
    startprob, transmat : ndarray

    Returns
    -------
    ll : ndarray of shape (n_sequences,), or None
        None when the log-emissions hold NaN or ``+inf``.
    """
    k = log_emissions.shape[1]
    ll, status = _direct(log_emissions, starts, startprob, transmat, _no_rows(k)[0])
    if status == 2:
        return None
    if status == 1:
        redo = np.flatnonzero(np.isnan(ll))
        ws, rows = _sub_batch(log_emissions, starts, redo)
        if ws is None:
            return None
        with threads_for(rows.size, k):
            ll[redo] = sequence_log_likelihoods(ws, startprob, transmat)
    return ll


def direct_posteriors(log_emissions, starts, startprob, transmat, smooth=True):
    """Log-likelihoods and posteriors, read from the log-emissions directly.

    :func:`direct_log_likelihoods` with the backward pass: no frame, no
    transition counts; the posteriors are those of :func:`e_step`. Sequences
    of :data:`~fasthmm._kernels.partition.LONG_SEQUENCE` steps or more are
    not for this route (:func:`long_sequence_e_step` runs them on two
    threads). With ``smooth=False``, the filtered rows of
    :func:`forward_pass` instead (any length).

    Returns
    -------
    ll : ndarray of shape (n_sequences,), or None
        None when the log-emissions hold NaN or ``+inf``.
    post : ndarray of shape (n_samples, n_components)
    """
    post = np.empty(log_emissions.shape)
    ll, status = _direct(log_emissions, starts, startprob, transmat, post, smooth)
    if status == 2:
        return None, post
    if status == 1:
        redo = np.flatnonzero(np.isnan(ll))
        ws, rows = _sub_batch(log_emissions, starts, redo)
        if ws is None:
            return None, post
        with threads_for(*ws.frame.shape):
            if smooth:
                ll[redo], _, _ = e_step(ws, startprob, transmat)
            else:
                ll[redo] = forward_pass(ws, startprob, transmat)
        post[rows] = ws.post
    return ll, post


def emission_posteriors(emission, X, starts, startprob, transmat):
    """Log-likelihoods and posteriors of ``X`` under a checked emission.

    The E-step's posteriors without its transition counts: emissions with a
    probability fast path run the forward and backward passes over the frame,
    the others' log-likelihoods are read directly
    (:func:`direct_posteriors`). Batches with a sequence of
    :data:`~fasthmm._kernels.partition.LONG_SEQUENCE` steps or more take
    :func:`e_step`.

    Returns
    -------
    ll : ndarray of shape (n_sequences,)
    post : ndarray of shape (n_samples, n_components)
    """
    k = emission.n_components
    if isinstance(transmat, PerStep):
        post = np.empty((X.shape[0], k))
        le = emission.log_likelihood(X)
        return varying_pass(le, starts, startprob, transmat, post, True), post
    ws = Workspace(starts, k)
    if ws.long_sequences.size == 0:
        if ws.load_probabilities(emission, X):
            ll = _run_forward(ws, startprob, transmat, ws.post, ws.scale, True)
            return ll, ws.post
        le = emission.log_likelihood(X, out=ws.frame)
        ll, post = direct_posteriors(le, starts, startprob, transmat)
        if ll is not None:
            return ll, post
    ws.load(emission, X)
    ll, _, _ = e_step(ws, startprob, transmat)
    return ll, ws.post


def _sub_batch(log_emissions, starts, seqs):
    """A loaded workspace of sequences ``seqs`` alone, and their rows.

    The workspace is None when those rows hold NaN or ``+inf``: the direct
    kernels stop reading a sequence at a normaliser below the floor, so its later rows
    are checked here.
    """
    rows = np.concatenate([np.arange(starts[s], starts[s + 1]) for s in seqs])
    values = log_emissions[rows]
    if not (values < np.inf).all():
        return None, rows
    sub_starts = np.zeros(seqs.size + 1, dtype=np.int64)
    np.cumsum(starts[seqs + 1] - starts[seqs], out=sub_starts[1:])
    ws = Workspace(sub_starts, log_emissions.shape[1])
    ws.load_log_emissions(values)
    return ws, rows


def emission_log_likelihoods(emission, X, starts, startprob, transmat):
    """Log-likelihood of each sequence of ``X`` under a checked emission.

    Emissions with a probability fast path take the frame route; the others'
    log-likelihoods are computed into one buffer and read directly
    (:func:`direct_log_likelihoods`).

    Returns
    -------
    ll : ndarray of shape (n_sequences,)
    """
    if isinstance(transmat, PerStep):
        le = emission.log_likelihood(X)
        post = np.empty(le.shape)
        return varying_pass(le, starts, startprob, transmat, post, False)
    ws = Workspace(starts, emission.n_components)
    if not ws.load_probabilities(emission, X):
        le = emission.log_likelihood(X, out=ws.frame)
        ll = direct_log_likelihoods(le, starts, startprob, transmat)
        if ll is not None:
            return ll
        ws.load(emission, X)  # values the direct route does not take
    return sequence_log_likelihoods(ws, startprob, transmat)


def e_step(ws, startprob, transmat):
    """Forward-backward with transition counts over a loaded workspace.

    The kernel of every other route (:func:`_forward_backward`), with the
    counts; sequences of :data:`~fasthmm._kernels.partition.LONG_SEQUENCE`
    steps or more run on two threads (:func:`long_sequence_e_step`), and
    the sequences left unsettled are settled in log space
    (:func:`resolve_unsettled`).

    Returns
    -------
    ll : ndarray of shape (n_sequences,)
        Log-likelihood of each sequence (``-inf`` for impossible ones).
    xi : ndarray of shape (n_components, n_components)
        Expected transition counts summed over time and sequences.
    start_counts : ndarray of shape (n_components,)
        Posteriors of the first state summed over sequences.

    ``ws.post`` holds the posteriors on return. With per-step transitions
    (:class:`PerStep`), ``xi`` holds the counts of every step, shape
    (n_samples, n_components, n_components).
    """
    if isinstance(transmat, PerStep):
        le = _workspace_log_emissions(ws)
        n, k = le.shape
        xi = np.empty((n, k, k))
        ws.ll[:] = varying_pass(le, ws.starts, startprob, transmat, ws.post, True, xi)
        return ws.ll, xi, ws.post[ws.starts[:-1]].sum(axis=0)
    if log_space_only(startprob, transmat):
        ws.ll[:] = np.nan
        xi = np.zeros_like(transmat)
        resolve_unsettled(ws, ws.ll, startprob, transmat, xi)
        return ws.ll, xi, ws.post[ws.starts[:-1]].sum(axis=0)
    _forward_backward(
        ws.frame,
        ws.shift,
        ws.from_log,
        ws.starts,
        ws.blocks,
        startprob,
        transmat,
        ws.ll,
        ws.post,
        ws.scale,
        True,
        ws.xi_blocks,
    )
    xi = ws.xi_blocks.sum(axis=0)
    for s in ws.long_sequences:
        xi += long_sequence_e_step(ws, s, startprob, transmat)
    resolve_unsettled(ws, ws.ll, startprob, transmat, xi)
    start_counts = ws.post[ws.starts[:-1]].sum(axis=0)
    return ws.ll, xi, start_counts


def long_sequence_e_step(ws, s, startprob, transmat):
    """Forward-backward of one long sequence of a loaded workspace.

    Runs :func:`fasthmm._kernels.direct.two_way_sequence` (forward and
    backward passes at once, then chunks of time in parallel) over the
    sequence's frame of probabilities (built here from log-emissions, once:
    the passes then read it three times without exponentiating again), or
    the one-thread kernel where that method cannot settle the sequence (zero
    or extreme normalisers). Which method runs depends only on the data,
    never on the thread count.

    Returns
    -------
    xi : ndarray of shape (n_components, n_components)
        The sequence's expected transition counts (zero if it is impossible).
    """
    lo, hi = int(ws.starts[s]), int(ws.starts[s + 1])
    n, k = hi - lo, ws.frame.shape[1]
    frame, shift = ws.frame[lo:hi], ws.shift[lo:hi]
    if ws.from_log:
        frame, shift = np.empty((n, k)), np.empty(n)
        K.exp_shift_from(ws.frame[lo:hi], frame, shift)
    if ws.beta is None or ws.beta.shape[0] < n:
        ws.beta = np.empty((n, k))
    post, scale = ws.post[lo:hi], ws.scale[lo:hi]
    chunks = np.append(np.arange(0, n, TIME_CHUNK), n).astype(np.int64)
    xi_chunks = np.empty((chunks.shape[0] - 1, k, k))
    two_way = D.two_way_sequence if k <= D.SMALL_K else D.two_way_sequence_wide
    ll = two_way(
        frame, shift, startprob, transmat, post, scale, ws.beta[:n], chunks, xi_chunks
    )
    xi = xi_chunks.sum(axis=0)
    if np.isnan(ll) or not np.all(np.isfinite(xi)):
        xi = np.zeros((k, k))
        ll = D.forward_backward_one(
            frame, shift, startprob, transmat, 0, n, post, scale, xi
        )
    ws.ll[s] = ll
    return xi


def viterbi_decode(log_emissions, startprob, transmat, starts):
    """Run the Viterbi kernel on validated inputs.

    Up to :data:`~fasthmm._kernels.direct.SMALL_K` states, the direct
    kernel (which also checks the log-emissions as it reads them); above,
    :func:`fasthmm._kernels.hmm.viterbi_blocks`. Both give the same values,
    paths and ties.

    Returns
    -------
    lp : ndarray of shape (n_sequences,)
    states : ndarray of shape (n_samples,), int64
    clean : bool
        True when the kernel read the log-emissions and found no NaN or
        ``+inf``; False when it found some or did not look (the caller
        decides what that means).
    """
    le = np.ascontiguousarray(log_emissions, dtype=np.float64)
    n, k = le.shape
    back = np.empty((n, k), dtype=np.int32)
    states = np.empty(n, dtype=np.int64)
    lp = np.empty(starts.shape[0] - 1)
    if isinstance(transmat, PerStep):
        with np.errstate(divide="ignore"):
            log_sp = np.log(startprob)
        clean = V.varying_viterbi(le, log_sp, transmat.log, starts, back, states, lp)
        if not clean:
            check_finite(le, "log_emissions", allow_neg_inf=True)
        return lp, states, True
    blocks = block_bounds(starts)
    if k <= D.SMALL_K:
        clean = run_blocks(
            _viterbi_blocks,
            (le, startprob, transmat, starts, blocks),
            (back, states, lp),
            blocks.shape[0] - 1,
            use_threads(n, k),
        )
        return lp, states, all(clean)
    with np.errstate(divide="ignore"):
        log_start = np.log(startprob)
        log_trans = np.log(transmat)
    run_blocks(
        K.viterbi_blocks,
        (le, log_start, log_trans, starts, blocks),
        (back, states, lp),
        blocks.shape[0] - 1,
        use_threads(n, k),
    )
    return lp, states, False


def _viterbi_blocks(le, startprob, transmat, starts, blocks, b0, b1, back, states, lp):
    """:func:`fasthmm._kernels.direct.viterbi_block` over the sequences of
    blocks ``b0:b1`` (a range that :func:`fasthmm._threads.run_blocks` hands
    to a thread); returns whether their log-emissions were clean."""
    return D.viterbi_block(
        le, startprob, transmat, starts, blocks[b0], blocks[b1], back, states, lp
    )


def first_impossible(ll):
    """Index of the first sequence with a non-finite log-likelihood, or None."""
    bad = np.flatnonzero(~np.isfinite(ll))
    return int(bad[0]) if bad.size else None


def _total(ll):
    """``ll.sum()`` as a float, ``+inf`` (no warning) when it overflows."""
    with np.errstate(over="ignore", invalid="ignore"):
        return float(ll.sum())


def raise_if_overflow(ll, what="the data"):
    """Raise ``ValueError`` when a log-likelihood (or their sum) is ``+inf``:
    log-emissions so large that the probabilities overflow float64."""
    total = _total(ll)
    if total < np.inf and not math.isnan(total):
        return
    up = np.flatnonzero(ll == np.inf)
    where = f"sequence {int(up[0])} of {what}" if up.size else f"{what} as a whole"
    if up.size or total == np.inf:
        raise ValueError(
            f"the log-likelihood of {where} overflows float64 (+inf): the "
            f"values of {what} are so large that the probabilities overflow"
        )


def raise_if_impossible(ll, what="the data"):
    """Raise ``ValueError`` when a sequence has zero probability under the model
    (or a log-likelihood overflows, see :func:`raise_if_overflow`)."""
    if math.isfinite(_total(ll)):  # the common case, in one reduction
        return
    raise_if_overflow(ll, what)
    bad = first_impossible(ll)
    if bad is not None:
        raise ValueError(
            f"sequence {bad} of {what} has zero probability under the model "
            "(log-likelihood -inf): every state path is excluded by a zero in "
            "startprob, transmat or the emissions"
        )


def _check_inputs(log_emissions, startprob, transmat, lengths, scan=True):
    """Checked inputs of the functional API; ``scan=False`` leaves the NaN /
    ``+inf`` check of the log-emissions to the kernel (see :func:`forward`)."""
    le = check_log_emissions(log_emissions, scan=scan)
    k = le.shape[1]
    sp = check_startprob(startprob, k)
    tm = check_transmat(transmat, k)
    starts = check_lengths(lengths, le.shape[0])
    return le, sp, tm, starts


def _loaded_workspace(le, starts):
    """A workspace holding the frame of checked log-emissions."""
    ws = Workspace(starts, le.shape[1])
    ws.load_log_emissions(le)
    return ws


def forward(log_emissions, startprob, transmat, lengths=None):
    """Log-likelihood of one or more sequences by the forward algorithm.

    Parameters
    ----------
    log_emissions : array-like of shape (n_samples, n_components)
        ``log p(x_t | z_t = k)``; ``-inf`` marks an impossible emission.
    startprob : array-like of shape (n_components,)
    transmat : array-like of shape (n_components, n_components)
    lengths : array-like of int, optional
        Lengths of the concatenated sequences; default: one sequence.

    Returns
    -------
    log_likelihood : float
        Summed over sequences; ``-inf`` when a sequence is impossible.
    """
    le, sp, tm, starts = _check_inputs(
        log_emissions, startprob, transmat, lengths, scan=False
    )
    ll = direct_log_likelihoods(le, starts, sp, tm)
    if ll is None:
        check_finite(le, "log_emissions", allow_neg_inf=True)
    raise_if_overflow(ll, "log_emissions")
    return float(ll.sum())


def forward_filter(log_emissions, startprob, transmat, lengths=None):
    """Filtered state probabilities p(z_t | x_1..x_t), without look-ahead.

    Parameters
    ----------
    log_emissions, startprob, transmat, lengths :
        As in :func:`forward`.

    Returns
    -------
    log_likelihood : float
    filtered : ndarray of shape (n_samples, n_components)
    """
    le, sp, tm, starts = _check_inputs(
        log_emissions, startprob, transmat, lengths, scan=False
    )
    ll, filtered = direct_posteriors(le, starts, sp, tm, smooth=False)
    if ll is None:
        check_finite(le, "log_emissions", allow_neg_inf=True)
    raise_if_impossible(ll, "log_emissions")
    return float(ll.sum()), filtered


def stream_filter(startprob, transmat, lag=0, max_delay=None, viterbi=True):
    """A stream over log-emission rows: the functional form of
    :meth:`fasthmm.BaseHMM.stream`.

    Parameters
    ----------
    startprob : array-like of shape (n_components,)
    transmat : array-like of shape (n_components, n_components)
    lag, max_delay, viterbi :
        As in :meth:`fasthmm.BaseHMM.stream`.

    Returns
    -------
    stream : fasthmm.stream.Stream
        ``stream.push(log_emissions)`` takes rows of shape
        (n_new, n_components), or (n_components,) for one row.
    """
    from .stream import Stream, _LogEmissionRows, check_stream_options

    lag, max_delay, viterbi = check_stream_options(lag, max_delay, viterbi)
    sp = as_float_array(startprob, "startprob", ndim=1)
    sp = check_startprob(sp, sp.shape[0])
    tm = check_transmat(transmat, sp.shape[0])
    rows = _LogEmissionRows(sp.shape[0])
    return Stream(rows, sp, tm, lag, max_delay, viterbi)


def forward_backward(log_emissions, startprob, transmat, lengths=None):
    """Log-likelihood and state posteriors p(z_t | x) by forward-backward.

    Parameters
    ----------
    log_emissions, startprob, transmat, lengths :
        As in :func:`forward`.

    Returns
    -------
    log_likelihood : float
    posteriors : ndarray of shape (n_samples, n_components)
        Each row sums to 1.

    Raises
    ------
    ValueError
        When a sequence has zero probability, so that its posteriors are
        undefined.
    """
    le, sp, tm, starts = _check_inputs(
        log_emissions, startprob, transmat, lengths, scan=False
    )
    if starts[-1] < LONG_SEQUENCE or np.diff(starts).max() < LONG_SEQUENCE:
        ll, post = direct_posteriors(le, starts, sp, tm)
    else:
        ll = None
    if ll is None:
        check_finite(le, "log_emissions", allow_neg_inf=True)
        with threads_for(*le.shape):
            ws = _loaded_workspace(le, starts)
            ll, _, _ = e_step(ws, sp, tm)
        post = ws.post
    raise_if_impossible(ll, "log_emissions")
    return float(ll.sum()), post


def viterbi(log_emissions, startprob, transmat, lengths=None):
    """Most likely state path (Viterbi), ties broken towards lower states.

    Parameters
    ----------
    log_emissions, startprob, transmat, lengths :
        As in :func:`forward`.

    Returns
    -------
    log_prob : float
        Log joint probability of the best path(s) and the data, summed over
        sequences.
    states : ndarray of shape (n_samples,), int64

    Raises
    ------
    ValueError
        When a sequence has zero probability (no path is possible).
    """
    le, sp, tm, starts = _check_inputs(
        log_emissions, startprob, transmat, lengths, scan=False
    )
    lp, states, valid = viterbi_decode(le, sp, tm, starts)
    if not valid:
        check_finite(le, "log_emissions", allow_neg_inf=True)
    raise_if_impossible(lp, "log_emissions")
    return float(lp.sum()), states


def backward_sample_steps(filtered, log_steps, starts, uniforms):
    """Backward sampling of state paths with per-step transitions.

    Parameters
    ----------
    filtered : ndarray of shape (n_samples, n_components)
        Filtered rows p(z_t | x_1..x_t).
    log_steps : ndarray of shape (n_samples, n_components, n_components)
        Per-step log transition matrices (:class:`PerStep`).
    starts : ndarray of shape (n_sequences + 1,)
    uniforms : ndarray of shape (n_draws, n_samples)
        Uniform draws, one per row and path.

    Returns
    -------
    states : ndarray of shape (n_draws, n_samples), int64
    """
    n_draws = uniforms.shape[0]
    k = filtered.shape[1]
    states = np.empty(uniforms.shape, dtype=np.int64)

    def draw(weights, u):
        c = np.cumsum(weights, axis=1)
        return np.minimum((c < u[:, None] * c[:, -1:]).sum(axis=1), k - 1)

    for s in range(starts.shape[0] - 1):
        lo, hi = int(starts[s]), int(starts[s + 1])
        last = np.broadcast_to(filtered[hi - 1], (n_draws, k))
        states[:, hi - 1] = draw(last, uniforms[:, hi - 1])
        for t in range(hi - 1, lo, -1):
            # p(z_{t-1} = i | z_t = j, x_1..x_{t-1}) ∝ filtered[t-1, i] A_t[i, j]
            weights = filtered[t - 1] * np.exp(log_steps[t][:, states[:, t]].T)
            states[:, t - 1] = draw(weights, uniforms[:, t - 1])
    return states
