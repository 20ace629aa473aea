"""PoissonHMM: brute force, closed-form MAP, hmmlearn parity,
recovery, degenerate data and bad input.

The references here are independent of fasthmm: Poisson probabilities from
``math.factorial``, likelihoods by enumerating every state path, the MAP
estimate in closed form, and hmmlearn where it is installed.
"""

import itertools
import logging
import math

import numpy as np
import pytest

from fasthmm import PoissonHMM, hmm

# -- independent references ----------------------------------------------------


def poisson_log_pmf(X, lambdas):
    """log p(x | state), shape (n_samples, n_states), from factorials."""
    X = np.asarray(X, dtype=np.int64).reshape(len(X), -1)
    out = np.empty((X.shape[0], lambdas.shape[0]))
    for t, x in enumerate(X):
        for k, lam in enumerate(lambdas):
            p = 1.0
            for xj, lj in zip(x, lam):  # 0 ** 0 == 1: a zero rate emits 0
                p *= lj ** int(xj) * math.exp(-lj) / math.factorial(int(xj))
            out[t, k] = math.log(p) if p > 0 else -math.inf
    return out


def brute_force(log_em, startprob, transmat, lengths):
    """Log-likelihood, best-path log-probability, best paths and posteriors."""
    ll, best, paths, post = 0.0, 0.0, [], np.zeros_like(log_em)
    bounds = np.concatenate(([0], np.cumsum(lengths)))
    with np.errstate(divide="ignore"):
        ls, lt = np.log(startprob), np.log(transmat)
    k = len(startprob)
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        le = log_em[lo:hi]
        scores, all_paths = [], list(itertools.product(range(k), repeat=hi - lo))
        for z in all_paths:
            s = ls[z[0]] + sum(lt[a, b] for a, b in zip(z[:-1], z[1:]))
            scores.append(s + sum(le[t, z[t]] for t in range(hi - lo)))
        scores = np.array(scores)
        top = scores.max()
        seq_ll = top + math.log(np.exp(scores - top).sum())
        ll += seq_ll
        best += top
        paths.extend(all_paths[int(scores.argmax())])
        weights = np.exp(scores - seq_ll)
        for z, w in zip(all_paths, weights):
            post[lo + np.arange(hi - lo), list(z)] += w
    return ll, best, np.array(paths), post


def random_model(rng, k, d, low=0.5, high=8.0):
    model = PoissonHMM(k, init_params="")
    model.startprob_ = rng.dirichlet(np.ones(k))
    model.transmat_ = rng.dirichlet(np.ones(k), k)
    model.lambdas_ = rng.uniform(low, high, (k, d))
    return model


def dirichlet_log(p, alpha):
    alpha = np.broadcast_to(alpha, p.shape)
    return float(np.sum((alpha - 1.0) * np.log(p)))


# -- brute force -----------------------------------------------------------------


@pytest.mark.parametrize(
    "seed, k, d, lengths", [(0, 1, 2, [5]), (1, 2, 1, [6, 3]), (2, 3, 3, [4, 2])]
)
def test_inference_matches_brute_force(seed, k, d, lengths):
    rng = np.random.RandomState(seed)
    model = random_model(rng, k, d)
    X = rng.poisson(3.0, (sum(lengths), d))
    le = poisson_log_pmf(X, model.lambdas_)
    ll, best, path, post = brute_force(le, model.startprob_, model.transmat_, lengths)
    assert model.score(X, lengths) == pytest.approx(ll, rel=1e-10, abs=1e-10)
    log_prob, states = model.decode(X, lengths)
    assert log_prob == pytest.approx(best, rel=1e-10, abs=1e-10)
    np.testing.assert_array_equal(states, path)
    np.testing.assert_allclose(model.predict_proba(X, lengths), post, atol=1e-10)


def test_large_counts_and_one_dimensional_input():
    rng = np.random.RandomState(3)
    model = random_model(rng, 2, 1, low=5e4, high=2e5)
    X = np.array([0, 70000, 150001, 3, 99999])  # beyond the factorial table
    ref = np.array(
        [
            [
                x * math.log(lam) - lam - math.lgamma(x + 1.0)
                for lam in model.lambdas_[:, 0]
            ]
            for x in X
        ]
    )
    ll, _, _, _ = brute_force(ref, model.startprob_, model.transmat_, [5])
    assert model.score(X) == pytest.approx(ll, rel=1e-12)
    assert model.score(X.reshape(-1, 1)) == model.score(X)


# -- EM objective ------------------------------------------------------------------


def test_objective_is_log_likelihood_plus_log_prior():
    rng = np.random.RandomState(5)
    model = random_model(rng, 2, 2)
    alpha, beta = rng.uniform(0, 2, (2, 2)), np.array([[0.5], [1.5]])
    sp, tp = np.array([2.0, 3.0]), rng.uniform(1, 3, (2, 2))
    model.set_params(
        lambdas_prior=alpha,
        lambdas_weight=beta,
        startprob_prior=sp,
        transmat_prior=tp,
        n_iter=1,
    )
    X = rng.poisson(2.0, (6, 2))
    le = poisson_log_pmf(X, model.lambdas_)
    ll = brute_force(le, model.startprob_, model.transmat_, [6])[0]
    lam = model.lambdas_
    log_prior = (
        np.sum(alpha * np.log(lam) - beta * lam)
        + dirichlet_log(model.startprob_, sp)
        + dirichlet_log(model.transmat_, tp)
    )
    model.fit(X)
    assert model.monitor_.history[0] == pytest.approx(ll + log_prior, rel=1e-10)


def test_labelled_fit_is_the_closed_form_map_and_maximises_the_objective():
    rng = np.random.RandomState(6)
    k, d = 3, 2
    X = rng.poisson([[1.0, 6.0]], (200, d))
    labels = rng.randint(0, k, 200)
    labels[:3] = [0, 1, 2]
    alpha, beta = np.array([[0.5, 2.0]]), np.array([[1.0], [0.0], [3.0]])
    model = PoissonHMM(k, lambdas_prior=alpha, lambdas_weight=beta, random_state=0)
    model.fit(X, [100, 100], states=labels)
    for s in range(k):
        rows = X[labels == s]
        expected = (alpha[0] + rows.sum(axis=0)) / (beta[s] + rows.shape[0])
        np.testing.assert_allclose(model.lambdas_[s], expected, rtol=1e-12)
    best = model.monitor_.history[-1]
    for _ in range(5):  # the objective at any other rates is lower
        other = PoissonHMM(
            k, lambdas_prior=alpha, lambdas_weight=beta, init_params="", params=""
        )
        other.startprob_, other.transmat_ = model.startprob_, model.transmat_
        other.lambdas_ = model.lambdas_ * np.exp(rng.normal(0, 0.05, (k, d)))
        other.fit(X, [100, 100], states=labels)
        assert other.monitor_.history[-1] < best


# -- recovery ----------------------------------------------------------------------


def test_sample_then_fit_recovers_the_model():
    truth = PoissonHMM(3)
    truth.startprob_ = np.array([0.5, 0.3, 0.2])
    truth.transmat_ = np.array(
        [[0.9, 0.05, 0.05], [0.1, 0.85, 0.05], [0.05, 0.1, 0.85]]
    )
    truth.lambdas_ = np.array([[1.0, 10.0], [6.0, 2.0], [15.0, 15.0]])
    rng = np.random.RandomState(7)
    parts = [truth.sample(1000, random_state=rng) for _ in range(20)]
    X = np.concatenate([p[0] for p in parts])
    assert X.dtype.kind == "i" and X.min() >= 0
    model = PoissonHMM(3, n_iter=100, tol=1e-6, random_state=1)
    model.fit(X, [1000] * 20)
    order = np.argsort(model.lambdas_[:, 0])
    np.testing.assert_allclose(model.lambdas_[order], truth.lambdas_, rtol=0.05)
    np.testing.assert_allclose(
        model.transmat_[np.ix_(order, order)], truth.transmat_, atol=0.02
    )
    states = np.concatenate([p[1] for p in parts])
    to_true = np.argsort(order)  # fitted state -> true state
    assert np.mean(to_true[model.predict(X, [1000] * 20)] == states) > 0.97


# -- hmmlearn parity ---------------------------------------------------------------


def test_hmmlearn_parity():
    hmm = pytest.importorskip("hmmlearn.hmm")
    logging.getLogger("hmmlearn").setLevel(logging.ERROR)
    rng = np.random.RandomState(8)
    truth = random_model(rng, 3, 4, low=1.0, high=12.0)
    X, _ = truth.sample(600, random_state=rng)
    lengths = [200, 250, 150]
    start = {
        "startprob_": np.full(3, 1 / 3),
        "transmat_": rng.dirichlet(np.ones(3) * 5, 3),
        "lambdas_": truth.lambdas_ * rng.uniform(0.8, 1.25, (3, 4)),
    }
    ours = PoissonHMM(3, n_iter=5, tol=0, init_params="")
    theirs = hmm.PoissonHMM(3, n_iter=5, tol=-np.inf, init_params="")
    for m in (ours, theirs):
        for name, value in start.items():
            setattr(m, name, value.copy())
        m.fit(X, lengths)
    for name in start:
        np.testing.assert_allclose(
            getattr(ours, name), getattr(theirs, name), rtol=1e-6
        )
    np.testing.assert_allclose(
        ours.monitor_.history, theirs.monitor_.history, rtol=1e-10
    )
    assert ours.score(X, lengths) == pytest.approx(theirs.score(X, lengths), rel=1e-10)
    lp_ours, path_ours = ours.decode(X, lengths)
    lp_theirs, path_theirs = theirs.decode(X, lengths)
    assert lp_ours == pytest.approx(lp_theirs, rel=1e-10)
    np.testing.assert_array_equal(path_ours, path_theirs)
    np.testing.assert_allclose(
        ours.predict_proba(X, lengths), theirs.predict_proba(X, lengths), atol=1e-8
    )


# -- degenerate data ---------------------------------------------------------------


def test_zero_and_constant_counts_give_positive_finite_rates():
    rng = np.random.RandomState(9)
    X = np.column_stack([np.zeros(300, int), np.full(300, 4), rng.poisson(3, 300)])
    model = PoissonHMM(2, n_iter=20, random_state=0).fit(X)
    assert np.all(np.isfinite(model.lambdas_)) and np.all(model.lambdas_ > 0)
    assert np.all(model.lambdas_[:, 0] < 1e-6)  # zero counts: a floored, tiny rate
    np.testing.assert_allclose(model.lambdas_[:, 1], 4.0, rtol=1e-8)
    assert np.isfinite(model.score(np.array([[2, 4, 1]])))  # a count never seen
    all_zero = PoissonHMM(2, n_iter=5, random_state=0).fit(np.zeros((50, 2), int))
    assert np.all(all_zero.lambdas_ > 0) and np.all(np.isfinite(all_zero.lambdas_))
    assert np.all(np.isfinite(all_zero.transmat_))


def test_state_without_mass_keeps_its_rates():
    model = PoissonHMM(3, n_iter=5, tol=0, init_params="")
    model.startprob_ = np.array([0.5, 0.5, 0.0])
    model.transmat_ = np.array([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [0.3, 0.3, 0.4]])
    lambdas = np.array([[1.0, 2.0], [5.0, 1.0], [7.0, 7.0]])
    model.lambdas_ = lambdas.copy()
    X = np.random.RandomState(10).poisson(3.0, (100, 2))
    model.fit(X)
    np.testing.assert_array_equal(model.lambdas_[2], lambdas[2])
    assert not np.allclose(model.lambdas_[:2], lambdas[:2])
    np.testing.assert_array_equal(model.transmat_[2], [0.3, 0.3, 0.4])


@pytest.mark.parametrize("cls", [PoissonHMM, hmm.PoissonHMM])
def test_zero_rates_are_the_point_mass_at_zero(cls):
    model = cls(2, init_params="")
    model.startprob_ = np.array([0.5, 0.5])
    model.transmat_ = np.array([[0.9, 0.1], [0.1, 0.9]])
    model.lambdas_ = np.array([[1.0, 0.0], [3.0, 0.0]])
    X = np.array([[1, 0], [4, 0], [0, 0], [2, 0]])
    le = poisson_log_pmf(X, model.lambdas_)
    ll, best, path, post = brute_force(le, model.startprob_, model.transmat_, [4])
    assert model.score(X) == pytest.approx(ll, rel=1e-12)
    np.testing.assert_allclose(model.predict_proba(X), post, atol=1e-12)
    assert model.decode(X)[0] == pytest.approx(best, rel=1e-12)
    np.testing.assert_allclose(model.log_emissions(X), le, rtol=1e-14)
    # a count where one state's rate is 0: that state is impossible there
    model.lambdas_ = np.array([[1.0, 0.0], [3.0, 2.0]])
    X = np.array([[1, 0], [4, 1], [0, 0]])
    le = poisson_log_pmf(X, model.lambdas_)
    assert le[1, 0] == -np.inf
    ll, best, path, post = brute_force(le, model.startprob_, model.transmat_, [3])
    assert model.score(X) == pytest.approx(ll, rel=1e-12)
    np.testing.assert_allclose(model.predict_proba(X), post, atol=1e-12)
    assert post[1, 0] == 0.0
    samples, states = model.sample(200, random_state=0)
    assert np.all(samples[states == 0, 1] == 0)
    model.fit(X)  # EM starts from a zero rate
    assert np.all(np.isfinite(model.lambdas_))
    if cls is hmm.PoissonHMM:  # hmmlearn's M-step: no floor
        assert model.lambdas_[0, 1] == 0.0
    else:  # fasthmm's: floored, so later counts stay possible
        assert 0.0 < model.lambdas_[0, 1] <= 1e-9


def test_zero_rates_match_hmmlearn():
    hl = pytest.importorskip("hmmlearn.hmm")
    X = np.array([[1, 0], [4, 0], [0, 0], [2, 0]])
    for ours_cls in (PoissonHMM, hmm.PoissonHMM):
        models = ours_cls(2, init_params=""), hl.PoissonHMM(2, init_params="")
        for m in models:
            m.startprob_ = np.array([0.5, 0.5])
            m.transmat_ = np.array([[0.9, 0.1], [0.1, 0.9]])
            m.lambdas_ = np.array([[1.0, 0.0], [3.0, 0.0]])
        ours, theirs = models
        np.testing.assert_allclose(
            ours.predict_proba(X), theirs.predict_proba(X), atol=1e-12
        )
        assert ours.score(X) == pytest.approx(theirs.score(X), rel=1e-12)


# -- bad input ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "X, match",
    [
        (np.array([[1, 2], [-1, 0]]), "X must hold non-negative"),
        (np.array([[1.5, 2.0], [1.0, 0.0]]), "X must hold integers"),
        (np.array([[1.0, np.nan], [1.0, 0.0]]), "X must not contain NaN"),
        (np.zeros((2, 2, 2)), "X must be 1-D or 2-D"),
    ],
)
def test_bad_counts_raise_naming_x(X, match):
    with pytest.raises(ValueError, match=match):
        PoissonHMM(1).fit(X)
    model = random_model(np.random.RandomState(0), 1, 2)
    with pytest.raises(ValueError, match=match):
        model.score(X)


def test_bad_parameters_raise_naming_them():
    model = random_model(np.random.RandomState(0), 2, 2)
    X = np.ones((4, 2), int)
    model.lambdas_ = np.array([[1.0, -1e-3], [1.0, 1.0]])
    with pytest.raises(ValueError, match="lambdas_ must be >= 0"):
        model.score(X)
    model.lambdas_ = np.ones(3)
    with pytest.raises(ValueError, match="lambdas_ must have shape"):
        model.score(X)
    model.lambdas_ = np.ones((2, 3))
    with pytest.raises(ValueError, match="X must have n_features = 3"):
        model.score(X)
    with pytest.raises(ValueError, match="lambdas_prior"):
        PoissonHMM(2, lambdas_prior=-1.0).fit(X)
    with pytest.raises(ValueError, match="lambdas_weight"):
        PoissonHMM(2, lambdas_weight=np.ones(5)).fit(X)


@pytest.mark.parametrize(
    "value, message",
    [
        (-1.0, "lambdas_prior must be >= 0, got -1"),
        (np.array(-1.5), "lambdas_prior must be >= 0, got -1.5"),
        ([[0.5, -2.0]], r"lambdas_prior must be >= 0, got -2 at index \(0, 1\)"),
    ],
)
def test_negative_prior_is_printed_as_a_number(value, message):
    with pytest.raises(ValueError, match=message) as info:
        PoissonHMM(2, lambdas_prior=value).fit(np.ones((4, 2), int))
    assert "array(" not in str(info.value)
