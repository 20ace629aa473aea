"""Regime-switching regressions: :class:`RegressionHMM` (switching
regression on inputs) and :class:`ARHMM` (Markov-switching VAR(X)).

Both build a *design* from X and ``inputs`` (``BaseHMM._design``): the
observation columns, then the regressors, which their emission
(:mod:`fasthmm.emissions.regression`) splits off again.
"""

from collections import namedtuple

import numpy as np

from ._validation import check_inputs, check_real_samples
from .base import BaseHMM, _draw_rows
from .emissions.regression import AutoregressionEmission, RegressionEmission, design
from .forecast import check_future, refuse_future

#: What :meth:`ARHMM.sample` hands to its emission draw: the inputs and the
#: rows before the first one drawn.
_SampleArgs = namedtuple("_SampleArgs", "inputs initial")


def _inputs_or_empty(inputs, n_samples):
    """Checked inputs, or an (n_samples, 0) array when there are none."""
    return np.zeros((n_samples, 0)) if inputs is None else inputs


def _check_n_inputs(emission, U):
    """Raise unless ``U`` has as many columns as the fitted model's inputs."""
    if U.shape[1] != emission.n_inputs:
        raise ValueError(
            f"inputs must have {emission.n_inputs} columns (as the model's "
            f"coef_), got {U.shape[1]}"
        )


class _SwitchingRegression(BaseHMM):
    """What the two models share: the number of inputs, and emissions
    drawn given the inputs."""

    @property
    def n_inputs(self):
        """Number of input columns the model takes (``inputs=``), read off
        ``coef_`` (None before it is set)."""
        coef = getattr(self, "coef_", None)
        if coef is None:
            return None
        n_features = np.shape(coef)[1]
        return int(np.shape(coef)[2]) - self._order() * n_features

    def _order(self):
        return 0

    # -- forecasts ------------------------------------------------------------
    def _future_inputs(self, emission, future_inputs, n_sequences, steps):
        """Checked future inputs, (n_sequences, steps, n_inputs)."""
        m = emission.n_inputs
        if m == 0:
            refuse_future(future_inputs, "future_inputs", "emissions")
            return np.zeros((n_sequences, steps, 0))
        if future_inputs is None:
            raise ValueError(
                f"future_inputs is required: this model's emissions use {m} "
                f"inputs; pass their values in the steps after the end, shape "
                f"({n_sequences}, {steps}, {m})"
            )
        return check_future(future_inputs, "future_inputs", n_sequences, steps, m)

    def _forecast_means(self, params, X, starts, chain, future_inputs):
        """Exact predictive means through the regime-conditional means
        (:func:`regime_means`)."""
        emission = params.emission
        n, steps, _ = chain.proba.shape
        U = self._future_inputs(emission, future_inputs, n, steps)
        Y = emission._split(X)[0]
        out = np.empty((n, steps, emission.n_features))
        for s in range(n):
            cond = regime_means(
                emission,
                chain.proba[s],
                chain.transmats[s],
                Y[starts[s] : starts[s + 1]],
                U[s],
            )
            out[s] = np.einsum("hk,hkd->hd", chain.proba[s], cond)
        return out

    def _forecast_draws(self, params, X, starts, chain, n_draws, rng, future_inputs):
        """Continuations drawn from the model: states from the filtered end
        on, observations given them (and, for autoregression, the rows
        drawn before them)."""
        emission = params.emission
        n, steps, k = chain.proba.shape
        U = self._future_inputs(emission, future_inputs, n, steps)
        Y = emission._split(X)[0]
        out = np.empty((n, n_draws, steps, emission.n_features))
        for s in range(n):
            paths = np.empty((n_draws, steps), dtype=np.int64)
            z = _draw_rows(np.broadcast_to(chain.filtered[s], (n_draws, k)), rng)
            for h in range(steps):
                z = _draw_rows(chain.transmats[s, h][z], rng)
                paths[:, h] = z
            past = Y[starts[s] : starts[s + 1]]
            for i in range(n_draws):
                out[s, i] = self._continuation(emission, paths[i], U[s], past, rng)
        return out

    def _continuation(self, emission, states, U, past, rng):
        return emission.sample(states, rng, U)


class RegressionHMM(_SwitchingRegression, family="regression"):
    """HMM whose states are Gaussian linear regressions on the inputs
    (switching regression).

    Given state ``k``, ``x_t ~ N(coef_[k] @ u_t + intercept_[k], Sigma_k)``,
    ``u_t`` the row ``t`` of ``inputs=`` (every method takes it, aligned with
    X's rows; without inputs the model is a Gaussian HMM of means
    ``intercept_``).

    Parameters
    ----------
    n_components : int
    covariance_type : {"full", "diag", "spherical", "tied"}
        "tied" (one covariance for every state) is statsmodels'
        non-switching variance.
    fit_intercept : bool
        Learn ``intercept_`` (else it stays as set, zero by default).
    min_covar : float
        Floor on the variances (eigenvalues for full matrices).
    coef_prior, coef_weight : float or ndarray
        Normal prior on ``coef_`` with mean ``coef_prior`` and precision
        ``coef_weight`` times the state's inverse covariance: ridge
        regression in each state's metric (``coef_weight=0``, the default:
        none). The intercept has no prior.
    covars_prior, covars_weight : float or ndarray
        The prior on the covariances of :class:`fasthmm.GaussianHMM`.
    switching_coef : bool or array-like of bool, shape (n_inputs,)
        Which columns of ``coef_`` switch with the state (statsmodels'
        ``switching_exog``); a column that does not is one coefficient
        vector shared by every state, stored in each state's slice of
        ``coef_`` (all equal). Default True: every column switches.
    switching_intercept : bool
        Whether ``intercept_`` switches (statsmodels' ``switching_trend``);
        False: one intercept, stored in every row.
    startprob_prior, transmat_prior, algorithm, random_state, n_iter, tol,
    verbose, params, init_params, implementation :
        See :class:`fasthmm.base.BaseHMM`; the emission's letters are "m"
        (``coef_`` and ``intercept_``) and "c" (covariances).

    Attributes
    ----------
    coef_ : ndarray of shape (n_components, n_features, n_inputs)
    intercept_ : ndarray of shape (n_components, n_features)
    covars_ : ndarray
        (n_components,) "spherical", (n_components, n_features) "diag",
        (n_components, n_features, n_features) "full", (n_features,
        n_features) "tied".
    n_inputs : int
        Number of input columns ``inputs=`` must have (read off ``coef_``).

    Notes
    -----
    The M-step is exact: the same regressors enter every equation, so each
    state's weighted least squares (ridge, with the prior) maximise the
    expected log-likelihood whatever the covariance, which is then the MAP
    of the residual scatter; the EM objective never decreases. With shared
    coefficients, one generalised least squares over the shared and the
    per-state coefficients: exact for "tied", else exact given the
    covariances, which are then updated (an ECM step, also monotone).
    Initialisation: k-means on X, then each cluster's least squares.
    """

    _emission_class = RegressionEmission

    def _design(self, X, starts, inputs):
        Y = check_real_samples(X, "X", missing="never")
        U = _inputs_or_empty(inputs, Y.shape[0])
        return design([Y, U], U.shape[1])

    def _sample_emissions(self, params, states, rng, inputs):
        U = _inputs_or_empty(check_inputs(inputs, None, None, len(states)), len(states))
        _check_n_inputs(params.emission, U)
        return params.emission.sample(states, rng, U)


class ARHMM(_SwitchingRegression, family="ar"):
    """Markov-switching vector autoregression (VAR(X), intercept form).

    Given state ``k``::

        x_t ~ N(intercept_[k] + A_1 x_{t-1} + ... + A_order x_{t-order} + B u_t, Sigma_k)

    with ``coef_[k] = [A_1, ..., A_order, B]``: ``coef_`` has shape
    (n_components, n_features, order * n_features + n_inputs), the
    regressors ordered x_{t-1}, ..., x_{t-order}, then the inputs ``u_t``
    (``inputs=``, optional).

    The first ``order`` rows of each sequence are conditioned on, not
    scored: their emission factor is 1 (log-emission 0) and they add nothing
    to the emission's statistics. The chain still runs through them, so
    ``predict_proba`` and ``decode`` return states for them too: the
    posterior (or best path) given the later data alone.

    Parameters
    ----------
    n_components : int
    order : int >= 1
    covariance_type, fit_intercept, min_covar, coef_prior, coef_weight,
    covars_prior, covars_weight, switching_intercept, ... :
        As :class:`RegressionHMM`.
    switching_coef : bool or array-like of bool
        As :class:`RegressionHMM`, one entry per column of ``coef_`` (the
        lags x_{t-1}, ..., x_{t-order} feature by feature, then the inputs):
        ``switching_coef=False`` shares the autoregression, the intercept
        (``switching_intercept``) still switching.

    Notes
    -----
    :meth:`sample` continues the autoregression: it draws the rows one at a
    time from the lags drawn before. Its ``initial`` argument gives the
    ``order`` rows before the first one drawn; by default they are the
    first state's fixed point ``(I - A_1 - ... - A_order)^{-1} (intercept
    + B u_0)`` (zero when that matrix is singular). Streams are not offered
    (a chunk's first rows need the previous chunk's).
    """

    _emission_class = AutoregressionEmission

    def _order(self):
        return int(self.order)

    def _design(self, X, starts, inputs):
        Y = check_real_samples(X, "X", missing="never")
        n, d = Y.shape
        U = _inputs_or_empty(inputs, n)
        seq = np.repeat(np.arange(len(starts) - 1), np.diff(starts))
        position = np.arange(n) - starts[:-1][seq]
        lags = []
        for lag in range(1, self.order + 1):
            shifted = np.zeros_like(Y)
            shifted[lag:] = Y[:-lag]
            shifted[position < lag] = 0.0
            lags.append(shifted)
        scored = (position >= self.order).astype(np.float64)[:, None]
        return design([Y, *lags, U, scored], self.order * d + U.shape[1])

    def sample(
        self,
        n_samples=1,
        random_state=None,
        currstate=None,
        *,
        inputs=None,
        transition_inputs=None,
        initial=None,
    ):
        """Draw a sequence, continuing the autoregression.

        Parameters
        ----------
        n_samples, random_state, currstate, inputs, transition_inputs :
            As :meth:`fasthmm.base.BaseHMM.sample`.
        initial : array-like of shape (order, n_features), optional
            The ``order`` rows before the first one drawn (oldest first),
            e.g. the end of an observed sequence. Default: the first state's
            fixed point (see the class notes).

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        states : ndarray of shape (n_samples,), int64
        """
        return super().sample(
            n_samples,
            random_state,
            currstate,
            inputs=_SampleArgs(inputs, initial),
            transition_inputs=transition_inputs,
        )

    def stream(self, *args, **kwargs):
        """Not offered: the first rows of a chunk need the previous chunk's
        rows as lags."""
        raise NotImplementedError(
            "ARHMM does not offer streams: score, filter_proba and "
            "predict_proba take whole sequences"
        )

    def _continuation(self, emission, states, U, past, rng):
        return autoregression_path(
            emission, states, U, last_rows(past, self.order), rng
        )

    def _sample_emissions(self, params, states, rng, inputs):
        if not isinstance(inputs, _SampleArgs):
            inputs = _SampleArgs(inputs, None)
        n = len(states)
        U = _inputs_or_empty(check_inputs(inputs.inputs, None, None, n), n)
        emission = params.emission
        _check_n_inputs(emission, U)
        initial = self._initial_rows(emission, inputs.initial, states, U)
        return autoregression_path(emission, states, U, initial, rng)

    def _initial_rows(self, emission, initial, states, U):
        """The ``order`` rows before the first draw, (order, n_features)."""
        d, order = emission.n_features, emission.order
        if initial is not None:
            rows = check_real_samples(initial, "initial", d)
            if rows.shape[0] != order:
                raise ValueError(
                    f"initial must have order = {order} rows, got {rows.shape[0]}"
                )
            return rows
        W = emission._weights()[states[0]]
        A = W[:, : order * d].reshape(d, order, d).sum(axis=1)
        u0 = emission._regressors(U[:1])[0]  # the inputs, then 1
        level = W[:, order * d :] @ u0
        try:
            point = np.linalg.solve(np.eye(d) - A, level)
        except np.linalg.LinAlgError:
            point = np.zeros(d)
        return np.tile(point, (order, 1))


def autoregression_path(emission, states, U, initial, random_state):
    """Observations drawn one at a time from an autoregressive emission.

    Parameters
    ----------
    emission : AutoregressionEmission
    states : ndarray of shape (n_samples,), int
    U : ndarray of shape (n_samples, n_inputs)
    initial : ndarray of shape (order, n_features)
        The rows before the first draw, oldest first.
    random_state : numpy.random.RandomState or Generator

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    """
    order, n = emission.order, len(states)
    W = emission._weights()
    Z = emission._regressors(U)  # inputs (and the intercept's ones)
    history = np.vstack([initial, emission.noise(states, random_state)])
    for t in range(n):
        lags = history[t : t + order][::-1].ravel()
        s = states[t]
        history[order + t] += W[s] @ np.concatenate([lags, Z[t]])
    return history[order:]


def last_rows(Y, order):
    """The last ``order`` rows of ``Y`` (oldest first), zeros standing in for
    rows before its start (as the design's lags)."""
    out = np.zeros((order, Y.shape[1]))
    m = min(order, Y.shape[0])
    if m:
        out[order - m :] = Y[Y.shape[0] - m :]
    return out


def regime_means(emission, proba, transmats, observed, future_U):
    """Regime-conditional predictive means of the steps after a sequence.

    ``m[h - 1, k] = E[x_{T+h} | z_{T+h} = k, x_1..x_T]``, by the recursion

    ``m[h, k] = c_k + B_k u_{T+h} + sum_l A_{k,l} E[x_{T+h-l} | z_{T+h} = k]``

    where a lag inside the data is its observed value, and a lag after it is
    ``sum_j p(z_{T+h-l} = j | z_{T+h} = k) m[h - l, j]`` (given its own
    state, an observation is independent of the later states). Exact; a
    switching regression (order 0) gives ``c_k + B_k u_{T+h}``.

    Parameters
    ----------
    emission : RegressionEmission
    proba : ndarray of shape (steps, n_components)
        ``p(z_{T+h} | x_1..x_T)`` (the forecast state distributions).
    transmats : ndarray of shape (steps, n_components, n_components)
        ``transmats[h]`` leads from step ``h`` to ``h + 1`` after the end.
    observed : ndarray of shape (T, n_features)
    future_U : ndarray of shape (steps, n_inputs)

    Returns
    -------
    means : ndarray of shape (steps, n_components, n_features)
    """
    order, d = emission.order, emission.n_features
    steps, k = proba.shape
    W = emission._weights()
    A = W[:, :, : order * d].reshape(k, d, order, d)
    rest = W[:, :, order * d :]
    Z = emission._regressors(future_U)
    past = last_rows(observed, order)
    means = np.empty((steps, k, d))
    for h in range(1, steps + 1):
        mean = np.einsum("kdq,q->kd", rest, Z[h - 1])
        P = np.eye(k)
        for lag in range(1, order + 1):
            a = h - lag
            if a >= 1:
                P = transmats[a] @ P  # p(z_{T+h} = k | z_{T+a} = j)
                joint = proba[a - 1][:, None] * P
                total = joint.sum(axis=0)
                cond = joint / np.where(total > 0, total, 1.0)
                lagged = cond.T @ means[a - 1]
            else:
                lagged = np.broadcast_to(past[order + a - 1], (k, d))
            mean += np.einsum("kde,ke->kd", A[:, :, lag - 1, :], lagged)
        means[h - 1] = mean
    return means
