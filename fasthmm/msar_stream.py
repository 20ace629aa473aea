"""Streams of a :class:`~fasthmm.msar.MarkovSwitchingAR`.

The model is an HMM over the tuple of the last ``order + 1`` regimes
(:class:`fasthmm.expanded.TupleChain`) whose log-emissions need the
previous ``order`` observations. A :class:`SwitchingARStream` keeps them,
turns each new observation into its row of tuple log-emissions, and runs the
HMMs' :class:`fasthmm.stream.Stream` on those rows with the tuple chain's
transition matrix (the log-emissions form, :func:`fasthmm.stream_filter`'s;
with input-driven transitions, each row's matrix from its transition
inputs): filtering, fixed-lag smoothing and online Viterbi come from there,
and the tuple rows are reduced to regimes on the way out. A push costs
O(K^(2 order + 2)) (the dense tuple matrix): small for the orders the model
is used with.
"""

import numpy as np

from ._kernels import stream as _ks
from ._validation import as_float_array, check_inputs
from .forecast import (
    check_steps,
    input_transmats,
    refuse_future,
    state_forecast,
    stationary_transmats,
)
from .input_transitions import log_transmats
from .stream import Stream, _LogEmissionRows, check_stream_options


def _filtered_row(stream):
    """The last filtered row of a :class:`fasthmm.stream.Stream`."""
    return stream._f[3 * stream.n_components + 2 + _ks.ALPHA].copy()


class _TupleSteps:
    """Input-driven transitions of the tuple chain, as
    :class:`fasthmm.stream.Stream` takes a per-step chain: each row's dense
    tuple matrix (and its logarithm) from the row's K x K matrix."""

    per_step = True

    def __init__(self, chain):
        self.chain = chain

    def steps(self, mats, n):
        """(2, n, K^m, K^m) from the rows' K x K matrices ``mats``."""
        dense = self.chain.dense_transmat(mats)
        with np.errstate(divide="ignore"):
            return np.stack([dense, np.log(dense)])


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
    forced). :meth:`get_state` and :meth:`set_state` save and resume it.

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
        self._chain = model._chain()
        self.order, self.n_components = model.order, model.n_components
        self.lag, self.max_delay, self.viterbi = lag, max_delay, viterbi
        self._coef = params["transcoef_"] if model.transition_inputs else None
        self._n_inputs = params["coef_"].shape[1]  # regressors in the means
        self.reset()

    def reset(self):
        """Start a new sequence (the parameters and options stay)."""
        self._inner = None  # the stream of tuples, from the first scored row
        self._recent = np.empty(0)  # the last `order` observations
        self._recent_u = np.empty((0, self._n_inputs))  # and their inputs
        self._head = []  # the first `order` rows' regime distributions
        self._head_mats = []  # and the transitions into rows 1, ..., order
        self._start = None  # the first regime's distribution
        self._last = None  # the filtered tuple row of the last scored row
        self.n_pushed = 0
        self._flushed = False
        self.smoothed = np.empty((0, self.n_components))
        self.states = np.empty(0, dtype=np.int64)
        self.path_log_prob = None
        return self

    def _inner_value(self, name):
        return 0 if self._inner is None else getattr(self._inner, name)

    @property
    def log_likelihood(self):
        return float(self._inner_value("log_likelihood"))

    @property
    def n_smoothed(self):
        n = self._inner_value("n_smoothed")
        return n + self.order if n else 0

    @property
    def n_decided(self):
        n = self._inner_value("n_decided")
        return n + self.order if n else 0

    @property
    def n_forced(self):
        return self._inner_value("n_forced")

    def get_state(self):
        """The stream's state as a dict of small arrays (copies).

        Save it (``numpy.savez(path, **state)``) and resume with
        :meth:`set_state` on a stream of the same model and options. Beside
        the entries of :meth:`fasthmm.stream.Stream.get_state` (those of the
        stream of tuples, once a row after the first ``order`` was pushed):
        ``n_pushed``, ``past`` (the last ``order`` observations, shape
        (n, 1)), ``past_inputs`` (their inputs, (n, n_inputs)), ``head`` (the regime distributions of the first ``order``
        rows, (n, n_components)) and ``head_transitions`` (the matrices into
        the rows 1, ..., ``order``, (n, n_components, n_components)).
        """
        k = self.n_components
        state = {} if self._inner is None else self._inner.get_state()
        state.update(
            options=np.array([self.lag, self._delay(), self.viterbi], dtype=np.int64),
            flushed=np.array(self._flushed),
            n_pushed=np.array(self.n_pushed, dtype=np.int64),
            past=self._recent.reshape(-1, 1).copy(),
            past_inputs=self._recent_u.copy(),
            head=np.array(self._head, dtype=np.float64).reshape(-1, k),
            head_transitions=np.array(self._head_mats, dtype=np.float64).reshape(
                -1, k, k
            ),
        )
        return state

    def set_state(self, state):
        """Resume from :meth:`get_state`'s arrays (of a stream of the same
        model, ``lag``, ``max_delay`` and ``viterbi``).

        Every array is checked before anything changes (those of the stream
        of tuples as :meth:`fasthmm.stream.Stream.set_state` checks them;
        the first rows' distributions must follow from the first regime's
        and the transitions, and the transitions be the model's); a state
        that fails raises ValueError naming the entry, and the stream is
        left as it was.

        Returns
        -------
        self
        """
        n, flushed, past, past_u, head, head_mats = self._checked_state(state)
        inner = None
        if n > self.order:
            inner = self._tuple_stream(head[0], list(head_mats))
            inner.set_state(state)  # checks the tuples' entries
            scored = inner.n_pushed
            if scored != n - self.order:
                raise ValueError(
                    f"state['counters'] counts {scored} rows after the first "
                    f"order = {self.order}, but state['n_pushed'] is {n}"
                )
        self.reset()
        self._inner = inner
        self._last = None if inner is None else _filtered_row(inner)
        self._recent = past[:, 0].copy()
        self._recent_u = past_u.copy()
        self._head, self._head_mats = list(head), list(head_mats)
        self._start = head[0] if len(head) else None
        self.n_pushed, self._flushed = n, flushed
        return self

    def _delay(self):
        return -1 if self.max_delay is None else self.max_delay

    def _checked_state(self, state):
        """``(n_pushed, flushed, past, past_inputs, head, head_transitions)``
        of ``state``, checked (all but the stream of tuples' entries)."""
        k, p = self.n_components, self.order
        try:
            options = np.asarray(state["options"])
            flushed = np.asarray(state["flushed"])
            n = np.asarray(state["n_pushed"])
            past, head = state["past"], state["head"]
            past_u = state.get("past_inputs", np.empty((0, 0)))
            head_mats = state["head_transitions"]
        except (KeyError, TypeError, IndexError) as exc:
            raise ValueError(
                "state must be a dict of arrays from "
                f"SwitchingARStream.get_state(): {exc!r}"
            ) from None
        want = [self.lag, self._delay(), int(self.viterbi)]
        if options.shape != (3,) or options.tolist() != want:
            raise ValueError(
                "state['options'] must be this stream's (lag, max_delay, viterbi) "
                f"= {want} (max_delay None as -1), got {options.tolist()}"
            )
        if n.shape != () or n.dtype.kind not in "iu" or n < 0:
            raise ValueError(
                f"state['n_pushed'] must be an integer scalar >= 0, got {n!r}"
            )
        n = int(n)
        if flushed.shape != () or flushed.dtype != bool or (flushed and n <= p):
            raise ValueError(
                "state['flushed'] must be a boolean scalar, True only after more "
                f"than order = {p} rows, got {flushed!r} after {n}"
            )
        past = as_float_array(past, "state['past']", ndim=2)
        if past.shape != (min(n, p), 1):
            raise ValueError(
                f"state['past'] must hold the last observations, shape "
                f"{(min(n, p), 1)}, got shape {past.shape}"
            )
        past_u = as_float_array(past_u, "state['past_inputs']", ndim=2)
        if not self._n_inputs and not past_u.size:
            past_u = np.empty((min(n, p), 0))
        if past_u.shape != (min(n, p), self._n_inputs):
            raise ValueError(
                "state['past_inputs'] must hold the inputs of the last "
                f"observations, shape {(min(n, p), self._n_inputs)}, got shape "
                f"{past_u.shape}"
            )
        head = self._checked_head(head, min(n, p))
        head_mats = self._checked_head_mats(head_mats, p if n > p else max(0, n - 1))
        ahead = [head[i] @ head_mats[i] for i in range(len(head) - 1)]
        if not np.allclose(head[1:], np.reshape(ahead, (-1, k)), rtol=1e-12, atol=0):
            raise ValueError(
                "state['head'] rows after the first must follow from the "
                "previous row and state['head_transitions'] (the state is not "
                "this stream's)"
            )
        return n, bool(flushed), past, past_u, head, head_mats

    def _checked_head(self, head, rows):
        """``state['head']``: ``rows`` regime distributions, the first the
        model's start distribution (unless it depends on inputs)."""
        k = self.n_components
        head = as_float_array(head, "state['head']", ndim=2)
        if head.shape != (rows, k) or not (
            np.all((head >= 0.0) & (head <= 1.0))
            and np.all(np.abs(head.sum(axis=1) - 1.0) <= 1e-9 * k)
        ):
            raise ValueError(
                f"state['head'] must hold {rows} distributions over the "
                f"{k} regimes (shape {(rows, k)}), got shape {head.shape}"
            )
        moving = self._coef is not None and self._model.start == "stationary"
        if (
            rows
            and not moving
            and not np.array_equal(head[0], self._params["startprob_"])
        ):
            raise ValueError(
                "state['head'][0] must be this model's startprob_ (the state "
                "comes from a stream of other parameters)"
            )
        return head

    def _checked_head_mats(self, mats, rows):
        """``state['head_transitions']``: ``rows`` transition matrices, the
        model's (unless they depend on inputs)."""
        k = self.n_components
        mats = as_float_array(mats, "state['head_transitions']", ndim=3)
        if mats.shape != (rows, k, k) or not (
            np.all((mats >= 0.0) & (mats <= 1.0))
            and np.all(np.abs(mats.sum(axis=2) - 1.0) <= 1e-9 * k)
        ):
            raise ValueError(
                f"state['head_transitions'] must hold {rows} transition "
                f"matrices (shape {(rows, k, k)}, rows summing to 1), got "
                f"shape {mats.shape}"
            )
        if self._coef is None and not np.all(mats == self._params["transmat_"]):
            raise ValueError(
                "state['head_transitions'] must be this model's transmat_ (the "
                "state comes from a stream of other parameters)"
            )
        return mats

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

    def _inputs(self, inputs, n):
        """The inputs of ``n`` new rows, (n, n_inputs), checked against
        ``coef_``."""
        u = None if inputs is None else check_inputs(inputs, None, None, n, "inputs")
        self._model._check_input_columns(
            self._params, None if u is None else u.shape[1]
        )
        return np.empty((n, 0)) if u is None else u

    def _transmats(self, transition_inputs, n):
        """The K x K matrices into each of ``n`` new rows, (n, K, K)."""
        if self._coef is None:
            self._model._transition_rows(None, None, n, transition_inputs)
            return np.broadcast_to(
                self._params["transmat_"], (n,) + (2 * (self.n_components,))
            )
        if transition_inputs is None:
            self._model._transition_rows(None, None, n, None)  # says why
        w = check_inputs(transition_inputs, None, None, n, "transition_inputs")
        if w.shape[1] != self._coef.shape[2]:
            raise ValueError(
                f"transition_inputs must have {self._coef.shape[2]} columns (as "
                f"transcoef_), got {w.shape[1]}"
            )
        return np.exp(log_transmats(self._coef, w))

    def push(self, x, inputs=None, transition_inputs=None):
        """Add observations of the current sequence.

        Parameters
        ----------
        x : float, or array-like of shape (n_new,) or (n_new, 1)
        inputs : array-like (n_new, n_inputs)
            Required when the model's means use inputs (``coef_`` has
            columns; refused otherwise): the rows' inputs.
        transition_inputs : array-like (n_new, n_transition_inputs)
            Required with ``transition_inputs=True`` (refused otherwise): the
            rows' transition inputs, row ``t`` driving the transition into
            row ``t`` (the sequence's first row's is not used, except with
            ``start="stationary"``, whose first regime follows the
            stationary distribution of its matrix).

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
        u = self._inputs(inputs, len(y))
        mats = self._transmats(transition_inputs, len(y))
        p = self.order
        n_head = max(0, min(len(y), p - self.n_pushed))
        head, head_mats, start = list(self._head), list(self._head_mats), self._start
        for i in range(n_head):
            if self.n_pushed + i == 0:
                start = self._first_regime(mats[0])
                head.append(start)
            else:
                head_mats.append(mats[i])
                head.append(head[-1] @ mats[i])
        filtered = [np.array(head[self.n_pushed :]).reshape(-1, self.n_components)]
        history = np.concatenate([self._recent, y])
        history_u = np.concatenate([self._recent_u, u])
        inner, last = self._inner, self._last
        smoothed = np.empty((0, self.n_components))
        states = np.empty(0, dtype=np.int64)
        if len(y) > n_head:
            if inner is None:  # the first scored row: its tuple's prior
                head_mats.append(mats[n_head])
                inner = self._tuple_stream(start, head_mats)
            rows = np.arange(len(history) - len(y) + n_head, len(history))
            features = [history[rows - i, None] for i in range(p + 1)]
            features += [history_u[rows - i] for i in range(p + 1)]
            le = self._model._log_emissions(self._params, np.hstack(features))
            scored = None if self._coef is None else mats[n_head:]
            tuples = inner.push(le, transition_inputs=scored)
            last = tuples[-1]
            filtered.append(self._chain.regime_marginals(tuples))
            smoothed = self._regime_rows(inner.smoothed, inner.n_smoothed)
            states = self._regime_states(inner.states, inner.n_decided)
        # the push went through: keep its state
        self._head, self._head_mats, self._start = head, head_mats, start
        self._inner, self._last = inner, last
        self._recent = history[len(history) - min(p, len(history)) :]
        self._recent_u = history_u[len(history) - len(self._recent) :]
        self.n_pushed += len(y)
        self.smoothed, self.states = smoothed, states
        return np.concatenate(filtered)

    def _first_regime(self, first_mat):
        """The first regime's distribution (with ``start="stationary"``, the
        stationary distribution of the first row's matrix)."""
        from .msar import stationary_distribution

        start = self._params["startprob_"]
        if self._coef is not None and self._model.start == "stationary":
            return stationary_distribution(first_mat)
        return start

    def _tuple_stream(self, start, mats):
        """The :class:`fasthmm.stream.Stream` of the tuples, from the first
        scored row on: its first tuple's prior from ``start`` and the
        matrices ``mats`` into rows 1, ..., order."""
        chain = self._chain
        prior = chain.first_prior(start, np.array(mats))
        if self._coef is None:
            transmat, steps = chain.dense_transmat(self._params["transmat_"]), None
        else:
            transmat, steps = None, _TupleSteps(chain)
        return Stream(
            _LogEmissionRows(chain.n_states),
            prior,
            transmat,
            self.lag,
            self.max_delay,
            self.viterbi,
            chain=steps,
        )

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
    def _future(self, steps, future_transition_inputs):
        """(steps, the K x K matrices into each future step (1, steps, K, K))."""
        steps = check_steps(steps)
        if self._last is None:
            raise ValueError(
                f"forecasts need a filtered regime: push more than order = "
                f"{self.order} observations first"
            )
        if self._coef is None:
            refuse_future(
                future_transition_inputs, "future_transition_inputs", "transitions"
            )
            return stationary_transmats(self._params["transmat_"], 1, steps)
        if future_transition_inputs is None:
            raise ValueError(
                "future_transition_inputs is missing: this model's transitions "
                "depend on inputs, give their values in the steps to forecast"
            )
        return input_transmats(self._coef, future_transition_inputs, 1, steps)

    def forecast_proba(self, steps=1, *, future_transition_inputs=None):
        """Regime distributions of the ``steps`` rows after those pushed, as
        :meth:`fasthmm.MarkovSwitchingAR.forecast_proba` on the rows so far.

        Returns
        -------
        proba : ndarray (steps, n_components)
        """
        mats = self._future(steps, future_transition_inputs)
        filtered = self._chain.regime_marginals(self._last[None])
        return state_forecast(filtered, mats).proba[0]

    def forecast(self, steps=1, *, future_inputs=None, future_transition_inputs=None):
        """Predictive means of the ``steps`` rows after those pushed, as
        :meth:`fasthmm.MarkovSwitchingAR.forecast` on the rows so far (with
        inputs in the means, those of the steps ahead are
        ``future_inputs``, (steps, n_inputs)).

        Returns
        -------
        means : ndarray (steps, 1)
        """
        mats = self._future(steps, future_transition_inputs)
        recent = self._recent[::-1][None]  # the last first
        recent_u = self._recent_u[::-1][None]
        return self._model._predicted_means(
            self._params, self._last[None], recent, mats, recent_u, future_inputs
        )[0]
