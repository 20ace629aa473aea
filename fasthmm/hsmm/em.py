"""The E-step of hidden semi-Markov models.

It returns :class:`fasthmm.stats.Stats` whose ``trans`` are the chain's
:class:`~fasthmm.hsmm.chain.SegmentCounts` (jumps and durations), so the
statistics add up over batches and :func:`fasthmm.em.run_em` and
:func:`fasthmm.em.maximize` run unchanged: the chain's ``m_step`` reads its
counts, the emission family's its own statistics under the state posteriors.
"""

import numpy as np

from ..em import _suff_stats
from ..inference import first_impossible
from ..stats import Stats
from .chain import SegmentCounts
from .inference import forward_backward


def expected_stats(params, X, starts, clamp=None):
    """E-step of one batch under checked ``params``.

    Parameters
    ----------
    params : fasthmm.em.Params
        A :class:`~fasthmm.hsmm.chain.SemiMarkovChain` and an emission.
    X : ndarray
        Checked samples.
    starts : ndarray of shape (n_sequences + 1,), int64
    clamp : fasthmm.inference.Clamp, optional
        Known states: every other state's log-emission is set to -inf at
        those steps, so the statistics are those of p(z | X, known states)
        and the log-likelihood is log p(X, known states).

    Returns
    -------
    Stats

    Raises
    ------
    ValueError
        When a sequence has probability zero.
    """
    le = params.emission.log_likelihood(X)
    if clamp is not None:
        clamp.apply(le, -np.inf)
    res = forward_backward(le, starts, params.transitions, smooth=True)
    bad = first_impossible(res.log_likelihood)
    if bad is not None:
        raise ValueError(
            f"fit stopped: sequence {bad} has zero probability under the "
            "current parameters (check zeros in startprob_, transmat_, the "
            "durations, the emissions, contradictory labels, or a sequence "
            "that cannot be cut into segments of at most max_duration steps); "
            "the model's parameters are unchanged"
        )
    return Stats(
        start=res.start,
        trans=SegmentCounts(res.jumps, res.complete, res.censored),
        emission=_suff_stats(params.emission, X, res.post),
        log_likelihood=float(res.log_likelihood.sum()),
        n_sequences=starts.shape[0] - 1,
        n_samples=X.shape[0],
    )
