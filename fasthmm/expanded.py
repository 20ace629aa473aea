"""A Markov chain whose state is the tuple of its last ``m`` regimes.

Models whose observation at step ``t`` depends on several past regimes
(Hamilton's Markov-switching autoregression: ``y_t`` depends on
``s_t, ..., s_{t-order}``; second-order chains; duration counters) are HMMs
over the expanded state ``(s_t, s_{t-1}, ..., s_{t-m+1})``. Its transition
matrix is K^m x K^m but sparse and structured: a tuple has K possible
successors, all weighted by the one K x K matrix of the underlying chain.
:class:`TupleChain` runs forward-backward and Viterbi over it in O(K^m) per
step (:mod:`fasthmm._kernels.expanded`) and gives the expected counts of the
underlying K x K transitions, so that a model's M-step stays in regime space.

Tuple states are numbered in base K, the current regime the most
significant digit: ``state = s_t * K^(m-1) + s_{t-1} * K^(m-2) + ... +
s_{t-m+1}``.
"""

from typing import NamedTuple

import numpy as np

from ._kernels import expanded as _kernels


class TuplePass(NamedTuple):
    """What one pass over the tuple chain returns.

    Attributes
    ----------
    loglik : ndarray (n_sequences,)
    posteriors : ndarray (n_rows, K ** m)
        Smoothed (or filtered) probabilities of the tuple states.
    counts : ndarray (K, K)
        Expected numbers of each regime transition, including the ``m - 1``
        transitions inside each sequence's first tuple (zero when filtered).
    start_counts : ndarray (K,)
        Expected first regimes: the oldest regime of each first tuple.
    """

    loglik: np.ndarray
    posteriors: np.ndarray
    counts: np.ndarray
    start_counts: np.ndarray


class TupleChain:
    """The chain of the last ``memory`` regimes of a K-regime Markov chain.

    Parameters
    ----------
    n_regimes : int (>= 1)
    memory : int (>= 2)
        Length ``m`` of the tuple.
    """

    def __init__(self, n_regimes, memory):
        if memory < 2:
            raise ValueError(f"memory must be at least 2, got {memory}")
        self.n_regimes = n_regimes
        self.memory = memory
        self.n_states = n_regimes**memory
        states = np.arange(self.n_states)
        self._digits = np.stack(
            [
                (states // n_regimes ** (memory - 1 - i)) % n_regimes
                for i in range(memory)
            ],
            axis=1,
        )
        self._digits.flags.writeable = False

    def digits(self):
        """Regimes of every tuple state, shape (K ** m, m): column ``i`` is
        ``s_{t-i}`` (read-only)."""
        return self._digits

    def first_prior(self, startprob, transmat):
        """Distribution of a sequence's first tuple ``(s_{m-1}, ..., s_0)``
        when ``s_0`` follows ``startprob`` and the chain ``transmat``.

        Returns
        -------
        prior : ndarray (K ** m,)
        """
        dig = self.digits()
        prior = startprob[dig[:, -1]].copy()
        for i in range(self.memory - 1):
            prior *= transmat[dig[:, i + 1], dig[:, i]]
        return prior

    def dense_transmat(self, transmat):
        """The K^m x K^m transition matrix (for tests and small checks)."""
        dig = self.digits()
        keep = np.all(dig[None, :, 1:] == dig[:, None, :-1], axis=2)
        return keep * transmat[dig[:, None, 0], dig[None, :, 0]]

    def regime_marginals(self, posteriors, position=0):
        """Probabilities of the regime ``s_{t-position}``, shape (n_rows, K)."""
        k, m = self.n_regimes, self.memory
        shaped = posteriors.reshape((len(posteriors),) + (k,) * m)
        axes = tuple(1 + i for i in range(m) if i != position)
        return shaped.sum(axis=axes)

    def forward_backward(self, log_emissions, starts, startprob, transmat, smooth=True):
        """Log-likelihoods, tuple posteriors and regime counts.

        Parameters
        ----------
        log_emissions : ndarray (n_rows, K ** m)
            Log-density of each row given each tuple state.
        starts : ndarray of int (n_sequences + 1,)
        startprob : ndarray (K,)
            Distribution of the oldest regime of each sequence's first tuple.
        transmat : ndarray (K, K)
        smooth : bool
            False: filtered probabilities, no counts.

        Returns
        -------
        TuplePass
        """
        log_emissions = np.ascontiguousarray(log_emissions, dtype=np.float64)
        starts = np.ascontiguousarray(starts, dtype=np.int64)
        transmat = np.ascontiguousarray(transmat, dtype=np.float64)
        prior = np.ascontiguousarray(
            self.first_prior(np.asarray(startprob, np.float64), transmat)
        )
        n_seq = len(starts) - 1
        k = self.n_regimes
        loglik = np.empty(n_seq)
        post = np.empty_like(log_emissions)
        counts = np.zeros((k, k))
        _kernels.forward_backward(
            log_emissions,
            starts,
            prior,
            transmat,
            np.bool_(smooth),
            loglik,
            post,
            counts,
        )
        start_counts = np.zeros(k)
        if smooth:
            first = post[starts[:-1]].sum(axis=0)
            dig = self.digits()
            np.add.at(start_counts, dig[:, -1], first)
            for i in range(self.memory - 1):
                np.add.at(counts, (dig[:, i + 1], dig[:, i]), first)
        return TuplePass(loglik, post, counts, start_counts)

    def viterbi(self, log_emissions, starts, startprob, transmat):
        """Most likely tuple path of each sequence.

        Returns
        -------
        logprob : ndarray (n_sequences,)
            Log-probability of each sequence's path and rows.
        path : ndarray of int64 (n_rows,)
            Tuple states (ties to the lowest state).
        """
        log_emissions = np.ascontiguousarray(log_emissions, dtype=np.float64)
        starts = np.ascontiguousarray(starts, dtype=np.int64)
        transmat = np.asarray(transmat, dtype=np.float64)
        with np.errstate(divide="ignore"):
            log_prior = np.log(
                self.first_prior(np.asarray(startprob, np.float64), transmat)
            )
            log_transmat = np.log(transmat)
        logprob = np.empty(len(starts) - 1)
        path = np.empty(len(log_emissions), dtype=np.int64)
        _kernels.viterbi(
            log_emissions,
            starts,
            np.ascontiguousarray(log_prior),
            np.ascontiguousarray(log_transmat),
            logprob,
            path,
        )
        return logprob, path
