"""Fuzz suite: random valid and invalid input thrown at every public method.

Hypothesis draws a model (every family and covariance type, random sizes,
random parameter matrices with zeros, sometimes corrupted: negative, NaN, inf,
wrong shape, rows not summing to 1, non-symmetric or indefinite covariances),
random data (valid or invalid shapes, dtypes and memory layouts, NaN / inf
placements, out-of-range or fractional symbols, valid or invalid lengths) and
calls one public method. The only outcomes allowed:

* a result that is correct as far as can be checked without a reference
  (finite where the input is finite, probabilities in [0, 1] summing to 1,
  states in range, the Viterbi path no more likely than the data, the
  log-likelihood the same from ``score`` and ``score_samples``), with the model
  unchanged (except by ``fit``, which must leave valid, finite parameters);
* a ``ValueError`` or ``TypeError`` with a non-empty message, with the model
  unchanged (compared attribute by attribute against a deep copy).

Anything else (IndexError, ZeroDivisionError, LinAlgError,
FloatingPointError, a NaN, a changed model after a failed call) fails.

The default "ci" profile (tests/conftest.py) is derandomised; for a longer run::

    HYPOTHESIS_PROFILE=long python -m pytest tests/test_fuzz.py
"""

import warnings

import numpy as np
import pytest
from families import representatives
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from models_helpers import X_METHODS, assert_unchanged, snapshot

import fasthmm
from fasthmm import models

COVARIANCE_TYPES = ("spherical", "diag", "full", "tied")
#: Families drawn with hypothesis's own parameter strategies ...
DRAWN = {
    "categorical": models.CategoricalHMM,
    "gaussian": models.GaussianHMM,
    "poisson": models.PoissonHMM,
    "gmm": models.GMMHMM,
}
#: ... and every other family of the registry, by its test entry's factories.
OTHERS = {f.name: f for f in representatives().values() if f.cls not in DRAWN.values()}
KINDS = [*DRAWN, *OTHERS]

METHODS = (*X_METHODS, "sample")
ALLOWED = (ValueError, TypeError)

# Draws are small; hypothesis's data-size health check is not the point here.
# Example counts and derandomisation come from the profile in conftest.py.
FUZZ = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# -- helpers ----------
def _check_error(exc):
    assert isinstance(exc, ALLOWED), f"{type(exc).__name__}: {exc}"
    assert str(exc).strip(), f"{type(exc).__name__} without a message"
    event(f"raised {type(exc).__name__}")


def _is_finite_input(X):
    try:
        arr = np.asarray(X)
    except ValueError:
        return False
    return arr.dtype.kind in "biuf" and bool(np.all(np.isfinite(arr)))


def _check_probabilities(p, n, k):
    assert p.shape == (n, k)
    assert np.all(np.isfinite(p)), "NaN or inf in probabilities"
    assert np.all(p >= -1e-12) and np.all(p <= 1 + 1e-9)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-8)


# -- strategies ----------
def stochastic(shape, zeros=True):
    """Row-stochastic arrays (rows sum to 1), with exact zeros sometimes."""
    lo = 0.0 if zeros else 0.05
    return arrays(np.float64, shape, elements=st.floats(lo, 1.0)).map(_normalise_rows)


def _normalise_rows(a):
    a = np.array(a, dtype=float)
    flat = a.reshape(-1, a.shape[-1])
    flat[flat.sum(axis=1) == 0] = 1.0
    return (flat / flat.sum(axis=1, keepdims=True)).reshape(a.shape)


def spd(draw, d, lead=()):
    """Symmetric positive-definite matrices of shape lead + (d, d)."""
    a = draw(arrays(np.float64, lead + (d, d), elements=st.floats(-2, 2)))
    return a @ np.swapaxes(a, -1, -2) + draw(st.floats(0.05, 2.0)) * np.eye(d)


def positive(shape, lo=0.05, hi=20.0):
    return arrays(np.float64, shape, elements=st.floats(lo, hi))


@st.composite
def gaussian_covars(draw, ct, k, d):
    if ct == "spherical":
        return draw(positive((k,)))
    if ct == "diag":
        return draw(positive((k, d)))
    if ct == "full":
        return spd(draw, d, (k,))
    return spd(draw, d)


@st.composite
def valid_models(draw):
    """(model, kind, n_features) with valid hand-set parameters."""
    kind = draw(st.sampled_from(KINDS))
    k = draw(st.integers(1, 3))
    d = draw(st.integers(1, 3))
    common = dict(
        n_iter=draw(st.integers(0, 3)),
        tol=draw(st.sampled_from([0.0, 1e-2, np.inf])),
        random_state=draw(st.one_of(st.none(), st.integers(0, 2**32 - 1))),
        algorithm=draw(st.sampled_from(["viterbi", "map"])),
    )
    params = {
        "startprob_": draw(stochastic((k,))),
        "transmat_": draw(stochastic((k, k))),
    }
    if kind in OTHERS:
        family = OTHERS[kind]
        lo, hi = family.feature_range
        d = draw(st.integers(lo, hi))
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        model = family.make(rng, k, d, init_params="", **common)
        params = {}
    elif kind == "categorical":
        n_features = draw(st.integers(1, 4))
        model = models.CategoricalHMM(k, **common)
        params["emissionprob_"] = draw(stochastic((k, n_features)))
        d = n_features
    elif kind == "gaussian":
        ct = draw(st.sampled_from(COVARIANCE_TYPES))
        model = models.GaussianHMM(k, covariance_type=ct, **common)
        params["means_"] = draw(arrays(np.float64, (k, d), elements=st.floats(-10, 10)))
        params["covars_"] = draw(gaussian_covars(ct, k, d))
    elif kind == "poisson":
        model = models.PoissonHMM(k, **common)
        params["lambdas_"] = draw(positive((k, d), 0.01, 30.0))
    else:
        ct = draw(st.sampled_from(COVARIANCE_TYPES))
        m = draw(st.integers(1, 2))
        model = models.GMMHMM(k, n_mix=m, covariance_type=ct, **common)
        params["weights_"] = draw(stochastic((k, m)))
        params["means_"] = draw(
            arrays(np.float64, (k, m, d), elements=st.floats(-10, 10))
        )
        params["covars_"] = {
            "spherical": lambda: draw(positive((k, m))),
            "diag": lambda: draw(positive((k, m, d))),
            "full": lambda: spd(draw, d, (k, m)),
            "tied": lambda: spd(draw, d, (k,)),
        }[ct]()
    for name, value in params.items():
        setattr(model, name, value)
    letters = model._all_letters()
    model.init_params = draw(st.sampled_from(["", letters, letters[:2], letters[2:]]))
    model.params = draw(st.sampled_from([letters, letters[2:], "st"]))
    return model, kind, d


CORRUPTIONS = (
    "negative",
    "nan",
    "inf",
    "extra row",
    "drop axis",
    "scale",
    "zero row",
    "asymmetric",
    "string",
    "list",
    "none",
)


@st.composite
def models_maybe_corrupt(draw):
    """A valid model, or one with one parameter corrupted."""
    model, kind, d = draw(valid_models())
    if draw(st.booleans()):
        name = draw(st.sampled_from(model._param_names()))
        how = draw(st.sampled_from(CORRUPTIONS))
        value = np.array(getattr(model, name), dtype=float)
        idx = tuple(draw(st.integers(0, s - 1)) for s in value.shape)
        if how == "negative":
            value[idx] = -abs(value[idx]) - 0.5
        elif how == "nan":
            value[idx] = np.nan
        elif how == "inf":
            value[idx] = draw(st.sampled_from([np.inf, -np.inf]))
        elif how == "extra row":
            value = np.concatenate([value, value[:1]], axis=0)
        elif how == "drop axis":
            value = value[0] if value.ndim > 1 else value[:, None]
        elif how == "scale":
            value = value * draw(st.sampled_from([0.5, 2.0, 1e6]))
        elif how == "zero row":
            value[idx[:-1]] = 0.0
        elif how == "asymmetric" and value.ndim >= 2 and value.shape[-1] > 1:
            value[..., 0, -1] += 1.0
        elif how == "string":
            value = "0.5"
        elif how == "list":
            value = value.tolist()
        elif how == "none":
            value = None
        setattr(model, name, value)
    return model, kind, d


@st.composite
def samples_for(draw, kind, d, n_states):
    """X for a model: valid, or invalid in one way (shape, dtype, values)."""
    n = draw(st.integers(1, 12))
    if kind in OTHERS:
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        X = OTHERS[kind].random_data(rng, n, d)
    elif kind == "categorical":
        hi = d + (1 if draw(st.integers(0, 9)) == 0 else 0)  # sometimes out of range
        X = draw(arrays(np.int64, (n,), elements=st.integers(0, max(hi - 1, 0))))
        if draw(st.booleans()):
            X = X.reshape(-1, 1)
    elif kind == "poisson":
        X = draw(arrays(np.int64, (n, d), elements=st.integers(0, 40)))
    else:
        scale = draw(st.sampled_from([1.0, 1.0, 1e3, 1e150]))
        X = draw(arrays(np.float64, (n, d), elements=st.floats(-10, 10))) * scale
    X = np.asarray(X)
    change = draw(
        st.sampled_from(
            ["none"] * 6
            + [
                "nan",
                "inf",
                "-inf",
                "negative",
                "fraction",
                "float32",
                "int32",
                "uint8",
                "bool",
                "complex",
                "object",
                "string",
                "list",
                "list of sequences",
                "fortran",
                "strided",
                "3-D",
                "0-D",
                "empty",
                "extra column",
                "huge",
            ]
        )
    )
    if change in ("nan", "inf", "-inf", "negative", "fraction", "huge"):
        X = X.astype(float)
        pos = tuple(draw(st.integers(0, s - 1)) for s in X.shape)
        X[pos] = {
            "nan": np.nan,
            "inf": np.inf,
            "-inf": -np.inf,
            "negative": -1.0,
            "fraction": 0.5,
            "huge": 1e300,
        }[change]
    elif change in ("float32", "int32", "uint8", "bool", "complex"):
        with np.errstate(all="ignore"):
            X = X.astype(
                {
                    "float32": np.float32,
                    "int32": np.int32,
                    "uint8": np.uint8,
                    "bool": bool,
                    "complex": complex,
                }[change]
            )
    elif change == "object":
        X = X.astype(object)
    elif change == "string":
        X = X.astype(str)
    elif change == "list":
        X = X.tolist()
    elif change == "list of sequences" and n >= 2:
        cut = draw(st.integers(1, n - 1))
        X = [X[:cut], X[cut:]]
    elif change == "fortran":
        X = np.asfortranarray(X)
    elif change == "strided":
        big = np.repeat(X, 2, axis=0)
        X = big[::2]
    elif change == "3-D":
        X = X.reshape(X.shape[0], -1, 1)
    elif change == "0-D":
        X = X.reshape(-1)[0]
    elif change == "empty":
        X = X[:0]
    elif change == "extra column":
        X = np.concatenate([X.reshape(n, -1)] * 2, axis=1)
    return X, n


@st.composite
def lengths_for(draw, n):
    choice = draw(
        st.sampled_from(
            ["none", "none", "valid", "valid", "random", "float", "overflow"]
        )
    )
    if choice == "none":
        return None
    if choice == "valid":
        cuts = sorted(draw(st.sets(st.integers(1, max(n - 1, 1)), max_size=3)))
        cuts = [c for c in cuts if 0 < c < n]
        return np.diff([0, *cuts, n]).tolist()
    if choice == "random":
        return draw(st.lists(st.integers(-2, n + 2), min_size=0, max_size=4))
    if choice == "float":
        return [n / 2, n / 2]
    return [2**62, 2**62, n]


@st.composite
def labels_for(draw, n, k):
    """State labels for fit: none, partial (-1 = unknown), full, or invalid."""
    choice = draw(st.sampled_from(["none", "none", "partial", "full", "invalid"]))
    if choice == "none":
        return None
    if choice == "invalid":
        return draw(
            st.one_of(
                st.lists(st.integers(-2, k), max_size=n + 1),
                st.just(np.full(n, 0.5)),
                st.just("abc"),
            )
        )
    lo = -1 if choice == "partial" else 0
    return draw(arrays(np.int64, (n,), elements=st.integers(lo, k - 1)))


# -- result checks ----------
def _check_result(method, model, result, X_used, n_states, finite_input):
    n = None if method in ("sample", "fit") else _n_samples_of(model, X_used)
    k = n_states
    if method == "score":
        assert isinstance(result, float) and not np.isnan(result)
        if finite_input:
            assert result < np.inf
    elif method == "score_samples":
        ll, post = result
        assert np.isfinite(ll) or not finite_input
        _check_probabilities(post, n, k)
    elif method in ("decode", "predict"):
        states = result[1] if method == "decode" else result
        assert states.shape == (n,) and states.dtype.kind == "i"
        assert np.all((states >= 0) & (states < k))
        if method == "decode":
            assert not np.isnan(result[0])
            if model.algorithm == "viterbi" and finite_input:
                # A path is never more likely than the data (all paths summed).
                ll = model.score(X_used[0], X_used[1])
                if ll > -np.inf:  # see the forward underflow note below
                    assert result[0] <= ll + 1e-8 * max(1.0, abs(ll))
    elif method in ("predict_proba", "filter_proba"):
        _check_probabilities(result, n, k)
    elif method == "sample_posterior":
        assert result.ndim == 2 and result.shape[1] == n
        assert np.all((result >= 0) & (result < k))
    elif method in ("aic", "bic"):
        assert isinstance(result, float) and not np.isnan(result)
    elif method == "sample":
        X, states = result
        assert np.all(np.isfinite(X)) and X.shape[0] == states.shape[0]
        assert np.all((states >= 0) & (states < k))


def _n_samples_of(model, X_used):
    X, _ = X_used
    if isinstance(X, list) and X and isinstance(X[0], np.ndarray):
        return sum(len(x) for x in X)
    arr = np.asarray(X)
    return arr.shape[0]


def _check_fitted(model, X, lengths):
    k = model.n_components
    for name in model._param_names():
        value = np.asarray(getattr(model, name))
        assert np.all(np.isfinite(value)), f"fit wrote a non-finite {name}"
    np.testing.assert_allclose(model.startprob_.sum(), 1.0, atol=1e-8)
    np.testing.assert_allclose(model.transmat_.sum(axis=1), np.ones(k), atol=1e-8)
    assert all(np.isfinite(model.monitor_.history))
    assert not np.isnan(model.score(X, lengths))


def _call(model, method, X, lengths, extra):
    if method == "sample":
        return model.sample(extra["n"], currstate=extra["currstate"])
    if method == "sample_posterior":
        return model.sample_posterior(X, lengths, n_samples=extra["n"])
    if method == "fit":
        return model.fit(X, lengths, states=extra["states"])
    return getattr(model, method)(X, lengths)


# -- the fuzz tests ----------
@pytest.mark.parametrize("method", METHODS)
@FUZZ
@given(data=st.data())
def test_model_methods_fail_cleanly_or_give_valid_results(method, data):
    model, kind, d = data.draw(models_maybe_corrupt(), label="model")
    k = model.n_components
    X, n = data.draw(samples_for(kind, d, k), label="X")
    lengths = data.draw(lengths_for(n), label="lengths")
    extra = {
        "n": data.draw(st.one_of(st.integers(-1, 4), st.just(2.5)), label="n"),
        "currstate": data.draw(
            st.one_of(st.none(), st.integers(-1, k)), label="currstate"
        ),
        "states": data.draw(labels_for(n, k), label="states")
        if method == "fit"
        else None,
    }
    if isinstance(X, list) and X and isinstance(X[0], np.ndarray):
        finite_input = all(map(_is_finite_input, X))
    else:
        finite_input = _is_finite_input(X)
    before = snapshot(model)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            result = _call(model, method, X, lengths, extra)
    except Exception as exc:  # noqa: BLE001 - the point is which exceptions escape
        _check_error(exc)
        assert_unchanged(model, before, f"a failed {method}")
        return
    event("returned a result")
    if method == "fit":
        assert result is model
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            _check_fitted(model, X, lengths)
        return
    assert_unchanged(model, before, f"a successful {method}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        _check_result(method, model, result, (X, lengths), k, finite_input)


@FUZZ
@given(data=st.data())
def test_hyperparameters_fail_cleanly(data):
    """Random (often invalid) constructor arguments, then fit or score."""
    model, kind, d = data.draw(valid_models(), label="model")
    X, n = data.draw(samples_for(kind, d, model.n_components), label="X")
    junk = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-3, 5),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=3),
        st.lists(st.floats(0, 2), max_size=4),
        arrays(
            np.float64,
            st.tuples(st.integers(1, 3), st.integers(1, 3)),
            elements=st.floats(-1, 3),
        ),
    )
    names = model._constructor_args()
    for _ in range(data.draw(st.integers(1, 2), label="n_changes")):
        setattr(
            model,
            data.draw(st.sampled_from(names), label="arg"),
            data.draw(junk, label="value"),
        )
    method = data.draw(
        st.sampled_from(["fit", "score", "decode", "sample"]), label="method"
    )
    before = snapshot(model)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            if method == "sample":
                model.sample(3)
            else:
                getattr(model, method)(X)
    except Exception as exc:  # noqa: BLE001
        _check_error(exc)
        assert_unchanged(model, before, f"a failed {method}")


@st.composite
def functional_inputs(draw):
    n = draw(st.integers(1, 10))
    k = draw(st.integers(1, 3))
    le = draw(
        arrays(
            np.float64,
            (n, k),
            elements=st.one_of(
                st.floats(-50, 5), st.just(-np.inf), st.sampled_from([-1e4, -800.0])
            ),
        )
    )
    sp = draw(stochastic((k,)))
    tm = draw(stochastic((k, k)))
    bad = draw(
        st.sampled_from(
            ["none"] * 5
            + [
                "nan",
                "+inf",
                "1-D",
                "3-D",
                "sp",
                "tm",
                "tm zero row",
                "list",
                "float32",
                "fortran",
                "object",
                "huge",
            ]
        )
    )
    if bad == "nan":
        le[draw(st.integers(0, n - 1)), 0] = np.nan
    elif bad == "+inf":
        le[0, draw(st.integers(0, k - 1))] = np.inf
    elif bad == "huge":
        le[0, 0] = 1e308
    elif bad == "1-D":
        le = le[:, 0]
    elif bad == "3-D":
        le = le[:, :, None]
    elif bad == "sp":
        sp = sp * 1.5 if draw(st.booleans()) else np.append(sp, 0.0)
    elif bad == "tm":
        tm = tm.T * 2 if draw(st.booleans()) else -tm
    elif bad == "tm zero row":
        tm = tm.copy()
        tm[draw(st.integers(0, k - 1))] = 0.0
    elif bad == "list":
        le, sp, tm = le.tolist(), sp.tolist(), tm.tolist()
    elif bad == "float32":
        le = le.astype(np.float32)
    elif bad == "fortran":
        le = np.asfortranarray(le)
    elif bad == "object":
        le = le.astype(object)
    return le, sp, tm, draw(lengths_for(n)), bad


@pytest.mark.parametrize(
    "fn_name", ["forward", "forward_backward", "forward_filter", "viterbi"]
)
@FUZZ
@given(inputs=functional_inputs())
def test_functional_api_fails_cleanly_or_gives_valid_results(fn_name, inputs):
    le, sp, tm, lengths, bad = inputs
    fn = getattr(fasthmm, fn_name)
    try:
        result = fn(le, sp, tm, lengths)
    except Exception as exc:  # noqa: BLE001
        _check_error(exc)
        return
    event("returned a result")
    arr = np.asarray(le, dtype=float)
    n, k = arr.shape
    if fn_name == "forward":
        assert isinstance(result, float) and not np.isnan(result)
        return
    ll, out = result
    assert not np.isnan(ll) and ll > -np.inf
    if fn_name == "viterbi":
        assert out.shape == (n,) and np.all((out >= 0) & (out < k))
        # The best path is no more likely than the data (forward settles
        # steps whose frame underflows exactly, so it is finite here too).
        ref = fasthmm.forward(le, sp, tm, lengths)
        assert ll <= ref + 1e-8 * max(1.0, abs(ref))
    else:
        _check_probabilities(out, n, k)
        if bad != "huge":
            ref = fasthmm.forward(le, sp, tm, lengths)
            np.testing.assert_allclose(ll, ref, rtol=1e-10)
