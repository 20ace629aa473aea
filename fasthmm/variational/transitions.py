"""The hidden chain of a variational model: Dirichlet posteriors over the start
probabilities and the rows of the transition matrix.

What inference reads from it during a variational fit (:attr:`startprob`,
:attr:`transmat`) are the sub-normalised parameters ``exp(E[log p])`` under
the posterior; the EM loop's M-step (:meth:`VariationalTransitions.m_step`)
adds the expected counts to the prior, and :meth:`objective_term` is minus the
KL divergence of the posterior from the prior.
"""

from functools import cached_property

import numpy as np

from ..emissions._base import names_by_letter
from ..transitions import Transitions, require_set
from ._checks import check_positive, prior_or_default
from ._divergences import expected_log_dirichlet, kl_dirichlet


class VariationalTransitions:
    """Dirichlet posteriors over ``startprob`` and each row of ``transmat``.

    Parameters
    ----------
    n_components : int
    params : dict
        ``startprob_posterior_``, ``startprob_prior_`` (shape (n_components,)),
        ``transmat_posterior_``, ``transmat_prior_`` (shape (n_components,
        n_components)): Dirichlet concentrations; a missing or None entry is
        not set yet.
    startprob_prior, transmat_prior : None, float or ndarray
        The model's constructor arguments: the concentrations
        ``startprob_prior_`` and ``transmat_prior_`` are initialised to
        (default ``1 / n_components``).
    """

    param_names = {"s": "startprob_posterior_", "t": "transmat_posterior_"}
    linked_names = {"s": ("startprob_prior_",), "t": ("transmat_prior_",)}

    def __init__(self, n_components, params, startprob_prior=None, transmat_prior=None):
        self.n_components = n_components
        self.params = {
            name: params.get(name)
            for names in self.names_by_letter().values()
            for name in names
        }
        self.startprob_prior = startprob_prior
        self.transmat_prior = transmat_prior

    @classmethod
    def names_by_letter(cls):
        """``params`` letter -> tuple of the attribute names it owns."""
        return names_by_letter(cls)

    def _replace(self, new):
        return VariationalTransitions(
            self.n_components,
            {**self.params, **new},
            self.startprob_prior,
            self.transmat_prior,
        )

    # -- what inference reads during a variational fit ---------------------------
    @cached_property
    def startprob(self):
        """exp(E[log startprob]) under the posterior (sums to less than 1)."""
        with np.errstate(under="ignore"):  # an unused state's entry may be 0
            return np.exp(expected_log_dirichlet(self.params["startprob_posterior_"]))

    @cached_property
    def transmat(self):
        """exp(E[log transmat]) under the posterior (rows sum to less than 1)."""
        with np.errstate(under="ignore"):
            return np.ascontiguousarray(
                np.exp(expected_log_dirichlet(self.params["transmat_posterior_"]))
            )

    def point_estimate(self):
        """:class:`~fasthmm.transitions.Transitions` at the posterior means."""
        s = self.params["startprob_posterior_"]
        t = self.params["transmat_posterior_"]
        return Transitions(self.n_components, s / s.sum(), t / t.sum(axis=1)[:, None])

    # -- checks and initialisation -----------------------------------------------
    def require(self):
        """Raise :class:`NotFittedError` unless every parameter is set."""
        require_set(self.params)

    def checked(self):
        """The component with every parameter checked (float64, entries > 0).

        Raises
        ------
        NotFittedError
            When a parameter is not set.
        ValueError
            Naming the parameter of the wrong shape or with an entry <= 0.
        """
        self.require()
        k = self.n_components
        shapes = {"startprob": (k,), "transmat": (k, k)}
        return self._replace(
            {
                name: check_positive(value, name, shapes[name.split("_")[0]])
                for name, value in self.params.items()
            }
        )

    def initialized(self, letters, starts=None, random_state=None):
        """hmmlearn's initial priors and posteriors for the letters given.

        Priors: the constructor's argument, or ``1 / n_components``.
        Posteriors: a draw from a symmetric Dirichlet(1 / n_components), scaled
        by the number of sequences (start) or of samples per state (rows of
        the transitions).
        """
        k = self.n_components
        uniform = 1.0 / k
        new = {}
        if "s" in letters:
            new["startprob_prior_"] = prior_or_default(
                self.startprob_prior, uniform, (k,)
            )
            new["startprob_posterior_"] = random_state.dirichlet(
                np.full(k, uniform)
            ) * (starts.shape[0] - 1)
        if "t" in letters:
            new["transmat_prior_"] = prior_or_default(
                self.transmat_prior, uniform, (k, k)
            )
            new["transmat_posterior_"] = (
                random_state.dirichlet(np.full(k, uniform), size=k) * starts[-1] / k
            )
        return self._replace(new)

    # -- learning -------------------------------------------------------------
    def m_step(self, start_counts, trans_counts, letters):
        """Posterior = prior + expected counts, for the letters given."""
        new = {}
        if "s" in letters:
            new["startprob_posterior_"] = self.params["startprob_prior_"] + start_counts
        if "t" in letters:
            new["transmat_posterior_"] = self.params["transmat_prior_"] + trans_counts
        return self._replace(new)

    def objective_term(self):
        """Minus the KL divergence of the posteriors from the priors."""
        p = self.params
        return -kl_dirichlet(
            p["startprob_posterior_"], p["startprob_prior_"]
        ) - kl_dirichlet(p["transmat_posterior_"], p["transmat_prior_"])

    def n_free_parameters(self):
        """Free scalars of the chain (as for the point estimate)."""
        k = self.n_components
        return (k - 1) + k * (k - 1)
