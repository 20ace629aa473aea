"""A new emission family written from outside fasthmm, by the recipe in
docs/architecture.md: one emission class, one model class of a few lines, and
one entry in tests/families.py. It then passes every contract test.

Exponential emissions: independent exponential waiting times per feature,
``log p(x | z = k) = sum_j log(rate_kj) - rate_kj * x_j`` for ``x_j >= 0``,
with a Gamma-type prior ``rates_prior * log(rate) - rates_weight * rate``.
"""

import numpy as np

from fasthmm import BaseHMM
from fasthmm._validation import check_prior, check_real_samples, check_shape
from fasthmm.emissions import Emission


class ExponentialEmission(Emission):
    """One vector of exponential rates per state.

    Parameters
    ----------
    n_components : int
    params : dict
        ``"rates_"``: ndarray of shape (n_components, n_features).
    rates_prior, rates_weight : float or ndarray, >= 0
        Gamma-type prior on each rate (both 0: no prior).
    """

    param_names = {"r": "rates_"}
    feature_param = "rates_"

    def __init__(self, n_components, params, rates_prior=0.0, rates_weight=0.0):
        super().__init__(n_components, params)
        self.rates_prior = check_prior(rates_prior, "rates_prior")
        self.rates_weight = check_prior(rates_weight, "rates_weight")

    def check_hyperparameters(self):
        shape = (self.n_components, self.n_features)
        for name in ("rates_prior", "rates_weight"):
            value = np.broadcast_to(
                check_prior(getattr(self, name), name, shape), shape
            )
            if np.any(value < 0):
                raise ValueError(f"{name} must be >= 0")
            setattr(self, name, value)
        return self

    def check_param(self, name, value):
        rates = check_shape(value, name, (self.n_components, self.n_features))
        if np.any(rates <= 0):
            raise ValueError(f"{name} must be positive")
        return rates

    def check_X(self, X):
        X = check_real_samples(X, "X", self.n_features, self.missing)
        if np.any(X < 0):
            raise ValueError("X must be >= 0 (waiting times)")
        return X

    def log_likelihood(self, X, out=None):
        rates = self.params["rates_"]
        result = np.log(rates).sum(axis=1) - X @ rates.T
        if out is None:
            return result
        out[...] = result
        return out

    def initialize(self, X, letters, random_state):
        if "r" not in letters:
            return {}
        scale = random_state.uniform(0.5, 2.0, (self.n_components, X.shape[1]))
        return {"rates_": scale / np.maximum(X.mean(axis=0), 1e-12)}

    def suff_stats(self, X, weights):
        return {"post": weights.sum(axis=0), "obs": weights.T @ X}

    def m_step(self, stats, letters):
        if "r" not in letters:
            return {}
        count = stats["post"][:, None] + self.rates_prior
        total = stats["obs"] + self.rates_weight
        empty = (count <= 1e-10) | (total <= 1e-300)
        rates = np.where(
            empty, self.params["rates_"], count / np.where(empty, 1, total)
        )
        return {"rates_": rates}

    def log_prior(self):
        rates = self.params["rates_"]
        return float(
            np.sum(self.rates_prior * np.log(rates) - self.rates_weight * rates)
        )

    def n_free_parameters(self, letters):
        return self.n_components * self.n_features if "r" in letters else 0

    def sample(self, states, random_state):
        return random_state.exponential(1.0 / self.params["rates_"][states])


class ExponentialHMM(BaseHMM):
    """HMM with exponential emissions (see :class:`ExponentialEmission`)."""

    _emission_class = ExponentialEmission

    def __init__(
        self,
        n_components=1,
        startprob_prior=1.0,
        transmat_prior=1.0,
        rates_prior=0.0,
        rates_weight=0.0,
        algorithm="viterbi",
        random_state=None,
        n_iter=10,
        tol=1e-2,
        verbose=False,
        params="str",
        init_params="str",
        implementation="log",
    ):
        self._store_constructor_args(locals())
