"""Input-driven transitions (``transition_inputs=True``): exactness against
brute force and a NumPy log-space reference, the logistic M-step, monotone EM,
routes (blocks, threads), save/load, bad input, and statsmodels' Markov
switching regression with time-varying transition probabilities."""

import io
import itertools
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fasthmm
from fasthmm import inference, input_transitions
from fasthmm.em import expected_stats
from fasthmm.input_transitions import logistic_row, logistic_rows
from tests.reference import (
    brute_force_steps,
    gaussian_loglik,
    log_forward_backward_steps,
    softmax_transmats,
)


def tvtp_model(k, d, rng, scale=1.0, **kw):
    """A 1-D Gaussian model with input-driven transitions and random parameters."""
    model = fasthmm.GaussianHMM(k, transition_inputs=True, **kw)
    model.startprob_ = rng.dirichlet(np.ones(k))
    coef = rng.normal(scale=scale, size=(k, k, d))
    coef[:, -1, :] = 0.0
    model.transcoef_ = coef
    model.means_ = rng.normal(scale=2.0, size=(k, 1))
    model.covars_ = rng.uniform(0.5, 2.0, size=(k, 1))
    return model


def inputs_of(n, d, rng):
    """A constant column and d - 1 random ones."""
    return np.column_stack([np.ones(n), rng.normal(size=(n, d - 1))])


def reference_terms(model, X, W):
    le = gaussian_loglik(X, model.means_, model.covars_, "diag")
    return le, softmax_transmats(model.transcoef_, W)


@pytest.mark.parametrize("k", [2, 3])
@pytest.mark.parametrize("seed", [0, 1])
def test_every_route_equals_brute_force(k, seed):
    rng = np.random.default_rng(seed)
    lengths = [4, 3, 1]
    n = sum(lengths)
    model = tvtp_model(k, 2, rng, scale=1.5)
    X = rng.normal(size=(n, 1)) * 2
    W = inputs_of(n, 2, rng)
    le, A = reference_terms(model, X, W)
    kw = {"transition_inputs": W}
    post = model.predict_proba(X, lengths, **kw)
    filtered = model.filter_proba(X, lengths, **kw)
    lp, path = model.decode(X, lengths, **kw)
    stats = expected_stats(model._checked_params(), X, np.array([0, 4, 7, 8]), w=W)
    total, best_total = 0.0, 0.0
    for lo, hi in [(0, 4), (4, 7), (7, 8)]:
        ll, p, xi, best, best_score = brute_force_steps(
            le[lo:hi], model.startprob_, A[lo:hi]
        )
        total += ll
        best_total += best_score
        np.testing.assert_allclose(post[lo:hi], p, atol=1e-10)
        np.testing.assert_allclose(stats.trans.xi[lo:hi], xi, atol=1e-10)
        for t in range(lo, hi):  # filtered row t: last posterior of the prefix
            pref = brute_force_steps(le[lo : t + 1], model.startprob_, A[lo : t + 1])
            np.testing.assert_allclose(filtered[t], pref[1][-1], atol=1e-10)
        # The decoded path scores as well as the best one.
        z = path[lo:hi]
        score = np.log(model.startprob_[z[0]]) + le[lo, z[0]]
        for t in range(1, hi - lo):
            score += np.log(A[lo + t, z[t - 1], z[t]]) + le[lo + t, z[t]]
        assert score == pytest.approx(best_score, abs=1e-10)
    assert model.score(X, lengths, **kw) == pytest.approx(total, abs=1e-10)
    assert lp == pytest.approx(best_total, abs=1e-10)
    assert stats.log_likelihood == pytest.approx(total, abs=1e-10)


def test_long_sequences_equal_the_log_space_reference():
    rng = np.random.default_rng(3)
    model = tvtp_model(3, 3, rng, scale=3.0)
    model.covars_ = np.full((3, 1), 1e-3)  # extreme log-emissions
    lengths = [300, 250]
    X = rng.normal(size=(550, 1)) * 2
    W = inputs_of(550, 3, rng)
    le, A = reference_terms(model, X, W)
    post = model.predict_proba(X, lengths, transition_inputs=W)
    filtered = model.filter_proba(X, lengths, transition_inputs=W)
    total = 0.0
    for lo, hi in [(0, 300), (300, 550)]:
        ll, f, p = log_forward_backward_steps(le[lo:hi], model.startprob_, A[lo:hi])
        total += ll
        np.testing.assert_allclose(post[lo:hi], p, atol=1e-8)
        np.testing.assert_allclose(filtered[lo:hi], f, atol=1e-8)
    assert model.score(X, lengths, transition_inputs=W) == pytest.approx(
        total, rel=1e-12
    )


def trapped_model():
    """Two states, one constant transition input: transitions into state 1
    of probability exp(-800) (0 as a float); state 1 alone explains 10."""
    model = fasthmm.GaussianHMM(2, transition_inputs=True)
    model.startprob_ = np.array([0.5, 0.5])
    coef = np.zeros((2, 2, 1))
    coef[:, 0, 0] = 800.0
    model.transcoef_ = coef
    model.means_ = np.array([[0.0], [10.0]])
    model.covars_ = np.array([[0.01], [0.01]])
    return model


def test_sequences_the_scaled_recursion_cannot_answer_run_in_log_space():
    """Transitions into state 1 of probability exp(-800) (0 as a float) and a
    row only state 1 explains: the probability-space recursion cannot answer
    that sequence and the log-space one must; a plain sequence in the same
    batch takes the scaled one. Both equal the enumeration of every path in
    log space (log transition probabilities written as log-softmax)."""
    from scipy.special import logsumexp

    model = trapped_model()
    coef = model.transcoef_
    X = np.array([[0.0], [0.1], [10.0], [9.9], [0.0], [0.2], [-0.1], [0.1]])
    W = np.ones((8, 1))
    lengths = [4, 4]
    le = gaussian_loglik(X, model.means_, model.covars_, "diag")
    z = np.einsum("ijc,tc->tij", coef, W)
    log_a = z - logsumexp(z, axis=2, keepdims=True)
    stats = expected_stats(model._checked_params(), X, np.array([0, 4, 8]), w=W)
    post = model.predict_proba(X, lengths, transition_inputs=W)
    total = 0.0
    for lo in (0, 4):
        paths = np.array(list(itertools.product(range(2), repeat=4)))
        scores = np.array(
            [
                np.log(0.5)
                + le[lo, p[0]]
                + sum(
                    log_a[lo + t, p[t - 1], p[t]] + le[lo + t, p[t]] for t in (1, 2, 3)
                )
                for p in paths
            ]
        )
        ll = logsumexp(scores)
        weights = np.exp(scores - ll)
        total += ll
        for t in range(4):
            ref = [weights[paths[:, t] == j].sum() for j in range(2)]
            np.testing.assert_allclose(post[lo + t], ref, atol=1e-10)
        for t in (1, 2, 3):
            ref = [
                [
                    weights[(paths[:, t - 1] == i) & (paths[:, t] == j)].sum()
                    for j in (0, 1)
                ]
                for i in (0, 1)
            ]
            np.testing.assert_allclose(stats.trans.xi[lo + t], ref, atol=1e-10)
    assert np.isfinite(total)
    assert model.score(X, lengths, transition_inputs=W) == pytest.approx(
        total, rel=1e-12
    )
    assert stats.log_likelihood == pytest.approx(total, rel=1e-12)


def test_sequences_needing_log_space_among_others_on_threads(monkeypatch):
    """Sequences the scaled recursion cannot answer (the transitions of the
    test above) interleaved with plain ones, in blocks run on threads: each
    sequence's log-likelihood, posteriors, filtered rows and transition
    counts equal those of the sequence alone (which the test above checks
    against the enumeration of every path), whichever block flags it for
    the log-space recursion."""
    model = trapped_model()
    trap = np.array([[0.0], [0.1], [10.0], [9.9], [0.2]])
    plain = np.array([[0.0], [0.1], [-0.1], [0.2], [0.1]])
    seqs = [plain, trap, plain[:3], trap[:4], plain, trap, plain[1:]]
    lengths = [len(q) for q in seqs]
    X = np.concatenate(seqs)
    W = np.ones((len(X), 1))
    starts = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    monkeypatch.setattr(inference, "use_threads", lambda n, k: True)
    post = model.predict_proba(X, lengths, transition_inputs=W)
    filtered = model.filter_proba(X, lengths, transition_inputs=W)
    stats = expected_stats(model._checked_params(), X, starts, w=W)
    total = 0.0
    for q, lo, hi in zip(seqs, starts[:-1], starts[1:]):
        w = np.ones((len(q), 1))
        alone = expected_stats(model._checked_params(), q, np.array([0, len(q)]), w=w)
        total += alone.log_likelihood
        np.testing.assert_array_equal(
            post[lo:hi], model.predict_proba(q, transition_inputs=w)
        )
        np.testing.assert_array_equal(
            filtered[lo:hi], model.filter_proba(q, transition_inputs=w)
        )
        np.testing.assert_array_equal(stats.trans.xi[lo:hi], alone.trans.xi)
    assert np.isfinite(total)
    assert stats.log_likelihood == pytest.approx(total, rel=1e-14)


def test_constant_inputs_give_the_stationary_model():
    rng = np.random.default_rng(4)
    k = 3
    A = rng.dirichlet(np.ones(k), size=k)
    stationary = fasthmm.GaussianHMM(k)
    stationary.startprob_ = rng.dirichlet(np.ones(k))
    stationary.transmat_ = A
    stationary.means_ = rng.normal(size=(k, 2))
    stationary.covars_ = rng.uniform(0.5, 2, size=(k, 2))
    tvtp = fasthmm.GaussianHMM(k, transition_inputs=True)
    tvtp.startprob_ = stationary.startprob_
    tvtp.means_, tvtp.covars_ = stationary.means_, stationary.covars_
    tvtp.transcoef_ = (np.log(A) - np.log(A[:, -1:]))[:, :, None] / 2.0
    X = rng.normal(size=(60, 2))
    W = np.full((60, 1), 2.0)
    lengths = [25, 35]
    for method in ("score", "predict_proba", "filter_proba"):
        np.testing.assert_allclose(
            getattr(tvtp, method)(X, lengths, transition_inputs=W),
            getattr(stationary, method)(X, lengths),
            atol=1e-10,
            rtol=1e-12,
        )
    lp, path = tvtp.decode(X, lengths, transition_inputs=W)
    lp0, path0 = stationary.decode(X, lengths)
    assert lp == pytest.approx(lp0, rel=1e-12)
    np.testing.assert_array_equal(path, path0)


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    k=st.integers(2, 3),
    d=st.integers(1, 3),
    prior=st.sampled_from([0.0, 0.5]),
)
def test_em_objective_never_decreases(seed, k, d, prior):
    rng = np.random.default_rng(seed)
    n = 120
    X = rng.normal(size=(n, 1)) + 3 * (rng.random((n, 1)) < 0.4)
    W = inputs_of(n, d, rng)
    model = fasthmm.GaussianHMM(
        k,
        transition_inputs=True,
        transcoef_prior=prior,
        n_iter=8,
        tol=-np.inf,
        random_state=seed,
    )
    model.fit(X, [60, 60], transition_inputs=W)
    h = np.array(model.monitor_.history)
    assert np.all(np.diff(h) >= -1e-8 * np.abs(h[1:]))
    assert np.all(model.transcoef_[:, -1, :] == 0.0)


def _logistic_objective(coef, y, W, prior):
    """sum_t sum_j y[t, j] log softmax_j(coef @ W[t]) - prior / 2 ||coef||^2."""
    z = W @ coef.T
    log_p = (
        z
        - np.log(np.exp(z - z.max(axis=1, keepdims=True)).sum(axis=1))[:, None]
        - z.max(axis=1, keepdims=True)
    )
    return float((y * log_p).sum()) - 0.5 * prior * float((coef**2).sum())


def _regression_problem(rng, k, d, n, scale):
    """Inputs, per-step counts (some rows without counts) and a start of
    the given scale (last column zero) for the rows' regressions."""
    W = inputs_of(n, d, rng)
    xi = rng.random((n, k, k)) * (rng.random((n, k, 1)) < 0.7)
    xi[0] = 0.0
    start = rng.normal(scale=scale, size=(k, k, d))
    start[:, -1, :] = 0.0
    return W, xi, start


def test_logistic_row_reaches_the_optimum():
    optimize = pytest.importorskip("scipy.optimize")
    rng = np.random.default_rng(5)
    k, d, n = 3, 2, 200
    W = inputs_of(n, d, rng)
    y = rng.random((n, k)) * (rng.random((n, 1)) < 0.8)
    start = np.zeros((k, d))
    for prior in (0.0, 1.0):
        fitted = logistic_row(start, y, W, prior)

        def minus(flat, prior=prior):
            coef = np.vstack([flat.reshape(k - 1, d), np.zeros((1, d))])
            return -_logistic_objective(coef, y, W, prior)

        best = optimize.minimize(minus, np.zeros((k - 1) * d), method="BFGS")
        ours = _logistic_objective(fitted, y, W, prior)
        assert ours >= -best.fun - 1e-7
        assert ours >= _logistic_objective(start, y, W, prior)
        assert np.all(fitted[-1] == 0.0)


def test_logistic_rows_reach_each_rows_optimum_from_far_starts():
    """All rows in one pass (shared, chord Newton steps with halving) still
    reach each row's own optimum (BFGS on the NumPy objective) and never end
    below their start, from starts far enough to need halved steps."""
    optimize = pytest.importorskip("scipy.optimize")
    rng = np.random.default_rng(11)
    k, d = 4, 3
    W, xi, start = _regression_problem(rng, k, d, 300, 4.0)
    for prior in (0.0, 0.5):
        fitted = logistic_rows(start, xi, W, prior)
        assert np.all(fitted[:, -1, :] == 0.0)
        for i in range(k):
            y = xi[:, i, :]

            def minus(flat, y=y, prior=prior):
                coef = np.vstack([flat.reshape(k - 1, d), np.zeros((1, d))])
                return -_logistic_objective(coef, y, W, prior)

            best = optimize.minimize(minus, np.zeros((k - 1) * d), method="BFGS")
            ours = _logistic_objective(fitted[i], y, W, prior)
            assert ours >= -best.fun - 1e-6
            assert ours >= _logistic_objective(start[i], y, W, prior)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), scale=st.sampled_from([1e-3, 1.0, 1e3]))
def test_a_newton_step_from_other_information_matrices_never_lowers_a_row(seed, scale):
    """The M-step of an EM iteration starts its Newton step from the
    previous iteration's information matrices: from any positive definite
    matrices (here random ones, far too small or too large), each row's
    objective (the NumPy reference) still does not decrease, and matrices
    that made the step miss are not handed on."""
    rng = np.random.default_rng(seed)
    k, d = 3, 2
    W, xi, start = _regression_problem(rng, k, d, 150, 2.0)
    m = (k - 1) * d
    root = rng.normal(size=(k, m, m))
    info = scale * (root @ root.transpose(0, 2, 1) + 0.1 * np.eye(m))
    counts = (*input_transitions.reduced_counts(xi, W), W)
    coef, kept = input_transitions._ascend(start, counts, 0.0, 1, info)
    for i in range(k):
        before = _logistic_objective(start[i], xi[:, i, :], W, 0.0)
        after = _logistic_objective(coef[i], xi[:, i, :], W, 0.0)
        assert after >= before - 1e-9 * abs(before)
    if kept is not None:  # handed on: it predicted the gain of the step
        again, _ = input_transitions._ascend(coef, counts, 0.0, 1, kept)
        for i in range(k):
            before = _logistic_objective(coef[i], xi[:, i, :], W, 0.0)
            after = _logistic_objective(again[i], xi[:, i, :], W, 0.0)
            assert after >= before - 1e-9 * abs(before)


def test_information_matrices_are_reused_near_the_optimum():
    """Near a row's optimum the exact information matrices predict a
    Newton step's gain: the M-step hands them on, and the next step from
    them reaches the optimum (BFGS on the NumPy objective)."""
    optimize = pytest.importorskip("scipy.optimize")
    rng = np.random.default_rng(3)
    k, d, n = 3, 2, 400
    W = inputs_of(n, d, rng)
    xi = rng.random((n, k, k))
    xi[0] = 0.0
    counts = (*input_transitions.reduced_counts(xi, W), W)
    near = logistic_rows(np.zeros((k, k, d)), xi, W, 0.0, steps=2)
    coef, info = input_transitions._ascend(near, counts, 0.0, 1)
    assert info is not None
    coef, _ = input_transitions._ascend(coef, counts, 0.0, 3, info)
    for i in range(k):
        y = xi[:, i, :]

        def minus(flat, y=y):
            c = np.vstack([flat.reshape(k - 1, d), np.zeros((1, d))])
            return -_logistic_objective(c, y, W, 0.0)

        best = optimize.minimize(minus, np.zeros((k - 1) * d), method="BFGS")
        assert _logistic_objective(coef[i], y, W, 0.0) >= -best.fun - 1e-7


def test_blocks_and_threads_give_the_same_fit(monkeypatch):
    rng = np.random.default_rng(6)
    n = 400
    X = rng.normal(size=(n, 1)) + 3 * (rng.random((n, 1)) < 0.4)
    W = inputs_of(n, 2, rng)
    lengths = [100] * 4
    kw = {"n_iter": 4, "tol": -np.inf, "random_state": 0, "transition_inputs": True}
    whole = fasthmm.GaussianHMM(2, **kw).fit(X, lengths, transition_inputs=W)
    blocked = fasthmm.GaussianHMM(2, memory_budget=8000, **kw)
    assert blocked._blocks(X, lengths, None, W) is not None
    blocked.fit(X, lengths, transition_inputs=W)
    np.testing.assert_allclose(
        blocked.monitor_.history, whole.monitor_.history, rtol=1e-9
    )  # the emission's statistics are summed block by block: rounding
    np.testing.assert_allclose(blocked.transcoef_, whole.transcoef_, atol=1e-6)
    one = whole.predict_proba(X, lengths, transition_inputs=W)
    monkeypatch.setattr(inference, "use_threads", lambda n, k: True)
    threaded = whole.predict_proba(X, lengths, transition_inputs=W)
    np.testing.assert_array_equal(threaded, one)
    # The M-step's Newton iterations stop at a relative gain of 1e-12: a
    # rounding difference in the counts moves the coefficients by ~1e-8.
    np.testing.assert_allclose(
        blocked.predict_proba(X, lengths, transition_inputs=W), one, atol=1e-6
    )


def test_save_and_load_keep_transcoef():
    rng = np.random.default_rng(7)
    model = tvtp_model(3, 2, rng, transcoef_prior=0.25)
    X = rng.normal(size=(30, 1))
    W = inputs_of(30, 2, rng)
    buf = io.BytesIO()
    model.save(buf)
    buf.seek(0)
    loaded = fasthmm.load(buf)
    np.testing.assert_array_equal(loaded.transcoef_, model.transcoef_)
    assert loaded.transition_inputs and loaded.transcoef_prior == 0.25
    assert loaded.score(X, transition_inputs=W) == model.score(X, transition_inputs=W)


def test_sampling_follows_the_inputs():
    k, n = 2, 200
    model = fasthmm.GaussianHMM(k, transition_inputs=True)
    model.startprob_ = np.array([0.5, 0.5])
    coef = np.zeros((k, k, 2))
    coef[:, 0, 1] = 40.0  # state 0 when w[:, 1] > 0, else state 1
    model.transcoef_ = coef
    model.means_ = np.array([[0.0], [5.0]])
    model.covars_ = np.ones((k, 1))
    rng = np.random.default_rng(8)
    W = np.column_stack([np.ones(n), np.where(rng.random(n) < 0.5, 1.0, -1.0)])
    _, states = model.sample(n, random_state=1, transition_inputs=W)
    np.testing.assert_array_equal(states[1:], np.where(W[1:, 1] > 0, 0, 1))


def test_posterior_samples_match_the_posteriors():
    rng = np.random.default_rng(9)
    model = tvtp_model(2, 2, rng)
    X = rng.normal(size=(6, 1))
    W = inputs_of(6, 2, rng)
    draws = model.sample_posterior(
        X, n_samples=20000, random_state=0, transition_inputs=W
    )
    post = model.predict_proba(X, transition_inputs=W)
    np.testing.assert_allclose((draws == 1).mean(axis=0), post[:, 1], atol=0.015)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda m, X, W: m.score(X), "pass transition_inputs="),
        (lambda m, X, W: m.score(X, transition_inputs=W[:-1]), "one row per sample"),
        (lambda m, X, W: m.score(X, transition_inputs=W * np.nan), "NaN"),
        (lambda m, X, W: m.score(X, transition_inputs=W[:, :1]), "2 columns"),
        (lambda m, X, W: m.score(X, inputs=W), "use none"),
        (
            lambda m, X, W: m.score([X[:5], X[5:]], transition_inputs=W),
            "list of arrays",
        ),
        (
            lambda m, X, W: m.score([X[:5], X[5:]], transition_inputs=[W[:5], W[6:]]),
            r"transition_inputs\[1\]",
        ),
    ],
)
def test_bad_transition_inputs_are_named(call, message):
    rng = np.random.default_rng(10)
    model = tvtp_model(2, 2, rng)
    X = rng.normal(size=(12, 1))
    W = inputs_of(12, 2, rng)
    with pytest.raises((ValueError, TypeError), match=message):
        call(model, X, W)


def test_bad_models_and_parameters_are_named():
    rng = np.random.default_rng(11)
    X = rng.normal(size=(12, 1))
    W = inputs_of(12, 2, rng)
    stationary = fasthmm.GaussianHMM(2, n_iter=2).fit(X)
    with pytest.raises(ValueError, match="transition_inputs=True"):
        stationary.score(X, transition_inputs=W)
    model = tvtp_model(2, 2, rng)
    model.transcoef_ = model.transcoef_ + 1.0
    with pytest.raises(ValueError, match="reference"):
        model.score(X, transition_inputs=W)
    with pytest.raises(TypeError, match="transition_inputs must be True or False"):
        fasthmm.GaussianHMM(2, transition_inputs="yes").fit(X)
    with pytest.raises(ValueError, match="transcoef_prior"):
        fasthmm.GaussianHMM(2, transition_inputs=True, transcoef_prior=-1).fit(
            X, transition_inputs=W
        )


def test_failed_fit_leaves_the_model_unchanged():
    rng = np.random.default_rng(12)
    model = tvtp_model(2, 2, rng, n_iter=3)
    X = rng.normal(size=(40, 1))
    W = inputs_of(40, 2, rng)
    before = model.transcoef_.copy()
    bad = W.copy()
    bad[7, 1] = np.inf
    with pytest.raises(ValueError, match="transition_inputs"):
        model.fit(X, transition_inputs=bad)
    np.testing.assert_array_equal(model.transcoef_, before)


# -- statsmodels: Markov switching regression with time-varying transitions ----

STATA_FEDFUNDS_CONST = {  # statsmodels' TestFedFundsConst (Stata's published fit)
    "p00": 0.9820939,
    "p10": 0.0503587,
    "means": (3.70877, 9.556793),
    "sigma2": 2.107562**2,
    "llf": -508.63592,
}


def _statsmodels_data():
    pytest.importorskip("statsmodels")
    pytest.importorskip("pandas")
    from statsmodels.tsa.regime_switching.tests import test_markov_regression as T

    return T


def _stationary_start(A):
    vals, vecs = np.linalg.eig(A.T)
    pi = np.real(vecs[:, np.argmax(vals.real)])
    return pi / pi.sum()


def test_stata_fedfunds_through_a_constant_transition_input():
    """Published (Stata) fit of the federal funds rate, switching mean, with
    the transitions written as a logistic regression on a constant."""
    from pathlib import Path

    import pandas as pd

    T = _statsmodels_data()
    true = STATA_FEDFUNDS_CONST
    X = np.asarray(T.fedfunds, dtype=float).reshape(-1, 1)
    p = np.array([true["p00"], true["p10"]])
    model = fasthmm.GaussianHMM(2, covariance_type="tied", transition_inputs=True)
    coef = np.zeros((2, 2, 1))
    coef[:, 0, 0] = np.log(p / (1 - p))  # reference: the last regime
    model.transcoef_ = coef
    A = np.array([[p[0], 1 - p[0]], [p[1], 1 - p[1]]])
    model.startprob_ = _stationary_start(A)
    model.means_ = np.array(true["means"]).reshape(2, 1)
    model.covars_ = np.array([[true["sigma2"]]])
    W = np.ones((X.shape[0], 1))
    assert model.score(X, transition_inputs=W) == pytest.approx(true["llf"], abs=1e-5)
    csv = Path(T.current_path) / "results" / "results_predict_fedfunds.csv"
    results = pd.read_csv(csv)
    post = model.predict_proba(X, transition_inputs=W)
    np.testing.assert_allclose(post[:, 0], results["const_sm1"], atol=1e-5)
    np.testing.assert_allclose(post[:, 1], results["const_sm2"], atol=1e-5)


def _sm_tvtp_fit():
    T = _statsmodels_data()
    from statsmodels.tsa.regime_switching.markov_regression import MarkovRegression

    y = np.asarray(T.fedfunds, dtype=float)
    W = np.column_stack([np.ones(len(y)), np.asarray(T.ogap, dtype=float)])
    mod = MarkovRegression(y, k_regimes=2, exog_tvtp=W)
    res = mod.fit(disp=False, search_reps=20, search_iter=10)
    return mod, res, y.reshape(-1, 1), W


def test_statsmodels_tvtp_regression_values_and_em():
    """statsmodels' MarkovRegression with exog_tvtp (federal funds rate, the
    output gap driving the transitions): log-likelihood, filtered and smoothed
    probabilities at its fitted parameters; EM from several starts reaches
    at least its optimum."""
    mod, res, X, W = _sm_tvtp_fit()
    coef = np.zeros((2, 2, 2))
    for name, value in zip(mod.param_names, res.params):
        found = re.match(r"p\[(\d)->(\d)\]\.tvtp(\d)", name)
        if found:  # statsmodels' p[i->j]: from regime i to regime j < last
            i, j, c = map(int, found.groups())
            coef[i, j, c] = value
    named = dict(zip(mod.param_names, res.params))
    model = fasthmm.GaussianHMM(2, covariance_type="tied", transition_inputs=True)
    model.transcoef_ = coef
    # statsmodels starts from the stationary distribution of the first
    # step's matrix (its regime_transition is left-stochastic: [to, from]).
    model.startprob_ = _stationary_start(
        mod.regime_transition_matrix(res.params)[..., 0].T
    )
    model.means_ = np.array([[named["const[0]"]], [named["const[1]"]]])
    model.covars_ = np.array([[named["sigma2"]]])
    assert model.score(X, transition_inputs=W) == pytest.approx(res.llf, abs=1e-6)
    np.testing.assert_allclose(
        model.filter_proba(X, transition_inputs=W),
        res.filtered_marginal_probabilities,
        atol=1e-5,
    )
    np.testing.assert_allclose(
        model.predict_proba(X, transition_inputs=W),
        res.smoothed_marginal_probabilities,
        atol=1e-5,
    )
    best = -np.inf
    for seed in range(4):
        fit = fasthmm.GaussianHMM(
            2,
            covariance_type="tied",
            transition_inputs=True,
            covars_prior=0.0,
            covars_weight=0.0,
            n_iter=300,
            tol=1e-8,
            random_state=seed,
        ).fit(X, transition_inputs=W)
        best = max(best, fit.score(X, transition_inputs=W))
    assert best >= res.llf - 1e-6


def test_information_matrices_stay_finite_with_denormal_counts():
    """A row whose count at a step is denormal (posteriors of very peaked
    emissions) gave an infinite reciprocal and NaN information matrices,
    and the M-step's least squares raised LinAlgError. The kernel's
    matrices equal the NumPy sum of nt * (diag(p) - p p') (x) w w'."""
    from fasthmm._kernels.varying import logistic_terms

    rng = np.random.default_rng(4)
    k, d, n = 3, 2, 6
    coef = rng.normal(scale=30.0, size=(k, k, d))
    coef[:, -1] = 0.0
    w = np.column_stack([np.ones(n), rng.normal(size=n)])
    nt = rng.uniform(size=(n, k))
    nt[1, 0] = nt[4, 2] = 5e-324  # denormal counts
    nt[2, 1] = 0.0
    y = rng.normal(size=(k, k, d))
    m = (k - 1) * d
    values, grad, info = np.zeros(k), np.zeros((k, m)), np.zeros((k, m, m))
    logistic_terms(coef, y, nt, w, np.ones(k, np.int64), 2, values, grad, info)
    assert np.isfinite(info).all()
    want = np.zeros((k, m, m))
    for t in range(n):
        for i in range(k):
            z = coef[i] @ w[t]
            p = np.exp(z - z.max())
            p = p[:-1] / p.sum()
            h = nt[t, i] * (np.diag(p) - np.outer(p, p))
            want[i] += np.kron(h, np.outer(w[t], w[t]))
    np.testing.assert_allclose(info, want, rtol=1e-10, atol=1e-12)


def test_fit_from_extreme_transition_coefficients_does_not_fail():
    """Steep logits and narrow emissions (posteriors near 0/1): the fit
    runs, its objective never decreases, and everything stays finite."""
    rng = np.random.default_rng(0)
    k = 3
    model = fasthmm.GaussianHMM(
        k, transition_inputs=True, init_params="", n_iter=3, tol=0
    )
    model.startprob_ = np.full(k, 1 / k)
    coef = rng.normal(scale=30.0, size=(k, k, 2))
    coef[:, -1] = 0.0
    model.transcoef_ = coef
    model.means_ = rng.normal(size=(k, 2))
    model.covars_ = np.full((k, 2), 1e-3)
    X = rng.normal(size=(3000, 2))
    W = np.column_stack([np.ones(len(X)), rng.normal(size=len(X))])
    model.fit(X, [1000] * 3, transition_inputs=W)
    history = np.asarray(model.monitor_.history)
    assert np.isfinite(history).all() and np.all(np.diff(history) >= 0)
    assert np.isfinite(model.transcoef_).all()


@pytest.mark.parametrize("k, d", [(2, 1), (3, 2), (5, 3)])
def test_step_matrices_and_regression_terms_equal_numpy(k, d):
    """The per-step matrices (logs and probabilities) and the regressions'
    values, gradients and information matrices, which one kernel computes
    from the same step softmax, each equal a NumPy reference; steps whose
    counts are all zero add nothing and inactive rows are left as they are."""
    from fasthmm._kernels.varying import logistic_terms
    from fasthmm.input_transitions import log_transmats, transmat_probs

    rng = np.random.default_rng(k * 10 + d)
    n = 40
    coef = rng.normal(scale=2.0, size=(k, k, d))
    coef[:, -1] = 0.0
    w = inputs_of(n, d, rng) if d > 1 else rng.normal(size=(n, 1))
    z = np.einsum("ijc,tc->tij", coef, w)
    top = z.max(axis=2, keepdims=True)
    lse = top + np.log(np.exp(z - top).sum(axis=2, keepdims=True))
    want_log = z - lse
    logs, probs = log_transmats(coef, w, probs=True)
    np.testing.assert_allclose(logs, want_log, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(probs, np.exp(want_log), rtol=1e-13, atol=1e-300)
    np.testing.assert_array_equal(transmat_probs(coef, w), probs)

    nt = rng.uniform(size=(n, k))
    nt[::7] = 0.0  # steps without counts
    y = rng.normal(size=(k, k, d))
    active = np.ones(k, np.int64)
    active[1] = 0
    m = (k - 1) * d
    p = np.exp(want_log)
    want_values = np.einsum("ijc,ijc->i", coef, y) - (nt * lse[:, :, 0]).sum(axis=0)
    want_grad = (y - np.einsum("ti,tij,tc->ijc", nt, p, w))[:, :-1].reshape(k, m)
    want_info = np.zeros((k, m, m))
    for t in range(n):
        for i in range(k):
            q = p[t, i, :-1]
            h = nt[t, i] * (np.diag(q) - np.outer(q, q))
            want_info[i] += np.kron(h, np.outer(w[t], w[t]))
    for level in (0, 1, 2):
        values = np.full(k, -7.0)
        grad = np.full((k, m), -7.0)
        info = np.full((k, m, m), -7.0)
        logistic_terms(coef, y, nt, w, active, level, values, grad, info)
        on = active == 1
        np.testing.assert_allclose(values[on], want_values[on], rtol=1e-12)
        assert np.all(values[~on] == -7.0)
        if level >= 1:
            np.testing.assert_allclose(grad[on], want_grad[on], atol=1e-11)
        assert np.all(grad[~on] == -7.0) and (level >= 1 or np.all(grad == -7.0))
        if level >= 2:
            np.testing.assert_allclose(info[on], want_info[on], atol=1e-11)
        assert np.all(info[~on] == -7.0) and (level >= 2 or np.all(info == -7.0))
