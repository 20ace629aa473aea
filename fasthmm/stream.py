"""Streams: filtering, fixed-lag smoothing and online Viterbi on live data.

A :class:`Stream` takes the observations of one sequence as they arrive, one
at a time or in chunks, and keeps only a few small arrays: the last filtered
row, the running log-likelihood, the last ``lag`` filtered and emission rows
(fixed-lag smoothing) and the Viterbi back-pointers of the steps not yet
decided. Feeding a sequence in any split gives the rows and the path that the
batch calls give on the whole sequence. Create one with
:meth:`fasthmm.BaseHMM.stream` (observations) or :func:`stream_filter`
(log-emissions from elsewhere).

The arithmetic lives in :mod:`fasthmm._kernels.stream`. One observation of
a categorical or Gaussian model takes a compiled path with its checks done
inside the kernels (any rejected observation is checked again by the
family's own ``check_X``, so the error names what is wrong); other families
and chunks go through the emission's ``check_X`` and ``log_likelihood``.
With ``missing="marginalize"``, one observation with missing entries is
pushed directly too, for every family: with nothing observed (NaN, or a row
of NaN) as a row of log-emissions 0 (its emission factor is 1), partly
observed as the marginal density of its observed entries.

Models with input-driven transitions push each chunk with its
``transition_inputs``: each row's transition matrix goes to the kernels with
it, and the stream keeps the last ``lag + 1`` of them for the smoother. An
autoregressive model's stream keeps its last ``order`` rows, the lags of the
next chunk's first rows.
"""

import numpy as np

from ._kernels import stream as _ks
from ._threads import rows_of, threads_for
from ._validation import (
    as_float_array,
    check_allocation,
    check_inputs,
    check_int,
    check_log_emissions,
    check_real_samples,
    row_count,
)
from .emissions import _covariance as cov
from .emissions.categorical import CategoricalEmission
from .emissions.gaussian import GaussianEmission
from .forecast import (
    check_steps,
    input_transmats,
    refuse_future,
    state_forecast,
    stationary_transmats,
)
from .input_transitions import log_transmats

#: Rows a resumed stream may claim to have seen (far beyond any real stream;
#: keeps the time arithmetic of the kernels clear of int64 overflow).
_MAX_ROWS = 2**62

#: Patterns of observed features whose marginal family a stream keeps.
MAX_PATTERNS = 64

_ERRORS = {
    _ks.CHECK: "was rejected",
    _ks.NOT_A_NUMBER: "must not contain NaN",
    _ks.PLUS_INF: "must not contain +inf",
}


def check_stream_options(lag, max_delay, viterbi):
    """Check the options of a stream; return ``(lag, max_delay, viterbi)``."""
    lag = check_int(lag, "lag", 0)
    if max_delay is not None:
        max_delay = check_int(max_delay, "max_delay", 0)
    if not isinstance(viterbi, (bool, np.bool_)):
        raise TypeError(f"viterbi must be True or False, got {viterbi!r}")
    return lag, max_delay, bool(viterbi)


class _LogEmissionRows:
    """Rows of log-emissions given directly (the functional form)."""

    name = "log_emissions"

    def __init__(self, n_components):
        self.k = n_components

    def fast(self, x, fstate, counters, back, states, out):
        if type(x) is np.ndarray and x.dtype == np.float64 and x.shape == (self.k,):
            return _ks.push_log_emissions(x, fstate, counters, back, states, out)
        return None

    @staticmethod
    def gap(x, fstate, counters, back, states, out):
        return None

    order = 0

    def checked(self, x, inputs=None, past=None):
        if inputs is not None:
            raise ValueError(
                "inputs were given but a stream of log-emissions takes none"
            )
        if _ndim(x) == 1:
            x = np.reshape(x, (1, -1))
        le = check_log_emissions(x, self.name)
        if le.shape[1] != self.k:
            raise ValueError(
                f"{self.name} must have n_components = {self.k} columns, got "
                f"shape {le.shape}"
            )
        return le


class _EmissionRows:
    """Rows of log-emissions of observations under an emission family."""

    name = "X"

    def __init__(self, emission, design=None, order=0):
        self.emission = emission
        self.design = design
        #: Rows of the past a new row's log-emission depends on (the lags of
        #: autoregression): the stream keeps them and prepends them.
        self.order = order
        self.k = emission.n_components
        d = emission.n_features
        # A 1-D array of n_features values is one observation of a
        # multi-feature model; otherwise a 1-D array is a chunk, as in fit.
        symbols = isinstance(emission, CategoricalEmission)
        self.width = 1 if symbols else d
        # a row of NaN: log-emissions 0 (with missing="marginalize"); the
        # family over the observed features of each pattern met so far
        self.zeros = np.zeros(self.k) if emission.missing == "marginalize" else None
        self.marginals = {}
        self.fast = self._no_fast_path
        if type(emission) is CategoricalEmission:
            with np.errstate(divide="ignore"):
                self.table = np.ascontiguousarray(
                    np.log(emission.params["emissionprob_"].T)
                )
            self.fast = self._categorical
        else:
            self.terms = _diag_terms(emission)
            if self.terms is not None:
                self.shape = (d,)
                self.fast = self._gaussian_diag

    @staticmethod
    def _no_fast_path(x, fstate, counters, back, states, out):
        return None

    def gap(self, x, fstate, counters, back, states, out):
        """Push one observation with missing entries (NaN) when the model
        integrates missing values out: with nothing observed, a row of
        log-emissions 0 (emission factor 1); partly observed, the marginal
        density of its observed entries (the family's :meth:`marginal`, kept
        per pattern). None for anything else, and for values the family's
        checks reject (the checked path then reports them)."""
        if self.zeros is None:
            return None
        if isinstance(x, (float, np.floating)):
            row = np.array([x]) if self.width == 1 else None
        elif (
            type(x) is np.ndarray and x.dtype == np.float64 and x.shape == (self.width,)
        ):
            row = x
        else:
            row = None
        if row is None:
            return None
        seen = ~np.isnan(row)
        if seen.all():
            return None
        state = (fstate, counters, back, states, out)
        if not seen.any():
            return _ks.push_log_emissions(self.zeros, *state)
        part, terms = self._marginal(seen)
        if part is None:
            return None
        values = np.ascontiguousarray(row[seen])
        if terms is not None:  # diagonal Gaussians: the compiled path
            return _ks.push_diag_gaussian(values, terms, *state)
        try:
            values = part.check_X(values.reshape(1, -1))
        except (ValueError, TypeError):
            return None
        le = np.ascontiguousarray(part.log_likelihood(values)[0])
        return _ks.push_log_emissions(le, *state)

    def _marginal(self, seen):
        """(the family over the features ``seen`` observes, its diagonal
        Gaussian terms or None), kept per pattern; (None, None) for a family
        without marginals (the checked path reports it)."""
        key = seen.tobytes()
        found = self.marginals.get(key)
        if found is None:
            try:
                part = self.emission.marginal(np.flatnonzero(seen))
            except ValueError:
                return None, None
            if len(self.marginals) >= MAX_PATTERNS:
                self.marginals.clear()
            found = self.marginals[key] = (part, _diag_terms(part))
        return found

    def _designed(self, x, inputs, past):
        """The chunk as the emission sees it: the model's ``_design`` of the
        chunk (one sequence) and its checked ``inputs``; with ``order``, of
        the ``past`` rows (the last ``order`` rows pushed before, fewer at
        the start of the sequence) and the chunk, the past rows then dropped,
        so a row's lags and its being scored are those of the whole
        sequence."""
        n = row_count(x)
        if n is None:
            return x
        u = check_inputs(inputs, None, None, n)
        if self.design is None:
            if u is not None:
                raise ValueError("inputs were given but this stream's rows use none")
            return x
        if not self.order:
            return self.design(x, np.array([0, n], dtype=np.int64), u)
        Y = check_real_samples(x, "X", past.shape[1], missing="never")
        h = past.shape[0]
        Y = np.concatenate([past, Y])
        if u is not None:
            u = np.concatenate([np.zeros((h, u.shape[1])), u])
        return self.design(Y, np.array([0, h + n], dtype=np.int64), u)[h:]

    def past_of(self, x, past):
        """The rows a stream keeps after pushing ``x`` (checked by
        :meth:`checked`) on ``past``: the last ``order`` rows."""
        Y = check_real_samples(self.shaped(x), "X", past.shape[1], missing="never")
        return np.concatenate([past, Y])[-self.order :]

    def history(self, past):
        """The ``past`` rows as the emission sees them (their design: only
        the observation columns matter), for forecasts."""
        p = getattr(self.emission, "n_regressors", None)
        if p is None:  # the emission sees X itself
            return past
        h, d = past.shape
        m = self.emission.n_inputs
        if h == 0:
            width = d + p + (1 if self.order else 0)
            return np.zeros((0, width))
        return self.design(past, np.array([0, h], dtype=np.int64), np.zeros((h, m)))

    def _categorical(self, x, fstate, counters, back, states, out):
        if (type(x) is int or isinstance(x, np.integer)) and 0 <= x < len(self.table):
            return _ks.push_symbol(x, self.table, fstate, counters, back, states, out)
        return None

    def _gaussian_diag(self, x, fstate, counters, back, states, out):
        if type(x) is np.ndarray and x.dtype == np.float64 and x.shape == self.shape:
            return _ks.push_diag_gaussian(
                x, self.terms, fstate, counters, back, states, out
            )
        return None

    def shaped(self, x):
        """One observation as a chunk of one row; a chunk as it is."""
        nd = _ndim(x)
        if nd == 0:
            return np.reshape(x, (1, 1))
        if nd == 1 and self.width > 1 and np.shape(x)[0] == self.width:
            return np.reshape(x, (1, -1))
        return x

    def checked(self, x, inputs=None, past=None):
        x = self.shaped(x)
        if inputs is not None or self.design is not None:
            x = self._designed(x, inputs, past)
        X = self.emission.check_X(x)
        le = self.emission.log_likelihood(X)
        return np.ascontiguousarray(le, dtype=np.float64)


def _diag_terms(emission):
    """The terms of :func:`fasthmm._kernels.stream.push_diag_gaussian`
    (means, precisions, log normalisers side by side) of a Gaussian emission
    with diagonal (or spherical) covariances; None for any other."""
    if type(emission) is not GaussianEmission:
        return None
    diagonal, factors, log_norm = cov.density_terms(
        emission.params["means_"],
        emission._stacked(),
        emission.covariance_type,
        emission._group,
    )
    if not diagonal:
        return None
    return np.column_stack([emission.params["means_"], factors, log_norm])


def _ndim(x):
    try:
        return np.ndim(x)
    except ValueError:  # ragged: the checks report it
        return 2


class _FixedChain:
    """A stationary chain: ``transmat`` at every step (in ``fstate``)."""

    per_step = False

    def __init__(self, transmat):
        k = transmat.shape[0]
        self.transmat = transmat
        self.none = np.empty((2, 0, k, k))

    def steps(self, transition_inputs, n):
        """The per-step matrices of :func:`fasthmm._kernels.stream.push`:
        none (the kernel reads ``transmat``)."""
        if transition_inputs is not None:
            raise ValueError(
                "transition_inputs were given but this stream's chain is "
                "stationary: they drive the transitions of models built with "
                "transition_inputs=True"
            )
        return self.none

    def future(self, future_transition_inputs, steps):
        """Transition matrices of the ``steps`` steps after the last row,
        shape (1, steps, K, K)."""
        refuse_future(
            future_transition_inputs, "future_transition_inputs", "transitions"
        )
        return stationary_transmats(self.transmat, 1, steps)


class _InputChain:
    """Input-driven transitions: the matrix of each pushed row from its
    transition inputs (:func:`fasthmm.input_transitions.log_transmats`).

    Parameters
    ----------
    transcoef : ndarray of shape (n_components, n_components, n_inputs)
    """

    per_step = True

    def __init__(self, transcoef):
        self.transcoef = transcoef

    def steps(self, transition_inputs, n):
        """(2, n, K, K): each row's transition matrix, then its logarithm."""
        d = self.transcoef.shape[2]
        if transition_inputs is None:
            raise ValueError(
                "this stream's model has input-driven transitions "
                "(transition_inputs=True): push(x, transition_inputs=w) with w "
                f"of shape (n_new, {d}), the rows aligned with x's (the row of "
                "the first observation of the sequence is not used)"
            )
        w = check_inputs(transition_inputs, None, None, n, "transition_inputs")
        if w.shape[1] != d:
            raise ValueError(
                f"transition_inputs must have {d} columns (transcoef_.shape[2]), "
                f"got {w.shape[1]}"
            )
        log, probs = log_transmats(self.transcoef, w, probs=True)
        return np.stack([probs, log])

    def future(self, future_transition_inputs, steps):
        if future_transition_inputs is None:
            raise ValueError(
                "this stream's model has input-driven transitions: pass "
                "future_transition_inputs=, the transition inputs of the steps "
                f"after the last row, shape ({steps}, {self.transcoef.shape[2]})"
            )
        return input_transmats(self.transcoef, future_transition_inputs, 1, steps)


class Stream:
    """Causal inference on one sequence that arrives in pieces.

    Create it with :meth:`fasthmm.BaseHMM.stream` (for observations) or
    :func:`fasthmm.stream_filter` (for log-emissions); the parameters are
    checked and copied then, so a model refitted later does not change a
    running stream.

    After each :meth:`push`:

    * the return value holds p(z_t | x_0..x_t) for the new rows;
    * :attr:`log_likelihood` is log p(x_0..x_t);
    * :attr:`smoothed` holds the rows that this push completed of the
      fixed-lag smoother, p(z_{t-lag} | x_0..x_t), for times
      ``n_smoothed - len(smoothed)`` to ``n_smoothed - 1`` (with ``lag=0``
      they are the filtered rows);
    * :attr:`states` holds the Viterbi states that this push decided, for
      times ``n_decided - len(states)`` to ``n_decided - 1``: a state is
      emitted as soon as every surviving Viterbi path goes through it
      (``max_delay``: at the latest ``max_delay`` steps after its
      observation, see :meth:`fasthmm.BaseHMM.stream`).

    :meth:`flush` ends the sequence: it returns the smoothed rows and states
    still pending. The concatenated :attr:`smoothed` rows then equal
    ``predict_proba`` on the whole sequence, and the concatenated
    :attr:`states` equal ``decode`` (unless a decision was forced:
    :attr:`n_forced`). :meth:`reset` starts a new sequence.

    Memory: O(K * lag) for smoothing, O(K * delay) for the undecided Viterbi
    steps, whatever the length of the sequence.

    A stream is not thread-safe: use one stream per thread (a fitted model
    can serve many streams at once).

    Attributes
    ----------
    lag : int
    max_delay : int or None
    viterbi : bool
    n_components : int
    log_likelihood : float
        Running log-likelihood of the rows pushed since the last reset.
    n_pushed : int
        Rows pushed since the last reset.
    smoothed : ndarray of shape (n_new_smoothed, n_components)
    states : ndarray of shape (n_new_states,), int64
    n_smoothed, n_decided, n_forced : int
    path_log_prob : float or None
        After :meth:`flush` (Viterbi on): log p(x, emitted path); else None.
    """

    def __init__(
        self,
        rows,
        startprob,
        transmat,
        lag,
        max_delay,
        viterbi,
        chain=None,
        forecaster=None,
    ):
        self._rows = rows
        self.n_components = k = startprob.shape[0]
        # the transitions (chain None: ``transmat`` at every step); what
        # turns the forecast state distributions into predictive means
        self._chain = _FixedChain(transmat) if chain is None else chain
        self._forecaster = forecaster
        self.lag, self.max_delay, self.viterbi = lag, max_delay, viterbi
        self._delay = -1 if max_delay is None else max_delay
        rows = 3 * k + 2 + _ks.ROWS + 2 * (lag + 1)
        check_allocation((rows, k), "lag", lag, "a smoothing window")
        if viterbi and max_delay is not None:
            check_allocation(
                (max_delay + 2, k + 1), "max_delay", max_delay, "a Viterbi window"
            )
        if self._chain.per_step:  # the matrices come with each push
            transmat = np.zeros((k, k))
        self._parameters = _ks.fstate_of(startprob, transmat, lag)
        self._shape1 = (1, k)
        self._no_rows = np.empty((0, k))
        self.reset()

    # -- state ---------------------------------------------------------------
    def reset(self):
        """Start a new sequence (the parameters and options stay)."""
        k = self.n_components
        self._f = self._parameters.copy()
        self._counters = np.zeros(_ks.N_COUNTERS, dtype=np.int64)
        self._counters[_ks.MAX_DELAY] = self._delay
        cap = 16 if self.max_delay is None else self.max_delay + 2
        # Viterbi back-pointers, and a count column (see _kernels.stream)
        self._back = np.zeros((cap if self.viterbi else 0, k + 1), dtype=np.int64)
        self._states_buf = np.empty(cap, dtype=np.int64)
        # per-step chains: the transposed matrices of the last lag + 1 steps
        size = self.lag + 1 if self._chain.per_step else 0
        self._tring = np.zeros((size, k, k))
        # autoregression: the last ``order`` rows pushed
        d = getattr(getattr(self._rows, "emission", None), "n_features", None)
        self._past = np.zeros((0, d or 0))
        self._flushed = False
        self._set_outputs(self._no_rows, self._no_rows, self._states_buf[:0])
        self.path_log_prob = None
        return self

    def _set_outputs(self, filtered, smoothed, states):
        """Outputs of the last push: ``smoothed`` / ``states`` may be None,
        to be read from the scratch buffers when asked for."""
        self._last = filtered
        self._smoothed = smoothed
        self._states = states

    @property
    def smoothed(self):
        """Smoothed rows completed by the last push (or flush), (n, n_components)."""
        if self._smoothed is None:  # one-row push: the kernel's scratch row
            s = 3 * self.n_components + 2 + _ks.SMOOTH
            ready = self.n_pushed > self.lag
            self._smoothed = self._f[s : s + ready].copy()
        return self._smoothed

    @property
    def states(self):
        """Viterbi states decided by the last push (or flush), (n,), int64."""
        if self._states is None:
            self._states = self._states_buf[: self._n_states].copy()
        return self._states

    @property
    def log_likelihood(self):
        return float(self._f[3 * self.n_components + 2 + _ks.LL, 0])

    @property
    def n_pushed(self):
        return int(self._counters[_ks.T_SEEN])

    @property
    def n_smoothed(self):
        t = self.n_pushed
        return t if self._flushed else max(0, t - self.lag)

    @property
    def n_decided(self):
        return int(self._counters[_ks.UNDECIDED]) if self.viterbi else 0

    @property
    def n_forced(self):
        return int(self._counters[_ks.FORCED])

    def get_state(self):
        """The stream's state as a dict of small arrays (copies).

        Save it (``numpy.savez(path, **state)``) and resume with
        :meth:`set_state` on a stream of the same model and options.
        """
        t, lo = self.n_pushed, int(self._counters[_ks.UNDECIDED])
        times = np.arange(lo + 1, t) % max(1, self._back.shape[0])
        fstate = self._f.copy()
        s = 3 * self.n_components + 2
        fstate[[s + i for i in _ks.SCRATCH]] = 0.0
        state = {
            "options": np.array([self.lag, self._delay, self.viterbi], dtype=np.int64),
            "fstate": fstate,
            "back": self._back[times, :-1] if self.viterbi else self._back[:, :-1],
            "counters": self._counters.copy(),
            "flushed": np.array(self._flushed),
        }
        if self._chain.per_step:  # the transitions of the last lag + 1 steps
            state["transitions"] = self._tring.copy()
        if self._rows.order:  # the rows the next ones take as lags
            state["past"] = self._past.copy()
        return state

    def set_state(self, state):
        """Resume from :meth:`get_state`'s arrays (of a stream with the same
        parameters, ``lag``, ``max_delay`` and ``viterbi``).

        Every array is checked before anything changes: the options and the
        chain must be this stream's, the counters consistent (undecided and
        forced steps at most the rows pushed, the Viterbi window as long as
        the undecided steps and at most ``max_delay``), the filtered and
        smoothing rows probabilities (finite, in [0, 1], rows summing to 1),
        the Viterbi scores below +inf and the back-pointers states in
        ``[0, n_components)``. A state that fails raises ValueError naming
        the entry, and the stream is left as it was.

        Returns
        -------
        self
        """
        fstate, counters, back, flushed = self._checked_state(state)
        tring, past = self._checked_extras(state, int(counters[_ks.T_SEEN]))
        self.reset()
        self._tring[:] = tring
        self._past = past.copy()
        self._f[:] = fstate
        self._counters[:] = counters
        self._flushed = flushed
        if self.viterbi:
            t, lo = int(counters[_ks.T_SEEN]), int(counters[_ks.UNDECIDED])
            self._grow(back.shape[0] + 2)
            rows = np.arange(lo + 1, t) % self._back.shape[0]
            self._back[rows, :-1] = back
            self._back[rows, -1] = _ks.UNCOUNTED
        return self

    def _checked_state(self, state):
        """``(fstate, counters, back, flushed)`` of ``state``, all checked."""
        try:
            options = np.asarray(state["options"])
            fstate = state["fstate"]
            back = np.asarray(state["back"])
            counters = np.asarray(state["counters"])
            flushed = np.asarray(state["flushed"])
        except (KeyError, TypeError, IndexError) as exc:
            raise ValueError(
                f"state must be a dict of arrays from Stream.get_state(): {exc!r}"
            ) from None
        want = [self.lag, self._delay, int(self.viterbi)]
        if options.shape != (3,) or options.tolist() != want:
            raise ValueError(
                "state['options'] must be this stream's (lag, max_delay, viterbi) "
                f"= {want} (max_delay None as -1), got {options.tolist()}"
            )
        if flushed.shape != () or flushed.dtype != bool:
            raise ValueError(
                f"state['flushed'] must be a boolean scalar, got {flushed!r}"
            )
        flushed = bool(flushed)
        fstate = as_float_array(fstate, "state['fstate']", allow_neg_inf=True)
        if fstate.shape != self._f.shape:
            raise ValueError(
                f"state['fstate'] must have shape {self._f.shape} for this stream, "
                f"got {fstate.shape}"
            )
        t, lo = self._checked_counters(counters, flushed)
        self._check_rows(fstate, t)
        k = self.n_components
        n_back = max(0, t - lo - 1) if self.viterbi else 0
        if back.shape != (n_back, k) or back.dtype.kind not in "iu":
            raise ValueError(
                f"state['back'] must be integers of shape {(n_back, k)} (one row "
                f"per undecided Viterbi step), got {back.dtype} of shape "
                f"{back.shape}"
            )
        if back.size and not (back.min() >= 0 and back.max() < k):
            raise ValueError(
                f"state['back'] must hold states in [0, {k}), got values from "
                f"{back.min()} to {back.max()}"
            )
        return fstate, counters, back, flushed

    def _checked_extras(self, state, t):
        """The per-step transitions and the past rows of ``state`` (of
        streams that keep them), checked; this stream's empty ones else."""
        tring, past = self._tring, self._past
        try:
            if self._chain.per_step:
                tring = state["transitions"]
            if self._rows.order:
                past = state["past"]
        except (KeyError, TypeError, IndexError) as exc:
            raise ValueError(
                f"state must be a dict of arrays from Stream.get_state(): {exc!r}"
            ) from None
        tring = as_float_array(tring, "state['transitions']", ndim=3)
        if tring.shape != self._tring.shape or not np.all(
            (tring >= 0.0) & (tring <= 1.0)
        ):
            raise ValueError(
                f"state['transitions'] must hold probabilities in [0, 1] of shape "
                f"{self._tring.shape}, got shape {tring.shape}"
            )
        past = as_float_array(past, "state['past']", ndim=2)
        want = (min(self._rows.order, t), self._past.shape[1])
        if past.shape != want:
            raise ValueError(
                f"state['past'] must hold the last rows pushed, shape {want}, got "
                f"shape {past.shape}"
            )
        return tring, past

    def _checked_counters(self, counters, flushed):
        """Check ``state['counters']``; return (rows pushed, first undecided)."""
        if counters.shape != (_ks.N_COUNTERS,) or counters.dtype.kind not in "iu":
            raise ValueError(
                f"state['counters'] must be {_ks.N_COUNTERS} integers, got "
                f"{counters.dtype} of shape {counters.shape}"
            )
        t, lo, forced, delay = (int(c) for c in counters[: _ks.N_COUNTERS])
        # (rows pushed, first undecided time, forced decisions, max_delay)
        if not 0 <= t < _MAX_ROWS:
            raise ValueError(
                f"state['counters'][{_ks.T_SEEN}] (rows pushed) must be in "
                f"[0, {_MAX_ROWS}), got {t}"
            )
        if not self.viterbi:
            lo_range = (0, 0)
        elif flushed:
            lo_range = (t, t)
        else:
            lo_range = (t - (t if self.max_delay is None else self.max_delay), t)
            lo_range = (max(0, lo_range[0]), t)
        if not lo_range[0] <= lo <= lo_range[1]:
            raise ValueError(
                f"state['counters'][{_ks.UNDECIDED}] (first undecided step) must "
                f"be in [{lo_range[0]}, {lo_range[1]}] for {t} rows pushed, got {lo}"
            )
        most = lo if self.max_delay is not None else 0  # forced: decided steps
        if not 0 <= forced <= most:
            raise ValueError(
                f"state['counters'][{_ks.FORCED}] (forced decisions) must be in "
                f"[0, {most}], got {forced}"
            )
        if delay != self._delay:
            raise ValueError(
                f"state['counters'][{_ks.MAX_DELAY}] must be this stream's "
                f"max_delay {self._delay}, got {delay}"
            )
        return t, lo

    def _check_rows(self, fstate, t):
        """Check the chain, the filtered rows and the Viterbi scores of
        ``fstate`` after ``t`` rows."""
        k = self.n_components
        s = 3 * k + 2
        if not np.array_equal(fstate[:s], self._parameters[:s]):
            raise ValueError(
                f"state['fstate'] rows 0 to {s - 1} must be this stream's chain "
                "(the state comes from a stream with other parameters)"
            )
        ring = fstate[s + _ks.ROWS :]
        if not np.isfinite(fstate[s + _ks.LL, 0]):
            raise ValueError(
                f"state['fstate'][{s + _ks.LL}, 0] (log-likelihood) must be finite"
            )
        if t == 0:
            return
        size = ring.shape[0] // 2
        filtered = [fstate[s + _ks.ALPHA]] + [
            ring[2 * (u % size)] for u in range(max(0, t - self.lag), t)
        ]
        probabilities = np.concatenate([fstate[s + _ks.ALPHA][None], ring])
        if not (
            np.all(probabilities >= 0.0)
            and np.all(probabilities <= 1.0)
            and np.all(np.abs(np.sum(filtered, axis=1) - 1.0) <= 1e-9 * k)
        ):
            raise ValueError(
                f"state['fstate'] rows {s + _ks.ALPHA} and from {s + _ks.ROWS} "
                "on (filtered and smoothing rows) must be probabilities in "
                "[0, 1], each filtered row summing to 1"
            )
        delta = fstate[s + _ks.DELTA]
        if self.viterbi and not np.any(delta > -np.inf):
            raise ValueError(
                f"state['fstate'] row {s + _ks.DELTA} (Viterbi scores) must "
                "have a finite entry"
            )

    def _grow(self, need):
        """Make the Viterbi window hold ``need`` steps (keeping its contents)."""
        old = self._back
        if old.shape[0] >= need or not self.viterbi:
            return
        cap = max(need, 2 * old.shape[0])
        new = np.zeros((cap, self.n_components + 1), np.int64)
        t, lo = self.n_pushed, int(self._counters[_ks.UNDECIDED])
        times = np.arange(lo + 1, t)
        new[times % cap] = old[times % old.shape[0]]
        self._back = new
        self._states_buf = np.empty(cap, dtype=np.int64)

    # -- data ----------------------------------------------------------------
    def push(self, x, inputs=None, transition_inputs=None):
        """Add observations of the current sequence.

        Parameters
        ----------
        x : one observation or a chunk of shape (n_new, n_features)
            For a model stream: what ``fit`` takes for one sequence, or one
            observation (a symbol; a scalar for one feature; a 1-D array of
            ``n_features`` values). For :func:`stream_filter`: log-emission
            rows of shape (n_new, n_components), or (n_components,) for one.
        inputs : array-like of shape (n_new, n_inputs), optional
            The inputs of the new rows, for models whose emissions use them
            (as ``fit`` takes them, for this chunk).
        transition_inputs : array-like of shape (n_new, n_transition_inputs), optional
            For a model built with ``transition_inputs=True`` (required then):
            the transition inputs of the new rows, row ``t`` driving the
            transition into observation ``t`` (the first observation's row
            is not used), as ``fit`` takes them.

        Returns
        -------
        filtered : ndarray of shape (n_new, n_components)
            p(z_t | x_0..x_t) for each new row.

        Raises
        ------
        ValueError, TypeError
            Bad input, or an observation that is impossible under the model.
            The stream is then unchanged and can go on.
        """
        fast = inputs is None and transition_inputs is None
        if not self._flushed and fast and not self._chain.per_step:
            # One observation of a known form: one kernel call, which checks it.
            out = np.empty(self._shape1)
            state = (self._f, self._counters, self._back, self._states_buf, out)
            n = self._rows.fast(x, *state)
            if n is None or n < 0:  # a missing observation, pushed as such
                n = self._rows.gap(x, *state)
            if n is not None and n >= 0:
                self._n_states = n
                self._last = out
                self._smoothed = out if self.lag == 0 else None
                self._states = None
                return out
        elif self._flushed:
            raise ValueError(
                "this stream's sequence was ended by flush(): call reset() to "
                "start a new one"
            )
        # Anything else, and whatever the fast path rejected: the family's
        # checks name the problem.
        with threads_for(rows_of(x), self.n_components):
            le = self._rows.checked(x, inputs, self._past)
            steps = self._chain.steps(transition_inputs, le.shape[0])
            past = self._rows.past_of(x, self._past) if self._rows.order else None
            code = self._push(le, steps)
        if code < 0:
            self._raise(-code, le.shape[0])
        if past is not None:
            self._past = past.copy()
        return self._last

    def _push(self, le, steps):
        n, k = le.shape
        counters = self._counters
        t0 = int(counters[_ks.T_SEEN])
        lo = int(counters[_ks.UNDECIDED])
        filtered = np.empty((n, k))
        frames = np.empty((n, k))
        lag = self.lag
        smoothed = np.empty((n, k)) if lag else self._no_rows
        window = t0 - lo + n
        self._grow(window + 1 if self.max_delay is None else 0)
        states = np.empty(window if self.viterbi else 0, dtype=np.int64)
        code = _ks.push(
            le,
            self._f,
            counters,
            self._back,
            filtered,
            frames,
            smoothed,
            states,
            steps,
            self._tring,
        )
        if code >= 0:
            if lag:
                smoothed = smoothed[: max(0, t0 + n - max(t0, lag))]
            else:
                smoothed = filtered
            self._set_outputs(filtered, smoothed, states[:code])
        return code

    def _raise(self, code, n):
        code, row = code % _ks.ERROR_ROW, code // _ks.ERROR_ROW
        where = f"row {row} of the {n} pushed" if n > 1 else "the pushed row"
        if code == _ks.IMPOSSIBLE:
            t = self.n_pushed + row
            raise ValueError(
                f"observation {t} of the sequence ({where}) has zero probability "
                "under the model: every state the chain can be in excludes it; "
                "the stream is unchanged"
            )
        raise ValueError(f"{self._rows.name} {_ERRORS[code]} ({where})")

    def flush(self):
        """End the sequence.

        Returns
        -------
        smoothed : ndarray of shape (min(lag, n_pushed), n_components)
            The smoothed rows still pending, p(z_t | all pushed rows) for the
            last ``lag`` times (empty when ``lag=0``).
        states : ndarray of shape (n_pushed - n_decided,), int64
            The rest of the Viterbi path (empty when ``viterbi=False``).

        Also sets :attr:`smoothed`, :attr:`states` and
        :attr:`path_log_prob`. Call :meth:`reset` before the next sequence.
        """
        if self._flushed:
            raise ValueError("this stream was already flushed: call reset() first")
        t = self.n_pushed
        lo = int(self._counters[_ks.UNDECIDED])
        smoothed = np.empty((min(self.lag, t), self.n_components))
        states = np.empty(t - lo if self.viterbi else 0, dtype=np.int64)
        if t:
            lp = _ks.flush(
                self._f, self._counters, self._back, smoothed, states, self._tring
            )
            self.path_log_prob = float(lp) if self.viterbi else None
        self._flushed = True
        self._set_outputs(self._no_rows, smoothed, states)
        return smoothed, states

    # -- forecasts ------------------------------------------------------------
    def _state_forecast(self, steps, future_transition_inputs):
        """:class:`~fasthmm.forecast.StateForecast` of the rows pushed so far
        (one sequence)."""
        steps = check_steps(steps)
        if self.n_pushed == 0:
            raise ValueError(
                "nothing pushed yet: a forecast needs the filtered state of a "
                "row (push observations first)"
            )
        k = self.n_components
        filtered = self._f[3 * k + 2 + _ks.ALPHA][None]
        transmats = self._chain.future(future_transition_inputs, steps)
        return state_forecast(filtered, transmats)

    def forecast_proba(self, steps=1, *, future_transition_inputs=None):
        """State distributions of the ``steps`` rows after those pushed.

        The filtered state of the last row pushed carried through the
        transitions, as :meth:`fasthmm.BaseHMM.forecast_proba` does for a
        whole sequence (and equal to it on the rows pushed so far).

        Parameters
        ----------
        steps : int >= 1
        future_transition_inputs : array-like of shape (steps, n_transition_inputs)
            For a model with input-driven transitions (required then): the
            transition inputs of the steps after the last row, row ``h - 1``
            driving the transition into step ``h``.

        Returns
        -------
        proba : ndarray of shape (steps, n_components)

        Raises
        ------
        ValueError
            Before the first push (there is no filtered state yet).
        """
        return self._state_forecast(steps, future_transition_inputs).proba[0]

    def forecast(self, steps=1, *, future_inputs=None, future_transition_inputs=None):
        """Predictive mean of the ``steps`` observations after those pushed.

        As :meth:`fasthmm.BaseHMM.forecast` on the rows pushed so far (for
        autoregression, from the last ``order`` rows pushed).

        Parameters
        ----------
        steps : int >= 1
        future_inputs : array-like of shape (steps, n_inputs)
            For a model whose emissions use inputs (required then): their
            values in the steps after the last row.
        future_transition_inputs : array-like
            As in :meth:`forecast_proba`.

        Returns
        -------
        means : ndarray of shape (steps, n_features)

        Raises
        ------
        TypeError
            For a stream of log-emissions (:func:`fasthmm.stream_filter`),
            which knows no emission, and for symbols (no mean).
        """
        emission = getattr(self._rows, "emission", None)
        if emission is None:
            raise TypeError(
                "a stream of log-emission rows has no observations to forecast: "
                "use forecast_proba"
            )
        chain = self._state_forecast(steps, future_transition_inputs)
        if self._forecaster is None:
            refuse_future(future_inputs, "future_inputs", "emissions")
            return chain.proba[0] @ emission.state_means()
        past = self._rows.history(self._past)
        starts = np.array([0, past.shape[0]], dtype=np.int64)
        return self._forecaster(past, starts, chain, future_inputs)[0]
