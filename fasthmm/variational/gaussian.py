"""Gaussian emissions with a Normal-Wishart (or Normal-Gamma) posterior over
each state's mean and precision, for the four covariance types.

Parametrisation and update are hmmlearn's ``vhmm``: the mean of state ``k``
has posterior ``N(means_posterior_[k], (beta_posterior_[k] * precision)^-1)``;
the precision has degrees of freedom ``dof_posterior_`` and *inverse* scale
``scale_posterior_`` (``E[precision] = dof * inv(scale)``), so the point
estimate of the covariance is ``scale / dof``. The precision's posterior is

- "full": a Wishart per state; "tied": one Wishart shared by all states;
- "diag": independent Gammas per feature, shape ``dof / 2`` and rate
  ``scale / 2`` (the one-dimensional Wishart);
- "spherical": one Gamma per state over the common precision of its
  ``n_features`` features, shape ``n_features * dof / 2`` and rate
  ``n_features * scale / 2``: the conjugate update then is exactly hmmlearn's
  (``dof += N``, ``scale += mean over features``).

Everything here is exact variational Bayes, so the evidence lower bound never
decreases. Where hmmlearn 0.3.3 differs (its "diag" and "spherical" E-step
uses a Wishart's ``E[log |precision|]``, which is not that of its own
posterior when ``n_features > 1``), see docs/guide.md.
"""

import numpy as np

from .._kmeans import kmeans
from .._special import digamma
from .._validation import (
    as_float_array,
    check_choice,
    check_positive_definite,
    check_real_samples,
    check_shape,
)
from ..emissions import _covariance as cov
from ..emissions._base import Emission
from ..emissions.gaussian import GaussianEmission
from ._checks import check_optional_prior, check_positive, prior_or_default
from ._divergences import LOG_2, kl_gamma, kl_wishart

#: Ridge hmmlearn adds to the data's covariance for the initial posteriors.
INIT_RIDGE = 1e-3
#: Default prior scale (times the identity for "full" and "tied").
DEFAULT_SCALE_PRIOR = 1e-3


class VariationalGaussianEmission(Emission):
    """Normal-Wishart posteriors over each state's mean and precision.

    Parameters
    ----------
    n_components : int
    params : dict
        ``means_posterior_``, ``means_prior_`` (n_components, n_features);
        ``beta_posterior_``, ``beta_prior_`` (n_components,);
        ``dof_posterior_``, ``dof_prior_`` ((n_components,), a scalar for
        "tied"); ``scale_posterior_``, ``scale_prior_`` ((n_components,) for
        "spherical", (n_components, n_features) for "diag", (n_components,
        n_features, n_features) for "full", (n_features, n_features) for
        "tied").
    covariance_type : {"spherical", "diag", "full", "tied"}
    means_prior, beta_prior, dof_prior, scale_prior : None or array-like
        What the ``*_prior_`` attributes are initialised to; defaults (as
        hmmlearn): the data's mean, 1, ``n_features``, and 1e-3 (times the
        identity for "full" and "tied").
    """

    param_names = {"m": "means_posterior_", "c": "scale_posterior_"}
    #: hmmlearn 0.3.3's reading of a "diag" or "spherical" posterior: a
    #: Wishart with a diagonal scale matrix (``scale * I`` for "spherical") in
    #: the E-step's ``E[log |precision|]`` and in the lower bound's KL
    #: divergence, and an initial "spherical" variance averaged over every
    #: entry of the data's covariance. Not exact variational Bayes when
    #: ``n_features > 1``; off for fasthmm's models, on in ``fasthmm.vhmm``.
    hmmlearn_wishart = False
    linked_names = {
        "m": ("beta_posterior_", "means_prior_", "beta_prior_"),
        "c": ("dof_posterior_", "scale_prior_", "dof_prior_"),
    }
    feature_param = "means_posterior_"
    feature_param_ndim = 2

    def __init__(
        self,
        n_components,
        params,
        covariance_type="full",
        means_prior=None,
        beta_prior=None,
        dof_prior=None,
        scale_prior=None,
    ):
        super().__init__(n_components, params)
        check_choice(covariance_type, "covariance_type", cov.COVARIANCE_TYPES)
        self.covariance_type = covariance_type
        self.means_prior = means_prior
        self.beta_prior = beta_prior
        self.dof_prior = dof_prior
        self.scale_prior = scale_prior

    # -- shapes and checks -------------------------------------------------------
    @property
    def _tied(self):
        return self.covariance_type == "tied"

    def _shapes(self):
        k, d = self.n_components, self.n_features
        scale = {
            "spherical": (k,),
            "diag": (k, d),
            "full": (k, d, d),
            "tied": (d, d),
        }[self.covariance_type]
        return {
            "means": (k, d),
            "beta": (k,),
            "dof": () if self._tied else (k,),
            "scale": scale,
        }

    def _min_dof(self):
        """Degrees of freedom must exceed this (a proper Wishart / Gamma)."""
        return (
            self.n_features - 1.0 if self.covariance_type in ("full", "tied") else 0.0
        )

    def check_hyperparameters(self):
        shapes = self._shapes()
        if self.means_prior is not None:
            check_shape(
                np.broadcast_to(
                    as_float_array(self.means_prior, "means_prior"), shapes["means"]
                )
                if np.ndim(self.means_prior) < 2
                else self.means_prior,
                "means_prior",
                shapes["means"],
            )
        check_optional_prior(self.beta_prior, "beta_prior", shapes["beta"])
        check_optional_prior(
            self.dof_prior, "dof_prior", shapes["dof"], self._min_dof()
        )
        if self.scale_prior is not None:
            self.check_param("scale_prior_", self.scale_prior)
        return self

    def check_param(self, name, value):
        kind = name.split("_")[0]
        shape = self._shapes()[kind]
        if kind == "means":
            return check_shape(value, name, shape)
        if kind == "beta":
            return check_positive(value, name, shape)
        if kind == "dof":
            if self._tied and np.ndim(value) != 0:
                raise ValueError(
                    f"{name} must be a number for covariance_type='tied', got "
                    f"shape {np.shape(value)}"
                )
            arr = check_positive(value, name, shape)
            if np.any(arr <= self._min_dof()):
                raise ValueError(
                    f"{name} must be > n_features - 1 = {self._min_dof():g} for "
                    f"covariance_type={self.covariance_type!r}, got {value!r}"
                )
            return arr
        if self.covariance_type in ("spherical", "diag"):
            return check_positive(value, name, shape)
        arr = check_shape(value, name, shape)
        check_positive_definite(arr.reshape((-1,) + shape[-2:]), name)
        return arr

    def check_X(self, X):
        return check_real_samples(X, "X", self.n_features, self.missing)

    # -- the posterior as seen by the E-step --------------------------------------
    def _stacked_scale(self):
        s = self.params["scale_posterior_"]
        return s[None] if self._tied else s

    def _dof_per_state(self):
        return np.broadcast_to(self.params["dof_posterior_"], (self.n_components,))

    def _expected_precision_logdet_gap(self):
        """E[log |precision|] - log |E[precision]|, per state (depends on dof only)."""
        d = self.n_features
        dof = self._dof_per_state()
        if self.covariance_type in ("full", "tied") or self.hmmlearn_wishart:
            half = 0.5 * (dof[:, None] - np.arange(d)[None, :])
            return digamma(half).sum(axis=1) + d * LOG_2 - d * np.log(dof)
        if self.covariance_type == "diag":
            return d * (digamma(0.5 * dof) + LOG_2 - np.log(dof))
        return d * (digamma(0.5 * d * dof) + LOG_2 - np.log(d * dof))

    def _point_covars(self):
        """Covariances at the posterior's mean precision, in hmmlearn's shapes."""
        s = self.params["scale_posterior_"]
        dof = self.params["dof_posterior_"]
        if self.covariance_type == "full":
            return s / dof[:, None, None]
        if self.covariance_type == "diag":
            return s / dof[:, None]
        return s / dof

    def log_likelihood(self, X, out=None):
        """E[log N(x | mean, precision)] under the posterior, per state.

        It is the density at the posterior means (mean, mean precision) plus
        ``(E[log |precision|] - log |E[precision]|) / 2 - n_features / (2 beta)``.
        """
        covars = self._point_covars()
        stacked = covars[None] if self._tied else covars
        offset = (
            0.5 * self._expected_precision_logdet_gap()
            - 0.5 * self.n_features / (self.params["beta_posterior_"])
        )
        return cov.log_density(
            X,
            self.params["means_posterior_"],
            stacked,
            self.covariance_type,
            self.n_components,
            out=out,
            offset=offset,
        )

    # -- learning -------------------------------------------------------------
    #: ``(X, n_clusters, random_state) -> centres`` of the initial means (the
    #: hmmlearn namespace uses scikit-learn's, as hmmlearn).
    cluster_centres = staticmethod(kmeans)

    def initialize(self, X, letters, random_state):
        """hmmlearn's initial priors and posteriors for the letters given.

        Means at k-means centres with ``beta`` and ``dof`` the cluster sizes;
        the precision's posterior centred on the data's covariance (plus
        1e-3 on the diagonal).
        """
        if "m" not in letters and "c" not in letters:
            return {}
        k, d = self.n_components, self.n_features
        shapes = self._shapes()
        centres = self.cluster_centres(X, k, random_state)
        nearest = (
            (X**2).sum(axis=1)[:, None] - 2.0 * X @ centres.T + (centres**2).sum(axis=1)
        ).argmin(axis=1)
        counts = np.bincount(nearest, minlength=k).astype(np.float64)
        new = {}
        if "m" in letters:
            new["means_prior_"] = prior_or_default(
                self.means_prior, X.mean(axis=0), shapes["means"]
            )
            new["means_posterior_"] = centres
            new["beta_prior_"] = prior_or_default(self.beta_prior, 1.0, shapes["beta"])
            new["beta_posterior_"] = counts
        if "c" in letters:
            new["dof_prior_"] = prior_or_default(
                self.dof_prior, float(d), shapes["dof"]
            )
            dof = counts.sum() if self._tied else counts
            data_cov = cov.data_covariance(X, INIT_RIDGE)
            if self.covariance_type == "full":
                scale = data_cov[None] * dof[:, None, None]
                default = np.eye(d) * DEFAULT_SCALE_PRIOR
            elif self.covariance_type == "tied":
                scale = data_cov * dof
                default = np.eye(d) * DEFAULT_SCALE_PRIOR
            elif self.covariance_type == "diag":
                scale = np.diag(data_cov)[None] * dof[:, None]
                default = DEFAULT_SCALE_PRIOR
            else:
                variance = data_cov if self.hmmlearn_wishart else np.diag(data_cov)
                scale = variance.mean() * dof
                default = DEFAULT_SCALE_PRIOR
            new["dof_posterior_"] = np.asarray(dof, dtype=np.float64)
            new["scale_prior_"] = prior_or_default(
                self.scale_prior, default, shapes["scale"]
            )
            new["scale_posterior_"] = np.array(scale, dtype=np.float64)
        return new

    def suff_stats(self, X, weights):
        return cov.suff_stats(X, weights, self.covariance_type)

    def m_step(self, stats, letters):
        """Conjugate update of the posteriors named by ``letters``.

        The precision's update is written around the posterior means it is
        paired with, so it is exact whether or not the means are updated in
        the same step (hmmlearn's form assumes they are).
        """
        p = self.params
        n, sx, s2 = stats["post"], stats["obs"], stats["second"]
        new = {}
        beta, means = p["beta_posterior_"], p["means_posterior_"]
        beta0, means0 = p["beta_prior_"], p["means_prior_"]
        if "m" in letters:
            beta = beta0 + n
            means = (beta0[:, None] * means0 + sx) / beta[:, None]
            new["beta_posterior_"] = beta
            new["means_posterior_"] = means
        if "c" in letters:
            dm = means - means0
            if self.covariance_type in ("full", "tied"):
                cross = np.einsum("ki,kj->kij", sx, means)
                spread = (
                    s2
                    - cross
                    - np.swapaxes(cross, 1, 2)
                    + np.einsum("k,ki,kj->kij", n, means, means)
                    + np.einsum("k,ki,kj->kij", beta0, dm, dm)
                )
            else:
                spread = (
                    s2
                    - 2.0 * sx * means
                    + n[:, None] * means**2
                    + beta0[:, None] * dm**2
                )
            if self.covariance_type == "tied":
                new["dof_posterior_"] = p["dof_prior_"] + n.sum()
                new["scale_posterior_"] = p["scale_prior_"] + spread.sum(axis=0)
            else:
                new["dof_posterior_"] = p["dof_prior_"] + n
                if self.covariance_type == "spherical":
                    spread = spread.mean(axis=1)
                new["scale_posterior_"] = p["scale_prior_"] + spread
        return new

    def objective_term(self):
        """Minus the KL divergence of the posteriors from the priors."""
        p = self.params
        d = self.n_features
        beta, beta0 = p["beta_posterior_"], p["beta_prior_"]
        dm = p["means_posterior_"] - p["means_prior_"]
        dof, dof0 = p["dof_posterior_"], p["dof_prior_"]
        scale, scale0 = p["scale_posterior_"], p["scale_prior_"]
        ctype = self.covariance_type
        # E over the precision of KL(N(m, (beta P)^-1) || N(m0, (beta0 P)^-1)).
        if ctype in ("full", "tied"):
            stack = scale[None] if ctype == "tied" else scale
            quad = (
                np.einsum("ki,kij,kj->k", dm, np.linalg.inv(stack), dm)
                if ctype == "full"
                else np.einsum("ki,ij,kj->k", dm, np.linalg.inv(scale), dm)
            )
            quad = quad * dof
        elif ctype == "diag":
            quad = (dm**2 / scale).sum(axis=1) * dof
        else:
            quad = (dm**2).sum(axis=1) * dof / scale
        kl_means = 0.5 * np.sum(
            d * beta0 / beta - d + d * np.log(beta / beta0) + beta0 * quad
        )
        if ctype == "full":
            kl_prec = kl_wishart(dof, scale, dof0, scale0)
        elif self.hmmlearn_wishart and ctype in ("diag", "spherical"):
            kl_prec = kl_wishart(
                dof,
                self._diagonal_matrices(scale),
                dof0,
                self._diagonal_matrices(scale0),
            )
        elif ctype == "tied":
            kl_prec = kl_wishart(
                np.atleast_1d(dof), scale[None], np.atleast_1d(dof0), scale0[None]
            )
        elif ctype == "diag":
            shape_q = np.broadcast_to(0.5 * dof[:, None], scale.shape)
            shape_p = np.broadcast_to(0.5 * dof0[:, None], scale.shape)
            kl_prec = kl_gamma(shape_q, 0.5 * scale, shape_p, 0.5 * scale0)
        else:
            kl_prec = kl_gamma(
                0.5 * d * dof, 0.5 * d * scale, 0.5 * d * dof0, 0.5 * d * scale0
            )
        return -(float(kl_means) + kl_prec)

    def _diagonal_matrices(self, scale):
        """A "diag" or "spherical" scale as (n_components, d, d) matrices."""
        d = self.n_features
        column = scale[:, :, None] if scale.ndim == 2 else scale[:, None, None]
        return column * np.eye(d)

    def n_free_parameters(self, letters):
        """hmmlearn's count: means and betas, scales and dofs."""
        k, d = self.n_components, self.n_features
        n = k * d + k if "m" in letters else 0
        if "c" in letters:
            n += {
                "full": k + k * d * (d + 1) // 2,
                "tied": 1 + d * (d + 1) // 2,
                "diag": k + k * d,
                "spherical": k + k,
            }[self.covariance_type]
        return n

    def point_estimate(self):
        """:class:`GaussianEmission` at the posterior means (``covars_`` is
        ``scale / dof``, the inverse of the mean precision)."""
        return GaussianEmission(
            self.n_components,
            {
                "means_": self.params["means_posterior_"],
                "covars_": self._point_covars(),
            },
            covariance_type=self.covariance_type,
            min_covar=0.0,
        )
