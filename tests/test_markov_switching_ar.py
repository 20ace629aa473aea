"""MarkovSwitchingAR and the tuple-of-regimes chain behind it.

References: enumeration of every regime path (tiny models), a log-space
forward-backward over a dense expanded state written here with NumPy, the
dense K^m x K^m forward-backward of the sparse kernel, and statsmodels'
``MarkovAutoregression`` on its own test data (Hamilton's GNP series, with
the EViews / Stata values its tests hold), skipped when statsmodels is absent.
"""

import io
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import (
    log_backward,
    log_forward,
    log_forward_backward,
    logsumexp,
    random_stochastic,
    safe_log,
)

import fasthmm
from fasthmm import MarkovSwitchingAR, NotFittedError
from fasthmm.expanded import TupleChain

LOG_2PI = np.log(2 * np.pi)


# -- independent references ----------------------------------------------------
def random_model(rng, k, order, switching_ar=True, switching_variance=True, **kw):
    model = MarkovSwitchingAR(
        k, order, switching_ar=switching_ar, switching_variance=switching_variance, **kw
    )
    model.startprob_ = random_stochastic(rng, (k,))
    model.transmat_ = random_stochastic(rng, (k, k))
    model.means_ = rng.normal(size=k) * 2
    phi = rng.uniform(-0.6, 0.6, size=(k, order)) / order
    model.ar_coef_ = phi if switching_ar else np.tile(phi[0], (k, 1))
    var = rng.uniform(0.3, 2.0, size=k)
    model.variances_ = var if switching_variance else np.full(k, var[0])
    return model


def log_density(model, y, t, regimes):
    """log N(y_t) given the regimes (s_t, s_{t-1}, ..., s_{t-order})."""
    mu, phi, var = model.means_, model.ar_coef_, model.variances_
    s = regimes[0]
    mean = mu[s]
    for i in range(1, model.order + 1):
        mean += phi[s, i - 1] * (y[t - i] - mu[regimes[i]])
    return -0.5 * ((y[t] - mean) ** 2 / var[s] + np.log(var[s]) + LOG_2PI)


def softmax_transmats(transcoef, w):
    """p(s_u = j | s_{u-1} = i, w_u), shape (n, K, K), written plainly."""
    logits = np.einsum("ijd,nd->nij", transcoef, w)
    e = np.exp(logits - logits.max(axis=2, keepdims=True))
    return e / e.sum(axis=2, keepdims=True)


def stationary(P):
    vals, vecs = np.linalg.eig(P.T)
    v = np.real(vecs[:, np.argmin(np.abs(vals - 1))])
    return v / v.sum()


def path_scores(model, y, w=None):
    """Every regime path of one sequence (row u of ``w`` drives the
    transition into row u) and its joint log-probability with ``y``:
    (paths (K^n, n), scores (K^n,))."""
    k, p, n = model.n_components, model.order, len(y)
    if w is None:
        mats = np.broadcast_to(model.transmat_, (n, k, k))
    else:
        mats = softmax_transmats(model.transcoef_, w)
    pi = model.startprob_ if model.start == "learned" else stationary(mats[0])
    paths = np.array(list(itertools.product(range(k), repeat=n)))
    scores = np.empty(len(paths))
    for row, path in enumerate(paths):
        score = (
            safe_log(pi[path[0]])
            + safe_log(mats[np.arange(1, n), path[:-1], path[1:]]).sum()
        )
        for t in range(p, n):
            score += log_density(model, y, t, path[t - np.arange(p + 1)])
        scores[row] = score
    return paths, scores


def brute_force(model, y, w=None):
    """Enumerate every regime path of one sequence (row u of ``w`` drives
    the transition into row u)."""
    k, n = model.n_components, len(y)
    paths, scores = path_scores(model, y, w)
    ll = logsumexp(scores)
    w = np.exp(scores - ll)
    post = np.zeros((n, k))
    counts = np.zeros((k, k))
    for t in range(n):
        np.add.at(post[t], paths[:, t], w)
    for t in range(n - 1):
        np.add.at(counts, (paths[:, t], paths[:, t + 1]), w)
    return ll, post, counts, scores.max()


def dense_reference(model, y):
    """Log-space forward-backward over the expanded state, written densely:
    (log-likelihood, smoothed, filtered) regime probabilities of the scored
    rows, and the filtered tuples (s_t, ..., s_{t-order}) of the last row."""
    k, p = model.n_components, model.order
    tuples = list(itertools.product(range(k), repeat=p + 1))  # (s_t, ..., s_{t-p})
    P = model.transmat_
    dense = np.zeros((len(tuples), len(tuples)))
    for a, src in enumerate(tuples):
        for b, dst in enumerate(tuples):
            if dst[1:] == src[:-1]:
                dense[a, b] = P[src[0], dst[0]]
    pi = model.startprob_
    if model.start == "stationary":
        pi = model.get_stationary_distribution()
    prior = np.array(
        [pi[tp[-1]] * np.prod([P[tp[i + 1], tp[i]] for i in range(p)]) for tp in tuples]
    )
    le = np.array(
        [[log_density(model, y, t, tp) for tp in tuples] for t in range(p, len(y))]
    )
    ll, gamma, filt = log_forward_backward(le, prior, dense)
    now = np.array([tp[0] for tp in tuples])
    smoothed = np.stack([gamma[:, now == j].sum(1) for j in range(k)], axis=1)
    filtered = np.stack([filt[:, now == j].sum(1) for j in range(k)], axis=1)
    return ll, smoothed, filtered, dict(zip(tuples, filt[-1]))


# -- the chain ----------------------------------------------------------------------
@pytest.mark.parametrize("k,m", [(1, 2), (2, 2), (3, 2), (2, 3), (3, 3), (2, 5)])
def test_sparse_kernel_equals_dense_expanded_forward_backward(k, m):
    rng = np.random.default_rng(k * 10 + m)
    chain = TupleChain(k, m)
    n_states = k**m
    startprob = random_stochastic(rng, (k,))
    transmat = random_stochastic(rng, (k, k), zero_frac=0.2 if k > 2 else 0.0)
    starts = np.array([0, 4, 11, 12])
    le = rng.normal(scale=3.0, size=(starts[-1], n_states))
    res = chain.forward_backward(le, starts, startprob, transmat)
    dense = chain.dense_transmat(transmat)
    prior = chain.first_prior(startprob, transmat)
    dig = chain.digits()
    counts = np.zeros((k, k))
    for lo, hi in zip(starts[:-1], starts[1:]):
        ll, gamma, _ = log_forward_backward(le[lo:hi], prior, dense)[:3]
        assert res.loglik[list(starts).index(lo)] == pytest.approx(ll, rel=1e-12)
        np.testing.assert_allclose(res.posteriors[lo:hi], gamma, atol=1e-12)
        # expected tuple transitions, from the dense forward and backward
        la = log_forward(le[lo:hi], prior, dense)[1]
        lb = log_backward(le[lo:hi], dense)
        for t in range(1, hi - lo):
            xi = np.exp(
                la[t - 1][:, None] + safe_log(dense) + (le[lo + t] + lb[t])[None] - ll
            )
            np.add.at(counts, (dig[:, 0][:, None], dig[:, 0][None, :]), xi)
        first = gamma[0]
        for i in range(m - 1):
            np.add.at(counts, (dig[:, i + 1], dig[:, i]), first)
    np.testing.assert_allclose(res.counts, counts, atol=1e-10)


def test_tuple_viterbi_is_the_best_dense_path():
    rng = np.random.default_rng(3)
    k, m, n = 2, 3, 6
    chain = TupleChain(k, m)
    startprob = random_stochastic(rng, (k,))
    transmat = random_stochastic(rng, (k, k))
    le = rng.normal(scale=2.0, size=(n, k**m))
    logprob, path = chain.viterbi(le, np.array([0, n]), startprob, transmat)
    lp_prior = safe_log(chain.first_prior(startprob, transmat))
    lt = safe_log(chain.dense_transmat(transmat))
    best = max(
        lp_prior[q[0]]
        + le[0, q[0]]
        + sum(lt[q[t - 1], q[t]] + le[t, q[t]] for t in range(1, n))
        for q in itertools.product(range(k**m), repeat=n)
    )
    assert logprob[0] == pytest.approx(best, rel=1e-12)
    score = lp_prior[path[0]] + le[0, path[0]]
    score += sum(lt[path[t - 1], path[t]] + le[t, path[t]] for t in range(1, n))
    assert score == pytest.approx(best, rel=1e-12)


# -- the model against brute force and the dense reference ---------------------------
@pytest.mark.parametrize(
    "k,order,sw_ar,sw_var,start",
    [
        (2, 1, True, True, "learned"),
        (2, 2, False, True, "stationary"),
        (3, 1, True, False, "learned"),
        (2, 3, True, False, "stationary"),
    ],
)
def test_model_equals_brute_force_over_regime_paths(k, order, sw_ar, sw_var, start):
    rng = np.random.default_rng(k + 7 * order)
    model = random_model(rng, k, order, sw_ar, sw_var, start=start)
    y = rng.normal(size=6) * 2
    ll, post, counts, best = brute_force(model, y)
    assert model.score(y) == pytest.approx(ll, rel=1e-11)
    np.testing.assert_allclose(model.predict_proba(y), post, atol=1e-11)
    logprob, states = model.decode(y)
    assert logprob == pytest.approx(best, rel=1e-11)
    params = model._checked_params()
    data = model._read(y, None)
    np.testing.assert_allclose(model._pass(params, data).counts, counts, atol=1e-11)


def random_tvtp_model(rng, k, order, start, n_w=2):
    model = random_model(rng, k, order, start=start)
    model.set_params(transition_inputs=True)
    del model.transmat_
    coef = rng.normal(size=(k, k, n_w))
    coef[:, -1] = 0.0
    model.transcoef_ = coef
    return model


@pytest.mark.parametrize("k,order,start", [(2, 1, "learned"), (2, 2, "stationary")])
def test_transition_inputs_equal_brute_force(k, order, start):
    rng = np.random.default_rng(11 + order)
    model = random_tvtp_model(rng, k, order, start)
    y = rng.normal(size=6) * 2
    w = np.column_stack([np.ones(6), rng.normal(size=6)])
    ll, post, counts, best = brute_force(model, y, w)
    assert model.score(y, transition_inputs=w) == pytest.approx(ll, rel=1e-11)
    np.testing.assert_allclose(
        model.predict_proba(y, transition_inputs=w), post, atol=1e-11
    )
    logprob, _ = model.decode(y, transition_inputs=w)
    assert logprob == pytest.approx(best, rel=1e-11)
    with pytest.raises(ValueError, match="transition_inputs"):
        model.score(y)
    with pytest.raises(ValueError, match="transition_inputs"):
        model.score(y, transition_inputs=w[:5])
    with pytest.raises(ValueError, match="transition_inputs"):
        random_model(rng, k, order).score(y, transition_inputs=w)


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), start=st.sampled_from(["learned", "stationary"]))
def test_em_with_transition_inputs_never_decreases(seed, start):
    rng = np.random.default_rng(seed)
    model = random_tvtp_model(rng, 2, 2, start)
    y = rng.normal(size=70) * 2
    w = np.column_stack([np.ones(70), rng.normal(size=70)])
    model.set_params(init_params="", n_iter=8, tol=-np.inf)
    model.fit(y, [30, 40], transition_inputs=w)
    history = np.array(model.monitor_.history)
    assert np.all(np.diff(history) >= -1e-8 * np.abs(history[1:]))


@pytest.mark.parametrize("k,order", [(2, 2), (3, 1), (2, 4)])
def test_model_equals_dense_log_space_reference_over_several_sequences(k, order):
    rng = np.random.default_rng(100 + k * order)
    model = random_model(rng, k, order)
    seqs = [rng.normal(size=n) * 2 for n in (order + 1, 9, 14)]
    X = np.concatenate(seqs)
    lengths = [len(s) for s in seqs]
    post = model.predict_proba(X, lengths)
    filt = model.filter_proba(X, lengths)
    total = 0.0
    lo = 0
    for s in seqs:
        ll, smoothed, filtered, _ = dense_reference(model, s)
        total += ll
        np.testing.assert_allclose(post[lo + order : lo + len(s)], smoothed, atol=1e-11)
        np.testing.assert_allclose(filt[lo + order : lo + len(s)], filtered, atol=1e-11)
        assert model.score(s) == pytest.approx(ll, rel=1e-11)
        lo += len(s)
    assert model.score(X, lengths) == pytest.approx(total, rel=1e-11)
    assert model.score(seqs) == pytest.approx(total, rel=1e-11)
    np.testing.assert_allclose(post.sum(1), 1.0, atol=1e-12)


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    k=st.integers(1, 3),
    order=st.integers(1, 3),
    sw_ar=st.booleans(),
    sw_var=st.booleans(),
    start=st.sampled_from(["learned", "stationary"]),
)
def test_em_objective_never_decreases(seed, k, order, sw_ar, sw_var, start):
    rng = np.random.default_rng(seed)
    truth = random_model(rng, k, order, sw_ar, sw_var, start=start)
    X = np.concatenate([truth.sample(n, random_state=rng)[0] for n in (40, 25)])
    model = random_model(rng, k, order, sw_ar, sw_var, start=start)
    model.set_params(init_params="", n_iter=15, tol=-np.inf)
    model.fit(X, [40, 25])
    history = np.array(model.monitor_.history)
    assert np.all(np.diff(history) >= -1e-8 * np.abs(history[1:]))
    final = model.score(X, [40, 25])
    assert final >= history[-1] - 1e-8 * abs(final)


def forecast_by_paths(model, y, steps):
    """E[y_{T+h}] and p(s_{T+h}) by enumerating the last tuple and every
    future regime path, the deviations following the AR recursion."""
    k, p = model.n_components, model.order
    mu, phi, P = model.means_, model.ar_coef_, model.transmat_
    last = dense_reference(model, y)[3]
    means = np.zeros(steps)
    proba = np.zeros((steps, k))
    for tup, w in last.items():
        for future in itertools.product(range(k), repeat=steps):
            regimes = list(tup[::-1]) + list(future)  # oldest first
            weight = w * np.prod(
                [P[a, b] for a, b in zip(regimes[p:], regimes[p + 1 :])]
            )
            dev = [y[len(y) - 1 - i] - mu[tup[i]] for i in range(p)][
                ::-1
            ]  # oldest first
            for h, a in enumerate(future):
                d = sum(phi[a, i] * dev[-1 - i] for i in range(p))
                dev.append(d)
                means[h] += weight * (mu[a] + d)
                proba[h, a] += weight
    return means, proba


@pytest.mark.parametrize("k,order", [(2, 1), (2, 2), (3, 2)])
def test_forecast_equals_enumeration_of_future_paths(k, order):
    rng = np.random.default_rng(40 + k + order)
    model = random_model(rng, k, order)
    seqs = [rng.normal(size=n) * 2 for n in (7, 9)]
    means = model.forecast(seqs, steps=3)
    proba = model.forecast_proba(seqs, steps=3)
    assert means.shape == (2, 3, 1) and proba.shape == (2, 3, k)
    for n, y in enumerate(seqs):
        ref_means, ref_proba = forecast_by_paths(model, y, 3)
        np.testing.assert_allclose(means[n, :, 0], ref_means, atol=1e-11)
        np.testing.assert_allclose(proba[n], ref_proba, atol=1e-11)
    with pytest.raises(ValueError, match="future_inputs"):
        model.forecast(seqs, future_inputs=np.zeros((2, 1, 1)))
    with pytest.raises((ValueError, TypeError), match="steps"):
        model.forecast(seqs, steps=0)


def test_forecast_with_transition_inputs_equals_enumeration_of_whole_paths():
    """Every regime path over the observed and the future rows, weighted by
    its probability (per-row matrices) and the observed densities."""
    rng = np.random.default_rng(17)
    k, p, n, steps = 2, 2, 5, 2
    model = random_tvtp_model(rng, k, p, "stationary")
    y = rng.normal(size=n) * 2
    w = np.column_stack([np.ones(n + steps), rng.normal(size=n + steps)])
    mats = softmax_transmats(model.transcoef_, w)
    pi = stationary(mats[0])
    mu, phi = model.means_, model.ar_coef_
    total, means, proba = 0.0, np.zeros(steps), np.zeros((steps, k))
    for path in itertools.product(range(k), repeat=n + steps):
        path = np.array(path)
        weight = pi[path[0]] * np.prod(
            mats[np.arange(1, n + steps), path[:-1], path[1:]]
        )
        for t in range(p, n):
            weight *= np.exp(log_density(model, y, t, path[t - np.arange(p + 1)]))
        dev = list(y - mu[path[:n]])
        for h in range(steps):
            a = path[n + h]
            dev.append(sum(phi[a, i] * dev[-1 - i] for i in range(p)))
            means[h] += weight * (mu[a] + dev[-1])
            proba[h, a] += weight
        total += weight
    got = model.forecast(
        y, steps=steps, transition_inputs=w[:n], future_transition_inputs=w[n:]
    )
    np.testing.assert_allclose(got[0, :, 0], means / total, atol=1e-11)
    got = model.forecast_proba(
        y, steps=steps, transition_inputs=w[:n], future_transition_inputs=w[n:]
    )
    np.testing.assert_allclose(got[0], proba / total, atol=1e-11)
    with pytest.raises(ValueError, match="future_transition_inputs"):
        model.forecast(y, steps=steps, transition_inputs=w[:n])


def test_sampling_continues_the_autoregression():
    rng = np.random.default_rng(5)
    model = random_model(rng, 2, 2)
    model.variances_ = np.full(2, 1e-12)
    X, states = model.sample(50, random_state=1)
    mu, phi = model.means_, model.ar_coef_
    dev = X[:, 0] - mu[states]
    for t in range(2, 50):
        s = states[t]
        assert dev[t] == pytest.approx(phi[s] @ dev[[t - 1, t - 2]], abs=1e-5)
    assert X.shape == (50, 1) and set(states) <= {0, 1}


def test_save_load_round_trip():
    rng = np.random.default_rng(6)
    model = random_model(rng, 2, 3, switching_ar=False, start="stationary")
    y = model.sample(60, random_state=0)[0]
    buf = io.BytesIO()
    model.save(buf)
    buf.seek(0)
    loaded = fasthmm.load(buf)
    assert isinstance(loaded, MarkovSwitchingAR) and loaded.order == 3
    assert loaded.score(y) == model.score(y)


def test_save_load_round_trip_with_transition_inputs():
    rng = np.random.default_rng(8)
    model = random_tvtp_model(rng, 2, 1, "stationary", n_w=3)
    y = rng.normal(size=30)
    w = np.column_stack([np.ones(30), rng.normal(size=(30, 2))])
    buf = io.BytesIO()
    model.save(buf)
    buf.seek(0)
    loaded = fasthmm.load(buf)
    assert loaded.transcoef_.shape == (2, 2, 3)
    assert loaded.score(y, transition_inputs=w) == model.score(y, transition_inputs=w)


def test_bad_input_is_refused_by_name_and_a_failed_fit_changes_nothing():
    rng = np.random.default_rng(7)
    with pytest.raises(NotFittedError):
        MarkovSwitchingAR(2, 1).score(np.zeros(5))
    model = random_model(rng, 2, 2)
    for bad, word in (
        (np.zeros((6, 2)), "one feature"),
        (np.array([0.0, 1.0, np.nan, 2.0]), "X"),
    ):
        with pytest.raises(ValueError, match=word):
            model.score(bad)
    with pytest.raises(ValueError, match="order = 2"):
        model.score(np.zeros(6), [2, 4])
    for kwargs, word in (
        ({"order": 0}, "order"),
        ({"start": "steady"}, "start"),
        ({"switching_ar": "yes"}, "switching_ar"),
    ):
        with pytest.raises((ValueError, TypeError), match=word):
            MarkovSwitchingAR(2, **{"order": 1, **kwargs}).fit(np.zeros(10))
    tied = random_model(rng, 2, 1, switching_ar=False)
    tied.ar_coef_ = np.array([[0.1], [0.2]])
    with pytest.raises(ValueError, match="switching_ar=False"):
        tied.score(np.zeros(5))
    before = {n: getattr(model, n).copy() for n in model._param_names()}
    with pytest.raises(ValueError):
        model.fit(np.array([1.0, np.inf, 2.0, 3.0]))
    for name, value in before.items():
        np.testing.assert_array_equal(getattr(model, name), value)


# -- statsmodels: Hamilton's GNP data and the values its tests hold ---------------------
@pytest.fixture(scope="module")
def sm():
    pytest.importorskip("pandas")
    return pytest.importorskip(
        "statsmodels.tsa.regime_switching.tests.test_markov_autoregression"
    )


def from_statsmodels(sm_model, params, start="stationary"):
    """A MarkovSwitchingAR holding statsmodels' parameters (its transition
    matrix has columns summing to one: ours is its transpose)."""
    k, p = sm_model.k_regimes, sm_model.order
    names = sm_model.parameters
    model = MarkovSwitchingAR(
        k,
        p,
        switching_ar=bool(sm_model.switching_ar[0]),
        switching_variance=sm_model.switching_variance,
        start=start,
    )
    model.transmat_ = sm_model.regime_transition_matrix(params)[:, :, 0].T.copy()
    model.means_ = np.array([params[names[j, "exog"]][0] for j in range(k)])
    model.ar_coef_ = np.array([params[names[j, "autoregressive"]] for j in range(k)])
    model.variances_ = np.array(
        [params[names[j, "variance"]] for j in range(k)]
    ).ravel()
    return model


def hamilton(sm, order, **kwargs):
    from statsmodels.tsa.regime_switching.markov_autoregression import (
        MarkovAutoregression,
    )

    return MarkovAutoregression(np.array(sm.rgnp), k_regimes=2, order=order, **kwargs)


AR4_PARAMS = np.r_[
    0.754673, 0.095915, -0.358811, 1.163516, np.exp(-0.262658) ** 2,
    0.013486, -0.057521, -0.246983, -0.212923,
]  # fmt: skip


def test_hamilton_ar4_log_likelihood_and_regime_probabilities(sm):
    sm_model = hamilton(sm, 4, switching_ar=False)
    model = from_statsmodels(sm_model, AR4_PARAMS)
    y = np.array(sm.rgnp)
    assert model.score(y) == pytest.approx(-181.26339, abs=1e-5)  # EViews, 5 decimals
    res = sm_model.smooth(AR4_PARAMS)
    assert model.score(y) == pytest.approx(res.llf, abs=1e-6)
    np.testing.assert_allclose(
        model.filter_proba(y)[4:, 1], sm.hamilton_ar4_filtered, atol=1e-5
    )
    np.testing.assert_allclose(
        model.predict_proba(y)[4:, 1], sm.hamilton_ar4_smoothed, atol=1e-5
    )
    np.testing.assert_allclose(
        model.predict_proba(y)[4:], res.smoothed_marginal_probabilities, atol=1e-9
    )


def test_hamilton_ar2_switching_ar_smoothed_probabilities(sm):
    import pandas as pd

    sm_model = hamilton(sm, 2)
    params = np.r_[
        0.3812383, 0.3564492, -0.0055216, 1.195482, 0.6677098**2,
        0.3710719, 0.4621503, 0.7002937, -0.3206652,
    ]  # fmt: skip
    model = from_statsmodels(sm_model, params)
    y = np.array(sm.rgnp)
    assert model.score(y) == pytest.approx(-179.32354, abs=1e-5)  # Stata
    path = sm.current_path / "results" / "results_predict_rgnp.csv"
    stata = pd.read_csv(path).iloc[3:]
    post = model.predict_proba(y)[2:]
    np.testing.assert_allclose(post[:, 0], stata["switchar2_sm1"], atol=1e-5)
    np.testing.assert_allclose(post[:, 1], stata["switchar2_sm2"], atol=1e-5)


def test_hamilton_ar1_switching_ar_filtered_and_smoothed(sm):
    sm_model = hamilton(sm, 1)
    params = np.r_[
        0.85472458, 0.53662099, 1.041419, -0.479157, np.exp(-0.231404) ** 2,
        0.243128, 0.713029,
    ]  # fmt: skip
    model = from_statsmodels(sm_model, params)
    y = np.array(sm.rgnp)
    assert model.score(y) == pytest.approx(-186.7575, abs=1e-4)  # EViews, 4 decimals
    assert model.score(y) == pytest.approx(sm_model.smooth(params).llf, abs=1e-6)
    np.testing.assert_allclose(
        model.filter_proba(y)[1:, 0], sm.hamilton_ar1_switch_filtered, atol=1e-5
    )
    np.testing.assert_allclose(
        model.predict_proba(y)[1:, 0], sm.hamilton_ar1_switch_smoothed, atol=1e-5
    )


def test_switching_variance_three_regimes_equals_statsmodels(sm):
    """Order 1: statsmodels 0.15 broadcasts the switching variances over the
    wrong regime axis for order >= 2 (its arrays are indexed (s_t, s_{t-1},
    ...) but the variances are reshaped to (k, 1, 1)), so only order 1 is an
    external reference for switching variances."""
    from statsmodels.tsa.regime_switching.markov_autoregression import (
        MarkovAutoregression,
    )

    y = np.array(sm.rgnp)
    sm_model = MarkovAutoregression(y, k_regimes=3, order=1, switching_variance=True)
    params = np.r_[
        [0.3, 0.2, 0.1, 0.5, 0.6, 0.3], -1.0, 0.5, 1.5, 1.5, 0.6, 0.8, 0.1, -0.2, 0.4
    ]
    model = from_statsmodels(sm_model, params)
    res = sm_model.smooth(params)
    assert model.score(y) == pytest.approx(res.llf, abs=1e-6)
    np.testing.assert_allclose(
        model.predict_proba(y)[1:], res.smoothed_marginal_probabilities, atol=1e-9
    )
    np.testing.assert_allclose(
        model.filter_proba(y)[1:], res.filtered_marginal_probabilities, atol=1e-9
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_em_from_several_starts_reaches_the_published_optimum(sm, seed):
    rng = np.random.default_rng(seed)
    y = np.array(sm.rgnp)
    model = MarkovSwitchingAR(
        2, 4, switching_ar=False, start="stationary", n_iter=2000, tol=1e-9,
        init_params="mav",
    )  # fmt: skip
    stay = rng.uniform(0.6, 0.95, size=2)
    model.transmat_ = np.array([[stay[0], 1 - stay[0]], [1 - stay[1], stay[1]]])
    model.fit(y)
    assert model.score(y) >= -181.26339 - 1e-5


FILARDO = np.r_[
    4.35941747, -1.6493936, 1.7702123, 0.9945672, 0.517298, -0.865888,
    np.exp(-0.362469) ** 2, 0.189474, 0.079344, 0.110944, 0.122251,
]  # fmt: skip


@pytest.fixture(scope="module")
def filardo(sm):
    import pandas as pd

    data = pd.read_csv(sm.current_path / "results" / "mar_filardo.csv")
    y = data["dlip"].iloc[1:].to_numpy()
    w = np.column_stack([np.ones(len(y)), data["dmdlleading"].iloc[:-1].to_numpy()])
    return data, y, w


def filardo_model(**kwargs):
    model = MarkovSwitchingAR(
        2, 4, switching_ar=False, start="stationary", transition_inputs=True, **kwargs
    )
    coef = np.zeros((2, 2, 2))
    coef[0, 0], coef[1, 0] = FILARDO[[0, 2]], FILARDO[[1, 3]]
    model.transcoef_ = coef
    model.means_ = FILARDO[4:6]
    model.variances_ = np.full(2, FILARDO[6])
    model.ar_coef_ = np.tile(FILARDO[7:], (2, 1))
    return model


def test_filardo_time_varying_transitions(filardo):
    data, y, w = filardo
    model = filardo_model()
    assert model.score(y, transition_inputs=w) == pytest.approx(-586.5718, abs=1e-4)
    from statsmodels.tsa.regime_switching.markov_autoregression import (
        MarkovAutoregression,
    )

    res = MarkovAutoregression(
        y, k_regimes=2, order=4, switching_ar=False, exog_tvtp=w
    ).smooth(FILARDO)
    assert model.score(y, transition_inputs=w) == pytest.approx(res.llf, abs=1e-6)
    np.testing.assert_allclose(
        model.filter_proba(y, transition_inputs=w)[4:, 0],
        data["filtered_0"].iloc[5:],
        atol=1e-5,
    )
    np.testing.assert_allclose(
        model.predict_proba(y, transition_inputs=w)[4:, 0],
        data["smoothed_0"].iloc[5:],
        atol=1e-5,
    )


@pytest.mark.parametrize("stay", [0.7, 0.95])
def test_filardo_em_from_several_starts_reaches_the_published_optimum(filardo, stay):
    _, y, w = filardo
    model = filardo_model(n_iter=300, tol=1e-10, init_params="av")
    model.means_ = np.array([-1.0, 1.0])
    coef = np.zeros((2, 2, 2))
    coef[0, 0, 0] = np.log(stay / (1 - stay))
    coef[1, 0, 0] = -coef[0, 0, 0]
    model.transcoef_ = coef
    model.fit(y, transition_inputs=w)
    assert model.score(y, transition_inputs=w) >= -586.5718 - 1e-4
