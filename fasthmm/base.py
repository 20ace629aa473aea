"""BaseHMM: a model is a Transitions component plus an emission family.

Every algorithm below is written once against the two components
(:mod:`fasthmm.transitions`, :mod:`fasthmm.emissions`), the inference layer
(:mod:`fasthmm.inference`) and the EM loop (:mod:`fasthmm.em`). A concrete
model names its emission class and lists its constructor arguments
(hmmlearn's); the arguments whose names the emission's constructor takes are
its hyper-parameters.
"""

import functools
import inspect
import threading

import numpy as np

from . import _batches, _registry, online
from ._hmmlearn_api import HmmlearnAPI, letters_to_initialize
from ._kernels import hmm as _kernels
from ._missing import MISSING_CHOICES, n_observed_rows
from ._threads import adaptive as adaptive_threads
from ._validation import (
    NotFittedError,
    check_allocation,
    check_choice,
    check_inputs,
    check_int,
    check_labels,
    check_lengths,
    check_letters,
    check_prior,
    check_random_state,
    check_real,
    check_sequences,
    row_count,
    trailing_size,
)
from .em import (
    ConvergenceMonitor,
    Params,
    expected_stats,
    labelled_stats,
    maximize,
    run_em,
)
from .emissions._base import InvalidParameter
from .forecast import (
    check_steps,
    input_transmats,
    refuse_future,
    state_forecast,
    stationary_transmats,
)
from .inference import (
    Clamp,
    PerStep,
    Workspace,
    backward_sample_steps,
    emission_log_likelihoods,
    emission_posteriors,
    forward_pass,
    raise_if_impossible,
    viterbi_decode,
)
from .input_transitions import InputTransitions
from .io import save_model
from .transitions import Transitions

#: Held while a fit writes a model's parameters and while a call reads them,
#: so that a call running beside a fit of the same model (another thread)
#: sees either the old or the new parameters, never a mix. One lock for all
#: models (a lock per model would not pickle); it is held only to copy
#: references, never during the work.
_PARAMETERS_LOCK = threading.RLock()

__all__ = ["BaseHMM", "ConvergenceMonitor"]

DECODERS = ("viterbi", "map")
IMPLEMENTATIONS = ("log", "scaling")

#: Constructor arguments fasthmm adds to hmmlearn's, with their defaults: the
#: working-memory budget of data walked in blocks (:mod:`fasthmm._batches`),
#: the step sizes of :meth:`BaseHMM.partial_fit`, what NaN in X means
#: (:mod:`fasthmm._missing`) and whether inputs drive the transitions.
#: Declared here once and added to every model class's signature as
#: keyword-only arguments.
ADDED_ARGS = {
    "memory_budget": None,
    "learning_offset": 10.0,
    "learning_decay": 0.7,
    "missing": "raise",
    "transition_inputs": False,
    "transcoef_prior": 0.0,
}

#: Constructor arguments every model shares; the others belong to its emission.
SHARED_ARGS = (
    "n_components",
    "startprob_prior",
    "transmat_prior",
    "algorithm",
    "random_state",
    "n_iter",
    "tol",
    "verbose",
    "params",
    "init_params",
    "implementation",
    *ADDED_ARGS,
)


#: ``transition_inputs`` of :meth:`BaseHMM._read_batch` for callers that
#: need X alone (the chain's inputs are not read).
_CHAIN_UNCHECKED = object()


class class_or_instance:
    """A method that receives the instance it is called on, or the class."""

    def __init__(self, function):
        self.function = function

    def __get__(self, instance, owner):
        return functools.partial(self.function, owner if instance is None else instance)


class BaseHMM(HmmlearnAPI):
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
    memory_budget : int, optional
        Working memory, in bytes, of a pass over X (the arrays returned
        aside); default None: 1 GiB. Larger data (a memmap, a list of
        arrays) is walked in blocks of whole sequences (see
        docs/scaling.md).
    learning_offset : float >= 0
        :meth:`partial_fit`'s step size is
        ``(learning_offset + t) ** -learning_decay`` at update ``t``; default 10.
    learning_decay : float in (0.5, 1]
        Default 0.7.
    missing : {"raise", "marginalize"}
        What NaN in X means. "raise" (default): an error. "marginalize": an
        observation missing at random, integrated out exactly: a row of NaN
        contributes no emission factor (the chain still steps through it),
        and a partly observed row the marginal density of its observed
        entries (families with independent features, and Gaussian
        covariances). Integer-valued families mark a missing value by NaN in
        a float array. ``score`` is then the log-likelihood of the observed
        entries, and EM stays exact and monotone.
    transition_inputs : bool
        Input-driven transitions (docs/inputs.md): the transition matrix of
        step t is ``softmax_j(transcoef_[i, j] @ w_t)`` with ``w_t`` the row t
        of the ``transition_inputs=`` array every method then takes; the
        model has ``transcoef_`` instead of ``transmat_``. Default False.
    transcoef_prior : float >= 0
        Precision of a zero-mean Gaussian prior on ``transcoef_`` (an L2
        penalty ``transcoef_prior / 2 * ||transcoef_||^2``); 0: none.

    Attributes
    ----------
    startprob_ : ndarray of shape (n_components,)
    transmat_ : ndarray of shape (n_components, n_components)
    monitor_ : ConvergenceMonitor
    """

    _emission_class = None
    #: The hidden chain's component (see :mod:`fasthmm.transitions`).
    _transitions_class = Transitions
    #: Constructor arguments passed to the emission (derived, see below).
    _emission_args = ()
    #: The ``monitor_`` a fit fills (hmmlearn's namespace uses its own).
    _monitor_class = ConvergenceMonitor

    @classmethod
    def _shared_defaults(cls):
        """Constructor arguments of the chain and the fit, name -> default, in
        order: the generated constructor's (see :func:`family_signature`)."""
        return SHARED_DEFAULTS

    def __init_subclass__(cls, family=None, **kwargs):
        """Register the class and give it its constructor.

        A class that sets ``_emission_class`` and writes no ``__init__`` gets
        one generated from its emission (:func:`_family_init`): each
        hyper-parameter is declared once, with its default, in the emission
        class's constructor. The emission's hyper-parameters are the model's
        constructor arguments that the emission's constructor takes.

        Parameters
        ----------
        family : str, optional
            Registers the class as the model of an emission family (see
            :mod:`fasthmm._registry`); every class is registered for
            :func:`fasthmm.load`.
        """
        super().__init_subclass__(**kwargs)
        if "__init__" not in cls.__dict__ and "_emission_class" in cls.__dict__:
            cls.__init__ = _family_init(cls)
        if "__init__" in cls.__dict__:
            cls.__init__ = _with_added_args(cls.__init__)
        _registry.register(cls, family=family)
        if cls._emission_class is not None:
            takes = inspect.signature(cls._emission_class.__init__).parameters
            cls._emission_args = tuple(
                name
                for name in cls._constructor_args()
                if name in takes and name not in SHARED_ARGS
            )

    @property
    def n_features(self):
        """Dimension of the samples (number of symbols for categorical data).

        The value set by hand or by the constructor if any, else read off the
        emission's parameters (None before they are set).
        """
        given = self.__dict__.get("_n_features")
        if given is not None:
            return given
        family = self._emission_class
        return trailing_size(
            getattr(self, family.feature_param, None),
            ndim=family.feature_param_ndim,
        )

    @n_features.setter
    def n_features(self, value):
        self._n_features = value

    def _store_constructor_args(self, args):
        """Keep every constructor argument as an attribute of the same name.

        Subclasses call this from ``__init__`` with ``locals()``; their
        signature is the list of arguments (as in scikit-learn).
        """
        for name in self._constructor_args():
            if name not in ADDED_ARGS:  # set by the signature's wrapper
                setattr(self, name, args[name])
        self.monitor_ = self._monitor_class(self.tol, self.n_iter, self.verbose)

    # -- estimator plumbing -----------------------------------------------------
    @classmethod
    def _all_letters(cls):
        return "".join(cls._transitions_class.param_names) + "".join(
            cls._emission_class.param_names
        )

    @class_or_instance
    def _param_names(owner):
        """The parameter attributes: of a model, those of its chain (with
        ``transcoef_`` for input-driven transitions); of the class, those of
        a stationary chain."""
        chain = (
            owner._transitions_class
            if isinstance(owner, type)
            else owner._chain_class()
        )
        return tuple(
            n for names in chain.names_by_letter().values() for n in names
        ) + tuple(owner._emission_class.attribute_names())

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

    def _check_hyperparameters(self, params=None):
        """Check the constructor arguments; return the emission built from
        ``params`` (default: the current parameters)."""
        self.n_components = self._checked_n_components()
        check_int(self.n_iter, "n_iter", 0)
        check_real(self.tol, "tol", allow_inf=True)  # tol < 0: run all n_iter
        self._check_chain_priors()
        self._check_chain_inputs()
        check_choice(self.algorithm, "algorithm", DECODERS)
        check_choice(self.implementation, "implementation", IMPLEMENTATIONS)
        check_letters(self.params, "params", self._all_letters())
        check_letters(self.init_params, "init_params", self._all_letters())
        _batches.budget_of(self)
        online.check_learning_rate(self.learning_offset, self.learning_decay)
        check_choice(self.missing, "missing", MISSING_CHOICES)
        # The emission checks its own hyper-parameters as it is built.
        return self._emission(self._current_params() if params is None else params)

    def _checked_n_components(self):
        """``n_components``, checked before anything of its size is planned."""
        k = check_int(self.n_components, "n_components", 1)
        check_allocation((k, k), "n_components", k, "a transition matrix")
        return k

    def _check_chain_inputs(self):
        """Check ``transition_inputs`` and ``transcoef_prior``."""
        if not isinstance(self.transition_inputs, (bool, np.bool_)):
            raise TypeError(
                "transition_inputs must be True or False, got "
                f"{self.transition_inputs!r}"
            )
        check_real(self.transcoef_prior, "transcoef_prior", 0.0)
        if self.transition_inputs and self._transitions_class is not Transitions:
            raise ValueError(
                f"transition_inputs=True is not offered by {type(self).__name__} "
                "(its chain is not a first-order Markov chain of point "
                "estimates)"
            )

    def _check_chain_priors(self):
        k = self.n_components
        for name, shape in (("startprob_prior", (k,)), ("transmat_prior", (k, k))):
            check_prior(
                getattr(self, name), name, shape, strict=True, kind="concentration"
            )

    def _current_params(self):
        """The parameter attributes, all read at one time (see :meth:`_set_params`)."""
        with _PARAMETERS_LOCK:
            return {name: getattr(self, name, None) for name in self._param_names()}

    def _set_params(self, params, **attributes):
        """Write :class:`~fasthmm.em.Params` and ``attributes`` at one time.

        A call reading the parameters in another thread (:meth:`_current_params`)
        sees all the old values or all the new ones; of two fits finishing
        together, one's parameters win whole.
        """
        with _PARAMETERS_LOCK:
            for name, value in params.as_dict().items():
                setattr(self, name, value)
            for name, value in attributes.items():
                setattr(self, name, value)
            self._after_fit(params.emission)

    def _transitions(self, params):
        if self.transition_inputs:
            return InputTransitions(
                self.n_components,
                params.get("startprob_"),
                params.get("transcoef_"),
                self.startprob_prior,
                self.transcoef_prior,
            )
        return Transitions(
            self.n_components,
            params.get("startprob_"),
            params.get("transmat_"),
            self.startprob_prior,
            self.transmat_prior,
        )

    def _chain_class(self):
        """The class of this model's chain component (input-driven or not)."""
        return InputTransitions if self.transition_inputs else self._transitions_class

    def _emission(self, params):
        args = {name: getattr(self, name) for name in self._emission_args}
        emission = self._emission_class(self.n_components, params, **args)
        emission.missing = getattr(self, "missing", "raise")
        return emission

    def _checked(self, params, emission):
        """Checked :class:`~fasthmm.em.Params`: transitions from ``params``, and
        ``emission`` (built from the same parameters) with its values checked.

        Raises
        ------
        NotFittedError
            When a parameter is not set.
        ValueError
            Naming the invalid parameter (:class:`InvalidParameter` for the
            emission's).
        """
        transitions = self._transitions(params)
        transitions.require()  # before the emission: its error comes first
        return Params(transitions.checked(), emission.checked())

    def _read_data(self, emission, X, lengths, inputs=None):
        """Checked (X, starts): X as the emission sees it (see :meth:`_design`)."""
        return self._read_batch(emission, X, lengths, inputs, _CHAIN_UNCHECKED)[:2]

    def _read_batch(self, emission, X, lengths, inputs=None, transition_inputs=None):
        """Checked (X, starts, w) of one batch: X as the emission sees it
        (see :meth:`_design`), ``w`` the checked ``transition_inputs`` (None
        for a stationary chain)."""
        raw_X, raw_lengths = X, lengths
        X, starts = self._designed(emission, X, lengths, inputs)
        if transition_inputs is _CHAIN_UNCHECKED:
            return X, starts, None
        w = self._transition_rows(raw_X, raw_lengths, X.shape[0], transition_inputs)
        return X, starts, w

    def _designed(self, emission, X, lengths, inputs):
        """(X through :meth:`_design` and the emission's check, starts); a
        model that uses no inputs and gets none takes the checks of old."""
        raw_X, raw_lengths = X, lengths
        X, lengths = check_sequences(X, lengths)
        if inputs is None and type(self)._design is BaseHMM._design:
            X = emission.check_X(X)
            return X, check_lengths(lengths, X.shape[0])
        n = row_count(X)
        if not n:  # not an array of rows, or none: the emission's check says why
            X = emission.check_X(X)
            n = X.shape[0]
        starts = check_lengths(lengths, n)
        inputs = check_inputs(inputs, raw_X, raw_lengths, n)
        return emission.check_X(self._design(X, starts, inputs)), starts

    def _design(self, X, starts, inputs):
        """The array the emission sees wherever it sees X.

        The hook of models whose emissions use ``inputs``: they return X with
        the regressor columns built from ``inputs`` (and X itself, for
        autoregression) appended, and the emission splits them off. Called
        once per batch at the boundary, on every route (in memory, blocks,
        partitions, stream chunks).

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            The concatenated samples, not yet checked by the emission.
        starts : ndarray of shape (n_sequences + 1,), int64
        inputs : ndarray of shape (n_samples, n_inputs), float64, or None
            Checked (:func:`fasthmm._validation.check_inputs`).

        Returns
        -------
        X : array-like
            Here X itself: this model's emission uses no inputs.
        """
        if inputs is not None:
            raise ValueError(
                f"inputs were given but {type(self).__name__}'s emissions use "
                "none: leave inputs=None (for inputs that drive the "
                "transitions, build the model with transition_inputs=True and "
                "pass transition_inputs=)"
            )
        return X

    def _transition_rows(self, X, lengths, n_samples, transition_inputs):
        """Checked ``transition_inputs`` of a batch (None for a stationary chain).

        Raises
        ------
        ValueError
            Given to a model built without ``transition_inputs=True``, or
            missing for one built with it.
        """
        if not self.transition_inputs:
            if transition_inputs is not None:
                raise ValueError(
                    "transition_inputs were given but this "
                    f"{type(self).__name__} has a stationary chain: build it "
                    "with transition_inputs=True to use them"
                )
            return None
        if transition_inputs is None:
            raise ValueError(
                f"this {type(self).__name__} has input-driven transitions "
                "(transition_inputs=True): pass transition_inputs=, an array "
                "of shape (n_samples, n_transition_inputs) aligned with X"
            )
        return check_inputs(
            transition_inputs, X, lengths, n_samples, "transition_inputs"
        )

    def _checked_params(self):
        """The checked parameters of a fitted model (once per public call)."""
        with _PARAMETERS_LOCK:  # the emission and the chain of one model
            params = self._current_params()
            emission = self._check_hyperparameters(params)
        if all(v is None for v in params.values()):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet: call fit first"
            )
        params = self._checked(params, emission)
        params.emission.check_hyperparameters()
        return params

    def _checked_batch(self, X, lengths, inputs=None, transition_inputs=None):
        """Checked (params, X, starts) for the inference methods; the chain of
        ``params`` is bound to the batch's ``transition_inputs`` (its
        ``transmat`` is then per step, see :class:`fasthmm.inference.PerStep`)."""
        params = self._checked_params()
        X, starts, w = self._read_batch(
            params.emission, X, lengths, inputs, transition_inputs
        )
        return params.bound(w), X, starts

    def _loaded_workspace(self, X, lengths, inputs=None, transition_inputs=None):
        """Checked params and a workspace holding the frame of X."""
        params, X, starts = self._checked_batch(X, lengths, inputs, transition_inputs)
        return params, self._workspace(params, X, starts)

    def _workspace(self, params, X, starts):
        """A workspace holding the frame of checked X."""
        ws = Workspace(starts, self.n_components)
        ws.load(params.emission, X)
        return ws

    # -- inference ------------------------------------------------------------
    def _forward(self, X, lengths, inputs=None, transition_inputs=None):
        params, ws = self._loaded_workspace(X, lengths, inputs, transition_inputs)
        t = params.transitions
        ll = forward_pass(ws, t.startprob, t.transmat)
        return ll, ws, params

    def _log_likelihood(self, X, lengths, inputs=None, transition_inputs=None):
        """(log-likelihood, params, n_samples) by the forward pass alone."""
        blocks = self._blocks(X, lengths, inputs, transition_inputs)
        if blocks is not None:
            params = self._checked_params()
            ll = blocks.log_likelihood(params)
            return ll, params, blocks.n_observed_rows
        params, X, starts = self._checked_batch(X, lengths, inputs, transition_inputs)
        t = params.transitions
        ll = emission_log_likelihoods(
            params.emission, X, starts, t.startprob, t.transmat
        )
        return float(ll.sum()), params, n_observed_rows(X)

    @adaptive_threads
    def log_emissions(self, X, lengths=None, *, inputs=None, transition_inputs=None):
        """Log-density of every sample under every state's emission.

        The matrix the inference runs on: entry ``[t, k]`` is
        ``log p(x_t | z_t = k)``. It feeds the functional API
        (:func:`fasthmm.forward`, :func:`fasthmm.forward_backward`,
        :func:`fasthmm.forward_filter`, :func:`fasthmm.viterbi`), e.g. to
        combine a fitted model's emissions with other transition matrices.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), or a list of sequences
        lengths : array-like of int, optional
            Checked against ``X`` only (each row depends on its sample alone).
        inputs, transition_inputs : array-like, optional
            As in :meth:`score` (``transition_inputs`` is checked when
            given, not used).

        Returns
        -------
        log_emissions : ndarray of shape (n_samples, n_components)
            Rows in the order of ``X`` (a list of sequences is concatenated).
            ``-inf`` where a state cannot emit a sample.
        """
        params = self._checked_params()
        chain = _CHAIN_UNCHECKED if transition_inputs is None else transition_inputs
        X, _, _ = self._read_batch(params.emission, X, lengths, inputs, chain)
        return np.array(params.emission.log_likelihood(X), dtype=np.float64)

    @adaptive_threads
    def score(self, X, lengths=None, *, inputs=None, transition_inputs=None):
        """Log-likelihood of ``X`` under the model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), or a list of sequences
        lengths : array-like of int, optional
        inputs : array-like of shape (n_samples, n_inputs), optional
            Covariates of the emissions, aligned with X's rows (a list of
            arrays when X is a list); only for models whose emissions use
            them (docs/inputs.md).
        transition_inputs : array-like of shape (n_samples, n_transition_inputs)
            Covariates of the transitions, aligned with X's rows (row t drives
            the step into t; the first row of each sequence is not used);
            required by models built with ``transition_inputs=True``, refused
            by the others.

        Returns
        -------
        log_likelihood : float
        """
        return self._log_likelihood(X, lengths, inputs, transition_inputs)[0]

    @adaptive_threads
    def score_samples(self, X, lengths=None, *, inputs=None, transition_inputs=None):
        """Log-likelihood and state posteriors.

        ``inputs`` and ``transition_inputs`` as in :meth:`score`.

        Returns
        -------
        log_likelihood : float
        posteriors : ndarray of shape (n_samples, n_components)
        """
        blocks = self._blocks(X, lengths, inputs, transition_inputs)
        if blocks is not None:
            return blocks.posteriors(self._checked_params())
        params, X, starts = self._checked_batch(X, lengths, inputs, transition_inputs)
        t = params.transitions
        ll, post = emission_posteriors(
            params.emission, X, starts, t.startprob, t.transmat
        )
        raise_if_impossible(ll, "X")
        return float(ll.sum()), post

    def predict_proba(self, X, lengths=None, *, inputs=None, transition_inputs=None):
        """State posteriors p(z_t | x), shape (n_samples, n_components).

        ``inputs`` and ``transition_inputs`` as in :meth:`score`."""
        return self.score_samples(
            X, lengths, inputs=inputs, transition_inputs=transition_inputs
        )[1]

    @adaptive_threads
    def filter_proba(self, X, lengths=None, *, inputs=None, transition_inputs=None):
        """Filtered state probabilities p(z_t | x_1..x_t), without look-ahead.

        ``inputs`` and ``transition_inputs`` as in :meth:`score`.

        Returns
        -------
        filtered : ndarray of shape (n_samples, n_components)
        """
        ll, ws, _ = self._forward(X, lengths, inputs, transition_inputs)
        raise_if_impossible(ll, "X")
        return ws.post

    @adaptive_threads
    def decode(
        self, X, lengths=None, algorithm=None, *, inputs=None, transition_inputs=None
    ):
        """Most likely states.

        Parameters
        ----------
        X, lengths :
            As in :meth:`score`.
        algorithm : {"viterbi", "map"}, optional
            Default: the model's ``algorithm``. "viterbi" gives the best joint
            path; "map" the most likely state at each step.
        inputs, transition_inputs : array-like, optional
            As in :meth:`score`.

        Returns
        -------
        log_prob : float
            "viterbi": log p(X, best path). "map": the sum over steps of the
            log of the chosen state's posterior probability.
        states : ndarray of shape (n_samples,), int64
        """
        algorithm = self.algorithm if algorithm is None else algorithm
        check_choice(algorithm, "algorithm", DECODERS)
        kw = {"inputs": inputs, "transition_inputs": transition_inputs}
        if algorithm == "map":
            _, post = self.score_samples(X, lengths, **kw)
            states = post.argmax(axis=1)
            return float(np.log(post[np.arange(post.shape[0]), states]).sum()), states
        blocks = self._blocks(X, lengths, **kw)
        if blocks is not None:
            return blocks.viterbi(self._checked_params())
        params, X, starts = self._checked_batch(X, lengths, **kw)
        t = params.transitions
        log_emissions = params.emission.log_likelihood(X)
        lp, states, _ = viterbi_decode(log_emissions, t.startprob, t.transmat, starts)
        raise_if_impossible(lp, "X")
        return float(lp.sum()), states

    def predict(self, X, lengths=None, *, inputs=None, transition_inputs=None):
        """Most likely states (by the model's ``algorithm``), shape (n_samples,).

        ``inputs`` and ``transition_inputs`` as in :meth:`score`."""
        return self.decode(
            X, lengths, inputs=inputs, transition_inputs=transition_inputs
        )[1]

    def stream(self, lag=0, max_delay=None, viterbi=True):
        """A :class:`~fasthmm.stream.Stream` for live data: filtering,
        fixed-lag smoothing and online Viterbi, one observation at a time.

        Parameters
        ----------
        lag : int
            Fixed-lag smoothing: each push also gives p(z_{t-lag} | x_0..x_t)
            once ``lag`` more observations have arrived (0: filtering only).
        max_delay : int, optional
            Online Viterbi emits a state as soon as every surviving path agrees
            on it. With ``max_delay``, a state still undecided ``max_delay``
            steps after its observation is forced onto the current best path
            (an approximation: the path may then differ from ``decode``;
            ``stream.n_forced`` counts them). Default: never forced.
        viterbi : bool
            Run the online Viterbi decoder (off: filtering and smoothing only).

        Returns
        -------
        stream : fasthmm.stream.Stream
            Holds the model's current parameters (checked once, here). With
            ``transition_inputs=True`` each push takes the rows'
            ``transition_inputs=``; an autoregressive model's stream keeps
            its last ``order`` rows as the next chunk's lags.
        """
        from .stream import Stream, _EmissionRows, _InputChain, check_stream_options

        lag, max_delay, viterbi = check_stream_options(lag, max_delay, viterbi)
        params = self._checked_params()
        t = params.transitions
        rows = _EmissionRows(params.emission, self._design, self._stream_order())
        chain = None
        if self.transition_inputs:
            chain, transmat = _InputChain(t.transcoef), None
        else:
            transmat = t.transmat
        forecaster = functools.partial(self._forecast_means, params)
        return Stream(
            rows, t.startprob, transmat, lag, max_delay, viterbi, chain, forecaster
        )

    def _stream_order(self):
        """Rows before a new one that its log-emission depends on (the lags
        of autoregression): a stream keeps that many; 0 here."""
        return 0

    @adaptive_threads
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
        """State paths drawn from p(z | x) by forward filtering, backward sampling.

        ``inputs`` and ``transition_inputs`` as in :meth:`score`.

        Returns
        -------
        states : ndarray of shape (n_samples, n_observations), int64
        """
        n_draws = check_int(n_samples, "n_samples", 1)
        ll, ws, params = self._forward(X, lengths, inputs, transition_inputs)
        raise_if_impossible(ll, "X")
        rng = check_random_state(
            self.random_state if random_state is None else random_state
        )
        uniforms = rng.random((n_draws, ws.post.shape[0]))
        transmat = params.transitions.transmat
        if isinstance(transmat, PerStep):
            return backward_sample_steps(ws.post, transmat.log, ws.starts, uniforms)
        states = np.empty(uniforms.shape, dtype=np.int64)
        _kernels.backward_sample_batch(ws.post, transmat, ws.starts, uniforms, states)
        return states

    # -- forecasts ------------------------------------------------------------
    @adaptive_threads
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
        """State distributions of the steps after the end of each sequence.

        The filtered state of each sequence's last row, ``p(z_T | x_1..x_T)``
        (the last row of :meth:`filter_proba`), carried through the
        transitions: exact, no observation after the end.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), or a list of sequences
        lengths : array-like of int, optional
        steps : int >= 1
            Number of steps after the end of each sequence.
        inputs, transition_inputs : array-like, optional
            Of the rows of X, as in :meth:`score`.
        future_transition_inputs : array-like, optional
            For a model built with ``transition_inputs=True`` (required
            then): the transition inputs of the steps after the end, row
            ``h - 1`` driving the transition into step ``h``; shape
            (n_sequences, steps, n_transition_inputs), or (steps,
            n_transition_inputs) for one sequence, or a list of one such
            array per sequence. Refused by a model whose transitions use no
            inputs.

        Returns
        -------
        proba : ndarray of shape (n_sequences, steps, n_components)
            ``proba[n, h - 1] = p(z_{T_n + h} | sequence n)``.
        """
        return self._state_forecast(
            X, lengths, steps, future_transition_inputs, inputs, transition_inputs
        )[-1].proba

    @adaptive_threads
    def forecast(
        self,
        X,
        lengths=None,
        steps=1,
        *,
        inputs=None,
        transition_inputs=None,
        future_inputs=None,
        future_transition_inputs=None,
    ):
        """Predictive mean of the observations after the end of each sequence.

        ``E[x_{T+h} | x_1..x_T]``: each state's emission mean weighted by
        :meth:`forecast_proba` (for autoregressive emissions, the exact
        regime-conditional means of the autoregression).

        Parameters
        ----------
        X, lengths, steps, inputs, transition_inputs, future_transition_inputs :
            As in :meth:`forecast_proba`.
        future_inputs : array-like, optional
            For a model whose emissions depend on inputs: their values in the
            steps after the end, shaped as ``future_transition_inputs``.

        Returns
        -------
        means : ndarray of shape (n_sequences, steps, n_features)

        Raises
        ------
        TypeError
            For symbols (categorical emissions), which have no mean: their
            probabilities are ``forecast_proba(...) @ emissionprob_``.
        """
        params, X, starts, chain = self._state_forecast(
            X, lengths, steps, future_transition_inputs, inputs, transition_inputs
        )
        return self._forecast_means(params, X, starts, chain, future_inputs)

    def _state_forecast(
        self,
        X,
        lengths,
        steps,
        future_transition_inputs,
        inputs=None,
        transition_inputs=None,
    ):
        """(params, X, starts, :class:`~fasthmm.forecast.StateForecast`) of the
        public forecast methods, from checked arguments."""
        steps = check_steps(steps)
        # X larger than memory is walked in blocks when the means need no X.
        walk = type(self)._forecast_means is BaseHMM._forecast_means
        blocks = self._blocks(X, lengths, inputs, transition_inputs) if walk else None
        if blocks is not None:
            params, X, starts = self._checked_params(), None, blocks.starts
        else:
            params, X, starts = self._checked_batch(
                X, lengths, inputs, transition_inputs
            )
        transmats = self._forecast_transmats(
            params, starts.shape[0] - 1, steps, future_transition_inputs
        )
        if blocks is not None:
            filtered = blocks.filtered_last(params)
        else:
            filtered = self._filtered_last(params, X, starts)
        return params, X, starts, state_forecast(filtered, transmats)

    def _filtered_last(self, params, X, starts):
        """``p(z_T | x_1..x_T)`` of each sequence's last row, shape
        (n_sequences, n_components), from checked data."""
        ws = self._workspace(params, X, starts)
        t = params.transitions
        raise_if_impossible(forward_pass(ws, t.startprob, t.transmat), "X")
        return ws.post[starts[1:] - 1]

    def _forecast_transmats(self, params, n_sequences, steps, future_transition_inputs):
        """Transition matrices of the steps after the end of each sequence.

        Stationary: ``transmat_`` at every step. With
        ``transition_inputs=True``: softmax over rows of ``transcoef_ @ w``
        for each row ``w`` of ``future_transition_inputs`` (required then).

        Returns
        -------
        transmats : ndarray of shape (n_sequences, steps, n_components, n_components)
            ``transmats[n, h]`` leads into step ``h + 1`` after the end of
            sequence ``n``; a broadcast view for a stationary chain.
        """
        if not self.transition_inputs:
            refuse_future(
                future_transition_inputs, "future_transition_inputs", "transitions"
            )
            return stationary_transmats(params.transitions.transmat, n_sequences, steps)
        if future_transition_inputs is None:
            raise ValueError(
                f"this {type(self).__name__} has input-driven transitions "
                "(transition_inputs=True): pass future_transition_inputs=, the "
                "transition inputs of the steps after the end, shape "
                "(n_sequences, steps, n_transition_inputs)"
            )
        return input_transmats(
            params.transitions.transcoef, future_transition_inputs, n_sequences, steps
        )

    def _forecast_means(self, params, X, starts, chain, future_inputs):
        """Predictive means of the steps after the end of each sequence.

        The hook of :meth:`forecast`. The default mixes each state's emission
        mean (:meth:`~fasthmm.emissions.Emission.state_means`) over
        ``chain.proba``. A model whose emission mean depends on the past or on
        inputs (regression, autoregression) overrides it with its exact
        recursion.

        Parameters
        ----------
        params : fasthmm.em.Params
            The checked parameters (``params.transitions``,
            ``params.emission``).
        X : ndarray of shape (n_samples, n_features)
            The checked observations (what the emission's ``check_X`` gives).
            A model that overrides this hook always receives them; with the
            default hook, X larger than the memory budget is walked in blocks
            and X is None.
        starts : ndarray of shape (n_sequences + 1,), int64
            Sequence bounds: sequence ``n`` is ``X[starts[n]:starts[n + 1]]``.
        chain : fasthmm.forecast.StateForecast
            ``chain.filtered`` (n_sequences, n_components), the filtered
            state of each last row; ``chain.transmats`` (n_sequences, steps,
            n_components, n_components), the transitions into each future
            step; ``chain.proba`` (n_sequences, steps, n_components), the
            forecast state distributions.
        future_inputs : None or array-like
            As the user gave it (check it with
            :func:`fasthmm.forecast.check_future`); a model using no inputs
            refuses it.

        Returns
        -------
        means : ndarray of shape (n_sequences, steps, n_features)
            ``E[x_{T+h} | x_1..x_T]`` at ``[n, h - 1]``.
        """
        refuse_future(future_inputs, "future_inputs", "emissions")
        return chain.proba @ params.emission.state_means()

    def _forecast_draws(self, params, X, starts, chain, n_draws, rng, future_inputs):
        """Continuations of each sequence drawn from the model.

        The state at the end drawn from ``chain.filtered``, the chain run on
        through ``chain.transmats``, one observation drawn per step from the
        emission; :func:`fasthmm.plot.forecast` takes its quantile bands
        from them. Arguments as in :meth:`_forecast_means`; a model whose
        observations depend on the past overrides it.

        Returns
        -------
        draws : ndarray of shape (n_sequences, n_draws, steps, n_features)
        """
        refuse_future(future_inputs, "future_inputs", "emissions")
        n, steps, k = chain.proba.shape
        out = None
        for s in range(n):
            z = _draw_rows(np.broadcast_to(chain.filtered[s], (n_draws, k)), rng)
            for h in range(steps):
                z = _draw_rows(chain.transmats[s, h][z], rng)
                x = params.emission.sample(z, rng)
                if out is None:
                    out = np.empty((n, n_draws, steps, x.shape[1]), dtype=np.float64)
                out[s, :, h] = x
        return out

    def sample(
        self,
        n_samples=1,
        random_state=None,
        currstate=None,
        *,
        inputs=None,
        transition_inputs=None,
    ):
        """Draw a sequence from the model.

        Parameters
        ----------
        n_samples : int
        random_state : None, int, RandomState or Generator
            Default: the model's ``random_state``.
        currstate : int, optional
            The first state; drawn from ``startprob_`` when omitted.
        inputs, transition_inputs : array-like of shape (n_samples, ...), optional
            The inputs of the rows drawn, as :meth:`score` takes them.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        states : ndarray of shape (n_samples,), int64
        """
        n = check_int(n_samples, "n_samples", 1)
        params = self._checked_params()
        rng = check_random_state(
            self.random_state if random_state is None else random_state
        )
        if currstate is not None:
            currstate = check_int(currstate, "currstate", 0)
            if currstate >= self.n_components:
                raise ValueError(
                    f"currstate must be in [0, {self.n_components}), got {currstate}"
                )
        w = self._transition_rows(None, None, n, transition_inputs)
        states = params.bound(w).transitions.sample(n, rng, currstate)
        return self._sample_emissions(params, states, rng, inputs), states

    def _sample_emissions(self, params, states, rng, inputs):
        """Observations drawn given ``states``: the hook of models whose
        emissions use ``inputs`` (checked here: this model's take none)."""
        self._design(None, None, check_inputs(inputs, None, None, len(states)))
        return params.emission.sample(states, rng)

    def _n_free_parameters(self, params):
        """Free scalars of the model, trained or frozen (as hmmlearn counts)."""
        return (
            params.transitions.n_free_parameters()
            + params.emission.n_free_parameters(self._all_letters())
        )

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
        save_model(self, path)

    @adaptive_threads
    def aic(self, X, lengths=None, *, inputs=None, transition_inputs=None):
        """Akaike information criterion (lower is better)."""
        ll, params, _ = self._log_likelihood(X, lengths, inputs, transition_inputs)
        return -2.0 * ll + 2.0 * self._n_free_parameters(params)

    @adaptive_threads
    def bic(self, X, lengths=None, *, inputs=None, transition_inputs=None):
        """Bayesian information criterion (lower is better).

        ``-2 log L + p log n``, with ``n`` the number of samples observed
        (with ``missing="marginalize"``, a row of NaN is not counted).
        """
        ll, params, n_samples = self._log_likelihood(
            X, lengths, inputs, transition_inputs
        )
        return -2.0 * ll + self._n_free_parameters(params) * float(np.log(n_samples))

    # -- learning -------------------------------------------------------------
    @adaptive_threads
    def fit(self, X, lengths=None, *, states=None, inputs=None, transition_inputs=None):
        """Estimate the parameters by EM (Baum-Welch), or from labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), or a list of sequences
        lengths : array-like of int, optional
        states : array-like of shape (n_samples,), int, optional
            Known states (-1 where unknown). Fully labelled data gives the
            maximum-likelihood (MAP with priors) estimate in one pass; partly
            labelled data runs EM with the known states clamped.
        inputs, transition_inputs : array-like, optional
            As in :meth:`score`.

        Returns
        -------
        self

        Notes
        -----
        The fit is atomic: if it raises, the model keeps its previous
        parameters. X larger than ``memory_budget`` allows (a memmap, a list of
        arrays) is walked in blocks of whole sequences (docs/scaling.md).
        """
        emission = self._check_hyperparameters()
        blocks = self._blocks(X, lengths, inputs, transition_inputs)
        if blocks is not None:
            monitor = self._monitor_class(self.tol, self.n_iter, self.verbose)
            return self._commit(blocks.fit(self, emission, states, monitor), monitor)
        X, starts, w = self._read_batch(emission, X, lengths, inputs, transition_inputs)
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
        emission.check_hyperparameters()  # before initialising: errors name them
        labelled = (
            labels is not None
            and np.all(labels >= 0)
            and emission.closed_form_given_states
        )
        params = self._initialized(emission, X, starts, labelled=labelled, w=w)

        monitor = self._monitor_class(self.tol, self.n_iter, self.verbose)
        if labelled:
            params = self._fit_labelled(X, starts, labels, params, monitor, w)
        else:
            clamp = None if labels is None else Clamp(labels)
            ws = Workspace(starts, k)  # reused by every iteration
            params = run_em(
                self._e_step_of(X, starts, clamp, ws, w),
                params,
                self.params,
                monitor,
            )

        return self._commit(params, monitor)

    def _e_step_of(self, X, starts, clamp, ws, w=None):
        """The E-step :meth:`fit` runs on one in-memory batch (``Params ->
        Stats``, see :func:`fasthmm.em.expected_stats`); ``w`` the batch's
        transition inputs (None without)."""
        return lambda p: expected_stats(p, X, starts, clamp, ws, w)

    def _commit(self, params, monitor):
        """Write the parameters of a finished fit (running statistics reset)."""
        self._set_params(params, monitor_=monitor, _online=None)
        return self

    def _blocks(self, X, lengths, inputs=None, transition_inputs=None):
        """:class:`fasthmm._batches.Blocks` when X must be walked, else None."""
        k = self._checked_n_components()
        return _batches.plan(
            X,
            lengths,
            k,
            _batches.budget_of(self),
            _batches.Aligned(self, inputs, transition_inputs),
        )

    @adaptive_threads
    def partial_fit(self, X, lengths=None, *, inputs=None, transition_inputs=None):
        """One step of online (stepwise) EM on a new batch of sequences.

        The batch's expected statistics are blended into running statistics
        with step size ``(learning_offset + t) ** -learning_decay`` at update
        ``t`` (1, 2, ...), then the parameters named in ``params`` are
        maximised. The first call (on a new model, or after :meth:`fit`)
        initialises the parameters named in ``init_params`` from its batch,
        as :meth:`fit` does, and starts the running statistics from it.

        Parameters
        ----------
        X, lengths, inputs, transition_inputs :
            As in :meth:`fit`.

        Returns
        -------
        self

        Notes
        -----
        Atomic, as :meth:`fit`. ``monitor_`` is not touched: score held-out
        data to follow progress.
        """
        return online.partial_fit(self, X, lengths, inputs, transition_inputs)

    def _after_fit(self, emission):
        """Hook for attributes derived from the fit (e.g. ``n_features``)."""

    def _initialized(
        self, emission, X, starts=None, *, n_values=None, labelled=False, w=None
    ):
        """Checked parameters after initialising from X those in ``init_params``
        and (as hmmlearn) those not set.

        ``n_values`` is the number of scalars of the whole data when X is a
        sample of it (default: X.size), for hmmlearn's warning about fitting
        more free parameters than data values; a fully ``labelled`` fit (a
        closed-form estimate, no EM) does not log it.

        ``starts`` (sequence bounds; default: X as one sequence) matters only
        to components whose initial values depend on it (the variational
        chain's posteriors scale with the numbers of sequences and samples).
        ``w`` holds the batch's checked ``transition_inputs`` (input-driven
        transitions initialise their coefficients from them).

        A parameter that fails its check after being initialised from X is
        reported as such (X is degenerate for the model).
        """
        rng = check_random_state(self.random_state)
        if starts is None:
            starts = np.array([0, X.shape[0]], dtype=np.int64)
        n_values = None if labelled else X.size if n_values is None else n_values
        letters = letters_to_initialize(self, emission, n_values)
        transitions = self._transitions(self._current_params())
        if w is not None:
            transitions = transitions.bound(w)
        transitions = transitions.initialized(letters, starts, rng)
        # Overflow on data near the float64 range (k-means distances, data
        # covariances) is not reported as a warning: it leaves a non-finite
        # parameter, which the check below reports as an error.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            emission = emission.updated(emission.initialize(X, letters, rng))
        letter_of = {
            n: k for k, names in emission.names_by_letter().items() for n in names
        }
        try:
            emission = emission.checked()
        except InvalidParameter as exc:
            if letter_of[exc.name] not in letters:
                raise
            raise ValueError(
                f"{exc} (after initialising {exc.name} from X: X is degenerate "
                "for this model, e.g. a constant feature with min_covar=0, or too "
                "large in magnitude)"
            ) from None
        return Params(transitions.checked(), emission)

    def _fit_labelled(self, X, starts, labels, params, monitor, w=None):
        """Supervised estimate from fully labelled sequences, in one pass."""
        params = maximize(
            params, labelled_stats(params, X, starts, labels, w), self.params
        )
        stats = expected_stats(params, X, starts, Clamp(labels), w=w)
        monitor.report(monitor.measure(params, stats))
        return params


#: The shared constructor arguments and their defaults, in hmmlearn's order
#: ("params" and "init_params" default to every letter of the model).
SHARED_DEFAULTS = {
    "n_components": 1,
    "startprob_prior": 1.0,
    "transmat_prior": 1.0,
    "algorithm": "viterbi",
    "random_state": None,
    "n_iter": 10,
    "tol": 1e-2,
    "verbose": False,
    "params": None,
    "init_params": None,
    "implementation": "log",
}


def _draw_rows(probs, rng):
    """One index per row of ``probs`` (rows of probabilities), by inversion."""
    cum = np.cumsum(probs, axis=1)
    u = rng.random(probs.shape[0])[:, None] * cum[:, -1:]
    return np.minimum((u >= cum).sum(axis=1), probs.shape[1] - 1)


def family_signature(cls):
    """The constructor signature of a model class whose ``__init__`` is generated.

    The shared arguments (``cls._shared_defaults()``, by default
    :data:`SHARED_DEFAULTS`) with the hyper-parameters
    of ``cls._emission_class`` placed among them: each where the emission's
    ``model_args_after`` says (hyper-parameter -> the argument it follows;
    ``"*"``: it and every argument after it keyword-only), else after the previous hyper-parameter of the
    emission's constructor, the first one after ``transmat_prior``. This is
    how the models keep hmmlearn's positional order.
    """
    P = inspect.Parameter
    hyper = list(inspect.signature(cls._emission_class.__init__).parameters.values())
    hyper = [p for p in hyper[1:] if p.name not in ("n_components", "params")]
    shared = cls._shared_defaults()
    names = [*shared, "*"]
    defaults = dict(shared, params=cls._all_letters())
    defaults["init_params"] = defaults["params"]
    placed = getattr(cls._emission_class, "model_args_after", {})
    previous = "transmat_prior"
    for p in hyper:
        after = placed.get(p.name, previous)
        if after == "*":  # keyword-only from here on, as hmmlearn's CategoricalHMM
            names.remove("*")
            names.insert(names.index(previous) + 1, "*")
        names.insert(names.index(after) + 1, p.name)
        defaults[p.name] = p.default
        previous = p.name
    star = names.index("*")
    params = [P("self", P.POSITIONAL_OR_KEYWORD)]
    for i, name in enumerate(names):
        kind = P.POSITIONAL_OR_KEYWORD if i < star else P.KEYWORD_ONLY
        if name != "*":
            params.append(P(name, kind, default=defaults[name]))
    return inspect.Signature(params)


def _family_init(cls):
    """``__init__`` of :func:`family_signature`: stores every argument."""
    sig = family_signature(cls)

    def __init__(self, *args, **kwargs):
        bound = sig.bind(self, *args, **kwargs)
        bound.apply_defaults()
        self._store_constructor_args(bound.arguments)

    __init__.__signature__ = sig
    __init__.__qualname__ = f"{cls.__qualname__}.__init__"
    return __init__


def _with_added_args(init):
    """``init`` taking :data:`ADDED_ARGS` too, as keyword-only arguments.

    The wrapper sets them after ``init`` has run (so a subclass's values win
    over its parent's defaults) and shows them in the signature, which is
    what ``get_params`` and scikit-learn's ``clone`` read.
    """
    sig = inspect.signature(init)
    added = {n: d for n, d in ADDED_ARGS.items() if n not in sig.parameters}
    if not added:
        return init

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        values = {n: kwargs.pop(n, d) for n, d in added.items()}
        init(self, *args, **kwargs)
        for name, value in values.items():
            setattr(self, name, value)

    params = list(sig.parameters.values())
    tail = [p for p in params if p.kind == inspect.Parameter.VAR_KEYWORD]
    params = [p for p in params if p.kind != inspect.Parameter.VAR_KEYWORD]
    params += [
        inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=d)
        for n, d in added.items()
    ]
    __init__.__signature__ = sig.replace(parameters=params + tail)
    return __init__
