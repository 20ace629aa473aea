"""The interface every emission family implements.

An emission object is built by a model from the model's hyper-parameters
(priors, covariance type, ...) and a dict of its current parameters, keyed by
the model's attribute names (``"means_"``, ``"covars_"``, ...). It knows only
those parameters. The one EM loop in :mod:`fasthmm.base` is written against
this interface:

* :meth:`check_X` converts and checks samples (at the public boundary);
* :meth:`log_likelihood` gives the (n_samples, n_components) log-emission
  matrix, and :meth:`load_frame` turns it into the E-step's frame;
* :meth:`new_stats`, :meth:`accumulate` and :meth:`m_step` are the M-step over
  mergeable sufficient statistics (dicts of arrays, summed key by key);
* :meth:`initialize`, :meth:`sample`, :meth:`log_prior`,
  :meth:`n_free_parameters`, :meth:`check_params`.
"""

import numpy as np

from .._validation import NotFittedError, trailing_size


class Emission:
    """Base class of the emission families.

    Parameters
    ----------
    n_components : int
        Number of hidden states.
    params : dict
        Current parameters by attribute name; a missing or ``None`` entry is a
        parameter not yet set.

    Class attributes
    ----------------
    param_names : dict
        ``params`` letter -> attribute name, e.g. ``{"m": "means_"}``.
    closed_form_given_states : bool
        True when, given the states, one :meth:`accumulate` with one-hot
        posteriors and one :meth:`m_step` give the exact maximiser (no latent
        variables inside the emission). A mixture sets it False: a fully
        labelled fit then runs EM with every state clamped.
    """

    param_names = {}
    #: The parameter whose last axis is ``n_features`` (and its ndim, if fixed).
    feature_param = None
    feature_param_ndim = None
    closed_form_given_states = True

    def __init__(self, n_components, params):
        self.n_components = n_components
        self.params = {name: params.get(name) for name in self.param_names.values()}
        self._n_features = None

    # -- parameters ---------------------------------------------------------
    def require(self, *names):
        """Raise :class:`NotFittedError` unless all named parameters are set."""
        missing = [n for n in names if self.params.get(n) is None]
        if missing:
            letters = {v: k for k, v in self.param_names.items()}
            raise NotFittedError(
                f"{', '.join(missing)} not set: call fit first, or set "
                f"{' and '.join(missing)} by hand and leave "
                f"{''.join(letters[n] for n in missing)!r} out of init_params"
            )

    def check_params(self):
        """Check that every parameter is set and valid; name the bad one."""
        raise NotImplementedError

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
            self._n_features = self._n_features_of(X)
        return self

    def _n_features_of(self, X):
        """``n_features`` implied by checked samples."""
        return X.shape[1]

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

    def load_frame(self, X, ws, clamp=None):
        """Fill the E-step workspace's frame for ``X``.

        Parameters
        ----------
        X : ndarray
        ws : fasthmm.inference.Workspace
        clamp : fasthmm.base.Clamp, optional
            Known states: the other states' emissions become impossible.
        """
        self.log_likelihood(X, out=ws.frame)
        if clamp is not None:
            clamp.apply(ws.frame, -np.inf)
        ws.load_log_emissions(log_emissions_of=self.log_likelihood_rows(X, clamp))

    def log_likelihood_rows(self, X, clamp=None):
        """A function giving the log-emissions of rows ``lo:hi`` on demand.

        The E-step calls it for the rare sequence whose frame underflowed
        (see :func:`fasthmm.inference.resolve_zero_steps`).

        Returns
        -------
        rows : callable ``(lo, hi) -> ndarray of shape (hi - lo, n_components)``
        """

        def rows(lo, hi):
            out = self.log_likelihood(X[lo:hi])
            if clamp is not None:
                clamp.apply(out, -np.inf, offset=lo)
            return out

        return rows

    # -- learning -----------------------------------------------------------
    def initialize(self, X, letters, random_state):
        """Initial values, from data, of the parameters whose letters are given.

        Returns
        -------
        params : dict
            Attribute name -> array, for the requested letters only.
        """
        raise NotImplementedError

    def new_stats(self):
        """Zeroed sufficient statistics (a dict of arrays)."""
        raise NotImplementedError

    def accumulate(self, stats, X, posteriors):
        """Add the statistics of ``X`` weighted by ``posteriors`` to ``stats``.

        Parameters
        ----------
        stats : dict
        X : ndarray
        posteriors : ndarray of shape (n_samples, n_components)
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


def merge_stats(a, b):
    """Sum two sufficient-statistics dicts key by key (``a + b``)."""
    return {key: a[key] + b[key] for key in a}


def dirichlet_map(counts, prior, current):
    """MAP estimate of probability rows under a Dirichlet prior.

    Entries that are zero in ``current`` are structural zeros and stay zero;
    a row with no mass keeps its current values.

    Parameters
    ----------
    counts : ndarray of shape (..., n)
        Expected counts.
    prior : float or ndarray broadcastable to ``counts``
        Dirichlet concentration (1 is no prior).
    current : ndarray of shape (..., n) or None

    Returns
    -------
    probs : ndarray of shape (..., n)
    """
    new = np.maximum(counts + (np.asarray(prior, dtype=float) - 1.0), 0.0)
    if current is not None:
        new = np.where(current > 0, new, 0.0)
    sums = new.sum(axis=-1, keepdims=True)
    empty = (sums <= 0)[..., 0]
    new = new / np.where(sums > 0, sums, 1.0)
    if current is not None and np.ndim(empty) and empty.any():
        new[empty] = current[empty]
    elif current is not None and np.ndim(empty) == 0 and empty:
        new = current.copy()
    return new


def dirichlet_log_prior(probs, prior):
    """Log density of a Dirichlet prior, up to a constant, over the support."""
    alpha = np.broadcast_to(np.asarray(prior, dtype=float), probs.shape)
    mask = (probs > 0) & (alpha != 1.0)
    return float(np.sum((alpha[mask] - 1.0) * np.log(probs[mask])))
