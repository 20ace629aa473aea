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
  statistics). Families without them accept only whole missing rows.

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
    for features, rows in gaps.partial:
        part = emission.marginal(features)
        out[rows] = part.log_likelihood(values[np.ix_(rows, features)])
    return out


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
    for features, rows in gaps.partial:
        emission.add_partial_stats(
            stats, features, values[np.ix_(rows, features)], weights[rows]
        )
    return stats


def initialize(emission, family, X, letters, random_state):
    """The family's initialisation from the observed rows.

    From the complete rows when there are at least ``n_components`` of them,
    else from every row with an observed entry, its missing entries filled
    with the mean of the feature's observed values.
    """
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
