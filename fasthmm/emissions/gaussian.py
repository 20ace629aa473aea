"""Gaussian emissions with spherical, diagonal, full or tied covariances."""

import numpy as np

from .._kmeans import kmeans
from .._validation import (
    check_prior,
    check_real_samples,
    check_shape,
)
from . import _covariance as cov
from ._base import Emission


class GaussianEmission(Emission):
    """One multivariate Gaussian per state.

    Parameters
    ----------
    n_components : int
    params : dict
        ``"means_"``: ndarray of shape (n_components, n_features);
        ``"covars_"``: shape by covariance type (see
        :mod:`fasthmm.emissions._covariance`).
    covariance_type : {"spherical", "diag", "full", "tied"}
    min_covar : float
        Floor on the variances (eigenvalues for full matrices).
    means_prior, means_weight : float or ndarray
        Normal prior on the means: mean ``means_prior``, precision
        ``means_weight / covariance``.
    covars_prior, covars_weight : float or ndarray
        Scale and weight of the covariance prior; a scalar ``covars_prior`` for
        "full" or "tied" means ``covars_prior * identity``.
    """

    param_names = {"m": "means_", "c": "covars_"}
    #: hmmlearn's order of the model's constructor (see ``base.family_signature``).
    model_args_after = {
        "covariance_type": "n_components",
        "means_prior": "transmat_prior",
    }
    feature_param = "means_"

    def __init__(
        self,
        n_components,
        params,
        covariance_type="diag",
        min_covar=1e-3,
        means_prior=0.0,
        means_weight=0.0,
        covars_prior=1e-2,
        covars_weight=1.0,
    ):
        super().__init__(n_components, params)
        self.covariance_type, self.min_covar = cov.check_settings(
            covariance_type, min_covar
        )
        self.means_prior = check_prior(means_prior, "means_prior")
        self.means_weight = check_prior(means_weight, "means_weight", kind="weight")
        self.covars_prior = check_prior(covars_prior, "covars_prior")
        self.covars_weight = check_prior(covars_weight, "covars_weight")

    # The tied covariance is shared by all states: one group of n_components.
    @property
    def _group(self):
        return self.n_components

    def check_hyperparameters(self):
        k, d = self.n_components, self.n_features
        check_prior(self.means_prior, "means_prior", (k, d))
        covars_shape = cov.covars_shape(self.covariance_type, k, d, self._group)
        if self.covariance_type == "tied":  # hmmlearn's shape (d, d)
            covars_shape = covars_shape[1:]
        check_prior(self.covars_prior, "covars_prior", covars_shape)
        return self

    def check_param(self, name, value):
        k, d = self.n_components, self.n_features
        if name == "means_":
            return check_shape(value, name, (k, d))
        if self.covariance_type == "tied":  # hmmlearn's shape (d, d), one group
            value = check_shape(value, name, (d, d))[None]
        elif self.covariance_type == "spherical":
            value = _one_per_state(value, k)
        return self._public(
            cov.check_covars(value, self.covariance_type, k, d, self._group)
        )

    def _stacked(self):
        """Covariances as a stack over groups (tied: shape (1, d, d))."""
        c = self.params["covars_"]
        return None if c is None else (c[None] if self.covariance_type == "tied" else c)

    def _public(self, covars):
        return covars[0] if self.covariance_type == "tied" else covars

    def check_X(self, X):
        return check_real_samples(X, "X", self.n_features, self.missing)

    @property
    def independent_features(self):
        return self.covariance_type in ("spherical", "diag")

    separable = independent_features

    def marginal(self, features):
        part = self.updated(
            {
                "means_": np.ascontiguousarray(self.params["means_"][:, features]),
                "covars_": self._public(
                    cov.marginal_covars(self._stacked(), self.covariance_type, features)
                ),
            }
        )
        part._n_features = features.size
        return part

    def add_partial_stats(self, stats, features, X, weights):
        if self.separable:
            return super().add_partial_stats(stats, features, X, weights)
        cov.add_partial_stats(
            stats,
            features,
            X,
            weights,
            self.covariance_type,
            self.params["means_"],
            self._stacked(),
            self._group,
        )

    def log_likelihood(self, X, out=None):
        return cov.log_density(
            X,
            self.params["means_"],
            self._stacked(),
            self.covariance_type,
            self._group,
            out=out,
        )

    def state_means(self):
        return np.array(self.params["means_"], dtype=np.float64)

    def initialize(self, X, letters, random_state):
        new = {}
        if "m" in letters:
            new["means_"] = kmeans(X, self.n_components, random_state)
        if "c" in letters:
            new["covars_"] = self._public(
                cov.initial_covars(
                    X,
                    self.covariance_type,
                    self.n_components,
                    self._group,
                    self.min_covar,
                )
            )
        return new

    def suff_stats(self, X, weights):
        return cov.suff_stats(X, weights, self.covariance_type)

    def m_step(self, stats, letters):
        new = {}
        means = self.params["means_"]
        if "m" in letters:
            means = cov.means_m_step(
                cov.post_of(stats),
                stats["obs"],
                self.means_prior,
                self.means_weight,
                means,
            )
            new["means_"] = means
        if "c" in letters:
            covars = cov.covars_m_step(
                self.covariance_type,
                cov.post_of(stats),
                stats["obs"],
                stats["second"],
                means,
                self.means_prior,
                self.means_weight,
                self.covars_prior,
                self.covars_weight,
                0.0 if self.hmmlearn_m_step else self.min_covar,
                self._stacked(),
                self._group,
            )
            if self.hmmlearn_m_step:
                covars = cov.hmmlearn_fallback(covars, self.covariance_type)
            new["covars_"] = self._public(covars)
        return new

    def log_prior(self):
        return cov.log_prior(
            self.covariance_type,
            self.params["means_"],
            self._stacked(),
            self.means_prior,
            self.means_weight,
            self.covars_prior,
            self.covars_weight,
            self._group,
        )

    def n_free_parameters(self, letters):
        k, d = self.n_components, self.n_features
        n = k * d if "m" in letters else 0
        if "c" in letters:
            n += cov.n_covar_parameters(self.covariance_type, k, d, self._group)
        return n

    def sample(self, states, random_state):
        return cov.sample(
            self.params["means_"],
            self._stacked(),
            self.covariance_type,
            self._group,
            states,
            random_state,
        )


def _one_per_state(covars, n_components):
    """Spherical covariances given as (n_components, 1, ...) (accepted by
    hmmlearn, e.g. ``[[1.0], [2.0]]``) flattened to (n_components,); any
    other shape is left for the shape check to reject."""
    arr = np.asarray(covars)
    if arr.ndim > 1 and arr.shape[0] == n_components and arr.size == n_components:
        return arr.reshape(n_components)
    return covars
