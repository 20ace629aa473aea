"""Regime-switching regressions: :class:`RegressionHMM` (switching
regression on inputs) and :class:`ARHMM` (Markov-switching VAR(X)).

Both build a *design* from X and ``inputs`` (``BaseHMM._design``): the
observation columns, then the regressors, which their emission
(:mod:`fasthmm.emissions.regression`) splits off again.
"""

from collections import namedtuple

import numpy as np

from ._validation import check_inputs, check_real_samples
from .base import BaseHMM
from .emissions.regression import AutoregressionEmission, RegressionEmission, design

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

    Notes
    -----
    The M-step is exact: the same regressors enter every equation, so each
    state's weighted least squares (ridge, with the prior) maximise the
    expected log-likelihood whatever the covariance, which is then the MAP
    of the residual scatter; the EM objective never decreases.
    Initialisation: k-means on X, then each cluster's least squares.
    """

    _emission_class = RegressionEmission

    def _design(self, X, starts, inputs):
        Y = check_real_samples(X, "X")
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
    covars_prior, covars_weight, ... :
        As :class:`RegressionHMM`.

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
        Y = check_real_samples(X, "X")
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
