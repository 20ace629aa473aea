"""Poisson emissions: independent Poisson counts per feature."""

import math

import numpy as np

from .._kernels.checks import value_range
from .._kernels.poisson import poisson_log_density, table_row_sums
from .._validation import check_counts, check_prior, check_shape
from ._base import Emission, broadcast_prior, feature_weights
from ._weighted import weighted_sums

#: Smallest rate the M-step (and initialisation) produce. A state that never
#: sees a non-zero count in a feature would otherwise get a rate of exactly 0,
#: which makes any later non-zero count impossible (log-likelihood -inf).
#: Flooring is the maximiser of the (concave) M-step objective over
#: ``lambda >= MIN_LAMBDA``, so EM stays monotone.
MIN_LAMBDA = 1e-10

#: A state whose prior weight plus posterior mass is at most this keeps its rates.
EMPTY_MASS = 1e-10

#: Above this largest count, ``log(x!)`` is computed per distinct value rather
#: than through a table indexed by the count.
MAX_TABLE = 1 << 16


def log_factorial(X):
    """``log(x!)`` summed over the features of each sample.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Non-negative integer counts (as float64).

    Returns
    -------
    ndarray of shape (n_samples,)
    """
    X = np.ascontiguousarray(X, dtype=np.float64)
    top = float(value_range(X.reshape(-1))[2]) if X.size else 0.0
    if top <= MAX_TABLE:
        table = np.array([math.lgamma(v + 1.0) for v in range(int(top) + 1)])
        out = np.empty(X.shape[0])
        table_row_sums(X, table, out)
        return out
    values, inverse = np.unique(X, return_inverse=True)
    table = np.array([math.lgamma(v + 1.0) for v in values])
    return table[inverse.reshape(X.shape)].sum(axis=1)


class PoissonEmission(Emission):
    """One vector of independent Poisson rates per state.

    Parameters
    ----------
    n_components : int
    params : dict
        ``"lambdas_"``: ndarray of shape (n_components, n_features).
    lambdas_prior, lambdas_weight : float or ndarray
        Gamma-type prior on each rate: log density
        ``lambdas_prior * log(lambda) - lambdas_weight * lambda`` (a
        Gamma(``lambdas_prior + 1``, ``lambdas_weight``) density). Scalars or
        arrays broadcastable to (n_components, n_features) (as in hmmlearn's
        formula; use shape (n_components, 1) for one value per state), >= 0.
        Both 0 (the default) is no prior.

    Notes
    -----
    The M-step is the exact MAP estimate under that prior,
    ``lambda = (lambdas_prior + sum_t gamma_t x_t) / (lambdas_weight + sum_t gamma_t)``,
    floored at :data:`MIN_LAMBDA`: the conjugate posterior mean that hmmlearn
    intends, but with each state's own posterior mass (hmmlearn 0.3.3 uses the
    total mass over all states, which is neither a posterior mean nor a MAP
    for a state). Without prior the two agree. :meth:`log_prior` is the
    objective the update maximises, so EM is monotone.
    """

    param_names = {"l": "lambdas_"}
    feature_param = "lambdas_"
    independent_features = separable = True

    def __init__(self, n_components, params, lambdas_prior=0.0, lambdas_weight=0.0):
        super().__init__(n_components, params)
        self.lambdas_prior = check_prior(lambdas_prior, "lambdas_prior")
        self.lambdas_weight = check_prior(lambdas_weight, "lambdas_weight")

    def check_hyperparameters(self):
        shape = (self.n_components, self.n_features)
        self._alpha = broadcast_prior(self.lambdas_prior, "lambdas_prior", shape, 0)
        self._beta = broadcast_prior(self.lambdas_weight, "lambdas_weight", shape, 0)
        return self

    def check_param(self, name, value):
        if self.n_components == 1 and np.ndim(value) == 1:  # as hmmlearn's atleast_2d
            value = np.reshape(value, (1, -1))
        lam = check_shape(value, name, (self.n_components, self.n_features))
        if np.any(lam < 0):
            raise ValueError("lambdas_ must be >= 0 (Poisson rates)")
        return lam

    def check_X(self, X):
        return check_counts(X, "X", self.n_features, self.missing)

    def marginal(self, features):
        part = self.updated({"lambdas_": self.params["lambdas_"][:, features]})
        part._n_features = features.size
        return part

    def log_likelihood(self, X, out=None):
        lam = self.params["lambdas_"]
        if out is None:
            out = np.empty((X.shape[0], self.n_components))
        with np.errstate(divide="ignore"):  # a zero rate: log 0 = -inf
            log_lam = np.log(lam)
        poisson_log_density(X, log_lam, lam.sum(axis=1), log_factorial(X), out)
        return out

    def state_means(self):
        return np.array(self.params["lambdas_"], dtype=np.float64)

    def initialize(self, X, letters, random_state):
        """Rates drawn from a Gamma with the mean and variance of all counts.

        As hmmlearn: ``Gamma(shape=mean**2 / var, scale=var / mean)`` over
        the pooled entries of ``X``; constant data gives the constant, and
        every rate is floored at :data:`MIN_LAMBDA`.
        """
        if "l" not in letters:
            return {}
        k, d = self.n_components, self.n_features
        mean, var = float(X.mean()), float(X.var())
        if mean > 0 and var > 0:
            lam = random_state.gamma(mean**2 / var, var / mean, size=(k, d))
        else:
            lam = np.full((k, d), mean)
        return {"lambdas_": np.maximum(lam, MIN_LAMBDA)}

    def suff_stats(self, X, weights):
        post, obs, _ = weighted_sums(X, weights)
        return {"post": post, "obs": obs}

    def m_step(self, stats, letters):
        if "l" not in letters:
            return {}
        alpha, beta = self._alpha, self._beta
        denom = beta + feature_weights(stats)
        empty = denom <= EMPTY_MASS
        lam = (alpha + stats["obs"]) / np.where(empty, 1.0, denom)
        lam = np.maximum(lam, 0.0 if self.hmmlearn_m_step else MIN_LAMBDA)
        old = self.params["lambdas_"]
        if old is not None and empty.any():  # no data and no prior: keep the rate
            lam = np.where(empty, old, lam)
        return {"lambdas_": lam}

    def log_prior(self):
        alpha, beta = self._alpha, self._beta
        lam = self.params["lambdas_"]
        with np.errstate(divide="ignore"):  # a zero rate counts only under alpha > 0
            log_lam = np.where(alpha > 0, np.log(lam), 0.0)
        return float(np.sum(alpha * log_lam - beta * lam))

    def n_free_parameters(self, letters):
        return self.n_components * self.n_features if "l" in letters else 0

    def sample(self, states, random_state):
        return random_state.poisson(self.params["lambdas_"][states]).astype(np.int64)
