"""Missing observations in the emissions, written once for every family.

A family writes its methods for observed data only. When a method receives
samples with missing entries (a :class:`fasthmm._missing.Gapped` array),
:class:`fasthmm.emissions.Emission` routes the call here: the rows are
grouped by the features they observe (:func:`fasthmm._missing.gaps_of`) and
the family is called once per group, on plain arrays of observed values:

* a row with nothing observed has log-emission 0 (its emission factor is 1)
  and adds nothing to the emission's statistics; the chain still steps
  through it, so its posteriors count in the start and transition counts;
* complete rows go to the family's own method, as they would without NaN
  (the family runs over all rows at once, missing entries filled with
  observed values, :func:`fasthmm._missing.filled`, and the rows with a
  missing entry are then overwritten, or weighted 0: no rows are gathered);
* each group of partly observed rows goes to :meth:`Emission.marginal`
  (the family over the observed features: the marginal density) and
  :meth:`Emission.add_partial_stats` (their contribution to the
  statistics). Families without them accept only whole missing rows. A
  :attr:`Emission.separable` family (log-density a sum over features) takes
  them without grouping: one marginal per feature over the rows observing
  it, and one call of :meth:`Emission.add_partial_stats` for every partly
  observed row, so that many patterns of missing entries cost no more than
  a few.

Each function takes the emission, the family's own (unrouted) method bound
to it, and the method's arguments.
"""

import numpy as np

from .._missing import filled, gaps_of, plain


def log_likelihood(emission, family, X, out=None):
    """Log-emissions of samples with missing entries (see the module)."""
    gaps = gaps_of(X)
    out = family(filled(X, emission.observed_form), out)
    out[gaps.empty] = 0.0
    values = plain(X)
    if emission.separable and gaps.partial:  # a sum over the observed features
        rows = gaps.partial_rows
        seen = ~np.isnan(values[rows])
        some = filled(X, emission.observed_form)[rows]
        total = np.zeros((rows.size, out.shape[1]))
        for j in range(values.shape[1]):
            part = emission.marginal(np.array([j]))
            ll = part.log_likelihood(np.ascontiguousarray(some[:, j : j + 1]))
            total += np.where(seen[:, j : j + 1], ll, 0.0)
        out[rows] = total
        return out
    for (features, rows), observed in zip(gaps.partial, _observed(gaps, values)):
        out[rows] = emission.marginal(features).log_likelihood(observed)
    return out


def _observed(gaps, values):
    """The observed values of each pattern's rows, (rows, features) blocks
    gathered once per array (``gaps`` belongs to it)."""
    if gaps.observed is None:
        gaps.observed = [values[np.ix_(rows, f)] for f, rows in gaps.partial]
    return gaps.observed


def likelihood(emission, family, X, out):
    """The probability fast path (1 for a missing row), or None."""
    gaps = gaps_of(X)
    if gaps.partial or family(filled(X, emission.observed_form), out) is None:
        return None
    out[gaps.empty] = 1.0
    return out


def suff_stats(emission, family, X, weights):
    """Statistics of the observed entries only (see the module)."""
    gaps = gaps_of(X)
    observed = np.array(weights, dtype=np.float64, order="C")
    observed[gaps.incomplete] = 0.0
    stats = family(filled(X, emission.observed_form), observed)
    emission.add_feature_weights(stats)
    values = plain(X)
    if emission.separable and gaps.partial:  # every partly observed row at once
        rows = gaps.partial_rows
        every = np.arange(values.shape[1])
        emission.add_partial_stats(stats, every, values[rows], weights[rows])
        return stats
    for (features, rows), observed in zip(gaps.partial, _observed(gaps, values)):
        emission.add_partial_stats(stats, features, observed, weights[rows])
    return stats


def initialize(emission, family, X, letters, random_state):
    """The family's initialisation from the observed rows.

    From the complete rows when there are at least ``n_components`` of them,
    else from every row with an observed entry, its missing entries filled
    with the mean of the feature's observed values.
    """
    if not set(letters) & set(emission.param_names):
        return {}  # nothing of the family's to initialise: X is not read
    return family(observed_rows(emission, X), letters, random_state)


def observed_rows(emission, X):
    """The observed rows of ``X`` in the family's checked form (see
    :func:`initialize`).

    Raises
    ------
    ValueError
        When no entry of ``X`` is observed.
    """
    gaps, values = gaps_of(X), plain(X)
    if gaps.n_observed_rows == 0:
        raise ValueError("X: every entry is missing (NaN), there is nothing to fit")
    if gaps.complete.size >= emission.n_components:
        return emission.observed_form(values[gaps.complete])
    kept = values[np.setdiff1d(np.arange(values.shape[0]), gaps.empty)]
    seen = ~np.isnan(kept)
    means = np.nansum(kept, axis=0) / np.maximum(seen.sum(axis=0), 1)
    return emission.observed_form(np.where(seen, kept, means))
