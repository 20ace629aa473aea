"""Missing observations (``missing="marginalize"``) on every route beyond the
in-memory calls: blocks of a memmap, online ``partial_fit``, posterior
sampling, streams (filter, fixed-lag smoother, online Viterbi, save/resume),
the semi-Markov and variational models, save/load and the command line.

The reference throughout is independent of fasthmm's routes: the plain NumPy
log-emissions of the family (``tests/families.py``) with the rows that are
missing set to 0 (their emission factor is 1), and for partly observed
Gaussian rows the product of the univariate densities of the observed
entries; then the log-space forward-backward and Viterbi of
``tests/reference.py``, or enumeration over every state path (or
segmentation) for tiny models. A route with NaN is also compared with the
in-memory call on the same data, which the reference checks first.
"""

import math

import numpy as np
import pytest
from families import BY_NAME, representatives
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import (
    batch_reference,
    full_covars,
    log_forward_backward,
    log_viterbi,
)

import fasthmm

#: One family per model class (HMMs and HSMMs); not the example family written
#: from outside the package, whose ``check_X`` does not take the option.
FAMILIES = {
    n: f
    for n, f in representatives(extra=("gaussian-diag",)).items()
    if n != "exponential" and f.supports("missing")
}
HMM_FAMILIES = {n: f for n, f in FAMILIES.items() if f.supports("partial_fit")}
K = 2


# -- data with missing rows and their reference log-emissions -------------------


def gapped_data(family, rng, n, frac=0.3, lengths=None):
    """(X as floats with NaN rows, the complete X, the missing-row mask)."""
    X = np.asarray(family.sample(rng, K, n)).reshape(n, -1)
    gone = rng.random(n) < frac
    gone[0] = True  # a sequence may start with a missing row
    Xn = X.astype(np.float64)
    Xn[gone] = np.nan
    return Xn, X, gone


def reference_log_emissions(family, model, X_complete, gone):
    """The family's NumPy log-emissions, 0 on the missing rows."""
    le = np.array(family.reference(model, X_complete), dtype=np.float64)
    le[gone] = 0.0
    return le


def marginalizing(family, rng, **kwargs):
    """A random model of the family (parameters set by hand) that integrates
    NaN out."""
    return family.make(rng, family.n_states(K), missing="marginalize", **kwargs)


def partly_observed(family, seed, n, d=3):
    """(model with missing="marginalize", float samples with 30% of the
    entries and row 2 missing) of a family, from ``seed``."""
    rng = np.random.default_rng(seed)
    model = family.make(rng, K, d=d, missing="marginalize")
    X = family.sample(rng, K, n, d=d).astype(np.float64)
    X[rng.random(X.shape) < 0.3] = np.nan
    X[2] = np.nan
    return model, X


def gaussian_partial_reference(model, X):
    """log p(observed entries of x_t | z_t = k) for Gaussians of any
    covariance type, any pattern of NaN (0 for a row with nothing observed):
    the marginal Gaussian of the observed entries, in NumPy."""
    k, d = model.means_.shape
    covars = full_covars(model.covars_, model.covariance_type, k, d)
    out = np.zeros((X.shape[0], k))
    for t, x in enumerate(X):
        seen = ~np.isnan(x)
        for j in range(k):
            diff = x[seen] - model.means_[j, seen]
            c = covars[j][np.ix_(seen, seen)]
            _, logdet = np.linalg.slogdet(c)
            out[t, j] = -0.5 * (
                seen.sum() * np.log(2 * np.pi)
                + logdet
                + diff @ np.linalg.solve(c, diff)
            )
    return out


# -- the in-memory answer is the reference -------------------------------------


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_in_memory_answers_equal_the_forward_over_log_emissions_with_zero_rows(name):
    family = FAMILIES[name]
    rng = np.random.default_rng(1)
    model = marginalizing(family, rng)
    lengths = [9, 14]
    Xn, X, gone = gapped_data(family, rng, sum(lengths))
    le = reference_log_emissions(family, model, X, gone)
    np.testing.assert_allclose(model.log_emissions(Xn, lengths), le, atol=1e-10)
    if family.chain.min_components == 1:  # the functional API is the HMM's
        ll, post = fasthmm.forward_backward(
            le, model.startprob_, model.transmat_, lengths
        )
        np.testing.assert_allclose(model.score(Xn, lengths), float(np.sum(ll)))
        np.testing.assert_allclose(model.predict_proba(Xn, lengths), post, atol=1e-9)
    # enumeration over every state path (segmentation) of a short sequence
    short = slice(0, 5)
    ll, best, post = family.chain.brute_force(le[short], model)
    np.testing.assert_allclose(model.score(Xn[short]), ll, rtol=1e-10)
    np.testing.assert_allclose(model.predict_proba(Xn[short]), post, atol=1e-10)
    np.testing.assert_allclose(model.decode(Xn[short])[0], best, rtol=1e-10)


# -- blocks of a memmap --------------------------------------------------------


def _memmap(tmp_path, X, name="X"):
    path = tmp_path / f"{name}.npy"
    np.save(path, X)
    return np.load(path, mmap_mode="r")


@pytest.mark.parametrize("name", sorted(HMM_FAMILIES))
def test_blocks_with_nan_equal_the_in_memory_route(name, tmp_path):
    family = HMM_FAMILIES[name]
    rng = np.random.default_rng(2)
    lengths = [int(n) for n in rng.integers(10, 30, 6)]
    Xn, X, gone = gapped_data(family, rng, sum(lengths))
    model = marginalizing(family, np.random.default_rng(20), n_iter=3, tol=-np.inf)
    budget = 8 * 40 * (3 * K + 3 * Xn.shape[1] + 4)  # about 40 rows a block
    blocked = marginalizing(family, np.random.default_rng(20), memory_budget=budget)
    mm = _memmap(tmp_path, Xn)
    assert blocked._blocks(mm, lengths).n_blocks > 1  # the walked route
    le = reference_log_emissions(family, model, X, gone)
    ref = batch_reference(le, model.startprob_, model.transmat_, lengths)
    np.testing.assert_allclose(blocked.score(mm, lengths), sum(ref["ll"]), rtol=1e-10)
    np.testing.assert_allclose(
        blocked.predict_proba(mm, lengths), ref["posteriors"], atol=1e-9
    )
    np.testing.assert_allclose(
        blocked.decode(mm, lengths)[0], sum(ref["best"]), rtol=1e-10
    )
    # BIC counts the rows with an observed entry, as the in-memory call
    np.testing.assert_allclose(
        blocked.bic(mm, lengths), model.bic(Xn, lengths), rtol=1e-10
    )
    # EM over the blocks: the in-memory fit from the same start
    model.fit(Xn, lengths)
    blocked.set_params(n_iter=3, tol=-np.inf).fit(mm, lengths)
    for attr in ("startprob_", "transmat_"):
        np.testing.assert_allclose(
            getattr(blocked, attr), getattr(model, attr), rtol=1e-8, atol=1e-12
        )
    np.testing.assert_allclose(
        blocked.monitor_.history, model.monitor_.history, rtol=1e-10
    )


@pytest.mark.parametrize("name", ["gaussian-diag", "categorical"])
def test_a_blocked_fit_initialised_from_data_with_nan_equals_the_in_memory_fit(
    name, tmp_path
):
    """The initialisation sample keeps its missing rows marked as missing."""
    family = BY_NAME[name]
    rng = np.random.default_rng(3)
    lengths = [40, 35, 50, 45]
    Xn, _, _ = gapped_data(family, rng, sum(lengths))
    kwargs = dict(missing="marginalize", n_iter=4, tol=-np.inf, random_state=0)
    if name == "categorical":
        kwargs["n_features"] = family.n_features
    local = family.unfitted(K, **kwargs).fit(Xn, lengths)
    blocked = family.unfitted(K, memory_budget=8 * 60 * 20, **kwargs)
    mm = _memmap(tmp_path, Xn)
    assert blocked._blocks(mm, lengths).n_blocks > 1
    blocked.fit(mm, lengths)
    np.testing.assert_allclose(
        blocked.monitor_.history, local.monitor_.history, rtol=1e-9
    )
    np.testing.assert_allclose(blocked.transmat_, local.transmat_, rtol=1e-8)


# -- online partial_fit ----------------------------------------------------------


@pytest.mark.parametrize("name", sorted(HMM_FAMILIES))
def test_partial_fit_with_nan_is_the_em_step_of_the_reference(name):
    """The first stepwise update from given parameters is one EM step: its
    transition matrix is the reference's expected transition counts,
    normalised (the M-step without priors), over rows set to 0."""
    family = HMM_FAMILIES[name]
    rng = np.random.default_rng(4)
    lengths = [12, 20, 15]
    Xn, X, gone = gapped_data(family, rng, sum(lengths))
    model = marginalizing(family, rng, params="t")
    le = reference_log_emissions(family, model, X, gone)
    ref = batch_reference(le, model.startprob_, model.transmat_, lengths)
    model.partial_fit(Xn, lengths)
    xi = ref["xi"]
    np.testing.assert_allclose(
        model.transmat_, xi / xi.sum(axis=1, keepdims=True), rtol=1e-8
    )


# -- sample_posterior ------------------------------------------------------------


def test_posterior_draws_with_nan_follow_the_reference_posteriors():
    family = BY_NAME["gaussian-diag"]
    rng = np.random.default_rng(5)
    model = marginalizing(family, rng)
    Xn, X, gone = gapped_data(family, rng, 10, frac=0.4)
    le = reference_log_emissions(family, model, X, gone)
    _, post, _ = log_forward_backward(le, model.startprob_, model.transmat_)
    n = 4000
    draws = model.sample_posterior(Xn, n_samples=n, random_state=0)
    assert draws.shape == (n, 10)
    freq = np.stack([(draws == k).mean(axis=0) for k in range(K)], axis=1)
    # five standard errors of a frequency
    tol = 5 * np.sqrt(post * (1 - post) / n) + 1e-12
    assert np.all(np.abs(freq - post) <= tol)


# -- streams ---------------------------------------------------------------------


def _stream_reference(model, le, lag):
    """(log-likelihood, fixed-lag smoothed rows in the order a stream gives
    them, filtered rows, Viterbi path) of one sequence, in log space."""
    start, trans = model.startprob_, model.transmat_
    ll, post, filt = log_forward_backward(le, start, trans)
    _, path = log_viterbi(le, start, trans)
    # p(z_{t-lag} | x_0..x_t) while pushing, then the last rows at the flush
    lagged = [log_forward_backward(le[: t + 1], start, trans)[1][t - lag]
              for t in range(lag, le.shape[0])]  # fmt: skip
    smoothed = np.array(lagged + list(post[max(0, le.shape[0] - lag) :]))
    return ll, smoothed, filt, path


def _run_stream(model, rows, lag, save_at=None):
    """(log-likelihood, smoothed, filtered, path) of pushing ``rows`` one push
    each into a new stream of ``model`` and flushing it; at push ``save_at``
    the stream is saved and resumed on a new stream of the same model."""
    stream = model.stream(lag=lag)
    filtered, smoothed, states = [], [], []
    for t, x in enumerate(rows):
        if t == save_at:
            saved = {name: np.copy(a) for name, a in stream.get_state().items()}
            stream = model.stream(lag=lag).set_state(saved)
        filtered.append(stream.push(x))
        smoothed.append(stream.smoothed)
        states.append(stream.states)
    tail, rest = stream.flush()
    return (
        stream.log_likelihood,
        np.concatenate([*smoothed, tail]),
        np.concatenate(filtered),
        np.concatenate([*states, rest]),
    )


def _assert_same_stream(actual, expected):
    ll, smoothed, filtered, path = actual
    np.testing.assert_allclose(filtered, expected[2], atol=1e-10)
    np.testing.assert_allclose(smoothed, expected[1], atol=1e-10)
    np.testing.assert_array_equal(path, expected[3])
    np.testing.assert_allclose(ll, expected[0], rtol=1e-10)


@pytest.mark.parametrize("name", ["gaussian-diag", "categorical", "poisson"])
@pytest.mark.parametrize("one_at_a_time", [True, False])
def test_a_stream_steps_through_nan_rows_with_emission_factor_one(name, one_at_a_time):
    family = BY_NAME[name]
    rng = np.random.default_rng(6)
    model = marginalizing(family, rng)
    Xn, X, gone = gapped_data(family, rng, 25, frac=0.35)
    le = reference_log_emissions(family, model, X, gone)
    if not one_at_a_time:
        rows = [Xn[:7], Xn[7:]]
    elif name == "categorical":
        rows = [float(x) for x in Xn[:, 0]]  # one symbol, NaN when missing
    else:
        rows = list(Xn)  # one observation: a 1-D array of n_features values
    _assert_same_stream(_run_stream(model, rows, 3), _stream_reference(model, le, 3))


@pytest.mark.parametrize("cov", ["diag", "spherical", "full", "tied"])
def test_a_stream_integrates_out_single_missing_entries(cov):
    model, X = partly_observed(BY_NAME[f"gaussian-{cov}"], 7, 20)
    le = gaussian_partial_reference(model, X)
    _assert_same_stream(_run_stream(model, X, 2), _stream_reference(model, le, 2))


def test_a_stream_saved_and_resumed_across_nan_rows_gives_the_same_answers():
    family = BY_NAME["gaussian-diag"]
    rng = np.random.default_rng(8)
    model = marginalizing(family, rng)
    Xn, X, gone = gapped_data(family, rng, 30, frac=0.4)
    Xn[10:13] = np.nan  # the save falls inside a run of missing rows
    X_full = X.copy()
    gone[10:13] = True
    le = reference_log_emissions(family, model, X_full, gone)
    _assert_same_stream(
        _run_stream(model, Xn, 2, save_at=12), _stream_reference(model, le, 2)
    )


# -- semi-Markov models ----------------------------------------------------------


@pytest.mark.parametrize("name", ["gaussian-diag-hsmm", "categorical-hsmm"])
def test_a_semi_markov_fit_with_nan_rows_never_decreases_its_objective(name):
    family = BY_NAME[name]
    rng = np.random.default_rng(9)
    lengths = [30, 25]
    Xn, _, _ = gapped_data(family, rng, sum(lengths))
    model = marginalizing(family, rng, n_iter=6, tol=-np.inf)
    model.fit(Xn, lengths)
    history = np.array(model.monitor_.history)
    assert np.all(np.diff(history) >= -1e-8 * np.abs(history[1:]))
    # the last recorded objective is that of the parameters before the last
    # M-step (no priors here): the fitted parameters score at least as high
    assert model.score(Xn, lengths) >= history[-1] - 1e-8 * abs(history[-1])


# -- variational models ----------------------------------------------------------


@pytest.mark.parametrize(
    "cls", [fasthmm.VariationalGaussianHMM, fasthmm.VariationalCategoricalHMM]
)
def test_variational_models_step_through_nan_rows(cls):
    rng = np.random.default_rng(10)
    gaussian = cls is fasthmm.VariationalGaussianHMM
    name = "gaussian-diag" if gaussian else "categorical"
    lengths = [40, 30]
    Xn, X, gone = gapped_data(BY_NAME[name], rng, sum(lengths))
    kwargs = {} if gaussian else {"n_features": 3}
    model = cls(K, n_iter=8, tol=-np.inf, random_state=0, missing="marginalize")
    model.set_params(**kwargs)
    model.fit(Xn, lengths)
    history = np.array(model.monitor_.history)
    assert np.all(np.isfinite(history))
    assert np.all(np.diff(history) >= -1e-8 * np.abs(history[1:]))
    le = model.log_emissions(Xn, lengths)
    np.testing.assert_array_equal(le[gone], 0.0)
    np.testing.assert_allclose(le[~gone], model.log_emissions(X, lengths)[~gone])
    # inference runs at the posterior means: the forward-backward over them
    ref = batch_reference(le, model.startprob_, model.transmat_, lengths)
    np.testing.assert_allclose(model.score(Xn, lengths), sum(ref["ll"]), rtol=1e-10)
    np.testing.assert_allclose(
        model.predict_proba(Xn, lengths), ref["posteriors"], atol=1e-9
    )


# -- save/load and the command line ------------------------------------------------


def test_save_and_load_keep_the_option(tmp_path):
    family = BY_NAME["gaussian-full"]
    rng = np.random.default_rng(11)
    model = marginalizing(family, rng)
    Xn, _, _ = gapped_data(family, rng, 30)
    Xn[3, 0] = 1.5  # a partly observed row
    model.save(tmp_path / "m.npz")
    loaded = fasthmm.load(tmp_path / "m.npz")
    assert loaded.missing == "marginalize"
    assert loaded.score(Xn) == model.score(Xn)


def _csv_with_gaps(path, X, token):
    with open(path, "w") as f:
        f.write("a,b\n")
        for row in X:
            f.write(",".join(token if np.isnan(v) else repr(float(v)) for v in row))
            f.write("\n")


@pytest.mark.parametrize("token", ["", "NA", "NaN", "nan"])
def test_the_command_line_reads_missing_cells_only_when_asked(tmp_path, capsys, token):
    from fasthmm.cli import main

    rng = np.random.default_rng(12)
    X = np.concatenate([rng.normal(0, 1, (40, 2)), rng.normal(4, 1, (40, 2))])
    X[rng.random(X.shape) < 0.15] = np.nan
    X[7] = np.nan
    _csv_with_gaps(tmp_path / "d.csv", X, token)
    out = str(tmp_path / "m.npz")
    assert main(["fit", str(tmp_path / "d.csv"), "-k", "2", "-q", "-o", out]) == 1
    assert "--missing marginalize" in capsys.readouterr().err
    code = main(["fit", str(tmp_path / "d.csv"), "-k", "2", "-q", "-o", out,
                 "--missing", "marginalize"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    model = fasthmm.load(out)
    assert model.missing == "marginalize"
    expected = fasthmm.GaussianHMM(
        2, n_iter=100, tol=1e-4, random_state=0, missing="marginalize"
    ).fit(X)
    np.testing.assert_allclose(model.means_, expected.means_, rtol=1e-10)
    capsys.readouterr()
    # score and decode read the gaps as the saved model says
    assert main(["score", str(tmp_path / "d.csv"), out]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert float(first.split()[-1]) == pytest.approx(expected.score(X), rel=1e-9)
    assert main(["decode", str(tmp_path / "d.csv"), out]) == 0
    states = np.array(capsys.readouterr().out.split(), dtype=int)
    np.testing.assert_array_equal(states, expected.predict(X))
    assert main(["info", out]) == 0
    assert any(
        line.split() == ["missing", "marginalize"]
        for line in capsys.readouterr().out.splitlines()
    )
    # --missing raise on a model saved with marginalize: the gaps are an error
    assert main(["score", str(tmp_path / "d.csv"), out, "--missing", "raise"]) == 1
    assert "--missing marginalize" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["gaussian-full", "poisson"])
def test_a_labelled_fit_over_blocks_with_nan_equals_the_in_memory_one(name, tmp_path):
    """Fully labelled (closed form) and partly labelled (EM with known states)."""
    family = BY_NAME[name]
    rng = np.random.default_rng(13)
    lengths = [30, 45, 25, 40]
    Xn, _, _ = gapped_data(family, rng, sum(lengths))
    Xn[rng.random(Xn.shape) < 0.1] = np.nan  # single entries too
    labels = rng.integers(0, K, sum(lengths))
    mm = _memmap(tmp_path, Xn)
    for states in (labels, np.where(rng.random(labels.size) < 0.5, labels, -1)):
        kwargs = dict(missing="marginalize", n_iter=3, tol=-np.inf, random_state=0)
        local = family.unfitted(K, **kwargs).fit(Xn, lengths, states=states)
        blocked = family.unfitted(K, memory_budget=8 * 60 * 30, **kwargs)
        assert blocked._blocks(mm, lengths).n_blocks > 1
        blocked.fit(mm, lengths, states=states)
        np.testing.assert_allclose(blocked.transmat_, local.transmat_, rtol=1e-9)
        for attr in family.cls._param_names():
            np.testing.assert_allclose(
                getattr(blocked, attr), getattr(local, attr), rtol=1e-8, atol=1e-12
            )


def test_partial_fit_over_blocks_with_nan_equals_the_in_memory_step(tmp_path):
    family = BY_NAME["gaussian-diag"]
    rng = np.random.default_rng(14)
    batches = [gapped_data(family, rng, 120)[0] for _ in range(3)]
    kwargs = dict(missing="marginalize", random_state=0)
    local = family.unfitted(K, **kwargs)
    blocked = family.unfitted(K, memory_budget=8 * 30 * 20, **kwargs)
    for i, X in enumerate(batches):
        lengths = [30, 30, 60]
        local.partial_fit(X, lengths)
        mm = _memmap(tmp_path, X, name=f"batch{i}")
        assert blocked._blocks(mm, lengths).n_blocks > 1
        blocked.partial_fit(mm, lengths)
        for attr in ("startprob_", "transmat_", "means_", "covars_"):
            np.testing.assert_allclose(
                getattr(blocked, attr), getattr(local, attr), rtol=1e-8, atol=1e-12
            )


def test_a_variational_model_names_the_limit_on_partly_observed_rows():
    rng = np.random.default_rng(15)
    X = rng.standard_normal((50, 2))
    X[3, 0] = np.nan
    model = fasthmm.VariationalGaussianHMM(2, n_iter=2, missing="marginalize")
    with pytest.raises(ValueError, match="single missing entries"):
        model.fit(X)
    assert not hasattr(model, "means_") or model.means_ is None


def test_a_semi_markov_model_integrates_out_single_entries_as_enumeration():
    family = BY_NAME["gaussian-diag-hsmm"]
    model, X = partly_observed(family, 16, 6)
    le = gaussian_partial_reference(model, X)
    ll, best, post = family.chain.brute_force(le, model)
    np.testing.assert_allclose(model.score(X), ll, rtol=1e-10)
    np.testing.assert_allclose(model.predict_proba(X), post, atol=1e-10)
    np.testing.assert_allclose(model.decode(X)[0], best, rtol=1e-10)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 30),
    frac=st.floats(0.0, 1.0),
    lag=st.integers(0, 4),
    cut=st.integers(0, 30),
)
def test_a_stream_fed_in_two_chunks_with_nan_equals_the_batch_calls(
    seed, n, frac, lag, cut
):
    """Any pattern of missing entries (whole rows and single entries), any
    split: filtered rows, smoothed rows and the path equal filter_proba,
    predict_proba and decode on the whole sequence."""
    family = BY_NAME["gaussian-diag"]
    rng = np.random.default_rng(seed)
    model = marginalizing(family, rng)
    X = family.sample(rng, K, n).astype(np.float64)
    X[rng.random(X.shape) < frac] = np.nan
    chunks = [c for c in (X[: min(cut, n)], X[min(cut, n) :]) if c.shape[0]]
    ll, smoothed, filtered, path = _run_stream(model, chunks, lag)
    np.testing.assert_allclose(filtered, model.filter_proba(X), atol=1e-10)
    last = n - min(lag, n)  # the rows the flush smooths over the whole sequence
    np.testing.assert_allclose(
        smoothed[last:], model.predict_proba(X)[last:], atol=1e-10
    )
    np.testing.assert_array_equal(path, model.predict(X))
    np.testing.assert_allclose(ll, model.score(X), rtol=1e-10)


@pytest.mark.parametrize("name", ["gaussian-diag", "categorical"])
def test_a_stream_of_a_model_that_raises_on_nan_rejects_a_missing_row(name):
    family = BY_NAME[name]
    model = family.make(np.random.default_rng(17), K)
    stream = model.stream(lag=1)
    first = family.sample(np.random.default_rng(18), K, 3).astype(np.float64)
    stream.push(first)
    before = stream.get_state()
    row = np.nan if name == "categorical" else np.full(family.n_features, np.nan)
    with pytest.raises(ValueError, match='missing="marginalize"'):
        stream.push(row)
    after = stream.get_state()
    for key in before:
        np.testing.assert_array_equal(after[key], before[key])


def test_a_poisson_stream_integrates_out_single_missing_counts():
    model, X = partly_observed(BY_NAME["poisson"], 19, 20)
    lam = model.lambdas_
    le = np.zeros((20, K))
    for t, x in enumerate(X):
        for j in np.flatnonzero(~np.isnan(x)):
            le[t] += x[j] * np.log(lam[:, j]) - lam[:, j] - math.lgamma(x[j] + 1)
    _assert_same_stream(_run_stream(model, X, 1), _stream_reference(model, le, 1))
    stream = model.stream(lag=1)
    stream.push(X[:5])
    before = stream.get_state()
    with pytest.raises(ValueError, match="X"):  # the family's check names it
        stream.push(np.array([np.nan, -1.0, 2.0]))
    for key, value in stream.get_state().items():
        np.testing.assert_array_equal(value, before[key])
