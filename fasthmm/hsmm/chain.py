"""The semi-Markov chain as a component: start, jumps between segments, durations.

It plays the part :class:`fasthmm.transitions.Transitions` plays in an HMM
(same letters "s" and "t", plus "d" for the durations), so a hidden
semi-Markov model is any emission family with this chain. ``transmat`` gives
the next segment's state and has a zero diagonal (a state never follows
itself: its persistence is its duration).
"""

import numpy as np

from .._dirichlet import dirichlet_log_prior, dirichlet_map
from .._validation import (
    as_float_array,
    check_allocation,
    check_random_state,
    check_startprob,
    check_stochastic_rows,
    check_transmat,
)
from ..emissions._base import names_by_letter
from ..transitions import INIT_CONCENTRATION, require_set
from . import durations

#: Largest absolute diagonal entry of ``transmat_`` accepted as zero.
DIAGONAL_ATOL = 1e-12


class SemiMarkovChain:
    """Start probabilities, jump matrix and duration distributions.

    Parameters
    ----------
    n_components : int (>= 2)
    max_duration : int (>= 1)
    kind : {"nonparametric", "poisson", "negbinom"}
    params : dict
        Current values by attribute name (None: not set): ``startprob_``,
        ``transmat_`` and the kind's duration parameters
        (:func:`fasthmm.hsmm.durations.names_of`).
    startprob_prior, transmat_prior, durationprob_prior : float or ndarray
        Dirichlet concentrations (1: no prior), checked by the model.
    """

    param_names = {"s": "startprob_", "t": "transmat_", "d": "durationprob_"}
    linked_names = {}

    def __init__(
        self,
        n_components,
        max_duration,
        kind,
        params,
        startprob_prior=1.0,
        transmat_prior=1.0,
        durationprob_prior=1.0,
    ):
        self.n_components = n_components
        self.max_duration = max_duration
        self.kind = kind
        names = ("startprob_", "transmat_") + durations.names_of(kind)
        self.params = {name: params.get(name) for name in names}
        self.startprob_prior = startprob_prior
        self.transmat_prior = transmat_prior
        self.durationprob_prior = durationprob_prior

    @classmethod
    def names_by_letter(cls):
        return names_by_letter(cls)

    def _replace(self, **new):
        clone = SemiMarkovChain(
            self.n_components,
            self.max_duration,
            self.kind,
            {**self.params, **new},
            self.startprob_prior,
            self.transmat_prior,
            self.durationprob_prior,
        )
        return clone

    @property
    def startprob(self):
        return self.params["startprob_"]

    @property
    def transmat(self):
        return self.params["transmat_"]

    @property
    def pmf(self):
        """Duration probabilities, shape (n_components, max_duration)."""
        return durations.pmf_of(self.kind, self.max_duration, self.params)

    # -- checks -----------------------------------------------------------------
    def require(self):
        require_set(self.params)

    def checked(self):
        """The chain with every parameter checked and converted to float64."""
        self.require()
        k, dmax = self.n_components, self.max_duration
        new = {
            "startprob_": check_startprob(self.startprob, k, "startprob_"),
            "transmat_": check_jumps(self.transmat, k),
        }
        if self.kind == "nonparametric":
            new["durationprob_"] = check_stochastic_rows(
                self.params["durationprob_"], (k, dmax), "durationprob_"
            )
        for name in durations.names_of(self.kind)[self.kind == "nonparametric" :]:
            new[name] = check_positive(self.params[name], (k,), name)
        return self._replace(**new)

    # -- learning ---------------------------------------------------------------
    def initialized(self, letters, starts=None, random_state=None):
        """Random start and jump probabilities (Dirichlet, zero diagonal), and
        the durations of :func:`fasthmm.hsmm.durations.initial`."""
        k = self.n_components
        rng = check_random_state(random_state)
        new = {}
        if "s" in letters:
            new["startprob_"] = rng.dirichlet(np.full(k, INIT_CONCENTRATION))
        if "t" in letters:
            jumps = np.zeros((k, k))
            off = ~np.eye(k, dtype=bool)
            jumps[off] = rng.dirichlet(
                np.full(k - 1, INIT_CONCENTRATION), size=k
            ).ravel()
            new["transmat_"] = jumps
        if "d" in letters:
            new.update(durations.initial(self.kind, k, self.max_duration))
        return self._replace(**new)

    def m_step(self, start_counts, counts, letters):
        """MAP update of the letters given from expected counts.

        Called by :func:`fasthmm.em.maximize` with the statistics of an
        E-step under this chain, as :meth:`fasthmm.transitions.Transitions.m_step`
        is (the chain's counts are :class:`SegmentCounts` instead of a
        matrix of transition counts).

        Parameters
        ----------
        start_counts : ndarray of shape (n_components,)
        counts : SegmentCounts
        letters : str
        """
        new = {}
        jump_counts = counts.jumps
        if "s" in letters:
            new["startprob_"] = dirichlet_map(
                start_counts, self.startprob_prior, self.startprob
            )
        if "t" in letters:
            new["transmat_"] = dirichlet_map(
                jump_counts, self.transmat_prior, self.transmat
            )
        if "d" in letters:
            new.update(
                durations.m_step(
                    self.kind,
                    full_durations(counts.complete, counts.censored, self.pmf),
                    self.params,
                    self.durationprob_prior,
                )
            )
        return self._replace(**new)

    def log_prior(self):
        value = dirichlet_log_prior(self.startprob, self.startprob_prior)
        value += dirichlet_log_prior(self.transmat, self.transmat_prior)
        if self.kind == "nonparametric":
            value += dirichlet_log_prior(
                self.params["durationprob_"], self.durationprob_prior
            )
        return value

    def objective_term(self):
        return self.log_prior()

    def n_free_parameters(self):
        k = self.n_components
        return (
            (k - 1)
            + k * (k - 2)
            + durations.n_free_parameters(self.kind, k, self.max_duration)
        )

    # -- expansion --------------------------------------------------------------
    def expanded(self):
        """The chain as a Markov chain over (state, steps spent in the segment).

        Expanded state ``j * max_duration + d - 1`` is the ``d``-th step of a
        segment of state ``j``. It stays in the segment with probability
        ``P(duration > d | duration >= d)`` and otherwise jumps to the first
        step of a segment drawn from ``transmat``; the first segment starts
        at its first step. An HMM with this chain and each state's emission
        repeated ``max_duration`` times has the semi-Markov model's
        likelihood (the last segment right-censored) and, summed over ``d``,
        its filtered probabilities.

        Returns
        -------
        startprob : ndarray of shape (n_components * max_duration,)
        transmat : ndarray of shape (n_components * max_duration,) * 2
        """
        k, dmax = self.n_components, self.max_duration
        check_allocation((k * dmax, k * dmax), "max_duration", dmax, "expanded chain")
        surv = durations.survival(self.pmf)  # P(duration >= d), d = 1..dmax
        stay = np.zeros((k, dmax))
        with np.errstate(divide="ignore", invalid="ignore"):
            stay[:, :-1] = np.where(surv[:, :-1] > 0, surv[:, 1:] / surv[:, :-1], 0.0)
        stay = np.clip(stay, 0.0, 1.0)
        trans = np.zeros((k, dmax, k, dmax))
        d = np.arange(dmax - 1)
        for j in range(k):
            trans[j, d, j, d + 1] = stay[j, :-1]
            trans[j, :, :, 0] = (1.0 - stay[j])[:, None] * self.transmat[j]
        start = np.zeros((k, dmax))
        start[:, 0] = self.startprob
        return start.ravel(), trans.reshape(k * dmax, k * dmax)

    # -- sampling ---------------------------------------------------------------
    def sample(self, n_samples, random_state, first_state=None):
        """A state path drawn segment by segment (the last one cut at
        ``n_samples``).

        Returns
        -------
        states : ndarray of shape (n_samples,), int64
        """
        pmf = self.pmf
        states = np.empty(n_samples, dtype=np.int64)
        if first_state is None:
            j = _draw(self.startprob, random_state)
        else:
            j = first_state
        t = 0
        while t < n_samples:
            d = durations.sample(pmf[j], random_state)
            states[t : t + d] = j
            t += d
            j = _draw(self.transmat[j], random_state)
        return states


class SegmentCounts:
    """Expected counts of the chain beyond the first states; they add up.

    Attributes
    ----------
    jumps : ndarray of shape (n_components, n_components)
        Expected jumps from one segment's state to the next one's.
    complete : ndarray of shape (n_components, max_duration)
        Expected complete segments of each duration.
    censored : ndarray of shape (n_components, max_duration)
        Expected last segments observed for each number of steps.
    """

    def __init__(self, jumps, complete, censored):
        self.jumps = jumps
        self.complete = complete
        self.censored = censored

    def __add__(self, other):
        if not isinstance(other, SegmentCounts):
            return NotImplemented
        return SegmentCounts(
            self.jumps + other.jumps,
            self.complete + other.complete,
            self.censored + other.censored,
        )


def _draw(probs, random_state):
    u = random_state.random() * probs.sum()
    return min(int(np.searchsorted(np.cumsum(probs), u, side="right")), len(probs) - 1)


def check_jumps(transmat, n_components):
    """Check a jump matrix: row-stochastic with a zero diagonal."""
    a = check_transmat(transmat, n_components, "transmat_")
    diag = np.abs(np.diagonal(a))
    if np.any(diag > DIAGONAL_ATOL):
        i = int(np.argmax(diag))
        raise ValueError(
            "transmat_ of a semi-Markov model must have a zero diagonal (a "
            "state's persistence is its duration), got "
            f"transmat_[{i}, {i}] = {a[i, i]}"
        )
    if np.any(np.diagonal(a) != 0.0):
        a = a.copy()
        np.fill_diagonal(a, 0.0)
    return a


def check_positive(value, shape, name):
    """A finite, strictly positive float64 array of the given shape."""
    arr = as_float_array(value, name)
    if arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got shape {arr.shape}")
    if not np.all(arr > 0):
        raise ValueError(f"{name} must be positive, got {arr}")
    return arr


def full_durations(complete, censored, pmf):
    """Expected full durations: complete segments, plus the censored last
    segments' durations drawn from the duration distribution given that they
    last at least as long as observed (the full duration is a latent
    variable, which keeps the M-step closed-form and EM monotone).

    Parameters
    ----------
    complete, censored : ndarray of shape (n_components, max_duration)
        Expected numbers of complete segments of each duration, and of last
        segments observed for each number of steps.
    pmf : ndarray of shape (n_components, max_duration)

    Returns
    -------
    counts : ndarray of shape (n_components, max_duration)
    """
    surv = durations.survival(pmf)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_survivor = np.where(surv > 0, censored / surv, 0.0)
    return complete + pmf * np.cumsum(per_survivor, axis=1)
