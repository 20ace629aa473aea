"""Hidden semi-Markov models: the HMMs' emission families with explicit durations."""

from ..emissions import CategoricalEmission, GaussianEmission, PoissonEmission
from .base import BaseHSMM


class GaussianHSMM(BaseHSMM):
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

    def __init__(
        self,
        n_components=2,
        max_duration=20,
        duration="nonparametric",
        covariance_type="diag",
        min_covar=1e-3,
        startprob_prior=1.0,
        transmat_prior=1.0,
        durationprob_prior=1.0,
        means_prior=0,
        means_weight=0,
        covars_prior=1e-2,
        covars_weight=1,
        algorithm="viterbi",
        random_state=None,
        n_iter=10,
        tol=1e-2,
        verbose=False,
        params="stdmc",
        init_params="stdmc",
        implementation="log",
    ):
        self._store_constructor_args(locals())


class CategoricalHSMM(BaseHSMM):
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

    def __init__(
        self,
        n_components=2,
        max_duration=20,
        duration="nonparametric",
        startprob_prior=1.0,
        transmat_prior=1.0,
        durationprob_prior=1.0,
        *,
        emissionprob_prior=1.0,
        n_features=None,
        algorithm="viterbi",
        random_state=None,
        n_iter=10,
        tol=1e-2,
        verbose=False,
        params="stde",
        init_params="stde",
        implementation="log",
    ):
        self._store_constructor_args(locals())

    def _after_fit(self, emission):
        self.n_features = emission.n_features


class PoissonHSMM(BaseHSMM):
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

    def __init__(
        self,
        n_components=2,
        max_duration=20,
        duration="nonparametric",
        startprob_prior=1.0,
        transmat_prior=1.0,
        durationprob_prior=1.0,
        lambdas_prior=0.0,
        lambdas_weight=0.0,
        algorithm="viterbi",
        random_state=None,
        n_iter=10,
        tol=1e-2,
        verbose=False,
        params="stdl",
        init_params="stdl",
        implementation="log",
    ):
        self._store_constructor_args(locals())
