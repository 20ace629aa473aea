"""The contracts every emission family must honour, one test per contract,
each parametrised over :data:`families.FAMILIES` (as dynamax's CONFIGS or
HiddenMarkovModels.jl's HMMTest): a new family gets every test by adding one
entry there.

(a) score, predict_proba and decode equal brute-force enumeration of every
    state path of a tiny model, from the reference log-emissions;
(b) EM never decreases its objective (log-likelihood plus log prior), over
    random models, data, priors, frozen parameter subsets and partial labels;
(c) save / load round trip;
(d) a fit that raises leaves every attribute unchanged;
(e) bad input raises ValueError naming the argument;
(f) the fit and the score do not depend on the number of threads;
(g) the fit does not depend on the order of the sequences.
"""

import numba
import numpy as np
import pytest
from families import FAMILIES
from hypothesis import given
from hypothesis import strategies as st
from models_helpers import (
    X_METHODS,
    assert_unchanged,
    deep_equal,
    letters_strategy,
    seeds,
    snapshot,
)
from reference import split

import fasthmm

families = pytest.mark.parametrize("family", FAMILIES, ids=repr)


def assert_non_decreasing(history, rel=1e-8, atol=1e-10):
    """Each value is at least the previous one minus ``rel * |previous| + atol``.

    The absolute part allows the rounding of an objective that converges to 0
    (a relative tolerance alone allows no change at all there).
    """
    h = np.asarray(history, dtype=float)
    assert np.all(np.isfinite(h)), history
    assert np.all(h[1:] - h[:-1] >= -(rel * np.abs(h[:-1]) + atol)), (
        f"EM objective decreased: {history}"
    )


def test_objective_converging_to_zero_passes_the_monotonicity_check():
    # Constant data: the objective converges to exactly 0 and ends with a
    # rounding step of -2.2e-16 (a relative tolerance alone rejected it).
    model = fasthmm.CategoricalHMM(
        2, n_features=2, random_state=199, n_iter=10, tol=0
    ).fit(np.zeros((3, 1), int))
    assert model.monitor_.history[-1] == pytest.approx(0, abs=1e-12)
    assert_non_decreasing(model.monitor_.history)
    with pytest.raises(AssertionError, match="decreased"):
        assert_non_decreasing([0.0, 1e-3, 0.0])


def assert_valid_params(model, family):
    """Finite parameters; probability rows sum to 1; positive rates stay > 0."""
    for name in model._param_names():
        value = np.asarray(getattr(model, name))
        assert np.all(np.isfinite(value)), f"{name} is not finite: {value}"
    for name in ("startprob_", "transmat_", *family.stochastic):
        value = np.asarray(getattr(model, name))
        assert np.all(value >= 0), name
        np.testing.assert_allclose(value.sum(axis=-1), 1.0, rtol=0, atol=1e-12)
    for name in family.positive:
        assert np.all(np.asarray(getattr(model, name)) > 0), name


def public_params(model):
    return {name: getattr(model, name) for name in model._param_names()}


def tiny_case(family, seed, k, lengths):
    rng = np.random.default_rng(seed)
    model = family.make(rng, k)
    n = sum(lengths)
    if rng.random() < 0.5:
        X = family.sample(rng, int(rng.integers(1, 4)), n)
    else:
        X = family.random_data(rng, n)
    return model, X


# -- (a) brute force --------------------------------------------------------------


@families
@given(
    seed=seeds,
    k=st.integers(1, 3),
    lengths=st.lists(st.integers(1, 6), min_size=1, max_size=3),
)
def test_inference_equals_brute_force(family, seed, k, lengths):
    k = family.n_states(k)
    model, X = tiny_case(family, seed, k, lengths)
    le = family.log_emissions(model, X, lengths)
    assert le.shape == (sum(lengths), k)
    np.testing.assert_allclose(
        model.log_emissions(X, lengths), le, rtol=1e-10, atol=1e-10
    )
    ll, best, post = 0.0, 0.0, np.empty_like(le)
    for lo, hi in split(lengths, le.shape[0]):
        seq_ll, seq_best, post[lo:hi] = family.chain.brute_force(le[lo:hi], model)
        ll += seq_ll
        best += seq_best

    np.testing.assert_allclose(model.score(X, lengths), ll, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(
        model.predict_proba(X, lengths), post, rtol=0, atol=1e-10
    )
    log_prob, states = model.decode(X, lengths, algorithm="viterbi")
    np.testing.assert_allclose(log_prob, best, rtol=1e-10, atol=1e-10)
    attained = sum(
        family.chain.path_score(le[lo:hi], model, states[lo:hi])
        for lo, hi in split(lengths, le.shape[0])
    )
    np.testing.assert_allclose(attained, best, rtol=1e-10, atol=1e-10)
    np.testing.assert_array_equal(model.predict(X, lengths), states)
    # MAP decoding picks a state of largest brute-force posterior.
    _, map_states = model.decode(X, lengths, algorithm="map")
    rows = np.arange(X.shape[0])
    assert np.all(post[rows, map_states] >= post.max(axis=1) - 1e-10)


# -- (b) EM never decreases its objective --------------------------------------------


@st.composite
def em_cases(draw, family):
    """(model, X, lengths, labels, hand_set) for one EM run of ``family``."""
    rng = np.random.default_rng(draw(seeds))
    k = family.n_states(draw(st.integers(1, 4)))
    d = draw(st.integers(*family.feature_range))
    options = {name: draw(st.sampled_from(v)) for name, v in family.variants.items()}
    lengths = draw(st.lists(st.integers(1, 40), min_size=1, max_size=4))
    need = k * family.samples_per_state * options.get("n_mix", 1)
    if sum(lengths) < need:
        lengths.append(need - sum(lengths))
    n = sum(lengths)
    kwargs = dict(params=draw(letters_strategy(family.letters)), n_iter=10, tol=0.0)
    if draw(st.booleans()):
        kwargs.update(family.random_priors(rng, k, d, options))
    hand_set = draw(st.booleans())
    if hand_set:  # start from a random model set by hand ...
        model = family.make(rng, k, d, options, **kwargs)
    else:  # ... or initialise from the data
        if family.cls in (fasthmm.CategoricalHMM, fasthmm.CategoricalHSMM):
            kwargs["n_features"] = d
        model = family.unfitted(
            k, options, random_state=int(rng.integers(1000)), **kwargs
        )
    if draw(st.booleans()):  # data from another random model ...
        X = family.sample(rng, draw(st.integers(1, 3)), n, d, options)
    else:  # ... or independent of any model
        X = family.random_data(rng, n, d, options)
    labels = None
    if draw(st.booleans()):  # partly (sometimes fully) labelled
        labels = family.labels(rng, k, n, options)
        labels[rng.random(n) >= draw(st.floats(0.0, 0.9))] = -1
    return model, X, lengths, labels, hand_set


@families
@given(data=st.data())
def test_em_objective_never_decreases(family, data):
    model, X, lengths, labels, hand_set = data.draw(em_cases(family))
    before = (
        {name: np.copy(value) for name, value in public_params(model).items()}
        if hand_set
        else None
    )
    model.fit(X, lengths, states=labels)
    history = model.monitor_.history
    assert 1 <= len(history) <= model.n_iter
    assert_non_decreasing(history)
    assert_valid_params(model, family)
    if hand_set:  # parameters left out of params stay exactly as set
        owned = {
            **model._transitions_class.names_by_letter(),
            **model._emission_class.names_by_letter(),
        }
        for letter, names in owned.items():
            for name in names if letter not in model.params else ():
                np.testing.assert_array_equal(getattr(model, name), before[name])


# -- (c) save / load -------------------------------------------------------------


def fitted_model(family, seed=0, k=2, n_seq=3, length=30, **kwargs):
    rng = np.random.default_rng(seed)
    lengths = [length] * n_seq
    X = family.sample(rng, k, sum(lengths))
    model = family.unfitted(k, random_state=seed, n_iter=4, **kwargs)
    return model.fit(X, lengths), X, lengths


@families
def test_save_load_round_trip(family, tmp_path):
    model, X, lengths = fitted_model(family)
    path = tmp_path / f"{family.name}.npz"
    model.save(path)
    loaded = fasthmm.load(path)
    assert type(loaded) is type(model)
    assert deep_equal(loaded.get_params(), model.get_params())
    for name, value in public_params(model).items():
        got = getattr(loaded, name)
        assert got.dtype == value.dtype and got.shape == value.shape, name
        np.testing.assert_array_equal(got, value, err_msg=name)
    assert loaded.monitor_.history == model.monitor_.history
    assert loaded.score(X, lengths) == model.score(X, lengths)
    np.testing.assert_array_equal(
        loaded.predict_proba(X, lengths), model.predict_proba(X, lengths)
    )
    np.testing.assert_array_equal(loaded.predict(X, lengths), model.predict(X, lengths))


# -- (d) atomic fit --------------------------------------------------------------


def with_nan(X):
    X = np.array(X, dtype=float)
    X[len(X) // 2, 0] = np.nan
    return X


@families
@pytest.mark.parametrize("failure", ["nan", "too-few-samples", "bad-lengths"])
def test_failed_fit_leaves_the_model_unchanged(family, failure):
    model, X, lengths = fitted_model(family, k=3)
    before = snapshot(model)
    if failure == "nan":
        args = (with_nan(X), lengths)
    elif failure == "too-few-samples":
        args = (X[:2], None)  # n_components = 3 > 2 samples
    else:
        args = (X, [len(X) + 1])
    with pytest.raises(ValueError):
        model.fit(*args)
    assert_unchanged(model, before, f"fit raising on {failure}")


# -- (e) bad input names the argument ---------------------------------------------


@families
@pytest.mark.parametrize("method", X_METHODS)
def test_bad_input_raises_value_error_naming_it(family, method):
    family.require(method)
    model, X, lengths = fitted_model(family)
    call = getattr(model, method)
    with pytest.raises(ValueError, match=r"\bX\b"):
        call(with_nan(X), lengths)
    for bad in ([len(X) - 1], [len(X) // 2, len(X) // 2 + 2], [len(X), 0]):
        with pytest.raises(ValueError, match="lengths"):
            call(X, bad)


# -- (f) thread-count independence -------------------------------------------------


@families
def test_fit_and_score_do_not_depend_on_the_thread_count(family):
    default = numba.get_num_threads()
    if default < 2:
        pytest.skip("a single Numba thread available")
    rng = np.random.default_rng(7)
    lengths = [50] * 200  # several blocks of sequences
    X = family.sample(rng, 3, sum(lengths))
    start = family.make(np.random.default_rng(8), 3)

    def run(threads):
        numba.set_num_threads(threads)
        try:
            model = family.make(np.random.default_rng(8), 3, n_iter=4, tol=0.0)
            model.fit(X, lengths)
            return model, model.score(X, lengths), start.score(X, lengths)
        finally:
            numba.set_num_threads(default)

    one, score_one, start_one = run(1)
    many, score_many, start_many = run(default)
    assert score_one == score_many
    assert start_one == start_many
    assert one.monitor_.history == many.monitor_.history
    for name, value in public_params(one).items():
        np.testing.assert_array_equal(getattr(many, name), value, err_msg=name)


# -- (g) sequence-order independence ----------------------------------------------


@families
def test_fit_does_not_depend_on_the_order_of_the_sequences(family):
    rng = np.random.default_rng(11)
    lengths = [int(n) for n in rng.integers(5, 40, size=12)]
    X = family.sample(rng, 3, sum(lengths))
    seqs = [X[lo:hi] for lo, hi in split(lengths, len(X))]
    order = rng.permutation(len(lengths))
    X_perm = np.concatenate([seqs[i] for i in order])
    lengths_perm = [lengths[i] for i in order]

    def fit(X, lengths):
        model = family.make(np.random.default_rng(12), 3, n_iter=5, tol=0.0)
        return model.fit(X, lengths)

    a, b = fit(X, lengths), fit(X_perm, lengths_perm)
    np.testing.assert_allclose(b.monitor_.history, a.monitor_.history, rtol=1e-8)
    for name, value in public_params(a).items():
        np.testing.assert_allclose(
            getattr(b, name), value, rtol=1e-8, atol=0, err_msg=name
        )
