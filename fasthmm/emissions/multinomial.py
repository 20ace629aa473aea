"""Multinomial emissions: each sample counts the outcomes of ``n_trials`` draws."""

import numpy as np

from .._missing import gaps_of, is_gapped, plain
from .._validation import (
    as_float_array,
    check_counts,
)
from ._probability_rows import ProbabilityRowsEmission
from .poisson import log_factorial


def check_n_trials(n_trials):
    """``None``, a non-negative integer, or a 1-D array of them (one per sample).

    Returns
    -------
    None, int or ndarray of shape (n_samples,), int64
    """
    if n_trials is None:
        return None
    arr = as_float_array(n_trials, "n_trials", ndim=(0, 1))
    if np.any(arr < 0) or np.any(arr != np.floor(arr)):
        raise ValueError(
            f"n_trials must be None, a non-negative integer or an array of them, "
            f"got {n_trials!r}"
        )
    return int(arr) if arr.ndim == 0 else arr.astype(np.int64)


class MultinomialEmission(ProbabilityRowsEmission):
    """One multinomial distribution over ``n_features`` outcomes per state.

    Each sample is a vector of counts, shape (n_features,), of the outcomes
    of ``n_trials`` independent draws from the state's ``emissionprob_`` row;
    its log-probability includes the multinomial coefficient
    ``log(n! / prod_j x_j!)`` (as hmmlearn since 0.2.8).

    Parameters
    ----------
    n_components : int
    params : dict
        ``"emissionprob_"``: ndarray of shape (n_components, n_features).
    n_trials : None, int or ndarray of shape (n_samples,)
        Number of draws per sample: every row of X must sum to it. None: any
        total (then :meth:`sample` cannot draw).
    emissionprob_prior : float or ndarray of shape (n_components, n_features)
        Dirichlet concentration (1 means no prior).
    """

    #: hmmlearn's order of the model's constructor (see ``base.family_signature``).
    model_args_after = {
        "n_trials": "n_components",
        "emissionprob_prior": "implementation",
    }

    def __init__(self, n_components, params, n_trials=None, emissionprob_prior=1.0):
        super().__init__(n_components, params, None, emissionprob_prior)
        self.n_trials = check_n_trials(n_trials)

    def check_X(self, X):
        X = check_counts(X, "X", self.n_features, self.missing)
        if is_gapped(X):  # only whole rows: the counts of a row add up to n_trials
            gaps = gaps_of(X)
            if gaps.partial:
                row = int(gaps.partial[0][1][0])
                raise ValueError(
                    f"X: sample {row} is partly missing; a multinomial sample "
                    "must be missing whole (every count NaN) or observed whole"
                )
        if self.n_trials is not None:
            totals = np.nansum(plain(X), axis=1)
            n = np.asarray(self.n_trials)
            if n.ndim == 1 and n.shape[0] != X.shape[0]:
                raise ValueError(
                    f"n_trials holds {n.shape[0]} values, one per sample, but X "
                    f"has {X.shape[0]} samples"
                )
            wrong = totals != n
            if is_gapped(X):
                wrong[gaps.empty] = False
            if np.any(wrong):
                row = int(np.flatnonzero(wrong)[0])
                raise ValueError(
                    f"X: every sample must count n_trials draws; sample {row} sums "
                    f"to {totals[row]:g}, n_trials is "
                    f"{int(np.broadcast_to(n, totals.shape)[row])}"
                )
        return X

    def log_likelihood(self, X, out=None):
        p = self.params["emissionprob_"]
        with np.errstate(divide="ignore"):
            log_p = np.log(p)
        if out is None:
            out = np.empty((X.shape[0], self.n_components))
        np.matmul(X, np.where(p > 0, log_p, 0.0).T, out=out)
        out += (log_factorial(X.sum(axis=1, keepdims=True)) - log_factorial(X))[:, None]
        if np.any(p == 0):  # a count of an impossible outcome
            out[(X > 0) @ (p == 0).T] = -np.inf
        return out

    def state_means(self):
        """Expected counts: ``n_trials * emissionprob_`` (one ``n_trials``)."""
        n = None if self.n_trials is None else np.unique(self.n_trials)
        if n is None or n.shape[0] != 1:
            raise ValueError(
                "n_trials must be one number of draws for a mean count (got "
                f"{self.n_trials!r}): for another number n, the mean counts are "
                "n * forecast_proba(...) @ emissionprob_"
            )
        return float(n[0]) * np.asarray(self.params["emissionprob_"], dtype=np.float64)

    def suff_stats(self, X, weights):
        return {"obs": weights.T @ X}

    def sample(self, states, random_state):
        n = None if self.n_trials is None else np.unique(self.n_trials)
        if n is None or n.shape[0] != 1:
            raise ValueError(
                "n_trials must be one number of draws to sample (got "
                f"{self.n_trials!r})"
            )
        p = self.params["emissionprob_"]
        X = np.zeros((states.shape[0], self.n_features), dtype=np.int64)
        for c in range(self.n_components):
            rows = np.flatnonzero(states == c)
            if rows.size:
                X[rows] = random_state.multinomial(int(n[0]), p[c], size=rows.size)
        return X
