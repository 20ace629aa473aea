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

A stream's saved state (``Stream.get_state``) with one entry, dtype or shape
changed at random must be refused by ``set_state`` the same way (the stream
unchanged), or resume to valid outputs (probability rows, states in range,
a finite log-likelihood), identical to the uninterrupted stream's when the
change changed nothing.

Anything else (IndexError, ZeroDivisionError, LinAlgError,
FloatingPointError, a NaN, a changed model after a failed call) fails.

The default "ci" profile (tests/conftest.py) is derandomised; for a longer run::

    HYPOTHESIS_PROFILE=long python -m pytest tests/test_fuzz.py
"""

import contextlib
import io
import json
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
from fasthmm.cli import main as cli_main
from fasthmm.io import HEADER_KEY

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


def offered(kind, method):
    """Whether ``kind``'s models offer ``method`` (its entry's chain says)."""
    return kind not in OTHERS or OTHERS[kind].supports(method)


@st.composite
def valid_models(draw, method=None):
    """(model, kind, n_features) with valid hand-set parameters, of a kind
    whose models offer ``method``."""
    kind = draw(st.sampled_from([k for k in KINDS if offered(k, method)]))
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
        model = family.make(rng, family.n_states(k), d, init_params="", **common)
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
def models_maybe_corrupt(draw, method=None):
    """A valid model, or one with one parameter corrupted."""
    model, kind, d = draw(valid_models(method))
    if draw(st.booleans()):
        # (a parameter with no entries, e.g. coef_ of a regression on no
        # inputs, has nothing to corrupt)
        names = [n for n in model._param_names() if np.size(getattr(model, n)) > 0]
        name = draw(st.sampled_from(names))
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
    model, kind, d = data.draw(models_maybe_corrupt(method), label="model")
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


# -- stream states ----------
STATE_VALUES = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(2**63), 2**63 - 1),
    st.sampled_from([0, 1, -1, 0.5, 2, 10**9]),
)


@st.composite
def stream_states(draw):
    """A stream with random options after random pushes, its state, and the
    state with one random entry (or its dtype or shape) changed."""
    k = draw(st.integers(1, 4))
    sp, tm = draw(stochastic((k,))), draw(stochastic((k, k)))
    options = {
        "lag": draw(st.integers(0, 3)),
        "max_delay": draw(st.sampled_from([None, 0, 2, 5])),
        "viterbi": draw(st.booleans()),
    }
    n = draw(st.integers(0, 10))
    le = draw(arrays(np.float64, (n + 4, k), elements=st.floats(-30, 5)))
    stream = fasthmm.stream_filter(sp, tm, **options)
    pushed = 0
    for row in le[:n]:
        try:
            stream.push(row)
            pushed += 1
        except ValueError:  # impossible under the chain: the stream goes on
            pass
    state = {key: value.copy() for key, value in stream.get_state().items()}
    key = draw(st.sampled_from(sorted(state)))
    how = draw(st.sampled_from(["value", "value", "value", "dtype", "shape"]))
    arr = state[key]
    if how == "value" and arr.size:
        i = draw(st.integers(0, arr.size - 1))
        try:
            arr.flat[i] = draw(STATE_VALUES)
        except (OverflowError, ValueError):  # not representable: no change
            pass
    elif how == "dtype":
        with np.errstate(invalid="ignore"):  # NaN or inf cast: a change like any
            state[key] = arr.astype(draw(st.sampled_from([np.float64, np.int64, bool])))
    elif how == "shape":
        state[key] = arr.reshape(-1)[: max(0, arr.size - 1)]
    return sp, tm, options, le[n:], stream, state


def _stream_outputs(stream, rows):
    out = [[], [], []]
    for row in rows:
        try:
            out[0].append(stream.push(row))
        except ValueError:
            continue
        out[1].append(stream.smoothed)
        out[2].append(stream.states)
    tail, rest = stream.flush()
    return out, tail, rest


@FUZZ
@given(case=stream_states())
def test_stream_set_state_fails_cleanly_or_resumes_validly(case):
    sp, tm, options, rows, source, state = case
    k = len(sp)
    target = fasthmm.stream_filter(sp, tm, **options)
    fresh = target.get_state()
    try:
        target.set_state(state)
    except Exception as exc:  # noqa: BLE001
        _check_error(exc)
        after = target.get_state()
        for key in fresh:
            np.testing.assert_array_equal(after[key], fresh[key], err_msg=key)
        return
    event("state accepted")
    if state["flushed"]:  # an ended sequence: a push asks for reset()
        with pytest.raises(ValueError, match="reset"):
            target.push(np.zeros(k))
        return
    unchanged = all(
        np.asarray(state[key]).dtype == value.dtype
        and np.array_equal(state[key], value, equal_nan=True)
        for key, value in source.get_state().items()
    )
    (filtered, smoothed, states), tail, rest = _stream_outputs(target, rows)
    for row in filtered + smoothed + [tail]:
        _check_probabilities(row, len(row), k)
    for part in states + [rest]:
        assert np.all((part >= 0) & (part < k))
    assert np.isfinite(target.log_likelihood)
    if options["viterbi"]:
        assert target.n_decided == target.n_pushed
        assert not np.isnan(target.path_log_prob)
    if unchanged:
        event("state unchanged")
        (f2, s2, z2), tail2, rest2 = _stream_outputs(source, rows)
        for a, b in zip(filtered + smoothed + states, f2 + s2 + z2):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(tail, tail2)
        np.testing.assert_array_equal(rest, rest2)
        assert target.log_likelihood == source.log_likelihood


# -- model files ----------
# A saved model (every family, fitted by hand or not) damaged at random: cut
# short, bytes flipped or overwritten, its JSON header edited, or an entry
# replaced by a random array. Loading must raise a ValueError naming the
# file, or give back the same model (byte damage that hits nothing, such as a
# timestamp) or, after an edit, a model whose methods fail cleanly.

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats()
    | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
ENTRY_DTYPES = ("<f8", "<f4", "<i8", "|b1", "<c16", "<U3", ">f8")


def _json_paths(node, path=()):
    """Every (container, key) in a JSON document, depth first."""
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for key, value in list(items):
        yield node, key
        if isinstance(value, (dict, list)):
            yield from _json_paths(value, (*path, key))


def _archive(raw):
    with np.load(io.BytesIO(raw), allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


def _npz_bytes(entries):
    buf = io.BytesIO()
    np.savez(buf, **entries)
    return buf.getvalue()


DAMAGES = ("cut", "flip", "overwrite", "header", "entry")


@st.composite
def damaged_files(draw, raw, how):
    """``raw`` (a saved model's bytes) damaged in the way ``how`` names."""
    if how == "cut":
        return raw[: draw(st.integers(0, len(raw) - 1))]
    data = bytearray(raw)
    if how == "flip":
        for _ in range(draw(st.integers(1, 3))):
            data[draw(st.integers(0, len(data) - 1))] ^= draw(st.integers(1, 255))
        return bytes(data)
    if how == "overwrite":
        start = draw(st.integers(0, len(data) - 1))
        data[start : start + 8] = draw(st.binary(min_size=1, max_size=8))
        return bytes(data)
    entries = _archive(raw)
    if how == "header":
        header = json.loads(str(entries[HEADER_KEY]))
        node, key = draw(st.sampled_from(list(_json_paths(header))))
        if draw(st.integers(0, 3)) == 0:
            del node[key]
        else:
            node[key] = draw(JSON_VALUES)
        entries[HEADER_KEY] = np.array(json.dumps(header))
    else:
        key = draw(st.sampled_from(sorted(entries)))
        shape = tuple(draw(st.lists(st.integers(0, 4), max_size=3)))
        dtype = np.dtype(draw(st.sampled_from(ENTRY_DTYPES)))
        values = draw(arrays(dtype, shape))
        entries[key] = values
    return _npz_bytes(entries)


def _assert_same_saved_model(a, b):
    assert type(a) is type(b)
    pa, pb = a.get_params(), b.get_params()
    assert pa.keys() == pb.keys()
    for name in pa:
        if isinstance(pa[name], np.ndarray) or isinstance(pb[name], np.ndarray):
            np.testing.assert_array_equal(pa[name], pb[name])
        else:
            assert pa[name] == pb[name], name
    for name in a._param_names():
        va, vb = getattr(a, name, None), getattr(b, name, None)
        assert (va is None) == (vb is None), name
        if va is not None:
            np.testing.assert_array_equal(va, vb, err_msg=name)
    assert a.monitor_.history == b.monitor_.history


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


@pytest.mark.parametrize("how", DAMAGES)
@FUZZ
@given(data=st.data())
def test_damaged_model_files_fail_cleanly_or_load_the_same(fuzz_dir, how, data):
    model, kind, d = data.draw(valid_models(), label="model")
    if data.draw(st.booleans(), label="unfitted"):
        model = type(model)(**model.get_params())
    path = fuzz_dir / "model.npz"
    model.save(path)
    raw = path.read_bytes()
    _assert_same_saved_model(model, fasthmm.load(path))
    damaged = data.draw(damaged_files(raw, how), label="damaged")
    path.write_bytes(damaged)
    try:
        loaded = fasthmm.load(path)
    except Exception as exc:  # noqa: BLE001 - the point is which exceptions escape
        assert isinstance(exc, ValueError), f"{type(exc).__name__}: {exc}"
        assert str(path) in str(exc), str(exc)
        event("raised ValueError")
        return
    if how in ("cut", "flip", "overwrite"):
        event("loaded the same model")
        _assert_same_saved_model(model, loaded)
        return
    event("loaded an edited model")
    X, _ = data.draw(samples_for(kind, d, model.n_components), label="X")
    for method in ("score", "predict", "sample"):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                result = loaded.sample(3) if method == "sample" else (
                    getattr(loaded, method)(X)
                )  # fmt: skip
        except Exception as exc:  # noqa: BLE001
            _check_error(exc)
            continue
        if method == "score":
            assert not np.isnan(result)


# -- the command line's readers ----------
# A table of numbers written as a .csv or .txt file in the ways people write
# them (a byte-order mark, a header, spaces around separators, CRLF, blank
# and comment lines), sometimes damaged (a bad or missing token, an extra
# column, random bytes, cut short), decoded by `fasthmm decode`. The reference
# is a plain reading of the same bytes: where it finds a valid table the CLI
# must decode exactly it (or, for damaged input, fail cleanly); where it does
# not, the CLI must fail with one line on stderr and exit code 1.

JUNK_TOKENS = ("", "x", "nan", "inf", "-inf", "1e400", "1.2.3", "0x1", "1;2", '"1"')


@pytest.fixture(scope="module")
def cli_models(tmp_path_factory):
    """Hand-set GaussianHMMs with 1, 2 and 3 features, saved: {d: (model, path)}."""
    folder = tmp_path_factory.mktemp("cli")
    rng = np.random.RandomState(0)
    out = {}
    for d in (1, 2, 3):
        model = models.GaussianHMM(2, init_params="", params="")
        model.startprob_ = np.array([0.5, 0.5])
        model.transmat_ = np.array([[0.8, 0.2], [0.3, 0.7]])
        model.means_ = rng.normal(0, 3, (2, d))
        model.covars_ = np.ones((2, d))
        model.save(folder / f"m{d}.npz")
        out[d] = (model, folder / f"m{d}.npz")
    return out


TABLE_DAMAGES = (None, "token", "drop", "extra", "bytes", "cut")


@st.composite
def table_files(draw, damage):
    """(ext, raw bytes, d): a table of numbers written as text, damaged in
    the way ``damage`` names (None: not damaged)."""
    d = draw(st.integers(1, 3))
    n = draw(st.integers(1, 6))
    values = draw(arrays(np.float64, (n, d), elements=st.floats(-1e3, 1e3)))
    fmt = draw(st.sampled_from(["{!r}", "{:.6g}", "{:.3e}", "{:.0f}"]))
    rows = [[fmt.format(float(v)) for v in row] for row in values]
    if damage in ("token", "drop", "extra"):
        i, j = draw(st.integers(0, n - 1)), draw(st.integers(0, d - 1))
        if damage == "token":
            rows[i][j] = draw(st.sampled_from(JUNK_TOKENS))
        elif damage == "drop":
            del rows[i][j]
        else:
            rows[i].insert(j, "1")
    ext = draw(st.sampled_from([".csv", ".txt"]))
    sep = draw(
        st.sampled_from([",", ", ", " ,"] if ext == ".csv" else [" ", "\t", "  "])
    )
    lines = [sep.join(row) for row in rows]
    if draw(st.booleans()):
        lines.insert(0, sep.join(f"c{j}" for j in range(d)))
    for _ in range(draw(st.integers(0, 2))):
        where = draw(st.integers(0, len(lines)))
        lines.insert(where, draw(st.sampled_from(["", "   ", "# a comment", " # x,y"])))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    text = newline.join(lines) + (newline if draw(st.booleans()) else "")
    raw = (b"\xef\xbb\xbf" if draw(st.booleans()) else b"") + text.encode()
    if damage == "bytes":
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(st.binary(min_size=1, max_size=4)) + raw[at:]
    elif damage == "cut":
        raw = raw[: draw(st.integers(0, len(raw)))]
    return ext, raw, d


def _number(token):
    try:
        return float(token)
    except ValueError:
        return None


def reference_table(raw, ext):
    """The table in ``raw`` read plainly, or None when it is not one."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    text = text[1:] if text.startswith("\ufeff") else text
    delimiter = "," if ext == ".csv" else None
    rows = []
    for line in text.splitlines():
        line = line.split("#")[0]
        if line.strip():
            rows.append([t.strip() for t in line.strip().split(delimiter)])
    if not rows or len({len(r) for r in rows}) != 1:
        return None
    if any(_number(t) is None for t in rows[0]):
        rows = rows[1:]  # a header
    values = [[_number(t) for t in r] for r in rows]
    if not rows or any(v is None for r in values for v in r):
        return None
    X = np.array(values, dtype=float)
    return X if np.all(np.isfinite(X)) else None


def _run_cli(argv):
    """(exit code, stdout, stderr) of ``fasthmm.cli.main(argv)``."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli_main(argv)
    return code, out.getvalue(), err.getvalue()


def _assert_one_line_error(code, err):
    assert code == 1, (code, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fasthmm "), err
    assert "Traceback" not in err


@pytest.mark.parametrize("damage", TABLE_DAMAGES)
@FUZZ
@given(data=st.data())
def test_cli_reads_tables_or_fails_in_one_line(fuzz_dir, cli_models, damage, data):
    ext, raw, d = data.draw(table_files(damage), label="table")
    model, model_path = cli_models[d]
    path = fuzz_dir / f"table{ext}"
    path.write_bytes(raw)
    expected = reference_table(raw, ext)
    if expected is not None and expected.shape[1] != d:
        expected = None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the CLI must not leak a warning
        code, out, err = _run_cli(["decode", str(path), str(model_path)])
    if code == 0:
        assert expected is not None, f"read a table the reference refuses: {out!r}"
        states = np.array(out.split(), dtype=int)
        np.testing.assert_array_equal(states, model.predict(expected))
        assert f"{len(expected)} rows" in err
        event("decoded")
        return
    _assert_one_line_error(code, err)
    assert expected is None or damage, f"refused a valid table: {err}"
    event("failed in one line")


@st.composite
def partitions(draw, n):
    """A lengths file's lines: a partition of ``n``, written in various ways."""
    cuts = sorted(draw(st.sets(st.integers(1, n - 1), max_size=4)))
    parts = np.diff([0, *cuts, n])
    fmt = draw(st.sampled_from(["{}", "{}.0", "{:e}", " {} "]))
    header = ["length"] if draw(st.booleans()) else []
    return header + [fmt.format(int(p)) for p in parts]


LENGTH_TOKENS = st.lists(
    st.one_of(
        st.integers(-3, 12).map(str),
        st.sampled_from(["1e30", "2.5", "nan", "-inf", "9.3e18", "4.0", "x", ""]),
    ),
    min_size=1,
    max_size=4,
)


@FUZZ
@given(tokens=st.one_of(LENGTH_TOKENS, partitions(12)))
def test_cli_reads_lengths_or_fails_in_one_line(fuzz_dir, cli_models, tokens):
    model, model_path = cli_models[1]
    X = np.linspace(-3, 3, 12).reshape(-1, 1)
    np.save(fuzz_dir / "x.npy", X)
    (fuzz_dir / "lengths.txt").write_text("\n".join(tokens) + "\n")
    given = [t for t in tokens if t]
    if given and _number(given[0]) is None:
        given = given[1:]  # a header row
    values = [_number(t) for t in given]
    valid = (
        values
        and all(v is not None and v >= 1 and v == int(v) for v in values)
        and sum(values) == len(X)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        code, out, err = _run_cli(["score", str(fuzz_dir / "x.npy"), str(model_path),
                                   "--lengths", str(fuzz_dir / "lengths.txt")])  # fmt: skip
    if not valid:
        _assert_one_line_error(code, err)
        event("failed in one line")
        return
    event("read the lengths")
    assert code == 0, err
    score = float(out.split()[out.split().index("log-likelihood") + 1])
    lengths = [int(v) for v in values]
    assert score == pytest.approx(model.score(X, lengths), rel=1e-9)
