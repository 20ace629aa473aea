"""Gaussian-mixture emissions: a mixture of ``n_mix`` Gaussians per state.

The ``n_components * n_mix`` Gaussians are handled as one flat stack by the
shared code in :mod:`fasthmm.emissions._covariance` (component ``k * n_mix + m``
is mixture component ``m`` of state ``k``); "tied" covariances are tied within
each state, i.e. in groups of ``n_mix`` components.
"""

import numpy as np

from .._dirichlet import dirichlet_log_prior, dirichlet_map
from .._kernels.mixture import share_posteriors, shift_by_top, state_totals
from .._kmeans import kmeans
from .._validation import (
    as_float_array,
    check_int,
    check_prior,
    check_real_samples,
    check_shape,
    check_stochastic_rows,
)
from . import _covariance as cov
from ._base import Emission


def hmmlearn_covars_defaults(covariance_type, n_features, n_mix):
    """hmmlearn 0.3.3's default ``(covars_prior, covars_weight)`` for GMMHMM.

    With these, "full", "tied" and "diag" reduce to maximum likelihood;
    "spherical" does only when ``n_features == n_mix``.
    """
    d, m = float(n_features), float(n_mix)
    return {
        "full": (0.0, -(1.0 + d + 1.0)),
        "tied": (0.0, -(m + d + 1.0)),
        "diag": (-1.5, 0.0),
        "spherical": (-(m + 2.0) / 2.0, 0.0),
    }[covariance_type]


#: Entries per chunk of the per-component arrays of shape (rows,
#: n_components, n_mix), 16 MB each: bounds their memory whatever the number
#: of samples, with few chunks (each chunk is a round of parallel kernels).
CHUNK_ENTRIES = 2**21


class GMMEmission(Emission):
    """A mixture of ``n_mix`` multivariate Gaussians per state.

    Parameters
    ----------
    n_components : int
    params : dict
        ``"weights_"``: ndarray of shape (n_components, n_mix);
        ``"means_"``: ndarray of shape (n_components, n_mix, n_features);
        ``"covars_"``: (n_components, n_mix) for "spherical",
        (n_components, n_mix, n_features) for "diag",
        (n_components, n_mix, n_features, n_features) for "full",
        (n_components, n_features, n_features) for "tied" (one matrix per
        state, shared by its mixture components).
    n_mix : int
    covariance_type : {"spherical", "diag", "full", "tied"}
    min_covar : float
        Floor on the variances (eigenvalues for full matrices).
    weights_prior : float or ndarray of shape (n_components, n_mix)
        Dirichlet concentration of the prior on each row of ``weights_``.
    means_prior, means_weight : float or ndarray
        Normal prior on the means: mean ``means_prior`` (broadcast to
        (n_components, n_mix, n_features)), precision
        ``means_weight / covariance`` (``means_weight`` broadcast to
        (n_components, n_mix)).
    covars_prior, covars_weight : float, ndarray or None
        hmmlearn's parametrisation (``None``: hmmlearn's defaults, see
        :func:`hmmlearn_covars_defaults`). "full" and "tied": scale matrix
        ``covars_prior`` (a scalar means ``covars_prior * identity``) and
        degrees of freedom ``covars_weight``; "diag" and "spherical": an
        inverse-gamma prior with shape ``covars_prior`` and scale
        ``covars_weight``. See :meth:`shared_priors` for how they translate
        into the shared code's normal / inverse-gamma / inverse-Wishart prior.
    """

    param_names = {"m": "means_", "c": "covars_", "w": "weights_"}
    #: hmmlearn's order of the model's constructor (see ``base.family_signature``).
    model_args_after = {
        "n_mix": "n_components",
        "covariance_type": "algorithm",
        "min_covar": "n_mix",
        "weights_prior": "transmat_prior",
    }
    feature_param = "means_"

    def __init__(
        self,
        n_components,
        params,
        n_mix=1,
        covariance_type="diag",
        min_covar=1e-3,
        weights_prior=1.0,
        means_prior=0.0,
        means_weight=0.0,
        covars_prior=None,
        covars_weight=None,
    ):
        super().__init__(n_components, params)
        self.n_mix = check_int(n_mix, "n_mix", 1)
        self.covariance_type, self.min_covar = cov.check_settings(
            covariance_type, min_covar
        )
        for name, value, kind in (
            ("weights_prior", weights_prior, "concentration"),
            ("means_prior", means_prior, None),
            ("means_weight", means_weight, "weight"),
            ("covars_prior", covars_prior, None),
            ("covars_weight", covars_weight, None),
        ):  # None: hmmlearn's default (covariance priors)
            if value is not None:
                value = check_prior(value, name, kind=kind)
            setattr(self, name, value)

    @property
    def closed_form_given_states(self):
        """Known states leave the mixture components latent (unless ``n_mix == 1``):
        a fully labelled fit then runs EM with the states clamped."""
        return self.n_mix == 1

    # -- shapes -----------------------------------------------------------------
    @property
    def _n(self):
        """Number of Gaussians in the flat stack."""
        return self.n_components * self.n_mix

    def _public_covars_shape(self):
        k, m, d = self.n_components, self.n_mix, self.n_features
        return {
            "spherical": (k, m),
            "diag": (k, m, d),
            "full": (k, m, d, d),
            "tied": (k, d, d),
        }[self.covariance_type]

    def _flat_means(self, means=None):
        means = self.params["means_"] if means is None else means
        return np.ascontiguousarray(means.reshape(self._n, -1))

    def _flat_covars(self, covars=None):
        """Covariances in the shared code's shape (tied: (n_components, d, d))."""
        covars = self.params["covars_"] if covars is None else covars
        if covars is None or self.covariance_type == "tied":
            return covars
        return covars.reshape((self._n,) + covars.shape[2:])

    def _public_covars(self, flat):
        return flat.reshape(self._public_covars_shape())

    # -- priors -----------------------------------------------------------------
    def shared_priors(self):
        """The priors in the shared code's parametrisation, over the flat stack.

        hmmlearn 0.3.3's GMMHMM M-step divides by ``N + 1 + nu + d + 1``
        ("full"), ``N_state + n_mix + nu + d + 1`` ("tied"),
        ``N + 1 + 2 (alpha + 1)`` ("diag") and ``d (N + 1) + 2 (alpha + 1)``
        ("spherical"), and adds ``2 beta`` (diag/spherical) or the scale
        matrix (full/tied) to the numerator. The shared code divides by
        ``N + max(w - 1, 0)`` (spherical/diag, spherical averaging over the
        features) or ``N + max(w - d, 0)`` (full/tied) and adds its scale, so
        the translation is exact whenever hmmlearn's added degrees of freedom
        are non-negative (an improper, negative count is clamped at 0).

        Returns
        -------
        means_prior : ndarray of shape (n, n_features)
        means_weight : ndarray of shape (n,)
        covars_prior, covars_weight : float or ndarray
            Arguments of the shared covariance functions.
        """
        k, m, d, n = self.n_components, self.n_mix, self.n_features, self._n
        ctype = self.covariance_type
        means_prior = cov.broadcast_prior(self.means_prior, (k, m, d), "means_prior")
        means_weight = cov.broadcast_prior(self.means_weight, (k, m), "means_weight")
        default_prior, default_weight = hmmlearn_covars_defaults(ctype, d, m)
        c_prior = default_prior if self.covars_prior is None else self.covars_prior
        c_weight = default_weight if self.covars_weight is None else self.covars_weight
        if ctype == "full":
            psi = np.asarray(as_float_array(c_prior, "covars_prior"))
            if psi.ndim:
                psi = cov.broadcast_prior(psi, (k, m, d, d), "covars_prior").reshape(
                    n, d, d
                )
            nu = cov.broadcast_prior(c_weight, (k, m), "covars_weight").reshape(n)
            weight = nu + 2.0 * d + 2.0
        elif ctype == "tied":
            psi = np.asarray(as_float_array(c_prior, "covars_prior"))
            if psi.ndim:
                psi = cov.broadcast_prior(psi, (k, d, d), "covars_prior")
            nu = cov.broadcast_prior(c_weight, (k,), "covars_weight")
            weight = nu + m + 2.0 * d + 1.0
        elif ctype == "diag":
            alpha = cov.broadcast_prior(c_prior, (k, m, d), "covars_prior").reshape(
                n, d
            )
            beta = cov.broadcast_prior(c_weight, (k, m, d), "covars_weight").reshape(
                n, d
            )
            psi, weight = 2.0 * beta, 2.0 * alpha + 4.0
        else:
            alpha = cov.broadcast_prior(c_prior, (k, m), "covars_prior").reshape(n)
            beta = cov.broadcast_prior(c_weight, (k, m), "covars_weight").reshape(n)
            psi, weight = 2.0 * beta / d, 2.0 + (2.0 * alpha + 2.0) / d
        return means_prior.reshape(n, d), means_weight.reshape(n), psi, weight

    def _weights_prior(self):
        k, m = self.n_components, self.n_mix
        return cov.broadcast_prior(self.weights_prior, (k, m), "weights_prior")

    # -- parameters ---------------------------------------------------------------
    def check_hyperparameters(self):
        self._shared = self.shared_priors()
        self._weights_prior_rows = self._weights_prior()
        return self

    def check_param(self, name, value):
        k, m, d = self.n_components, self.n_mix, self.n_features
        if name == "weights_":
            return check_stochastic_rows(value, (k, m), name)
        if name == "means_":
            return check_shape(value, name, (k, m, d))
        covars = check_shape(value, name, self._public_covars_shape())
        flat = cov.check_covars(
            self._flat_covars(covars), self.covariance_type, self._n, d, m
        )
        return self._public_covars(flat)

    def check_X(self, X):
        return check_real_samples(X, "X", self.n_features, self.missing)

    @property
    def independent_features(self):
        return self.covariance_type in ("spherical", "diag")

    def marginal(self, features):
        part = self.updated({"means_": self.params["means_"][:, :, features]})
        part._n_features = features.size
        flat = cov.marginal_covars(self._flat_covars(), self.covariance_type, features)
        return part.updated({"covars_": part._public_covars(flat)})

    def add_partial_stats(self, stats, features, X, weights):
        part = self.marginal(features)
        rows = self._chunk_rows()
        for lo in range(0, X.shape[0], rows):
            x = X[lo : lo + rows]
            resp = part._responsibilities(x, weights[lo : lo + rows])
            cov.add_partial_stats(
                stats,
                features,
                x,
                resp,
                self.covariance_type,
                self._flat_means(),
                self._flat_covars(),
                self.n_mix,
            )

    # -- densities ----------------------------------------------------------------
    def _component_log_density(self, X):
        """Log densities of the components (without the weights), shape
        (n_samples, n_components * n_mix), state by state."""
        return cov.log_density(
            X,
            self._flat_means(),
            self._flat_covars(),
            self.covariance_type,
            self.n_mix,
        )

    def _log_weights(self):
        with np.errstate(divide="ignore"):
            return np.log(self.params["weights_"]).reshape(-1)

    def _chunk_rows(self):
        return max(1, CHUNK_ENTRIES // self._n)

    def _scaled_terms(self, X):
        """Each state's ``weight * density`` of its components over the largest
        one, shape (n_samples, n), and the log of that largest one, shape
        (n_samples, n_components) (0 where all are zero)."""
        comp = self._component_log_density(X)
        tops = np.empty((X.shape[0], self.n_components))
        shift_by_top(comp, self._log_weights(), self.n_mix, tops)
        with np.errstate(under="ignore"):
            np.exp(comp, out=comp)
        return comp, tops

    def log_likelihood(self, X, out=None):
        """Log-emissions: logsumexp over each state's mixture components.

        Computed in chunks of rows (see :data:`CHUNK_ENTRIES`), so that the
        per-component arrays stay small whatever the number of samples.
        """
        if out is None:
            out = np.empty((X.shape[0], self.n_components))
        rows = self._chunk_rows()
        for lo in range(0, X.shape[0], rows):
            hi = min(X.shape[0], lo + rows)
            terms, tops = self._scaled_terms(X[lo:hi])
            state_totals(terms, self.n_mix, out[lo:hi])
            with np.errstate(divide="ignore"):
                np.log(out[lo:hi], out=out[lo:hi])
            out[lo:hi] += tops
        return out

    def _responsibilities(self, X, posteriors):
        """p(state k, component m | x) for each sample, shape (n_samples, n)."""
        if self.n_mix == 1:
            return np.ascontiguousarray(posteriors, dtype=float)
        terms, _ = self._scaled_terms(X)
        share_posteriors(terms, self.n_mix, np.ascontiguousarray(posteriors, float))
        return terms

    # -- learning -----------------------------------------------------------------
    def state_means(self):
        """The mixture weights times the component means, summed per state."""
        return np.einsum("km,kmd->kd", self.params["weights_"], self.params["means_"])

    def initialize(self, X, letters, random_state):
        """Initial parameters from data.

        As hmmlearn: k-means into ``n_components`` clusters, then k-means
        into ``n_mix`` within each cluster for the means (a cluster with fewer
        than ``n_mix`` points draws them from a normal around the mean
        centre, with the data covariance); uniform weights; every covariance
        the data covariance plus ``min_covar``.
        """
        k, m, d = self.n_components, self.n_mix, self.n_features
        new = {}
        if "w" in letters:
            new["weights_"] = np.full((k, m), 1.0 / m)
        if "m" in letters:
            centres = kmeans(X, k, random_state)
            labels = (
                (X**2).sum(axis=1)[:, None]
                - 2.0 * X @ centres.T
                + (centres**2).sum(axis=1)
            ).argmin(axis=1)
            cv = cov.initial_covars(X, "full", 1, 1, self.min_covar)[0]
            chol = _spread_factor(cv)
            means = np.empty((k, m, d))
            for state in range(k):
                members = X[labels == state]
                if members.shape[0] >= m:
                    means[state] = kmeans(members, m, random_state)
                else:
                    eps = random_state.standard_normal((m, d))
                    means[state] = centres.mean(axis=0) + eps @ chol.T
            new["means_"] = means
        if "c" in letters:
            flat = cov.initial_covars(
                X, self.covariance_type, self._n, m, self.min_covar
            )
            new["covars_"] = self._public_covars(flat)
        return new

    def suff_stats(self, X, weights):
        n, d = self._n, self.n_features
        diag = self.covariance_type in ("spherical", "diag")
        stats = {
            "post": np.zeros(n),
            "obs": np.zeros((n, d)),
            "second": np.zeros((n, d) if diag else (n, d, d)),
        }
        rows = self._chunk_rows()
        for lo in range(0, X.shape[0], rows):
            x = X[lo : lo + rows]
            resp = self._responsibilities(x, weights[lo : lo + rows])
            for name, value in cov.suff_stats(x, resp, self.covariance_type).items():
                stats[name] += value
        return stats

    def m_step(self, stats, letters):
        k, m = self.n_components, self.n_mix
        new = {}
        if "w" in letters:
            new["weights_"] = dirichlet_map(
                stats["post"].reshape(k, m),
                self._weights_prior_rows,
                self.params["weights_"],
            )
        means_prior, means_weight, covars_prior, covars_weight = self._shared
        means = old_means = self._flat_means()
        if "m" in letters:
            means = cov.means_m_step(
                cov.post_of(stats), stats["obs"], means_prior, means_weight, means
            )
            new["means_"] = means.reshape(k, m, -1)
        if "c" in letters:
            flat = cov.covars_m_step(
                self.covariance_type,
                cov.post_of(stats),
                stats["obs"],
                stats["second"],
                means,
                means_prior,
                means_weight,
                covars_prior,
                covars_weight,
                0.0 if self.hmmlearn_m_step else self.min_covar,
                self._flat_covars(),
                m,
                scatter_about=old_means if self.hmmlearn_m_step else None,
            )
            if self.hmmlearn_m_step:
                flat = cov.hmmlearn_fallback(flat, self.covariance_type)
            new["covars_"] = self._public_covars(flat)
        return new

    def log_prior(self):
        means_prior, means_weight, covars_prior, covars_weight = self._shared
        return dirichlet_log_prior(
            self.params["weights_"], self._weights_prior_rows
        ) + cov.log_prior(
            self.covariance_type,
            self._flat_means(),
            self._flat_covars(),
            means_prior,
            means_weight,
            covars_prior,
            covars_weight,
            self.n_mix,
        )

    def n_free_parameters(self, letters):
        k, m, d = self.n_components, self.n_mix, self.n_features
        n = k * (m - 1) if "w" in letters else 0
        n += k * m * d if "m" in letters else 0
        if "c" in letters:
            n += cov.n_covar_parameters(self.covariance_type, self._n, d, m)
        return n

    def sample(self, states, random_state):
        m = self.n_mix
        cum = np.cumsum(self.params["weights_"], axis=1)
        u = random_state.random(states.shape[0]) * cum[states, -1]
        mix = np.minimum((cum[states] <= u[:, None]).sum(axis=1), m - 1)
        return cov.sample(
            self._flat_means(),
            self._flat_covars(),
            self.covariance_type,
            m,
            states * m + mix,
            random_state,
        )


def _spread_factor(cv):
    """A factor ``L`` with ``L @ L.T == cv`` for a covariance that may be singular.

    Cholesky when ``cv`` is positive definite; otherwise (a constant feature
    with ``min_covar=0``) the eigen-decomposition with negative rounding
    clipped, so that initialisation draws means and leaves the degenerate
    covariance for the parameter check to report.
    """
    try:
        return np.linalg.cholesky(cv)
    except np.linalg.LinAlgError:
        values, vectors = np.linalg.eigh(cv)
        return vectors * np.sqrt(np.clip(values, 0.0, None))
