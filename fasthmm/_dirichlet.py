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
    return dirichlet_rows(counts, prior, current)[0]


def dirichlet_rows(counts, prior, current):
    """:func:`dirichlet_map`, and whether its result is valid by construction.

    With no prior (a scalar 1) on a matrix, only the columns with counts are
    computed: the others are zero in the result. That is most of them when
    the symbols outnumber the samples (large vocabularies).

    Returns
    -------
    probs : ndarray of shape (..., n)
    valid : bool
        True when every row sum was finite: the rows are then non-negative,
        finite and sum to 1 (or are ``current``'s rows), with no need to check
        them again.
    """
    counts = np.asarray(counts, dtype=float)
    if np.ndim(prior) == 0 and float(prior) == 1.0 and counts.ndim == 2:
        cols = np.flatnonzero(counts.any(axis=0))
        if cols.size < counts.shape[1] // 2:
            sub, sums = _map_rows(
                counts[:, cols], 1.0, None if current is None else current[:, cols]
            )
            new = np.zeros(counts.shape)
            new[:, cols] = sub
        else:
            new, sums = _map_rows(counts, prior, current)
    else:
        new, sums = _map_rows(counts, prior, current)
    valid = bool(np.isfinite(sums).all())
    return _keep_empty_rows(new, (sums <= 0)[..., 0], current), valid


def _map_rows(counts, prior, current):
    """Normalised ``max(counts + prior - 1, 0)`` off the structural zeros of
    ``current``; rows with no mass are left zero. Returns the probabilities
    and the row sums before normalisation (``(..., 1)``)."""
    new = counts + (np.asarray(prior, dtype=float) - 1.0)
    if np.ndim(prior) or float(prior) < 1.0:
        np.maximum(new, 0.0, out=new)
    if current is not None:
        new[current <= 0] = 0.0
    sums = new.sum(axis=-1, keepdims=True)
    new /= np.where(sums > 0, sums, 1.0)
    return new, sums


def _keep_empty_rows(new, empty, current):
    """``new`` with its rows of no mass (``empty``) taken from ``current``."""
    if current is None:
        return new
    if np.ndim(empty) == 0:
        return current.copy() if empty else new
    if empty.any():
        new[empty] = current[empty]
    return new


def dirichlet_log_prior(probs, prior):
    """Log density of a Dirichlet prior, up to a constant, over the support."""
    if np.ndim(prior) == 0:  # one concentration: no broadcast array
        alpha = float(prior)
        if alpha == 1.0:
            return 0.0
        with np.errstate(divide="ignore"):
            logs = np.log(probs)
        return float((alpha - 1.0) * np.sum(logs, where=probs > 0))
    alpha = np.broadcast_to(np.asarray(prior, dtype=float), probs.shape)
    mask = (probs > 0) & (alpha != 1.0)
    return float(np.sum((alpha[mask] - 1.0) * np.log(probs[mask])))
