"""Shared helpers for the model tests: random models set by hand, hypothesis
strategies and model-state comparison.

The references themselves (emission log-likelihoods from a model's
parameters, log-space forward-backward, brute force) live in
:mod:`reference`; :func:`model_loglik` only dispatches to them.
"""

import copy

import numpy as np
from hypothesis import strategies as st
from reference import (
    categorical_loglik,
    gaussian_loglik,
    random_covars,
    random_stochastic,
)

import fasthmm

COVARIANCE_TYPES = ("spherical", "diag", "full", "tied")


# ---------------------------------------------------------------------------
# random parameters
def categorical_model(rng, k, m, **kwargs):
    """A CategoricalHMM with random strictly positive parameters set by hand
    (``init_params=""``: fit starts from them)."""
    model = fasthmm.CategoricalHMM(k, n_features=m, init_params="", **kwargs)
    model.startprob_ = random_stochastic(rng, (k,))
    model.transmat_ = random_stochastic(rng, (k, k))
    model.emissionprob_ = random_stochastic(rng, (k, m))
    return model


def gaussian_model(rng, k, d, covariance_type, spread=2.0, **kwargs):
    """A GaussianHMM with random parameters set by hand (``init_params=""``)."""
    model = fasthmm.GaussianHMM(
        k, covariance_type=covariance_type, init_params="", **kwargs
    )
    model.startprob_ = random_stochastic(rng, (k,))
    model.transmat_ = random_stochastic(rng, (k, k))
    model.means_ = spread * rng.standard_normal((k, d))
    model.covars_ = random_covars(rng, covariance_type, k, d)
    return model


# ---------------------------------------------------------------------------
# hypothesis strategies
def lengths_strategy(min_total=1, max_len=30, max_seqs=4):
    """Lists of sequence lengths (each >= 1) summing to at least ``min_total``."""
    return st.lists(st.integers(1, max_len), min_size=1, max_size=max_seqs).filter(
        lambda ls: sum(ls) >= min_total
    )


def letters_strategy(letters):
    """Any subset of ``letters`` (as a string in the original order)."""
    return st.lists(st.booleans(), min_size=len(letters), max_size=len(letters)).map(
        lambda keep: "".join(c for c, k in zip(letters, keep) if k)
    )


seeds = st.integers(0, 2**32 - 1)


# ---------------------------------------------------------------------------
# references
def model_loglik(model, X):
    """Independent log-emission matrix of a fasthmm model's current parameters."""
    if isinstance(model, fasthmm.CategoricalHMM):
        return categorical_loglik(X, model.emissionprob_)
    return gaussian_loglik(X, model.means_, model.covars_, model.covariance_type)


def assert_close(actual, expected, rtol=1e-10, atol=1e-10, what=""):
    """``np.testing.assert_allclose`` with the tests' default tolerances."""
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, err_msg=what)


# -- model state comparison (fuzz and validation tests) -------------------------


def deep_equal(a, b):
    """Exact equality of nested model state (arrays by dtype, shape and value)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        if a.dtype == object or b.dtype == object:
            return a.shape == b.shape and all(
                deep_equal(x, y) for x, y in zip(a.flat, b.flat)
            )
        return (
            a.shape == b.shape
            and a.dtype == b.dtype
            and np.array_equal(a, b, equal_nan=True)
        )
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(deep_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return (
            type(a) is type(b)
            and len(a) == len(b)
            and all(deep_equal(x, y) for x, y in zip(a, b))
        )
    if hasattr(a, "__dict__") and type(a) is type(b) and not isinstance(a, type):
        return deep_equal(vars(a), vars(b))
    try:
        return bool(a == b) or (a != a and b != b)
    except (TypeError, ValueError):
        return a is b


def snapshot(model):
    """A deep copy of a model's attributes, for :func:`assert_unchanged`."""
    return copy.deepcopy(vars(model))


def assert_unchanged(model, before, what="a failed call"):
    """Assert that no attribute of ``model`` differs from the ``before`` snapshot."""
    after = vars(model)
    changed = [
        k
        for k in set(before) | set(after)
        if not deep_equal(before.get(k), after.get(k))
    ]
    assert not changed, f"{what} changed {changed}"


#: The public model methods that take samples ``X``.
X_METHODS = (
    "score",
    "score_samples",
    "decode",
    "predict",
    "predict_proba",
    "filter_proba",
    "forecast_proba",
    "forecast",
    "sample_posterior",
    "aic",
    "bic",
    "fit",
)


def push_all(stream, pieces):
    """Push every ``(x, keywords of push)`` piece, then flush; the filtered,
    smoothed and Viterbi outputs, each concatenated (the flush's included)."""
    filtered, smoothed, states = [], [], []
    for x, kw in pieces:
        filtered.append(stream.push(x, **kw))
        smoothed.append(stream.smoothed)
        states.append(stream.states)
    tail, rest = stream.flush()
    return (
        np.concatenate(filtered),
        np.concatenate(smoothed + [tail]),
        np.concatenate(states + [rest]),
    )


def stream_state(stream):
    """A copy of a stream's state (``Stream.get_state``)."""
    return {k: v.copy() for k, v in stream.get_state().items()}


def assert_same_stream_state(stream, before):
    """The stream's state equals ``before`` (from :func:`stream_state`)."""
    after = stream.get_state()
    assert before.keys() == after.keys()
    for key in before:
        np.testing.assert_array_equal(before[key], after[key], err_msg=key)
