"""forecast_proba / forecast against enumeration, the forward filter over rows
with no observation, the stationary distribution and Monte Carlo draws."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from models_helpers import categorical_model, gaussian_model
from reference import (
    all_path_scores,
    logsumexp,
    random_stochastic,
    segmentation_score,
    segmentations,
)

import fasthmm


def future_marginals(paths, scores, t, steps, k):
    """p(z_{t+h} | x) for h = 1..steps from every path over t + steps rows."""
    w = np.exp(scores - logsumexp(scores))
    out = np.zeros((steps, k))
    for h in range(steps):
        np.add.at(out[h], paths[:, t + h], w)
    return out


def brute_force_forecast(le, startprob, transmat, steps):
    """Enumerate every path over the sequence and ``steps`` rows that carry
    no observation (log-emission 0)."""
    t, k = le.shape
    extended = np.vstack([le, np.zeros((steps, k))])
    paths, scores = all_path_scores(extended, startprob, transmat)
    return future_marginals(paths, scores, t, steps, k)


def split(X, lengths):
    return np.split(X, np.cumsum(lengths)[:-1])


@given(
    seed=st.integers(0, 2**31 - 1),
    k=st.integers(1, 3),
    lengths=st.lists(st.integers(1, 4), min_size=1, max_size=3),
    steps=st.integers(1, 3),
)
@settings(max_examples=25, deadline=None)
def test_forecast_proba_equals_enumeration(seed, k, lengths, steps):
    rng = np.random.default_rng(seed)
    model = categorical_model(rng, k, 3)
    X = rng.integers(0, 3, size=(sum(lengths), 1))
    got = model.forecast_proba(X, lengths, steps=steps)
    assert got.shape == (len(lengths), steps, k)
    le = model.log_emissions(X)
    for n, rows in enumerate(split(le, lengths)):
        expected = brute_force_forecast(rows, model.startprob_, model.transmat_, steps)
        np.testing.assert_allclose(got[n], expected, rtol=0, atol=1e-10)


def test_forecast_proba_equals_filter_over_empty_rows():
    """The functional forward filter over each sequence followed by `steps`
    rows of log-emission 0 (no observation) predicts the same states."""
    rng = np.random.default_rng(1)
    model = gaussian_model(rng, 4, 2, "full")
    X, _ = model.sample(300, random_state=2)
    lengths = [120, 1, 179]
    steps = 6
    got = model.forecast_proba(X, lengths, steps=steps)
    for n, rows in enumerate(split(model.log_emissions(X), lengths)):
        extended = np.vstack([rows, np.zeros((steps, 4))])
        _, filtered = fasthmm.forward_filter(
            extended, model.startprob_, model.transmat_
        )
        np.testing.assert_allclose(got[n], filtered[-steps:], rtol=0, atol=1e-12)


def test_long_horizon_reaches_the_stationary_distribution():
    rng = np.random.default_rng(3)
    model = gaussian_model(rng, 3, 1, "diag")
    X, _ = model.sample(50, random_state=0)
    got = model.forecast_proba(X, steps=400)[0, -1]
    # the left eigenvector of transmat_ for eigenvalue 1, by NumPy
    values, vectors = np.linalg.eig(model.transmat_.T)
    pi = np.real(vectors[:, np.argmin(np.abs(values - 1))])
    np.testing.assert_allclose(got, pi / pi.sum(), atol=1e-8)


def test_forecast_means_by_monte_carlo():
    """Sample the state at the end from the (enumerated) filtered distribution,
    run the chain on, draw observations: their average is the forecast."""
    rng = np.random.default_rng(4)
    model = gaussian_model(rng, 3, 2, "full", spread=3.0)
    X = model.sample(5, random_state=1)[0]
    steps, draws = 4, 200_000
    le = model.log_emissions(X)
    paths, scores = all_path_scores(le, model.startprob_, model.transmat_)
    last = np.zeros(3)
    np.add.at(last, paths[:, -1], np.exp(scores - logsumexp(scores)))
    z = rng.choice(3, size=draws, p=last)
    covars = model.covars_
    samples = np.empty((draws, steps, 2))
    cum = np.cumsum(model.transmat_, axis=1)
    for h in range(steps):
        z = np.minimum((rng.random(draws)[:, None] > cum[z]).sum(axis=1), 2)
        noise = np.einsum(
            "nij,nj->ni", np.linalg.cholesky(covars)[z], rng.standard_normal((draws, 2))
        )
        samples[:, h] = model.means_[z] + noise
    mc_mean = samples.mean(axis=0)
    mc_se = samples.std(axis=0) / np.sqrt(draws)
    got = model.forecast(X, steps=steps)
    assert got.shape == (1, steps, 2)
    assert np.all(np.abs(got[0] - mc_mean) < 5 * mc_se), (got[0], mc_mean, mc_se)


def _with_chain(model, rng, **emission):
    """``model`` (2 states) with a random chain and the given emission values."""
    model.startprob_ = random_stochastic(rng, (2,))
    model.transmat_ = random_stochastic(rng, (2, 2))
    for name, value in emission.items():
        setattr(model, name, value)
    return model


def _gmm(rng):
    return _with_chain(
        fasthmm.GMMHMM(2, n_mix=3, covariance_type="diag", init_params=""),
        rng,
        weights_=random_stochastic(rng, (2, 3)),
        means_=3 * rng.standard_normal((2, 3, 2)),
        covars_=rng.uniform(0.5, 1.5, (2, 3, 2)),
    )


def _poisson(rng):
    model = fasthmm.PoissonHMM(2, init_params="")
    return _with_chain(model, rng, lambdas_=rng.uniform(0.5, 8.0, (2, 3)))


def _bernoulli(rng):
    model = fasthmm.BernoulliHMM(2, init_params="")
    return _with_chain(model, rng, emissionprob_=rng.uniform(0.1, 0.9, (2, 4)))


def _multinomial(rng):
    model = fasthmm.MultinomialHMM(2, n_trials=5, init_params="")
    return _with_chain(model, rng, emissionprob_=random_stochastic(rng, (2, 3)))


@pytest.mark.parametrize("make", [_gmm, _poisson, _bernoulli, _multinomial])
def test_state_means_are_the_sampled_means(make):
    """Each state's mean, as forecasts mix it, against the average of the
    model's own draws in that state; the forecast is their mixture."""
    rng = np.random.default_rng(5)
    model = make(rng)
    X, states = model.sample(60_000, random_state=6)
    X = np.asarray(X, dtype=float)
    proba = model.forecast_proba(X[:30], steps=3)
    got = model.forecast(X[:30], steps=3)
    means = np.stack([X[states == k].mean(axis=0) for k in range(2)])
    se = np.stack(
        [X[states == k].std(axis=0) / np.sqrt((states == k).sum()) for k in range(2)]
    )
    expected = proba @ means
    assert np.all(np.abs(got - expected) < 5 * (proba @ se) + 1e-12)


def test_semi_markov_forecast_equals_enumeration():
    rng = np.random.default_rng(7)
    k, dmax, steps = 3, 3, 3
    model = fasthmm.CategoricalHSMM(k, max_duration=dmax, n_features=2, init_params="")
    model.startprob_ = random_stochastic(rng, (k,))
    jumps = random_stochastic(rng, (k, k - 1))
    model.transmat_ = np.zeros((k, k))
    for j in range(k):
        model.transmat_[j, np.arange(k) != j] = jumps[j]
    model.durationprob_ = random_stochastic(rng, (k, dmax))
    model.emissionprob_ = random_stochastic(rng, (k, 2))
    X = np.array([[0], [1], [1], [0], [1]])
    lengths = [3, 2]
    got = model.forecast_proba(X, lengths, steps=steps)
    for n, rows in enumerate(split(model.log_emissions(X), lengths)):
        t = rows.shape[0]
        extended = np.vstack([rows, np.zeros((steps, k))])
        pmf = model.durationprob_
        segs = list(segmentations(t + steps, k, dmax))
        scores = np.array(
            [
                segmentation_score(extended, model.startprob_, model.transmat_, pmf, s)
                for s in segs
            ]
        )
        paths = np.array(
            [np.repeat([j for j, _ in s], [d for _, d in s]) for s in segs]
        )
        expected = future_marginals(paths, scores, t, steps, k)
        np.testing.assert_allclose(got[n], expected, rtol=0, atol=1e-10)


def test_semi_markov_filtered_state_matches_its_filter():
    rng = np.random.default_rng(8)
    model = fasthmm.GaussianHSMM(3, max_duration=6, n_iter=3, random_state=0)
    X = np.concatenate([rng.normal(m, 1, (40, 1)) for m in (0, 4, -3)])
    model.fit(X)
    filtered = model.filter_proba(X, [70, 50])
    chain = model._state_forecast(X, [70, 50], 1, None)[-1]
    np.testing.assert_allclose(chain.filtered, filtered[[69, 119]], atol=1e-10)
    means = model.forecast(X, [70, 50], steps=2)
    np.testing.assert_allclose(
        means, model.forecast_proba(X, [70, 50], steps=2) @ model.means_, atol=1e-12
    )


def test_many_sequences_and_lists():
    rng = np.random.default_rng(9)
    model = gaussian_model(rng, 2, 3, "diag")
    X, _ = model.sample(500, random_state=3)
    lengths = [5] * 100
    got = model.forecast(X, lengths, steps=2)
    assert got.shape == (100, 2, 3)
    np.testing.assert_array_equal(got, model.forecast(split(X, lengths), steps=2))
    # each sequence forecast on its own gives the same rows
    np.testing.assert_allclose(got[17], model.forecast(X[85:90], steps=2)[0])


def test_variational_models_forecast_at_the_posterior_means():
    rng = np.random.default_rng(10)
    X = np.concatenate([rng.normal(0, 1, (80, 1)), rng.normal(5, 1, (80, 1))])
    model = fasthmm.VariationalGaussianHMM(2, n_iter=10, random_state=0).fit(X)
    proba = model.forecast_proba(X, steps=3)
    expected = fasthmm.forecast_states(
        model.filter_proba(X)[-1], model.transmat_, steps=3
    )
    np.testing.assert_allclose(proba, expected, atol=1e-12)
    np.testing.assert_allclose(
        model.forecast(X, steps=3), proba @ model.means_, atol=1e-12
    )


def test_forecast_states_time_varying():
    rng = np.random.default_rng(11)
    f = random_stochastic(rng, (2, 3))
    stack = random_stochastic(rng, (4, 3, 3))
    got = fasthmm.forecast_states(f, stack, steps=4)
    p = f.copy()
    for h in range(4):
        p = np.einsum("ni,ij->nj", p, stack[h])
        np.testing.assert_allclose(got[:, h], p, atol=1e-14)


# -- bad input ---------------------------------------------------------------


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(12)
    model = gaussian_model(rng, 2, 1, "diag")
    return model, model.sample(20, random_state=0)[0]


@pytest.mark.parametrize(
    "steps, error",
    [
        (0, ValueError),
        (-2, ValueError),
        (1.5, TypeError),
        ("2", TypeError),
        (True, TypeError),
    ],
)
def test_bad_steps(fitted, steps, error):
    model, X = fitted
    for method in (model.forecast_proba, model.forecast):
        with pytest.raises(error, match="steps"):
            method(X, steps=steps)
    with pytest.raises(error, match="steps"):
        fasthmm.forecast_states([0.5, 0.5], model.transmat_, steps=steps)


def test_future_inputs_refused_without_inputs(fitted):
    model, X = fitted
    with pytest.raises(ValueError, match="future_inputs"):
        model.forecast(X, steps=2, future_inputs=np.zeros((2, 1)))
    with pytest.raises(ValueError, match="future_transition_inputs"):
        model.forecast_proba(X, steps=2, future_transition_inputs=np.zeros((2, 1)))


def test_unfitted_and_bad_X():
    with pytest.raises(fasthmm.NotFittedError):
        fasthmm.GaussianHMM(2).forecast(np.zeros((3, 1)))
    rng = np.random.default_rng(13)
    model = gaussian_model(rng, 2, 2, "diag")
    with pytest.raises(ValueError, match="X"):
        model.forecast_proba(np.full((3, 2), np.nan))
    with pytest.raises(ValueError, match="lengths"):
        model.forecast(np.zeros((3, 2)), [2, 2])


def test_categorical_forecast_says_what_to_use():
    model = categorical_model(np.random.default_rng(14), 2, 3)
    X = np.array([[0], [2], [1]])
    with pytest.raises(TypeError, match="forecast_proba"):
        model.forecast(X)
    symbols = model.forecast_proba(X, steps=2) @ model.emissionprob_
    np.testing.assert_allclose(symbols.sum(axis=-1), 1.0)


def test_forecast_states_bad_arguments():
    t = np.array([[0.9, 0.1], [0.2, 0.8]])
    with pytest.raises(ValueError, match="filtered"):
        fasthmm.forecast_states([0.5, 0.6], t)
    with pytest.raises(ValueError, match="transmat"):
        fasthmm.forecast_states([0.5, 0.5], np.ones((3, 3)) / 3)
    with pytest.raises(ValueError, match="transmat"):
        fasthmm.forecast_states([0.5, 0.5], np.stack([t, t]), steps=3)
    with pytest.raises(ValueError, match=r"transmat\[1\]"):
        fasthmm.forecast_states([0.5, 0.5], np.stack([t, t + 0.1]), steps=2)


def test_check_future_shapes():
    from fasthmm.forecast import check_future

    one = check_future(np.ones((3, 2)), "future_inputs", 1, 3)
    assert one.shape == (1, 3, 2)
    listed = check_future([np.ones((3, 2)), np.zeros((3, 2))], "future_inputs", 2, 3)
    assert listed.shape == (2, 3, 2)
    np.testing.assert_array_equal(listed[1], 0.0)
    with pytest.raises(ValueError, match="future_inputs must have shape"):
        check_future(np.ones((4, 2)), "future_inputs", 1, 3)
    with pytest.raises(ValueError, match="one array per sequence"):
        check_future([np.ones((3, 2))] * 3, "future_inputs", 2, 3)
    with pytest.raises(ValueError, match="future_inputs"):
        check_future(np.ones((2, 3, 2)), "future_inputs", 2, 3, n_columns=1)


def test_drawn_continuations_follow_the_exact_mixture():
    """The draws behind the plot's fan: one step ahead of a 1-D Gaussian
    model, their empirical CDF against the exact mixture of normal CDFs."""
    from math import erf, sqrt

    rng = np.random.default_rng(15)
    model = gaussian_model(rng, 3, 1, "diag", spread=3.0)
    X = model.sample(30, random_state=2)[0]
    params, Xc, starts, chain = model._state_forecast(X, None, 2, None)
    draws = model._forecast_draws(
        params, Xc, starts, chain, 40_000, np.random.RandomState(0), None
    )
    assert draws.shape == (1, 40_000, 2, 1)
    sd = np.sqrt(np.asarray(model.covars_).reshape(3))
    for h in range(2):
        w = model.forecast_proba(X, steps=2)[0, h]
        for x in np.linspace(-6, 6, 13):
            exact = sum(
                w[k] * 0.5 * (1 + erf((x - model.means_[k, 0]) / (sd[k] * sqrt(2))))
                for k in range(3)
            )
            empirical = np.mean(draws[0, :, h, 0] <= x)
            assert abs(empirical - exact) < 0.01, (h, x, empirical, exact)


def test_stream_forecasts_equal_the_batch_forecasts():
    rng = np.random.default_rng(16)
    model = gaussian_model(rng, 3, 2, "diag")
    X, _ = model.sample(40, random_state=1)
    stream = model.stream()
    with pytest.raises(ValueError, match="push"):
        stream.forecast_proba(2)
    for t in (1, 7, 40):
        stream.push(X[stream.n_pushed : t])
        np.testing.assert_allclose(
            stream.forecast_proba(3),
            model.forecast_proba(X[:t], steps=3)[0],
            atol=1e-12,
        )
        np.testing.assert_allclose(
            stream.forecast(3), model.forecast(X[:t], steps=3)[0], atol=1e-12
        )
    with pytest.raises(ValueError, match="steps"):
        stream.forecast(0)
    functional = fasthmm.stream_filter(model.startprob_, model.transmat_)
    functional.push(model.log_emissions(X))
    np.testing.assert_allclose(
        functional.forecast_proba(2), model.forecast_proba(X, steps=2)[0], atol=1e-12
    )
    with pytest.raises(TypeError, match="forecast_proba"):
        functional.forecast(2)


def test_input_driven_transitions_forecast_equals_enumeration():
    """With transition_inputs=True the future transitions are those of the
    future transition inputs: enumerate every path over the sequence and
    the future rows (log-emission 0) with the per-step matrices."""
    from reference import brute_force_steps, softmax_transmats

    rng = np.random.default_rng(17)
    k, d, steps = 3, 2, 3
    model = fasthmm.GaussianHMM(k, transition_inputs=True, init_params="")
    model.startprob_ = random_stochastic(rng, (k,))
    coef = rng.normal(size=(k, k, d))
    coef[:, -1, :] = 0.0
    model.transcoef_ = coef
    model.means_ = 2.0 * rng.normal(size=(k, 1))
    model.covars_ = rng.uniform(0.5, 2.0, size=(k, 1))
    lengths = [4, 2]
    X = rng.normal(size=(6, 1))
    W = np.column_stack([np.ones(6), rng.normal(size=6)])
    future = np.stack([np.column_stack([np.ones(steps), rng.normal(size=steps)])
                       for _ in lengths])  # fmt: skip
    got = model.forecast_proba(
        X, lengths, steps=steps, transition_inputs=W, future_transition_inputs=future
    )
    le = model.log_emissions(X, transition_inputs=W)
    for n, (rows, w) in enumerate(zip(split(le, lengths), split(W, lengths))):
        extended = np.vstack([rows, np.zeros((steps, k))])
        A = softmax_transmats(coef, np.vstack([w, future[n]]))
        _, post, *_ = brute_force_steps(extended, model.startprob_, A)
        np.testing.assert_allclose(got[n], post[-steps:], rtol=0, atol=1e-10)
    np.testing.assert_allclose(
        model.forecast(X, lengths, steps=steps, transition_inputs=W,
                       future_transition_inputs=list(future)),
        got @ model.means_,
        atol=1e-12,
    )  # fmt: skip
    with pytest.raises(ValueError, match="future_transition_inputs="):
        model.forecast_proba(X, lengths, steps=steps, transition_inputs=W)
    with pytest.raises(ValueError, match="future_transition_inputs must have shape"):
        model.forecast_proba(
            X, lengths, steps=2, transition_inputs=W, future_transition_inputs=future
        )
    with pytest.raises(ValueError, match="transition_inputs"):
        model.forecast_proba(X, lengths, steps=steps, future_transition_inputs=future)
