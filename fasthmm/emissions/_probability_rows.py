"""What the categorical and multinomial families share: one probability row
over ``n_features`` outcomes per state, ``emissionprob_``, under a Dirichlet
prior."""

from .._dirichlet import dirichlet_log_prior, dirichlet_rows
from .._validation import check_prior, check_stochastic_rows
from ._base import Emission


class ProbabilityRowsEmission(Emission):
    """An emission whose parameter is ``emissionprob_``, rows summing to 1.

    Subclasses call ``super().__init__(n_components, params, n_features,
    emissionprob_prior)`` and add how samples are read, scored, counted
    (``suff_stats`` must return ``{"obs": (n_components, n_features)}``
    expected outcome counts) and drawn.

    Parameters
    ----------
    n_components : int
    params : dict
        ``"emissionprob_"``: ndarray of shape (n_components, n_features).
    n_features : int or None
    emissionprob_prior : float or ndarray of shape (n_components, n_features)
        Dirichlet concentration of each row (1 means no prior).
    """

    param_names = {"e": "emissionprob_"}
    feature_param = "emissionprob_"
    feature_param_ndim = 2

    def __init__(self, n_components, params, n_features=None, emissionprob_prior=1.0):
        super().__init__(n_components, params, n_features)
        self.prior = check_prior(
            emissionprob_prior, "emissionprob_prior", kind="concentration"
        )

    def check_hyperparameters(self):
        self.prior = check_prior(
            self.prior,
            "emissionprob_prior",
            (self.n_components, self.n_features),
            strict=True,
            kind="concentration",
        )
        return self

    def check_param(self, name, value):
        if value is getattr(self, "_made_valid", None):
            return value  # the M-step's own result, valid by construction
        return check_stochastic_rows(value, (self.n_components, self.n_features), name)

    def initialize(self, X, letters, random_state):
        if "e" not in letters:
            return {}
        ep = random_state.random((self.n_components, self.n_features))
        return {"emissionprob_": ep / ep.sum(axis=1, keepdims=True)}

    def m_step(self, stats, letters):
        if "e" not in letters:
            return {}
        current = self.params["emissionprob_"]
        new, valid = dirichlet_rows(stats["obs"], self.prior, current)
        # the copy that will hold it (``updated``) skips checking it again
        self._made_valid = new if valid else None
        return {"emissionprob_": new}

    def log_prior(self):
        return dirichlet_log_prior(self.params["emissionprob_"], self.prior)

    def n_free_parameters(self, letters):
        return self.n_components * (self.n_features - 1) if "e" in letters else 0
