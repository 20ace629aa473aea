"""k-means with k-means++ seeding, in NumPy (for initial Gaussian means)."""

import numpy as np

MAX_SAMPLES = 20000


N_INIT = 4


def kmeans(X, n_clusters, random_state, n_iter=100, n_init=N_INIT):
    """Cluster centres of ``X``: the best of ``n_init`` runs of Lloyd's
    algorithm from k-means++ starts.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    n_clusters : int
    random_state : numpy.random.RandomState or numpy.random.Generator
    n_iter : int
        Maximum number of Lloyd iterations per run.
    n_init : int
        Number of k-means++ starts; the run of least inertia (sum of squared
        distances to the nearest centre) is kept.

    Returns
    -------
    centres : ndarray of shape (n_clusters, n_features)

    Notes
    -----
    The rows are first put in a canonical (lexicographic) order, so the
    centres depend on the set of rows and ``random_state`` only, not on the
    order of the rows (for instance the order in which sequences were
    concatenated). At most ``MAX_SAMPLES`` rows, drawn at random, are used:
    an initial guess for EM does not need more.
    """
    X = canonical_order(X)
    n = X.shape[0]
    if n < n_clusters:
        raise ValueError(
            f"cannot initialise {n_clusters} states from {n} samples: "
            "n_components must not exceed the number of samples"
        )
    if n > MAX_SAMPLES:
        X = X[np.sort(_choice(random_state, n, MAX_SAMPLES))]
    runs = [_lloyd(X, n_clusters, random_state, n_iter) for _ in range(n_init)]
    return min(runs, key=lambda run: run[1])[0]


def _lloyd(X, n_clusters, random_state, n_iter):
    """(centres, inertia) of one run from a k-means++ start."""
    centres = _plus_plus(X, n_clusters, random_state)
    labels = None
    sq = (X**2).sum(axis=1)
    for _ in range(n_iter):
        dist = sq[:, None] - 2.0 * X @ centres.T + (centres**2).sum(axis=1)
        new_labels = dist.argmin(axis=1)
        if labels is not None and np.array_equal(labels, new_labels):
            break
        labels = new_labels
        counts = np.bincount(labels, minlength=n_clusters)
        sums = np.zeros_like(centres)
        np.add.at(sums, labels, X)
        full = counts > 0
        centres[full] = sums[full] / counts[full, None]
    dist = sq[:, None] - 2.0 * X @ centres.T + (centres**2).sum(axis=1)
    return centres, float(dist.min(axis=1).sum())


def canonical_order(X):
    """The rows of ``X`` sorted lexicographically (first column first)."""
    return X[np.lexsort(X.T[::-1])]


def _plus_plus(X, k, random_state):
    n = X.shape[0]
    centres = np.empty((k, X.shape[1]))
    centres[0] = X[int(random_state.random() * n)]
    d2 = ((X - centres[0]) ** 2).sum(axis=1)
    for j in range(1, k):
        cum = np.cumsum(d2)
        if cum[-1] > 0:
            i = int(np.searchsorted(cum, random_state.random() * cum[-1], side="right"))
        else:
            i = int(random_state.random() * n)
        centres[j] = X[min(i, n - 1)]
        d2 = np.minimum(d2, ((X - centres[j]) ** 2).sum(axis=1))
    return centres


def _choice(random_state, n, size):
    return np.argsort(random_state.random(n))[:size]
