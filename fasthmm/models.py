"""The models: BaseHMM composed with one emission family each.

Constructor arguments and attribute names follow hmmlearn 0.3.3, so that a
script switches by changing its import.
"""

from .base import BaseHMM
from .emissions import CategoricalEmission, GaussianEmission


class CategoricalHMM(BaseHMM):
    """HMM with categorical (discrete-symbol) emissions.

    Parameters
    ----------
    n_components : int
    startprob_prior, transmat_prior :
        See :class:`fasthmm.base.BaseHMM`.
    emissionprob_prior : float or ndarray of shape (n_components, n_features)
        Dirichlet concentration of the prior on each row of ``emissionprob_``.
    n_features : int, optional
        Number of symbols; inferred from the data (largest symbol + 1) or from
        ``emissionprob_`` when omitted.
    algorithm, random_state, n_iter, tol, verbose, params, init_params,
    implementation :
        See :class:`fasthmm.base.BaseHMM`; the emission's letter is "e".

    Attributes
    ----------
    emissionprob_ : ndarray of shape (n_components, n_features)
        Probability of each symbol in each state.
    """

    _emission_class = CategoricalEmission
    _emission_args = ("n_features", "emissionprob_prior")

    def __init__(
        self,
        n_components=1,
        startprob_prior=1.0,
        transmat_prior=1.0,
        *,
        emissionprob_prior=1.0,
        n_features=None,
        algorithm="viterbi",
        random_state=None,
        n_iter=10,
        tol=1e-2,
        verbose=False,
        params="ste",
        init_params="ste",
        implementation="log",
    ):
        super().__init__(
            n_components,
            startprob_prior,
            transmat_prior,
            algorithm,
            random_state,
            n_iter,
            tol,
            verbose,
            params,
            init_params,
            implementation,
        )
        self.emissionprob_prior = emissionprob_prior
        self.n_features = n_features

    def _after_fit(self, emission):
        self.n_features = emission.n_features


class GaussianHMM(BaseHMM):
    """HMM with multivariate Gaussian emissions.

    Parameters
    ----------
    n_components : int
    covariance_type : {"spherical", "diag", "full", "tied"}
    min_covar : float
        Floor on the variances (eigenvalues for full matrices), applied at
        initialisation and in every M-step.
    startprob_prior, transmat_prior :
        See :class:`fasthmm.base.BaseHMM`.
    means_prior, means_weight : float or array
        Normal prior on the means.
    covars_prior, covars_weight : float or array
        Prior on the covariances; a scalar ``covars_prior`` for "full" and
        "tied" means ``covars_prior * identity`` (hmmlearn adds it to every
        entry instead).
    algorithm, random_state, n_iter, tol, verbose, params, init_params,
    implementation :
        See :class:`fasthmm.base.BaseHMM`; the emission's letters are "m"
        (means) and "c" (covariances).

    Attributes
    ----------
    means_ : ndarray of shape (n_components, n_features)
    covars_ : ndarray
        (n_components,) for "spherical", (n_components, n_features) for
        "diag", (n_components, n_features, n_features) for "full",
        (n_features, n_features) for "tied".
    """

    _emission_class = GaussianEmission
    _emission_args = (
        "covariance_type",
        "min_covar",
        "means_prior",
        "means_weight",
        "covars_prior",
        "covars_weight",
    )

    def __init__(
        self,
        n_components=1,
        covariance_type="diag",
        min_covar=1e-3,
        startprob_prior=1.0,
        transmat_prior=1.0,
        means_prior=0,
        means_weight=0,
        covars_prior=1e-2,
        covars_weight=1,
        algorithm="viterbi",
        random_state=None,
        n_iter=10,
        tol=1e-2,
        verbose=False,
        params="stmc",
        init_params="stmc",
        implementation="log",
    ):
        super().__init__(
            n_components,
            startprob_prior,
            transmat_prior,
            algorithm,
            random_state,
            n_iter,
            tol,
            verbose,
            params,
            init_params,
            implementation,
        )
        self.covariance_type = covariance_type
        self.min_covar = min_covar
        self.means_prior = means_prior
        self.means_weight = means_weight
        self.covars_prior = covars_prior
        self.covars_weight = covars_weight

    @property
    def n_features(self):
        """Dimension of the samples (from ``means_``)."""
        means = getattr(self, "means_", None)
        return None if means is None else means.shape[-1]
