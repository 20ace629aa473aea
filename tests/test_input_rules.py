"""The one rule for what X means (fasthmm._validation.check_sequences).

Every form of X is compared with the same data written as one array plus
``lengths``, scored sequence by sequence (one sequence's score does not
depend on the others), so a misreading of rows as sequences or the other way
round changes the answer.
"""

import numpy as np
import pytest

import fasthmm

METHODS = ("fit", "score", "score_samples", "predict", "predict_proba", "decode")


def gaussian(n_features=1):
    rng = np.random.RandomState(0)
    model = fasthmm.GaussianHMM(2, init_params="", params="")
    model.startprob_ = np.array([0.6, 0.4])
    model.transmat_ = np.array([[0.9, 0.1], [0.2, 0.8]])
    model.means_ = rng.normal(size=(2, n_features))
    model.covars_ = np.ones((2, n_features))
    return model


def categorical():
    model = fasthmm.CategoricalHMM(2, init_params="", params="")
    model.startprob_ = np.array([0.5, 0.5])
    model.transmat_ = np.array([[0.8, 0.2], [0.3, 0.7]])
    model.emissionprob_ = np.array([[0.6, 0.3, 0.1], [0.1, 0.2, 0.7]])
    return model


def per_sequence_score(model, seqs):
    return sum(model.score(np.asarray(s, dtype=float)) for s in seqs)


def test_list_of_arrays_is_a_list_of_sequences():
    model = gaussian(2)
    rng = np.random.RandomState(1)
    seqs = [rng.normal(size=(n, 2)) for n in (5, 3, 7)]
    assert np.isclose(model.score(seqs), per_sequence_score(model, seqs))
    assert np.isclose(model.score(tuple(seqs)), per_sequence_score(model, seqs))
    # Equal lengths do not change the reading: items that are arrays are sequences.
    same = [rng.normal(size=4), rng.normal(size=4)]
    model1 = gaussian(1)
    assert np.isclose(model1.score(same), per_sequence_score(model1, same))


def test_list_of_memmaps_is_a_list_of_sequences(tmp_path):
    model = gaussian(1)
    rng = np.random.RandomState(2)
    seqs = []
    for i, n in enumerate((6, 4)):
        m = np.lib.format.open_memmap(tmp_path / f"{i}.npy", "w+", np.float64, (n,))
        m[:] = rng.normal(size=n)
        seqs.append(m)
    assert np.isclose(model.score(seqs), per_sequence_score(model, seqs))


def test_list_of_numbers_is_one_sequence():
    model = gaussian(1)
    x = [0.1, -0.4, 2.0, 1.5]
    assert model.score(x) == model.score(np.array(x).reshape(-1, 1))
    cat = categorical()
    assert cat.score([0, 2, 1, 1]) == cat.score(np.array([0, 2, 1, 1]))


def test_list_of_one_number_lists_is_a_column():
    model = gaussian(1)
    x = [[0.1], [-0.4], [2.0], [1.5]]
    assert model.score(x) == model.score(np.array(x))
    assert not np.isclose(model.score(x), per_sequence_score(model, x))


def test_ragged_lists_and_three_levels_are_lists_of_sequences():
    model = gaussian(1)
    ragged = [[0.1, -0.4, 2.0], [1.5, 0.3]]
    assert np.isclose(model.score(ragged), per_sequence_score(model, ragged))
    cat = categorical()
    ragged = [[0, 1, 2, 1], [2, 2, 1, 0, 1]]
    assert np.isclose(cat.score(ragged), per_sequence_score(cat, ragged))
    model2 = gaussian(2)
    nested = [[[0.1, 0.2], [1.0, -1.0]], [[0.5, 0.5], [2.0, 0.0]]]
    assert np.isclose(model2.score(nested), per_sequence_score(model2, nested))


def test_equal_lists_with_lengths_are_rows():
    model = gaussian(3)
    rows = [[0.1, 0.2, 0.3], [1.0, -1.0, 0.0], [0.5, 0.5, 2.0], [2.0, 0.0, 1.0]]
    assert model.score(rows, [2, 2]) == model.score(np.array(rows), [2, 2])


@pytest.mark.parametrize("method", METHODS)
def test_gaussian_lists_of_equal_length_are_ambiguous(method):
    """The list that was read silently as 2 samples x 200 features."""
    rng = np.random.RandomState(3)
    a, b = rng.normal(size=200), rng.normal(size=200) + 1
    model = gaussian(1)
    if method == "fit":
        model = fasthmm.GaussianHMM(2)
    with pytest.raises(ValueError) as info:
        getattr(model, method)([list(a), list(b)])
    msg = str(info.value)
    assert "2 samples with 200 features" in msg
    assert "2 sequences of 200 one-feature samples" in msg
    assert "np.asarray(X)" in msg and "[np.asarray(s) for s in X]" in msg


def test_both_suggested_writings_work():
    tokens = [[0, 1, 2, 1], [2, 2, 1, 0]]
    with pytest.raises(ValueError, match="can be read two ways"):
        fasthmm.CategoricalHMM(2).fit(tokens)
    cat = categorical()
    # As sequences: each list becomes an array.
    as_seqs = cat.score([np.asarray(s) for s in tokens])
    assert np.isclose(as_seqs, per_sequence_score(cat, tokens))
    fitted = fasthmm.CategoricalHMM(2, random_state=0).fit(
        [np.asarray(s) for s in tokens]
    )
    assert fitted.emissionprob_.shape == (2, 3)
    # As rows: a (2, 4) array, which a categorical model rejects by name.
    with pytest.raises(ValueError, match="one symbol per sample"):
        cat.score(np.asarray(tokens))
    model = gaussian(4)
    assert model.score(np.asarray(tokens, float)) == model.score(tokens, lengths=[2])


def test_list_of_sequences_with_lengths_is_rejected():
    model = gaussian(1)
    with pytest.raises(ValueError, match="lengths must be None"):
        model.score([np.zeros(3), np.ones(2)], lengths=[3, 2])
    with pytest.raises(ValueError, match="lengths must be None"):
        model.score([[0.0, 1.0, 2.0], [1.0]], lengths=[3, 1])


def test_empty_sequence_is_named():
    model = gaussian(1)
    with pytest.raises(ValueError, match=r"X\[1\] is"):
        model.score([np.zeros(3), np.zeros(0)])


def test_select_n_components_applies_the_rule():
    with pytest.raises(ValueError, match="can be read two ways"):
        fasthmm.select_n_components(
            fasthmm.GaussianHMM(), [[0.0, 1.0, 2.0], [1.0, 2.0, 3.0]], k_values=[1]
        )


def test_hyperparameter_error_names_only_the_hyperparameter():
    """A bad prior is reported as itself, not as degenerate data."""
    X = np.random.RandomState(0).poisson(3.0, size=(50, 1))
    for name in ("lambdas_prior", "lambdas_weight"):
        with pytest.raises(ValueError) as info:
            fasthmm.PoissonHMM(2, **{name: -5.0}).fit(X)
        msg = str(info.value)
        assert msg.startswith(f"{name} must be >= 0")
        assert "initialising" not in msg and "degenerate" not in msg


def test_missing_values_are_named_as_such():
    model = gaussian(2)
    X = np.array([[0.1, 0.2], [None, 0.3], [0.5, 0.4]], dtype=object)
    with pytest.raises(
        ValueError,
        match=r"X must not contain missing values, found None at index \(1, 0\)",
    ):
        model.score(X)
    with pytest.raises(ValueError, match=r"missing values, found nan at index \(1,\)"):
        model.score(np.array([0.5, np.nan, 1.0], dtype=object).reshape(-1, 1)[:, 0])
    # Nothing but a missing value, or a string, is a dtype error as before.
    with pytest.raises(TypeError, match="dtype object"):
        model.score(np.array([None], dtype=object))
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"a": [0.1, 0.2, 0.3], "b": [0.4, pd.NA, 0.6]})
    for method in METHODS:
        with pytest.raises(
            ValueError, match=r"missing values, found <NA> at index \(1, 1\)"
        ):
            getattr(model, method)(frame)
