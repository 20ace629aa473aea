"""EM, written once: E-step -> mergeable statistics -> M-step.

:func:`expected_stats` is the E-step of one batch: a pure function of the
parameters and the data that returns :class:`fasthmm.stats.Stats`.
:func:`maximize` turns summed statistics into new parameters, and
:func:`run_em` is the loop: it asks for statistics, monitors the objective
and returns the final parameters; the model commits them. Only how the
statistics are produced varies (``e_fn``): one in-memory batch, blocks of a
larger data set summed in order, or partitions on other machines.
"""

import sys
from typing import NamedTuple

import numpy as np

from ._progress import Progress
from .emissions import Emission
from .inference import Workspace, e_step, first_impossible
from .stats import Stats
from .transitions import Transitions


class Params(NamedTuple):
    """A model's parameters: the hidden chain and the emission family."""

    transitions: Transitions
    emission: Emission

    @property
    def n_components(self):
        return self.transitions.n_components

    def log_prior(self):
        """Log prior density of both components (up to a constant)."""
        return self.transitions.log_prior() + self.emission.log_prior()

    def objective_term(self):
        """What the EM objective adds to the log-likelihood: the log prior
        density for point estimates, minus the KL divergence of the posterior
        from the prior for variational posteriors (the objective is then the
        evidence lower bound)."""
        return self.transitions.objective_term() + self.emission.objective_term()

    def bound(self, w):
        """The parameters with the chain bound to a batch's ``transition_inputs``
        (``w`` None: unchanged)."""
        if w is None:
            return self
        return Params(self.transitions.bound(w), self.emission)

    def as_dict(self):
        """Every parameter by model attribute name."""
        return {**self.transitions.params, **self.emission.params}


class ConvergenceMonitor:
    """Tracks the EM objective and decides when EM has converged.

    Parameters
    ----------
    tol : float
        EM stops when the objective improves by less than ``tol``.
    n_iter : int
        Maximum number of iterations.
    verbose : bool
        Print one line per iteration to stderr.

    Attributes
    ----------
    history : list of float
        The EM objective before each M-step (log-likelihood plus log prior
        density; for the variational models, the evidence lower bound); it
        never decreases.
    iter : int
        Number of iterations done.
    """

    _template = "{iter:>10d} {objective:>16.8f} {delta:>+16.8f}"

    def __init__(self, tol, n_iter, verbose):
        self.tol = tol
        self.n_iter = n_iter
        self.verbose = verbose
        self.history = []
        self.iter = 0
        # Shown only when the fit runs long (see fasthmm._progress).
        self._progress = Progress(n_iter, "EM", quiet=bool(verbose))

    def __repr__(self):
        return (
            f"ConvergenceMonitor(tol={self.tol!r}, n_iter={self.n_iter!r}, "
            f"iter={self.iter}, converged={self.converged}, history={self.history})"
        )

    def report(self, objective):
        """Record the objective of one iteration."""
        if self.verbose:
            delta = objective - self.history[-1] if self.history else np.nan
            print(
                self._template.format(
                    iter=self.iter + 1, objective=objective, delta=delta
                ),
                file=sys.stderr,
            )
        self.history.append(float(objective))
        self.iter += 1
        done = self.iter if not self.converged else self.n_iter
        if self.iter == 1:  # the first iteration may include Numba compilation
            self._progress.restart_clock()
        self._progress.update(done, f"objective {objective:.6g}")

    def measure(self, params, stats):
        """The value recorded for one iteration: the EM objective."""
        return objective(params, stats)

    @property
    def converged(self):
        """True when the last improvement was below ``tol``."""
        return len(self.history) >= 2 and self.history[-1] - self.history[-2] < self.tol


def expected_stats(params, X, starts, clamp=None, ws=None, w=None):
    """E-step of one batch: expected sufficient statistics under ``params``.

    Parameters
    ----------
    params : Params
        Checked parameters.
    X : ndarray
        Checked samples of the batch.
    starts : ndarray of shape (n_sequences + 1,), int64
    clamp : fasthmm.inference.Clamp, optional
        Known states.
    ws : fasthmm.inference.Workspace, optional
        Scratch buffers for this batch, reused across iterations; allocated
        when omitted. Only scratch: the result does not depend on it.
    w : ndarray of shape (n_samples, n_transition_inputs), optional
        The batch's ``transition_inputs`` (input-driven transitions only).

    Returns
    -------
    Stats

    Raises
    ------
    ValueError
        When a sequence has zero probability under ``params``.
    """
    transitions = params.bound(w).transitions
    if ws is None:
        ws = Workspace(starts, params.n_components)
    ws.load(params.emission, X, clamp)
    ll, trans, start = e_step(ws, transitions.startprob, transitions.transmat)
    if w is not None:  # per-step counts, read by the chain's regression
        trans = transitions.counts(trans)
    bad = first_impossible(ll)
    if bad is not None:
        raise ValueError(
            f"fit stopped: sequence {bad} has zero probability under the "
            "current parameters (log-likelihood -inf; check zeros in startprob_, "
            "transmat_, the emissions or contradictory labels); the model's "
            "parameters are unchanged"
        )
    return Stats(
        start=start,
        trans=trans,
        emission=_suff_stats(params.emission, X, ws.post),
        log_likelihood=float(ll.sum()),
        n_sequences=starts.shape[0] - 1,
        n_samples=X.shape[0],
    )


def _suff_stats(emission, X, weights):
    """The emission's statistics; overflow (sums of squares of data near the
    float64 range) gives infinities that the M-step's check reports as an
    error, not a warning."""
    with np.errstate(over="ignore", invalid="ignore"):
        return emission.suff_stats(X, weights)


def labelled_stats(params, X, starts, labels, w=None):
    """Sufficient statistics of fully labelled sequences (one-hot posteriors).

    ``log_likelihood`` is left at 0: the objective of a labelled fit is the
    joint log-likelihood at the estimated parameters, computed afterwards.

    Parameters
    ----------
    params : Params
    X : ndarray
    starts : ndarray of shape (n_sequences + 1,), int64
    labels : ndarray of shape (n_samples,), int64
        Every state known.
    w : ndarray of shape (n_samples, n_transition_inputs), optional
        The batch's ``transition_inputs`` (input-driven transitions only).

    Returns
    -------
    Stats
    """
    k = params.n_components
    onehot = np.zeros((X.shape[0], k))
    onehot[np.arange(X.shape[0]), labels] = 1.0
    inner = np.ones(X.shape[0] - 1, dtype=bool)
    inner[starts[1:-1] - 1] = False  # pairs that cross a sequence boundary
    if w is None:
        trans = np.zeros((k, k))
        np.add.at(trans, (labels[:-1][inner], labels[1:][inner]), 1.0)
    else:  # counts per step, for the chain's regression on the inputs
        steps = np.flatnonzero(inner) + 1
        trans = np.zeros((X.shape[0], k, k))
        trans[steps, labels[steps - 1], labels[steps]] = 1.0
        trans = params.bound(w).transitions.counts(trans)
    return Stats(
        start=onehot[starts[:-1]].sum(axis=0),
        trans=trans,
        emission=_suff_stats(params.emission, X, onehot),
        n_sequences=starts.shape[0] - 1,
        n_samples=X.shape[0],
    )


def maximize(params, stats, letters):
    """M-step: the parameters named by ``letters`` that maximise the objective.

    Parameters
    ----------
    params : Params
        The parameters of the E-step (kept for letters not given, and for
        states that received no posterior mass).
    stats : Stats
    letters : str

    Returns
    -------
    Params

    Raises
    ------
    ValueError
        When the update fails the checks of parameters set by hand
        (:func:`check_update`; the caller keeps its parameters).
    """
    # Overflow here (data near the float64 range) is not reported as a
    # warning: it gives a non-finite or invalid parameter, raised below.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        transitions = params.transitions.m_step(stats.start, stats.trans, letters)
        emission = params.emission.updated(
            params.emission.m_step(stats.emission, letters)
        )
    new = Params(transitions, emission)
    check_update(new)
    return new


def check_update(params):
    """Check updated parameters exactly as parameters set by hand are checked.

    Raises
    ------
    ValueError
        Naming the parameter that fails (non-finite, not positive definite,
        rows not summing to 1, ...); the caller keeps its parameters.
    """
    for component in (params.transitions, params.emission):
        try:
            component.checked()
        except ValueError as exc:
            raise ValueError(
                "fit stopped: the M-step produced parameters that fail their "
                f"check: {exc}. X may be too large in magnitude for float64 "
                "arithmetic (rescale it, e.g. standardise each feature) or the "
                "priors extreme; the model's parameters are unchanged"
            ) from None


def objective(params, stats):
    """The EM objective: log-likelihood plus :meth:`Params.objective_term`
    (the log prior density, or minus a variational posterior's KL divergence
    from its prior, which makes it the evidence lower bound)."""
    return stats.log_likelihood + params.objective_term()


def run_em(e_fn, params, letters, monitor):
    """The EM loop.

    Parameters
    ----------
    e_fn : callable ``Params -> Stats``
        Produces the statistics of all the data under the given parameters
        (summed in a fixed order when they come in pieces).
    params : Params
        Starting parameters, checked.
    letters : str
        Parameters to update; the others stay as they are.
    monitor : ConvergenceMonitor
        Receives the objective of each iteration and decides when to stop.

    Returns
    -------
    Params
        The parameters after the last M-step.
    """
    for _ in range(monitor.n_iter):
        stats = e_fn(params)
        new = maximize(params, stats, letters)
        monitor.report(monitor.measure(params, stats))
        params = new
        if monitor.converged:
            break
    return params
