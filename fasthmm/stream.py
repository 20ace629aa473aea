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
"""

import numpy as np

from ._kernels import gaussian as _kg
from ._kernels import stream as _ks
from ._validation import as_float_array, check_int, check_log_emissions
from .emissions import _covariance as cov
from .emissions.categorical import CategoricalEmission
from .emissions.gaussian import GaussianEmission

_ERRORS = {
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

    def fast(self, x):
        if type(x) is np.ndarray and x.dtype == np.float64 and x.shape == (self.k,):
            return x.reshape(1, self.k)
        return None

    def checked(self, x):
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

    def __init__(self, emission):
        self.emission = emission
        self.k = emission.n_components
        d = emission.n_features
        # A 1-D array of n_features values is one observation of a
        # multi-feature model; otherwise a 1-D array is a chunk, as in fit.
        symbols = isinstance(emission, CategoricalEmission)
        self.width = 1 if symbols else d
        self.fast = self._no_fast_path
        self.out = np.empty((1, self.k))
        if type(emission) is CategoricalEmission:
            with np.errstate(divide="ignore"):
                self.table = np.ascontiguousarray(
                    np.log(emission.params["emissionprob_"].T)
                )
            self.fast = self._categorical
        elif type(emission) is GaussianEmission:
            diagonal, factors, log_norm = cov.density_terms(
                emission.params["means_"],
                emission._stacked(),
                emission.covariance_type,
                emission._group,
            )
            self.terms = (emission.params["means_"], factors, log_norm)
            self.shape = (d,)
            if diagonal:
                self.fast = self._gaussian_diag
            else:
                self.y = np.empty(d)
                self.fast = self._gaussian_cholesky

    @staticmethod
    def _no_fast_path(x):
        return None

    def _categorical(self, x):
        if (type(x) is int or isinstance(x, np.integer)) and 0 <= x < len(self.table):
            return self.table[x : x + 1]
        return None

    def _gaussian_diag(self, x):
        if type(x) is np.ndarray and x.dtype == np.float64 and x.shape == self.shape:
            means, precisions, log_norm = self.terms
            _kg.diag_log_density_row(x, means, precisions, log_norm, self.out[0])
            return self.out
        return None

    def _gaussian_cholesky(self, x):
        if type(x) is np.ndarray and x.dtype == np.float64 and x.shape == self.shape:
            means, chol, log_norm = self.terms
            _kg.cholesky_log_density_row(x, means, chol, log_norm, self.y, self.out[0])
            return self.out
        return None

    def checked(self, x):
        nd = _ndim(x)
        if nd == 0:
            x = np.reshape(x, (1, 1))
        elif nd == 1 and self.width > 1 and np.shape(x)[0] == self.width:
            x = np.reshape(x, (1, -1))
        X = self.emission.check_X(x)
        le = self.emission.log_likelihood(X)
        return np.ascontiguousarray(le, dtype=np.float64)


def _ndim(x):
    try:
        return np.ndim(x)
    except ValueError:  # ragged: the checks report it
        return 2


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

    def __init__(self, rows, startprob, transmat, lag, max_delay, viterbi):
        self._rows = rows
        self.n_components = k = startprob.shape[0]
        self.lag, self.max_delay, self.viterbi = lag, max_delay, viterbi
        self._delay = -1 if max_delay is None else max_delay
        self._chain = _ks.chain_of(startprob, transmat)
        self._ring = np.zeros((lag + 1, 2, k))
        self._frames1 = np.empty((1, k))
        self._no_rows = np.empty((0, k))
        self.reset()

    # -- state ---------------------------------------------------------------
    def reset(self):
        """Start a new sequence (the parameters and options stay)."""
        k = self.n_components
        self._state = np.zeros((_ks.ROWS, k))
        self._counters = np.zeros(_ks.N_COUNTERS, dtype=np.int64)
        self._ll = np.zeros(1)
        cap = 16 if self.max_delay is None else self.max_delay + 2
        self._back = np.zeros((cap if self.viterbi else 1, k), dtype=np.int64)
        self._flushed = False
        self.smoothed = self._no_rows
        self.states = np.empty(0, dtype=np.int64)
        self.path_log_prob = None
        return self

    @property
    def log_likelihood(self):
        return float(self._ll[0])

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
        times = np.arange(lo + 1, t) % self._back.shape[0]
        return {
            "options": np.array([self.lag, self._delay, self.viterbi], dtype=np.int64),
            "chain": self._chain.copy(),
            "rows": self._state.copy(),
            "ring": self._ring.copy(),
            "back": self._back[times].copy() if self.viterbi else self._back[:0].copy(),
            "counters": self._counters.copy(),
            "log_likelihood": self._ll.copy(),
            "flushed": np.array(self._flushed),
        }

    def set_state(self, state):
        """Resume from :meth:`get_state`'s arrays (of a stream with the same
        parameters, ``lag``, ``max_delay`` and ``viterbi``).

        Returns
        -------
        self
        """
        k = self.n_components
        try:
            options = np.asarray(state["options"])
            chain = np.asarray(state["chain"])
            rows = as_float_array(state["rows"], "state['rows']", allow_neg_inf=True)
            ring = as_float_array(state["ring"], "state['ring']")
            back = np.asarray(state["back"])
            counters = np.asarray(state["counters"])
            ll = as_float_array(state["log_likelihood"], "state['log_likelihood']")
            flushed = bool(state["flushed"])
        except (KeyError, TypeError, IndexError) as exc:
            raise ValueError(
                f"state must be a dict of arrays from Stream.get_state(): {exc!r}"
            ) from None
        want = [self.lag, self._delay, int(self.viterbi)]
        if options.tolist() != want:
            raise ValueError(
                "state comes from a stream with other options (lag, max_delay, "
                f"viterbi) = {options.tolist()}, this stream has {want}"
            )
        if chain.shape != self._chain.shape or not np.array_equal(chain, self._chain):
            raise ValueError("state comes from a stream with other parameters")
        if (
            rows.shape != self._state.shape
            or ring.shape != self._ring.shape
            or counters.shape != self._counters.shape
            or counters.dtype.kind not in "iu"
            or ll.shape != (1,)
            or back.ndim != 2
            or back.shape[1] != k
        ):
            raise ValueError("state has arrays of the wrong shapes for this stream")
        t, lo = int(counters[_ks.T_SEEN]), int(counters[_ks.UNDECIDED])
        if self.viterbi and back.shape[0] != max(0, t - lo - 1):
            raise ValueError("state has a Viterbi window of the wrong length")
        self.reset()
        self._state[:] = rows
        self._ring[:] = ring
        self._counters[:] = counters
        self._ll[:] = ll
        self._flushed = flushed
        if self.viterbi:
            self._grow(back.shape[0] + 1)
            self._back[np.arange(lo + 1, t) % self._back.shape[0]] = back
        return self

    def _grow(self, need):
        """Make the Viterbi window hold ``need`` steps (keeping its contents)."""
        old = self._back
        if old.shape[0] >= need:
            return
        new = np.zeros((max(need, 2 * old.shape[0]), self.n_components), np.int64)
        t, lo = self.n_pushed, int(self._counters[_ks.UNDECIDED])
        times = np.arange(lo + 1, t)
        new[times % new.shape[0]] = old[times % old.shape[0]]
        self._back = new

    # -- data ----------------------------------------------------------------
    def push(self, x):
        """Add observations of the current sequence.

        Parameters
        ----------
        x : one observation or a chunk of shape (n_new, n_features)
            For a model stream: what ``fit`` takes for one sequence, or one
            observation (a symbol; a scalar for one feature; a 1-D array of
            ``n_features`` values). For :func:`stream_filter`: log-emission
            rows of shape (n_new, n_components), or (n_components,) for one.

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
        if self._flushed:
            raise ValueError(
                "this stream's sequence was ended by flush(): call reset() to "
                "start a new one"
            )
        rows = self._rows
        le = rows.fast(x)
        fast = le is not None
        if not fast:
            le = rows.checked(x)
        code = self._push(le)
        if code != _ks.OK and fast:  # let the family's checks name the problem
            code = self._push(rows.checked(x))
        if code != _ks.OK:
            self._raise(code, le.shape[0])
        return self._filtered

    def _push(self, le):
        n, k = le.shape
        counters = self._counters
        t0 = int(counters[_ks.T_SEEN])
        lo = int(counters[_ks.UNDECIDED])
        self._filtered = filtered = np.empty((n, k))
        frames = self._frames1 if n == 1 else np.empty((n, k))
        lag = self.lag
        if lag:
            smoothed = np.empty((n, k))
        else:
            smoothed = self._no_rows
        if self.viterbi:
            window = t0 - lo + n
            if self._back.shape[0] < window + 1:
                self._grow(window + 1 if self.max_delay is None else 0)
            states = np.empty(window, dtype=np.int64)
        else:
            states = self.states
        code = _ks.push(
            le,
            self._chain,
            self._state,
            self._ring,
            self._back,
            counters,
            self._ll,
            self.viterbi,
            self._delay,
            filtered,
            frames,
            smoothed,
            states,
        )
        if code == _ks.OK:
            if lag:
                smoothed = smoothed[: max(0, t0 + n - max(t0, lag))]
            else:
                smoothed = filtered
            self.smoothed = smoothed
            if self.viterbi:
                self.states = states[: int(counters[_ks.UNDECIDED]) - lo]
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
                self._chain,
                self._state,
                self._ring,
                self._back,
                self._counters,
                self.viterbi,
                smoothed,
                states,
            )
            self.path_log_prob = float(lp) if self.viterbi else None
        self._flushed = True
        self.smoothed, self.states = smoothed, states
        return smoothed, states
