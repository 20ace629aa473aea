"""Missing observations (``missing="marginalize"``) on the in-memory routes.

Every family of the registry (tests/families.py) gets these tests:

- the default (``missing="raise"``) rejects NaN with a message naming the
  option; infinities stay an error either way;
- the score of data with missing rows (and, for families that integrate out
  single entries, partly observed rows) equals ``fasthmm.forward`` over the
  family's NumPy reference log-emissions with missing rows set to 0 and
  partly observed rows set to their marginal computed independently with
  SciPy, and the posteriors and Viterbi score equal brute force over state
  paths;
- EM with missing data never decreases its objective (hypothesis);

and, for Gaussian data, a fit with 25% of rows missing recovers the
generating parameters about as well as one on complete data, and better than
dropping the rows and joining the pieces.
"""

import numpy as np
import pytest
from families import FAMILIES, MARKOV
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference import full_covars, gmm_full_covars, logsumexp

import fasthmm
from fasthmm.emissions import Emission

stats = pytest.importorskip("scipy.stats")

IDS = [f.name for f in FAMILIES]
#: The families that integrate missing observations out (regression emissions
#: refuse the option: see test_regression_emissions_refuse_marginalize).
GAPPED = [f for f in FAMILIES if f.supports("missing")]
GAPPED_IDS = [f.name for f in GAPPED]


def _partial_ok(model):
    """Whether the model's family integrates out single entries."""
    return model._emission_class.marginal is not Emission.marginal


def _with_gaps(rng, X, model, n_rows=2, n_entries=2):
    """X as floats with ``n_rows`` rows of NaN and, where the family takes
    them, ``n_entries`` rows with one or more (not all) NaN entries."""
    X = np.array(X, dtype=float).reshape(len(X), -1)
    rows = rng.permutation(X.shape[0])
    X[rows[:n_rows]] = np.nan
    if _partial_ok(model) and X.shape[1] > 1:
        for r in rows[n_rows : n_rows + n_entries]:
            drop = rng.permutation(X.shape[1])[: rng.integers(1, X.shape[1])]
            X[r, drop] = np.nan
    return X


def _marginal_scipy(model, x, observed):
    """log p(x_o | state) per state, by SciPy, for a partly observed row."""
    o = observed
    k = model.n_components
    if hasattr(model, "lambdas_"):
        return stats.poisson.logpmf(x[o], model.lambdas_[:, o]).sum(axis=1)
    if isinstance(model, fasthmm.BernoulliHMM):
        return stats.bernoulli.logpmf(x[o], model.emissionprob_[:, o]).sum(axis=1)
    d = model.n_features
    if hasattr(model, "weights_"):
        m = model.n_mix
        cov = gmm_full_covars(model.covars_, model.covariance_type, k, m, d)
        out = np.empty(k)
        for s in range(k):
            terms = [
                np.log(model.weights_[s, c])
                + stats.multivariate_normal(
                    model.means_[s, c, o], cov[s, c][np.ix_(o, o)]
                ).logpdf(x[o])
                for c in range(m)
            ]
            out[s] = logsumexp(np.array(terms))
        return out
    cov = full_covars(model.covars_, model.covariance_type, k, d)
    return np.array(
        [
            stats.multivariate_normal(model.means_[s, o], cov[s][np.ix_(o, o)]).logpdf(
                x[o]
            )
            for s in range(k)
        ]
    )


def reference_log_emissions(family, model, X):
    """Log-emissions with missing rows 0 and partly observed rows' marginals."""
    missing = np.isnan(X)
    le = np.zeros((X.shape[0], model.n_components))
    full = ~missing.any(axis=1)
    le[full] = family.reference(
        model, X[full].astype(np.int64) if _ints(model) else X[full]
    )
    for r in np.flatnonzero(missing.any(axis=1) & ~missing.all(axis=1)):
        le[r] = _marginal_scipy(model, X[r], np.flatnonzero(~missing[r]))
    return le


def _ints(model):
    return isinstance(model, (fasthmm.CategoricalHMM, fasthmm.CategoricalHSMM))


def _problem(family, seed, n, n_rows, n_entries):
    """A random model of the family (missing="marginalize"), ``n`` samples
    with gaps, and their reference log-emissions."""
    rng = np.random.default_rng(seed)
    k = family.n_states(2)
    model = family.make(rng, k, missing="marginalize")
    X = _with_gaps(rng, family.sample(rng, k, n), model, n_rows, n_entries)
    return model, X, reference_log_emissions(family, model, X)


@pytest.mark.parametrize("family", FAMILIES, ids=IDS)
def test_default_rejects_nan_naming_the_option(family):
    rng = np.random.default_rng(0)
    model = family.make(rng, family.n_states(2))
    X = np.array(family.sample(rng, 2, 12), dtype=float).reshape(12, -1)
    X[3] = np.nan
    # a family that cannot integrate NaN out does not offer the option
    hint = 'missing="marginalize"' if family.supports("missing") else "takes no missing"
    for call in (model.score, model.fit, model.predict):
        with pytest.raises(ValueError, match=hint):
            call(X)
    X[3] = np.inf
    if family.supports("missing"):
        model.missing = "marginalize"
    with pytest.raises(ValueError, match="finite"):
        model.score(X)


def test_missing_is_a_checked_constructor_argument():
    model = fasthmm.GaussianHMM(2, missing="drop")
    with pytest.raises(ValueError, match="missing"):
        model.fit(np.zeros((5, 1)))
    assert fasthmm.GaussianHMM(2).get_params()["missing"] == "raise"


@pytest.mark.parametrize("family", GAPPED, ids=GAPPED_IDS)
def test_score_is_the_forward_over_marginal_log_emissions(family):
    model, X, le = _problem(family, seed=1, n=40, n_rows=6, n_entries=6)
    np.testing.assert_allclose(model.log_emissions(X), le, rtol=1e-9, atol=1e-9)
    if family.chain is MARKOV:
        expected = fasthmm.forward(le, model.startprob_, model.transmat_)
        assert model.score(X) == pytest.approx(expected, rel=1e-10)
        np.testing.assert_allclose(
            model.predict_proba(X),
            fasthmm.forward_backward(le, model.startprob_, model.transmat_)[1],
            atol=1e-10,
        )
        np.testing.assert_allclose(
            model.filter_proba(X),
            fasthmm.forward_filter(le, model.startprob_, model.transmat_)[1],
            atol=1e-10,
        )


@pytest.mark.parametrize("family", GAPPED, ids=GAPPED_IDS)
def test_tiny_models_match_brute_force(family):
    model, X, le = _problem(family, seed=2, n=6, n_rows=2, n_entries=1)
    ll, best, post = family.chain.brute_force(le, model)
    assert model.score(X) == pytest.approx(ll, rel=1e-10)
    np.testing.assert_allclose(model.predict_proba(X), post, atol=1e-10)
    assert model.decode(X)[0] == pytest.approx(best, rel=1e-10)


@pytest.mark.parametrize("family", GAPPED, ids=GAPPED_IDS)
def test_no_nan_takes_the_same_path(family):
    """missing="marginalize" on complete data: the same numbers as "raise"."""
    rng = np.random.default_rng(3)
    k = family.n_states(2)
    X = family.sample(rng, k, 60)
    a = family.make(np.random.default_rng(4), k, n_iter=3, tol=-np.inf)
    b = family.make(np.random.default_rng(4), k, n_iter=3, tol=-np.inf)
    b.missing = "marginalize"
    a.fit(X)
    b.fit(X)
    np.testing.assert_allclose(a.monitor_.history, b.monitor_.history, rtol=1e-12)
    assert a.score(X) == pytest.approx(b.score(X), rel=1e-12)


@pytest.mark.parametrize("family", GAPPED, ids=GAPPED_IDS)
@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    seed=st.integers(0, 2**31 - 1), rows=st.integers(1, 20), entries=st.integers(0, 20)
)
def test_em_with_missing_data_never_decreases(family, seed, rows, entries):
    rng = np.random.default_rng(seed)
    k = family.n_states(2)
    model = family.make(rng, k, missing="marginalize", n_iter=6, tol=-np.inf)
    X = _with_gaps(rng, family.sample(rng, k, 80), model, rows, entries)
    model.fit(X)
    history = np.array(model.monitor_.history)
    assert np.all(np.diff(history) >= -1e-8 * np.maximum(1.0, np.abs(history[1:])))


@pytest.mark.parametrize("family", GAPPED, ids=GAPPED_IDS)
def test_a_missing_row_adds_to_the_chain_only(family):
    """The E-step's statistics: a missing row's posteriors count in the start
    and transition counts, and nothing in the emission's statistics."""
    rng = np.random.default_rng(5)
    k = family.n_states(2)
    model = family.make(rng, k, missing="marginalize", n_iter=1)
    X = np.array(family.sample(rng, k, 30), dtype=float).reshape(30, -1)
    X[[0, 11, 12]] = np.nan
    params, Xc, starts = model._checked_batch(X, None)
    got = family.chain.expected_stats(params, Xc, starts)
    post = model.predict_proba(X)  # checked against brute force above
    np.testing.assert_allclose(got.start, post[0], atol=1e-10)
    keep = ~np.isnan(X).any(axis=1)
    complete = params.emission.suff_stats(params.emission.check_X(X[keep]), post[keep])
    assert got.emission.keys() == complete.keys()
    for key, value in complete.items():
        np.testing.assert_allclose(got.emission[key], value, atol=1e-9, err_msg=key)


# -- Gaussian full / tied: the conditional moments ----------------------------


def test_conditional_moments_against_monte_carlo_free_closed_form():
    """E[x] and E[x x^T] of a partly observed row, by the Schur complement
    written out for one row and compared with the statistics."""
    rng = np.random.default_rng(6)
    model = fasthmm.GaussianHMM(1, covariance_type="full", missing="marginalize")
    d = 3
    a = rng.standard_normal((d, d))
    model.startprob_, model.transmat_ = np.ones(1), np.ones((1, 1))
    model.means_, model.covars_ = rng.standard_normal((1, d)), [a @ a.T + np.eye(d)]
    x = np.array([[0.3, np.nan, -1.2]])
    params, Xc, starts = model._checked_batch(x, None)
    got = fasthmm.em.expected_stats(params, Xc, starts).emission
    mu, S = model.means_[0], model.covars_[0]
    o, m = [0, 2], [1]
    gain = S[np.ix_(m, o)] @ np.linalg.inv(S[np.ix_(o, o)])
    ex = np.empty(d)
    ex[o] = x[0, o]
    ex[m] = mu[m] + gain @ (x[0, o] - mu[o])
    cond = np.zeros((d, d))
    cond[np.ix_(m, m)] = S[np.ix_(m, m)] - gain @ S[np.ix_(o, m)]
    np.testing.assert_allclose(got["obs"][0], ex, atol=1e-12)
    np.testing.assert_allclose(got["second"][0], np.outer(ex, ex) + cond, atol=1e-12)


# -- recovery ----------------------------------------------------------------


def _generating_model():
    model = fasthmm.GaussianHMM(3, covariance_type="full")
    model.startprob_ = np.array([0.5, 0.3, 0.2])
    model.transmat_ = np.array(
        [[0.9, 0.05, 0.05], [0.1, 0.85, 0.05], [0.05, 0.1, 0.85]]
    )
    model.means_ = np.array([[0.0, 0.0], [3.0, 1.0], [-2.0, 3.0]])
    model.covars_ = np.array([[[1.0, 0.5], [0.5, 1.0]]] * 3)
    return model


def _errors(fitted, truth):
    order = np.argsort(fitted.means_[:, 0])
    want = np.argsort(truth.means_[:, 0])
    means = np.abs(fitted.means_[order] - truth.means_[want]).max()
    trans = np.abs(
        fitted.transmat_[np.ix_(order, order)] - truth.transmat_[np.ix_(want, want)]
    ).max()
    return means, trans


def test_fit_with_a_quarter_of_rows_missing_recovers_the_parameters():
    """Property: with 25% of rows missing at random (10 sequences of 400),
    the means and transition matrix are recovered within 2x the error of a fit
    on the complete data plus 0.05; dropping those rows and joining the
    pieces biases the transition matrix (two steps become one), which the
    exact treatment does not."""
    truth = _generating_model()
    rng = np.random.default_rng(7)
    X, _ = truth.sample(4000, random_state=rng)
    lengths = [400] * 10
    gone = rng.random(4000) < 0.25
    X_nan = X.copy()
    X_nan[gone] = np.nan

    def fit(data, lens, **kw):
        m = fasthmm.GaussianHMM(
            3, covariance_type="full", n_iter=200, tol=1e-6, random_state=0, **kw
        )
        return m.fit(data, lens)

    complete = _errors(fit(X, lengths), truth)
    missing = _errors(fit(X_nan, lengths, missing="marginalize"), truth)
    kept = [np.sum(~gone[i * 400 : (i + 1) * 400]) for i in range(10)]
    dropped = _errors(fit(X[~gone], kept), truth)
    for got, ref in zip(missing, complete):
        assert got <= 2.0 * ref + 0.05
    assert missing[1] < dropped[1]


def test_labelled_fit_uses_the_observed_entries():
    """A fully labelled fit (states=) with missing entries: each mean is the
    mean of the observed entries of its state and feature, each variance
    their variance (diag, no prior but the floor), and the transition counts
    include the pairs through missing rows."""
    rng = np.random.default_rng(8)
    X = rng.standard_normal((300, 3)) * [1.0, 2.0, 0.5]
    states = rng.integers(0, 2, 300)
    X[states == 1] += 3.0
    X[rng.random(300) < 0.2] = np.nan
    X[rng.random((300, 3)) < 0.1] = np.nan
    model = fasthmm.GaussianHMM(
        2, covars_prior=0.0, covars_weight=0.0, min_covar=0.0, missing="marginalize"
    )
    model.fit(X, states=states)
    for s in range(2):
        rows = X[states == s]
        np.testing.assert_allclose(model.means_[s], np.nanmean(rows, axis=0))
        np.testing.assert_allclose(model.covars_[s], np.nanvar(rows, axis=0))
    counts = np.zeros((2, 2))
    np.add.at(counts, (states[:-1], states[1:]), 1)
    np.testing.assert_allclose(model.transmat_, counts / counts.sum(1, keepdims=True))
    ll, post = model.score_samples(X)
    assert ll == pytest.approx(model.score(X))
    np.testing.assert_allclose(post, model.predict_proba(X))


@pytest.mark.parametrize("family", GAPPED, ids=GAPPED_IDS)
def test_many_patterns_of_missing_entries(family):
    """Four features, 30% of the entries missing at random (many patterns,
    rows taken feature by feature for separable families): log-emissions
    equal the SciPy marginals, and one EM step does not decrease."""
    rng = np.random.default_rng(9)
    k = family.n_states(2)
    model = family.make(rng, k, d=4, missing="marginalize", n_iter=2, tol=-np.inf)
    if not _partial_ok(model):
        pytest.skip(f"{family.name} takes whole missing rows only")
    X = np.array(family.sample(rng, k, 80, d=4), dtype=float)
    X[rng.random(X.shape) < 0.3] = np.nan
    le = reference_log_emissions(family, model, X)
    np.testing.assert_allclose(model.log_emissions(X), le, rtol=1e-9, atol=1e-9)
    model.fit(X)
    assert model.monitor_.history[1] >= model.monitor_.history[0] - 1e-9


def test_nothing_observed():
    """Every entry missing: a fit that must initialise from X says so; a fit
    from parameters set by hand keeps them (no emission statistics) and the
    score is 0 (nothing observed)."""
    X = np.full((20, 2), np.nan)
    with pytest.raises(ValueError, match="every entry is missing"):
        fasthmm.GaussianHMM(2, missing="marginalize").fit(X)
    model = fasthmm.GaussianHMM(2, missing="marginalize", init_params="", n_iter=3)
    model.startprob_, model.transmat_ = [0.5, 0.5], [[0.9, 0.1], [0.1, 0.9]]
    model.means_, model.covars_ = [[0.0, 0.0], [1.0, 1.0]], np.ones((2, 2))
    model.fit(X)
    np.testing.assert_array_equal(model.means_, [[0.0, 0.0], [1.0, 1.0]])
    assert model.score(X) == 0.0


@pytest.mark.parametrize(
    "family", [f for f in FAMILIES if not f.supports("missing")], ids=str
)
def test_regression_emissions_refuse_marginalize(family):
    """A regression emission's missing observation would be a missing
    regressor of later rows (AR) or need the conditional regression M-step:
    the option is refused by name, before anything is fitted."""
    rng = np.random.default_rng(0)
    model = family.make(rng, family.n_states(2), missing="marginalize")
    X = np.array(family.sample(rng, 2, 12), dtype=float).reshape(12, -1)
    with pytest.raises(ValueError, match="missing"):
        model.score(X)
