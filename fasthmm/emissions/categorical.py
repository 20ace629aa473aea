"""Categorical (discrete-symbol) emissions."""

import numba
import numpy as np

from .._kernels.categorical import gather_rows, symbol_counts
from .._kernels.partition import MIN_PARALLEL_COUNT_ROWS
from .._validation import (
    check_int,
    check_symbols,
)
from ._probability_rows import ProbabilityRowsEmission


class CategoricalEmission(ProbabilityRowsEmission):
    """One categorical distribution over ``n_features`` symbols per state.

    Parameters
    ----------
    n_components : int
    params : dict
        ``"emissionprob_"``: ndarray of shape (n_components, n_features).
    n_features : int or None
        Number of symbols; inferred from ``emissionprob_`` or the data.
    emissionprob_prior : float or ndarray of shape (n_components, n_features)
        Dirichlet concentration (1 means no prior).
    """

    #: hmmlearn's order of the model's constructor (see ``base.family_signature``).
    model_args_after = {"n_features": "*"}

    def __init__(self, n_components, params, n_features=None, emissionprob_prior=1.0):
        super().__init__(
            n_components,
            params,
            None if n_features is None else check_int(n_features, "n_features", 1),
            emissionprob_prior,
        )

    def state_means(self):
        raise TypeError(
            "a categorical observation is a symbol, which has no mean: the "
            "probabilities of each future symbol are "
            "forecast_proba(X, lengths, steps) @ emissionprob_"
        )

    def check_X(self, X):
        return check_symbols(X, "X", self.n_features, self.missing)

    def observed_form(self, X):
        return X.astype(np.int64)

    def _n_features_of(self, X):
        return int(X.max()) + 1

    def _table(self, X):
        """The transposed emission probabilities, contiguous, and the row of
        each sample in it: with more symbols than samples, only the rows of
        the symbols in ``X`` (never a copy of the whole (n_features, K)
        table)."""
        probs = self.params["emissionprob_"]
        if X.shape[0] < self.n_features:
            symbols, rows = np.unique(X, return_inverse=True)
            return np.ascontiguousarray(probs[:, symbols].T), rows.ravel()
        return np.ascontiguousarray(probs.T), X

    def log_likelihood(self, X, out=None):
        table, rows = self._table(X)
        with np.errstate(divide="ignore"):
            table = np.log(table)
        return np.take(table, rows, axis=0, out=out)

    def likelihood(self, X, out):
        # A table lookup: no exp/log per step. The table is made contiguous
        # first: gathering rows of a transposed view is several times slower.
        table, rows = self._table(X)
        if X.shape[0] < MIN_PARALLEL_COUNT_ROWS:  # small data: nothing to compile
            return np.take(table, rows, axis=0, out=out)
        gather_rows(table, rows, out)
        return out

    def suff_stats(self, X, weights):
        counts = np.zeros((self.n_features, self.n_components))
        if X.shape[0] < MIN_PARALLEL_COUNT_ROWS:
            # Small data: the kernel would add row after row on one thread;
            # np.bincount adds in the same order (the same bits) and
            # compiles nothing.
            for c in range(self.n_components):
                counts[:, c] = np.bincount(X, weights[:, c], self.n_features)
        else:
            symbol_counts(X, weights, counts, numba.get_num_threads())
        return {"obs": counts.T}

    def sample(self, states, random_state):
        cum = np.cumsum(self.params["emissionprob_"], axis=1)
        u = random_state.random(states.shape[0]) * cum[states, -1]
        rows = cum[states]
        symbols = (rows <= u[:, None]).sum(axis=1)
        return np.minimum(symbols, self.n_features - 1).reshape(-1, 1)
