"""Random restarts explore: each seed starts EM from its own parameters.

Fitting from several ``random_state`` values and keeping the best score is
hmmlearn's recipe against local optima. It only helps if different seeds give
different starting points (and the same seed the same one).
"""

import itertools

import numpy as np
import pytest
from families import FAMILIES

import fasthmm
from fasthmm.transitions import INIT_CONCENTRATION, Transitions


def _initial(family, X, seed, k=3):
    """The parameters ``fit`` starts EM from (no iteration)."""
    model = family.unfitted(k, n_iter=0, random_state=seed)
    return model.fit(X)


@pytest.mark.parametrize("family", FAMILIES, ids=repr)
def test_seeds_give_different_reproducible_starting_points(family):
    X = family.sample(np.random.default_rng(0), 3, 300)
    models = [_initial(family, X, seed) for seed in range(4)]
    again = _initial(family, X, 2)
    for name in ("startprob_", "transmat_"):
        np.testing.assert_array_equal(getattr(again, name), getattr(models[2], name))
        for a, b in itertools.combinations(models, 2):
            assert not np.allclose(getattr(a, name), getattr(b, name), atol=1e-3)


def test_initial_chain_is_dirichlet_around_uniform():
    # Moments of a symmetric Dirichlet(alpha) row of K entries: mean 1 / K,
    # variance (K - 1) / (K**2 (K alpha + 1)).
    k, n = 4, 3000
    rng = np.random.default_rng(5)
    t = Transitions(k, None, None)
    draws = [t.initialized("st", random_state=rng) for _ in range(n)]
    rows = np.concatenate([[d.startprob, *d.transmat] for d in draws])
    np.testing.assert_allclose(rows.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(rows.mean(axis=0), 1 / k, atol=0.01)
    var = (k - 1) / (k**2 * (k * INIT_CONCENTRATION + 1))
    np.testing.assert_allclose(rows.var(axis=0), var, rtol=0.1)
    assert rows.min() > 0.0  # no structural zero from the draw


def _four_clusters(n=500):
    """hmmlearn's sampling-and-decoding example: 4 well separated states."""
    truth = fasthmm.GaussianHMM(4, covariance_type="full")
    truth.startprob_ = np.array([0.6, 0.3, 0.1, 0.0])
    truth.transmat_ = np.array(
        [
            [0.7, 0.2, 0.0, 0.1],
            [0.3, 0.5, 0.2, 0.0],
            [0.0, 0.3, 0.5, 0.2],
            [0.2, 0.0, 0.2, 0.6],
        ]
    )
    truth.means_ = np.array([[0.0, 0.0], [0.0, 11.0], [9.0, 10.0], [11.0, -1.0]])
    truth.covars_ = 0.5 * np.tile(np.identity(2), (4, 1, 1))
    X, _ = truth.sample(n, random_state=42)
    return X


def test_restarts_find_a_better_optimum_than_the_worst_seed():
    # Five states for four clusters: the fifth state can split any cluster,
    # so EM has several optima; the seeds must reach more than one of them.
    X = _four_clusters()
    scores = []
    for seed in range(6):
        model = fasthmm.GaussianHMM(
            5, covariance_type="full", n_iter=100, tol=1e-3, random_state=seed
        )
        scores.append(model.fit(X).score(X))
    assert len(set(np.round(scores, 1))) >= 3
    assert max(scores) > min(scores) + 1.0


def test_default_fit_on_easy_data_finds_the_clusters():
    # With the true number of states, every seed recovers the four clusters.
    X = _four_clusters()
    for seed in range(4):
        model = fasthmm.GaussianHMM(4, covariance_type="full", random_state=seed)
        model.fit(X)
        centres = np.array([[0.0, 0.0], [0.0, 11.0], [9.0, 10.0], [11.0, -1.0]])
        dist = np.abs(model.means_[:, None, :] - centres[None]).max(axis=2)
        assert sorted(dist.argmin(axis=1)) == [0, 1, 2, 3]
        assert dist.min(axis=1).max() < 0.3
