"""The variational (VB-EM) models: hmmlearn's ``vhmm`` classes.

A variational model is a :class:`~fasthmm.base.BaseHMM` whose components hold
posteriors instead of point estimates: the chain is a
:class:`~fasthmm.variational.transitions.VariationalTransitions`, the
emission a variational family. ``fit`` is the same EM loop
(:func:`fasthmm.em.run_em`): the E-step runs the forward-backward kernels on
the sub-normalised parameters ``exp(E[log theta])``, the M-step updates the
posteriors from the same statistics, and ``monitor_`` records the evidence
lower bound. Every inference method (``score``, ``decode``, ``predict``,
``sample``, ...) uses the point estimate at the posterior means, as hmmlearn
does.
"""

import numpy as np

from ..base import BaseHMM
from ..em import Params
from .categorical import VariationalCategoricalEmission
from .gaussian import VariationalGaussianEmission
from .transitions import VariationalTransitions


class ReadOnlyParameter(AttributeError, ValueError):
    """Raised when setting a point estimate that is derived from a posterior."""


def _derived(posterior_attr, compute, doc):
    """A read-only model attribute computed from a posterior (None if unset)."""

    def getter(self):
        if getattr(self, posterior_attr, None) is None:
            return None
        return compute(self)

    def setter(self, value):
        raise ReadOnlyParameter(
            f"{getter.__name__} of a {type(self).__name__} is derived from "
            f"{posterior_attr} (its posterior mean): set the posterior instead"
        )

    getter.__name__ = doc.split()[0]
    return property(getter, setter, doc=doc)


def _normalised(attr):
    def compute(self):
        value = np.asarray(getattr(self, attr), dtype=np.float64)
        return value / value.sum(axis=-1, keepdims=True)

    return compute


class VariationalBaseHMM(BaseHMM):
    """Base of the variational models (see the module docstring).

    ``startprob_prior`` and ``transmat_prior`` are what the Dirichlet priors
    ``startprob_prior_`` and ``transmat_prior_`` are initialised to (default
    ``1 / n_components``); the posteriors are ``startprob_posterior_`` and
    ``transmat_posterior_``.
    """

    _transitions_class = VariationalTransitions

    startprob_ = _derived(
        "startprob_posterior_",
        _normalised("startprob_posterior_"),
        "startprob_ : posterior mean of the start probabilities.",
    )
    transmat_ = _derived(
        "transmat_posterior_",
        _normalised("transmat_posterior_"),
        "transmat_ : posterior mean of the transition matrix.",
    )

    def _check_chain_priors(self):
        from ._checks import check_optional_prior

        k = self.n_components
        check_optional_prior(self.startprob_prior, "startprob_prior", (k,))
        check_optional_prior(self.transmat_prior, "transmat_prior", (k, k))

    def _transitions(self, params):
        return VariationalTransitions(
            self.n_components, params, self.startprob_prior, self.transmat_prior
        )

    def _checked_params(self):
        """The point estimate at the posterior means (checked posteriors)."""
        params = super()._checked_params()
        emission = params.emission.point_estimate()
        emission.missing = params.emission.missing  # NaN read as the model says
        return Params(params.transitions.point_estimate(), emission)


class VariationalCategoricalHMM(VariationalBaseHMM):
    """Categorical HMM learned by variational Bayes (hmmlearn's ``vhmm``).

    Dirichlet priors and posteriors over the start probabilities, each row of
    the transition matrix and each state's symbol probabilities.

    Parameters
    ----------
    n_components : int
    startprob_prior, transmat_prior, emissionprob_prior : None, float or ndarray
        Dirichlet concentrations the priors ``*_prior_`` are initialised to
        (defaults ``1 / n_components``, ``1 / n_components`` and
        ``1 / n_features``).
    n_features : int, optional
        Number of symbols; inferred from the data when omitted.
    algorithm, random_state, n_iter, tol, verbose, params, init_params,
    implementation :
        See :class:`fasthmm.base.BaseHMM`; letters "s", "t" and "e".
        ``monitor_`` records the evidence lower bound.

    Attributes
    ----------
    startprob_prior_, startprob_posterior_ : ndarray of shape (n_components,)
    transmat_prior_, transmat_posterior_ : ndarray of shape (n_components, n_components)
    emissionprob_prior_, emissionprob_posterior_ : ndarray of shape (n_components, n_features)
        Dirichlet concentrations.
    startprob_, transmat_, emissionprob_ : ndarray
        Posterior means (read only), used by ``score``, ``decode``, ``sample``.

    Notes
    -----
    Initialisation is hmmlearn's: priors from the arguments; posteriors drawn
    from symmetric Dirichlet distributions and scaled by the number of
    sequences (start), of samples per state (transitions, emissions).
    """

    _emission_class = VariationalCategoricalEmission

    emissionprob_ = _derived(
        "emissionprob_posterior_",
        _normalised("emissionprob_posterior_"),
        "emissionprob_ : posterior mean of the symbol probabilities.",
    )

    def __init__(
        self,
        n_components=1,
        startprob_prior=None,
        transmat_prior=None,
        emissionprob_prior=None,
        n_features=None,
        algorithm="viterbi",
        random_state=None,
        n_iter=100,
        tol=1e-6,
        verbose=False,
        params="ste",
        init_params="ste",
        implementation="log",
    ):
        self._store_constructor_args(locals())

    def _after_fit(self, emission):
        self.n_features = emission.n_features


class VariationalGaussianHMM(VariationalBaseHMM):
    """Gaussian HMM learned by variational Bayes (hmmlearn's ``vhmm``).

    Dirichlet priors and posteriors over the chain; a Normal-Wishart (full,
    tied) or Normal-Gamma (diag, spherical) prior and posterior over each
    state's mean and precision (see :mod:`fasthmm.variational.gaussian`).

    Parameters
    ----------
    n_components : int
    covariance_type : {"spherical", "diag", "full", "tied"}
    startprob_prior, transmat_prior : None, float or ndarray
        See :class:`VariationalCategoricalHMM`.
    means_prior, beta_prior : None or array-like
        Mean (default: the data's mean) and precision scale (default 1) of the
        Normal prior on the means, shapes (n_components, n_features) and
        (n_components,).
    dof_prior, scale_prior : None or array-like
        Degrees of freedom (default ``n_features``; shape (n_components,), a
        number for "tied") and inverse scale (default 1e-3, times the identity
        for "full" and "tied") of the prior on the precisions.
    algorithm, random_state, n_iter, tol, verbose, params, init_params,
    implementation :
        See :class:`fasthmm.base.BaseHMM`; letters "s", "t", "m" (means and
        betas) and "c" (dofs and scales). ``monitor_`` records the evidence
        lower bound.

    Attributes
    ----------
    means_prior_, means_posterior_, beta_prior_, beta_posterior_,
    dof_prior_, dof_posterior_, scale_prior_, scale_posterior_ :
        The priors and posteriors (hmmlearn's names and shapes).
    means_ : ndarray of shape (n_components, n_features)
        ``means_posterior_`` (read only).
    covars_ : ndarray
        ``scale_posterior_ / dof_posterior_`` (read only), in the covariance
        type's own shape as for :class:`fasthmm.GaussianHMM`.

    Notes
    -----
    Initialisation follows hmmlearn: means at k-means centres (fasthmm's
    k-means), ``beta`` and ``dof`` posteriors the cluster sizes, scales from
    the data's covariance. For "spherical" the initial variance is the mean
    of the data's variances (hmmlearn averages every entry of the covariance
    matrix, off-diagonal ones included).
    """

    _emission_class = VariationalGaussianEmission

    means_ = _derived(
        "means_posterior_",
        lambda self: np.asarray(self.means_posterior_, dtype=np.float64),
        "means_ : posterior means of the state means.",
    )
    covars_ = _derived(
        "scale_posterior_",
        lambda self: self._checked_params().emission.params["covars_"],
        "covars_ : covariances at the posterior mean precision.",
    )

    def __init__(
        self,
        n_components=1,
        covariance_type="full",
        startprob_prior=None,
        transmat_prior=None,
        means_prior=None,
        beta_prior=None,
        dof_prior=None,
        scale_prior=None,
        algorithm="viterbi",
        random_state=None,
        n_iter=100,
        tol=1e-6,
        verbose=False,
        params="stmc",
        init_params="stmc",
        implementation="log",
    ):
        self._store_constructor_args(locals())
