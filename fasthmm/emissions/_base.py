"""The interface every emission family implements.

An emission object holds one family's hyper-parameters (priors, covariance
type, ...) and its current parameters, keyed by the model's attribute names
(``"means_"``, ``"covars_"``, ...). It knows nothing else: not the E-step's
buffers, not the labels of a supervised fit, not the transitions. Every
algorithm (inference, EM, sampling) is written once against these methods:

* :meth:`log_likelihood` writes the (n_samples, n_components) log-emission
  matrix into a buffer it is given; :meth:`likelihood` is an optional
  probability-space fast path (a family whose probabilities are a table
  lookup skips the exp/log round trip);
* :meth:`suff_stats` computes the family's sufficient statistics from data
  and posterior weights (a dict of arrays: statistics of disjoint batches
  add up key by key), and :meth:`m_step` maximises them;
* :meth:`initialize`, :meth:`sample`, :meth:`log_prior`,
  :meth:`n_free_parameters`;
* :meth:`check_X`, :meth:`check_hyperparameters` and :meth:`check_param`
  convert and check at the public boundary, once per public call.

A family declares :attr:`Emission.param_names` (letter -> attribute) and its
hyper-parameters as keyword arguments of ``__init__``; the model class passes
its constructor arguments of the same names (see
:class:`fasthmm.base.BaseHMM`).

Missing observations: a family writes :meth:`log_likelihood`,
:meth:`likelihood`, :meth:`suff_stats` and :meth:`initialize` for observed
data only. Given samples with missing entries (``missing="marginalize"``,
a :class:`fasthmm._missing.Gapped` array), these methods are routed through
:mod:`fasthmm.emissions._gaps`, which calls the family on the observed values
alone; a family that can integrate out single entries adds
:meth:`marginal` and :meth:`add_partial_stats` (and, when its features are
independent, :attr:`independent_features`: its statistics then carry
per-feature weights, ``"post_features"``).
"""

import copy
import functools

import numpy as np

from .._missing import is_gapped
from .._validation import (
    NotFittedError,
    as_float_array,
    check_allocation,
    trailing_size,
)
from ._weighted import add_observed_sums


def names_by_letter(component):
    """``params`` letter -> tuple of the attribute names a component owns: its
    ``param_names`` entry, then its ``linked_names`` (a component is an
    emission family or the transitions)."""
    return {
        letter: (name,) + tuple(component.linked_names.get(letter, ()))
        for letter, name in component.param_names.items()
    }


def broadcast_prior(value, name, shape, minimum):
    """A prior hyper-parameter broadcast to ``shape``, every entry >= ``minimum``.

    Parameters
    ----------
    value : float or array-like
        The hyper-parameter as given (a scalar, or an array broadcastable to
        ``shape``, e.g. (n_components, 1) for one value per state).
    name : str
        Its name, for the error messages.
    shape : tuple of int
    minimum : float

    Returns
    -------
    ndarray of float64 of shape ``shape`` (a read-only broadcast view)

    Raises
    ------
    ValueError
        Naming ``name``, the expected shape or the bound, and the offending
        value as a plain number.
    """
    arr = as_float_array(value, name)
    try:
        out = np.broadcast_to(arr, shape)
    except ValueError:
        raise ValueError(
            f"{name} must be a scalar or an array broadcastable to shape "
            f"{tuple(shape)}, got shape {arr.shape}"
        ) from None
    below = out < minimum
    if below.any():
        where = np.unravel_index(np.argmax(below), shape)
        at = "" if arr.ndim == 0 else f" at index {tuple(int(i) for i in where)}"
        raise ValueError(
            f"{name} must be >= {minimum:g}, got {float(out[where]):g}{at}"
        )
    return out


class InvalidParameter(ValueError):
    """A parameter failed its check; :attr:`name` is the parameter's attribute name."""

    def __init__(self, name, message):
        super().__init__(message)
        self.name = name


#: The methods that read samples: a family's own versions are wrapped so
#: that samples with missing entries go through :mod:`._gaps`.
ROUTED_METHODS = ("log_likelihood", "likelihood", "suff_stats", "initialize")


def _routed(name, method):
    """``method`` of a family, sending :class:`~fasthmm._missing.Gapped`
    samples to :mod:`._gaps` (which calls ``method`` on observed values)."""
    from . import _gaps

    route = getattr(_gaps, name)

    @functools.wraps(method)
    def wrapper(self, X, *args, **kwargs):
        if is_gapped(X):
            return route(self, functools.partial(method, self), X, *args, **kwargs)
        result = method(self, X, *args, **kwargs)
        if name == "suff_stats" and self.missing != "raise":
            self.add_feature_weights(result)  # the same keys with or without NaN
        return result

    wrapper.routes_missing = True
    return wrapper


def feature_weights(stats):
    """Posterior mass behind each feature's sums, shape (n, n_features) or
    (n, 1): ``"post_features"`` when the statistics carry it (missing
    entries), else ``"post"`` as a column."""
    found = stats.get("post_features")
    return stats["post"][:, None] if found is None else found


class Emission:
    """Base class of the emission families.

    Parameters
    ----------
    n_components : int
        Number of hidden states.
    params : dict
        Current parameters by attribute name; a missing or ``None`` entry is a
        parameter not yet set.
    n_features : int, optional
        Known dimension (or number of symbols); otherwise read off
        :attr:`feature_param` or, in :meth:`with_data`, off the data.

    Class attributes
    ----------------
    param_names : dict
        ``params`` letter -> attribute name, e.g. ``{"m": "means_"}``.
    linked_names : dict
        ``params`` letter -> further attribute names the letter owns
        (initialised, checked, stored and fitted with it), e.g. a variational
        posterior's companion parameters and its prior; empty by default.
    feature_param : str
        The parameter whose last axis is ``n_features`` (``feature_param_ndim``
        its ndim, if fixed).
    closed_form_given_states : bool
        True when, given the states, one :meth:`suff_stats` with one-hot
        weights and one :meth:`m_step` give the exact maximiser (no latent
        variables inside the emission). A mixture sets it False: a fully
        labelled fit then runs EM with every state clamped.
    """

    param_names = {}
    linked_names = {}
    feature_param = None
    feature_param_ndim = None
    closed_form_given_states = True
    #: Reproduce hmmlearn 0.3.3's M-step: no floor (hmmlearn floors variances
    #: at ``min_covar`` and starts Poisson rates positive at initialisation
    #: only) and, for mixtures, covariances scattered about the previous
    #: iteration's means. Off for fasthmm's models; the ``fasthmm.hmm``
    #: namespace turns it on (see :mod:`fasthmm._hmmlearn_compat`).
    hmmlearn_m_step = False

    #: The model's ``missing`` argument (set by the model): "raise" or
    #: "marginalize" (see :mod:`fasthmm._missing`).
    missing = "raise"
    #: True when the features are independent given the state (and the
    #: mixture component): the M-step then weighs each feature by the
    #: posterior mass of the rows that observe it (``"post_features"``).
    independent_features = False
    #: True when, moreover, the log-density is a sum over the features (no
    #: mixture) and :meth:`add_partial_stats` adds sums over observed
    #: entries: partly observed rows are then taken feature by feature, not
    #: pattern by pattern (see :mod:`._gaps`).
    separable = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name in ROUTED_METHODS:
            method = cls.__dict__.get(name)
            if method is not None and not getattr(method, "routes_missing", False):
                setattr(cls, name, _routed(name, method))

    def __init__(self, n_components, params, n_features=None):
        self.n_components = n_components
        self.params = {name: params.get(name) for name in self.attribute_names()}
        self._n_features = n_features

    @classmethod
    def names_by_letter(cls):
        """``params`` letter -> tuple of the attribute names it owns."""
        return names_by_letter(cls)

    @classmethod
    def attribute_names(cls):
        """Every parameter attribute name, letter by letter."""
        return tuple(n for names in cls.names_by_letter().values() for n in names)

    # -- parameters ---------------------------------------------------------
    @property
    def n_features(self):
        """Set by the model or the data, else read off :attr:`feature_param`."""
        if self._n_features is not None:
            return self._n_features
        return trailing_size(
            self.params.get(self.feature_param), ndim=self.feature_param_ndim
        )

    def with_data(self, X):
        """The emission, with ``n_features`` inferred from ``X`` if still unknown."""
        if self.n_features is None:
            if is_gapped(X):
                from ._gaps import observed_rows

                X = observed_rows(self, X)
            d = self._n_features_of(X)
            # before anything of that size is made (symbols: the largest + 1)
            check_allocation(
                (self.n_components, d), "n_features (from X)", d, "emission parameters"
            )
            self._n_features = d
        return self

    def _n_features_of(self, X):
        """``n_features`` implied by checked samples (observed values only)."""
        return X.shape[1]

    # -- missing observations -------------------------------------------------
    def observed_form(self, X):
        """Observed rows (plain float64 taken from checked samples with missing
        entries) in the form :meth:`check_X` gives complete data; default: as
        they are (categorical symbols: int64)."""
        return X

    def marginal(self, features):
        """The family over the observed ``features`` alone (the marginal
        distribution of those entries in every state).

        Parameters
        ----------
        features : ndarray of int64
            Indices of the observed features, increasing.

        Returns
        -------
        Emission
            Of the same family, with ``n_features == features.size``.

        Raises
        ------
        ValueError
            For a family that accepts only whole missing rows.
        """
        raise ValueError(
            f"{type(self).__name__} cannot integrate out single missing "
            "entries: a row must be all NaN (missing) or all observed"
        )

    def add_partial_stats(self, stats, features, X, weights):
        """Add the statistics of partly observed rows to ``stats``, in place.

        Parameters
        ----------
        stats : dict
            The statistics of the batch's complete rows (as
            :meth:`suff_stats` returns them, with :meth:`add_feature_weights`).
        features : ndarray of int64
            The features these rows observe (a :attr:`separable` family: every
            feature, in one call for all partly observed rows).
        X : ndarray of shape (n_rows, features.size)
            Their values (a :attr:`separable` family: NaN where missing).
        weights : ndarray of shape (n_rows, n_components)

        Notes
        -----
        The default serves :attr:`separable` families whose statistics are
        ``"post"``, ``"post_features"``, ``"obs"`` and, if present,
        ``"second"`` (squares): the sums over observed entries.
        """
        if not self.separable:
            self.marginal(features)  # raises for a family without marginals
            raise NotImplementedError
        add_observed_sums(stats, features, X, weights, second="second" in stats)

    def add_feature_weights(self, stats):
        """Give ``stats`` the per-feature posterior mass ``"post_features"``
        (``"post"`` repeated per feature) when :attr:`independent_features`
        and it has none yet; in place."""
        if self.independent_features and "post_features" not in stats:
            post = stats["post"]
            stats["post_features"] = np.repeat(post[:, None], self.n_features, axis=1)

    def updated(self, new_params):
        """A copy holding ``new_params`` in place of the current values.

        Hyper-parameters (already checked) are shared; nothing is checked
        again, so EM iterations pay for no validation.
        """
        clone = copy.copy(self)
        clone.params = {**self.params, **new_params}
        return clone

    def require(self, *names):
        """Raise :class:`NotFittedError` unless all named parameters are set."""
        missing = [n for n in names if self.params.get(n) is None]
        if missing:
            letters = {
                n: k for k, names in self.names_by_letter().items() for n in names
            }
            wanted = "".join(dict.fromkeys(letters[n] for n in missing))
            raise NotFittedError(
                f"{', '.join(missing)} not set: call fit first, or set "
                f"{' and '.join(missing)} by hand and leave "
                f"{wanted!r} out of init_params"
            )

    def checked(self):
        """The emission with every parameter set, checked and converted.

        Raises
        ------
        NotFittedError
            When a parameter is not set.
        InvalidParameter
            Naming the first invalid parameter (a ``ValueError``).
        """
        self.require(*self.attribute_names())
        checked = {}
        for name in self.attribute_names():
            try:
                checked[name] = self.check_param(name, self.params[name])
            except InvalidParameter:
                raise
            except ValueError as exc:
                raise InvalidParameter(name, str(exc)) from None
        return self.updated(checked)

    def check_param(self, name, value):
        """Check and convert one parameter (known ``n_features``); raise ValueError."""
        raise NotImplementedError

    def check_hyperparameters(self):
        """Check the hyper-parameters against ``n_components`` and ``n_features``.

        Called once per public call, before anything is initialised, so that
        an error names the hyper-parameter; keeps any converted (broadcast)
        values the M-step and :meth:`log_prior` read, so that EM iterations
        check nothing. Returns the emission.
        """
        return self

    # -- data ---------------------------------------------------------------
    def check_X(self, X):
        """Convert and check samples for this family (public boundary)."""
        raise NotImplementedError

    def log_likelihood(self, X, out=None):
        """Log-emission matrix.

        Parameters
        ----------
        X : ndarray
            Checked samples, as returned by :meth:`check_X`.
        out : ndarray of shape (n_samples, n_components), optional

        Returns
        -------
        log_emissions : ndarray of shape (n_samples, n_components)
        """
        raise NotImplementedError

    def likelihood(self, X, out):
        """Emission probabilities written into ``out``, or None if not offered.

        A fast path for families whose probabilities are cheaper than their
        logarithms (a table lookup); the E-step then skips the exponentials.
        Only exact probabilities may be returned: no shift is applied, so a
        family whose densities can underflow must return None.

        Parameters
        ----------
        X : ndarray
        out : ndarray of shape (n_samples, n_components)

        Returns
        -------
        out or None
        """
        return None

    def state_means(self):
        """Mean of one observation under each state's emission.

        What forecasts mix over the forecast state distribution
        (:meth:`fasthmm.BaseHMM.forecast`). Families whose observations have
        no meaningful mean (symbols) raise a ``TypeError`` that says what to
        use instead.

        Returns
        -------
        means : ndarray of shape (n_components, n_features)
        """
        raise TypeError(
            f"{type(self).__name__} defines no mean of an observation: "
            "forecast the states with forecast_proba instead"
        )

    # -- learning -----------------------------------------------------------
    def initialize(self, X, letters, random_state):
        """Initial values, from data, of the parameters whose letters are given.

        Returns
        -------
        params : dict
            Attribute name -> array, for the requested letters only.
        """
        raise NotImplementedError

    def suff_stats(self, X, weights):
        """Sufficient statistics of ``X`` under per-state weights.

        Parameters
        ----------
        X : ndarray
        weights : ndarray of shape (n_samples, n_components)
            Posterior probability of each state (one-hot for labelled data).

        Returns
        -------
        stats : dict of str to ndarray
            Statistics of disjoint batches add up key by key.
        """
        raise NotImplementedError

    def m_step(self, stats, letters):
        """New values of the parameters named by ``letters``.

        A state that received no posterior mass keeps its parameters.

        Returns
        -------
        params : dict
        """
        raise NotImplementedError

    def log_prior(self):
        """Log prior density of the current parameters (up to a constant)."""
        return 0.0

    def objective_term(self):
        """What the EM objective adds to the log-likelihood for this family.

        The log prior density (:meth:`log_prior`) for a point estimate; a
        variational posterior returns minus its KL divergence from the prior,
        which makes the objective the evidence lower bound.
        """
        return self.log_prior()

    def n_free_parameters(self, letters):
        """Number of free scalars among the parameters named by ``letters``."""
        raise NotImplementedError

    def sample(self, states, random_state):
        """Draw one sample per entry of ``states``.

        Parameters
        ----------
        states : ndarray of shape (n_samples,), int

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        """
        raise NotImplementedError
