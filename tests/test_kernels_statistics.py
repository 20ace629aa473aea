"""The emission-statistics kernels (weighted sums, mixture terms, count checks)
against plain NumPy, and the same results for any thread count.

These kernels split the rows into blocks fixed by the number of rows
(``partition.row_blocks``) and add the blocks in order; the sizes below include
several blocks and a partial last block.
"""

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fasthmm._kernels.checks import integer_range, integer_range_serial, value_range
from fasthmm._kernels.partition import MAX_STATS_BLOCKS, STATS_ROWS, row_blocks
from fasthmm._validation import PARALLEL_SCAN, as_float_array, check_counts
from fasthmm.emissions._weighted import weighted_sums
from fasthmm.emissions.gmm import GMMEmission

MAX_THREADS = numba.config.NUMBA_NUM_THREADS


def on_threads(fn):
    """``fn()`` on one thread and on every thread."""
    out = []
    for threads in (1, MAX_THREADS):
        numba.set_num_threads(threads)
        try:
            out.append(fn())
        finally:
            numba.set_num_threads(MAX_THREADS)
    return out


@given(st.integers(1, 10**9))
def test_row_blocks_cover_the_rows(n_rows):
    rows, n_blocks = row_blocks(n_rows)
    assert rows >= STATS_ROWS and 1 <= n_blocks <= MAX_STATS_BLOCKS
    assert (n_blocks - 1) * rows < n_rows <= n_blocks * rows


@pytest.mark.parametrize("second", [None, "diagonal", "full"])
@pytest.mark.parametrize("n_rows", [1, 7, 2 * STATS_ROWS + 5])
def test_weighted_sums_equal_numpy_for_any_thread_count(second, n_rows):
    rng = np.random.default_rng(n_rows)
    X = rng.normal(3.0, 2.0, size=(n_rows, 3))
    W = rng.random((n_rows, 5))
    one, many = on_threads(lambda: weighted_sums(X, W, second))
    for a, b in zip(one, many):
        assert (a is None and b is None) or np.array_equal(a, b)
    post, obs, moments = one
    np.testing.assert_allclose(post, W.sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(obs, W.T @ X, rtol=1e-12)
    if second is None:
        assert moments is None
    elif second == "diagonal":
        np.testing.assert_allclose(moments, W.T @ X**2, rtol=1e-12)
    else:
        ref = np.einsum("tc,ti,tj->cij", W, X, X)
        np.testing.assert_allclose(moments, ref, rtol=1e-12)


def _mixture_reference(comp, log_weights, n_mix, posteriors):
    """Log-sum-exp and responsibilities in plain NumPy."""
    n, k = posteriors.shape
    terms = (comp + log_weights).reshape(n, k, n_mix)
    with np.errstate(divide="ignore", invalid="ignore"):
        top = terms.max(axis=2, keepdims=True)
        top[~np.isfinite(top)] = 0.0
        scaled = np.exp(terms - top)
        total = scaled.sum(axis=2, keepdims=True)
        log_sum = (np.log(total) + top)[:, :, 0]
        resp = np.where(total > 0, scaled * posteriors[:, :, None] / total, 0.0)
    return log_sum, resp.reshape(n, k * n_mix)


@settings(max_examples=30)
@given(
    n_rows=st.integers(1, 600),
    k=st.integers(1, 4),
    n_mix=st.integers(2, 3),
    seed=st.integers(0, 2**32 - 1),
    zero_weight=st.booleans(),
)
def test_mixture_terms_equal_numpy(n_rows, k, n_mix, seed, zero_weight):
    """The GMM's log-sum-exp over components and its responsibilities (its
    kernels around NumPy's exp) against plain NumPy, with components of zero
    density and zero weight."""
    rng = np.random.default_rng(seed)
    comp = rng.normal(-50.0, 200.0, size=(n_rows, k * n_mix))
    comp[rng.random(comp.shape) < 0.1] = -np.inf  # components of zero density
    weights = rng.dirichlet(np.ones(n_mix), size=k)
    if zero_weight:
        weights[0, 0] = 0.0
    with np.errstate(divide="ignore"):
        log_weights = np.log(weights).reshape(-1)
    posteriors = rng.dirichlet(np.ones(k), size=n_rows)
    ref_sum, ref_resp = _mixture_reference(comp, log_weights, n_mix, posteriors)

    emission = GMMEmission(k, {"weights_": weights}, n_mix=n_mix)
    emission._component_log_density = lambda X: comp.copy()
    X = np.zeros((n_rows, 1))

    def run():
        return emission.log_likelihood(X), emission._responsibilities(X, posteriors)

    (log_sum, resp), (log_sum2, resp2) = on_threads(run)
    assert np.array_equal(log_sum, log_sum2) and np.array_equal(resp, resp2)
    np.testing.assert_array_equal(np.isneginf(log_sum), np.isneginf(ref_sum))
    finite = np.isfinite(ref_sum)
    np.testing.assert_allclose(log_sum[finite], ref_sum[finite], rtol=1e-13)
    np.testing.assert_allclose(resp, ref_resp, rtol=1e-12, atol=1e-300)


@given(
    st.lists(
        st.one_of(
            st.integers(-5, 40).map(float),
            st.floats(allow_infinity=False, allow_nan=True, width=64),
        ),
        min_size=1,
        max_size=50,
    ),
    st.integers(0, 3 * STATS_ROWS),
)
def test_integer_range_equals_numpy(values, padding):
    # padding zeros put the interesting values in later blocks too
    arr = np.concatenate([np.zeros(padding), np.array(values)])
    for scan in (integer_range, integer_range_serial):
        integers, lo, hi = scan(arr)
        with np.errstate(invalid="ignore"):
            assert integers == bool(np.all(arr == np.floor(arr)))
        if not np.isnan(arr).any():
            assert (lo, hi) == (arr.min(), arr.max())


@given(
    st.lists(st.floats(allow_nan=True, width=64), min_size=1, max_size=50),
    st.integers(0, 3 * STATS_ROWS),
)
def test_value_range_equals_numpy(values, padding):
    arr = np.concatenate([np.zeros(padding), np.array(values)])
    has_nan, lo, hi = value_range(arr)
    assert has_nan == bool(np.isnan(arr).any())
    assert (lo, hi) == (np.nanmin(arr), np.nanmax(arr))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 0.5, -1.0])
def test_large_arrays_are_checked_as_small_ones(bad):
    """The parallel scans of large arrays give the same errors as NumPy's."""
    messages = []
    for n in (10, PARALLEL_SCAN + 10):
        X = np.ones((n, 2))
        X[n - 3, 1] = bad
        with pytest.raises(ValueError) as err:
            check_counts(as_float_array(X, "X"), "X")
        messages.append(str(err.value))
    assert messages[0] == messages[1]
