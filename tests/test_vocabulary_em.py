"""CategoricalHMM EM with more symbols than samples (large vocabularies): the
M-step computes only the columns with counts and the E-step gathers only the
samples' symbols; the fitted parameters equal a plain NumPy EM iteration."""

import logging

import numpy as np
import pytest
from reference import log_forward_backward, log_transition_counts

from fasthmm import CategoricalHMM
from fasthmm._dirichlet import dirichlet_rows


def _dense_map(counts, prior, current):
    """The MAP rows written out over every column."""
    new = np.maximum(counts + np.asarray(prior, dtype=float) - 1.0, 0.0)
    new = np.where(current > 0, new, 0.0)
    sums = new.sum(axis=1, keepdims=True)
    out = np.where(sums > 0, new / np.where(sums > 0, sums, 1.0), current)
    return out


@pytest.mark.parametrize("prior", [1.0, 1.3, "array"])
def test_sparse_columns_map_equals_the_dense_formula(prior):
    rng = np.random.default_rng(0)
    k, v = 4, 300
    counts = np.zeros((k, v))
    cols = rng.choice(v, 20, replace=False)
    counts[:, cols] = rng.random((k, 20)) * 5
    counts[3] = 0.0  # a state with no mass keeps its row
    current = rng.dirichlet(np.ones(v), size=k)
    current[0, cols[:3]] = 0.0  # structural zeros stay zero
    current[0] /= current[0].sum()
    if prior == "array":
        prior = 1.0 + rng.random((k, v))
    got, valid = dirichlet_rows(counts, prior, current)
    np.testing.assert_allclose(got, _dense_map(counts, prior, current), rtol=1e-13)
    assert valid


def test_non_finite_counts_are_not_certified_nor_dropped():
    counts = np.zeros((2, 50))
    counts[0, 3] = np.inf
    current = np.full((2, 50), 1 / 50)
    with np.errstate(invalid="ignore"):  # as in the M-step
        got, valid = dirichlet_rows(counts, 1.0, current)
    assert not valid
    assert np.isnan(got[0]).any()  # left for the parameter check to report


def _reference_em_step(X, lengths, startprob, transmat, emission, prior):
    """One EM iteration in plain NumPy (forward-backward per sequence)."""
    k = startprob.size
    start, trans, obs = np.zeros(k), np.zeros((k, k)), np.zeros_like(emission)
    for seq in np.split(X, np.cumsum(lengths)[:-1]):
        with np.errstate(divide="ignore"):
            le = np.log(emission[:, seq].T)
        _, post, _ = log_forward_backward(le, startprob, transmat)
        start += post[0]
        trans += log_transition_counts(le, startprob, transmat)
        for t, sym in enumerate(seq):
            obs[:, sym] += post[t]
    new_start = start / start.sum()
    new_trans = trans / trans.sum(axis=1, keepdims=True)
    return new_start, new_trans, _dense_map(obs, prior, emission)


@pytest.mark.parametrize("prior", [1.0, 2.0, "array"])
@pytest.mark.parametrize("implementation", ["log", "scaling"])
def test_em_with_more_symbols_than_samples_equals_numpy(prior, implementation):
    rng = np.random.default_rng(1)
    k, v, lengths = 3, 500, [20, 15, 25]
    X = np.minimum(rng.zipf(1.3, size=sum(lengths)), v) - 1
    startprob = rng.dirichlet(np.ones(k))
    transmat = rng.dirichlet(np.ones(k), size=k)
    emission = rng.dirichlet(np.ones(v), size=k)
    emission[1, X[:2]] = 0.0  # structural zeros on symbols in the data
    emission[1] /= emission[1].sum()
    if prior == "array":
        prior = 1.0 + rng.random((k, v))
    model = CategoricalHMM(
        k,
        n_features=v,
        emissionprob_prior=prior,
        n_iter=1,
        tol=-np.inf,
        init_params="",
        implementation=implementation,
    )
    model.startprob_, model.transmat_, model.emissionprob_ = (
        startprob,
        transmat,
        emission,
    )
    logging.getLogger("fasthmm").setLevel(logging.ERROR)
    try:
        model.fit(X.reshape(-1, 1), lengths)
    finally:
        logging.getLogger("fasthmm").setLevel(logging.NOTSET)
    want = _reference_em_step(X, lengths, startprob, transmat, emission, prior)
    np.testing.assert_allclose(model.startprob_, want[0], rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(model.transmat_, want[1], rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(model.emissionprob_, want[2], rtol=1e-9, atol=1e-15)
    assert (model.emissionprob_[1, X[:2]] == 0).all()
