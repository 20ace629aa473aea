"""Data larger than memory: walk X in blocks of whole sequences within a budget.

``fit``, ``score``, ``predict``, ``predict_proba``, ``decode``,
``forecast_proba`` and ``forecast`` accept a
NumPy memmap (``np.load(path, mmap_mode="r")``), or a list of arrays or
memmaps (one per sequence, or one per file with ``lengths`` given per file).
When the working memory of one pass over all of X would exceed the model's
``memory_budget``, the data is cut into blocks of whole sequences, each
block is read (a slice of the memmap), checked and turned into statistics,
and the statistics are summed in block order (:class:`fasthmm.stats.Stats`
add up), so EM is the usual loop (:func:`fasthmm.em.run_em`) with a
different way of producing the statistics.

Working memory per row of a block is estimated by :func:`bytes_per_row`
(the E-step's two (rows x n_components) float64 buffers and the emission's
temporaries); the buffers are allocated once and reused by every block.
What a call returns (posteriors, state paths) is the caller's memory and
is not counted.
"""

import numpy as np

from ._missing import is_gapped, marked, n_observed_rows, plain
from ._validation import check_int, check_labels, check_lengths, input_rows
from .em import Params, expected_stats, labelled_stats, maximize, objective, run_em
from .emissions import Emission
from .inference import (
    Clamp,
    Workspace,
    e_step,
    forward_pass,
    raise_if_impossible,
    sequence_log_likelihoods,
    viterbi_decode,
)

#: Default working-memory budget of a model (``memory_budget=None``): 1 GiB.
DEFAULT_MEMORY_BUDGET = 2**30

#: Rows of the sample that initialises a fit walked in blocks: that many rows
#: in :data:`INIT_SLICES` contiguous slices spread evenly over X (all of X when
#: it has fewer rows, so that the initialisation then equals the in-memory one).
INIT_SAMPLE_ROWS = 100_000
INIT_SLICES = 100


def sample_ranges(n_rows, size=INIT_SAMPLE_ROWS, n_slices=INIT_SLICES):
    """Row ranges of an initialisation sample of ``n_rows`` rows.

    All rows when there are at most ``size``; else ``n_slices`` contiguous
    slices of ``size // n_slices`` rows, evenly spread from the first row to
    the last.

    Returns
    -------
    list of (int, int)
    """
    if n_rows <= size:
        return [(0, n_rows)]
    n_slices = max(1, min(n_slices, size))
    width = size // n_slices
    firsts = np.linspace(0, n_rows - width, n_slices).astype(np.int64)
    return [(int(a), int(a) + width) for a in firsts]


def joined(parts):
    """Checked samples of several pieces, concatenated row-wise.

    Samples with missing entries keep their mark
    (:class:`fasthmm._missing.Gapped`) when a piece has it, so that the
    emission integrates them out (a plain concatenation would drop it).

    Parameters
    ----------
    parts : list of ndarray
        Checked samples of the same family, each of shape (n_i, ...).

    Returns
    -------
    ndarray of shape (sum of n_i, ...)
    """
    if len(parts) == 1:
        return parts[0]
    out = np.concatenate([plain(p) for p in parts], axis=0)
    return marked(out, any(is_gapped(p) for p in parts))


def implied_n_features(emission, X):
    """``n_features`` implied by checked samples ``X``: their number of
    columns, or for a family that reads it off the values (the number of
    symbols), the observed values only (0 when nothing is observed)."""
    if is_gapped(X) and type(emission)._n_features_of is not Emission._n_features_of:
        if n_observed_rows(X) == 0:
            return 0
        from .emissions._gaps import observed_rows

        X = observed_rows(emission, X)
    return emission._n_features_of(X)


def bytes_per_row(n_components, n_features):
    """Estimated working memory, in bytes, of one row of a block.

    The E-step's frame and posteriors (n_components float64 each), per-row
    shift and scale, the log-emission temporaries (n_components), and the
    samples' converted copy and the emission's temporaries (three float64
    per feature).
    """
    return 8 * (3 * n_components + 3 * n_features + 4)


def budget_of(model):
    """The model's memory budget in bytes (checked)."""
    value = model.memory_budget
    if value is None:
        return DEFAULT_MEMORY_BUDGET
    return check_int(value, "memory_budget", 1)


def _list_of_sequences(X):
    """Whether ``X`` is a non-empty list or tuple whose items are sequences."""
    return (
        isinstance(X, (list, tuple)) and len(X) > 0 and all(np.ndim(x) >= 1 for x in X)
    )


class Aligned:
    """What rides along X's rows through the blocks: the model (whose
    :meth:`~fasthmm.base.BaseHMM._design` builds what the emission sees) and
    the raw ``inputs`` / ``transition_inputs`` (one array, or one per array
    of X), sliced and checked block by block as X is."""

    def __init__(self, model, inputs=None, transition_inputs=None):
        self.model = model
        self.inputs = inputs
        self.transition_inputs = transition_inputs

    def pieces(self, name, n_pieces):
        """The raw arrays of ``name`` aligned with X's arrays, or None."""
        value = getattr(self, name)
        if value is None:
            return None
        if n_pieces == 1 and not isinstance(value, (list, tuple)):
            return [value]
        if not isinstance(value, (list, tuple)) or len(value) != n_pieces:
            raise ValueError(f"{name} must hold one array per array of X ({n_pieces})")
        return list(value)


def plan(X, lengths, n_components, budget, aligned=None):
    """:class:`Blocks` over ``X`` when it must be walked, else None.

    X is walked in blocks when it is a NumPy array (a memmap included) or a
    list of them and one pass over it would need more than ``budget`` bytes,
    or when it is a list of arrays with ``lengths`` given per array. Anything
    else takes the in-memory path unchanged.
    """
    per_file = (
        _list_of_sequences(X)
        and isinstance(lengths, (list, tuple))
        and all(n is None or np.ndim(n) == 1 for n in lengths)
    )
    if isinstance(X, np.ndarray):
        pieces, piece_lengths = [X], [lengths]
    elif _list_of_sequences(X) and all(isinstance(x, np.ndarray) for x in X):
        pieces = list(X)
        if per_file:
            if len(lengths) != len(pieces):
                raise ValueError(
                    f"lengths must hold one entry per array of X ({len(pieces)}), "
                    f"got {len(lengths)}"
                )
            piece_lengths = list(lengths)
        elif lengths is not None:
            return None  # the in-memory path reports the error
        else:
            piece_lengths = [None] * len(pieces)
    else:
        if per_file:
            raise TypeError(
                "lengths given per array needs X to be a list of NumPy arrays"
            )
        return None
    if any(p.ndim not in (1, 2) for p in pieces):
        return None  # the in-memory path reports the error
    n_rows = sum(p.shape[0] for p in pieces)
    n_features = pieces[0].shape[1] if pieces[0].ndim == 2 else 1
    max_rows = max(1, budget // bytes_per_row(n_components, n_features))
    if n_rows <= max_rows and not per_file:
        return None
    return Blocks(pieces, piece_lengths, n_components, max_rows, aligned)


class Blocks:
    """X as blocks of whole sequences, each at most ``max_rows`` rows.

    A block holds at least one sequence: a single sequence longer than
    ``max_rows`` is a block of its own (sequences are never split).

    Parameters
    ----------
    pieces : list of ndarray
        The arrays of X (one when X is one array).
    piece_lengths : list
        Each array's sequence lengths (None: one sequence).
    n_components : int
    max_rows : int
    aligned : Aligned, optional
        The model and the inputs aligned with X's rows.
    """

    def __init__(self, pieces, piece_lengths, n_components, max_rows, aligned=None):
        self.pieces = pieces
        self.aligned = aligned
        self.input_pieces = self.w_pieces = None
        self.model = None if aligned is None else aligned.model
        if aligned is not None:
            self.input_pieces = aligned.pieces("inputs", len(pieces))
            self.w_pieces = aligned.pieces("transition_inputs", len(pieces))
            if self.model.transition_inputs and self.w_pieces is None:
                self.model._transition_rows(None, None, 0, None)  # says why
            if not self.model.transition_inputs and self.w_pieces is not None:
                self.model._transition_rows(None, None, 0, self.w_pieces)
        self.several = len(pieces) > 1
        for i, p in enumerate(pieces):
            if p.ndim != pieces[0].ndim or p.shape[1:] != pieces[0].shape[1:]:
                raise ValueError(
                    f"X[{i}] has shape {p.shape}, X[0] has shape {pieces[0].shape}: "
                    "the arrays of X must all be 1-D or all be 2-D with the same "
                    "number of columns"
                )
        lens = []
        for i, (p, n) in enumerate(zip(pieces, piece_lengths)):
            where = f"lengths[{i}]" if self.several else "lengths"
            lens.append(np.diff(check_lengths(n, p.shape[0], where)))
        self.piece_rows = np.cumsum([0] + [p.shape[0] for p in pieces])
        self.starts = np.concatenate([[0], np.cumsum(np.concatenate(lens))]).astype(
            np.int64
        )
        self.n_rows = int(self.starts[-1])
        self.n_components = n_components
        bounds = [0]
        n_seq = self.starts.shape[0] - 1
        while bounds[-1] < n_seq:
            s0 = bounds[-1]
            end = int(np.searchsorted(self.starts, self.starts[s0] + max_rows, "right"))
            bounds.append(min(max(end - 1, s0 + 1), n_seq))
        self.bounds = np.array(bounds, dtype=np.int64)
        rows = np.diff(self.starts[self.bounds])
        seqs = np.diff(self.bounds)
        # One reused buffer for every block's workspace.
        k = n_components
        self._arena = np.empty(int(rows.max()) * (2 * k + 2) + int(seqs.max()))

    @property
    def n_blocks(self):
        return self.bounds.shape[0] - 1

    # -- reading --------------------------------------------------------------
    def _where(self, lo, hi):
        """How an error names rows lo:hi of X."""
        if not self.several:
            return f"X[{lo}:{hi}]"
        first = int(np.searchsorted(self.piece_rows, lo, "right")) - 1
        last = int(np.searchsorted(self.piece_rows, hi, "left")) - 1
        return f"X[{first}]" if first == last else f"X[{first}:{last + 1}]"

    def _raw_rows(self, lo, hi, pieces=None):
        """Rows lo:hi of X (or of arrays aligned with it), across its arrays
        (a view when inside one)."""
        pieces = self.pieces if pieces is None else pieces
        p0 = int(np.searchsorted(self.piece_rows, lo, "right")) - 1
        parts = []
        p = p0
        while p < len(self.pieces) and self.piece_rows[p] < hi:
            a = max(lo, self.piece_rows[p]) - self.piece_rows[p]
            b = min(hi, self.piece_rows[p + 1]) - self.piece_rows[p]
            parts.append(np.asarray(pieces[p][a:b]))
            p += 1
        if len(parts) == 1:
            return np.asarray(parts[0])
        return np.concatenate(parts, axis=0)

    def _aligned_rows(self, pieces, name, lo, hi):
        if pieces is None:
            return None
        return input_rows(self._raw_rows(lo, hi, pieces), name, hi - lo)

    def checked_rows(self, emission, lo, hi, starts=None):
        """Rows lo:hi as ``emission`` sees them (through the model's
        ``_design`` when inputs ride along), checked; errors say where."""
        raw = self._raw_rows(lo, hi)
        try:
            if self.model is None:
                return emission.check_X(raw)
            if starts is None:  # a sample: its rows as one sequence
                starts = np.array([0, hi - lo], dtype=np.int64)
            u = self._aligned_rows(self.input_pieces, "inputs", lo, hi)
            return emission.check_X(self.model._design(raw, starts, u))
        except (ValueError, TypeError) as exc:
            raise type(exc)(f"{self._where(lo, hi)}: {exc}") from None

    def transition_rows(self, lo, hi):
        """Rows lo:hi of ``transition_inputs``, checked (None without)."""
        try:
            return self._aligned_rows(self.w_pieces, "transition_inputs", lo, hi)
        except (ValueError, TypeError) as exc:
            raise type(exc)(f"{self._where(lo, hi)}: {exc}") from None

    def block(self, emission, i):
        """Block ``i``: (checked X, starts from 0, first row)."""
        s0, s1 = int(self.bounds[i]), int(self.bounds[i + 1])
        lo, hi = int(self.starts[s0]), int(self.starts[s1])
        starts = self.starts[s0 : s1 + 1] - lo
        return self.checked_rows(emission, lo, hi, starts), starts, lo

    def workspace(self, starts):
        """A workspace for one block, on the reused buffer."""
        offset = [0]

        def alloc(shape):
            size = int(np.prod(shape))
            if offset[0] + size > self._arena.shape[0]:
                return np.empty(shape)  # the small per-thread blocks
            view = self._arena[offset[0] : offset[0] + size].reshape(shape)
            offset[0] += size
            return view

        return Workspace(starts, self.n_components, alloc=alloc)

    def walk(self, emission):
        """Yield (X, starts, first row, workspace) for every block, in order."""
        for i in range(self.n_blocks):
            X, starts, lo = self.block(emission, i)
            yield X, starts, lo, self.workspace(starts)

    def bound(self, params, lo, n_rows):
        """``params`` with the chain bound to rows lo:lo + n_rows'
        ``transition_inputs`` (unchanged without)."""
        return params.bound(self.transition_rows(lo, lo + n_rows))

    def sample(self, emission):
        """The initialisation sample (see :func:`sample_ranges`), checked."""
        return joined(
            [
                self.checked_rows(emission, lo, hi)
                for lo, hi in sample_ranges(self.n_rows)
            ]
        )

    def sample_transition_rows(self):
        """The rows of ``transition_inputs`` of :meth:`sample` (None without)."""
        if self.w_pieces is None:
            return None
        parts = [self.transition_rows(lo, hi) for lo, hi in sample_ranges(self.n_rows)]
        return np.concatenate(parts, axis=0)

    # -- what the model methods need ------------------------------------------
    def prepare(self, emission):
        """Set ``emission.n_features`` from X if still unknown.

        A family that reads it off the number of columns takes it from the
        arrays' shape (every block is checked against it as it is read); one
        that reads it off the values (the number of symbols) needs one pass
        over every block first.
        """
        if emission.n_features is not None:
            return emission
        if type(emission)._n_features_of is Emission._n_features_of:
            first = self.pieces[0]
            emission._n_features = first.shape[1] if first.ndim == 2 else 1
            return emission
        n_features = 0
        for i in range(self.n_blocks):
            X, _, _ = self.block(emission, i)
            n_features = max(n_features, implied_n_features(emission, X))
        emission._n_features = n_features
        return emission

    def expected_stats(self, params, labels=None):
        """E-step over every block, statistics summed in block order."""
        total = None
        for X, starts, lo, ws in self.walk(params.emission):
            clamp = None if labels is None else Clamp(labels[lo : lo + X.shape[0]])
            w = self.transition_rows(lo, lo + X.shape[0])
            try:
                stats = expected_stats(params, X, starts, clamp, ws, w)
            except ValueError as exc:
                raise ValueError(f"{self._where(lo, lo + X.shape[0])}: {exc}") from None
            total = stats if total is None else total + stats
        return total

    def labelled_stats(self, params, labels):
        total = None
        for X, starts, lo, _ in self.walk(params.emission):
            w = self.transition_rows(lo, lo + X.shape[0])
            stats = labelled_stats(params, X, starts, labels[lo : lo + X.shape[0]], w)
            total = stats if total is None else total + stats
        return total

    def fit(self, model, emission, states, monitor):
        """EM over the blocks; returns the parameters (the model commits them)."""
        k = model.n_components
        if self.n_rows < k:
            raise ValueError(
                f"n_components = {k} exceeds the number of samples ({self.n_rows}): "
                "every state needs data"
            )
        labels = (
            None
            if states is None
            else check_labels(states, self.n_rows, k, starts=self.starts)
        )
        self.prepare(emission)
        emission.check_hyperparameters()
        sample = self.sample(emission)
        labelled = (
            labels is not None
            and np.all(labels >= 0)
            and emission.closed_form_given_states
        )
        params = model._initialized(
            emission,
            sample,
            n_values=self.n_rows * (sample.size // sample.shape[0]),
            labelled=labelled,
            w=self.sample_transition_rows(),
        )
        if labelled:
            params = maximize(params, self.labelled_stats(params, labels), model.params)
            monitor.report(objective(params, self.expected_stats(params, labels)))
            return params
        return run_em(
            lambda p: self.expected_stats(p, labels), params, model.params, monitor
        )

    def log_likelihood(self, params):
        """Summed log-likelihood (forward pass only), block by block.

        Also sets :attr:`n_observed_rows`: the rows with an observed entry
        (the sample size of BIC).
        """
        total = 0.0
        observed = 0
        for X, _, lo, ws in self.walk_loaded(params):
            t = self.bound(params, lo, X.shape[0]).transitions
            total += float(sequence_log_likelihoods(ws, t.startprob, t.transmat).sum())
            observed += n_observed_rows(X)
        self.n_observed_rows = observed
        return total

    def walk_loaded(self, params):
        for X, starts, lo, ws in self.walk(params.emission):
            ws.load(params.emission, X)
            yield X, starts, lo, ws

    def filtered_last(self, params):
        """Filtered state of each sequence's last row, shape (n_sequences,
        n_components), by the forward pass block by block."""
        out = np.empty((self.starts.shape[0] - 1, self.n_components))
        for i, (X, starts, lo, ws) in enumerate(self.walk_loaded(params)):
            t = self.bound(params, lo, X.shape[0]).transitions
            ll = forward_pass(ws, t.startprob, t.transmat)
            raise_if_impossible(ll, self._where(lo, lo + X.shape[0]))
            out[self.bounds[i] : self.bounds[i + 1]] = ws.post[starts[1:] - 1]
        return out

    def posteriors(self, params):
        """(log-likelihood, posteriors of shape (n_rows, n_components))."""
        out = np.empty((self.n_rows, self.n_components))
        total = 0.0
        for X, _, lo, ws in self.walk_loaded(params):
            t = self.bound(params, lo, X.shape[0]).transitions
            ll, _, _ = e_step(ws, t.startprob, t.transmat)
            raise_if_impossible(ll, self._where(lo, lo + X.shape[0]))
            out[lo : lo + X.shape[0]] = ws.post
            total += float(ll.sum())
        return total, out

    def viterbi(self, params):
        """(log-probability of the best paths, states of shape (n_rows,))."""
        states = np.empty(self.n_rows, dtype=np.int64)
        total = 0.0
        for X, starts, lo, _ in self.walk(params.emission):
            t = self.bound(params, lo, X.shape[0]).transitions
            # The log-emissions go to the reused buffer.
            rows = self._arena[: X.shape[0] * self.n_components]
            le = params.emission.log_likelihood(X, out=rows.reshape(X.shape[0], -1))
            lp, path, _ = viterbi_decode(le, t.startprob, t.transmat, starts)
            raise_if_impossible(lp, self._where(lo, lo + X.shape[0]))
            states[lo : lo + X.shape[0]] = path
            total += float(lp.sum())
        return total, states


__all__ = ["Blocks", "DEFAULT_MEMORY_BUDGET", "Params", "bytes_per_row", "plan"]
