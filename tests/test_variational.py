"""The variational (VB-EM) models: VariationalCategoricalHMM and
VariationalGaussianHMM.

- the evidence lower bound that ``monitor_`` records never decreases (property
  test over random data, starts, priors and frozen letters);
- the E-step's expected log-emissions equal a Monte Carlo average over the
  posterior, and the special functions equal SciPy's;
- on data from a known model the posterior means recover its parameters;
- from the same priors and initial posteriors, the posteriors after a few
  iterations equal hmmlearn's ``vhmm`` to 1e-9, and the lower bound equals
  hmmlearn's minus ``n_samples * n_features / 2 * log(2 pi)`` (hmmlearn drops
  that constant of the Gaussian density). Where hmmlearn's update is not
  exact the test says so: for "diag" and "spherical" with more than one
  feature, hmmlearn's E-step takes ``E[log |precision|]`` of a Wishart, which
  is not that of its own (Gamma) posterior, so the numbers differ there and
  only there;
- hmmlearn's McGrory-Titterington fit, on hmmlearn's own data and start,
  reaches hmmlearn's posterior mean;
- the API: module names, read-only point estimates, save/load, bad input.
"""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_contracts import assert_non_decreasing

import fasthmm
from fasthmm import vhmm
from fasthmm._special import digamma, gammaln
from fasthmm.variational.models import ReadOnlyParameter

COVARIANCE_TYPES = ("spherical", "diag", "full", "tied")
CHAIN = (
    "startprob_prior_",
    "startprob_posterior_",
    "transmat_prior_",
    "transmat_posterior_",
)
GAUSSIAN = (
    "means_prior_",
    "means_posterior_",
    "beta_prior_",
    "beta_posterior_",
    "dof_prior_",
    "dof_posterior_",
    "scale_prior_",
    "scale_posterior_",
)


def three_state_gaussian(covariance_type, n_features, rng):
    """A well-separated 3-state fasthmm.GaussianHMM to sample from."""
    k, d = 3, n_features
    model = fasthmm.GaussianHMM(k, covariance_type, init_params="")
    model.startprob_ = np.array([0.5, 0.3, 0.2])
    model.transmat_ = np.array([[0.9, 0.05, 0.05], [0.1, 0.8, 0.1], [0.05, 0.15, 0.8]])
    model.means_ = np.array([[-4.0] * d, [0.0] * d, [4.0] * d]) + rng.normal(
        0, 0.1, (k, d)
    )
    var = np.array([0.5, 1.0, 0.7])
    model.covars_ = {
        "spherical": var,
        "diag": var[:, None] * np.linspace(0.8, 1.2, d),
        "full": var[:, None, None] * (np.eye(d) + 0.3 * (np.ones((d, d)) - np.eye(d))),
        "tied": np.eye(d) * 0.8 + 0.2,
    }[covariance_type]
    return model


def random_gaussian_posteriors(rng, covariance_type, k, d):
    """Random priors and posteriors of a VariationalGaussianHMM."""
    tied = covariance_type == "tied"
    spd = [a @ a.T + d * np.eye(d) for a in rng.normal(size=(k, d, d))]
    scale = {
        "spherical": rng.uniform(2, 6, k),
        "diag": rng.uniform(2, 6, (k, d)),
        "full": np.stack(spd) * 2,
        "tied": spd[0] * 4,
    }[covariance_type]
    scale0 = {
        "spherical": np.full(k, 0.5),
        "diag": np.full((k, d), 0.5),
        "full": np.stack([np.eye(d) * 0.5] * k),
        "tied": np.eye(d) * 0.5,
    }[covariance_type]
    return {
        "startprob_prior_": np.full(k, 0.5),
        "startprob_posterior_": rng.uniform(0.5, 2, k),
        "transmat_prior_": np.full((k, k), 0.4),
        "transmat_posterior_": rng.uniform(1, 30, (k, k)),
        "means_prior_": np.zeros((k, d)),
        "means_posterior_": rng.normal(0, 3, (k, d)),
        "beta_prior_": np.full(k, 0.7),
        "beta_posterior_": rng.uniform(1, 5, k),
        "dof_prior_": float(d + 1) if tied else np.full(k, d + 1.0),
        "dof_posterior_": float(d + 6) if tied else rng.uniform(d + 2, d + 8, k),
        "scale_prior_": scale0,
        "scale_posterior_": scale,
    }


def random_categorical_posteriors(rng, k, n_symbols):
    return {
        "startprob_prior_": np.full(k, 0.5),
        "startprob_posterior_": rng.uniform(0.5, 2, k),
        "transmat_prior_": np.full((k, k), 0.4),
        "transmat_posterior_": rng.uniform(1, 30, (k, k)),
        "emissionprob_prior_": np.full((k, n_symbols), 0.3),
        "emissionprob_posterior_": rng.uniform(1, 20, (k, n_symbols)),
    }


def set_all(model, values):
    for name, value in values.items():
        setattr(model, name, np.copy(value) if np.ndim(value) else value)
    return model


# -- the lower bound never decreases ------------------------------------------


@settings(max_examples=50)
@given(
    seed=st.integers(0, 2**32 - 1),
    kind=st.sampled_from(("categorical",) + COVARIANCE_TYPES),
    n_features=st.integers(1, 3),
    k=st.integers(1, 3),
    frozen=st.sampled_from(("", "s", "t", "e", "m", "c", "mc")),
    by_hand=st.booleans(),
)
def test_lower_bound_never_decreases(seed, kind, n_features, k, frozen, by_hand):
    rng = np.random.default_rng(seed)
    lengths = list(rng.integers(1, 25, size=rng.integers(1, 4)))
    lengths[0] += 10
    n = int(sum(lengths))
    if kind == "categorical":
        letters = "ste"
        X = rng.integers(0, n_features + 1, size=(n, 1))
        X[: n_features + 1, 0] = np.arange(n_features + 1)
        model = vhmm.VariationalCategoricalHMM(k, random_state=seed)
        start = random_categorical_posteriors(rng, k, n_features + 1)
    else:
        letters = "stmc"
        X = rng.normal(size=(n, n_features)) * 2 + rng.integers(0, 3, size=(n, 1)) * 3
        model = vhmm.VariationalGaussianHMM(k, kind, random_state=seed)
        start = random_gaussian_posteriors(rng, kind, k, n_features)
    if by_hand:
        set_all(model, start)
        model.init_params = ""
    model.params = "".join(c for c in letters if c not in frozen)
    model.n_iter, model.tol = 12, -np.inf
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # hmmlearn-style init warns
        model.fit(X, lengths)
    assert_non_decreasing(model.monitor_.history, rel=1e-9)
    for name in model._param_names():
        assert np.all(np.isfinite(getattr(model, name))), name


# -- independent checks of the pieces ------------------------------------------


def test_special_functions_match_scipy():
    special = pytest.importorskip("scipy.special")
    x = np.concatenate([np.logspace(-6, 6, 400), np.linspace(0.01, 40, 400)])
    np.testing.assert_allclose(digamma(x), special.digamma(x), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(gammaln(x), special.gammaln(x), rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_expected_log_emissions_match_monte_carlo(covariance_type):
    """E[log N(x | mean, precision)] under the posterior, by sampling the
    posterior (Normal-Wishart / Normal-Gamma as documented) directly."""
    rng = np.random.default_rng(3)
    k, d = 2, 3
    values = random_gaussian_posteriors(rng, covariance_type, k, d)
    # fasthmm's own class: exact VB (the hmmlearn namespace reads "diag" and
    # "spherical" posteriors as hmmlearn does, as Wisharts with a diagonal scale)
    model = set_all(fasthmm.VariationalGaussianHMM(k, covariance_type), values)
    # The checked posteriors (the model's own _checked_params gives the point estimate).
    emission = fasthmm.BaseHMM._checked_params(model).emission
    X = rng.normal(0, 2, size=(4, d))
    got = emission.log_likelihood(X)

    n_draws = 200_000
    dof = np.broadcast_to(values["dof_posterior_"], (k,))
    scale = values["scale_posterior_"]
    for state in range(k):
        if covariance_type in ("full", "tied"):
            s = scale if covariance_type == "tied" else scale[state]
            # Wishart(dof, inv(s)) by Bartlett: precision = L A A^T L^T.
            chol = np.linalg.cholesky(np.linalg.inv(s))
            a = np.zeros((n_draws, d, d))
            for i in range(d):
                a[:, i, i] = np.sqrt(rng.chisquare(dof[state] - i, n_draws))
                a[:, i, :i] = rng.normal(size=(n_draws, i))
            la = chol @ a
            prec = la @ np.swapaxes(la, 1, 2)
        else:
            if covariance_type == "diag":
                lam = rng.gamma(dof[state] / 2, 2 / scale[state], size=(n_draws, d))
            else:
                lam = np.repeat(
                    rng.gamma(
                        d * dof[state] / 2, 2 / (d * scale[state]), size=(n_draws, 1)
                    ),
                    d,
                    axis=1,
                )
            prec = lam[:, :, None] * np.eye(d)
        cov_mean = np.linalg.inv(values["beta_posterior_"][state] * prec)
        mu = values["means_posterior_"][state] + np.einsum(
            "nij,nj->ni", np.linalg.cholesky(cov_mean), rng.normal(size=(n_draws, d))
        )
        logdet = np.linalg.slogdet(prec)[1]
        for t, x in enumerate(X):
            diff = x - mu
            quad = np.einsum("ni,nij,nj->n", diff, prec, diff)
            samples = 0.5 * logdet - 0.5 * d * np.log(2 * np.pi) - 0.5 * quad
            err = 4 * samples.std() / np.sqrt(n_draws)
            assert abs(samples.mean() - got[t, state]) < err, (t, state)


# -- recovery from a known model ------------------------------------------------


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_gaussian_posterior_means_recover_the_model(covariance_type):
    rng = np.random.default_rng(0)
    truth = three_state_gaussian(covariance_type, 2, rng)
    X, _ = truth.sample(3000, random_state=1)
    model = vhmm.VariationalGaussianHMM(3, covariance_type, random_state=2, n_iter=200)
    model.fit(X)
    order = np.argsort(model.means_[:, 0])
    np.testing.assert_allclose(model.means_[order], truth.means_, atol=0.15)
    np.testing.assert_allclose(
        model.transmat_[np.ix_(order, order)], truth.transmat_, atol=0.05
    )
    full = lambda m: fasthmm.GaussianHMM(3, covariance_type)._emission(  # noqa: E731
        {"means_": m.means_, "covars_": m.covars_}
    )
    got = model.covars_ if covariance_type == "tied" else model.covars_[order]
    np.testing.assert_allclose(got, truth.covars_, atol=0.12)
    assert full(model) is not None


def test_categorical_posterior_means_recover_the_model():
    truth = fasthmm.CategoricalHMM(2, init_params="")
    truth.startprob_ = np.array([0.6, 0.4])
    truth.transmat_ = np.array([[0.9, 0.1], [0.2, 0.8]])
    truth.emissionprob_ = np.array([[0.7, 0.2, 0.1], [0.1, 0.2, 0.7]])
    X, _ = truth.sample(6000, random_state=0)
    # VB has local optima: keep the start with the best lower bound (as
    # hmmlearn's documentation advises).
    fits = [
        vhmm.VariationalCategoricalHMM(2, random_state=s, n_iter=300).fit(X)
        for s in range(5)
    ]
    model = max(fits, key=lambda m: m.monitor_.history[-1])
    order = np.argsort(model.emissionprob_[:, 0])[::-1]
    np.testing.assert_allclose(
        model.emissionprob_[order], truth.emissionprob_, atol=0.03
    )
    np.testing.assert_allclose(
        model.transmat_[np.ix_(order, order)], truth.transmat_, atol=0.03
    )


# -- against hmmlearn ---------------------------------------------------------------


def _both(name, k, values, X, lengths, n_iter=4, namespace=vhmm, **kwargs):
    hv = pytest.importorskip("hmmlearn.vhmm")
    ours = set_all(
        getattr(namespace, name)(k, init_params="", n_iter=n_iter, tol=-1, **kwargs),
        values,
    )
    theirs = set_all(
        getattr(hv, name)(k, init_params="", n_iter=n_iter, tol=-1, **kwargs), values
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours.fit(X, lengths)
        theirs.fit(X, lengths)
    return ours, theirs


def test_categorical_matches_hmmlearn():
    rng = np.random.default_rng(0)
    k = 3
    X = rng.integers(0, 4, size=(300, 1))
    ours, theirs = _both(
        "VariationalCategoricalHMM",
        k,
        random_categorical_posteriors(rng, k, 4),
        X,
        [100] * 3,
    )
    for name in CHAIN + ("emissionprob_prior_", "emissionprob_posterior_"):
        np.testing.assert_allclose(
            getattr(ours, name), getattr(theirs, name), rtol=1e-9
        )
    np.testing.assert_allclose(
        ours.monitor_.history, theirs.monitor_.history, rtol=1e-10
    )
    np.testing.assert_allclose(ours.score(X), theirs.score(X), rtol=1e-10)


@pytest.mark.parametrize(
    "covariance_type, n_features",
    [("full", 1), ("full", 3), ("tied", 1), ("tied", 3), ("diag", 1), ("spherical", 1)],
)
def test_gaussian_matches_hmmlearn_where_its_update_is_exact(
    covariance_type, n_features
):
    rng = np.random.default_rng(1)
    k = 3
    X = np.concatenate([rng.normal(3 * i, 1, (100, n_features)) for i in range(k)])
    values = random_gaussian_posteriors(rng, covariance_type, k, n_features)
    ours, theirs = _both(
        "VariationalGaussianHMM",
        k,
        values,
        X,
        [100] * 3,
        covariance_type=covariance_type,
    )
    for name in CHAIN + GAUSSIAN:
        np.testing.assert_allclose(
            getattr(ours, name),
            getattr(theirs, name),
            rtol=1e-9,
            atol=1e-9,
            err_msg=name,
        )
    # the hmmlearn namespace reports hmmlearn's bound (without the Gaussian
    # constant X.size / 2 * log(2 pi))
    np.testing.assert_allclose(
        ours.monitor_.history, theirs.monitor_.history, rtol=1e-10
    )
    np.testing.assert_allclose(ours.score(X), theirs.score(X), rtol=1e-10)


@pytest.mark.parametrize("covariance_type", ["diag", "spherical"])
def test_gaussian_differs_from_hmmlearn_only_by_its_inexact_update(covariance_type):
    """With several features hmmlearn's "diag" / "spherical" E-step uses a
    Wishart's E[log |precision|]; the M-step (the same conjugate formulas)
    agrees: one iteration from the same start gives the same posteriors only
    if the E-step agrees, which for fasthmm's own (exact) class it does not;
    the hmmlearn namespace reproduces hmmlearn's."""
    rng = np.random.default_rng(2)
    k, d = 3, 2
    X = np.concatenate([rng.normal(3 * i, 1, (100, d)) for i in range(k)])
    values = random_gaussian_posteriors(rng, covariance_type, k, d)
    ours, theirs = _both(
        "VariationalGaussianHMM",
        k,
        values,
        X,
        [100] * 3,
        n_iter=1,
        namespace=fasthmm,
        covariance_type=covariance_type,
    )
    assert not np.allclose(ours.means_posterior_, theirs.means_posterior_, rtol=1e-6)
    same, theirs = _both(
        "VariationalGaussianHMM",
        k,
        values,
        X,
        [100] * 3,
        n_iter=1,
        covariance_type=covariance_type,
    )
    np.testing.assert_allclose(
        same.means_posterior_, theirs.means_posterior_, rtol=1e-9
    )


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_mcgrory_titterington_on_hmmlearns_data(covariance_type):
    """hmmlearn's test_fit_mcgrory_titterington1d, with the data and the
    initial posteriors hmmlearn's classes produce: fasthmm converges to the
    posterior mean hmmlearn's test expects."""
    pytest.importorskip("sklearn")
    saved = np.geterr()  # hmmlearn's test package sets NumPy's error state globally
    try:
        tests = pytest.importorskip("hmmlearn.tests.test_variational_gaussian")
        from hmmlearn.tests import vi_uniform_startprob_and_transmat
    finally:
        np.seterr(**saved)
    from sklearn.utils import check_random_state

    rs = check_random_state(234234)
    sequences, lengths = tests.get_sequences(
        500, 1, model=tests.get_mcgrory_titterington(), rs=rs
    )
    theirs = pytest.importorskip("hmmlearn.vhmm").VariationalGaussianHMM(
        5, random_state=rs, init_params="mc", covariance_type=covariance_type
    )
    vi_uniform_startprob_and_transmat(theirs, lengths)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs._init(sequences, lengths)
    ours = vhmm.VariationalGaussianHMM(
        5, n_iter=1000, tol=1e-9, init_params="", covariance_type=covariance_type
    )
    set_all(ours, {name: getattr(theirs, name) for name in CHAIN + GAUSSIAN})
    ours.fit(sequences, lengths)
    cls = {
        "full": "TestFull",
        "tied": "TestTied",
        "diag": "TestDiagonal",
        "spherical": "TestSpherical",
    }
    expected = getattr(tests, cls[covariance_type]).test_fit_mcgrory_titterington1d_mean
    assert sorted(ours.means_posterior_.ravel())[3] == pytest.approx(expected)


# -- API ------------------------------------------------------------------------------


def test_module_names_and_defaults():
    assert issubclass(vhmm.VariationalGaussianHMM, fasthmm.VariationalGaussianHMM)
    assert issubclass(vhmm.VariationalCategoricalHMM, fasthmm.VariationalCategoricalHMM)
    hv = pytest.importorskip("hmmlearn.vhmm")
    for name in ("VariationalGaussianHMM", "VariationalCategoricalHMM"):
        ours = getattr(vhmm, name)().get_params()
        theirs = getattr(hv, name)().get_params()
        # fasthmm's own extra arguments (memory_budget, ...) come on top.
        assert {name: ours[name] for name in theirs} == theirs


def test_point_estimates_are_read_only_and_used_for_inference(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 2))
    model = vhmm.VariationalGaussianHMM(2, "diag", random_state=0, n_iter=5).fit(X)
    with pytest.raises(ReadOnlyParameter, match="means_posterior_"):
        model.means_ = np.zeros((2, 2))
    with pytest.raises(ValueError, match="startprob_posterior_"):
        model.startprob_ = np.array([0.5, 0.5])
    plain = fasthmm.GaussianHMM(2, "diag", init_params="")
    plain.startprob_, plain.transmat_ = model.startprob_, model.transmat_
    plain.means_, plain.covars_ = model.means_, model.covars_
    np.testing.assert_allclose(
        model.covars_, model.scale_posterior_ / model.dof_posterior_[:, None]
    )
    assert model.score(X) == pytest.approx(plain.score(X), rel=1e-12)
    np.testing.assert_array_equal(model.predict(X), plain.predict(X))
    model.save(tmp_path / "m.npz")
    loaded = fasthmm.load(tmp_path / "m.npz")
    for name in CHAIN + GAUSSIAN:
        np.testing.assert_array_equal(getattr(loaded, name), getattr(model, name))
    assert loaded.score(X) == model.score(X)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"dof_prior": [0.5, 0.5]}, "dof_prior"),
        ({"beta_prior": [1.0, -1.0]}, "beta_prior"),
        ({"scale_prior": np.zeros((2, 2, 2))}, "scale_prior"),
        ({"covariance_type": "banana"}, "covariance_type"),
        ({"startprob_prior": -1.0}, "startprob_prior"),
    ],
)
def test_bad_priors_are_named(kwargs, match):
    X = np.random.default_rng(0).normal(size=(50, 2))
    model = vhmm.VariationalGaussianHMM(2, **kwargs)
    with pytest.raises(ValueError, match=match):
        model.fit(X)
    assert getattr(model, "means_posterior_", None) is None


def test_bad_posterior_set_by_hand_is_named_and_fit_is_atomic():
    X = np.random.default_rng(0).integers(0, 3, size=(60, 1))
    model = vhmm.VariationalCategoricalHMM(2, random_state=0, n_iter=3).fit(X)
    before = {name: np.copy(getattr(model, name)) for name in model._param_names()}
    model.init_params = ""
    model.emissionprob_posterior_ = np.array([[1.0, 2.0, 0.0], [1.0, 1.0, 1.0]])
    with pytest.raises(ValueError, match="emissionprob_posterior_"):
        model.fit(X)
    for name, value in before.items():
        if name != "emissionprob_posterior_":
            np.testing.assert_array_equal(getattr(model, name), value)
