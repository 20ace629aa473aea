"""The data and statistics of :class:`fasthmm.MarkovSwitchingAR`'s E-step.

A :class:`Batch` holds whole sequences with the lags of their scored rows;
a :class:`Source` gives the batches of one call (X in memory, or walked in
blocks by :mod:`fasthmm._batches`); :class:`SwitchingARStats` are what the
E-step of a batch returns, and add up over batches, so that blocks, dask
partitions (:mod:`fasthmm.distributed`) and online EM
(:mod:`fasthmm.online`) sum them as they sum the HMMs'
:class:`fasthmm.stats.Stats`.
"""

import numpy as np

from . import _batches


class Batch:
    """One batch of whole sequences: the scored rows of every sequence and
    their lags.

    Attributes
    ----------
    y : ndarray (n_samples,)
    starts : ndarray (n_sequences + 1,)
        Sequence offsets in ``y``.
    scored : ndarray of int (n_scored,)
        Rows of ``y`` that are scored (all but each sequence's first ``order``).
    scored_starts : ndarray (n_sequences + 1,)
        Sequence offsets among the scored rows.
    lags : ndarray (n_scored, order)
        ``lags[:, i - 1]`` is ``y_{t-i}``.
    regressors : ndarray (n_scored, order + 1)
        ``y_t`` and its lags.
    u : ndarray (n_samples, n_inputs) or None
        The inputs (regressors in the mean).
    features : ndarray (n_scored, order + 1 + (order + 1) * n_inputs)
        ``regressors``, then (with inputs) ``u_t, u_{t-1}, ..., u_{t-order}``:
        every innovation of the model is linear in ``(1, features)``.
    w : ndarray (n_samples, n_transition_inputs) or None
        The transition inputs (row ``u`` drives the transition into ``u``).
    row0, seq0 : int
        Offsets of the batch's first row and sequence in the whole of X
        (blocks of a larger X).
    """

    def __init__(self, y, starts, order, w=None, row0=0, seq0=0, u=None):
        self.y, self.starts, self.w, self.u = y, starts, w, u
        self.order, self.row0, self.seq0 = order, row0, seq0
        lengths = np.diff(starts)
        self.scored = np.concatenate(
            [np.arange(lo + order, hi) for lo, hi in zip(starts[:-1], starts[1:])]
        )
        self.scored_starts = np.concatenate([[0], np.cumsum(lengths - order)])
        self.lags = np.stack([y[self.scored - i] for i in range(1, order + 1)], axis=1)
        self.regressors = np.column_stack([y[self.scored], self.lags])
        self.features = self.regressors
        if u is not None:
            self.features = np.column_stack(
                [self.regressors] + [u[self.scored - i] for i in range(order + 1)]
            )

    @property
    def n_sequences(self):
        return len(self.starts) - 1

    def slices(self, ranges):
        """The rows of ``ranges`` (row ranges, each longer than ``order``),
        each slice as one sequence: an initialisation sample."""
        if len(ranges) == 1 and ranges[0] == (0, len(self.y)):
            return self
        return Batch.joined(
            [
                Batch(
                    self.y[lo:hi],
                    np.array([0, hi - lo]),
                    self.order,
                    None if self.w is None else self.w[lo:hi],
                    u=None if self.u is None else self.u[lo:hi],
                )
                for lo, hi in ranges
            ]
        )

    @staticmethod
    def joined(parts):
        """The batches of ``parts`` as one (their sequences in order)."""
        if len(parts) == 1:
            return parts[0]
        starts = [0]
        for part in parts:
            starts += list(starts[-1] + part.starts[1:])
        w = None if parts[0].w is None else np.concatenate([p.w for p in parts])
        u = None if parts[0].u is None else np.concatenate([p.u for p in parts])
        y = np.concatenate([p.y for p in parts])
        return Batch(y, np.array(starts), parts[0].order, w, u=u)


class Source:
    """The data of one call as batches of whole sequences: X in memory (one
    batch, read once), or walked in blocks within the model's
    ``memory_budget`` (:mod:`fasthmm._batches`: a memmap, or a list of
    arrays with ``lengths`` per array), each block read when needed.

    Attributes
    ----------
    n_rows, n_sequences : int
    """

    def __init__(self, model, X, lengths, transition_inputs, inputs=None):
        self.model = model
        n_states = model.n_components ** (model.order + 1)
        self.blocks = _batches.plan(
            X,
            lengths,
            n_states,
            _batches.budget_of(model),
            _batches.Aligned(model, inputs, transition_inputs),
        )
        if self.blocks is None:
            self._data = model._read(X, lengths, transition_inputs, inputs)
            self.n_rows, self.n_sequences = len(self._data.y), self._data.n_sequences
        else:
            self.n_rows = self.blocks.n_rows
            self.n_sequences = len(self.blocks.starts) - 1

    def __iter__(self):
        """The batches, in order (:class:`Batch` with their offsets)."""
        if self.blocks is None:
            yield self._data
            return
        for i in range(self.blocks.n_blocks):
            yield self._block(i)

    def _block(self, i):
        blocks = self.blocks
        s0, s1 = int(blocks.bounds[i]), int(blocks.bounds[i + 1])
        lo, hi = int(blocks.starts[s0]), int(blocks.starts[s1])
        try:
            w = blocks.transition_rows(lo, hi)
            u = blocks._aligned_rows(blocks.input_pieces, "inputs", lo, hi)
            data = self.model._read(
                blocks._raw_rows(lo, hi), np.diff(blocks.starts[s0 : s1 + 1]), w, u
            )
        except (ValueError, TypeError) as exc:
            raise type(exc)(f"{blocks._where(lo, hi)}: {exc}") from None
        data.row0, data.seq0 = lo, s0
        return data

    def sample(self):
        """The initialisation sample: every row when X has at most
        ``_batches.INIT_SAMPLE_ROWS``, else its evenly spread slices
        (:func:`fasthmm._batches.sample_ranges`), each as one sequence."""
        if self.blocks is None:
            return self._data
        ranges = _batches.sample_ranges(self.n_rows)
        if ranges == [(0, self.n_rows)]:
            return Batch.joined(list(self))
        blocks = self.blocks
        y = np.concatenate([blocks._raw_rows(lo, hi) for lo, hi in ranges])
        w = blocks.sample_transition_rows()
        u = None
        if blocks.input_pieces is not None:
            u = np.concatenate(
                [
                    blocks._aligned_rows(blocks.input_pieces, "inputs", lo, hi)
                    for lo, hi in ranges
                ]
            )
        return self.model._read(y, [hi - lo for lo, hi in ranges], w, u)

    def stats(self, params):
        """The E-step's statistics of every batch, summed in order."""
        total = None
        for data in self:
            stats = self.model._batch_stats(params, data)
            total = stats if total is None else total + stats
        return total


class SwitchingARStats:
    """What the M-step reads from the E-step of whole sequences; statistics
    of disjoint batches add up (``+``), so blocks, partitions and online
    batches sum them as the HMMs' :class:`fasthmm.stats.Stats`.

    Attributes
    ----------
    loglik : float
    moments : ndarray (K^(p+1), q, q)
        Posterior-weighted second moments of ``(1, features)`` (``q = p + 2``
        without inputs; see :class:`Batch`) per tuple state (:meth:`MarkovSwitchingAR._moments`).
    counts : ndarray (K, K)
        Expected regime transitions.
    start_counts : ndarray (K,)
        Expected first regimes.
    n_sequences, n_samples : int
        Sequences, and scored rows.
    steps : tuple or None
        Input-driven transitions: ``(xi, w, head_w, first_regimes)``, the
        expected transitions into every row but each sequence's first
        (n, K, K) and those rows' transition inputs (n, n_transition_inputs),
        each sequence's first row of inputs (n_sequences,
        n_transition_inputs) and first-regime posterior (n_sequences, K);
        concatenated by ``+``.
    """

    def __init__(
        self, loglik, moments, counts, start_counts, n_sequences, n_samples, steps
    ):
        self.loglik = loglik
        self.moments = moments
        self.counts = counts
        self.start_counts = start_counts
        self.n_sequences = n_sequences
        self.n_samples = n_samples
        self.steps = steps

    def __add__(self, other):
        steps = None
        if self.steps is not None:
            steps = tuple(np.concatenate(pair) for pair in zip(self.steps, other.steps))
        return SwitchingARStats(
            self.loglik + other.loglik,
            self.moments + other.moments,
            self.counts + other.counts,
            self.start_counts + other.start_counts,
            self.n_sequences + other.n_sequences,
            self.n_samples + other.n_samples,
            steps,
        )

    def scaled(self, factor):
        """Every sum times ``factor`` (online EM's running average; the
        transition inputs kept)."""
        steps = None
        if self.steps is not None:
            xi, w, head_w, first_regimes = self.steps
            steps = (xi * factor, w, head_w, first_regimes * factor)
        return SwitchingARStats(
            self.loglik * factor,
            self.moments * factor,
            self.counts * factor,
            self.start_counts * factor,
            self.n_sequences,
            self.n_samples,
            steps,
        )

    def compacted(self, max_rows):
        """Online EM's running statistics bounded: the per-step transitions
        merged and bounded as the HMMs' (:func:`fasthmm.online.kept_steps`),
        the first rows' inputs and regimes the newest ``max_rows``."""
        if self.steps is None:
            return self
        from .input_transitions import StepCounts
        from .online import kept_steps

        xi, w, head_w, first_regimes = self.steps
        kept = kept_steps(StepCounts(xi, w), max_rows)
        steps = (kept.xi, kept.w, head_w[-max_rows:], first_regimes[-max_rows:])
        return SwitchingARStats(
            self.loglik,
            self.moments,
            self.counts,
            self.start_counts,
            self.n_sequences,
            self.n_samples,
            steps,
        )
