"""Bernoulli emissions: independent binary features per state."""

import numpy as np

from .._missing import plain
from .._validation import check_counts, check_prior, check_shape
from ._base import Emission, broadcast_prior, feature_weights
from ._weighted import weighted_sums

#: A state whose prior counts plus posterior mass are at most this keeps its
#: probabilities.
EMPTY_MASS = 1e-10


class BernoulliEmission(Emission):
    """One vector of independent Bernoulli probabilities per state.

    Parameters
    ----------
    n_components : int
    params : dict
        ``"emissionprob_"``: ndarray of shape (n_components, n_features), the
        probability that each feature is 1 in each state (rows need not sum
        to 1). 0 and 1 are allowed: a sample they make impossible has
        log-likelihood -inf in that state.
    emissionprob_alpha, emissionprob_beta : float or ndarray, >= 1
        Beta(alpha, beta) prior on each probability: log density
        ``(alpha - 1) log p + (beta - 1) log(1 - p)``. Scalars or arrays
        broadcastable to (n_components, n_features). Both 1 (the default) is
        no prior.

    Notes
    -----
    The M-step is the exact MAP estimate,
    ``p = (alpha - 1 + sum_t gamma_t x_t) / (alpha + beta - 2 + sum_t gamma_t)``,
    which :meth:`log_prior` makes the maximiser of the EM objective, so EM
    never decreases it. Without a prior a feature a state always (never)
    sees gets probability exactly 1 (0), as the maximum-likelihood estimate.
    """

    param_names = {"e": "emissionprob_"}
    feature_param = "emissionprob_"
    independent_features = separable = True

    def __init__(
        self, n_components, params, emissionprob_alpha=1.0, emissionprob_beta=1.0
    ):
        super().__init__(n_components, params)
        self.emissionprob_alpha = check_prior(emissionprob_alpha, "emissionprob_alpha")
        self.emissionprob_beta = check_prior(emissionprob_beta, "emissionprob_beta")

    def check_hyperparameters(self):
        shape = (self.n_components, self.n_features)
        self._alpha = broadcast_prior(
            self.emissionprob_alpha, "emissionprob_alpha", shape, 1
        )
        self._beta = broadcast_prior(
            self.emissionprob_beta, "emissionprob_beta", shape, 1
        )
        return self

    def check_param(self, name, value):
        if self.n_components == 1 and np.ndim(value) == 1:
            value = np.reshape(value, (1, -1))
        p = check_shape(value, name, (self.n_components, self.n_features))
        if np.any((p < 0) | (p > 1)):
            raise ValueError(f"{name} must hold probabilities in [0, 1]")
        return p

    def check_X(self, X):
        X = check_counts(X, "X", self.n_features, self.missing)
        top = np.nanmax(plain(X), initial=0.0)  # NaN: a missing entry
        if top > 1:
            raise ValueError(f"X must hold 0 or 1 (binary features), got {top:g}")
        return X

    def marginal(self, features):
        part = self.updated(
            {"emissionprob_": self.params["emissionprob_"][:, features]}
        )
        part._n_features = features.size
        return part

    def log_likelihood(self, X, out=None):
        """``sum_j x_j log p_j + (1 - x_j) log(1 - p_j)``, never NaN.

        The logarithms of 0 are replaced by 0 inside the product (so that no
        ``0 * -inf`` arises), and the samples a probability of 0 or 1 makes
        impossible are set to -inf afterwards.
        """
        p = self.params["emissionprob_"]
        zero, one = p == 0, p == 1
        with np.errstate(divide="ignore"):
            log_p = np.where(zero, 0.0, np.log(p))
            log_q = np.where(one, 0.0, np.log1p(-p))
        if out is None:
            out = np.empty((X.shape[0], self.n_components))
        np.matmul(X, (log_p - log_q).T, out=out)
        out += log_q.sum(axis=1)
        if zero.any() or one.any():
            impossible = X @ zero.T + (1.0 - X) @ one.T
            out[impossible > 0] = -np.inf
        return out

    def state_means(self):
        """The probability of a 1 in each feature."""
        return np.array(self.params["emissionprob_"], dtype=np.float64)

    def initialize(self, X, letters, random_state):
        """Half the feature means of ``X``, half uniform draws in [0.25, 0.75]."""
        if "e" not in letters:
            return {}
        k, d = self.n_components, self.n_features
        spread = random_state.uniform(0.25, 0.75, size=(k, d))
        return {"emissionprob_": 0.5 * X.mean(axis=0) + 0.5 * spread}

    def suff_stats(self, X, weights):
        post, obs, _ = weighted_sums(X, weights)
        return {"post": post, "obs": obs}

    def m_step(self, stats, letters):
        if "e" not in letters:
            return {}
        alpha, beta = self._alpha, self._beta
        denom = alpha + beta - 2.0 + feature_weights(stats)
        empty = denom <= EMPTY_MASS
        p = np.clip((alpha - 1.0 + stats["obs"]) / np.where(empty, 1.0, denom), 0, 1)
        old = self.params["emissionprob_"]
        if old is not None and empty.any():  # no data and no prior: keep it
            p = np.where(empty, old, p)
        return {"emissionprob_": p}

    def log_prior(self):
        """``sum (alpha - 1) log p + (beta - 1) log(1 - p)``, with ``0 log 0 = 0``."""
        p = self.params["emissionprob_"]
        a, b = self._alpha - 1.0, self._beta - 1.0
        with np.errstate(divide="ignore", invalid="ignore"):  # 0 * log 0 -> 0
            terms = np.where(a > 0, a * np.log(p), 0.0)
            terms += np.where(b > 0, b * np.log1p(-p), 0.0)
        return float(terms.sum())

    def n_free_parameters(self, letters):
        return self.n_components * self.n_features if "e" in letters else 0

    def sample(self, states, random_state):
        p = self.params["emissionprob_"][states]
        return (random_state.random(p.shape) < p).astype(np.int64)
