"""The hidden chain as a component: start probabilities and transition matrix.

A model is a :class:`Transitions` plus an emission (:mod:`fasthmm.emissions`).
Everything about the chain lives here: its parameters and their checks, the
Dirichlet priors, initialisation, the M-step from expected counts, the log
prior, the free-parameter count and sampling. Inference reads only
:attr:`Transitions.startprob` and :attr:`Transitions.transmat`, so a later
component (for instance a stack of transition matrices chosen per step by an
input) replaces this class without touching the emissions.
"""

import numpy as np

from ._dirichlet import dirichlet_log_prior, dirichlet_map
from ._kernels import hmm as _kernels
from ._validation import (
    NotFittedError,
    check_random_state,
    check_startprob,
    check_transmat,
)
from .emissions._base import names_by_letter

#: Concentration of the symmetric Dirichlet distribution that initial start
#: and transition probabilities are drawn from (1: uniform over the simplex).
INIT_CONCENTRATION = 1.0


def flush_subnormal(probs):
    """Probabilities below the smallest normal float64 (about 2.2e-308) set to 0.

    EM drives the probability of a transition the data never takes towards 0
    and can land in the subnormal range, where products lose precision and
    inference would have to take the slow exact route. Such an entry carries
    less than 2.2e-308 of its row: setting it to 0 changes no row sum and no
    log-likelihood in float64, and from then on it is a structural zero (EM
    keeps zeros at zero).
    """
    return np.where(probs < np.finfo(np.float64).tiny, 0.0, probs)


def require_set(params):
    """Raise :class:`NotFittedError` naming the chain parameters not set.

    Parameters
    ----------
    params : dict
        Attribute name -> value (None: not set).
    """
    missing = [n for n, v in params.items() if v is None]
    if missing:
        raise NotFittedError(
            f"{' and '.join(missing)} not set: call fit first, or set them "
            "by hand and leave their letters out of init_params"
        )


class Transitions:
    """Start probabilities and one transition matrix, with Dirichlet priors.

    Parameters
    ----------
    n_components : int
    startprob : ndarray of shape (n_components,) or None
    transmat : ndarray of shape (n_components, n_components) or None
        ``None`` marks a parameter not set yet.
    startprob_prior : float or ndarray of shape (n_components,)
        Dirichlet concentration (1: no prior); checked by the model.
    transmat_prior : float or ndarray of shape (n_components, n_components)
        Dirichlet concentration of each row.
    """

    #: Parameter letter -> model attribute.
    param_names = {"s": "startprob_", "t": "transmat_"}
    #: Parameter letter -> further attributes it owns (see ``Emission``).
    linked_names = {}

    def __init__(
        self, n_components, startprob, transmat, startprob_prior=1.0, transmat_prior=1.0
    ):
        self.n_components = n_components
        self.startprob = startprob
        self.transmat = transmat
        self.startprob_prior = startprob_prior
        self.transmat_prior = transmat_prior

    @property
    def params(self):
        """Parameters by model attribute name."""
        return {"startprob_": self.startprob, "transmat_": self.transmat}

    def _replace(self, startprob, transmat):
        return Transitions(
            self.n_components,
            startprob,
            transmat,
            self.startprob_prior,
            self.transmat_prior,
        )

    def bound(self, w):
        """This chain for a batch with ``transition_inputs`` ``w``: a
        stationary chain takes none (the model refuses them before)."""
        if w is not None:
            raise ValueError("transition_inputs: this chain is stationary")
        return self

    def require(self):
        """Raise :class:`NotFittedError` unless every parameter is set."""
        require_set(self.params)

    def checked(self):
        """The component with both parameters checked (float64, rows sum to 1).

        Raises
        ------
        NotFittedError
            When a parameter is not set.
        ValueError
            Naming the parameter that is invalid.
        """
        self.require()
        k = self.n_components
        return self._replace(
            check_startprob(self.startprob, k, "startprob_"),
            check_transmat(self.transmat, k, "transmat_"),
        )

    @classmethod
    def names_by_letter(cls):
        """``params`` letter -> tuple of the attribute names it owns."""
        return names_by_letter(cls)

    def initialized(self, letters, starts=None, random_state=None):
        """Random start and transition probabilities for the letters given.

        ``startprob`` and each row of ``transmat`` are drawn from a symmetric
        Dirichlet distribution of concentration :data:`INIT_CONCENTRATION`
        (uniform over the probability simplex), so that fits from different
        seeds start from different chains (restarts explore) while no entry
        starts near zero often enough to trap EM, as hmmlearn's concentration
        ``1 / n_components`` does (its draws are nearly one-hot).

        Parameters
        ----------
        letters : str
        starts : ndarray, optional
            The data's sequence bounds; unused here.
        random_state : None, int, numpy.random.RandomState or Generator
            As the models' ``random_state`` (None: NumPy's global state).

        Returns
        -------
        Transitions
        """
        k = self.n_components
        rng = check_random_state(random_state)
        alpha = np.full(k, INIT_CONCENTRATION)
        return self._replace(
            rng.dirichlet(alpha) if "s" in letters else self.startprob,
            rng.dirichlet(alpha, size=k) if "t" in letters else self.transmat,
        )

    def m_step(self, start_counts, trans_counts, letters):
        """MAP update from expected counts of the letters given.

        Parameters
        ----------
        start_counts : ndarray of shape (n_components,)
        trans_counts : ndarray of shape (n_components, n_components)
        letters : str

        Returns
        -------
        Transitions
        """
        startprob, transmat = self.startprob, self.transmat
        if "s" in letters:
            startprob = flush_subnormal(
                dirichlet_map(start_counts, self.startprob_prior, startprob)
            )
        if "t" in letters:
            transmat = flush_subnormal(
                dirichlet_map(trans_counts, self.transmat_prior, transmat)
            )
        return self._replace(startprob, transmat)

    def log_prior(self):
        """Log density of the Dirichlet priors at the current parameters."""
        return dirichlet_log_prior(
            self.startprob, self.startprob_prior
        ) + dirichlet_log_prior(self.transmat, self.transmat_prior)

    def objective_term(self):
        """What the EM objective adds to the log-likelihood: the log prior."""
        return self.log_prior()

    def n_free_parameters(self):
        """Free scalars of the chain (counted whether trained or frozen)."""
        k = self.n_components
        return (k - 1) + k * (k - 1)

    def sample(self, n_samples, random_state, first_state=None):
        """Draw a state path.

        Parameters
        ----------
        n_samples : int
        random_state : numpy.random.Generator or RandomState
        first_state : int, optional
            Fixed first state; drawn from ``startprob`` when omitted.

        Returns
        -------
        states : ndarray of shape (n_samples,), int64
        """
        start = self.startprob
        if first_state is not None:
            start = np.zeros(self.n_components)
            start[first_state] = 1.0
        states = np.empty(n_samples, dtype=np.int64)
        _kernels.sample_states(
            np.cumsum(start),
            np.cumsum(self.transmat, axis=1),
            random_state.random(n_samples),
            states,
        )
        return states
