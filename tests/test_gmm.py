"""GMMHMM: brute force, hmmlearn's priors, hmmlearn parity,
recovery, degenerate data and bad input.

References are independent of fasthmm: mixture densities from explicit
inverses and determinants, likelihoods by enumerating every state path,
hmmlearn's M-step formulas and the log prior they maximise written out in
NumPy, and hmmlearn itself where installed.
"""

import itertools
import logging
import math

import numpy as np
import pytest
from reference import gmm_full_covars

from fasthmm import GMMHMM
from fasthmm.emissions import gmm as gmm_module

TYPES = ("spherical", "diag", "full", "tied")

# -- independent references ----------------------------------------------------


def mixture_log_density(X, weights, means, covars, ctype):
    """log sum_m w_m N(x; mu_m, Sigma_m), shape (n_samples, n_states)."""
    k, m, d = means.shape
    cv = gmm_full_covars(covars, ctype, k, m, d)
    out = np.zeros((X.shape[0], k))
    for s in range(k):
        dens = np.zeros(X.shape[0])
        for j in range(m):
            diff = X - means[s, j]
            q = np.einsum("ti,ij,tj->t", diff, np.linalg.inv(cv[s, j]), diff)
            norm = math.sqrt((2 * math.pi) ** d * np.linalg.det(cv[s, j]))
            dens += weights[s, j] * np.exp(-0.5 * q) / norm
        out[:, s] = np.log(dens)
    return out


def brute_force(log_em, startprob, transmat, lengths):
    """Log-likelihood, best-path log-probability, best paths and posteriors."""
    ll, best, paths, post = 0.0, 0.0, [], np.zeros_like(log_em)
    bounds = np.concatenate(([0], np.cumsum(lengths)))
    ls, lt = np.log(startprob), np.log(transmat)
    k = len(startprob)
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        le = log_em[lo:hi]
        all_paths = list(itertools.product(range(k), repeat=hi - lo))
        scores = np.array(
            [
                ls[z[0]]
                + sum(lt[a, b] for a, b in zip(z[:-1], z[1:]))
                + sum(le[t, z[t]] for t in range(hi - lo))
                for z in all_paths
            ]
        )
        top = scores.max()
        seq_ll = top + math.log(np.exp(scores - top).sum())
        ll += seq_ll
        best += top
        paths.extend(all_paths[int(scores.argmax())])
        for z, w in zip(all_paths, np.exp(scores - seq_ll)):
            post[lo + np.arange(hi - lo), list(z)] += w
    return ll, best, np.array(paths), post


def random_spd(rng, shape, d, scale=0.4):
    a = rng.normal(0, scale, shape + (d, d))
    return a @ np.swapaxes(a, -1, -2) + 0.5 * np.eye(d)


def random_covars(rng, ctype, k, m, d):
    if ctype == "spherical":
        return rng.uniform(0.5, 2.0, (k, m))
    if ctype == "diag":
        return rng.uniform(0.5, 2.0, (k, m, d))
    if ctype == "full":
        return random_spd(rng, (k, m), d)
    return random_spd(rng, (k,), d)


def random_params(rng, ctype, k, m, d, spread=3.0):
    return {
        "startprob_": rng.dirichlet(np.ones(k) * 2),
        "transmat_": rng.dirichlet(np.ones(k) * 2, k) * 0.5 + np.eye(k) * 0.5,
        "weights_": rng.dirichlet(np.ones(m) * 3, k),
        "means_": rng.normal(0, spread, (k, m, d)),
        "covars_": random_covars(rng, ctype, k, m, d),
    }


def set_params(model, params):
    for name, value in params.items():
        setattr(model, name, np.array(value, copy=True))
    return model


def random_priors(rng, ctype, k, m, d):
    """Priors in hmmlearn's parametrisation that add non-negative counts."""
    priors = {
        "weights_prior": rng.uniform(1.0, 3.0, (k, m)),
        "means_prior": rng.normal(0, 1, (k, m, d)),
        "means_weight": rng.uniform(0.0, 2.0, (k, m)),
    }
    if ctype == "diag":
        priors["covars_prior"] = rng.uniform(-1.5, 1.0, (k, m, d))
        priors["covars_weight"] = rng.uniform(0.0, 1.0, (k, m, d))
    elif ctype == "spherical":
        priors["covars_prior"] = rng.uniform(-(d + 2) / 2, 1.0, (k, m))
        priors["covars_weight"] = rng.uniform(0.0, 1.0, (k, m))
    elif ctype == "full":
        priors["covars_prior"] = random_spd(rng, (k, m), d, 0.2)
        priors["covars_weight"] = rng.uniform(-(d + 2), 2.0, (k, m))
    else:
        priors["covars_prior"] = random_spd(rng, (k,), d, 0.2)
        priors["covars_weight"] = rng.uniform(-(m + d + 1), 2.0, k)
    return priors


def hmmlearn_log_prior(params, priors, ctype):
    """The log prior (up to a constant) whose maximiser is hmmlearn's M-step."""
    w, mu, cv = params["weights_"], params["means_"], params["covars_"]
    k, m, d = mu.shape
    out = float(np.sum((priors["weights_prior"] - 1.0) * np.log(w)))
    lam, diff = priors["means_weight"], mu - priors["means_prior"]
    a, b = priors["covars_prior"], priors["covars_weight"]
    if ctype == "diag":
        return out + float(
            np.sum(
                -(lam[..., None] * diff**2) / (2 * cv) - b / cv - (a + 1.5) * np.log(cv)
            )
        )
    if ctype == "spherical":
        sq = (diff**2).sum(axis=-1)
        return out + float(
            np.sum(-(lam * sq + 2 * b) / (2 * cv) - (d + 2 * a + 2) / 2 * np.log(cv))
        )
    for s in range(k):
        for j in range(m):
            c = cv[s, j] if ctype == "full" else cv[s]
            out -= 0.5 * lam[s, j] * diff[s, j] @ np.linalg.solve(c, diff[s, j])
    if ctype == "full":
        for s in range(k):
            for j in range(m):
                out -= 0.5 * np.trace(np.linalg.solve(cv[s, j], a[s, j]))
                out -= 0.5 * (b[s, j] + d + 2) * np.log(np.linalg.det(cv[s, j]))
        return out
    for s in range(k):
        out -= 0.5 * np.trace(np.linalg.solve(cv[s], a[s]))
        out -= 0.5 * (b[s] + m + d + 1) * np.log(np.linalg.det(cv[s]))
    return out


def sample_gmm(params, ctype, n, rng):
    """States and samples drawn in plain NumPy."""
    k, m, d = params["means_"].shape
    cv = gmm_full_covars(params["covars_"], ctype, k, m, d)
    states = np.empty(n, dtype=int)
    states[0] = rng.choice(k, p=params["startprob_"])
    for t in range(1, n):
        states[t] = rng.choice(k, p=params["transmat_"][states[t - 1]])
    X = np.empty((n, d))
    for t, s in enumerate(states):
        j = rng.choice(m, p=params["weights_"][s])
        X[t] = rng.multivariate_normal(params["means_"][s, j], cv[s, j])
    return X, states


# -- brute force -----------------------------------------------------------------


@pytest.mark.parametrize("ctype", TYPES)
def test_inference_matches_brute_force(ctype):
    rng = np.random.RandomState(TYPES.index(ctype))
    k, m, d, lengths = 2, 3, 2, [4, 3]
    params = random_params(rng, ctype, k, m, d, spread=1.0)
    model = set_params(GMMHMM(k, n_mix=m, covariance_type=ctype), params)
    X = rng.normal(0, 1.5, (sum(lengths), d))
    le = mixture_log_density(
        X, params["weights_"], params["means_"], params["covars_"], ctype
    )
    ll, best, path, post = brute_force(
        le, params["startprob_"], params["transmat_"], lengths
    )
    assert model.score(X, lengths) == pytest.approx(ll, rel=1e-10)
    log_prob, states = model.decode(X, lengths)
    assert log_prob == pytest.approx(best, rel=1e-10)
    np.testing.assert_array_equal(states, path)
    np.testing.assert_allclose(model.predict_proba(X, lengths), post, atol=1e-10)


@pytest.mark.parametrize("ctype", TYPES)
def test_chunked_densities_and_statistics_match_one_pass(ctype, monkeypatch):
    """Rows are processed in chunks; the chunk size must not change results."""
    rng = np.random.RandomState(7)
    k, m, d = 3, 2, 2
    params = random_params(rng, ctype, k, m, d, spread=1.0)
    X = rng.normal(0, 1.5, (101, d))
    le = mixture_log_density(
        X, params["weights_"], params["means_"], params["covars_"], ctype
    )
    post = rng.dirichlet(np.ones(k), size=X.shape[0])
    results = []
    for entries in (10**6, 7 * k * m):  # one chunk; chunks of 7 rows
        monkeypatch.setattr(gmm_module, "CHUNK_ENTRIES", entries)
        model = set_params(GMMHMM(k, n_mix=m, covariance_type=ctype), params)
        emission = model._emission(model._current_params()).with_data(X)
        np.testing.assert_allclose(emission.log_likelihood(X), le, rtol=1e-12)
        results.append(emission.suff_stats(X, post))
    for key in results[0]:
        np.testing.assert_allclose(results[1][key], results[0][key], rtol=1e-12)
    # The responsibilities split each state's posterior over its components.
    np.testing.assert_allclose(
        results[0]["post"].reshape(k, m).sum(axis=1), post.sum(axis=0), rtol=1e-12
    )


# -- EM objective ------------------------------------------------------------------


@pytest.mark.parametrize("ctype", TYPES)
def test_objective_is_log_likelihood_plus_hmmlearns_log_prior(ctype):
    """fasthmm's objective is brute-force log-likelihood plus the log prior
    hmmlearn's M-step maximises, up to one constant for all parameters."""
    rng = np.random.RandomState(20 + TYPES.index(ctype))
    k, m, d = 2, 2, 2
    priors = random_priors(rng, ctype, k, m, d)
    X = rng.normal(0, 2, (5, d))
    gaps = []
    for _ in range(3):
        params = random_params(rng, ctype, k, m, d, spread=1.5)
        model = GMMHMM(
            k,
            n_mix=m,
            covariance_type=ctype,
            n_iter=1,
            init_params="",
            params="",
            **priors,
        )
        set_params(model, params).fit(X)
        le = mixture_log_density(
            X, params["weights_"], params["means_"], params["covars_"], ctype
        )
        ll = brute_force(le, params["startprob_"], params["transmat_"], [5])[0]
        gaps.append(
            model.monitor_.history[0] - ll - hmmlearn_log_prior(params, priors, ctype)
        )
    np.testing.assert_allclose(gaps, gaps[0], rtol=0, atol=1e-9 * (1 + abs(gaps[0])))


@pytest.mark.parametrize("ctype", TYPES)
def test_labelled_fit_matches_hmmlearns_formulas(ctype):
    """One mixture component per state and known states: the fit is hmmlearn's
    M-step with the scatter around the new means, in closed form."""
    rng = np.random.RandomState(30 + TYPES.index(ctype))
    k, d = 2, 3
    priors = random_priors(rng, ctype, k, 1, d)
    del priors["weights_prior"]
    X = rng.normal(0, 2, (80, d)) + rng.normal(0, 1, d)
    labels = np.repeat([0, 1, 0, 1], 20)
    model = GMMHMM(k, n_mix=1, covariance_type=ctype, random_state=0, **priors)
    model.fit(X, states=labels)
    lam, mu0 = priors["means_weight"][:, 0], priors["means_prior"][:, 0]
    a, b = priors["covars_prior"], priors["covars_weight"]
    for s in range(k):
        x = X[labels == s]
        n = x.shape[0]
        mean = (lam[s] * mu0[s] + x.sum(axis=0)) / (lam[s] + n)
        np.testing.assert_allclose(model.means_[s, 0], mean, rtol=1e-10)
        dm, dx = mean - mu0[s], x - mean
        if ctype == "diag":
            cv = (lam[s] * dm**2 + 2 * b[s, 0] + (dx**2).sum(0)) / (
                n + 1 + 2 * (a[s, 0] + 1)
            )
            got = model.covars_[s, 0]
        elif ctype == "spherical":
            num = lam[s] * dm @ dm + 2 * b[s, 0] + (dx**2).sum()
            cv = num / (d * (n + 1) + 2 * (a[s, 0] + 1))
            got = model.covars_[s, 0]
        else:
            psi, nu = (a[s, 0], b[s, 0]) if ctype == "full" else (a[s], b[s])
            cv = (psi + lam[s] * np.outer(dm, dm) + dx.T @ dx) / (n + 1 + nu + d + 1)
            got = model.covars_[s, 0] if ctype == "full" else model.covars_[s]
        np.testing.assert_allclose(got, cv, rtol=1e-10)
    np.testing.assert_array_equal(model.weights_, 1.0)


# -- recovery ----------------------------------------------------------------------


def test_sample_then_fit_recovers_the_model():
    truth = {
        "startprob_": np.array([0.6, 0.4]),
        "transmat_": np.array([[0.95, 0.05], [0.1, 0.9]]),
        "weights_": np.array([[0.3, 0.7], [0.6, 0.4]]),
        "means_": np.array([[[-6.0, 0.0], [-6.0, 6.0]], [[6.0, 0.0], [6.0, 6.0]]]),
        "covars_": np.array([[[1.0, 0.5], [0.7, 1.2]], [[1.5, 1.0], [0.6, 0.8]]]),
    }
    source = set_params(GMMHMM(2, n_mix=2), truth)
    rng = np.random.RandomState(40)
    parts = [source.sample(1000, random_state=rng) for _ in range(10)]
    X = np.concatenate([p[0] for p in parts])
    states = np.concatenate([p[1] for p in parts])
    model = GMMHMM(2, n_mix=2, n_iter=200, tol=1e-6, random_state=0)
    model.fit(X, [1000] * 10)
    s_order = np.argsort(model.means_[:, :, 0].mean(axis=1))
    for s_true, s in enumerate(s_order):
        c_order = np.argsort(model.means_[s, :, 1])
        np.testing.assert_allclose(
            model.means_[s, c_order], truth["means_"][s_true], atol=0.1
        )
        np.testing.assert_allclose(
            model.covars_[s, c_order], truth["covars_"][s_true], rtol=0.1
        )
        np.testing.assert_allclose(
            model.weights_[s, c_order], truth["weights_"][s_true], atol=0.03
        )
    np.testing.assert_allclose(
        model.transmat_[np.ix_(s_order, s_order)], truth["transmat_"], atol=0.02
    )
    to_true = np.argsort(s_order)
    assert np.mean(to_true[model.predict(X, [1000] * 10)] == states) > 0.99


# -- hmmlearn parity ---------------------------------------------------------------


class _NoKMeans:
    """Stands in for scikit-learn's KMeans in hmmlearn's GMMHMM._init, which
    clusters the data even with init_params="" and then discards the result."""

    def __init__(self, n_clusters, **kwargs):
        self.n_clusters = n_clusters

    def fit(self, X):
        self.cluster_centers_ = np.zeros((self.n_clusters, X.shape[1]))
        return self

    def fit_predict(self, X):
        self.fit(X)
        return np.zeros(X.shape[0], dtype=int)


@pytest.mark.parametrize("with_prior", [False, True])
@pytest.mark.parametrize("params", ["stmw", "stcw"])
@pytest.mark.parametrize("ctype", TYPES)
def test_hmmlearn_parity(ctype, params, with_prior, monkeypatch):
    """Same start, 5 iterations: the same parameters, score and Viterbi path.

    hmmlearn centres its covariance statistics on the previous means, which
    is not the M-step's maximiser when means and covariances are learned
    together, so each parity run freezes one of them.
    """
    hmm = pytest.importorskip("hmmlearn.hmm")
    monkeypatch.setattr(hmm.cluster, "KMeans", _NoKMeans)
    logging.getLogger("hmmlearn").setLevel(logging.ERROR)
    rng = np.random.RandomState(50 + TYPES.index(ctype))
    k, m, d = 2, 2, 3
    truth = random_params(rng, ctype, k, m, d)
    X, _ = sample_gmm(truth, ctype, 400, rng)
    lengths = [150, 250]
    start = dict(truth)
    start["means_"] = truth["means_"] + rng.normal(0, 0.3, truth["means_"].shape)
    start["covars_"] = truth["covars_"] * 1.2
    start["weights_"] = np.full((k, m), 0.5)
    priors = random_priors(rng, ctype, k, m, d) if with_prior else {}
    common = dict(
        n_mix=m, covariance_type=ctype, n_iter=5, init_params="", params=params
    )
    ours = set_params(GMMHMM(k, tol=0, **common, **priors), start)
    theirs = set_params(hmm.GMMHMM(k, tol=-np.inf, **common, **priors), start)
    ours.fit(X, lengths)
    theirs.fit(X, lengths)
    for name in start:
        np.testing.assert_allclose(
            getattr(ours, name), getattr(theirs, name), rtol=1e-6
        )
    assert ours.score(X, lengths) == pytest.approx(theirs.score(X, lengths), rel=1e-8)
    lp_ours, path_ours = ours.decode(X, lengths)
    lp_theirs, path_theirs = theirs.decode(X, lengths)
    assert lp_ours == pytest.approx(lp_theirs, rel=1e-8)
    np.testing.assert_array_equal(path_ours, path_theirs)


# -- degenerate data ---------------------------------------------------------------


@pytest.mark.parametrize("ctype", TYPES)
def test_empty_state_and_dead_component_keep_their_parameters(ctype):
    rng = np.random.RandomState(60)
    k, m, d = 3, 2, 2
    params = random_params(rng, ctype, k, m, d, spread=1.0)
    params["startprob_"] = np.array([0.5, 0.5, 0.0])
    params["transmat_"] = np.array([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [0.2, 0.2, 0.6]])
    params["weights_"][0] = [1.0, 0.0]  # a dead component
    params["means_"][1, 1] = [1e3, 1e3]  # a component no sample reaches
    model = set_params(
        GMMHMM(k, n_mix=m, covariance_type=ctype, n_iter=4, tol=0, init_params=""),
        params,
    )
    model.fit(rng.normal(0, 1, (100, d)))
    for name in ("weights_", "means_", "covars_"):
        np.testing.assert_array_equal(getattr(model, name)[2], params[name][2])
        assert np.all(np.isfinite(getattr(model, name)))
    assert model.weights_[0, 1] == 0.0
    np.testing.assert_array_equal(model.means_[0, 1], params["means_"][0, 1])
    np.testing.assert_array_equal(model.means_[1, 1], params["means_"][1, 1])
    if ctype != "tied":  # a tied covariance is shared with live components
        np.testing.assert_array_equal(model.covars_[0, 1], params["covars_"][0, 1])
        np.testing.assert_array_equal(model.covars_[1, 1], params["covars_"][1, 1])
    assert model.weights_[1, 1] < 1e-12


@pytest.mark.parametrize("ctype", TYPES)
def test_constant_feature_is_floored_not_nan(ctype):
    rng = np.random.RandomState(61)
    X = np.column_stack([rng.normal(0, 1, 200), np.full(200, 3.0)])
    model = GMMHMM(
        2, n_mix=2, covariance_type=ctype, n_iter=10, random_state=0, min_covar=1e-3
    )
    model.fit(X)
    for name in ("startprob_", "transmat_", "weights_", "means_", "covars_"):
        assert np.all(np.isfinite(getattr(model, name)))
    cv = gmm_full_covars(model.covars_, ctype, 2, 2, 2)
    assert np.all(np.linalg.eigvalsh(cv) >= 1e-3 * (1 - 1e-9))
    np.testing.assert_allclose(model.means_[..., 1], 3.0, rtol=1e-8)
    h = np.array(model.monitor_.history)
    assert np.all(np.diff(h) >= -1e-8 * np.abs(h[:-1]))


# -- bad input and bookkeeping -----------------------------------------------------


def _fitted(ctype="diag"):
    rng = np.random.RandomState(70)
    return set_params(
        GMMHMM(2, n_mix=2, covariance_type=ctype), random_params(rng, ctype, 2, 2, 2)
    )


def test_bad_input_raises_naming_the_argument():
    model = _fitted()
    X = np.zeros((5, 2))
    with pytest.raises(ValueError, match="X must not contain NaN"):
        model.score(np.array([[0.0, np.nan]]))
    with pytest.raises(ValueError, match="X must have n_features = 2"):
        model.score(np.zeros((5, 3)))
    model.weights_ = np.array([[0.5, 0.6], [0.5, 0.5]])
    with pytest.raises(ValueError, match="weights_"):
        model.score(X)
    model = _fitted()
    model.means_ = np.zeros((2, 3, 2))
    with pytest.raises(ValueError, match="means_"):
        model.score(X)
    model = _fitted()
    model.covars_ = -model.covars_
    with pytest.raises(ValueError, match="covars_"):
        model.score(X)
    model = _fitted("full")
    model.covars_ = np.tile(np.array([[1.0, 2.0], [2.0, 1.0]]), (2, 2, 1, 1))
    with pytest.raises(ValueError, match="covars_"):
        model.score(X)
    model = _fitted("tied")
    model.covars_ = np.ones((2, 2, 2, 2))
    with pytest.raises(ValueError, match="covars_"):
        model.score(X)
    with pytest.raises(ValueError, match="n_mix"):
        GMMHMM(2, n_mix=0).fit(np.ones((10, 2)))
    with pytest.raises(ValueError, match="covariance_type"):
        GMMHMM(2, covariance_type="banana").fit(np.ones((10, 2)))


@pytest.mark.parametrize("ctype", TYPES)
def test_bic_counts_free_parameters(ctype):
    model = _fitted(ctype)
    X = np.random.RandomState(71).normal(0, 1, (50, 2))
    k, m, d = 2, 2, 2
    n_cov = {"spherical": k * m, "diag": k * m * d, "full": k * m * 3, "tied": k * 3}[
        ctype
    ]
    n_params = (k - 1) + k * (k - 1) + k * (m - 1) + k * m * d + n_cov
    le = mixture_log_density(X, model.weights_, model.means_, model.covars_, ctype)
    ll = brute_force(le[:5], model.startprob_, model.transmat_, [5])[0]
    assert model.bic(X[:5]) == pytest.approx(
        -2 * ll + n_params * math.log(5), rel=1e-10
    )
