"""Hamilton's (1989) Markov-switching autoregression: ``MarkovSwitchingAR``.

The model (one feature, optional inputs ``u_t``) is

    y_t - m_t[s_t] = sum_{i=1..order} phi[s_t, i] (y_{t-i} - m_{t-i}[s_{t-i}]) + e_t,
    m_t[k] = mu[k] + u_t @ beta[k],   e_t ~ N(0, sigma2[s_t]),

with ``s_t`` a K-state Markov chain. ``y_t`` depends on the regimes
``s_t, ..., s_{t-order}``, so the model is an HMM over the tuple of the last
``order + 1`` regimes, run exactly by :class:`fasthmm.expanded.TupleChain`
(O(K^(order+1)) per step). The first ``order`` observations of each
sequence are conditioned on, as in statsmodels' ``MarkovAutoregression``.
"""

import functools

import numpy as np

from . import _batches, _registry, online
from ._msar_data import Batch, Source, SwitchingARStats
from ._msar_em import ECMSteps, stationary_distribution
from ._validation import (
    NotFittedError,
    as_float_array,
    check_allocation,
    check_choice,
    check_inputs,
    check_int,
    check_lengths,
    check_letters,
    check_random_state,
    check_real,
    check_sequences,
    check_shape,
    check_startprob,
    check_transmat,
)
from .base import BaseHMM, _draw_rows
from .em import ConvergenceMonitor
from .expanded import TupleChain
from .forecast import (
    check_future,
    check_steps,
    input_transmats,
    refuse_future,
    state_forecast,
    stationary_transmats,
)
from .input_transitions import InputTransitions, log_transmats
from .io import save_model
from .transitions import Transitions

__all__ = ["MarkovSwitchingAR"]

STARTS = ("learned", "stationary")
LETTERS = "stmav"
PARAM_NAMES = ("startprob_", "transmat_", "means_", "ar_coef_", "variances_", "coef_")


class MarkovSwitchingAR(ECMSteps):
    """Markov-switching autoregression in Hamilton's form (switching mean).

    Parameters
    ----------
    n_components : int
        Number of regimes K.
    order : int (>= 1)
        Autoregressive order p; the hidden state is the tuple of the last
        p + 1 regimes (K^(p+1) states, O(K^(p+1)) work per step).
    switching_ar : bool
        Each regime has its own AR coefficients (True), or all share them.
    switching_variance : bool
        Each regime has its own innovation variance, or all share one.
    fit_intercept : bool
        Learn ``means_``; False holds them fixed (zero unless set by hand):
        statsmodels' ``trend="n"``.
    switching_coef : bool
        With ``inputs``: each regime has its own input coefficients (True),
        or all share them (statsmodels' ``switching_exog=False``).
    start : {"learned", "stationary"}
        Distribution of each sequence's first regime: ``startprob_``, learned
        by EM as in every model ("learned"), or the stationary distribution of
        ``transmat_`` ("stationary", statsmodels' default; ``startprob_`` is
        then derived from ``transmat_`` and not a free parameter).
    min_covar : float
        Floor of the variances in the M-step.
    random_state : None, int, RandomState or Generator
        Used by :meth:`sample`.
    n_iter : int
    tol : float
        EM stops when the log-likelihood improves by less than ``tol``.
    verbose : bool
    params, init_params : str
        Letters of the parameters EM updates / initialises from data:
        "s" ``startprob_``, "t" ``transmat_``, "m" ``means_`` and
        ``coef_``, "a" ``ar_coef_``, "v" ``variances_``.

    Attributes
    ----------
    startprob_ : ndarray (n_components,)
        Distribution of the regime of each sequence's first observation.
    transmat_ : ndarray (n_components, n_components)
    means_ : ndarray (n_components,)
    ar_coef_ : ndarray (n_components, order)
        ``ar_coef_[k, i - 1]`` multiplies the deviation at lag i in regime k
        (equal rows when ``switching_ar=False``).
    variances_ : ndarray (n_components,)
        (equal entries when ``switching_variance=False``).
    coef_ : ndarray (n_components, n_inputs)
        ``coef_[k] @ u_t`` is added to the mean of regime k (statsmodels'
        ``exog``); (n_components, 0) when fitted without inputs; equal rows
        when ``switching_coef=False``. The model then needs ``inputs=`` of
        as many columns in every method that takes X.
    monitor_ : ConvergenceMonitor

    Notes
    -----
    The first ``order`` observations of each sequence are conditioned on,
    not scored (statsmodels' convention): :meth:`score` is the log-density of
    the others given them. Their regimes are still inferred exactly (they are
    the older entries of the first tuple): :meth:`predict_proba` and
    :meth:`decode` cover every row; :meth:`filter_proba` gives for them the
    prior distribution (no observation has been scored yet).

    EM is an ECM algorithm: given the tuple posteriors, the AR coefficients
    (given the means and variances), then the means and ``coef_`` (given the
    rest: a weighted least squares over the tuples), then
    the variances are each set to their exact conditional maximum, so the
    log-likelihood never decreases. With ``start="stationary"`` the start
    distribution depends on ``transmat_``; the transition step maximises the
    expected transition counts plus that start term, taking the
    count-ratio update and halving the step towards the previous matrix
    until the term does not decrease, then a few gradient steps on the whole
    term, each taken only if it increases it (statsmodels' EM uses the count
    ratios alone, which can decrease the likelihood or stall short of the
    optimum).
    """

    _registry_name = "MarkovSwitchingAR"

    def __init__(
        self,
        n_components=2,
        order=1,
        switching_ar=True,
        switching_variance=False,
        fit_intercept=True,
        switching_coef=True,
        start="learned",
        transition_inputs=False,
        min_covar=1e-8,
        random_state=None,
        n_iter=100,
        tol=1e-2,
        verbose=False,
        params=LETTERS,
        init_params=LETTERS,
        memory_budget=None,
        learning_offset=10.0,
        learning_decay=0.7,
    ):
        self.n_components = n_components
        self.order = order
        self.switching_ar = switching_ar
        self.switching_variance = switching_variance
        self.fit_intercept = fit_intercept
        self.switching_coef = switching_coef
        self.start = start
        self.transition_inputs = transition_inputs
        self.min_covar = min_covar
        self.random_state = random_state
        self.n_iter = n_iter
        self.tol = tol
        self.verbose = verbose
        self.params = params
        self.init_params = init_params
        self.memory_budget = memory_budget
        self.learning_offset = learning_offset
        self.learning_decay = learning_decay
        self.monitor_ = ConvergenceMonitor(tol, n_iter, verbose)

    # -- estimator plumbing -------------------------------------------------
    @classmethod
    def _constructor_args(cls):
        return [
            "n_components",
            "order",
            "switching_ar",
            "switching_variance",
            "fit_intercept",
            "switching_coef",
            "start",
            "transition_inputs",
            "min_covar",
            "random_state",
            "n_iter",
            "tol",
            "verbose",
            "params",
            "init_params",
            "memory_budget",
            "learning_offset",
            "learning_decay",
        ]

    _emission_class = None

    @property
    def coef_(self):
        """Input coefficients of the means, (n_components, n_inputs);
        (n_components, 0) for a model without inputs."""
        coef = self.__dict__.get("_coef")
        return np.zeros((self.n_components, 0)) if coef is None else coef

    @coef_.setter
    def coef_(self, value):
        self._coef = value

    def _param_names(self):
        if self.transition_inputs:
            return tuple("transcoef_" if n == "transmat_" else n for n in PARAM_NAMES)
        return PARAM_NAMES

    # scikit-learn's estimator protocol, as every model has it
    get_params = BaseHMM.get_params
    set_params = BaseHMM.set_params
    __repr__ = BaseHMM.__repr__
    # the checks of transition_inputs, as every model makes them
    _transition_rows = BaseHMM._transition_rows

    def _check_hyperparameters(self):
        k = check_int(self.n_components, "n_components", 1)
        p = check_int(self.order, "order", 1)
        check_allocation((k ** (p + 1),), "order", p, "a tuple state per row")
        for name in (
            "switching_ar",
            "switching_variance",
            "fit_intercept",
            "switching_coef",
            "transition_inputs",
            "verbose",
        ):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise TypeError(
                    f"{name} must be True or False, got {getattr(self, name)!r}"
                )
        check_choice(self.start, "start", STARTS)
        check_real(self.min_covar, "min_covar", 0.0)
        check_int(self.n_iter, "n_iter", 0)
        check_real(self.tol, "tol", allow_inf=True)
        check_letters(self.params, "params", LETTERS)
        check_letters(self.init_params, "init_params", LETTERS)
        _batches.budget_of(self)
        online.check_learning_rate(self.learning_offset, self.learning_decay)
        return k, p

    def _current_params(self):
        return {name: getattr(self, name, None) for name in self._param_names()}

    def _checked_params(self, params=None):
        """The parameters (default: the model's), checked, as a dict of float64
        arrays; ``startprob_`` is the stationary distribution when
        ``start="stationary"``."""
        k, p = self._check_hyperparameters()
        params = self._current_params() if params is None else params
        needed = self._param_names()[self.start == "stationary" : -1]
        missing = [name for name in needed if params.get(name) is None]
        if missing:
            raise NotFittedError(
                f"This MarkovSwitchingAR has no {', '.join(missing)}: call fit first "
                "or set them"
            )
        if self.transition_inputs:
            out = {"transcoef_": _check_transcoef(params["transcoef_"], k)}
        else:
            out = {"transmat_": check_transmat(params["transmat_"], k, "transmat_")}
        if self.start == "learned":
            out["startprob_"] = check_startprob(params["startprob_"], k, "startprob_")
        elif not self.transition_inputs:
            out["startprob_"] = stationary_distribution(out["transmat_"])
        else:  # per sequence, from the transitions of its first row
            out["startprob_"] = None
        out["means_"] = check_shape(params["means_"], "means_", (k,))
        out["ar_coef_"] = check_shape(params["ar_coef_"], "ar_coef_", (k, p))
        coef = params.get("coef_")
        coef = np.zeros((k, 0)) if coef is None else as_float_array(coef, "coef_", 2)
        if coef.shape[0] != k:
            raise ValueError(
                f"coef_ must have shape ({k}, n_inputs), got shape {coef.shape}"
            )
        out["coef_"] = coef
        var = check_shape(params["variances_"], "variances_", (k,))
        if np.any(var <= 0):
            raise ValueError(f"variances_ must be positive, got {var}")
        out["variances_"] = var
        for name, flag, what in (
            ("ar_coef_", self.switching_ar, "switching_ar"),
            ("variances_", self.switching_variance, "switching_variance"),
            ("coef_", self.switching_coef, "switching_coef"),
        ):
            if not flag and np.any(out[name] != out[name][:1]):
                raise ValueError(
                    f"{name} must hold the same value for every regime when "
                    f"{what}=False, got {out[name]}"
                )
        return out

    def _chain(self):
        return _tuple_chain(self.n_components, self.order + 1)

    def _read(self, X, lengths, transition_inputs=None, inputs=None):
        """``Batch`` of a batch: one feature, finite, each sequence longer
        than ``order``; the inputs and transition inputs aligned with it."""
        given_X, given_lengths = X, lengths
        X, lengths = check_sequences(X, lengths)
        y = as_float_array(X, "X")
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1:
            raise ValueError(
                f"X must hold one feature (shape (n_samples,) or (n_samples, 1)), "
                f"got shape {y.shape}"
            )
        starts = check_lengths(lengths, y.shape[0])
        short = np.flatnonzero(np.diff(starts) <= self.order)
        if short.size:
            raise ValueError(
                f"every sequence needs more than order = {self.order} observations "
                f"(the first order are conditioned on); sequence {int(short[0])} has "
                f"{int(np.diff(starts)[short[0]])}"
            )
        w = check_inputs(
            transition_inputs, given_X, given_lengths, len(y), "transition_inputs"
        )
        if self.transition_inputs and w is None:
            raise ValueError(
                "transition_inputs is missing: this model was built with "
                "transition_inputs=True (its transitions depend on them)"
            )
        if not self.transition_inputs and w is not None:
            raise ValueError(
                "transition_inputs given, but this model's transitions use no "
                "inputs (build it with transition_inputs=True)"
            )
        u = check_inputs(inputs, given_X, given_lengths, len(y), "inputs")
        return Batch(np.ascontiguousarray(y), starts, self.order, w, u=u)

    def _chain_args(self, params, data):
        """(startprob, transmat, first) of :meth:`TupleChain.forward_backward`:
        one matrix, or with transition inputs the matrix into every scored
        row and into the rows of each first tuple."""
        if not self.transition_inputs:
            return params["startprob_"], params["transmat_"], None
        coef = params["transcoef_"]
        if coef.shape[2] != data.w.shape[1]:
            raise ValueError(
                f"transition_inputs must have {coef.shape[2]} columns (as "
                f"transcoef_), got {data.w.shape[1]}"
            )
        mats = np.exp(log_transmats(coef, data.w))
        heads = data.starts[:-1]
        first = np.stack([mats[lo + 1 : lo + self.order + 1] for lo in heads])
        startprob = params["startprob_"]
        if self.start == "stationary":  # statsmodels: from the first row's matrix
            startprob = np.stack([stationary_distribution(mats[lo]) for lo in heads])
        return startprob, mats[data.scored], first

    # -- the expanded-state log-densities ----------------------------------
    def _log_emissions(self, params, features):
        """Log-density of each scored row given each tuple, (n_rows, K^(p+1)),
        from the rows' ``features`` (``y_t`` and its lags, then with inputs
        ``u_t`` and its lags: :class:`Batch`)."""
        resid = self._residuals(params, features)
        var = params["variances_"][self._chain().digits()[:, 0]]
        resid *= resid
        resid *= -0.5 / var
        resid -= 0.5 * np.log(2 * np.pi * var)
        return resid

    def _residuals(self, params, features):
        """Innovation of each scored row under each tuple, (n_rows, K^(p+1))."""
        coef = self._innovation(params)
        return features @ coef[:, 1:].T + coef[:, 0]

    def _batch_emissions(self, params, data):
        """:meth:`_log_emissions` of a batch, its inputs checked against
        ``coef_``."""
        self._check_input_columns(params, None if data.u is None else data.u.shape[1])
        return self._log_emissions(params, data.features)

    def _check_input_columns(self, params, given):
        """Raise ValueError unless ``given`` (the number of columns of the
        inputs, None without them) is what ``coef_`` takes."""
        n_inputs = params["coef_"].shape[1]
        if n_inputs and given is None:
            raise ValueError(
                f"inputs is missing: this model's means use {n_inputs} inputs "
                "(coef_), give them as inputs="
            )
        if given is not None and given != n_inputs:
            raise ValueError(
                "inputs given, but this model's means use none (it was fitted "
                "without inputs): leave them out"
                if not n_inputs
                else f"inputs must have {n_inputs} columns (as coef_), got {given}"
            )

    def _pass(self, params, data, smooth=True):
        startprob, transmat, first = self._chain_args(params, data)
        return self._chain().forward_backward(
            self._batch_emissions(params, data),
            data.scored_starts,
            startprob,
            transmat,
            smooth,
            first,
        )

    def _per_row(self, data, scored_rows, first_rows):
        """Regime probabilities of every row (n_samples, K) from those of the
        scored rows and, per sequence, the (order, K) rows conditioned on
        (oldest first)."""
        out = np.empty((len(data.y), self.n_components))
        out[data.scored] = scored_rows
        for s, lo in enumerate(data.starts[:-1]):
            out[lo : lo + self.order] = first_rows[s]
        return out

    def _first_marginals(self, tuple_probs):
        """(n_sequences, order, K): the older regimes of each first tuple."""
        chain = self._chain()
        return np.stack(
            [
                chain.regime_marginals(tuple_probs, position=self.order - j)
                for j in range(self.order)
            ],
            axis=1,
        )

    # -- inference ------------------------------------------------------------
    def _source(self, X, lengths, transition_inputs, inputs=None):
        """(checked parameters, :class:`Source` of the call's data)."""
        params = self._checked_params()
        return params, Source(self, X, lengths, transition_inputs, inputs)

    def _rows(self, source, compute):
        """``compute(data)`` of every batch placed at the batch's rows: an
        array (n_samples, ...)."""
        out = None
        for data in source:
            rows = compute(data)
            if out is None:
                out = np.empty((source.n_rows,) + rows.shape[1:], dtype=rows.dtype)
            out[data.row0 : data.row0 + len(rows)] = rows
        return out

    def score(self, X, lengths=None, *, inputs=None, transition_inputs=None):
        """Log-likelihood of X given each sequence's first ``order`` rows.

        X larger than ``memory_budget`` allows (a memmap, a list of arrays)
        is walked in blocks of whole sequences, as by every method here.
        """
        params, source = self._source(X, lengths, transition_inputs, inputs)
        return float(
            sum(self._pass(params, data, smooth=False).loglik.sum() for data in source)
        )

    def score_samples(self, X, lengths=None, *, inputs=None, transition_inputs=None):
        """``(log-likelihood, posteriors)``; posteriors (n_samples, K)."""
        params, source = self._source(X, lengths, transition_inputs, inputs)
        total = [0.0]

        def smoothed(data):
            res = self._pass(params, data)
            total[0] += float(res.loglik.sum())
            first = res.posteriors[data.scored_starts[:-1]]
            return self._per_row(
                data,
                self._chain().regime_marginals(res.posteriors),
                self._first_marginals(first),
            )

        post = self._rows(source, smoothed)
        return total[0], post

    def predict_proba(self, X, lengths=None, *, inputs=None, transition_inputs=None):
        """Smoothed regime probabilities of every row, (n_samples, K)."""
        return self.score_samples(
            X, lengths, inputs=inputs, transition_inputs=transition_inputs
        )[1]

    def filter_proba(self, X, lengths=None, *, inputs=None, transition_inputs=None):
        """Filtered regime probabilities P(s_t | y_0..y_t), (n_samples, K).

        The first ``order`` rows of each sequence, conditioned on, get the
        prior distribution of their regimes.
        """
        params, source = self._source(X, lengths, transition_inputs, inputs)

        def filtered(data):
            res = self._pass(params, data, smooth=False)
            prior = self._first_prior(params, data)
            return self._per_row(
                data,
                self._chain().regime_marginals(res.posteriors),
                self._first_marginals(prior),
            )

        return self._rows(source, filtered)

    def _first_prior(self, params, data):
        """Prior distribution of each sequence's first tuple, (n_sequences,
        K^(p+1))."""
        startprob, transmat, first = self._chain_args(params, data)
        startprob = np.broadcast_to(startprob, (data.n_sequences, self.n_components))
        return self._chain().first_prior(
            startprob, transmat if first is None else first
        )

    def decode(
        self,
        X,
        lengths=None,
        algorithm="viterbi",
        *,
        inputs=None,
        transition_inputs=None,
    ):
        """Most likely regime path (Viterbi over the tuple states).

        ``algorithm=None`` is "viterbi" (as the HMMs' default).

        Returns
        -------
        logprob : float
            Log-probability of the path with the scored rows.
        states : ndarray of int64 (n_samples,)
        """
        algorithm = "viterbi" if algorithm is None else algorithm
        check_choice(algorithm, "algorithm", ("viterbi", "map"))
        if algorithm == "map":
            ll, post = self.score_samples(
                X, lengths, inputs=inputs, transition_inputs=transition_inputs
            )
            return ll, post.argmax(axis=1)
        params, source = self._source(X, lengths, transition_inputs, inputs)
        dig = self._chain().digits()
        total = [0.0]

        def path(data):
            logprob, tuples = self._chain().viterbi(
                self._batch_emissions(params, data),
                data.scored_starts,
                *self._chain_args(params, data),
            )
            total[0] += float(logprob.sum())
            states = np.empty(len(data.y), dtype=np.int64)
            states[data.scored] = dig[tuples, 0]
            for s, lo in enumerate(data.starts[:-1]):
                first = dig[tuples[data.scored_starts[s]]]
                states[lo : lo + self.order] = first[::-1][: self.order]
            return states

        states = self._rows(source, path)
        return total[0], states

    def predict(self, X, lengths=None, *, inputs=None, transition_inputs=None):
        """The Viterbi regime path, (n_samples,)."""
        return self.decode(
            X, lengths, inputs=inputs, transition_inputs=transition_inputs
        )[1]

    def sample_posterior(
        self,
        X,
        lengths=None,
        n_samples=1,
        random_state=None,
        *,
        inputs=None,
        transition_inputs=None,
    ):
        """Regime paths drawn from p(s | y) by forward filtering, backward
        sampling over the tuple states (a tuple's predecessors differ only in
        the regime that leaves the window, all through the same transition,
        so each backward step draws that regime from the filtered row).

        Returns
        -------
        states : ndarray of int64 (n_samples, n_observations)
        """
        n_draws = check_int(n_samples, "n_samples", 1)
        params, source = self._source(X, lengths, transition_inputs, inputs)
        rng = check_random_state(
            self.random_state if random_state is None else random_state
        )
        out = np.empty((n_draws, source.n_rows), dtype=np.int64)
        for data in source:
            filtered = self._pass(params, data, smooth=False).posteriors
            rows = slice(data.row0, data.row0 + len(data.y))
            out[:, rows] = self._backward_draws(data, filtered, n_draws, rng)
        return out

    def _backward_draws(self, data, filtered, n_draws, rng):
        """Regime paths of one batch drawn backwards from its filtered tuple
        rows, (n_draws, n_samples)."""
        k, p = self.n_components, self.order
        dig = self._chain().digits()
        older = len(dig) // k  # tuples of the p older regimes
        states = np.empty((n_draws, len(data.y)), dtype=np.int64)
        for s in range(data.n_sequences):
            lo, hi = data.scored_starts[s], data.scored_starts[s + 1]
            tuples = _draw_rows(
                np.broadcast_to(filtered[hi - 1], (n_draws, len(dig))), rng
            )
            states[:, data.scored[hi - 1]] = dig[tuples, 0]
            for t in range(hi - 2, lo - 1, -1):
                base = (tuples % older) * k
                tuples = base + _draw_rows(
                    filtered[t][base[:, None] + np.arange(k)], rng
                )
                states[:, data.scored[t]] = dig[tuples, 0]
            head = data.starts[s]
            states[:, head : head + p] = dig[tuples][:, ::-1][:, :p]
        return states

    def get_stationary_distribution(self):
        """Stationary distribution of ``transmat_``."""
        self._refuse_inputs("get_stationary_distribution")
        return stationary_distribution(self._checked_params()["transmat_"])

    def stream(self, lag=0, max_delay=None, viterbi=True):
        """A stream for live data: filtering, fixed-lag smoothing and online
        Viterbi, one observation at a time (see
        :class:`fasthmm.msar_stream.SwitchingARStream`).

        Parameters
        ----------
        lag, max_delay, viterbi :
            As in :meth:`fasthmm.BaseHMM.stream`, counted in rows. With
            ``transition_inputs=True``, each push takes the rows'
            ``transition_inputs=``, and with inputs in the means (``coef_``
            has columns) their ``inputs=``.
        """
        from .msar_stream import SwitchingARStream

        return SwitchingARStream(self, self._checked_params(), lag, max_delay, viterbi)

    # -- forecasts --------------------------------------------------------------
    def _forecast_chain(self, X, lengths, steps, transition_inputs, future, inputs):
        """(params, filtered tuple probabilities of each sequence's last row
        (n_sequences, K^(p+1)), its last ``order`` observations (n_sequences,
        order; the last first), transition matrices into each future step
        (n_sequences, steps, K, K), the last ``order`` rows of inputs
        (n_sequences, order, n_inputs; the last first))."""
        steps = check_steps(steps)
        params, source = self._source(X, lengths, transition_inputs, inputs)
        last, recent, recent_u = [], [], []
        for data in source:
            res = self._pass(params, data, smooth=False)
            last.append(res.posteriors[data.scored_starts[1:] - 1])
            ends = data.starts[1:] - 1
            lagged = [ends - i for i in range(self.order)]
            recent.append(np.stack([data.y[at] for at in lagged], 1))
            m = params["coef_"].shape[1]
            u = np.zeros((len(data.y), m)) if data.u is None else data.u
            recent_u.append(np.stack([u[at] for at in lagged], 1))
        last, recent = np.concatenate(last), np.concatenate(recent)
        recent_u = np.concatenate(recent_u)
        n = len(last)
        if not self.transition_inputs:
            refuse_future(future, "future_transition_inputs", "transitions")
            mats = stationary_transmats(params["transmat_"], n, steps)
            return params, last, recent, mats, recent_u
        if future is None:
            raise ValueError(
                "future_transition_inputs is missing: this model's transitions "
                "depend on inputs, give their values in the steps to forecast"
            )
        mats = input_transmats(params["transcoef_"], future, n, steps)
        return params, last, recent, mats, recent_u

    def forecast_proba(
        self,
        X,
        lengths=None,
        steps=1,
        *,
        inputs=None,
        transition_inputs=None,
        future_transition_inputs=None,
    ):
        """Regime distributions of the steps after the end of each sequence.

        Parameters
        ----------
        future_transition_inputs : array-like, optional
            With ``transition_inputs=True``: the transition inputs of the
            steps after the end, (n_sequences, steps, n_transition_inputs),
            (steps, n_transition_inputs) for one sequence, or a list.

        Returns
        -------
        proba : ndarray (n_sequences, steps, n_components)
            ``proba[n, h - 1] = p(s_{T_n + h} | sequence n)``: the filtered
            regime of the last row carried through the transitions (exact).
        """
        _, last, _, mats, _ = self._forecast_chain(
            X, lengths, steps, transition_inputs, future_transition_inputs, inputs
        )
        return state_forecast(self._chain().regime_marginals(last), mats).proba

    def forecast(
        self,
        X,
        lengths=None,
        steps=1,
        *,
        inputs=None,
        future_inputs=None,
        transition_inputs=None,
        future_transition_inputs=None,
    ):
        """Predictive mean ``E[y_{T+h} | sequence]`` after the end of each
        sequence, exact.

        Given the last ``order + 1`` regimes the deviations ``y_{T-i} -
        mu[s_{T-i}]`` are known; the recursion carries, over the tuple
        states, their probabilities and the expected deviations (the AR
        coefficients switch with the regime, so the expected deviation
        depends on the regime path, not on the current regime alone).
        Arguments as in :meth:`forecast_proba`; with inputs, the input
        rows of the steps after the end are ``future_inputs``,
        (n_sequences, steps, n_inputs), (steps, n_inputs) for one sequence,
        or a list.

        Returns
        -------
        means : ndarray (n_sequences, steps, 1)
        """
        params, prob, recent, mats, recent_u = self._forecast_chain(
            X, lengths, steps, transition_inputs, future_transition_inputs, inputs
        )
        return self._predicted_means(
            params, prob, recent, mats, recent_u, future_inputs
        )

    def _predicted_means(self, params, prob, recent, mats, recent_u, future_inputs):
        """:meth:`_forecast_means` with ``future_inputs`` (as :meth:`forecast`
        takes them) checked against ``coef_``, and refused by a model whose
        means use no inputs."""
        m = params["coef_"].shape[1]
        if not m:
            refuse_future(future_inputs, "future_inputs", "means")
            return self._forecast_means(params, prob, recent, mats)
        if future_inputs is None:
            raise ValueError(
                "future_inputs is missing: this model's means depend on inputs, "
                "give their values in the steps to forecast"
            )
        future_u = check_future(
            future_inputs, "future_inputs", len(prob), mats.shape[1], m
        )
        return self._forecast_means(params, prob, recent, mats, recent_u, future_u)

    def _forecast_means(self, params, prob, recent, mats, recent_u=None, future_u=None):
        """The recursion of :meth:`forecast` from the filtered tuples ``prob``
        (n, K^(p+1)), the last observations ``recent`` (n, p), the
        transitions ``mats`` (n, steps, K, K) and, with inputs, the last
        inputs ``recent_u`` (n, p, n_inputs; the last first) and those of
        the steps ahead ``future_u`` (n, steps, n_inputs)."""
        k, p = self.n_components, self.order
        n, n_states = prob.shape
        r = n_states // k
        dig = self._chain().digits()
        mu, phi = params["means_"], params["ar_coef_"]
        # dev[:, state, i] = E[(y_{t-i} - m_{t-i}[s_{t-i}]) 1{tuple = state}]
        shift = mu[dig[:, :p]][None]
        if future_u is not None:
            beta = params["coef_"][dig[:, :p]]  # (S, p, n_inputs)
            shift = shift + np.einsum("npm,spm->nsp", recent_u, beta)
        dev = prob[:, :, None] * (recent[:, None, :] - shift)
        out = np.empty((n, mats.shape[1], 1))
        for h in range(mats.shape[1]):
            # into[n, a, q] = p(s_{t+1} = a | s_t), s_t the first digit of q
            into = mats[:, h][:, np.arange(r) // (r // k)].transpose(0, 2, 1)
            older_prob = prob.reshape(n, r, k).sum(axis=2)  # drop the oldest
            older_dev = dev.reshape(n, r, k, p).sum(axis=2)
            prob = (into * older_prob[:, None, :]).reshape(n, n_states)
            new = np.empty((n, k, r, p))
            new[..., 0] = into * np.einsum("nqi,ai->naq", older_dev, phi)
            new[..., 1:] = into[..., None] * older_dev[:, None, :, : p - 1]
            dev = new.reshape(n, n_states, p)
            out[:, h, 0] = prob @ mu[dig[:, 0]] + dev[:, :, 0].sum(axis=1)
            if future_u is not None:
                regime = prob.reshape(n, k, r).sum(axis=2)
                out[:, h, 0] += np.einsum(
                    "nk,km,nm->n", regime, params["coef_"], future_u[:, h]
                )
        return out

    def _refuse_inputs(self, what):
        if self.transition_inputs:
            raise ValueError(
                f"{what} of a MarkovSwitchingAR with transition_inputs=True are not "
                "available (they need the transition inputs of every step)"
            )

    # -- sampling ---------------------------------------------------------------
    def sample(
        self, n_samples=1, random_state=None, *, inputs=None, transition_inputs=None
    ):
        """Draw one sequence.

        The first regime follows ``startprob_`` (with ``start="stationary"``
        the stationary distribution of the first row's transitions); the
        deviations before the first observation are taken as zero, so the
        first ``order`` rows use the lags that exist.

        Parameters
        ----------
        n_samples : int
        random_state : None, int, RandomState or Generator
            Default: the model's ``random_state``.
        inputs : array-like (n_samples, n_inputs)
            Required when the model has inputs (``coef_``): the mean of row
            ``t`` in regime k is ``means_[k] + inputs[t] @ coef_[k]``.
        transition_inputs : array-like (n_samples, n_transition_inputs)
            Required with ``transition_inputs=True``: row ``t`` drives the
            transition into row ``t`` (the first row's is not used).

        Returns
        -------
        X : ndarray (n_samples, 1)
        states : ndarray of int64 (n_samples,)
        """
        n = check_int(n_samples, "n_samples", 1)
        params = self._checked_params()
        w = self._transition_rows(None, None, n, transition_inputs)
        rng = check_random_state(
            self.random_state if random_state is None else random_state
        )
        k = self.n_components
        if w is None:
            chain = Transitions(k, params["startprob_"], params["transmat_"])
        else:
            coef = params["transcoef_"]
            if coef.shape[2] != w.shape[1]:
                raise ValueError(
                    f"transition_inputs must have {coef.shape[2]} columns (as "
                    f"transcoef_), got {w.shape[1]}"
                )
            start = params["startprob_"]
            if start is None:  # stationary: from the first row's transitions
                start = stationary_distribution(np.exp(log_transmats(coef, w[:1]))[0])
            chain = InputTransitions(k, start, coef, w=w)
        level = self._sample_levels(params, n, inputs)
        states = chain.sample(n, rng)
        phi = params["ar_coef_"]
        dev = np.zeros(n)
        sd = np.sqrt(params["variances_"])
        noise = rng.standard_normal(n)
        for t in range(n):
            s = states[t]
            lags = dev[max(t - self.order, 0) : t][::-1]
            dev[t] = phi[s, : len(lags)] @ lags + sd[s] * noise[t]
        return (level[np.arange(n), states] + dev)[:, None], states

    def _sample_levels(self, params, n, inputs):
        """The regime means of every row of :meth:`sample`, (n, K)."""
        m = params["coef_"].shape[1]
        u = check_inputs(inputs, None, None, n, "inputs")
        if m and u is None:
            raise ValueError(
                f"inputs is missing: this model's means use {m} inputs (coef_)"
            )
        if u is not None and u.shape[1] != m:
            raise ValueError(
                f"inputs must have {m} columns (as coef_), got {u.shape[1]}"
                if m
                else "inputs given, but this model's means use none: leave them out"
            )
        level = np.broadcast_to(params["means_"], (n, self.n_components))
        return level if u is None else level + u @ params["coef_"].T

    # -- learning -------------------------------------------------------------
    def fit(self, X, lengths=None, *, inputs=None, transition_inputs=None):
        """Estimate the parameters by EM (an ECM scheme: see the class notes).

        X larger than ``memory_budget`` allows (a memmap, a list of arrays)
        is walked in blocks of whole sequences; the statistics of the blocks
        add up, so the fit is the in-memory one. The fit is atomic: if it
        raises, the model keeps its parameters.
        """
        self._check_hyperparameters()
        source = Source(self, X, lengths, transition_inputs, inputs)
        params = self._initial_params([source.sample()])
        params, monitor = self._em(source.stats, params)
        return self._commit(params, monitor)

    def _initial_params(self, samples):
        """Checked starting parameters of a fit from its initialisation
        sample (a list of :class:`Batch`, joined)."""
        return self._checked_params(self._initialized(Batch.joined(samples)))

    # hooks of fasthmm.distributed.fit
    def _read_partition(self, X, lengths, inputs, transition_inputs):
        """A partition loaded on a worker, checked: :class:`Batch`."""
        return self._read(X, lengths, transition_inputs, inputs)

    def _partition_sample(self, data, size, n_slices):
        """The rows of a partition's initialisation sample (see
        :func:`fasthmm._batches.sample_ranges`)."""
        return data.slices(_batches.sample_ranges(len(data.y), size, n_slices))

    def _em(self, e_fn, params):
        """The EM loop over the statistics ``e_fn(params)`` (:class:`SwitchingARStats`
        of all the data): (final parameters, monitor)."""
        monitor = ConvergenceMonitor(self.tol, self.n_iter, self.verbose)
        for _ in range(self.n_iter):
            stats = e_fn(params)
            new = self._m_step(params, stats)
            monitor.report(float(stats.loglik))
            params = new
            if monitor.converged:
                break
        return params, monitor

    def _commit(self, params, monitor, running=None):
        """Write the parameters of a finished fit (``running``: online EM's
        statistics), after checking they are finite."""
        for name, value in params.items():
            if value is not None and not np.all(np.isfinite(value)):
                raise ValueError(
                    f"fit stopped: the M-step produced a non-finite {name}; the "
                    "model's parameters are unchanged (rescale X?)"
                )
        for name, value in params.items():
            setattr(self, name, value)
        self.monitor_ = monitor
        self._online = running
        return self

    def partial_fit(self, X, lengths=None, *, inputs=None, transition_inputs=None):
        """One step of online (stepwise) EM on a new batch of sequences, as
        :meth:`fasthmm.BaseHMM.partial_fit` (:mod:`fasthmm.online`): the
        batch's statistics blended into running statistics with step size
        ``(learning_offset + t) ** -learning_decay``, then the M-step. The
        first call (or the first after :meth:`fit`) initialises the
        parameters named in ``init_params`` from its batch. With
        ``transition_inputs=True`` the running statistics keep the
        transitions of the steps, as the HMMs' do (:mod:`fasthmm.online`).
        Atomic; ``monitor_`` is not touched."""
        self._check_hyperparameters()
        source = Source(self, X, lengths, transition_inputs, inputs)
        running = getattr(self, "_online", None)
        if running is None:
            params = self._initial_params([source.sample()])
        else:
            params = self._checked_params()
        batch = source.stats(params)
        n_w = 0 if batch.steps is None else batch.steps[1].shape[1]
        max_rows = online.max_steps(self, n_w)
        if running is None:
            first = online.compacted(batch.scaled(1.0 / batch.n_samples), max_rows)
            running = online.Running(first, 1, batch.n_samples)
        else:
            eta = online.step_size(
                self.learning_offset, self.learning_decay, running.t + 1
            )
            running = running.blended(batch, eta, max_rows)
        params = self._m_step(params, running.total())
        return self._commit(params, self.monitor_, running)

    def _batch_stats(self, params, data):
        """The E-step of one batch: :class:`SwitchingARStats`.

        Raises
        ------
        ValueError
            When a sequence has probability zero under ``params``.
        """
        res = self._pass(params, data)
        bad = np.flatnonzero(~(res.loglik > -np.inf))
        if bad.size:
            raise ValueError(
                f"fit stopped: sequence {data.seq0 + int(bad[0])} has zero "
                "probability under the current parameters (check zeros in "
                "startprob_ and transmat_); the model's parameters are unchanged"
            )
        steps = None
        if self.transition_inputs:
            k, p = self.n_components, self.order
            xi = np.zeros((len(data.y), k, k))
            xi[data.scored] = res.step_counts
            heads = data.starts[:-1]
            for s, lo in enumerate(heads):
                xi[lo + 1 : lo + p + 1] += res.first_counts[s]
            rows = np.ones(len(data.y), dtype=bool)
            rows[heads] = False
            steps = (xi[rows], data.w[rows], data.w[heads], res.first_regimes)
        return SwitchingARStats(
            float(res.loglik.sum()),
            self._moments(data, res.posteriors),
            res.counts,
            res.start_counts,
            data.n_sequences,
            len(data.scored),
            steps,
        )

    def _initialized(self, data):
        """Current parameters, with those named in ``init_params`` (or unset)
        set from the data: the input coefficients of one pooled least squares
        fit, means at quantiles of what they leave of y, one pooled AR(p) fit
        of that by least squares, a persistent chain. Without
        ``fit_intercept`` the means are left as set (zero when unset)."""
        k = self.n_components
        params = self._current_params()
        todo = {
            letter
            for letter, name in zip(LETTERS, self._param_names())
            if letter in self.init_params or params[name] is None
        }
        u = np.zeros((len(data.y), 0)) if data.u is None else data.u
        coef = params["coef_"]
        if "m" in todo or coef is None or np.shape(coef) != (k, u.shape[1]):
            ones = np.ones((len(u), int(self.fit_intercept)))
            beta = np.linalg.lstsq(np.hstack([ones, u]), data.y, rcond=None)[0]
            params["coef_"] = np.tile(beta[ones.shape[1] :], (k, 1))
        level = data.y - u @ params["coef_"][0]
        if "m" in todo and self.fit_intercept:
            params["means_"] = np.quantile(level, (np.arange(k) + 0.5) / k)
        elif params["means_"] is None:
            params["means_"] = np.zeros(k)
        if todo & {"a", "v"}:
            lags = np.stack(
                [level[data.scored - i] for i in range(1, self.order + 1)], axis=1
            )
            target = level[data.scored]
            if self.fit_intercept:
                lags = lags - lags.mean(axis=0)
                target = target - target.mean()
            coef = np.linalg.lstsq(lags, target, rcond=None)[0]
            if "a" in todo:
                params["ar_coef_"] = np.tile(coef, (k, 1))
            if "v" in todo:
                var = max(np.var(target - lags @ coef), self.min_covar, 1e-12)
                params["variances_"] = np.full(k, var)
        if "t" in todo and self.transition_inputs:
            params["transcoef_"] = _persistent_transcoef(k, data.w)
        elif "t" in todo:
            params["transmat_"] = (
                np.full((k, k), 0.1 / (k - 1)) + np.eye(k) * (0.9 - 0.1 / (k - 1))
                if k > 1
                else np.ones((1, 1))
            )
        if "s" in todo:
            params["startprob_"] = np.full(k, 1.0 / k)
        return params

    def _n_free_parameters(self):
        k, p = self.n_components, self.order
        per_row = np.shape(self.transcoef_)[-1] if self.transition_inputs else 1
        n_inputs = np.shape(self.coef_)[1]
        return (
            k * (k - 1) * per_row
            + (k - 1) * (self.start == "learned")
            + k * self.fit_intercept
            + n_inputs * (k if self.switching_coef else 1)
            + p * (k if self.switching_ar else 1)
            + (k if self.switching_variance else 1)
        )

    def aic(self, X, lengths=None, *, inputs=None, transition_inputs=None):
        """Akaike information criterion (lower is better)."""
        ll = self.score(X, lengths, inputs=inputs, transition_inputs=transition_inputs)
        return -2.0 * ll + 2.0 * self._n_free_parameters()

    def bic(self, X, lengths=None, *, inputs=None, transition_inputs=None):
        """Bayesian information criterion (lower is better); the number of
        scored observations is the sample size."""
        params, source = self._source(X, lengths, transition_inputs, inputs)
        n_scored = source.n_rows - self.order * source.n_sequences
        ll = sum(self._pass(params, d, smooth=False).loglik.sum() for d in source)
        return -2.0 * float(ll) + self._n_free_parameters() * np.log(n_scored)

    def save(self, path):
        """Write the model to one ``.npz`` file (see :func:`fasthmm.load`)."""
        save_model(self, path)


@functools.lru_cache(maxsize=16)
def _tuple_chain(n_regimes, memory):
    """One :class:`TupleChain` per shape (its digits computed once)."""
    return TupleChain(n_regimes, memory)


def _check_transcoef(value, k):
    """``transcoef_``: finite, shape (K, K, n_transition_inputs), the last
    column (the reference state) zero."""
    coef = as_float_array(value, "transcoef_", ndim=3)
    if coef.shape[:2] != (k, k) or coef.shape[2] < 1:
        raise ValueError(
            f"transcoef_ must have shape ({k}, {k}, n_transition_inputs), got "
            f"shape {coef.shape}"
        )
    if np.any(coef[:, -1, :] != 0):
        raise ValueError("transcoef_[:, -1, :] must be zero (the reference state)")
    return coef


def _persistent_transcoef(k, w):
    """Start coefficients: a stay probability of 0.9 through a constant
    column of ``w`` when there is one, else uniform transitions."""
    coef = np.zeros((k, k, w.shape[1]))
    constant = np.flatnonzero(np.all(w == w[:1], axis=0) & (w[0] != 0))
    if k > 1 and constant.size:
        c = constant[0]
        logit = np.log(0.9 * (k - 1) / 0.1) / w[0, c]
        for i in range(k - 1):
            coef[i, i, c] = logit
        coef[k - 1, : k - 1, c] = -logit
    return coef


_registry.register(MarkovSwitchingAR)
