"""EM of hidden semi-Markov models: segment statistics, M-step, the loop.

The statistics add up over disjoint batches of whole sequences, as
:class:`fasthmm.stats.Stats` does; the M-step updates the chain
(:class:`~fasthmm.hsmm.chain.SemiMarkovChain`) and the emission family,
whose own ``suff_stats`` and ``m_step`` are used unchanged with the
state posteriors as weights.
"""

from dataclasses import dataclass

import numpy as np

from ..em import Params, _suff_stats, check_update, objective
from ..inference import first_impossible
from ..stats import Stats
from .chain import full_durations
from .inference import forward_backward


@dataclass(frozen=True)
class SegmentStats:
    """:class:`~fasthmm.stats.Stats` (``trans``: jumps between segments) plus
    the duration statistics.

    Attributes
    ----------
    stats : Stats
    complete : ndarray of shape (n_components, max_duration)
        Expected complete segments of each duration.
    censored : ndarray of shape (n_components, max_duration)
        Expected last segments observed for each number of steps.
    """

    stats: Stats
    complete: np.ndarray
    censored: np.ndarray

    @property
    def log_likelihood(self):
        return self.stats.log_likelihood

    def __add__(self, other):
        if not isinstance(other, SegmentStats):
            return NotImplemented
        return SegmentStats(
            self.stats + other.stats,
            self.complete + other.complete,
            self.censored + other.censored,
        )


def expected_stats(params, X, starts):
    """E-step of one batch under checked ``params``.

    Raises
    ------
    ValueError
        When a sequence has probability zero.
    """
    le = params.emission.log_likelihood(X)
    res = forward_backward(le, starts, params.transitions, smooth=True)
    bad = first_impossible(res.log_likelihood)
    if bad is not None:
        raise ValueError(
            f"fit stopped: sequence {bad} has zero probability under the "
            "current parameters (check zeros in startprob_, transmat_, the "
            "durations, the emissions, or a sequence that cannot be cut into "
            "segments of at most max_duration steps); the model's parameters "
            "are unchanged"
        )
    stats = Stats(
        start=res.start,
        trans=res.jumps,
        emission=_suff_stats(params.emission, X, res.post),
        log_likelihood=float(res.log_likelihood.sum()),
        n_sequences=starts.shape[0] - 1,
        n_samples=X.shape[0],
    )
    return SegmentStats(stats, res.complete, res.censored)


def maximize(params, stats, letters):
    """M-step of the letters given; checked as parameters set by hand are."""
    chain = params.transitions
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        counts = full_durations(stats.complete, stats.censored, chain.pmf)
        chain = chain.m_step(stats.stats.start, stats.stats.trans, counts, letters)
        emission = params.emission.updated(
            params.emission.m_step(stats.stats.emission, letters)
        )
    new = Params(chain, emission)
    check_update(new)
    return new


def run_em(e_fn, params, letters, monitor):
    """The EM loop of :func:`fasthmm.em.run_em` with the segment M-step."""
    for _ in range(monitor.n_iter):
        stats = e_fn(params)
        new = maximize(params, stats, letters)
        monitor.report(objective(params, stats))
        params = new
        if monitor.converged:
            break
    return params
