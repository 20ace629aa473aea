"""hmmlearn drop-in behaviours: the module names, MultinomialHMM against
hmmlearn, the stationary distribution, scikit-learn's meta-estimators, and the
behaviours hmmlearn's own tests expect (initialising missing parameters,
n_features, spherical covariances of shape (n_components, 1), fits that do not
depend on the order of the sequences)."""

import logging

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import random_covars, random_stochastic

import fasthmm
from fasthmm import hmm


def _multinomial_model(rng, k=2, d=4, n_trials=5, **kwargs):
    model = hmm.MultinomialHMM(k, n_trials=n_trials, init_params="", **kwargs)
    model.startprob_ = random_stochastic(rng, (k,))
    model.transmat_ = random_stochastic(rng, (k, k))
    model.emissionprob_ = random_stochastic(rng, (k, d))
    return model


def test_hmm_module_has_hmmlearn_names():
    for name in ("CategoricalHMM", "GaussianHMM", "GMMHMM", "MultinomialHMM"):
        assert issubclass(getattr(hmm, name), getattr(fasthmm, name))


# -- MultinomialHMM ---------------------------------------------------------------


def test_multinomial_with_one_trial_is_categorical_on_one_hot_rows():
    rng = np.random.default_rng(0)
    multi = _multinomial_model(rng, k=3, d=4, n_trials=1)
    cat = hmm.CategoricalHMM(3, n_features=4)
    cat.startprob_, cat.transmat_ = multi.startprob_, multi.transmat_
    cat.emissionprob_ = multi.emissionprob_
    symbols = rng.integers(0, 4, 50)
    onehot = np.eye(4, dtype=int)[symbols]
    np.testing.assert_allclose(
        multi.score(onehot), cat.score(symbols[:, None]), rtol=1e-12
    )
    np.testing.assert_allclose(
        multi.predict_proba(onehot), cat.predict_proba(symbols[:, None]), atol=1e-12
    )


def test_multinomial_samples_count_n_trials_draws():
    rng = np.random.default_rng(1)
    model = _multinomial_model(rng, n_trials=7)
    X, states = model.sample(2000, random_state=0)
    assert X.shape == (2000, 4) and np.all(X.sum(axis=1) == 7)
    for c in range(2):  # mean counts of a state: n_trials * p
        np.testing.assert_allclose(
            X[states == c].mean(axis=0), 7 * model.emissionprob_[c], atol=0.25
        )
    for bad in (None, [1, 2, 3]):
        model.n_trials = bad
        with pytest.raises(ValueError, match="n_trials"):
            model.sample(10)


def test_multinomial_n_trials_per_row_and_bad_totals():
    rng = np.random.default_rng(2)
    model = _multinomial_model(rng, n_trials=[3, 1])
    model.score(np.array([[1, 1, 1, 0], [0, 0, 0, 1]]))
    with pytest.raises(ValueError, match="n_trials"):
        model.score(np.array([[1, 1, 0, 0], [0, 0, 0, 1]]))
    with pytest.raises(ValueError, match="n_trials"):
        model.score(np.array([[1, 1, 1, 0]]))
    model.n_trials = None  # any totals
    model.score(np.array([[1, 1, 0, 0], [5, 0, 0, 1]]))


def test_multinomial_matches_hmmlearn_score_posteriors_and_em():
    hl = pytest.importorskip("hmmlearn.hmm")
    rng = np.random.default_rng(3)
    model = _multinomial_model(rng, k=3, d=4, n_trials=6, n_iter=5, tol=-1)
    X, _ = model.sample(300, random_state=1)
    lengths = [100, 120, 80]
    ref = hl.MultinomialHMM(3, n_trials=6, init_params="", n_iter=5, tol=-1)
    for name in ("startprob_", "transmat_", "emissionprob_"):
        setattr(model, name, random_stochastic(rng, getattr(model, name).shape))
        setattr(ref, name, getattr(model, name).copy())
    np.testing.assert_allclose(
        model.score(X, lengths), ref.score(X, lengths), rtol=1e-10
    )
    np.testing.assert_allclose(
        model.predict_proba(X, lengths), ref.predict_proba(X, lengths), atol=1e-10
    )
    model.fit(X, lengths)
    ref.fit(X, lengths)
    np.testing.assert_allclose(model.monitor_.history, ref.monitor_.history, rtol=1e-10)
    for name in ("startprob_", "transmat_", "emissionprob_"):
        np.testing.assert_allclose(getattr(model, name), getattr(ref, name), atol=1e-8)


# -- stationary distribution ------------------------------------------------------


@given(st.integers(1, 6), st.integers(0, 2**32 - 1))
@settings(max_examples=30)
def test_stationary_distribution_is_invariant_under_transmat(k, seed):
    rng = np.random.default_rng(seed)
    model = hmm.CategoricalHMM(k, n_features=2)
    model.startprob_ = random_stochastic(rng, (k,))
    model.transmat_ = random_stochastic(rng, (k, k)) + 1e-3  # irreducible
    model.transmat_ /= model.transmat_.sum(axis=1, keepdims=True)
    model.emissionprob_ = random_stochastic(rng, (k, 2))
    pi = model.get_stationary_distribution()
    assert pi.shape == (k,) and np.isrealobj(pi)
    np.testing.assert_allclose(pi.sum(), 1.0, rtol=1e-12)
    np.testing.assert_allclose(pi @ model.transmat_, pi, atol=1e-10)
    np.testing.assert_allclose(  # the limit of the chain
        np.linalg.matrix_power(model.transmat_, 2000)[0], pi, atol=1e-8
    )


def test_stationary_distribution_needs_transmat():
    with pytest.raises(fasthmm.NotFittedError):
        hmm.GaussianHMM(2).get_stationary_distribution()


# -- scikit-learn meta-estimators ---------------------------------------------------


def _gaussian_data(seed=0, n=200):
    rng = np.random.default_rng(seed)
    states = np.repeat([0, 1, 0, 1], n // 4)
    return rng.standard_normal((n, 2)) + 4.0 * states[:, None]


def test_sklearn_pipeline_cross_val_score_and_grid_search():
    pytest.importorskip("sklearn")
    from sklearn.base import clone
    from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X = _gaussian_data()
    pipe = make_pipeline(StandardScaler(), hmm.GaussianHMM(2, random_state=0))
    pipe.fit(X)
    scaled = StandardScaler().fit_transform(X)
    alone = hmm.GaussianHMM(2, random_state=0).fit(scaled)
    np.testing.assert_allclose(pipe.score(X), alone.score(scaled), rtol=1e-10)

    scores = cross_val_score(hmm.GaussianHMM(2, random_state=0), X, cv=KFold(4))
    assert scores.shape == (4,) and np.all(np.isfinite(scores))

    search = GridSearchCV(
        hmm.GaussianHMM(random_state=0), {"n_components": [1, 2, 3]}, cv=KFold(3)
    ).fit(X)
    assert search.best_params_["n_components"] in (2, 3)
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))

    copy = clone(hmm.GaussianHMM(3, covariance_type="full", n_iter=7))
    assert copy.get_params() == hmm.GaussianHMM(3, "full", n_iter=7).get_params()


def test_sklearn_not_imported_by_fasthmm():
    import subprocess
    import sys

    code = "import sys, fasthmm; print('sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr


# -- behaviours hmmlearn's tests expect ---------------------------------------------


def test_missing_parameters_are_initialised_whatever_init_params():
    rng = np.random.default_rng(4)
    X = rng.integers(0, 3, (200, 1))
    model = hmm.CategoricalHMM(2, init_params="", n_iter=3).fit(X)
    assert model.emissionprob_.shape == (2, 3) and model.n_features == 3
    model = hmm.CategoricalHMM(2, init_params="", n_features=5, n_iter=3).fit(X)
    assert model.emissionprob_.shape == (2, 5) and model.n_features == 5


def test_set_parameter_named_in_init_params_is_overwritten_with_a_warning(caplog):
    X = _gaussian_data()
    model = hmm.GaussianHMM(2, n_iter=2)
    model.startprob_ = np.array([0.3, 0.7])
    with caplog.at_level(logging.WARNING, logger="fasthmm"):
        model.fit(X)
    assert any("will be overwritten" in r.getMessage() for r in caplog.records)


def test_too_little_data_warns(caplog):
    model = hmm.GaussianHMM(3, covariance_type="full", n_iter=1)
    with caplog.at_level(logging.WARNING, logger="fasthmm"):
        model.fit(_gaussian_data(n=8))
    assert any("degenerate solution" in r.getMessage() for r in caplog.records)


def test_n_features_set_by_hand_then_sample():
    model = hmm.GaussianHMM(2, covariance_type="spherical")
    model.startprob_ = np.array([0.6, 0.4])
    model.transmat_ = np.array([[0.4, 0.6], [0.9, 0.1]])
    model.means_ = np.array([[3.0], [5.0]])
    model.covars_ = np.array([[[[4.0]]], [[[3.0]]]])  # hmmlearn accepts this
    model.n_features = 1
    X, states = model.sample(4000, random_state=0)
    assert X.shape == (4000, 1)
    np.testing.assert_allclose(X[states == 0].var(), 4.0, rtol=0.1)


def test_spherical_covars_of_shape_k_by_1_equal_k():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((30, 1))
    a = hmm.GaussianHMM(2, covariance_type="spherical", init_params="")
    a.startprob_, a.transmat_ = np.array([0.5, 0.5]), np.full((2, 2), 0.5)
    a.means_ = np.array([[0.0], [1.0]])
    b = pickle_copy(a)
    a.covars_ = np.array([[1.0], [2.0]])
    b.covars_ = np.array([1.0, 2.0])
    assert a.score(X) == b.score(X)
    with pytest.raises(ValueError, match="covars_"):
        a.covars_ = np.array([[1.0, 2.0]])
        a.score(X)


def pickle_copy(model):
    import pickle

    return pickle.loads(pickle.dumps(model))


# fasthmm's own classes: hmmlearn's k-means (the hmm namespace's) depends on
# the order of the samples, as in hmmlearn.
@pytest.mark.parametrize(
    "make",
    [
        lambda: fasthmm.GaussianHMM(
            3, covariance_type="diag", n_iter=5, random_state=1
        ),
        lambda: fasthmm.GaussianHMM(
            2, covariance_type="full", n_iter=5, random_state=2
        ),
        lambda: fasthmm.GMMHMM(
            2, n_mix=2, covariance_type="tied", n_iter=5, random_state=3
        ),
        lambda: fasthmm.GMMHMM(
            2, n_mix=2, covariance_type="spherical", n_iter=5, random_state=4
        ),
    ],
)
@given(seed=st.integers(0, 2**32 - 1), data=st.data())
@settings(max_examples=8)
def test_fit_does_not_depend_on_the_order_of_sequences(make, seed, data):
    rng = np.random.default_rng(seed)
    k, d = 3, 2
    means = 3.0 * rng.standard_normal((k, d))
    covars = random_covars(rng, "diag", k, d)
    lengths = data.draw(st.lists(st.integers(5, 40), min_size=2, max_size=5))
    seqs = [
        means[rng.integers(0, k, n)] + np.sqrt(covars[0]) * rng.standard_normal((n, d))
        for n in lengths
    ]
    order = data.draw(st.permutations(range(len(seqs))))
    a = make().fit(np.concatenate(seqs), lengths)
    b = make().fit(
        np.concatenate([seqs[i] for i in order]), [lengths[i] for i in order]
    )
    for name in ("startprob_", "transmat_", "means_", "covars_", "weights_"):
        if hasattr(a, name):
            np.testing.assert_allclose(
                getattr(a, name), getattr(b, name), rtol=1e-8, atol=1e-8, err_msg=name
            )
