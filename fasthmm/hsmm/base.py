"""BaseHSMM: a hidden semi-Markov model is a semi-Markov chain plus an emission.

The emission families are those of the HMMs, unchanged; only the chain
(:class:`~fasthmm.hsmm.chain.SemiMarkovChain`) and the inference kernels
differ. The constructor plumbing, argument checks, initialisation of the
emission, ``save`` / :func:`fasthmm.load`, ``aic`` / ``bic`` and
``log_emissions`` are :class:`fasthmm.base.BaseHMM`'s.
"""

import numpy as np

from .._missing import n_observed_rows
from .._threads import adaptive as adaptive_threads
from .._validation import (
    check_choice,
    check_int,
    check_labels,
    check_prior,
)
from ..base import DECODERS, BaseHMM, class_or_instance
from ..em import ConvergenceMonitor, run_em
from ..forecast import (
    StateForecast,
    check_steps,
    propagate,
    refuse_future,
    stationary_transmats,
)
from ..inference import Clamp, direct_posteriors, raise_if_impossible
from . import durations
from .chain import SemiMarkovChain, check_positive
from .em import expected_stats
from .inference import forward_backward, segments, viterbi


class BaseHSMM(BaseHMM):
    """Hidden semi-Markov model (explicit durations) with the hmmlearn API.

    Parameters
    ----------
    n_components : int (>= 2)
        Number of hidden states.
    max_duration : int (>= 1)
        Longest segment (number of steps a state lasts before the chain jumps).
    duration : {"nonparametric", "poisson", "negbinom"}
        Family of the duration distributions (see
        :mod:`fasthmm.hsmm.durations`).
    startprob_prior, transmat_prior : float or ndarray
        Dirichlet concentrations of the priors on ``startprob_`` and the rows
        of ``transmat_`` (1: no prior).
    durationprob_prior : float or ndarray of shape (n_components, max_duration)
        Dirichlet concentration of the prior on the rows of ``durationprob_``
        (nonparametric durations only; 1: no prior).
    algorithm, random_state, n_iter, tol, verbose, implementation :
        As in :class:`fasthmm.base.BaseHMM`.
    params, init_params : str
        Letters: "s" startprob, "t" transmat, "d" durations, then the
        emission's.

    Attributes
    ----------
    startprob_ : ndarray of shape (n_components,)
        Probability of the first segment's state.
    transmat_ : ndarray of shape (n_components, n_components)
        Probability of the next segment's state; zero diagonal.
    durationprob_ : ndarray of shape (n_components, max_duration)
        ``durationprob_[j, d - 1]`` = P(a segment of state j lasts d steps).
        Derived from ``duration_lambda_`` (and ``duration_shape_``) for
        parametric durations.
    duration_lambda_ : ndarray of shape (n_components,)
        "poisson" and "negbinom": mean of ``d - 1`` before truncation.
    duration_shape_ : ndarray of shape (n_components,)
        "negbinom": shape (variance ``lambda + lambda**2 / shape``).

    Notes
    -----
    The first segment starts at the first observation; the last one is
    right-censored (its factor is the probability of lasting at least as long
    as observed). ``memory_budget`` and the online arguments are accepted
    for a uniform signature and not used.
    """

    _transitions_class = SemiMarkovChain

    @class_or_instance
    def _param_names(owner):
        """The parameter attributes. Of a model: those of its ``duration``
        kind (parametric ones before ``durationprob_``, which is derived from
        them and which load sets last); of the class: those of every kind."""
        kind = getattr(owner, "duration", None)
        if isinstance(owner, type) or kind not in durations.KINDS:
            duration = ("duration_lambda_", "duration_shape_")
        else:
            duration = tuple(
                n for n in durations.names_of(kind) if n != "durationprob_"
            )
        return (
            ("startprob_", "transmat_")
            + duration
            + ("durationprob_",)
            + tuple(owner._emission_class.attribute_names())
        )

    @property
    def durationprob_(self):
        if self.duration == "nonparametric" or self.duration not in durations.KINDS:
            return self.__dict__.get("_durationprob")
        names = durations.names_of(self.duration)
        values = {n: getattr(self, n, None) for n in names}
        if any(v is None for v in values.values()):
            return None
        try:
            values = {
                n: check_positive(v, (self.n_components,), n) for n, v in values.items()
            }
        except ValueError:
            return None
        return durations.pmf_of(self.duration, self.max_duration, values)

    @durationprob_.setter
    def durationprob_(self, value):
        if self.duration == "nonparametric" or value is None:
            self._durationprob = value
            return
        derived = self.durationprob_
        if derived is None or not np.allclose(value, derived, rtol=0, atol=1e-12):
            raise ValueError(
                f"durationprob_ of a model with duration={self.duration!r} is "
                f"derived from {' and '.join(durations.names_of(self.duration))}: "
                "set those instead"
            )

    @classmethod
    def _shared_defaults(cls):
        # max_duration and duration follow n_components; durationprob_prior
        # follows transmat_prior.
        out = {}
        for name, value in super()._shared_defaults().items():
            out[name] = value
            if name == "n_components":
                out.update(n_components=2, max_duration=20, duration="nonparametric")
            elif name == "transmat_prior":
                out["durationprob_prior"] = 1.0
        return out

    # -- components -------------------------------------------------------------
    def _check_chain_priors(self):
        k = self.n_components
        if k < 2:
            raise ValueError(
                "n_components must be >= 2 for a semi-Markov model (a segment "
                f"is followed by one of another state), got {k}"
            )
        self.max_duration = check_int(self.max_duration, "max_duration", 1)
        check_choice(self.duration, "duration", durations.KINDS)
        super()._check_chain_priors()
        check_prior(
            self.durationprob_prior,
            "durationprob_prior",
            (k, self.max_duration),
            strict=True,
        )

    def _chain(self, params):
        return SemiMarkovChain(
            self.n_components,
            self.max_duration,
            self.duration,
            params,
            self.startprob_prior,
            self.transmat_prior,
            self.durationprob_prior,
        )

    def _transitions(self, params):
        return self._chain(params)

    def get_stationary_distribution(self):
        """Long-run fraction of time spent in each state.

        The stationary distribution of the jump chain (``transmat_``'s left
        eigenvector for the eigenvalue 1) weighted by each state's mean
        duration, normalised.

        Returns
        -------
        pi : ndarray of shape (n_components,)
        """
        jumps = super().get_stationary_distribution()
        chain = self._checked_params().transitions
        weights = jumps * (chain.pmf @ np.arange(1, self.max_duration + 1))
        return weights / weights.sum()

    # -- inference ----------------------------------------------------------------
    def _pass(self, X, lengths, smooth, inputs=None, transition_inputs=None):
        params, X, starts = self._checked_batch(X, lengths, inputs, transition_inputs)
        le = params.emission.log_likelihood(X)
        return forward_backward(le, starts, params.transitions, smooth), params, X

    def _log_likelihood(self, X, lengths, inputs=None, transition_inputs=None):
        res, params, X = self._pass(X, lengths, False, inputs, transition_inputs)
        return float(res.log_likelihood.sum()), params, n_observed_rows(X)

    @adaptive_threads
    def score_samples(self, X, lengths=None, *, inputs=None, transition_inputs=None):
        """Log-likelihood and state posteriors p(z_t | X).

        Returns
        -------
        log_likelihood : float
        posteriors : ndarray of shape (n_samples, n_components)
        """
        res, _, _ = self._pass(X, lengths, True, inputs, transition_inputs)
        raise_if_impossible(res.log_likelihood, "X")
        return float(res.log_likelihood.sum()), res.post

    @adaptive_threads
    def filter_proba(self, X, lengths=None, *, inputs=None, transition_inputs=None):
        """Filtered state probabilities p(z_t | x_1..x_t).

        Returns
        -------
        filtered : ndarray of shape (n_samples, n_components)
        """
        res, _, _ = self._pass(X, lengths, False, inputs, transition_inputs)
        raise_if_impossible(res.log_likelihood, "X")
        return res.post

    @adaptive_threads
    def decode(
        self, X, lengths=None, algorithm=None, *, inputs=None, transition_inputs=None
    ):
        """Most likely states.

        "viterbi" gives the best segmentation (a path whose segments all
        have durations of positive probability); "map" the most likely state
        of each step. See :meth:`fasthmm.base.BaseHMM.decode`.

        Returns
        -------
        log_prob : float
        states : ndarray of shape (n_samples,), int64
        """
        algorithm = self.algorithm if algorithm is None else algorithm
        check_choice(algorithm, "algorithm", DECODERS)
        kw = {"inputs": inputs, "transition_inputs": transition_inputs}
        if algorithm == "map":
            _, post = self.score_samples(X, lengths, **kw)
            states = post.argmax(axis=1)
            with np.errstate(divide="ignore"):
                lp = np.log(post[np.arange(post.shape[0]), states]).sum()
            return float(lp), states
        params, X, starts = self._checked_batch(X, lengths, **kw)
        le = params.emission.log_likelihood(X)
        lp, states = viterbi(le, starts, params.transitions)
        raise_if_impossible(lp, "X")
        return float(lp.sum()), states

    def predict_segments(self, X, lengths=None):
        """The segments of the best segmentation (Viterbi).

        Returns
        -------
        starts : ndarray of shape (n_segments,), int64
            Row of X where each segment begins.
        durations : ndarray of shape (n_segments,), int64
        states : ndarray of shape (n_segments,), int64
        """
        _, states = self.decode(X, lengths, algorithm="viterbi")
        return segments(states, lengths)

    # -- learning -----------------------------------------------------------------
    @adaptive_threads
    def fit(self, X, lengths=None, *, states=None, inputs=None, transition_inputs=None):
        """Estimate the parameters by EM over segmentations.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), or a list of sequences
        lengths : array-like of int, optional
        states : array-like of shape (n_samples,), int, optional
            Known states (-1 where unknown): EM then runs over the
            segmentations that agree with them (a run of one label longer
            than ``max_duration`` is impossible). Fully labelled data
            converges in one iteration for the chain.

        Returns
        -------
        self

        Notes
        -----
        The fit is atomic: if it raises, the model keeps its previous
        parameters. The EM objective (log-likelihood plus log prior) never
        decreases; ``monitor_.history`` records it.
        """
        emission = self._check_hyperparameters()
        X, starts, _ = self._read_batch(emission, X, lengths, inputs, transition_inputs)
        emission.with_data(X)
        k = self.n_components
        if X.shape[0] < k:
            raise ValueError(
                f"n_components = {k} exceeds the number of samples ({X.shape[0]}): "
                "every state needs data"
            )
        clamp = (
            None
            if states is None
            else Clamp(check_labels(states, X.shape[0], k, starts=starts))
        )
        emission.check_hyperparameters()
        params = self._initialized(emission, X, starts)
        monitor = ConvergenceMonitor(self.tol, self.n_iter, self.verbose)
        params = run_em(
            lambda p: expected_stats(p, X, starts, clamp), params, self.params, monitor
        )
        return self._commit(params, monitor)

    # -- forecasts --------------------------------------------------------------
    def _state_forecast(
        self,
        X,
        lengths,
        steps,
        future_transition_inputs,
        inputs=None,
        transition_inputs=None,
    ):
        """Forecasts over the expanded chain of
        :meth:`~fasthmm.hsmm.chain.SemiMarkovChain.expanded`: the state after
        the end depends on how long the last segment has lasted, which its
        filtered (state, steps in segment) distribution holds. Exact; costs
        O(T (n_components max_duration)^2). ``transmats`` of the returned
        forecast is None (the states alone are not a Markov chain)."""
        steps = check_steps(steps)
        refuse_future(
            future_transition_inputs, "future_transition_inputs", "transitions"
        )
        params, X, starts = self._checked_batch(X, lengths, inputs, transition_inputs)
        start, trans = params.transitions.expanded()
        k, dmax = self.n_components, self.max_duration
        le = np.repeat(params.emission.log_likelihood(X), dmax, axis=1)
        ll, filtered = direct_posteriors(le, starts, start, trans, smooth=False)
        raise_if_impossible(ll, "X")
        n = starts.shape[0] - 1
        last = filtered[starts[1:] - 1]
        proba = propagate(last, stationary_transmats(trans, n, steps))
        marginal = StateForecast(
            last.reshape(n, k, dmax).sum(axis=2),
            None,
            proba.reshape(n, steps, k, dmax).sum(axis=3),
        )
        return params, X, starts, marginal

    def _not_offered(self, what):
        raise NotImplementedError(
            f"{what} is not available for {type(self).__name__} (semi-Markov "
            "models): use fit, score, predict_proba, filter_proba or decode"
        )

    def partial_fit(self, X, lengths=None, **inputs):
        self._not_offered("partial_fit")

    def stream(self, lag=0, max_delay=None, viterbi=True):
        self._not_offered("stream")

    def sample_posterior(
        self, X, lengths=None, n_samples=1, random_state=None, **inputs
    ):
        self._not_offered("sample_posterior")
