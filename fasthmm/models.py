"""The models: BaseHMM composed with one emission family each.

Constructor arguments and attribute names follow hmmlearn 0.3.3, so that a
script switches by changing its import.
"""

import numpy as np

from .base import BaseHMM
from .emissions import (
    CategoricalEmission,
    GaussianEmission,
    GMMEmission,
    MultinomialEmission,
    PoissonEmission,
)
from .emissions.bernoulli import BernoulliEmission


class CategoricalHMM(BaseHMM, family="categorical"):
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

    def _after_fit(self, emission):
        self.n_features = emission.n_features


class GaussianHMM(BaseHMM, family="gaussian"):
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


class PoissonHMM(BaseHMM, family="poisson"):
    """HMM with independent Poisson emissions per feature.

    Parameters
    ----------
    n_components : int
    startprob_prior, transmat_prior :
        See :class:`fasthmm.base.BaseHMM`.
    lambdas_prior, lambdas_weight : float or ndarray
        Prior on the rates, log density
        ``lambdas_prior * log(lambda) - lambdas_weight * lambda`` per rate
        (scalars or arrays broadcastable to (n_components, n_features), >= 0;
        both 0, the default, is no prior).
    algorithm, random_state, n_iter, tol, verbose, params, init_params,
    implementation :
        See :class:`fasthmm.base.BaseHMM`; the emission's letter is "l".

    Attributes
    ----------
    lambdas_ : ndarray of shape (n_components, n_features)
        Poisson rate of each feature in each state.

    Notes
    -----
    ``X`` holds non-negative integer counts, shape (n_samples, n_features)
    (1-D: one feature). The M-step is the exact MAP estimate
    ``lambda = (lambdas_prior + sum_t gamma_t x_t) / (lambdas_weight + sum_t gamma_t)``
    under the prior above, so EM is monotone in log-likelihood plus log prior.
    This is the conjugate posterior mean hmmlearn 0.3.3 intends with each
    state's own posterior mass ``sum_t gamma_t``; hmmlearn uses the total mass
    over all states instead, so the two agree only without prior (the default).
    Rates are floored at ``fasthmm.emissions.poisson.MIN_LAMBDA`` (1e-10), so a
    state that never sees a count in a feature keeps a tiny positive rate and
    never makes later data impossible. Initial rates are drawn, as in
    hmmlearn, from a Gamma with the pooled mean and variance of ``X``.
    """

    _emission_class = PoissonEmission


class GMMHMM(BaseHMM, family="gmm"):
    """HMM with a mixture of ``n_mix`` Gaussians as each state's emission.

    Parameters
    ----------
    n_components : int
    n_mix : int
        Number of mixture components per state.
    min_covar : float
        Floor on the variances (eigenvalues for full matrices), applied at
        initialisation and in every M-step.
    startprob_prior, transmat_prior :
        See :class:`fasthmm.base.BaseHMM`.
    weights_prior : float or ndarray of shape (n_components, n_mix)
        Dirichlet concentration of the prior on each row of ``weights_``.
    means_prior, means_weight : float or ndarray
        Normal prior on the means (broadcast to (n_components, n_mix,
        n_features) and (n_components, n_mix)).
    covars_prior, covars_weight : float, ndarray or None
        hmmlearn's parametrisation and defaults (None): for "full" and "tied"
        the inverse-Wishart scale matrix and degrees of freedom (defaults 0 and
        ``-(n_features + 2)`` / ``-(n_mix + n_features + 1)``: maximum
        likelihood); for "diag" and "spherical" the inverse-gamma shape
        ``covars_prior`` and scale ``covars_weight`` (defaults -1.5 and 0 for
        "diag": maximum likelihood; ``-(n_mix + 2) / 2`` and 0 for
        "spherical": maximum likelihood only when ``n_features == n_mix``).
    algorithm, random_state, n_iter, tol, verbose, params, init_params,
    implementation :
        See :class:`fasthmm.base.BaseHMM`; the emission's letters are "m"
        (means), "c" (covariances) and "w" (mixture weights).

    Attributes
    ----------
    weights_ : ndarray of shape (n_components, n_mix)
    means_ : ndarray of shape (n_components, n_mix, n_features)
    covars_ : ndarray
        (n_components, n_mix) for "spherical", (n_components, n_mix,
        n_features) for "diag", (n_components, n_mix, n_features, n_features)
        for "full", (n_components, n_features, n_features) for "tied" (the
        mixture components of a state share one matrix).

    Notes
    -----
    The M-step is the exact maximiser of the expected complete-data
    log-likelihood plus the log prior, so the EM objective never decreases.
    Differences from hmmlearn 0.3.3, which otherwise gives the same numbers
    from the same start:

    - hmmlearn accumulates the covariance statistics around the means of the
      previous iteration and combines them with the new means, which is not
      the M-step's maximiser: when means ("m") and covariances ("c") are
      learned together its covariances are larger by
      ``N (new mean - old mean)**2 / denominator`` each iteration (the two
      agree at a fixed point, and whenever "m" or "c" is frozen);
    - where hmmlearn's prior adds a negative number of degrees of freedom
      (an improper prior, e.g. "spherical" defaults with
      ``n_mix > n_features``), fasthmm uses 0 (maximum likelihood);
    - a scalar ``covars_prior`` for "full" and "tied" means
      ``covars_prior * identity`` (hmmlearn adds it to every entry);
    - covariances are floored at ``min_covar`` in every M-step, a mixture
      component with no posterior mass keeps its mean and covariance, and
      initialisation uses fasthmm's own k-means (no scikit-learn);
    - the number of free parameters (for :meth:`aic` / :meth:`bic`) counts
      ``n_components * (n_mix - 1)`` mixture weights (hmmlearn counts
      ``n_mix - 1``).
    """

    _emission_class = GMMEmission


class MultinomialHMM(BaseHMM, family="multinomial"):
    """HMM whose samples count the outcomes of ``n_trials`` categorical draws.

    hmmlearn's MultinomialHMM (since 0.2.8): each row of ``X`` holds the
    counts of ``n_features`` outcomes, and its log-probability includes the
    multinomial coefficient. With ``n_trials=1`` it is a
    :class:`CategoricalHMM` with one-hot samples.

    Parameters
    ----------
    n_components : int
    n_trials : None, int or array-like of int of shape (n_samples,)
        Number of draws per sample (every row of ``X`` must sum to it). None
        accepts any totals; hmmlearn's private ``_init`` then sets it to the
        row totals of the data. :meth:`sample` needs a single number.
    startprob_prior, transmat_prior :
        See :class:`fasthmm.base.BaseHMM`.
    algorithm, random_state, n_iter, tol, verbose, params, init_params,
    implementation :
        See :class:`fasthmm.base.BaseHMM`; the emission's letter is "e".
    emissionprob_prior : float or ndarray of shape (n_components, n_features)
        Dirichlet concentration of the prior on each row of ``emissionprob_``
        (1, the default, is none; hmmlearn has no such prior).

    Attributes
    ----------
    emissionprob_ : ndarray of shape (n_components, n_features)
        Probability of each outcome in each state.
    """

    _emission_class = MultinomialEmission

    def _after_check_X(self, X):
        if self.n_trials is None:  # a missing sample (NaN) counts 0 draws
            self.n_trials = np.nansum(np.asarray(X), axis=1).astype(np.int64)


class BernoulliHMM(BaseHMM, family="bernoulli"):
    """HMM with independent binary (Bernoulli) features per state.

    Parameters
    ----------
    n_components : int
    startprob_prior, transmat_prior :
        See :class:`fasthmm.base.BaseHMM`.
    emissionprob_alpha, emissionprob_beta : float or ndarray, >= 1
        Beta(alpha, beta) prior on each entry of ``emissionprob_``
        (broadcastable to (n_components, n_features); 1 and 1, the default,
        is no prior).
    algorithm, random_state, n_iter, tol, verbose, params, init_params,
    implementation :
        See :class:`fasthmm.base.BaseHMM`; the emission's letter is "e".

    Attributes
    ----------
    emissionprob_ : ndarray of shape (n_components, n_features)
        Probability that each feature is 1 in each state (each entry its own
        Bernoulli; rows need not sum to 1). Entries of exactly 0 or 1 are
        allowed: a sample they rule out has probability 0 in that state.

    Notes
    -----
    ``X`` holds 0 or 1, shape (n_samples, n_features) (1-D: one feature).
    hmmlearn has no Bernoulli model; the API is that of its other models.
    """

    _emission_class = BernoulliEmission
