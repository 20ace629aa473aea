"""BaseHMM: start and transition parameters, and the one EM loop.

A concrete model is BaseHMM plus an emission class (see
:mod:`fasthmm.emissions`): it names the class and which of its constructor
arguments go to the emission. Every algorithm below is written once against
the emission interface.
"""

import inspect
import sys

import numpy as np

from ._kernels import hmm as _kernels
from ._threads import adaptive as adaptive_threads
from ._validation import (
    NotFittedError,
    check_choice,
    check_int,
    check_labels,
    check_lengths,
    check_letters,
    check_prior,
    check_random_state,
    check_real,
    check_sequences,
    check_startprob,
    check_transmat,
)
from .emissions._base import dirichlet_log_prior, dirichlet_map
from .inference import (
    Workspace,
    e_step,
    forward_pass,
    raise_if_impossible,
    sequence_log_likelihoods,
    viterbi_decode,
)

DECODERS = ("viterbi", "map")
IMPLEMENTATIONS = ("log", "scaling")


class ConvergenceMonitor:
    """Tracks the EM objective and decides when EM has converged.

    Parameters
    ----------
    tol : float
        EM stops when the objective improves by less than ``tol``.
    n_iter : int
        Maximum number of iterations.
    verbose : bool
        Print one line per iteration to stderr.

    Attributes
    ----------
    history : list of float
        The EM objective (log-likelihood plus log prior density) before each
        M-step; it never decreases.
    iter : int
        Number of iterations done.
    """

    _template = "{iter:>10d} {objective:>16.8f} {delta:>+16.8f}"

    def __init__(self, tol, n_iter, verbose):
        self.tol = tol
        self.n_iter = n_iter
        self.verbose = verbose
        self.history = []
        self.iter = 0

    def __repr__(self):
        return (
            f"ConvergenceMonitor(tol={self.tol!r}, n_iter={self.n_iter!r}, "
            f"iter={self.iter}, converged={self.converged}, history={self.history})"
        )

    def report(self, objective):
        """Record the objective of one iteration."""
        if self.verbose:
            delta = objective - self.history[-1] if self.history else np.nan
            print(
                self._template.format(
                    iter=self.iter + 1, objective=objective, delta=delta
                ),
                file=sys.stderr,
            )
        self.history.append(float(objective))
        self.iter += 1

    @property
    def converged(self):
        """True when the last improvement was below ``tol``."""
        return len(self.history) >= 2 and self.history[-1] - self.history[-2] < self.tol


class Clamp:
    """Known states of a partly labelled batch.

    Parameters
    ----------
    labels : ndarray of shape (n_samples,), int64
        A state in [0, n_components), or -1 for unknown.
    """

    def __init__(self, labels):
        self.n_samples = labels.shape[0]
        self.rows = np.flatnonzero(labels >= 0)
        self.states = labels[self.rows]

    def apply(self, frame, fill, offset=0):
        """Set every entry of a labelled row but the known state's to ``fill``.

        Parameters
        ----------
        frame : ndarray of shape (n_rows, n_components)
            Rows ``offset:offset + n_rows`` of the batch.
        fill : float
        offset : int
        """
        rows, states = self.rows, self.states
        if offset or frame.shape[0] != self.n_samples:
            inside = (rows >= offset) & (rows < offset + frame.shape[0])
            rows, states = rows[inside] - offset, states[inside]
        keep = frame[rows, states]
        frame[rows] = fill
        frame[rows, states] = keep


class BaseHMM:
    """Hidden Markov model with the hmmlearn API; subclasses add an emission.

    Parameters
    ----------
    n_components : int
        Number of hidden states.
    startprob_prior : float or ndarray of shape (n_components,)
        Dirichlet concentration of the prior on ``startprob_`` (1: no prior).
    transmat_prior : float or ndarray of shape (n_components, n_components)
        Dirichlet concentration of the prior on each row of ``transmat_``.
    algorithm : {"viterbi", "map"}
        Decoder used by :meth:`decode` and :meth:`predict`.
    random_state : None, int, RandomState or Generator
    n_iter : int
        Maximum number of EM iterations.
    tol : float
        Convergence threshold on the EM objective.
    verbose : bool
    params : str
        Letters of the parameters EM updates ("s" startprob, "t" transmat,
        then the emission's letters); the others stay frozen.
    init_params : str
        Letters of the parameters initialised from data at the start of fit;
        the others keep the values the user set.
    implementation : {"log", "scaling"}
        Accepted for hmmlearn compatibility; fasthmm's kernels are stable
        either way, so it does not change results.

    Attributes
    ----------
    startprob_ : ndarray of shape (n_components,)
    transmat_ : ndarray of shape (n_components, n_components)
    monitor_ : ConvergenceMonitor
    """

    _emission_class = None
    _emission_args = ()

    def _store_constructor_args(self, args):
        """Keep every constructor argument as an attribute of the same name.

        Subclasses call this from ``__init__`` with ``locals()``; their
        signature is the list of arguments (as in scikit-learn).
        """
        for name in self._constructor_args():
            setattr(self, name, args[name])
        self.monitor_ = ConvergenceMonitor(self.tol, self.n_iter, self.verbose)

    # -- estimator plumbing -----------------------------------------------------
    @classmethod
    def _all_letters(cls):
        return "st" + "".join(cls._emission_class.param_names)

    @classmethod
    def _param_names(cls):
        return ("startprob_", "transmat_") + tuple(
            cls._emission_class.param_names.values()
        )

    @classmethod
    def _constructor_args(cls):
        sig = inspect.signature(cls.__init__)
        return [p for p in sig.parameters if p != "self"]

    def get_params(self, deep=True):
        """Constructor arguments, as in scikit-learn."""
        return {name: getattr(self, name) for name in self._constructor_args()}

    def set_params(self, **kwargs):
        """Set constructor arguments, as in scikit-learn."""
        valid = self._constructor_args()
        for key, value in kwargs.items():
            if key not in valid:
                raise ValueError(f"invalid parameter {key!r} for {type(self).__name__}")
            setattr(self, key, value)
        return self

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def _check_hyperparameters(self):
        self.n_components = check_int(self.n_components, "n_components", 1)
        check_int(self.n_iter, "n_iter", 0)
        check_real(self.tol, "tol", allow_inf=True)  # tol < 0: run all n_iter
        k = self.n_components
        check_prior(self.startprob_prior, "startprob_prior", (k,), strict=True)
        check_prior(self.transmat_prior, "transmat_prior", (k, k), strict=True)
        for name in self._emission_args:
            value = getattr(self, name)
            if name.endswith(("_prior", "_weight")) and value is not None:
                check_prior(value, name)
        check_choice(self.algorithm, "algorithm", DECODERS)
        check_choice(self.implementation, "implementation", IMPLEMENTATIONS)
        check_letters(self.params, "params", self._all_letters())
        check_letters(self.init_params, "init_params", self._all_letters())

    def _emission(self, params):
        args = {name: getattr(self, name) for name in self._emission_args}
        return self._emission_class(self.n_components, params, **args)

    def _current_params(self):
        return {name: getattr(self, name, None) for name in self._param_names()}

    def _validate_params(self, emission, params):
        """Check every parameter; return them converted (float64, contiguous)."""
        k = self.n_components
        missing = [n for n in ("startprob_", "transmat_") if params.get(n) is None]
        if missing:
            raise NotFittedError(
                f"{' and '.join(missing)} not set: call fit first, or set them "
                "by hand and leave their letters out of init_params"
            )
        emission.check_params()
        out = dict(params)
        out.update(emission.params)
        out["startprob_"] = check_startprob(params["startprob_"], k, "startprob_")
        out["transmat_"] = check_transmat(params["transmat_"], k, "transmat_")
        return out

    def _read_data(self, emission, X, lengths):
        X, lengths = check_sequences(X, lengths)
        X = emission.check_X(X)
        starts = check_lengths(lengths, X.shape[0])
        return X, starts

    def _fitted_params(self):
        """The emission and the validated parameters of a fitted model."""
        self._check_hyperparameters()
        params = self._current_params()
        if all(v is None for v in params.values()):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet: call fit first"
            )
        emission = self._emission(params)
        return emission, self._validate_params(emission, params)

    def _fitted(self, X, lengths):
        """Validated (emission, X, starts, params) for the inference methods."""
        emission, params = self._fitted_params()
        X, starts = self._read_data(emission, X, lengths)
        return emission, X, starts, params

    def _loaded(self, X, lengths):
        """Validated (emission, params) and a workspace holding the frame of X."""
        emission, X, starts, params = self._fitted(X, lengths)
        ws = Workspace(starts, self.n_components)
        emission.load_frame(X, ws)
        return emission, ws, params

    # -- inference ------------------------------------------------------------
    def _forward(self, X, lengths):
        _, ws, params = self._loaded(X, lengths)
        ll = forward_pass(ws, params["startprob_"], params["transmat_"])
        return ll, ws, params

    def _log_likelihood(self, X, lengths):
        """(log-likelihood, emission, n_samples) by the forward pass alone."""
        emission, ws, params = self._loaded(X, lengths)
        ll = sequence_log_likelihoods(ws, params["startprob_"], params["transmat_"])
        return float(ll.sum()), emission, ws.frame.shape[0]

    @adaptive_threads
    def score(self, X, lengths=None):
        """Log-likelihood of ``X`` under the model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), or a list of sequences
        lengths : array-like of int, optional

        Returns
        -------
        log_likelihood : float
        """
        return self._log_likelihood(X, lengths)[0]

    @adaptive_threads
    def score_samples(self, X, lengths=None):
        """Log-likelihood and state posteriors.

        Returns
        -------
        log_likelihood : float
        posteriors : ndarray of shape (n_samples, n_components)
        """
        _, ws, params = self._loaded(X, lengths)
        ll, _, _ = e_step(ws, params["startprob_"], params["transmat_"])
        raise_if_impossible(ll, "X")
        return float(ll.sum()), ws.post

    def predict_proba(self, X, lengths=None):
        """State posteriors p(z_t | x), shape (n_samples, n_components)."""
        return self.score_samples(X, lengths)[1]

    @adaptive_threads
    def filter_proba(self, X, lengths=None):
        """Filtered state probabilities p(z_t | x_1..x_t), without look-ahead.

        Returns
        -------
        filtered : ndarray of shape (n_samples, n_components)
        """
        ll, ws, _ = self._forward(X, lengths)
        raise_if_impossible(ll, "X")
        return ws.post

    @adaptive_threads
    def decode(self, X, lengths=None, algorithm=None):
        """Most likely states.

        Parameters
        ----------
        X, lengths :
            As in :meth:`score`.
        algorithm : {"viterbi", "map"}, optional
            Default: the model's ``algorithm``. "viterbi" gives the best joint
            path; "map" the most likely state at each step.

        Returns
        -------
        log_prob : float
            "viterbi": log p(X, best path). "map": the sum over steps of the
            log of the chosen state's posterior probability.
        states : ndarray of shape (n_samples,), int64
        """
        algorithm = self.algorithm if algorithm is None else algorithm
        check_choice(algorithm, "algorithm", DECODERS)
        if algorithm == "map":
            _, post = self.score_samples(X, lengths)
            states = post.argmax(axis=1)
            return float(np.log(post[np.arange(post.shape[0]), states]).sum()), states
        emission, X, starts, params = self._fitted(X, lengths)
        log_emissions = emission.log_likelihood(X)
        lp, states = viterbi_decode(
            log_emissions, params["startprob_"], params["transmat_"], starts
        )
        raise_if_impossible(lp, "X")
        return float(lp.sum()), states

    def predict(self, X, lengths=None):
        """Most likely states (by the model's ``algorithm``), shape (n_samples,)."""
        return self.decode(X, lengths)[1]

    @adaptive_threads
    def sample_posterior(self, X, lengths=None, n_samples=1, random_state=None):
        """State paths drawn from p(z | x) by forward filtering, backward sampling.

        Returns
        -------
        states : ndarray of shape (n_samples, n_observations), int64
        """
        n_draws = check_int(n_samples, "n_samples", 1)
        ll, ws, params = self._forward(X, lengths)
        raise_if_impossible(ll, "X")
        rng = check_random_state(
            self.random_state if random_state is None else random_state
        )
        uniforms = rng.random((n_draws, ws.post.shape[0]))
        states = np.empty(uniforms.shape, dtype=np.int64)
        _kernels.backward_sample_batch(
            ws.post, params["transmat_"], ws.starts, uniforms, states
        )
        return states

    def sample(self, n_samples=1, random_state=None, currstate=None):
        """Draw a sequence from the model.

        Parameters
        ----------
        n_samples : int
        random_state : None, int, RandomState or Generator
            Default: the model's ``random_state``.
        currstate : int, optional
            The first state; drawn from ``startprob_`` when omitted.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        states : ndarray of shape (n_samples,), int64
        """
        n = check_int(n_samples, "n_samples", 1)
        emission, params = self._fitted_params()
        rng = check_random_state(
            self.random_state if random_state is None else random_state
        )
        start = params["startprob_"]
        if currstate is not None:
            state = check_int(currstate, "currstate", 0)
            if state >= self.n_components:
                raise ValueError(
                    f"currstate must be in [0, {self.n_components}), got {state}"
                )
            start = np.zeros(self.n_components)
            start[state] = 1.0
        states = np.empty(n, dtype=np.int64)
        _kernels.sample_states(
            np.cumsum(start),
            np.cumsum(params["transmat_"], axis=1),
            rng.random(n),
            states,
        )
        return emission.sample(states, rng), states

    def _n_free_parameters(self, emission):
        """Free scalars of the model, trained or frozen (as hmmlearn counts)."""
        k = self.n_components
        return (k - 1) + k * (k - 1) + emission.n_free_parameters(self._all_letters())

    def save(self, path):
        """Write the model to one portable ``.npz`` file (no pickle).

        Parameters
        ----------
        path : str, os.PathLike or a binary file object
            Written exactly as given (no suffix is added).

        Notes
        -----
        The file holds a JSON header (class name, fasthmm version, format
        version, constructor arguments, ``monitor_`` history) and the fitted
        arrays; :func:`fasthmm.load` reads it back, and the loaded model scores
        identically. ``random_state`` is kept only when it is None or an int:
        a ``RandomState`` or ``Generator`` is saved as None. See
        :mod:`fasthmm.io` for the format.
        """
        from .io import save_model

        save_model(self, path)

    @adaptive_threads
    def aic(self, X, lengths=None):
        """Akaike information criterion (lower is better)."""
        ll, emission, _ = self._log_likelihood(X, lengths)
        return -2.0 * ll + 2.0 * self._n_free_parameters(emission)

    @adaptive_threads
    def bic(self, X, lengths=None):
        """Bayesian information criterion (lower is better)."""
        ll, emission, n_samples = self._log_likelihood(X, lengths)
        return -2.0 * ll + self._n_free_parameters(emission) * float(np.log(n_samples))

    # -- learning -------------------------------------------------------------
    @adaptive_threads
    def fit(self, X, lengths=None, *, states=None):
        """Estimate the parameters by EM (Baum-Welch), or from labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), or a list of sequences
        lengths : array-like of int, optional
        states : array-like of shape (n_samples,), int, optional
            Known states (-1 where unknown). Fully labelled data gives the
            maximum-likelihood (MAP with priors) estimate in one pass; partly
            labelled data runs EM with the known states clamped.

        Returns
        -------
        self

        Notes
        -----
        The fit is atomic: if it raises, the model keeps its previous
        parameters.
        """
        self._check_hyperparameters()
        params = self._current_params()
        emission = self._emission(params)
        X, starts = self._read_data(emission, X, lengths)
        emission.with_data(X)
        k = self.n_components
        if X.shape[0] < k:
            raise ValueError(
                f"n_components = {k} exceeds the number of samples ({X.shape[0]}): "
                "every state needs data"
            )
        labels = (
            None
            if states is None
            else check_labels(states, X.shape[0], k, starts=starts)
        )
        params = self._initialize(emission, X, params)
        emission = self._emission(params).with_data(X)
        params = self._validate_initialized(emission, params)

        monitor = ConvergenceMonitor(self.tol, self.n_iter, self.verbose)
        if (
            labels is not None
            and np.all(labels >= 0)
            and emission.closed_form_given_states
        ):
            params = self._fit_labelled(X, starts, labels, params, monitor)
        else:
            clamp = None if labels is None else Clamp(labels)
            params = self._fit_em(X, starts, params, clamp, monitor)

        for name, value in params.items():
            setattr(self, name, value)
        self.monitor_ = monitor
        self._after_fit(emission)
        return self

    def _after_fit(self, emission):
        """Hook for attributes derived from the fit (e.g. ``n_features``)."""

    def _validate_initialized(self, emission, params):
        """:meth:`_validate_params` after initialisation, naming its cause."""
        try:
            params = self._validate_params(emission, params)
        except NotFittedError:
            raise
        except ValueError as exc:
            letters = self._all_letters()
            inited = [
                name
                for letter, name in zip(letters, self._param_names())
                if letter in self.init_params and str(exc).startswith(name)
            ]
            if not inited:
                raise
            raise ValueError(
                f"{exc} (after initialising {inited[0]} from X: X is degenerate "
                "for this model, e.g. a constant feature with min_covar=0, or too "
                "large in magnitude)"
            ) from None
        for name in self._emission_args:  # each prior against its parameter
            target = params.get(name[: -len("prior")])
            value = getattr(self, name)
            if name.endswith("_prior") and target is not None and value is not None:
                check_prior(value, name, np.shape(target))
        return params

    def _initialize(self, emission, X, params):
        k = self.n_components
        rng = check_random_state(self.random_state)
        params = dict(params)
        if "s" in self.init_params:
            params["startprob_"] = np.full(k, 1.0 / k)
        if "t" in self.init_params:
            params["transmat_"] = np.full((k, k), 1.0 / k)
        params.update(emission.initialize(X, self.init_params, rng))
        return params

    def _log_prior(self, emission, params):
        return (
            dirichlet_log_prior(params["startprob_"], self.startprob_prior)
            + dirichlet_log_prior(params["transmat_"], self.transmat_prior)
            + emission.log_prior()
        )

    def _m_step(self, emission, params, start_counts, trans_counts, stats):
        new = dict(params)
        if "s" in self.params:
            new["startprob_"] = dirichlet_map(
                start_counts, self.startprob_prior, params["startprob_"]
            )
        if "t" in self.params:
            new["transmat_"] = dirichlet_map(
                trans_counts, self.transmat_prior, params["transmat_"]
            )
        new.update(emission.m_step(stats, self.params))
        for name, value in new.items():
            if not np.all(np.isfinite(value)):
                raise ValueError(
                    f"fit stopped: the M-step produced a non-finite {name} (check "
                    "the priors and the scale of X); the model's parameters are "
                    "unchanged"
                )
        return new

    def _e_step(self, X, ws, params, clamp):
        """One E-step: (objective, emission, start counts, transition counts)."""
        emission = self._emission(params).with_data(X)
        emission.load_frame(X, ws, clamp)
        ll, xi, start = e_step(ws, params["startprob_"], params["transmat_"])
        bad = np.flatnonzero(~np.isfinite(ll))
        if bad.size:
            raise ValueError(
                f"fit stopped: sequence {int(bad[0])} has zero probability under the "
                "current parameters (log-likelihood -inf; check zeros in startprob_, "
                "transmat_, the emissions or contradictory labels); the model's "
                "parameters are unchanged"
            )
        return float(ll.sum()) + self._log_prior(emission, params), emission, start, xi

    def _fit_em(self, X, starts, params, clamp, monitor):
        ws = Workspace(starts, self.n_components)
        for _ in range(self.n_iter):
            objective, emission, start, xi = self._e_step(X, ws, params, clamp)
            stats = emission.new_stats()
            emission.accumulate(stats, X, ws.post)
            params = self._m_step(emission, params, start, xi, stats)
            monitor.report(objective)
            if monitor.converged:
                break
        return params

    def _fit_labelled(self, X, starts, labels, params, monitor):
        """Supervised estimate from fully labelled sequences, in one pass."""
        k = self.n_components
        onehot = np.zeros((X.shape[0], k))
        onehot[np.arange(X.shape[0]), labels] = 1.0
        start = onehot[starts[:-1]].sum(axis=0)
        inner = np.ones(X.shape[0] - 1, dtype=bool)
        inner[starts[1:-1] - 1] = False  # pairs that cross a sequence boundary
        trans = np.zeros((k, k))
        np.add.at(trans, (labels[:-1][inner], labels[1:][inner]), 1.0)
        emission = self._emission(params).with_data(X)
        stats = emission.new_stats()
        emission.accumulate(stats, X, onehot)
        params = self._m_step(emission, params, start, trans, stats)
        ws = Workspace(starts, k)
        objective, _, _, _ = self._e_step(X, ws, params, Clamp(labels))
        monitor.report(objective)
        return params
