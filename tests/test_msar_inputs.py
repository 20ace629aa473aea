"""MarkovSwitchingAR with inputs in the mean (statsmodels' ``exog``) and
without a mean (``fit_intercept=False``: statsmodels' ``trend="n"``).

References: enumeration of every regime path of tiny models, written here
with NumPy in log space; the residuals statsmodels' own tests write out by
hand; statsmodels' ``MarkovAutoregression`` (log-likelihood, filtered and
smoothed probabilities, its fitted optimum), skipped when absent.
"""

import copy
import functools
import itertools

import numpy as np
import pytest
import test_distributed
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import logsumexp, random_stochastic, safe_log

from fasthmm import MarkovSwitchingAR

LOG_2PI = np.log(2 * np.pi)


def random_model(rng, k, order, n_inputs, switching_coef=True, fit_intercept=True):
    model = MarkovSwitchingAR(
        k,
        order,
        switching_variance=True,
        switching_coef=switching_coef,
        fit_intercept=fit_intercept,
    )
    model.startprob_ = random_stochastic(rng, (k,))
    model.transmat_ = random_stochastic(rng, (k, k))
    model.means_ = rng.normal(size=k) * 2 if fit_intercept else np.zeros(k)
    model.ar_coef_ = rng.uniform(-0.6, 0.6, size=(k, order)) / order
    model.variances_ = rng.uniform(0.3, 2.0, size=k)
    coef = rng.normal(size=(k, n_inputs))
    model.coef_ = coef if switching_coef else np.tile(coef[0], (k, 1))
    return model


def levels(model, u):
    """m_t[k] = means_[k] + u_t @ coef_[k], shape (n, K)."""
    return model.means_[None, :] + u @ model.coef_.T


def path_scores(model, y, u, w=None):
    """Every regime path of one sequence and its joint log-probability (row
    t of the transition inputs ``w`` drives the transition into row t)."""
    k, p, n = model.n_components, model.order, len(y)
    mu, phi, var = levels(model, u), model.ar_coef_, model.variances_
    if w is None:
        mats = np.broadcast_to(model.transmat_, (n, k, k))
    else:
        logits = np.einsum("ijd,nd->nij", model.transcoef_, w)
        mats = np.exp(logits) / np.exp(logits).sum(axis=2, keepdims=True)
    pi = model.startprob_
    paths = np.array(list(itertools.product(range(k), repeat=n)))
    scores = np.empty(len(paths))
    for row, s in enumerate(paths):
        steps = mats[np.arange(1, n), s[:-1], s[1:]]
        score = safe_log(pi[s[0]]) + safe_log(steps).sum()
        for t in range(p, n):
            dev = [y[t - i] - mu[t - i, s[t - i]] for i in range(p + 1)]
            e = dev[0] - phi[s[t]] @ dev[1:]
            score += -0.5 * (e * e / var[s[t]] + np.log(var[s[t]]) + LOG_2PI)
        scores[row] = score
    return paths, scores


def brute_force(model, y, u):
    """(log-likelihood, smoothed regimes (n, K), best path score)."""
    paths, scores = path_scores(model, y, u)
    ll = logsumexp(scores)
    post = np.zeros((len(y), model.n_components))
    for t in range(len(y)):
        np.add.at(post[t], paths[:, t], np.exp(scores - ll))
    return ll, post, scores.max()


CONFIGS = [(2, 1, 1, True, True), (2, 2, 2, False, True), (3, 1, 2, True, False)]


@pytest.mark.parametrize("k,order,m,switching_coef,fit_intercept", CONFIGS)
def test_inference_equals_enumeration_of_regime_paths(
    k, order, m, switching_coef, fit_intercept
):
    rng = np.random.default_rng(k * 10 + order + m)
    model = random_model(rng, k, order, m, switching_coef, fit_intercept)
    ys = [rng.normal(size=n) * 2 for n in (6, 5)]
    us = [rng.normal(size=(len(y), m)) for y in ys]
    ll, post = model.score_samples(ys, inputs=us)
    _, path = model.decode(ys, inputs=us)
    refs = [brute_force(model, y, u) for y, u in zip(ys, us)]
    assert ll == pytest.approx(sum(r[0] for r in refs), abs=1e-10)
    np.testing.assert_allclose(post, np.vstack([r[1] for r in refs]), atol=1e-10)
    best = 0.0
    for y, u, s in zip(ys, us, np.split(path, [len(ys[0])])):
        paths, scores = path_scores(model, y, u)
        best += scores[np.flatnonzero((paths == s).all(axis=1))[0]]
    assert best == pytest.approx(sum(r[2] for r in refs), abs=1e-10)
    np.testing.assert_allclose(
        model.predict_proba(np.concatenate(ys), [6, 5], inputs=np.vstack(us)),
        post,
        atol=1e-12,
    )


def test_inputs_with_input_driven_transitions_equal_enumeration():
    rng = np.random.default_rng(21)
    model = random_model(rng, 2, 1, 1)
    model.set_params(transition_inputs=True)
    model.transcoef_ = np.zeros((2, 2, 2))
    model.transcoef_[:, 0, :] = rng.normal(size=(2, 2))
    del model.transmat_
    y, u = rng.normal(size=7), rng.normal(size=(7, 1))
    w = np.column_stack([np.ones(7), rng.normal(size=7)])
    ll, post = model.score_samples(y, inputs=u, transition_inputs=w)
    paths, scores = path_scores(model, y, u, w)
    assert ll == pytest.approx(logsumexp(scores), abs=1e-10)
    ref = np.zeros((7, 2))
    for t in range(7):
        np.add.at(ref[t], paths[:, t], np.exp(scores - logsumexp(scores)))
    np.testing.assert_allclose(post, ref, atol=1e-10)


def forecast_by_paths(model, y, u, future_u, steps):
    """E[y_{T+h}] by enumerating every path over the observed and future
    rows, the deviations following the AR recursion."""
    k, p, n = model.n_components, model.order, len(y)
    paths, scores = path_scores(model, y, u)
    weights = np.exp(scores - logsumexp(scores))
    mu = levels(model, np.vstack([u, future_u]))
    P, phi = model.transmat_, model.ar_coef_
    means = np.zeros(steps)
    for s, w in zip(paths, weights):
        for future in itertools.product(range(k), repeat=steps):
            regimes = list(s) + list(future)
            weight = w * np.prod([P[a, b] for a, b in zip(regimes[n - 1 :], future)])
            dev = [y[t] - mu[t, regimes[t]] for t in range(n)]
            for h, a in enumerate(future):
                d = sum(phi[a, i] * dev[-1 - i] for i in range(p))
                dev.append(d)
                means[h] += weight * (mu[n + h, a] + d)
    return means


def test_forecast_with_inputs_equals_enumeration_of_paths():
    rng = np.random.default_rng(5)
    model = random_model(rng, 2, 2, 2)
    y, u = rng.normal(size=6), rng.normal(size=(6, 2))
    future = rng.normal(size=(3, 2))
    got = model.forecast(y, steps=3, inputs=u, future_inputs=future)
    np.testing.assert_allclose(
        got[0, :, 0], forecast_by_paths(model, y, u, future, 3), atol=1e-10
    )
    with pytest.raises(ValueError, match="future_inputs"):
        model.forecast(y, steps=3, inputs=u)
    with pytest.raises(ValueError, match="future_inputs"):
        model.forecast(y, steps=3, inputs=u, future_inputs=np.zeros((3, 1)))


def test_sample_follows_the_means_with_inputs():
    """With a negligible variance the sample is its regime means, which
    move with the inputs; the innovations of a sample at a unit variance
    are those of the model (mean 0, variance 1, uncorrelated with u)."""
    rng = np.random.default_rng(2)
    model = random_model(rng, 2, 2, 2)
    model.variances_ = np.full(2, 1e-20)
    u = rng.normal(size=(30, 2))
    X, s = model.sample(30, random_state=3, inputs=u)
    np.testing.assert_allclose(X[:, 0], levels(model, u)[np.arange(30), s], atol=1e-8)
    model.variances_ = np.ones(2)
    u = rng.normal(size=(20000, 2))
    X, s = model.sample(20000, random_state=4, inputs=u)
    dev = X[:, 0] - levels(model, u)[np.arange(20000), s]
    e = dev[2:] - np.einsum(
        "ti,ti->t", model.ar_coef_[s[2:]], np.c_[dev[1:-1], dev[:-2]]
    )
    assert abs(e.mean()) < 0.05 and abs(e.var() - 1) < 0.05
    assert np.all(np.abs(e @ u[2:] / len(e)) < 0.05)
    with pytest.raises(ValueError, match="inputs"):
        model.sample(30)


@settings(max_examples=8, deadline=None)
@given(
    seed=st.integers(0, 10**6),
    switching_coef=st.booleans(),
    fit_intercept=st.booleans(),
)
def test_em_with_inputs_never_decreases(seed, switching_coef, fit_intercept):
    rng = np.random.default_rng(seed)
    truth = random_model(rng, 2, 2, 2, switching_coef, fit_intercept)
    u = rng.normal(size=(70, 2))
    X = truth.sample(70, random_state=rng, inputs=u)[0]
    model = MarkovSwitchingAR(
        2,
        2,
        switching_coef=switching_coef,
        fit_intercept=fit_intercept,
        n_iter=15,
        tol=-np.inf,
    )
    model.fit(X, [40, 30], inputs=u)
    history = np.array(model.monitor_.history)
    assert np.all(np.diff(history) >= -1e-8 * np.abs(history[1:]))
    assert model.coef_.shape == (2, 2)
    if not switching_coef:
        np.testing.assert_array_equal(model.coef_[0], model.coef_[1])
    if not fit_intercept:
        np.testing.assert_array_equal(model.means_, 0.0)
    final = model.score(X, [40, 30], inputs=u)
    assert final >= history[-1] - 1e-8 * abs(final)


def test_blocks_and_save_load_keep_the_inputs(tmp_path):
    from fasthmm import load
    from fasthmm._batches import bytes_per_row

    rng = np.random.default_rng(8)
    model = random_model(rng, 2, 1, 2)
    lengths = rng.integers(8, 30, 8)
    u = rng.normal(size=(lengths.sum(), 2))
    X = model.sample(int(lengths.sum()), random_state=rng, inputs=u)[0]
    blocked = copy.deepcopy(model).set_params(memory_budget=40 * bytes_per_row(4, 1))
    for a, b in (
        (model.score(X, lengths, inputs=u), blocked.score(X, lengths, inputs=u)),
        (model.filter_proba(X, lengths, inputs=u), blocked.filter_proba(X, lengths, inputs=u)),
        (model.predict(X, lengths, inputs=u), blocked.predict(X, lengths, inputs=u)),
    ):  # fmt: skip
        np.testing.assert_allclose(a, b, rtol=1e-10)
    fitted = MarkovSwitchingAR(2, 1, n_iter=3).fit(X, lengths, inputs=u)
    slow = MarkovSwitchingAR(2, 1, n_iter=3, memory_budget=blocked.memory_budget)
    slow.fit(X, lengths, inputs=u)
    np.testing.assert_allclose(slow.coef_, fitted.coef_, rtol=1e-8)
    fitted.save(tmp_path / "m.npz")
    loaded = load(tmp_path / "m.npz")
    np.testing.assert_array_equal(loaded.coef_, fitted.coef_)
    assert loaded.score(X, lengths, inputs=u) == fitted.score(X, lengths, inputs=u)


def test_bad_inputs_are_named_and_a_failed_fit_changes_nothing():
    rng = np.random.default_rng(3)
    model = random_model(rng, 2, 1, 2)
    y, u = rng.normal(size=20), rng.normal(size=(20, 2))
    for kwargs, word in (
        ({}, "inputs is missing"),
        ({"inputs": u[:, :1]}, "2 columns"),
        ({"inputs": u[:19]}, "inputs"),
        ({"inputs": np.where(np.eye(20, 2), np.nan, u)}, "inputs"),
    ):
        with pytest.raises(ValueError, match=word):
            model.score(y, **kwargs)
    plain = MarkovSwitchingAR(2, 1, n_iter=2).fit(y)
    assert plain.coef_.shape == (2, 0)
    with pytest.raises(ValueError, match="inputs given"):
        plain.predict_proba(y, inputs=u)
    before = {n: getattr(model, n).copy() for n in model._param_names()}
    with pytest.raises(ValueError, match="inputs"):
        model.fit(y, inputs=np.full((20, 2), np.inf))
    for name, value in before.items():
        np.testing.assert_array_equal(getattr(model, name), value)
    with pytest.raises(TypeError, match="switching_coef"):
        MarkovSwitchingAR(2, switching_coef="no").fit(y)
    with pytest.raises(TypeError, match="fit_intercept"):
        MarkovSwitchingAR(2, fit_intercept=1).fit(y)
    model.coef_ = np.array([[1.0, 2.0], [1.0, 3.0]])
    model.set_params(switching_coef=False)
    with pytest.raises(ValueError, match="switching_coef=False"):
        model.score(y, inputs=u)


# -- statsmodels -------------------------------------------------------------------
@pytest.fixture(scope="module")
def sm():
    pytest.importorskip("pandas")
    return pytest.importorskip(
        "statsmodels.tsa.regime_switching.tests.test_markov_autoregression"
    )


def test_innovations_equal_statsmodels_hand_written_residuals(sm):
    """statsmodels' test_predict: AR(1) with mean and a non-switching exog,
    and AR(1) without mean, residuals per (s_t, s_{t-1}) written out."""
    endog = np.arange(10.0)
    exog = np.r_[0.4, 5, 0.2, 1.2, -0.3, 2.5, 0.2, -0.7, 2.0, -1.1]
    model = MarkovSwitchingAR(2, 1, switching_coef=False)
    model.transmat_ = np.full((2, 2), 0.5)
    model.startprob_ = np.full(2, 0.5)
    model.means_, model.coef_ = np.array([2.0, 3.0]), np.full((2, 1), 1.5)
    model.ar_coef_, model.variances_ = np.array([[0.1], [0.5]]), np.ones(2)
    data = model._read(endog, None, inputs=exog)
    got = model._residuals(model._checked_params(), data.features)
    for s0, s1 in itertools.product(range(2), repeat=2):
        mu, phi = (2.0, 3.0), (0.1, 0.5)
        want = (np.arange(1, 10) - mu[s0] - 1.5 * exog[1:]) - phi[s0] * (
            np.arange(9) - mu[s1] - 1.5 * exog[:-1]
        )
        np.testing.assert_allclose(got[:, s0 * 2 + s1], want, atol=1e-12)
    flat = MarkovSwitchingAR(2, 1, fit_intercept=False)
    flat.transmat_, flat.startprob_ = model.transmat_, model.startprob_
    flat.means_, flat.ar_coef_, flat.variances_ = (
        np.zeros(2),
        model.ar_coef_,
        np.ones(2),
    )
    got = flat._residuals(
        flat._checked_params(), flat._read(np.ones(10), None).features
    )
    np.testing.assert_allclose(got[:, :2], 0.9, atol=1e-12)  # s_t = 0
    np.testing.assert_allclose(got[:, 2:], 0.5, atol=1e-12)  # s_t = 1


def _exog(n):
    rng = np.random.default_rng(0)
    return np.column_stack([np.sin(np.arange(n) / 6.0), rng.normal(size=n)])


SM_CONFIGS = [
    # (order, trend, switching_exog, switching_ar, n_exog)
    (1, "c", False, True, 1),
    (1, "c", True, False, 2),
    (2, "n", True, True, 1),
    (2, "c", False, False, 2),
    (1, "n", False, True, 0),
]


def _statsmodels_pair(sm, order, trend, switching_exog, switching_ar, n_exog):
    from statsmodels.tsa.regime_switching.markov_autoregression import (
        MarkovAutoregression,
    )

    y = np.array(sm.rgnp)
    x = _exog(len(y))[:, :n_exog]
    sm_model = MarkovAutoregression(
        y,
        k_regimes=2,
        order=order,
        trend=trend,
        exog=x if n_exog else None,
        switching_exog=switching_exog,
        switching_ar=switching_ar,
    )
    model = MarkovSwitchingAR(
        2,
        order,
        switching_ar=switching_ar,
        switching_coef=switching_exog,
        fit_intercept=trend == "c",
        start="stationary",
    )
    return sm_model, model, y, (x if n_exog else None)


def _set_from_statsmodels(model, sm_model, params):
    names, k = sm_model.parameters, 2
    exog = np.array([params[names[j, "exog"]] for j in range(k)]).reshape(k, -1)
    c = int(model.fit_intercept)
    model.transmat_ = sm_model.regime_transition_matrix(params)[:, :, 0].T.copy()
    model.means_ = exog[:, 0].copy() if c else np.zeros(k)
    model.coef_ = exog[:, c:].copy()
    model.ar_coef_ = np.array([params[names[j, "autoregressive"]] for j in range(k)])
    model.variances_ = np.full(k, params[names[0, "variance"]])
    return model


@pytest.mark.parametrize("config", SM_CONFIGS)
def test_equals_statsmodels_at_its_parameters(sm, config):
    sm_model, model, y, x = _statsmodels_pair(sm, *config)
    order = config[0]
    params = sm_model.start_params.copy()
    names = sm_model.parameters
    params[names[0, "autoregressive"]] = 0.3 - 0.1 * np.arange(order)
    params[names[1, "autoregressive"]] = -0.2 + 0.05 * np.arange(order)
    params = sm_model.transform_params(sm_model.untransform_params(params))
    _set_from_statsmodels(model, sm_model, params)
    res = sm_model.smooth(params)
    assert model.score(y, inputs=x) == pytest.approx(res.llf, abs=1e-6)
    np.testing.assert_allclose(
        model.filter_proba(y, inputs=x)[order:],
        res.filtered_marginal_probabilities,
        atol=1e-5,
    )
    np.testing.assert_allclose(
        model.predict_proba(y, inputs=x)[order:],
        res.smoothed_marginal_probabilities,
        atol=1e-5,
    )


@pytest.mark.parametrize("config", SM_CONFIGS[:2])
def test_em_from_several_starts_reaches_statsmodels_optimum(sm, config):
    sm_model, model, y, x = _statsmodels_pair(sm, *config)
    optimum = sm_model.fit(disp=False).llf
    best = -np.inf
    for seed in (0, 3):  # random transition matrices, data-driven the rest
        rng = np.random.default_rng(seed)
        fitted = copy.deepcopy(model).set_params(
            n_iter=2000, tol=1e-9, init_params="mav"
        )
        fitted.transmat_ = random_stochastic(rng, (2, 2))
        best = max(best, fitted.fit(y, inputs=x).score(y, inputs=x))
    assert best >= optimum - 1e-5


# -- dask: a partition returns its inputs too ---------------------------------------
client = test_distributed.client  # the local dask cluster of two workers


def load_part_with_inputs(seed):
    rng = np.random.default_rng(seed)
    truth = random_model(np.random.default_rng(0), 2, 1, 2)
    lengths = rng.integers(10, 30, 3)
    u = rng.normal(size=(lengths.sum(), 2))
    X = truth.sample(int(lengths.sum()), random_state=rng, inputs=u)[0]
    return {"X": X, "lengths": lengths, "inputs": u}


def test_dask_fit_with_inputs_equals_the_local_fit(client):
    from fasthmm import distributed as fd

    parts = [functools.partial(load_part_with_inputs, i) for i in range(3)]
    model = MarkovSwitchingAR(2, 1, n_iter=4, tol=0.0)
    remote = fd.fit(copy.deepcopy(model), client, parts)
    loaded = [p() for p in parts]
    X, lengths, u = (
        np.concatenate([p[key] for p in loaded]) for key in ("X", "lengths", "inputs")
    )
    local = copy.deepcopy(model).fit(X, lengths, inputs=u)
    np.testing.assert_allclose(
        remote.monitor_.history, local.monitor_.history, rtol=1e-8
    )
    np.testing.assert_allclose(remote.coef_, local.coef_, rtol=1e-7)


def test_partial_fit_with_inputs_first_call_is_one_em_step():
    rng = np.random.default_rng(11)
    truth = random_model(rng, 2, 1, 1)
    u = rng.normal(size=(60, 1))
    X = truth.sample(60, random_state=rng, inputs=u)[0]
    online = MarkovSwitchingAR(2, 1).partial_fit(X, [30, 30], inputs=u)
    batch = MarkovSwitchingAR(2, 1, n_iter=1).fit(X, [30, 30], inputs=u)
    for name in batch._param_names():
        np.testing.assert_allclose(getattr(online, name), getattr(batch, name))
    assert online.coef_.shape == (2, 1)


def test_cli_scores_and_decodes_a_saved_model_with_inputs(tmp_path):
    """The command line passes --inputs through (decode without an
    --algorithm used to be refused: None is Viterbi)."""
    from fasthmm.cli import main

    rng = np.random.default_rng(12)
    model = random_model(rng, 2, 1, 2)
    u = rng.normal(size=(50, 2))
    X = model.sample(50, random_state=rng, inputs=u)[0]
    np.save(tmp_path / "y.npy", X)
    np.save(tmp_path / "u.npy", u)
    model.save(tmp_path / "m.npz")
    out = tmp_path / "states.npy"
    args = [str(tmp_path / "y.npy"), str(tmp_path / "m.npz")]
    main(["decode", *args, "--inputs", str(tmp_path / "u.npy"), "-o", str(out)])
    np.testing.assert_array_equal(np.load(out).ravel(), model.predict(X, inputs=u))
    assert model.decode(X, inputs=u, algorithm=None)[1].shape == (50,)


def test_transition_gradient_equals_central_differences():
    """The stationary start's transition step climbs along this gradient."""
    from fasthmm._msar_em import (
        _row_softmax,
        _transition_gradient,
        stationary_distribution,
    )

    rng = np.random.default_rng(0)
    logits, counts, start = (
        rng.normal(size=(3, 3)),
        rng.uniform(size=(3, 3)) * 5,
        rng.uniform(size=3),
    )

    def q(x):
        P = _row_softmax(x)
        return (counts * np.log(P)).sum() + start @ np.log(stationary_distribution(P))

    fd = np.zeros_like(logits)
    for idx in np.ndindex(logits.shape):
        up, down = logits.copy(), logits.copy()
        up[idx] += 1e-6
        down[idx] -= 1e-6
        fd[idx] = (q(up) - q(down)) / 2e-6
    got = _transition_gradient(_row_softmax(logits), counts, start)
    np.testing.assert_allclose(got, fd, atol=1e-6)


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    order=st.integers(1, 3),
    cuts=st.lists(st.integers(1, 19), max_size=3),
    resume_at=st.integers(0, 3),
    tvtp=st.booleans(),
)
def test_stream_with_inputs_equals_enumeration_and_the_batch_calls(
    seed, order, cuts, resume_at, tvtp
):
    """Any split of a stream (saved and resumed at one of the cuts) gives the
    batch filter, score and forecast with future inputs."""
    rng = np.random.default_rng(seed)
    n = 20
    model = random_model(rng, 2, order, 2)
    y, u = rng.normal(size=n), rng.normal(size=(n, 2))
    w = None
    if tvtp:
        model.transition_inputs = True
        model.transcoef_ = rng.normal(size=(2, 2, 2))
        model.transcoef_[:, -1] = 0.0
        w = np.column_stack([np.ones(n), rng.normal(size=n)])
    bounds = sorted({0, n, *cuts})
    stream, filtered = model.stream(), []
    for i, (lo, hi) in enumerate(zip(bounds, bounds[1:])):
        if i == resume_at:  # a saved state carries the inputs' lags
            stream = model.stream().set_state(stream.get_state())
        kw = {} if w is None else {"transition_inputs": w[lo:hi]}
        filtered.append(stream.push(y[lo:hi], inputs=u[lo:hi], **kw))
    filtered = np.concatenate(filtered)
    np.testing.assert_allclose(
        filtered, model.filter_proba(y, inputs=u, transition_inputs=w), atol=1e-10
    )
    np.testing.assert_allclose(
        stream.log_likelihood,
        model.score(y, inputs=u, transition_inputs=w),
        rtol=1e-10,
    )
    future = rng.normal(size=(3, 2))
    fw = None if w is None else np.column_stack([np.ones(3), rng.normal(size=3)])
    np.testing.assert_allclose(
        stream.forecast(3, future_inputs=future, future_transition_inputs=fw),
        model.forecast(
            y,
            steps=3,
            inputs=u,
            future_inputs=future,
            transition_inputs=w,
            future_transition_inputs=fw,
        )[0],
        rtol=1e-10,
        atol=1e-12,
    )


def test_stream_inputs_are_checked_and_a_bad_push_changes_nothing():
    rng = np.random.default_rng(2)
    model = random_model(rng, 2, 2, 2)
    stream = model.stream()
    stream.push(rng.normal(size=4), inputs=rng.normal(size=(4, 2)))
    before = stream.get_state()
    for bad, match in [
        ({}, "inputs is missing"),
        ({"inputs": np.zeros((3, 1))}, "inputs must have 2 columns"),
        ({"inputs": np.full((3, 2), np.nan)}, "inputs"),
        ({"inputs": np.zeros((2, 2))}, "inputs"),
    ]:
        with pytest.raises(ValueError, match=match):
            stream.push(np.zeros(3), **bad)
        for key, value in stream.get_state().items():
            np.testing.assert_array_equal(value, before[key])
    with pytest.raises(ValueError, match="future_inputs"):
        stream.forecast(2)
    plain = random_model(rng, 2, 2, 0).stream()
    with pytest.raises(ValueError, match="inputs given"):
        plain.push(np.zeros(3), inputs=np.zeros((3, 1)))


def test_stream_with_inputs_filters_as_enumeration_of_regime_paths():
    """Filtered row t of a stream fed one row at a time: the regime
    marginal of the paths of rows 0..t (enumerated)."""
    rng = np.random.default_rng(11)
    model = random_model(rng, 2, 2, 2)
    y, u = rng.normal(size=7), rng.normal(size=(7, 2))
    stream = model.stream()
    rows = [stream.push(y[t], inputs=u[t : t + 1])[0] for t in range(7)]
    for t in range(model.order, 7):
        paths, scores = path_scores(model, y[: t + 1], u[: t + 1])
        p = np.exp(scores - logsumexp(scores))
        want = [p[paths[:, t] == k].sum() for k in range(2)]
        np.testing.assert_allclose(rows[t], want, atol=1e-12)
