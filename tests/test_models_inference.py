"""Inference methods of CategoricalHMM and GaussianHMM against independent
NumPy references: score, score_samples, predict_proba, decode (Viterbi against
enumeration of every path, MAP against the reference posteriors), predict, the
list-of-sequences input, aic/bic, get_params/set_params and sample."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from models_helpers import (
    COVARIANCE_TYPES,
    assert_close,
    categorical_model,
    gaussian_model,
    lengths_strategy,
    model_loglik,
    seeds,
)
from reference import (
    batch_brute_force_best,
    batch_forward_backward,
    batch_path_score,
    full_covars,
)

import fasthmm


@st.composite
def models_and_data(draw, max_len=30, max_k=4, tiny=False):
    """(model, X, lengths): a random model set by hand and data to score.

    ``tiny`` keeps K <= 3 and every sequence <= 6 steps, for brute force.
    """
    rng = np.random.default_rng(draw(seeds))
    k = draw(st.integers(1, 3 if tiny else max_k))
    lengths = draw(
        lengths_strategy(max_len=6 if tiny else max_len, max_seqs=2 if tiny else 4)
    )
    n = sum(lengths)
    if draw(st.booleans()):
        m = draw(st.integers(1, 5))
        model = categorical_model(rng, k, m)
        X = rng.integers(0, m, size=(n, 1))
    else:
        d = draw(st.integers(1, 3))
        cov = draw(st.sampled_from(COVARIANCE_TYPES))
        model = gaussian_model(rng, k, d, cov)
        X = 2.0 * rng.standard_normal((n, d))
    return model, X, lengths


@given(models_and_data())
def test_score_equals_forward_of_independent_log_likelihood(case):
    model, X, lengths = case
    le = model_loglik(model, X)
    expected = fasthmm.forward(le, model.startprob_, model.transmat_, lengths)
    reference, _ = batch_forward_backward(
        le, model.startprob_, model.transmat_, lengths
    )
    score = model.score(X, lengths)
    assert_close(score, expected, what="score vs fasthmm.forward")
    assert_close(score, reference, rtol=1e-9, what="score vs NumPy forward")


@given(models_and_data())
def test_posteriors_match_numpy_forward_backward(case):
    model, X, lengths = case
    le = model_loglik(model, X)
    ll, post = batch_forward_backward(le, model.startprob_, model.transmat_, lengths)
    proba = model.predict_proba(X, lengths)
    assert proba.shape == (X.shape[0], model.n_components)
    assert_close(proba.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    assert_close(proba, post, rtol=0, atol=1e-9, what="predict_proba")
    score, post2 = model.score_samples(X, lengths)
    assert_close(score, ll, rtol=1e-9, what="score_samples log-likelihood")
    assert_close(score, model.score(X, lengths), rtol=1e-12)
    assert_close(post2, proba, rtol=0, atol=1e-14)


@given(models_and_data(tiny=True))
def test_viterbi_matches_brute_force(case):
    model, X, lengths = case
    le = model_loglik(model, X)
    best = batch_brute_force_best(le, model.startprob_, model.transmat_, lengths)
    log_prob, states = model.decode(X, lengths, algorithm="viterbi")
    assert states.shape == (X.shape[0],)
    assert states.dtype.kind == "i"
    assert np.all((states >= 0) & (states < model.n_components))
    assert_close(log_prob, best, what="Viterbi log-probability")
    attained = batch_path_score(le, model.startprob_, model.transmat_, states, lengths)
    assert_close(attained, best, what="log-probability of the returned path")
    np.testing.assert_array_equal(model.predict(X, lengths), states)


@given(models_and_data())
def test_map_decoding_is_argmax_of_reference_posteriors(case):
    model, X, lengths = case
    le = model_loglik(model, X)
    _, post = batch_forward_backward(le, model.startprob_, model.transmat_, lengths)
    log_prob, states = model.decode(X, lengths, algorithm="map")
    rows = np.arange(X.shape[0])
    # The chosen state has the largest posterior (ties: any of the largest).
    assert np.all(post[rows, states] >= post.max(axis=1) - 1e-9)
    assert_close(log_prob, np.log(post.max(axis=1)).sum(), rtol=1e-8, atol=1e-8)
    model.algorithm = "map"
    np.testing.assert_array_equal(model.predict(X, lengths), states)
    np.testing.assert_array_equal(model.decode(X, lengths)[1], states)


@given(models_and_data(max_len=15))
def test_list_of_sequences_equals_concatenation_with_lengths(case):
    model, X, lengths = case
    parts = np.split(X, np.cumsum(lengths)[:-1])
    assert model.score(parts) == pytest.approx(model.score(X, lengths), rel=1e-12)
    assert_close(
        model.predict_proba(parts), model.predict_proba(X, lengths), rtol=0, atol=0
    )
    lp_list, states_list = model.decode(parts)
    lp, states = model.decode(X, lengths)
    assert lp_list == pytest.approx(lp, rel=1e-12)
    np.testing.assert_array_equal(states_list, states)


@pytest.mark.parametrize("kind", ["categorical", *COVARIANCE_TYPES])
def test_fit_on_list_equals_fit_on_concatenation(kind):
    rng = np.random.default_rng(7)
    if kind == "categorical":
        gen = categorical_model(rng, 2, 3)
        make = lambda: fasthmm.CategoricalHMM(2, n_iter=5, random_state=3)  # noqa: E731
    else:
        gen = gaussian_model(rng, 2, 2, kind)
        make = lambda: fasthmm.GaussianHMM(  # noqa: E731
            2, covariance_type=kind, n_iter=5, random_state=3
        )
    lengths = [40, 25, 35]
    X, _ = gen.sample(sum(lengths), random_state=1)
    a = make().fit(X, lengths)
    b = make().fit(np.split(X, np.cumsum(lengths)[:-1]))
    for name in a._param_names():
        assert_close(getattr(b, name), getattr(a, name), rtol=0, atol=0, what=name)
    assert a.monitor_.history == b.monitor_.history


def test_categorical_accepts_1d_and_column_input():
    model = categorical_model(np.random.default_rng(0), 3, 4)
    X = np.random.default_rng(1).integers(0, 4, 50)
    assert model.score(X) == model.score(X.reshape(-1, 1))
    np.testing.assert_array_equal(model.predict(X), model.predict(X.reshape(-1, 1)))


# ---------------------------------------------------------------------------
# aic / bic
def _hand_count(model):
    """Free parameters of a model fitted with all its letters, counted by hand."""
    k = model.n_components
    n = (k - 1) + k * (k - 1)
    if isinstance(model, fasthmm.CategoricalHMM):
        return n + k * (model.emissionprob_.shape[1] - 1)
    d = model.means_.shape[1]
    n += k * d
    covars = {
        "spherical": k,
        "diag": k * d,
        "full": k * d * (d + 1) // 2,
        "tied": d * (d + 1) // 2,
    }
    return n + covars[model.covariance_type]


@pytest.mark.parametrize("kind", ["categorical", *COVARIANCE_TYPES])
def test_aic_bic_formula(kind):
    rng = np.random.default_rng(11)
    k = 3
    if kind == "categorical":
        model = categorical_model(rng, k, 5)
        p_expected = (k - 1) + k * (k - 1) + k * 4
    else:
        d = 3
        model = gaussian_model(rng, k, d, kind)
        p_cov = {"spherical": 3, "diag": 9, "full": 18, "tied": 6}[kind]
        p_expected = (k - 1) + k * (k - 1) + k * d + p_cov
    assert _hand_count(model) == p_expected
    X, _ = model.sample(60, random_state=2)
    lengths = [20, 40]
    le = model_loglik(model, X)
    ll, _ = batch_forward_backward(le, model.startprob_, model.transmat_, lengths)
    assert model.aic(X, lengths) == pytest.approx(-2 * ll + 2 * p_expected, rel=1e-10)
    assert model.bic(X, lengths) == pytest.approx(
        -2 * ll + p_expected * np.log(60), rel=1e-10
    )


# ---------------------------------------------------------------------------
# get_params / set_params
@pytest.mark.parametrize(
    "make",
    [
        lambda: fasthmm.CategoricalHMM(
            3, emissionprob_prior=2.0, n_features=4, n_iter=7, params="se"
        ),
        lambda: fasthmm.GaussianHMM(
            2,
            covariance_type="full",
            min_covar=1e-4,
            means_weight=0.5,
            covars_prior=0.1,
            algorithm="map",
            tol=1e-4,
            init_params="mc",
        ),
    ],
)
def test_get_params_set_params_round_trip(make):
    model = make()
    params = model.get_params()
    clone = type(model)(**params)
    assert clone.get_params() == params
    other = type(model)()
    assert other.set_params(**params) is other
    assert other.get_params() == params
    other.set_params(n_iter=3, random_state=5)
    assert other.get_params()["n_iter"] == 3
    assert other.n_iter == 3 and other.random_state == 5
    with pytest.raises(ValueError, match="no_such_parameter"):
        other.set_params(no_such_parameter=1)


def test_sklearn_clone():
    base = pytest.importorskip("sklearn.base")
    model = fasthmm.GaussianHMM(2, covariance_type="tied", n_iter=4, means_weight=2.0)
    clone = base.clone(model)
    assert clone is not model
    assert clone.get_params() == model.get_params()


# ---------------------------------------------------------------------------
# sample
@pytest.mark.parametrize("kind", ["categorical", *COVARIANCE_TYPES])
def test_sample_shapes_dtypes_and_currstate(kind):
    rng = np.random.default_rng(5)
    if kind == "categorical":
        model = categorical_model(rng, 3, 4)
        shape, dtype_kind = (25, 1), "i"
    else:
        model = gaussian_model(rng, 3, 2, kind)
        shape, dtype_kind = (25, 2), "f"
    X, states = model.sample(25, random_state=0)
    assert X.shape == shape and X.dtype.kind == dtype_kind
    assert states.shape == (25,) and states.dtype.kind == "i"
    assert np.all((states >= 0) & (states < 3))
    X2, states2 = model.sample(25, random_state=0)
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_array_equal(states2, states)
    for s in range(3):
        _, st_s = model.sample(5, random_state=s, currstate=s)
        assert st_s[0] == s
    X1, s1 = model.sample(1, random_state=1)
    assert X1.shape == (1, shape[1]) and s1.shape == (1,)
    with pytest.raises(ValueError, match="currstate"):
        model.sample(5, currstate=3)
    # Sampled data is valid input for the model itself.
    assert np.isfinite(model.score(X))


def test_categorical_sample_frequencies():
    rng = np.random.default_rng(21)
    model = categorical_model(rng, 2, 3)
    n = 40000
    X, states = model.sample(n, random_state=4)
    trans = np.zeros((2, 2))
    np.add.at(trans, (states[:-1], states[1:]), 1)
    trans /= trans.sum(axis=1, keepdims=True)
    assert_close(trans, model.transmat_, rtol=0, atol=0.02, what="transitions")
    for s in range(2):
        freq = np.bincount(X[states == s, 0], minlength=3) / np.sum(states == s)
        assert_close(freq, model.emissionprob_[s], rtol=0, atol=0.02)
    # currstate=None draws the first state from startprob_.
    firsts = [model.sample(1, random_state=i)[1][0] for i in range(400)]
    assert np.mean(firsts) == pytest.approx(model.startprob_[1], abs=0.08)


@pytest.mark.parametrize("kind", COVARIANCE_TYPES)
def test_gaussian_sample_moments(kind):
    rng = np.random.default_rng(22)
    model = gaussian_model(rng, 2, 2, kind)
    X, states = model.sample(30000, random_state=9)
    covs = full_covars(model.covars_, kind, 2, 2)
    for s in range(2):
        xs = X[states == s]
        assert_close(xs.mean(axis=0), model.means_[s], rtol=0, atol=0.05)
        assert_close(np.cov(xs.T), covs[s], rtol=0, atol=0.08)
