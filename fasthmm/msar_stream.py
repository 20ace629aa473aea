"""Streams of a :class:`~fasthmm.msar.MarkovSwitchingAR`.

The model is an HMM over the tuple of the last ``order + 1`` regimes
(:class:`fasthmm.expanded.TupleChain`) whose log-emissions need the
previous ``order`` observations. A :class:`SwitchingARStream` keeps them,
turns each new observation into its row of tuple log-emissions, and runs the
HMMs' :class:`fasthmm.stream.Stream` on those rows with the tuple chain's
transition matrix (the log-emissions form, :func:`fasthmm.stream_filter`'s):
filtering, fixed-lag smoothing and online Viterbi come from there, and the
tuple rows are reduced to regimes on the way out. A push costs O(K^(2 order
+ 2)) (the dense tuple matrix): small for the orders the model is used
with.
"""

import numpy as np

from ._validation import as_float_array
from .stream import Stream, _LogEmissionRows, check_stream_options


class SwitchingARStream:
    """Causal inference on one sequence of a Markov-switching autoregression
    that arrives in pieces; create it with
    :meth:`fasthmm.MarkovSwitchingAR.stream`.

    As :class:`fasthmm.stream.Stream`, over the rows of the sequence (the
    first ``order`` included). The first ``order`` rows are conditioned on,
    as in the batch methods: their filtered rows are the prior of their
    regimes (as :meth:`~fasthmm.MarkovSwitchingAR.filter_proba`), the log-
    likelihood counts the rows after them, and their smoothed rows and Viterbi
    states come out together with those of row ``order`` (they are the older
    regimes of its tuple). Splitting a sequence into any pushes gives the
    batch methods' rows; after :meth:`flush` with ``lag`` at least the
    sequence's length, the smoothed rows are
    :meth:`~fasthmm.MarkovSwitchingAR.predict_proba`'s, and the states
    :meth:`~fasthmm.MarkovSwitchingAR.decode`'s (unless a decision was
    forced).

    Attributes
    ----------
    lag, max_delay, viterbi, n_components, order :
    log_likelihood : float
        Log-density of the rows pushed, given the first ``order``.
    n_pushed : int
    smoothed : ndarray (n_new_smoothed, n_components)
        Smoothed rows completed by the last push (or flush).
    states : ndarray of int64 (n_new_states,)
        Viterbi states decided by the last push (or flush).
    path_log_prob : float or None
        After :meth:`flush` (Viterbi on): the log-probability of the path
        with the scored rows.
    """

    def __init__(self, model, params, lag=0, max_delay=None, viterbi=True):
        lag, max_delay, viterbi = check_stream_options(lag, max_delay, viterbi)
        self._model, self._params = model, params
        self._chain = chain = model._chain()
        self.order, self.n_components = model.order, model.n_components
        self.lag, self.max_delay, self.viterbi = lag, max_delay, viterbi
        prior = chain.first_prior(params["startprob_"], params["transmat_"])
        self._head_prior = model._first_marginals(prior[None])[0]
        self._inner = Stream(
            _LogEmissionRows(chain.n_states),
            prior,
            chain.dense_transmat(params["transmat_"]),
            lag,
            max_delay,
            viterbi,
        )
        self.reset()

    def reset(self):
        """Start a new sequence (the parameters and options stay)."""
        self._inner.reset()
        self._recent = np.empty(0)  # the last `order` observations
        self._last = None  # the filtered tuple row of the last scored row
        self.n_pushed = 0
        self._flushed = False
        self.smoothed = np.empty((0, self.n_components))
        self.states = np.empty(0, dtype=np.int64)
        self.path_log_prob = None
        return self

    @property
    def log_likelihood(self):
        return self._inner.log_likelihood if self._inner.n_pushed else 0.0

    @property
    def n_smoothed(self):
        n = self._inner.n_smoothed
        return n + self.order if n else 0

    @property
    def n_decided(self):
        n = self._inner.n_decided
        return n + self.order if n else 0

    @property
    def n_forced(self):
        return self._inner.n_forced

    # -- data ----------------------------------------------------------------
    def _observations(self, x):
        """``x`` (one value, or a chunk (n,) or (n, 1)) as a 1-D array."""
        y = as_float_array(x, "X")
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim > 1:
            raise ValueError(
                "X must hold one feature (one value, or shape (n,) or (n, 1)), "
                f"got shape {y.shape}"
            )
        return np.atleast_1d(y)

    def push(self, x):
        """Add observations of the current sequence.

        Parameters
        ----------
        x : float, or array-like of shape (n_new,) or (n_new, 1)

        Returns
        -------
        filtered : ndarray (n_new, n_components)
            p(s_t | y_0..y_t) of each new row (the prior for the first
            ``order`` rows of the sequence).

        Raises
        ------
        ValueError
            Bad input; the stream is then unchanged and can go on.
        """
        if self._flushed:
            raise ValueError(
                "this stream's sequence was ended by flush(): call reset() to "
                "start a new one"
            )
        y = self._observations(x)
        p = self.order
        head = max(0, min(len(y), p - self.n_pushed))
        filtered = [self._head_prior[self.n_pushed : self.n_pushed + head]]
        history = np.concatenate([self._recent, y])
        smoothed = np.empty((0, self.n_components))
        states = np.empty(0, dtype=np.int64)
        if len(y) > head:
            rows = np.arange(len(history) - len(y) + head, len(history))
            regressors = np.stack([history[rows - i] for i in range(p + 1)], axis=1)
            inner = self._inner
            tuples = inner.push(self._model._log_emissions(self._params, regressors))
            self._last = tuples[-1]
            filtered.append(self._chain.regime_marginals(tuples))
            smoothed = self._regime_rows(inner.smoothed, inner.n_smoothed)
            states = self._regime_states(inner.states, inner.n_decided)
        self._recent = history[len(history) - min(p, len(history)) :]
        self.n_pushed += len(y)
        self.smoothed, self.states = smoothed, states
        return np.concatenate(filtered)

    def _regime_rows(self, rows, end):
        """Regime rows of the tuple rows of times ``end - len(rows)`` to
        ``end - 1`` (of the scored rows): the current regime, and for the
        first tuple its older regimes before it."""
        out = self._chain.regime_marginals(rows)
        if len(rows) and end == len(rows):
            return np.concatenate([self._model._first_marginals(rows[:1])[0], out])
        return out

    def _regime_states(self, tuples, end):
        """Regimes of the Viterbi tuple states of times ``end - len(tuples)``
        to ``end - 1``, as :meth:`_regime_rows`."""
        dig = self._chain.digits()
        out = dig[tuples, 0]
        if len(tuples) and end == len(tuples):
            return np.concatenate([dig[tuples[0]][::-1][: self.order], out])
        return out

    def flush(self):
        """End the sequence (see :meth:`fasthmm.stream.Stream.flush`).

        Returns
        -------
        smoothed : ndarray (n, n_components)
        states : ndarray of int64 (n,)
        """
        if self._flushed:
            raise ValueError("this stream was already flushed: call reset() first")
        if self.n_pushed <= self.order:
            raise ValueError(
                f"a sequence needs more than order = {self.order} observations "
                f"(the first order are conditioned on); {self.n_pushed} pushed"
            )
        inner = self._inner
        smoothed, states = inner.flush()
        self.smoothed = self._regime_rows(smoothed, inner.n_smoothed)
        self.states = self._regime_states(states, inner.n_pushed)
        self.path_log_prob = inner.path_log_prob
        self._flushed = True
        return self.smoothed, self.states

    # -- forecasts ------------------------------------------------------------
    def _require_scored(self):
        if self._last is None:
            raise ValueError(
                f"forecasts need a filtered regime: push more than order = "
                f"{self.order} observations first"
            )

    def forecast_proba(self, steps=1):
        """Regime distributions of the ``steps`` rows after those pushed, as
        :meth:`fasthmm.MarkovSwitchingAR.forecast_proba` on the rows so far.

        Returns
        -------
        proba : ndarray (steps, n_components)
        """
        self._require_scored()
        return self._chain.regime_marginals(self._inner.forecast_proba(steps))

    def forecast(self, steps=1):
        """Predictive means of the ``steps`` rows after those pushed, as
        :meth:`fasthmm.MarkovSwitchingAR.forecast` on the rows so far.

        Returns
        -------
        means : ndarray (steps, 1)
        """
        from .forecast import check_steps, stationary_transmats

        steps = check_steps(steps)
        self._require_scored()
        mats = stationary_transmats(self._params["transmat_"], 1, steps)
        recent = self._recent[::-1][None]  # the last first
        return self._model._forecast_means(
            self._params, self._last[None], recent, mats
        )[0]
