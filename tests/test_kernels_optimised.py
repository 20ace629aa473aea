"""The optimised kernels against straightforward computations.

Each speed-up in the kernels (rows taken eight at a time, transition counts
buffered over several steps, a polynomial exp, rolling forward rows, blocked
statistics, Gaussian densities by loops) is checked here against plain NumPy on
random inputs, including sequences of length 1 and mixed lengths, and sizes that
leave remainders after the unrolled parts.
"""

from fractions import Fraction

import numba
import numpy as np
import pytest
from reference import batch_reference, random_problem

from fasthmm._kernels import categorical as _kernels_stats
from fasthmm._kernels import gaussian as _kernels_gaussian
from fasthmm._kernels import hmm as _kernels
from fasthmm._kernels.fma import fma
from fasthmm._kernels.partition import DENSITY_ROWS
from fasthmm._validation import check_lengths
from fasthmm.inference import (
    Workspace,
    block_bounds,
    e_step,
    forward_pass,
    sequence_log_likelihoods,
)

SIZES = [1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 64]
MIXED_LENGTHS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 1, 40]


@pytest.mark.parametrize("n", SIZES)
def test_vecmat_equals_numpy(n):
    rng = np.random.default_rng(n)
    v, m = rng.random(n), rng.random((n, n))
    out = np.empty(n)
    _kernels.vecmat(v, m, out)
    np.testing.assert_allclose(out, v @ m, rtol=1e-14)


@numba.njit
def _fma(a, b, c):
    return fma(a, b, c)


def _exact_fma(a, b, c):
    """``a * b + c`` in exact rational arithmetic, rounded once to float64."""
    return float(Fraction(a) * Fraction(b) + Fraction(c))


def test_fma_rounds_once():
    e = 2.0**-30
    # (1 + e)(1 - e) - 1 = -e**2: lost by a rounded product, kept by a fused one.
    assert (1 + e) * (1 - e) - 1.0 == 0.0
    assert _fma(1 + e, 1 - e, -1.0) == -(e**2)
    rng = np.random.default_rng(0)
    for a, b, c in rng.normal(size=(200, 3)) * [1.0, 1e3, 1e-3]:
        assert _fma(a, b, c) == _exact_fma(a, b, c)


@pytest.mark.parametrize("n", SIZES + [12, 15, 24, 33])
@pytest.mark.parametrize("same_array", [False, True])
def test_vecmat_rows_is_the_fused_sum_in_row_order(n, same_array):
    """Bit for bit: out[j] = fma(v[n-1], m[n-1, j], ... fma(v[0], m[0, j], 0))."""
    rng = np.random.default_rng(n)
    v = rng.random((2, n))
    m = rng.random((n, n))
    out = v if same_array else np.full((2, n), np.nan)
    expected = np.zeros(n)
    for j in range(n):
        for i in range(n):
            expected[j] = _exact_fma(v[0, i], m[i, j], expected[j])
    _kernels.vecmat_rows(v, 0, m, out, 1)
    np.testing.assert_array_equal(out[1], expected)


def test_exp_shift_matches_numpy_and_is_the_same_in_place():
    rng = np.random.default_rng(0)
    le = rng.normal(scale=300.0, size=(1000, 7))
    le[5] = -np.inf  # an impossible row stays zero
    le[6, :3] = -np.inf
    le[7, 0] = -1e4
    frame, shift = np.empty_like(le), np.empty(le.shape[0])
    _kernels.exp_shift_from(le, frame, shift)
    finite_max = np.where(np.isfinite(le.max(axis=1)), le.max(axis=1), 0.0)
    np.testing.assert_array_equal(shift, finite_max)
    with np.errstate(under="ignore"):
        expected = np.exp(le - finite_max[:, None])
    normal = expected > np.exp(-708.0)
    np.testing.assert_allclose(frame[normal], expected[normal], rtol=4e-16)
    assert np.all(frame[~normal] <= np.exp(-708.0))
    in_place, shift2 = le.copy(), np.empty(le.shape[0])
    _kernels.exp_shift_from(in_place, in_place, shift2)
    np.testing.assert_array_equal(in_place, frame)


@pytest.mark.parametrize("k", [1, 3, 5, 16])
def test_rolling_loglik_equals_stored_forward(k):
    rng = np.random.default_rng(k)
    lengths = MIXED_LENGTHS * 7  # more sequences than MAX_BLOCKS
    le, sp, tm = random_problem(rng, k, lengths)
    starts = check_lengths(lengths, le.shape[0])
    ws = Workspace(starts, k)
    ws.load_log_emissions(le)
    rolling = sequence_log_likelihoods(ws, sp, tm).copy()
    stored = forward_pass(ws, sp, tm).copy()
    np.testing.assert_array_equal(rolling, stored)
    ref = batch_reference(le, sp, tm, lengths)
    np.testing.assert_allclose(rolling, ref["ll"], rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("k", [1, 2, 3, 5, 8, 16])
@pytest.mark.parametrize("left_right", [False, True])
def test_buffered_transition_counts_equal_reference(k, left_right):
    rng = np.random.default_rng(10 * k + left_right)
    le, sp, tm = random_problem(rng, k, MIXED_LENGTHS, left_right=left_right)
    ws = Workspace(check_lengths(MIXED_LENGTHS, le.shape[0]), k)
    ws.load_log_emissions(le)
    ll, xi, start = e_step(ws, sp, tm)
    ref = batch_reference(le, sp, tm, MIXED_LENGTHS)
    np.testing.assert_allclose(ll, ref["ll"], rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(ws.post, ref["posteriors"], atol=1e-10)
    np.testing.assert_allclose(xi, ref["xi"], rtol=1e-9, atol=1e-9)
    firsts = np.cumsum([0] + MIXED_LENGTHS[:-1])
    np.testing.assert_allclose(start, ref["posteriors"][firsts].sum(axis=0), atol=1e-10)
    # Every step but the last of each sequence contributes one unit of mass.
    assert xi.sum() == pytest.approx(le.shape[0] - len(MIXED_LENGTHS), rel=1e-12)


def test_block_bounds_cover_every_sequence_once():
    lengths = np.random.default_rng(1).integers(1, 50, size=500)
    starts = check_lengths(lengths, int(lengths.sum()))
    blocks = block_bounds(starts)
    assert blocks[0] == 0 and blocks[-1] == len(lengths)
    assert np.all(np.diff(blocks) > 0)


def test_symbol_counts_equal_bincount():
    rng = np.random.default_rng(2)
    symbols = rng.integers(0, 11, size=5003)
    weights = rng.random((5003, 4))
    out = np.ones((11, 4))
    _kernels_stats.symbol_counts(symbols, weights, out, numba.get_num_threads())
    ref = 1.0 + np.stack([np.bincount(symbols, weights[:, c], 11) for c in range(4)])
    np.testing.assert_allclose(out.T, ref, rtol=1e-12)


@pytest.mark.parametrize("n_symbols", [1, 3, 1000, 20000])
def test_symbol_counts_are_the_same_for_any_thread_count(n_symbols):
    rng = np.random.default_rng(n_symbols)
    # A skewed (Zipf-like) vocabulary: most rows hold a few symbols.
    symbols = np.minimum(rng.zipf(1.3, size=50_000) - 1, n_symbols - 1)
    weights = rng.random((50_000, 5))
    results = []
    for threads in (1, numba.config.NUMBA_NUM_THREADS):
        numba.set_num_threads(threads)
        out = np.zeros((n_symbols, 5))
        _kernels_stats.symbol_counts(symbols, weights, out, threads)
        results.append(out)
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    np.testing.assert_array_equal(results[0], results[1])
    ref = np.stack([np.bincount(symbols, weights[:, c], n_symbols) for c in range(5)])
    np.testing.assert_allclose(results[0].T, ref, rtol=1e-12)


@pytest.mark.parametrize("n_ranges", [1, 2, 3, 7])
def test_symbol_ranges_cover_the_vocabulary_in_order(n_ranges):
    rng = np.random.default_rng(n_ranges)
    symbols = np.minimum(rng.zipf(1.5, size=10_000) - 1, 99)
    bounds = _kernels_stats._symbol_ranges(symbols, 100, n_ranges)
    assert bounds[0] == 0 and bounds[-1] == 100
    assert np.all(np.diff(bounds) >= 0)


def _densities_on_threads(blocks, X, *args):
    """``log_density(blocks, X, *args)`` on one thread and on every thread."""
    outs = []
    default = numba.get_num_threads()
    for threads in (1, numba.config.NUMBA_NUM_THREADS):
        numba.set_num_threads(threads)
        try:
            out = np.full((X.shape[0], args[0].shape[0]), np.nan)
            _kernels_gaussian.log_density(blocks, X, *args, out)
        finally:
            numba.set_num_threads(default)
        outs.append(out)
    return outs


@pytest.mark.parametrize("n", [700, 2 * DENSITY_ROWS + 5])
def test_gaussian_kernels_equal_numpy_densities(n):
    """One block, and several on one thread and on every thread (the same
    bits: each row is computed alone)."""
    rng = np.random.default_rng(3)
    d, k = 3, 4
    X = rng.normal(size=(n, d)) * 5
    means = rng.normal(size=(k, d))
    var = rng.uniform(0.2, 3.0, size=(k, d))
    log_norm = -0.5 * (d * np.log(2 * np.pi) + np.log(var).sum(axis=1))
    one, every = _densities_on_threads(
        _kernels_gaussian.diag_log_density_blocks, X, means, 1.0 / var, log_norm
    )
    np.testing.assert_array_equal(one, every)
    diff = X[:, None, :] - means[None]
    ref = log_norm - 0.5 * (diff**2 / var).sum(axis=2)
    np.testing.assert_allclose(one, ref, rtol=1e-12)

    a = rng.normal(size=(k, d, d))
    cov = a @ np.swapaxes(a, 1, 2) + np.eye(d)
    chol = np.linalg.cholesky(cov)
    log_det = np.linalg.slogdet(cov)[1]
    one, every = _densities_on_threads(
        _kernels_gaussian.cholesky_log_density_blocks,
        X,
        means,
        chol,
        -0.5 * (d * np.log(2 * np.pi) + log_det),
    )
    np.testing.assert_array_equal(one, every)
    maha = np.einsum("nki,kij,nkj->nk", diff, np.linalg.inv(cov), diff)
    ref = -0.5 * (d * np.log(2 * np.pi) + log_det + maha)
    np.testing.assert_allclose(one, ref, rtol=1e-10)


@pytest.mark.parametrize("n", SIZES + [12, 15, 24, 33])
def test_viterbi_max_rows_equals_numpy_with_ties(n):
    """Max-plus product and its first argmax, on values with many ties and -inf."""
    rng = np.random.default_rng(n)
    v = rng.integers(-3, 1, size=(2, n)).astype(float)
    v[0, rng.random(n) < 0.2] = -np.inf
    m = rng.integers(-3, 1, size=(n, n)).astype(float)
    m[rng.random((n, n)) < 0.2] = -np.inf
    out = np.array([np.zeros(n), np.full(n, -np.inf)])
    out[1, : n // 2] = -1.0  # an existing value the candidates must beat
    arg = np.full((3, n), -7, dtype=np.int32)
    cand = v[0][:, None] + m
    best = cand.max(axis=0)
    first = cand.argmax(axis=0)  # numpy's argmax is the first maximum
    beats = best > out[1]
    expected_out = np.where(beats, best, out[1])
    expected_arg = np.where(beats, first, -7)
    _kernels.viterbi_max_rows(v, 0, m, out, 1, arg, 2)
    np.testing.assert_array_equal(out[1], expected_out)
    np.testing.assert_array_equal(arg[2], expected_arg)
