"""The parts of hmmlearn's model API that are not about HMMs themselves.

:class:`HmmlearnAPI` is a base of every model. It gathers what scripts and
tools written for hmmlearn use besides fit/score/decode:

- ``get_stationary_distribution()``;
- scikit-learn's estimator protocol (``__sklearn_tags__``), so that
  ``Pipeline``, ``cross_val_score``, ``GridSearchCV`` and ``clone`` accept the
  models; scikit-learn is imported only when it asks, never by fasthmm;
- hmmlearn's private hooks that its own tests and some user code call:
  ``_init`` (initialise the parameters named in ``init_params`` from X),
  ``_check`` (check every parameter), ``_check_and_set_n_features`` and
  ``_covars_`` (the covariances in their stored shape);
- the two log messages hmmlearn writes when initialising (logger
  ``"fasthmm"``): a parameter that is set but named in ``init_params`` is
  overwritten, and fewer data values than free parameters.
"""

import logging

import numpy as np

from ._validation import NotFittedError

_log = logging.getLogger("fasthmm")


def letters_to_initialize(model, emission, n_values):
    """Letters of the parameters to initialise from data before a fit.

    Those in ``init_params``, plus (as hmmlearn) every parameter that is not
    set; logs hmmlearn's warnings: a set parameter is about to be overwritten,
    or the data has fewer values than the parameters to fit.

    Parameters
    ----------
    model : BaseHMM
    emission : Emission
        With ``n_features`` known.
    n_values : int or None
        Number of scalars in the data; None: no warning about it.

    Returns
    -------
    letters : str
    """
    letters = ""
    names = {
        **model._chain_class().names_by_letter(),
        **emission.names_by_letter(),
    }
    for letter, attributes in names.items():
        values = [getattr(model, name, None) for name in attributes]
        if letter in model.init_params:
            for name, value in zip(attributes, values):
                if value is not None:
                    _log.warning(
                        "Even though the %r attribute is set, it will be "
                        "overwritten during initialization because 'init_params' "
                        "contains %r",
                        name,
                        letter,
                    )
            letters += letter
        elif any(value is None for value in values):
            letters += letter
    k = model.n_components
    n_fit = emission.n_free_parameters(model.params)
    n_fit += (k - 1) * ("s" in model.params) + k * (k - 1) * ("t" in model.params)
    if n_values is not None and n_values < n_fit:
        _log.warning(
            "Fitting a model with %d free scalar parameters with only %d data "
            "points will result in a degenerate solution.",
            n_fit,
            n_values,
        )
    return letters


class HmmlearnAPI:
    """hmmlearn's model API beyond inference and learning (see module doc)."""

    def get_stationary_distribution(self):
        """Stationary distribution of the hidden chain.

        The left eigenvector of ``transmat_`` for its largest eigenvalue (1),
        normalised to sum to 1 (as hmmlearn).

        Returns
        -------
        pi : ndarray of shape (n_components,)
        """
        transitions = self._checked_transitions()
        eigvals, eigvecs = np.linalg.eig(transitions.transmat.T)
        vec = np.real_if_close(eigvecs[:, np.argmax(eigvals.real)])
        return vec / vec.sum()

    def _checked_transitions(self):
        if getattr(self, "transmat_", None) is None:
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet: call fit first"
            )
        return self._checked_params().transitions

    # -- scikit-learn's estimator protocol -------------------------------------
    def __sklearn_tags__(self):
        """scikit-learn's default estimator tags (an unsupervised estimator)."""
        from sklearn.base import BaseEstimator

        return BaseEstimator.__sklearn_tags__(self)

    # -- hmmlearn's private hooks ------------------------------------------------
    def _check(self):
        """Check every parameter, as hmmlearn's ``_check``; raises ValueError."""
        self._checked_params()

    def _check_and_set_n_features(self, X):
        """Check ``X`` for this model and set ``n_features`` from it if unknown.

        ``n_features`` counts only when given to the constructor or set by
        hand (as in hmmlearn), not when read off the current parameters.
        """
        emission = self._check_hyperparameters()
        emission = emission.updated(dict.fromkeys(emission.params))
        emission._n_features = self.__dict__.get("_n_features")
        X, _ = self._read_data(emission, X, None)
        emission.with_data(X)
        self.n_features = emission.n_features
        self._after_check_X(X)

    def _after_check_X(self, X):
        """Hook: attributes hmmlearn derives from checked data (n_trials)."""

    def _init(self, X, lengths=None):
        """Initialise parameters from ``X`` as fit would, without fitting.

        ``lengths`` matters only to the variational models (their initial
        posteriors scale with the numbers of sequences and samples).
        """
        emission = self._check_hyperparameters()
        X, starts = self._read_data(emission, X, lengths)
        emission.with_data(X)
        emission.check_hyperparameters()
        self._after_check_X(X)
        params = self._initialized(emission, X, starts)
        for name, value in params.as_dict().items():
            setattr(self, name, value)

    @property
    def _covars_(self):
        """hmmlearn's stored covariances: ``covars_`` in its own shape."""
        try:
            return self.covars_
        except AttributeError:
            raise AttributeError(f"{type(self).__name__} has no covariances") from None

    @_covars_.setter
    def _covars_(self, value):
        self.covars_ = value
