"""Supervised and semi-supervised fitting: ``fit(X, lengths, states=labels)``.

Every expected value is computed here independently of fasthmm:

- fully labelled data: plain counting (start states, transitions within
  sequences, symbols per state) and per-state sample statistics, with the
  Dirichlet / normal / inverse-gamma (inverse-Wishart) MAP formulas written
  out; the joint log-likelihood log p(X, Z) written out term by term;
- partly labelled data: enumeration of every state path consistent with the
  known labels (tiny models); the monotonicity of the EM objective with
  partial labels is ``test_contracts.test_em_objective_never_decreases``;
- the tagger: per-token accuracy of a tagger trained from labels against the
  accuracy of the model that generated the data.
"""

import itertools
import logging

import numpy as np
import pytest

import fasthmm
from fasthmm import CategoricalHMM, GaussianHMM

LOG_2PI = np.log(2.0 * np.pi)


# --------------------------------------------------------------------------
# Independent references
# --------------------------------------------------------------------------


def bounds(lengths, n):
    """(lo, hi) row ranges of the sequences."""
    edges = np.concatenate(([0], np.cumsum(lengths if lengths is not None else [n])))
    return list(zip(edges[:-1].tolist(), edges[1:].tolist()))


def markov_counts(z, lengths, k):
    """Start-state counts and transition counts within sequences, by a loop."""
    start = np.zeros(k)
    trans = np.zeros((k, k))
    for lo, hi in bounds(lengths, len(z)):
        start[z[lo]] += 1
        for t in range(lo + 1, hi):
            trans[z[t - 1], z[t]] += 1
    return start, trans


def dirichlet_mode(counts, alpha):
    """MAP of probability rows: (counts + alpha - 1) normalised (alpha >= 1)."""
    a = counts + np.asarray(alpha, dtype=float) - 1.0
    return a / a.sum(axis=-1, keepdims=True)


def dirichlet_logp(probs, alpha):
    """sum (alpha - 1) log p: the Dirichlet log density without its constant."""
    alpha = np.broadcast_to(np.asarray(alpha, dtype=float), probs.shape)
    on = alpha != 1.0  # alpha = 1 contributes nothing, even where p = 0
    return float(np.sum((alpha[on] - 1.0) * np.log(probs[on])))


def gaussian_reference(X, z, k, cov_type, m0, w, psi, nu_weight):
    """MAP means and covariances from per-state sample statistics.

    Prior (hmmlearn's): mean ~ N(m0, cov / w); covariance with scale ``psi``
    and weight ``nu_weight``, whose mode adds ``psi`` (+ the mean term) to the
    scatter and ``max(nu_weight - 1, 0)`` (diag, spherical) or
    ``max(nu_weight - d, 0)`` (full, tied) to the count.
    """
    d = X.shape[1]
    means = np.empty((k, d))
    scatter = np.empty((k, d, d))
    n = np.empty(k)
    for s in range(k):
        xs = X[z == s]
        n[s] = len(xs)
        means[s] = (w * m0[s] + xs.sum(axis=0)) / (w + n[s])
        r = xs - means[s]
        dm = means[s] - m0[s]
        scatter[s] = r.T @ r + w * np.outer(dm, dm)
    if cov_type in ("diag", "spherical"):
        nu = max(nu_weight - 1.0, 0.0)
        var = (psi + np.diagonal(scatter, axis1=1, axis2=2)) / (nu + n)[:, None]
        return means, (var if cov_type == "diag" else var.mean(axis=1))
    nu = max(nu_weight - d, 0.0)
    if cov_type == "full":
        return means, (psi * np.eye(d) + scatter) / (nu + n)[:, None, None]
    return means, (psi * np.eye(d) + scatter.sum(axis=0)) / (nu + n.sum())


def full_covars(covars, cov_type, k, d):
    """Per-state (k, d, d) matrices for any covariance type."""
    if cov_type == "spherical":
        return covars[:, None, None] * np.eye(d)
    if cov_type == "diag":
        return np.stack([np.diag(c) for c in covars])
    if cov_type == "tied":
        return np.repeat(covars[None], k, axis=0)
    return covars


def gaussian_logpdf(X, mean, cov):
    """Multivariate normal log density of each row of X."""
    d = X.shape[1]
    r = X - mean
    sign, logdet = np.linalg.slogdet(cov)
    assert sign > 0
    maha = np.einsum("ij,ij->i", r, np.linalg.solve(cov, r.T).T)
    return -0.5 * (d * LOG_2PI + logdet + maha)


def gaussian_log_emissions(X, means, covars, cov_type):
    k, d = means.shape
    mats = full_covars(covars, cov_type, k, d)
    return np.stack([gaussian_logpdf(X, means[s], mats[s]) for s in range(k)], axis=1)


def gaussian_logprior(means, covars, cov_type, m0, w, psi, nu_weight):
    """Log density (without constants) of hmmlearn's Gaussian prior."""
    k, d = means.shape
    dm = means - m0
    if cov_type in ("diag", "spherical"):
        var = covars if cov_type == "diag" else np.repeat(covars[:, None], d, axis=1)
        nu = max(nu_weight - 1.0, 0.0)
        return float(np.sum(-(w * dm**2 + psi) / (2 * var) - 0.5 * nu * np.log(var)))
    nu = max(nu_weight - d, 0.0)
    if cov_type == "full":
        total = 0.0
        for s in range(k):
            scale = psi * np.eye(d) + w * np.outer(dm[s], dm[s])
            total += -0.5 * nu * np.linalg.slogdet(covars[s])[1]
            total += -0.5 * np.trace(np.linalg.solve(covars[s], scale))
        return total
    scale = psi * np.eye(d) + w * dm.T @ dm
    return float(
        -0.5 * nu * np.linalg.slogdet(covars)[1]
        - 0.5 * np.trace(np.linalg.solve(covars, scale))
    )


def joint_loglik(log_emissions, startprob, transmat, z, lengths):
    """log p(X, Z): log startprob[z0] + sum log transmat + sum log emissions."""
    total = 0.0
    for lo, hi in bounds(lengths, len(z)):
        total += np.log(startprob[z[lo]])
        for t in range(lo + 1, hi):
            total += np.log(transmat[z[t - 1], z[t]])
        total += sum(log_emissions[t, z[t]] for t in range(lo, hi))
    return float(total)


def logsumexp(a):
    a = np.asarray(a, dtype=float)
    m = a.max()
    return float(m + np.log(np.exp(a - m).sum())) if np.isfinite(m) else -np.inf


def clamped_enumeration(log_emissions, startprob, transmat, labels, lengths):
    """Brute force over the paths that agree with the known labels.

    Returns
    -------
    objective : float
        sum over sequences of log sum_{z consistent} p(x, z).
    post : ndarray (T, K), xi : ndarray (K, K), start : ndarray (K,)
        Posterior state probabilities, expected transition counts and expected
        start counts given x and the known labels.
    """
    n, k = log_emissions.shape
    post = np.zeros((n, k))
    xi = np.zeros((k, k))
    start = np.zeros(k)
    objective = 0.0
    with np.errstate(divide="ignore"):
        ls, lt = np.log(startprob), np.log(transmat)
    for lo, hi in bounds(lengths, n):
        paths, scores = [], []
        for path in itertools.product(range(k), repeat=hi - lo):
            known = labels[lo:hi]
            if any(lab >= 0 and lab != s for lab, s in zip(known, path)):
                continue
            score = ls[path[0]] + sum(
                log_emissions[lo + t, s] for t, s in enumerate(path)
            )
            score += sum(lt[a, b] for a, b in zip(path[:-1], path[1:]))
            paths.append(path)
            scores.append(score)
        ll = logsumexp(scores)
        objective += ll
        for path, score in zip(paths, scores):
            p = np.exp(score - ll)
            start[path[0]] += p
            for t, s in enumerate(path):
                post[lo + t, s] += p
            for a, b in zip(path[:-1], path[1:]):
                xi[a, b] += p
    return objective, post, xi, start


# --------------------------------------------------------------------------
# Random labelled data
# --------------------------------------------------------------------------


def random_labels(rng, k, lengths):
    """Random labels in which every state occurs at a non-final step."""
    while True:
        z = rng.integers(0, k, size=int(np.sum(lengths)))
        inner = np.concatenate([z[lo : hi - 1] for lo, hi in bounds(lengths, len(z))])
        if len(np.unique(inner)) == k:
            return z


def random_categorical_data(rng, k, m, lengths):
    z = random_labels(rng, k, lengths)
    X = rng.integers(0, m, size=len(z))
    X[:m] = np.arange(m)  # every symbol occurs: n_features is inferred as m
    return X.reshape(-1, 1), z


def random_gaussian_data(rng, k, d, lengths):
    z = random_labels(rng, k, lengths)
    centres = rng.normal(scale=3.0, size=(k, d))
    scales = rng.uniform(0.5, 2.0, size=(k, d))
    X = centres[z] + scales[z] * rng.normal(size=(len(z), d))
    return X, z


LENGTHS = [[40], [13, 9, 25, 8], [1, 30, 1, 12]]


# --------------------------------------------------------------------------
# Fully labelled: categorical
# --------------------------------------------------------------------------


@pytest.mark.parametrize("lengths", LENGTHS)
@pytest.mark.parametrize("priors", [(1.0, 1.0, 1.0), (2.5, 1.7, 3.0)])
def test_categorical_fully_labelled_equals_counting(lengths, priors):
    rng = np.random.default_rng(sum(lengths) + int(10 * priors[0]))
    k, m = 3, 5
    X, z = random_categorical_data(rng, k, m, lengths)
    sp_a, tm_a = priors[0], priors[1]
    ep_a = priors[2] + rng.random((k, m))  # a per-entry prior
    model = CategoricalHMM(
        k,
        startprob_prior=sp_a,
        transmat_prior=tm_a,
        emissionprob_prior=ep_a,
        random_state=0,
    )
    model.fit(X, lengths if len(lengths) > 1 else None, states=z)

    start, trans = markov_counts(z, lengths, k)
    emis = np.zeros((k, m))
    for sym, s in zip(X[:, 0], z):
        emis[s, sym] += 1
    sp, tm, ep = (
        dirichlet_mode(start, sp_a),
        dirichlet_mode(trans, tm_a),
        dirichlet_mode(emis, ep_a),
    )
    np.testing.assert_allclose(model.startprob_, sp, rtol=0, atol=1e-12)
    np.testing.assert_allclose(model.transmat_, tm, rtol=0, atol=1e-12)
    np.testing.assert_allclose(model.emissionprob_, ep, rtol=0, atol=1e-12)

    # One objective value: log p(X, Z) + log prior, no iterations.
    log_e = np.log(ep.T)[X[:, 0]]
    expected = joint_loglik(log_e, sp, tm, z, lengths)
    expected += dirichlet_logp(sp, sp_a) + dirichlet_logp(tm, tm_a)
    expected += dirichlet_logp(ep, ep_a)
    assert len(model.monitor_.history) == 1
    assert model.monitor_.history[0] == pytest.approx(expected, rel=1e-12, abs=1e-9)


def test_no_transition_counted_across_sequence_boundaries():
    # Within the sequences only 0->0 and 1->1 occur; 0->1 happens only at the
    # boundary between them.
    X = np.array([0, 1, 0, 1, 1, 0, 1, 0]).reshape(-1, 1)
    z = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    model = CategoricalHMM(2, random_state=0).fit(X, [4, 4], states=z)
    np.testing.assert_array_equal(model.transmat_, np.eye(2))
    np.testing.assert_array_equal(model.startprob_, [0.5, 0.5])
    # The same data as one sequence does count the 0->1 transition.
    single = CategoricalHMM(2, random_state=0).fit(X, states=z)
    np.testing.assert_allclose(single.transmat_, [[0.75, 0.25], [0.0, 1.0]])
    # A list of sequences with a list of label arrays gives the same answer.
    split_model = CategoricalHMM(2, random_state=0)
    split_model.fit([X[:4], X[4:]], states=[z[:4], z[4:]])
    np.testing.assert_array_equal(split_model.transmat_, np.eye(2))


def test_fully_labelled_fit_ignores_the_random_start():
    rng = np.random.default_rng(7)
    X, z = random_categorical_data(rng, 3, 6, [50, 30])
    a = CategoricalHMM(3, random_state=1).fit(X, [50, 30], states=z)
    b = CategoricalHMM(3, random_state=2, n_iter=1).fit(X, [50, 30], states=z)
    np.testing.assert_array_equal(a.emissionprob_, b.emissionprob_)
    np.testing.assert_array_equal(a.transmat_, b.transmat_)
    assert a.monitor_.iter == 1 and len(a.monitor_.history) == 1


# --------------------------------------------------------------------------
# Fully labelled: Gaussian
# --------------------------------------------------------------------------


@pytest.mark.parametrize("cov_type", ["diag", "full", "spherical", "tied"])
@pytest.mark.parametrize("lengths", LENGTHS[1:])
@pytest.mark.parametrize("with_prior", [False, True])
def test_gaussian_fully_labelled_equals_sample_statistics(
    cov_type, lengths, with_prior
):
    rng = np.random.default_rng(len(lengths) + 17 * with_prior)
    k, d = 3, 2
    X, z = random_gaussian_data(rng, k, d, lengths)
    if with_prior:
        m0 = rng.normal(size=(k, d))
        w, psi, nu_weight = 2.0, 0.7, 4.0
        tm_a, sp_a = 1.5, 2.0
    else:
        m0, w, psi, nu_weight = np.zeros((k, d)), 0.0, 0.0, 1.0
        tm_a = sp_a = 1.0
    model = GaussianHMM(
        k,
        covariance_type=cov_type,
        min_covar=1e-6,
        startprob_prior=sp_a,
        transmat_prior=tm_a,
        means_prior=m0,
        means_weight=w,
        covars_prior=psi,
        covars_weight=nu_weight,
        random_state=0,
    )
    model.fit(X, lengths, states=z)

    start, trans = markov_counts(z, lengths, k)
    sp, tm = dirichlet_mode(start, sp_a), dirichlet_mode(trans, tm_a)
    means, covars = gaussian_reference(X, z, k, cov_type, m0, w, psi, nu_weight)
    np.testing.assert_allclose(model.startprob_, sp, rtol=0, atol=1e-12)
    np.testing.assert_allclose(model.transmat_, tm, rtol=0, atol=1e-12)
    np.testing.assert_allclose(model.means_, means, rtol=1e-10, atol=1e-12)
    assert model.covars_.shape == covars.shape
    np.testing.assert_allclose(model.covars_, covars, rtol=1e-10, atol=1e-12)

    log_e = gaussian_log_emissions(X, means, covars, cov_type)
    expected = joint_loglik(log_e, sp, tm, z, lengths)
    expected += dirichlet_logp(sp, sp_a) + dirichlet_logp(tm, tm_a)
    expected += gaussian_logprior(means, covars, cov_type, m0, w, psi, nu_weight)
    assert len(model.monitor_.history) == 1
    assert model.monitor_.history[0] == pytest.approx(expected, rel=1e-10, abs=1e-8)


def test_state_without_labels_keeps_its_parameters():
    # State 2 never occurs: its emission parameters stay at their set values
    # and nothing non-finite is written.
    rng = np.random.default_rng(3)
    X = rng.normal(size=(30, 2))
    z = rng.integers(0, 2, size=30)
    model = GaussianHMM(3, init_params="st", random_state=0)
    model.means_ = np.array([[0.0, 0.0], [1.0, 1.0], [5.0, -5.0]])
    model.covars_ = np.array([[1.0, 1.0], [1.0, 1.0], [2.0, 3.0]])
    model.fit(X, states=z)
    np.testing.assert_array_equal(model.means_[2], [5.0, -5.0])
    np.testing.assert_array_equal(model.covars_[2], [2.0, 3.0])
    np.testing.assert_allclose(model.means_[0], X[z == 0].mean(axis=0))
    assert np.all(np.isfinite(model.transmat_)) and np.all(
        np.isfinite(model.startprob_)
    )
    assert np.isfinite(model.monitor_.history[0])


def test_poisson_fully_labelled_equals_counting():
    from math import lgamma

    rng = np.random.default_rng(11)
    k, lengths = 3, [30, 20, 14]
    z = random_labels(rng, k, lengths)
    rates = np.array([[0.5, 4.0], [3.0, 1.0], [9.0, 6.0]])
    X = rng.poisson(rates[z])
    model = fasthmm.PoissonHMM(k, random_state=0).fit(X, lengths, states=z)
    start, trans = markov_counts(z, lengths, k)
    lambdas = np.stack([X[z == s].mean(axis=0) for s in range(k)])
    np.testing.assert_allclose(model.startprob_, start / start.sum(), atol=1e-12)
    np.testing.assert_allclose(model.transmat_, dirichlet_mode(trans, 1.0), atol=1e-12)
    np.testing.assert_allclose(model.lambdas_, lambdas, rtol=1e-12)
    log_fact = np.array([[lgamma(v + 1.0) for v in row] for row in X]).sum(axis=1)
    log_e = X @ np.log(lambdas).T - lambdas.sum(axis=1) - log_fact[:, None]
    expected = joint_loglik(log_e, start / start.sum(), model.transmat_, z, lengths)
    assert model.monitor_.history == [pytest.approx(expected, rel=1e-12)]


def test_gmm_fully_labelled_reaches_a_maximum():
    # The mixture components stay latent when the states are known, so the
    # labelled fit must iterate to a maximum, not stop after one M-step.
    rng = np.random.default_rng(12)
    k, lengths = 2, [60, 50]
    z = random_labels(rng, k, lengths)
    comp = rng.integers(0, 2, size=len(z))
    X = rng.normal(size=(len(z), 2)) * 0.5 + 8.0 * z[:, None] + 3.0 * comp[:, None]
    GMMHMM = fasthmm.models.GMMHMM
    model = GMMHMM(k, n_mix=2, n_iter=500, tol=1e-7, random_state=0)
    model.fit(X, lengths, states=z)
    start, trans = markov_counts(z, lengths, k)
    np.testing.assert_allclose(model.startprob_, start / start.sum(), atol=1e-12)
    np.testing.assert_allclose(model.transmat_, dirichlet_mode(trans, 1.0), atol=1e-12)
    h = np.array(model.monitor_.history)
    assert np.all(np.isfinite(h)) and np.all(np.diff(h) >= -1e-8 * np.abs(h[:-1]))
    assert model.monitor_.converged, (
        "a fully labelled GMMHMM fit stopped after one M-step: GMMEmission must "
        "set closed_form_given_states = False (see fasthmm.emissions._base)"
    )
    # Restarting clamped EM from the fitted parameters gains (almost) nothing.
    again = GMMHMM(k, n_mix=2, n_iter=20, tol=0.0, init_params="")
    for name in ("startprob_", "transmat_", "weights_", "means_", "covars_"):
        setattr(again, name, getattr(model, name))
    again.fit(X, lengths, states=z)
    assert again.monitor_.history[-1] - h[-1] < 1e-4
    assert np.mean(model.predict(X, lengths) == z) > 0.95


# --------------------------------------------------------------------------
# Partly labelled
# --------------------------------------------------------------------------


TINY_CASES = [
    ([4, 3], [0, -1, -1, 1, -1, 1, -1]),
    ([5], [-1, 1, -1, -1, 0]),
    ([2, 1, 3], [-1, -1, 1, 0, -1, -1]),
]


@pytest.mark.parametrize("lengths, labels", TINY_CASES)
def test_partly_labelled_categorical_matches_enumeration(lengths, labels):
    rng = np.random.default_rng(len(labels))
    k, m = 2, 3
    labels = np.array(labels)
    X = rng.integers(0, m, size=len(labels)).reshape(-1, 1)
    X[:m, 0] = np.arange(m)
    sp = rng.dirichlet(np.ones(k))
    tm = rng.dirichlet(np.ones(k), size=k)
    ep = rng.dirichlet(np.ones(m), size=k)
    sp_a, tm_a, ep_a = 1.5, 2.0, 1.2

    model = CategoricalHMM(
        k,
        startprob_prior=sp_a,
        transmat_prior=tm_a,
        emissionprob_prior=ep_a,
        n_iter=1,
        init_params="",
    )
    model.startprob_, model.transmat_, model.emissionprob_ = sp, tm, ep
    model.fit(X, lengths, states=labels)

    log_e = np.log(ep.T)[X[:, 0]]
    obj, post, xi, start = clamped_enumeration(log_e, sp, tm, labels, lengths)
    prior = (
        dirichlet_logp(sp, sp_a) + dirichlet_logp(tm, tm_a) + dirichlet_logp(ep, ep_a)
    )
    assert model.monitor_.history == [pytest.approx(obj + prior, rel=1e-12)]
    # Known states have one-hot posteriors; the M-step uses the clamped counts.
    known = labels >= 0
    np.testing.assert_allclose(post[known], np.eye(k)[labels[known]], atol=1e-15)
    emis = np.stack(
        [np.bincount(X[:, 0], weights=post[:, s], minlength=m) for s in range(k)]
    )
    np.testing.assert_allclose(
        model.startprob_, dirichlet_mode(start, sp_a), atol=1e-12
    )
    np.testing.assert_allclose(model.transmat_, dirichlet_mode(xi, tm_a), atol=1e-12)
    np.testing.assert_allclose(
        model.emissionprob_, dirichlet_mode(emis, ep_a), atol=1e-12
    )

    # The next objective is the enumeration under the updated parameters.
    two = CategoricalHMM(
        k,
        startprob_prior=sp_a,
        transmat_prior=tm_a,
        emissionprob_prior=ep_a,
        n_iter=2,
        tol=0.0,
        init_params="",
    )
    two.startprob_, two.transmat_, two.emissionprob_ = sp, tm, ep
    two.fit(X, lengths, states=labels)
    new = model.startprob_, model.transmat_, model.emissionprob_
    obj2, *_ = clamped_enumeration(
        np.log(new[2].T)[X[:, 0]], new[0], new[1], labels, lengths
    )
    prior2 = dirichlet_logp(new[0], sp_a) + dirichlet_logp(new[1], tm_a)
    prior2 += dirichlet_logp(new[2], ep_a)
    assert two.monitor_.history[1] == pytest.approx(obj2 + prior2, rel=1e-12)
    assert two.monitor_.history[1] >= two.monitor_.history[0]


@pytest.mark.parametrize("lengths, labels", TINY_CASES)
def test_partly_labelled_gaussian_matches_enumeration(lengths, labels):
    rng = np.random.default_rng(100 + len(labels))
    k, d = 2, 2
    labels = np.array(labels)
    X = rng.normal(size=(len(labels), d))
    means = rng.normal(size=(k, d))
    covars = rng.uniform(0.5, 2.0, size=(k, d))
    sp = rng.dirichlet(np.ones(k))
    tm = rng.dirichlet(np.ones(k), size=k)
    model = GaussianHMM(
        k, covariance_type="diag", n_iter=1, init_params="", min_covar=1e-9
    )
    model.startprob_, model.transmat_ = sp, tm
    model.means_, model.covars_ = means, covars
    model.fit(X, lengths, states=labels)

    log_e = gaussian_log_emissions(X, means, covars, "diag")
    obj, post, xi, start = clamped_enumeration(log_e, sp, tm, labels, lengths)
    # Default priors: covars_prior=1e-2, covars_weight=1 (mean prior off).
    prior = gaussian_logprior(means, covars, "diag", np.zeros((k, d)), 0.0, 1e-2, 1.0)
    assert model.monitor_.history == [pytest.approx(obj + prior, rel=1e-12)]
    mass = post.sum(axis=0)
    new_means = post.T @ X / mass[:, None]
    scatter = np.stack([post[:, s] @ (X - new_means[s]) ** 2 for s in range(k)])
    np.testing.assert_allclose(model.means_, new_means, rtol=1e-10)
    np.testing.assert_allclose(
        model.covars_, (1e-2 + scatter) / mass[:, None], rtol=1e-10
    )
    np.testing.assert_allclose(
        model.transmat_, xi / xi.sum(axis=1, keepdims=True), atol=1e-12
    )
    np.testing.assert_allclose(model.startprob_, start / start.sum(), atol=1e-12)


def test_contradictory_labels_raise_and_leave_the_model_unchanged():
    model = CategoricalHMM(2, init_params="", n_iter=3)
    model.startprob_ = np.array([1.0, 0.0])
    model.transmat_ = np.array([[0.5, 0.5], [0.5, 0.5]])
    model.emissionprob_ = np.array([[0.5, 0.5], [0.5, 0.5]])
    X = np.array([[0], [1], [0]])
    with pytest.raises(ValueError, match="zero probability"):
        model.fit(X, states=[1, -1, -1])  # startprob_[1] is 0
    np.testing.assert_array_equal(model.startprob_, [1.0, 0.0])


@pytest.mark.parametrize("cls", ["categorical", "gaussian"])
def test_all_unknown_labels_is_unlabelled_fit(cls):
    rng = np.random.default_rng(5)
    if cls == "categorical":
        X = rng.integers(0, 4, size=(60, 1))
        make = lambda: CategoricalHMM(3, n_iter=6, tol=0.0, random_state=4)  # noqa: E731
    else:
        X = rng.normal(size=(60, 2))
        make = lambda: GaussianHMM(3, n_iter=6, tol=0.0, random_state=4)  # noqa: E731
    a = make().fit(X, [25, 35], states=np.full(60, -1))
    b = make().fit(X, [25, 35])
    assert a.monitor_.history == b.monitor_.history
    for name in ("startprob_", "transmat_", "emissionprob_", "means_", "covars_"):
        if hasattr(b, name):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


# --------------------------------------------------------------------------
# Invalid labels
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "states, error",
    [
        (np.array([0, 1, 2, 0, 1, 3]), ValueError),  # out of range
        (np.array([0, 1, -2, 0, 1, 0]), ValueError),  # below -1
        (np.array([0, 1, 2, 0, 1]), ValueError),  # too short
        (np.array([[0, 1, 2], [0, 1, 2]]), ValueError),  # 2-D
        (np.array([0, 1, 2, 0, 1, 0.5]), TypeError),  # non-integer
        (np.array([0.0, 1.0, np.nan, 0.0, 1.0, 2.0]), TypeError),
        (np.array(["a", "b", "c", "a", "b", "c"]), TypeError),
        ([[0, 1], [2, 0, 1, 2, 0]], ValueError),  # per-sequence lists, wrong split
        ([[0, 1, 2], [0, 1]], ValueError),  # per-sequence lists, too short
    ],
)
def test_invalid_labels_raise_naming_states(states, error):
    X = np.array([0, 1, 2, 0, 1, 2]).reshape(-1, 1)
    model = CategoricalHMM(3, random_state=0)
    with pytest.raises(error, match="states"):
        model.fit(X, [3, 3], states=states)
    assert not hasattr(model, "emissionprob_") or model.emissionprob_ is None


# --------------------------------------------------------------------------
# The tagger (the docs example at a smaller scale)
# --------------------------------------------------------------------------


def draw_sequences(rng, startprob, transmat, emissionprob, n_seq, length):
    """Labelled sequences drawn from a categorical HMM, in plain NumPy."""
    k, m = emissionprob.shape
    z = np.empty((n_seq, length), dtype=np.int64)
    x = np.empty((n_seq, length), dtype=np.int64)
    for i in range(n_seq):
        z[i, 0] = rng.choice(k, p=startprob)
        for t in range(1, length):
            z[i, t] = rng.choice(k, p=transmat[z[i, t - 1]])
        for t in range(length):
            x[i, t] = rng.choice(m, p=emissionprob[z[i, t]])
    return x.reshape(-1, 1), z.reshape(-1), np.full(n_seq, length)


def test_tagger_trained_from_labels_is_nearly_as_accurate_as_the_true_model():
    rng = np.random.default_rng(2024)
    k, m = 3, 12
    startprob = rng.dirichlet(np.ones(k))
    transmat = 0.7 * np.eye(k) + 0.3 * rng.dirichlet(np.ones(k), size=k)
    emissionprob = rng.dirichlet(np.full(m, 0.3), size=k)
    X, z, lengths = draw_sequences(rng, startprob, transmat, emissionprob, 80, 30)
    Xt, zt, lengths_t = draw_sequences(rng, startprob, transmat, emissionprob, 40, 30)

    tagger = CategoricalHMM(k, n_features=m, emissionprob_prior=1.5, random_state=0)
    tagger.fit(X, lengths, states=z)
    truth = CategoricalHMM(k, n_features=m)
    truth.startprob_, truth.transmat_, truth.emissionprob_ = (
        startprob,
        transmat,
        emissionprob,
    )

    acc_tagger = np.mean(tagger.predict(Xt, lengths_t) == zt)
    acc_truth = np.mean(truth.predict(Xt, lengths_t) == zt)
    assert acc_truth > 0.6  # the task is learnable, far above chance (1/3)
    assert acc_tagger >= acc_truth - 0.03


# -- hmmlearn's warning about more free parameters than data values --------------
DEGENERATE = "degenerate solution"


def test_fully_labelled_fit_logs_no_degenerate_warning(caplog):
    # 2 + 2 + 2 * 9 = 22 free parameters, 6 values: EM would be degenerate,
    # but a labelled fit is the closed-form estimate from the counts.
    X = np.array([0, 1, 2, 0, 1, 2]).reshape(-1, 1)
    states = np.array([0, 0, 0, 1, 1, 1])
    with caplog.at_level(logging.WARNING, logger="fasthmm"):
        CategoricalHMM(2, n_features=10).fit(X, states=states)
        assert DEGENERATE not in caplog.text
        CategoricalHMM(2, n_features=10, n_iter=1).fit(X)  # EM: still warned
    assert DEGENERATE in caplog.text


def test_degenerate_warning_counts_every_row_of_data_walked_in_blocks(caplog):
    # 150,000 rows walked in blocks are initialised from a sample of 100,000
    # rows; the warning compares the free parameters with all the data.
    n = 150_000
    X = (np.arange(n) % 7).reshape(-1, 1)
    kw = dict(n_iter=1, random_state=0, memory_budget=2_000_000)
    with caplog.at_level(logging.WARNING, logger="fasthmm"):
        # 2 * 59,999 + 1 + 2 = 120,001 free parameters < 150,000 values.
        CategoricalHMM(2, n_features=60_000, **kw).fit(X)
        assert DEGENERATE not in caplog.text
        # 2 * 79,999 + 3 = 160,001 > 150,000: warned, with the full count.
        CategoricalHMM(2, n_features=80_000, **kw).fit(X)
    assert f"160001 free scalar parameters with only {n} data points" in caplog.text
