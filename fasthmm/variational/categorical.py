"""Categorical emissions with a Dirichlet posterior over each state's row."""

import numpy as np

from ..emissions.categorical import CategoricalEmission
from ._checks import check_optional_prior, check_positive, prior_or_default
from ._divergences import expected_log_dirichlet, kl_dirichlet


class VariationalCategoricalEmission(CategoricalEmission):
    """Dirichlet posteriors over the symbol probabilities of each state.

    The data side (checks, symbol counts) is :class:`CategoricalEmission`'s.
    During a variational fit the E-step reads :meth:`log_likelihood`,
    ``E[log emissionprob]`` under the posterior, and the M-step adds the
    expected symbol counts to the prior.

    Parameters
    ----------
    n_components : int
    params : dict
        ``emissionprob_posterior_`` and ``emissionprob_prior_``, shape
        (n_components, n_features), entries > 0.
    n_features : int, optional
    emissionprob_prior : None, float or ndarray
        What ``emissionprob_prior_`` is initialised to (default
        ``1 / n_features``).
    """

    param_names = {"e": "emissionprob_posterior_"}
    linked_names = {"e": ("emissionprob_prior_",)}
    feature_param = "emissionprob_posterior_"

    def __init__(self, n_components, params, n_features=None, emissionprob_prior=None):
        super().__init__(n_components, params, n_features)
        self.prior = emissionprob_prior

    def check_hyperparameters(self):
        check_optional_prior(
            self.prior, "emissionprob_prior", (self.n_components, self.n_features)
        )
        return self

    def check_param(self, name, value):
        return check_positive(value, name, (self.n_components, self.n_features))

    def log_likelihood(self, X, out=None):
        table = expected_log_dirichlet(self.params["emissionprob_posterior_"]).T
        return np.take(table, X, axis=0, out=out)

    def likelihood(self, X, out):
        return None  # exp(E[log p]) can underflow for tiny concentrations

    @staticmethod
    def initial_stream(random_state):
        """The random stream the initial posterior is drawn from (the model's;
        the hmmlearn namespace restarts it from the seed, as hmmlearn)."""
        return random_state

    def initialize(self, X, letters, random_state):
        if "e" not in letters:
            return {}
        k, d = self.n_components, self.n_features
        prior = prior_or_default(self.prior, 1.0 / d, (k, d))
        stream = self.initial_stream(random_state)
        posterior = np.stack([stream.dirichlet(row) for row in prior])
        return {
            "emissionprob_prior_": prior,
            "emissionprob_posterior_": posterior * X.shape[0] / k,
        }

    def m_step(self, stats, letters):
        if "e" not in letters:
            return {}
        return {
            "emissionprob_posterior_": self.params["emissionprob_prior_"] + stats["obs"]
        }

    def objective_term(self):
        p = self.params
        return -kl_dirichlet(p["emissionprob_posterior_"], p["emissionprob_prior_"])

    def point_estimate(self):
        """:class:`CategoricalEmission` at the posterior means."""
        post = self.params["emissionprob_posterior_"]
        return CategoricalEmission(
            self.n_components,
            {"emissionprob_": post / post.sum(axis=1)[:, None]},
            self.n_features,
        )
