"""Data larger than memory: a memmap or a list of arrays walked in blocks.

The reference for every blocked result is the same model's in-memory result
on the same data (one block: the ordinary path, itself checked against
brute force and plain NumPy by the contract tests). Blocks are forced with
a tiny ``memory_budget``.
"""

import copy
import tracemalloc

import numpy as np
import pytest
from families import BY_NAME, FAMILIES
from hypothesis import given, settings
from hypothesis import strategies as st
from models_helpers import assert_unchanged, snapshot

import fasthmm
from fasthmm._batches import bytes_per_row, plan

RTOL = 1e-10


def _memmap(tmp_path, X, name="x.npy"):
    path = tmp_path / name
    np.save(path, X)
    return np.load(path, mmap_mode="r")


def _data(family, seed=0, n_seq=12):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(5, 40, n_seq)
    X = family.sample(rng, 3, int(lengths.sum()))
    return X, lengths


def _budget(model, X, rows):
    """A budget that holds about ``rows`` rows per block."""
    d = X.shape[1] if X.ndim == 2 else 1
    return rows * bytes_per_row(model.n_components, d)


def _close(a, b):
    np.testing.assert_allclose(
        a, b, rtol=RTOL, atol=RTOL * np.max(np.abs(b), initial=0)
    )


@pytest.mark.parametrize("family", FAMILIES, ids=repr)
def test_blocked_fit_equals_in_memory_fit(family, tmp_path):
    X, lengths = _data(family)
    start = family.make(np.random.default_rng(1), 3, n_iter=6, tol=-np.inf)
    whole = copy.deepcopy(start).fit(X, lengths)
    blocked = copy.deepcopy(start).set_params(memory_budget=_budget(start, X, 60))
    assert plan(X, lengths, 3, blocked.memory_budget).n_blocks > 3
    blocked.fit(_memmap(tmp_path, X), lengths)
    _close(blocked.monitor_.history, whole.monitor_.history)
    for name in start._param_names():
        _close(getattr(blocked, name), getattr(whole, name))


@pytest.mark.parametrize("name", ["categorical", "gaussian-diag", "gmm-full"])
def test_blocked_inference_equals_in_memory(name, tmp_path):
    family = BY_NAME[name]
    X, lengths = _data(family, seed=2)
    model = family.make(np.random.default_rng(3), 3)
    mm = _memmap(tmp_path, X)
    small = copy.deepcopy(model).set_params(memory_budget=_budget(model, X, 50))
    _close(small.score(mm, lengths), model.score(X, lengths))
    _close(small.predict_proba(mm, lengths), model.predict_proba(X, lengths))
    lp, path = small.decode(mm, lengths)
    lp0, path0 = model.decode(X, lengths)
    _close(lp, lp0)
    np.testing.assert_array_equal(path, path0)
    lp, path = small.decode(mm, lengths, algorithm="map")
    lp0, path0 = model.decode(X, lengths, algorithm="map")
    _close(lp, lp0)
    np.testing.assert_array_equal(path, path0)
    _close(small.bic(mm, lengths), model.bic(X, lengths))


@settings(max_examples=30)
@given(
    lengths=st.lists(st.integers(1, 30), min_size=2, max_size=12),
    rows=st.integers(1, 80),
    seed=st.integers(0, 2**16),
)
def test_any_cut_into_blocks_gives_the_same_statistics(lengths, rows, seed):
    family = BY_NAME["gaussian-diag"]
    rng = np.random.default_rng(seed)
    X = family.random_data(rng, sum(lengths))
    model = family.make(rng, 2, n_iter=2, tol=-np.inf)
    whole = copy.deepcopy(model).fit(X, lengths)
    blocked = copy.deepcopy(model).set_params(memory_budget=_budget(model, X, rows))
    blocked.fit(X, lengths)
    _close(blocked.monitor_.history, whole.monitor_.history)
    _close(blocked.means_, whole.means_)
    _close(blocked.predict_proba(X, lengths), whole.predict_proba(X, lengths))


def test_list_of_files_with_lengths_per_file(tmp_path):
    family = BY_NAME["gaussian-full"]
    X, lengths = _data(family, seed=4)
    cut = int(np.cumsum(lengths)[4])
    files = [_memmap(tmp_path, X[:cut], "a.npy"), _memmap(tmp_path, X[cut:], "b.npy")]
    per_file = [lengths[:5], lengths[5:]]
    model = family.make(np.random.default_rng(5), 3, n_iter=4, tol=-np.inf)
    whole = copy.deepcopy(model).fit(X, lengths)
    for budget in (None, _budget(model, X, 45)):  # one block, then several
        fitted = copy.deepcopy(model).set_params(memory_budget=budget)
        fitted.fit(files, per_file)
        _close(fitted.monitor_.history, whole.monitor_.history)
        _close(fitted.predict_proba(files, per_file), whole.predict_proba(X, lengths))


def test_list_of_sequences_blocked_equals_in_memory():
    family = BY_NAME["poisson"]
    X, lengths = _data(family, seed=6)
    seqs = np.split(X, np.cumsum(lengths)[:-1])
    model = family.make(np.random.default_rng(7), 3, n_iter=3, tol=-np.inf)
    whole = copy.deepcopy(model).fit(seqs)
    blocked = copy.deepcopy(model).set_params(memory_budget=_budget(model, X, 70))
    blocked.fit(seqs)
    _close(blocked.monitor_.history, whole.monitor_.history)
    np.testing.assert_array_equal(blocked.predict(seqs), whole.predict(seqs))


def test_initialisation_from_data_equals_in_memory_on_small_data(tmp_path):
    # Below the sample size the initialisation sample is all of X.
    X, lengths = _data(BY_NAME["gaussian-diag"], seed=8)
    kw = dict(n_iter=3, tol=-np.inf, random_state=0)
    whole = fasthmm.GaussianHMM(3, **kw).fit(X, lengths)
    blocked = fasthmm.GaussianHMM(3, memory_budget=_budget(whole, X, 40), **kw)
    blocked.fit(_memmap(tmp_path, X), lengths)
    _close(blocked.monitor_.history, whole.monitor_.history)


def test_categorical_symbols_counted_over_every_block():
    rng = np.random.default_rng(9)
    X = rng.integers(0, 3, (300, 1))
    X[-1] = 6  # the largest symbol is in the last block only
    kw = dict(n_iter=2, tol=-np.inf, random_state=0)
    whole = fasthmm.CategoricalHMM(2, **kw).fit(X, [100, 100, 100])
    blocked = fasthmm.CategoricalHMM(2, memory_budget=1, **kw)
    blocked.fit(X, [100, 100, 100])
    assert blocked.n_features == whole.n_features == 7
    _close(blocked.emissionprob_, whole.emissionprob_)


def test_working_memory_stays_within_the_budget(tmp_path):
    # NumPy's allocations are traced; the data (a memmap) is page cache.
    family = BY_NAME["gaussian-diag"]
    rng = np.random.default_rng(10)
    k, n = 8, 200_000
    X = family.random_data(rng, n, 4)
    mm = _memmap(tmp_path, X)
    lengths = np.full(n // 1000, 1000)
    budget = 2_000_000  # bytes; one pass in memory would need ~60 MB
    model = fasthmm.GaussianHMM(
        k, n_iter=2, tol=-np.inf, random_state=0, memory_budget=budget
    )
    model.fit(mm[:5000], lengths[:5])  # compile outside the measurement
    tracemalloc.start()
    try:
        model.fit(mm, lengths)
        model.score(mm, lengths)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    needed = n * bytes_per_row(k, 4)
    assert needed > 20 * budget
    # The initialisation sample (100,000 rows of 4 features) and k-means add
    # a fixed amount that does not grow with the data.
    assert peak < budget + 100_000 * 4 * 8 * 4, peak


def test_a_sequence_longer_than_the_budget_is_one_block():
    X = np.random.default_rng(11).standard_normal((500, 2))
    blocks = plan(X, [10, 480, 10], 2, 1)
    assert [int(b) for b in np.diff(blocks.starts[blocks.bounds])] == [10, 480, 10]


def test_bad_block_is_named_and_model_unchanged(tmp_path):
    family = BY_NAME["gaussian-diag"]
    X, lengths = _data(family, seed=12)
    X[-3, 1] = np.nan  # in the last block only
    model = family.make(np.random.default_rng(13), 3, n_iter=3)
    model.set_params(memory_budget=_budget(model, X, 40))
    before = snapshot(model)
    with pytest.raises(ValueError, match=r"X\[\d+:\d+\]: X must not contain NaN"):
        model.fit(_memmap(tmp_path, X), lengths)
    assert_unchanged(model, before, "a failed blocked fit")


def test_files_that_disagree_are_named():
    a = np.zeros((30, 2))
    b = np.zeros((30, 3))
    model = fasthmm.GaussianHMM(2, memory_budget=1)
    before = snapshot(model)
    with pytest.raises(ValueError, match=r"X\[1\]"):
        model.fit([a, b], [[10, 20], [30]])
    assert_unchanged(model, before)
    with pytest.raises(ValueError, match=r"lengths\[1\] must sum to n_samples = 30"):
        model.fit([a, a], [[10, 20], [10, 10]])
    with pytest.raises(ValueError, match="one entry per array"):
        model.fit([a, a], [[10, 20]])
    with pytest.raises(TypeError, match="memory_budget must be an integer"):
        fasthmm.GaussianHMM(2, memory_budget=1.5).fit(a)
    with pytest.raises(ValueError, match="memory_budget must be >= 1"):
        fasthmm.GaussianHMM(2, memory_budget=0).fit(a)


@pytest.mark.parametrize("known", [0.3, 1.0])
def test_labelled_blocked_fit_equals_in_memory(known, tmp_path):
    # Partly labelled (EM with known states clamped) and fully labelled
    # (one pass) fits, with the labels cut along with the blocks.
    family = BY_NAME["gaussian-diag"]
    X, lengths = _data(family, seed=14)
    rng = np.random.default_rng(15)
    states = rng.integers(0, 3, X.shape[0])
    states[rng.random(X.shape[0]) > known] = -1
    model = family.make(rng, 3, n_iter=4, tol=-np.inf)
    whole = copy.deepcopy(model).fit(X, lengths, states=states)
    blocked = copy.deepcopy(model).set_params(memory_budget=_budget(model, X, 50))
    blocked.fit(_memmap(tmp_path, X), lengths, states=states)
    _close(blocked.monitor_.history, whole.monitor_.history)
    _close(blocked.means_, whole.means_)
    _close(blocked.transmat_, whole.transmat_)


@pytest.mark.parametrize("family", FAMILIES, ids=repr)
def test_blocked_forecast_equals_in_memory_forecast(family, tmp_path):
    if not family.supports("forecast_proba"):
        pytest.skip(f"{family!r} does not offer forecast_proba")
    X, lengths = _data(family, seed=3)
    model = family.make(np.random.default_rng(2), 3)
    whole = model.forecast_proba(X, lengths, steps=3)
    blocked = copy.deepcopy(model).set_params(memory_budget=_budget(model, X, 60))
    assert plan(X, lengths, 3, blocked.memory_budget).n_blocks > 3
    _close(blocked.forecast_proba(_memmap(tmp_path, X), lengths, steps=3), whole)
