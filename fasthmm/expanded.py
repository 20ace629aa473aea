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
    step_counts : ndarray (n_mats, K, K)
        The transitions into each row (per-step matrices), or their sum
        over the rows after the first tuples (one matrix).
    first_counts : ndarray (n_sequences, m - 1, K, K)
        The transitions into the rows 1, ..., m - 1 of each sequence (inside
        its first tuple).
    first_regimes : ndarray (n_sequences, K)
        The posterior of each sequence's first regime.
    """

    loglik: np.ndarray
    posteriors: np.ndarray
    counts: np.ndarray
    start_counts: np.ndarray
    step_counts: np.ndarray
    first_counts: np.ndarray
    first_regimes: np.ndarray


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

        Parameters
        ----------
        startprob : ndarray (..., K)
        transmat : ndarray (K, K), or (..., m - 1, K, K): the matrices into
            the rows 1, ..., m - 1.

        Returns
        -------
        prior : ndarray (..., K ** m)
        """
        dig, m = self._digits, self.memory
        startprob, transmat = np.asarray(startprob), np.asarray(transmat)
        prior = startprob[..., dig[:, -1]]
        for i in range(m - 1):
            into = transmat if transmat.ndim == 2 else transmat[..., m - 2 - i, :, :]
            prior = prior * into[..., dig[:, i + 1], dig[:, i]]
        return prior

    def dense_transmat(self, transmat):
        """The K^m x K^m transition matrix of ``transmat`` (K, K), or one per
        matrix of a stack (..., K, K) (streams, tests)."""
        dig = self.digits()
        keep = np.all(dig[None, :, 1:] == dig[:, None, :-1], axis=2)
        return keep * transmat[..., dig[:, None, 0], dig[None, :, 0]]

    def regime_marginals(self, posteriors, position=0):
        """Probabilities of the regime ``s_{t-position}``, shape (n_rows, K)."""
        k, m = self.n_regimes, self.memory
        shaped = posteriors.reshape((len(posteriors),) + (k,) * m)
        axes = tuple(1 + i for i in range(m) if i != position)
        return shaped.sum(axis=axes)

    def _inputs(self, starts, startprob, transmat, first):
        """Per-sequence start distributions, the first tuples' priors and the
        (n_mats, K, K) transitions, as float64 C arrays."""
        n_seq = len(starts) - 1
        transmat = np.asarray(transmat, dtype=np.float64)
        if first is None:
            first = transmat  # stationary: the same matrix inside the first tuple
        startprob = np.broadcast_to(
            np.asarray(startprob, dtype=np.float64), (n_seq, self.n_regimes)
        )
        prior = np.ascontiguousarray(
            np.broadcast_to(self.first_prior(startprob, first), (n_seq, self.n_states))
        )
        mats = np.ascontiguousarray(transmat.reshape(-1, *transmat.shape[-2:]))
        return startprob, first, prior, mats

    def forward_backward(
        self, log_emissions, starts, startprob, transmat, smooth=True, first=None
    ):
        """Log-likelihoods, tuple posteriors and regime counts.

        Parameters
        ----------
        log_emissions : ndarray (n_rows, K ** m)
            Log-density of each row given each tuple state.
        starts : ndarray of int (n_sequences + 1,)
        startprob : ndarray (K,) or (n_sequences, K)
            Distribution of the oldest regime of each sequence's first tuple.
        transmat : ndarray (K, K), or (n_rows, K, K): the matrix into each
            row (input-driven transitions).
        smooth : bool
            False: filtered probabilities, no counts.
        first : ndarray (n_sequences, m - 1, K, K), optional
            With per-row matrices: those into the rows of each sequence's
            first tuple that precede its first row here.

        Returns
        -------
        TuplePass
        """
        log_emissions = np.ascontiguousarray(log_emissions, dtype=np.float64)
        starts = np.ascontiguousarray(starts, dtype=np.int64)
        startprob, first, prior, mats = self._inputs(starts, startprob, transmat, first)
        n_seq, k, m = len(starts) - 1, self.n_regimes, self.memory
        loglik = np.empty(n_seq)
        post = np.empty_like(log_emissions)
        step_counts = np.zeros_like(mats)
        _kernels.forward_backward(
            log_emissions,
            starts,
            prior,
            mats,
            np.bool_(smooth),
            loglik,
            post,
            step_counts,
        )
        first_counts = np.zeros((n_seq, m - 1, k, k))
        first_regimes = np.zeros((n_seq, k))
        if smooth:
            dig = self._digits
            head = post[starts[:-1]]
            for s in range(n_seq):
                np.add.at(first_regimes[s], dig[:, -1], head[s])
                for i in range(m - 1):
                    np.add.at(
                        first_counts[s, m - 2 - i], (dig[:, i + 1], dig[:, i]), head[s]
                    )
        counts = step_counts.sum(axis=0) + first_counts.sum(axis=(0, 1))
        return TuplePass(
            loglik,
            post,
            counts,
            first_regimes.sum(axis=0),
            step_counts,
            first_counts,
            first_regimes,
        )

    def viterbi(self, log_emissions, starts, startprob, transmat, first=None):
        """Most likely tuple path of each sequence (arguments as in
        :meth:`forward_backward`).

        Returns
        -------
        logprob : ndarray (n_sequences,)
            Log-probability of each sequence's path and rows.
        path : ndarray of int64 (n_rows,)
            Tuple states (ties to the lowest state).
        """
        log_emissions = np.ascontiguousarray(log_emissions, dtype=np.float64)
        starts = np.ascontiguousarray(starts, dtype=np.int64)
        _, _, prior, mats = self._inputs(starts, startprob, transmat, first)
        with np.errstate(divide="ignore"):
            log_prior, log_mats = np.log(prior), np.log(mats)
        logprob = np.empty(len(starts) - 1)
        path = np.empty(len(log_emissions), dtype=np.int64)
        _kernels.viterbi(log_emissions, starts, log_prior, log_mats, logprob, path)
        return logprob, path
