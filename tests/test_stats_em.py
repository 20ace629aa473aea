"""The statistics spine: E-step -> mergeable Stats -> M-step, one EM loop.

Statistics of disjoint batches add up; EM driven by statistics summed over
pieces of the data gives the fit of the whole batch.
"""

import numpy as np
import pytest
from families import FAMILIES

from fasthmm.em import ConvergenceMonitor, maximize, run_em
from fasthmm.stats import Stats


def _random_stats(rng, k=3, keys=("obs", "post")):
    return Stats(
        start=rng.random(k),
        trans=rng.random((k, k)),
        emission={key: rng.random((k, 2)) for key in keys},
        log_likelihood=float(rng.normal()),
        n_sequences=int(rng.integers(1, 5)),
        n_samples=int(rng.integers(5, 50)),
    )


def test_stats_add_field_by_field():
    rng = np.random.default_rng(0)
    a, b = _random_stats(rng), _random_stats(rng)
    c = a + b
    np.testing.assert_array_equal(c.start, a.start + b.start)
    np.testing.assert_array_equal(c.trans, a.trans + b.trans)
    for key in a.emission:
        np.testing.assert_array_equal(
            c.emission[key], a.emission[key] + b.emission[key]
        )
    assert c.log_likelihood == a.log_likelihood + b.log_likelihood
    assert c.n_sequences == a.n_sequences + b.n_sequences
    assert c.n_samples == a.n_samples + b.n_samples


def test_sum_in_a_fixed_order_is_bit_reproducible():
    rng = np.random.default_rng(1)
    parts = [_random_stats(rng) for _ in range(5)]
    one = sum(parts)
    two = (((parts[0] + parts[1]) + parts[2]) + parts[3]) + parts[4]
    np.testing.assert_array_equal(one.trans, two.trans)
    np.testing.assert_array_equal(one.emission["obs"], two.emission["obs"])
    assert one.log_likelihood == two.log_likelihood


def test_stats_of_different_families_do_not_add():
    rng = np.random.default_rng(2)
    with pytest.raises(ValueError, match="different emission families"):
        _random_stats(rng, keys=("obs",)) + _random_stats(rng, keys=("post",))


def _batch(family, seed, n_seq=12):
    rng = np.random.default_rng(seed)
    model = family.make(rng, 3, n_iter=4, tol=-np.inf)
    lengths = rng.integers(1, 40, size=n_seq)
    X = family.sample(rng, 3, int(lengths.sum()))
    return model, X, lengths


def _pieces(X, lengths, cuts):
    """(X, lengths) of consecutive groups of whole sequences."""
    bounds = np.concatenate(([0], np.cumsum(lengths)))
    out = []
    for lo, hi in zip((0,) + cuts, cuts + (len(lengths),)):
        out.append((X[bounds[lo] : bounds[hi]], lengths[lo:hi]))
    return out


def _fields(trans):
    """The chain's counts as arrays: an HMM's transition counts, or each
    field of a semi-Markov chain's (jumps and durations)."""
    return [trans] if isinstance(trans, np.ndarray) else list(vars(trans).values())


def _assert_stats_close(a, b, rtol):
    np.testing.assert_allclose(a.start, b.start, rtol=rtol, atol=1e-12)
    for x, y in zip(_fields(a.trans), _fields(b.trans), strict=True):
        np.testing.assert_allclose(x, y, rtol=rtol, atol=1e-12)
    assert a.emission.keys() == b.emission.keys()
    for key in a.emission:
        np.testing.assert_allclose(
            a.emission[key], b.emission[key], rtol=rtol, atol=1e-10
        )
    assert a.log_likelihood == pytest.approx(b.log_likelihood, rel=rtol)
    assert (a.n_sequences, a.n_samples) == (b.n_sequences, b.n_samples)


@pytest.mark.parametrize("family", FAMILIES, ids=repr)
def test_split_and_sum_equals_one_pass(family):
    model, X, lengths = _batch(family, 3)
    expected_stats = family.chain.expected_stats
    params, Xc, starts = model._checked_batch(X, lengths)
    whole = expected_stats(params, Xc, starts)
    parts = []
    for x, ln in _pieces(X, lengths, (3, 4, 9)):
        _, xc, st = model._checked_batch(x, ln)
        parts.append(expected_stats(params, xc, st))
    summed = sum(parts)
    _assert_stats_close(summed, whole, 1e-10)
    # The same pieces summed in the same order again: bit for bit.
    again = sum(
        expected_stats(params, *model._checked_batch(x, ln)[1:])
        for x, ln in _pieces(X, lengths, (3, 4, 9))
    )
    for x, y in zip(_fields(again.trans), _fields(summed.trans), strict=True):
        np.testing.assert_array_equal(x, y)
    for key in summed.emission:
        np.testing.assert_array_equal(again.emission[key], summed.emission[key])
    # One M-step from either gives the same parameters.
    a = maximize(params, summed, model.params).as_dict()
    b = maximize(params, whole, model.params).as_dict()
    for name in a:
        np.testing.assert_allclose(a[name], b[name], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("family", FAMILIES, ids=repr)
def test_em_over_pieces_equals_fit_of_the_whole(family):
    model, X, lengths = _batch(family, 4)
    expected_stats = family.chain.expected_stats
    params, _, _ = model._checked_batch(X, lengths)
    pieces = [model._checked_batch(x, ln)[1:] for x, ln in _pieces(X, lengths, (5, 7))]
    monitor = ConvergenceMonitor(model.tol, model.n_iter, False)
    final = run_em(
        lambda p: sum(expected_stats(p, x, st) for x, st in pieces),
        params,
        model.params,
        monitor,
    ).as_dict()
    model.fit(X, lengths)
    for name, value in final.items():
        np.testing.assert_allclose(getattr(model, name), value, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(model.monitor_.history, monitor.history, rtol=1e-10)
    assert len(monitor.history) == model.n_iter
