"""Hidden semi-Markov models: the HMMs' emission families with explicit durations."""

from ..emissions import CategoricalEmission, GaussianEmission, PoissonEmission
from .base import BaseHSMM


class GaussianHSMM(BaseHSMM, family="gaussian-hsmm"):
    """Hidden semi-Markov model with multivariate Gaussian emissions.

    Parameters
    ----------
    n_components, max_duration, duration, startprob_prior, transmat_prior,
    durationprob_prior :
        See :class:`fasthmm.hsmm.BaseHSMM`.
    covariance_type, min_covar, means_prior, means_weight, covars_prior,
    covars_weight :
        As in :class:`fasthmm.GaussianHMM`.
    algorithm, random_state, n_iter, tol, verbose, params, init_params,
    implementation :
        See :class:`fasthmm.base.BaseHMM`; letters "s", "t", "d", "m", "c".

    Attributes
    ----------
    startprob_, transmat_, durationprob_ :
        See :class:`fasthmm.hsmm.BaseHSMM`.
    means_, covars_ :
        As in :class:`fasthmm.GaussianHMM`.
    """

    _emission_class = GaussianEmission


class CategoricalHSMM(BaseHSMM, family="categorical-hsmm"):
    """Hidden semi-Markov model with categorical (discrete-symbol) emissions.

    Parameters
    ----------
    n_components, max_duration, duration, startprob_prior, transmat_prior,
    durationprob_prior :
        See :class:`fasthmm.hsmm.BaseHSMM`.
    emissionprob_prior, n_features :
        As in :class:`fasthmm.CategoricalHMM`.
    algorithm, random_state, n_iter, tol, verbose, params, init_params,
    implementation :
        See :class:`fasthmm.base.BaseHMM`; letters "s", "t", "d", "e".

    Attributes
    ----------
    startprob_, transmat_, durationprob_ :
        See :class:`fasthmm.hsmm.BaseHSMM`.
    emissionprob_ : ndarray of shape (n_components, n_features)
    """

    _emission_class = CategoricalEmission

    def _after_fit(self, emission):
        self.n_features = emission.n_features


class PoissonHSMM(BaseHSMM, family="poisson-hsmm"):
    """Hidden semi-Markov model with independent Poisson emissions per feature.

    Parameters
    ----------
    n_components, max_duration, duration, startprob_prior, transmat_prior,
    durationprob_prior :
        See :class:`fasthmm.hsmm.BaseHSMM`.
    lambdas_prior, lambdas_weight :
        As in :class:`fasthmm.PoissonHMM`.
    algorithm, random_state, n_iter, tol, verbose, params, init_params,
    implementation :
        See :class:`fasthmm.base.BaseHMM`; letters "s", "t", "d", "l".

    Attributes
    ----------
    startprob_, transmat_, durationprob_ :
        See :class:`fasthmm.hsmm.BaseHSMM`.
    lambdas_ : ndarray of shape (n_components, n_features)
    """

    _emission_class = PoissonEmission
