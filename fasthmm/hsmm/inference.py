"""Inference of hidden semi-Markov models over log-emissions: the kernel calls.

Every function takes the (n_samples, n_components) log-emission matrix of an
emission family, the sequence bounds and a checked
:class:`~fasthmm.hsmm.chain.SemiMarkovChain`, and runs the kernels of
:mod:`fasthmm._kernels.hsmm` over blocks of whole sequences.
"""

from typing import NamedTuple

import numpy as np

from .._kernels import hsmm as _kernels
from .._kernels.partition import block_bounds
from .durations import survival


class Pass(NamedTuple):
    """What one forward(-backward) pass gives.

    Attributes
    ----------
    log_likelihood : ndarray of shape (n_sequences,)
        -inf for a sequence of probability zero.
    post : ndarray of shape (n_samples, n_components)
        Posterior (smoothed) or filtered state probabilities.
    start, jumps : ndarray of shape (n_components,), (n_components, n_components)
        Expected first states and jumps between segments (smoothed only).
    complete, censored : ndarray of shape (n_components, max_duration)
        Expected complete segments of each duration, and last segments
        observed for each number of steps (smoothed only).
    """

    log_likelihood: np.ndarray
    post: np.ndarray
    start: np.ndarray
    jumps: np.ndarray
    complete: np.ndarray
    censored: np.ndarray


def forward_backward(log_emissions, starts, chain, smooth=True):
    """Scaled forward(-backward) pass of every sequence.

    Parameters
    ----------
    log_emissions : ndarray of shape (n_samples, n_components)
    starts : ndarray of shape (n_sequences + 1,), int64
    chain : SemiMarkovChain
        Checked.
    smooth : bool
        False: the forward pass alone (filtered probabilities, no statistics).

    Returns
    -------
    Pass

    Raises
    ------
    ValueError
        When a step's normaliser falls below the normal float64 range.
    """
    le = np.ascontiguousarray(log_emissions, dtype=np.float64)
    k = le.shape[1]
    pmf = np.ascontiguousarray(chain.pmf, dtype=np.float64)
    dmax = pmf.shape[1]
    blocks = block_bounds(starts)
    nb = blocks.shape[0] - 1
    ll = np.empty(starts.shape[0] - 1)
    post = np.empty_like(le)
    start = np.empty((nb, k))
    jumps = np.empty((nb, k, k))
    complete = np.empty((nb, k, dmax))
    censored = np.empty((nb, k, dmax))
    _kernels.forward_backward(
        le,
        starts,
        blocks,
        chain.startprob,
        chain.transmat,
        pmf,
        survival(pmf),
        smooth,
        ll,
        post,
        start,
        jumps,
        complete,
        censored,
    )
    unsettled = np.flatnonzero(np.isnan(ll))
    if unsettled.size:
        raise ValueError(
            f"sequence {int(unsettled[0])}: a step's probability given the past "
            "fell below 1e-308 (log-emissions far more extreme for the likely "
            "states than for states the chain makes nearly impossible); the "
            "scaled semi-Markov pass cannot represent it: rescale X or check "
            "the model's parameters"
        )
    # Block partial sums added in block order: the same bits for any threads.
    return Pass(
        ll,
        post,
        start.sum(axis=0),
        jumps.sum(axis=0),
        complete.sum(axis=0),
        censored.sum(axis=0),
    )


def viterbi(log_emissions, starts, chain):
    """Most likely segmentation of every sequence.

    Returns
    -------
    log_prob : ndarray of shape (n_sequences,)
        log p(X, best segmentation); -inf for an impossible sequence.
    states : ndarray of shape (n_samples,), int64
    """
    le = np.ascontiguousarray(log_emissions, dtype=np.float64)
    pmf = chain.pmf
    with np.errstate(divide="ignore"):
        logs = [
            np.ascontiguousarray(np.log(a))
            for a in (chain.startprob, chain.transmat, pmf, survival(pmf))
        ]
    states = np.empty(le.shape[0], dtype=np.int64)
    lp = np.empty(starts.shape[0] - 1)
    _kernels.viterbi(le, starts, block_bounds(starts), *logs, states, lp)
    return lp, states


def segments(states, lengths=None):
    """The segments of state paths: where each starts, how long, which state.

    Parameters
    ----------
    states : array-like of shape (n_samples,), int
        State of every step (e.g. from ``predict``).
    lengths : array-like of int, optional
        Sequence lengths (segments never cross a sequence boundary).

    Returns
    -------
    starts : ndarray of shape (n_segments,), int64
        Row of ``states`` where each segment begins.
    durations : ndarray of shape (n_segments,), int64
    labels : ndarray of shape (n_segments,), int64
    """
    states = np.asarray(states, dtype=np.int64).ravel()
    n = states.shape[0]
    cut = np.zeros(n, dtype=bool)
    if n:
        cut[0] = True
        cut[1:] = states[1:] != states[:-1]
    if lengths is not None:
        bounds = np.cumsum(np.asarray(lengths, dtype=np.int64))[:-1]
        cut[bounds[bounds < n]] = True
    first = np.flatnonzero(cut)
    return first, np.diff(np.append(first, n)), states[first]
