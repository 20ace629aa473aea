"""Missing observations: how checked data marks them and how rows are grouped.

With ``missing="marginalize"`` a model reads NaN entries of ``X`` as
observations missing at random and integrates them out. The public boundary
(the families' ``check_X``) finds NaN in the scan it makes anyway; only when
there is some does it return the samples as a :class:`Gapped` array (a view
of the same float64 values, NaN kept). Data without NaN stays a plain
``ndarray`` and takes exactly the path it takes with ``missing="raise"``: no
extra pass.

A :class:`Gapped` array is a marker: the emissions' methods route it through
:mod:`fasthmm.emissions._base` (rows grouped by which features they observe,
see :func:`gaps_of`), and hand every family plain arrays of observed values
only. Slices and row selections of a :class:`Gapped` array stay
:class:`Gapped` (their grouping is computed afresh when first needed).

Every family reads a missing entry as NaN in a float array; integer arrays
cannot hold missing values. Categorical symbols, counts (Poisson,
multinomial) and binary features (Bernoulli) are therefore given as floats
with NaN where missing.
"""

import numpy as np

#: The values of the models' ``missing`` argument.
MISSING_CHOICES = ("raise", "marginalize")

#: Above this many features, patterns are grouped by ``np.unique`` over rows
#: (below, each row's pattern is packed into one int64 code).
MAX_PACKED_FEATURES = 62


class Gapped(np.ndarray):
    """Checked samples holding NaN where observations are missing.

    A view of the checked float64 array (``X.view(Gapped)``); numerical code
    never sees it (see :mod:`fasthmm.emissions._base`).
    """

    def __array_finalize__(self, obj):
        self._gaps = None  # a slice or copy groups its own rows
        self._filled = None


def is_gapped(X):
    """Whether ``X`` is checked data with missing entries (a :class:`Gapped`)."""
    return isinstance(X, Gapped)


def plain(X):
    """The values of ``X`` as a plain ndarray (no copy)."""
    return X.view(np.ndarray) if isinstance(X, np.ndarray) else X


class Gaps:
    """The rows of a batch grouped by the features they observe.

    Parameters
    ----------
    missing : ndarray of shape (n_samples, n_features), bool
        True where an entry is missing.

    Attributes
    ----------
    n_samples, n_features : int
    complete : ndarray of int64
        Rows with every feature observed, in order.
    empty : ndarray of int64
        Rows with no feature observed.
    partial_rows : ndarray of int64
        Rows with some but not every feature observed, in order.
    partial : list of (features, rows)
        One entry per pattern of partly observed rows: ``features``
        (ndarray of int64) the observed features, ``rows`` (ndarray of int64,
        in order) the rows with that pattern.
    incomplete : ndarray of int64
        Rows with a missing entry, in order.
    n_observed_rows : int
        Rows with at least one observed entry.
    """

    def __init__(self, missing):
        n, d = missing.shape
        self.n_samples, self.n_features = n, d
        counts = missing.sum(axis=1)
        self.complete = np.flatnonzero(counts == 0)
        self.incomplete = np.flatnonzero(counts > 0)
        self.empty = np.flatnonzero(counts == d)
        self.n_observed_rows = n - self.empty.size
        self.partial = []
        self.observed = None  # the partly observed values, by pattern (cache)
        some = self.partial_rows = np.flatnonzero((counts > 0) & (counts < d))
        if some.size == 0:
            return
        sub = missing[some]
        if d <= MAX_PACKED_FEATURES:
            codes = sub.astype(np.int64) @ (np.int64(1) << np.arange(d, dtype=np.int64))
            _, first, inverse = np.unique(codes, return_index=True, return_inverse=True)
        else:
            _, first, inverse = np.unique(
                sub, axis=0, return_index=True, return_inverse=True
            )
        inverse = inverse.reshape(-1)
        order = np.argsort(inverse, kind="stable")
        bounds = np.searchsorted(inverse[order], np.arange(first.size + 1))
        for p in range(first.size):
            rows = some[order[bounds[p] : bounds[p + 1]]]
            features = np.flatnonzero(~sub[first[p]])
            self.partial.append((features, rows))


def gaps_of(X):
    """The :class:`Gaps` of checked samples (computed once per array).

    Parameters
    ----------
    X : ndarray of shape (n_samples,) or (n_samples, n_features)
        A 1-D array is one feature per row.

    Returns
    -------
    Gaps
    """
    cached = getattr(X, "_gaps", None)
    if cached is not None:
        return cached
    values = plain(X)
    gaps = Gaps(np.isnan(values.reshape(values.shape[0], -1)))
    if isinstance(X, Gapped):
        X._gaps = gaps
    return gaps


def filled(X, form):
    """The samples with every missing entry replaced by an observed value of
    its feature (the largest; 0 for a feature never observed), in the form
    ``form`` gives (a family's checked form); computed once per array.

    The families compute every row of it as if complete, which costs no
    gathering of rows; what the missing entries would add is then set aside
    (their rows' log-emissions overwritten, their weights zero).
    """
    cached = getattr(X, "_filled", None)
    if cached is not None:
        return cached
    values = plain(X)
    observed = ~np.isnan(values)
    top = np.max(np.where(observed, values, -np.inf), axis=0)
    out = form(np.where(observed, values, np.where(np.isfinite(top), top, 0.0)))
    if isinstance(X, Gapped):
        X._filled = out
    return out


def n_observed_rows(X):
    """Rows of checked samples with at least one observed entry."""
    return gaps_of(X).n_observed_rows if is_gapped(X) else X.shape[0]


def marked(X, has_nan):
    """``X`` as :class:`Gapped` when ``has_nan``, else ``X`` unchanged."""
    return X.view(Gapped) if has_nan else X
