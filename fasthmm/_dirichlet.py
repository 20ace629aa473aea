"""Dirichlet priors on probability rows: MAP update and log density.

Shared by the transitions (start and transition probabilities) and the
emission families with probability rows (categorical, mixture weights).
"""

import numpy as np


def dirichlet_map(counts, prior, current):
    """MAP estimate of probability rows under a Dirichlet prior.

    Entries that are zero in ``current`` are structural zeros and stay zero;
    a row with no mass keeps its current values.

    Parameters
    ----------
    counts : ndarray of shape (..., n)
        Expected counts.
    prior : float or ndarray broadcastable to ``counts``
        Dirichlet concentration (1 is no prior).
    current : ndarray of shape (..., n) or None

    Returns
    -------
    probs : ndarray of shape (..., n)
    """
    new = np.maximum(counts + (np.asarray(prior, dtype=float) - 1.0), 0.0)
    if current is not None:
        new = np.where(current > 0, new, 0.0)
    sums = new.sum(axis=-1, keepdims=True)
    empty = (sums <= 0)[..., 0]
    new = new / np.where(sums > 0, sums, 1.0)
    if current is not None and np.ndim(empty) and empty.any():
        new[empty] = current[empty]
    elif current is not None and np.ndim(empty) == 0 and empty:
        new = current.copy()
    return new


def dirichlet_log_prior(probs, prior):
    """Log density of a Dirichlet prior, up to a constant, over the support."""
    alpha = np.broadcast_to(np.asarray(prior, dtype=float), probs.shape)
    mask = (probs > 0) & (alpha != 1.0)
    return float(np.sum((alpha[mask] - 1.0) * np.log(probs[mask])))
