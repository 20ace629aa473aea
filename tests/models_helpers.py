"""Shared helpers for the model tests: random models, hypothesis strategies and
plain NumPy references.

The references here do not import fasthmm: emission log-likelihoods are
computed from the model's parameters with NumPy alone (the Gaussian one through
full covariance matrices, ``slogdet`` and ``solve``, whatever the covariance
type), and forward-backward / Viterbi run in log space, a Python loop over time.
"""

import copy
import itertools

import numpy as np
from hypothesis import strategies as st

import fasthmm

COVARIANCE_TYPES = ("spherical", "diag", "full", "tied")
LOG_2PI = np.log(2.0 * np.pi)


# ---------------------------------------------------------------------------
# random parameters
def random_stochastic(rng, shape, floor=0.05):
    """Random probability rows bounded away from zero.

    Parameters
    ----------
    rng : numpy.random.Generator
    shape : tuple
        The last axis sums to 1.
    floor : float
        Every entry is at least ``floor / shape[-1]``-ish (no exact zeros).

    Returns
    -------
    probs : ndarray of shape ``shape``
    """
    a = rng.random(shape) + floor
    return a / a.sum(axis=-1, keepdims=True)


def random_spd(rng, d, scale=1.0):
    """A random symmetric positive-definite (d, d) matrix, eigenvalues in
    ``scale * [0.3, 1.5]``."""
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    vals = scale * rng.uniform(0.3, 1.5, d)
    return (q * vals) @ q.T


def random_covars(rng, covariance_type, k, d, scale=1.0):
    """Random covariances in the covariance type's own (hmmlearn) shape:
    (k,) spherical, (k, d) diag, (k, d, d) full, (d, d) tied."""
    if covariance_type == "spherical":
        return scale * rng.uniform(0.3, 1.5, k)
    if covariance_type == "diag":
        return scale * rng.uniform(0.3, 1.5, (k, d))
    if covariance_type == "full":
        return np.stack([random_spd(rng, d, scale) for _ in range(k)])
    return random_spd(rng, d, scale)


def full_covars(covars, covariance_type, k, d):
    """Covariances as a (k, d, d) stack of full matrices."""
    covars = np.asarray(covars, dtype=float)
    if covariance_type == "spherical":
        return np.stack([c * np.eye(d) for c in covars])
    if covariance_type == "diag":
        return np.stack([np.diag(c) for c in covars])
    if covariance_type == "full":
        return covars
    return np.stack([covars] * k)


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
# emission log-likelihoods, independently of fasthmm
def categorical_loglik(X, emissionprob):
    """log p(x_t | z_t = k) for categorical emissions.

    Parameters
    ----------
    X : array-like of int, shape (n_samples,) or (n_samples, 1)
    emissionprob : ndarray of shape (n_components, n_features)

    Returns
    -------
    log_emissions : ndarray of shape (n_samples, n_components)
    """
    with np.errstate(divide="ignore"):
        return np.log(np.asarray(emissionprob)[:, np.asarray(X).reshape(-1)].T)


def gaussian_loglik(X, means, covars, covariance_type):
    """log N(x_t; means[k], Sigma_k) through full matrices, for any type.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    means : ndarray of shape (n_components, n_features)
    covars : ndarray in the covariance type's shape

    Returns
    -------
    log_emissions : ndarray of shape (n_samples, n_components)
    """
    X = np.asarray(X, dtype=float)
    k, d = means.shape
    out = np.empty((X.shape[0], k))
    for c, sigma in enumerate(full_covars(covars, covariance_type, k, d)):
        diff = X - means[c]
        sign, logdet = np.linalg.slogdet(sigma)
        assert sign > 0
        maha = np.sum(diff * np.linalg.solve(sigma, diff.T).T, axis=1)
        out[:, c] = -0.5 * (d * LOG_2PI + logdet + maha)
    return out


def model_loglik(model, X):
    """Independent log-emission matrix of a fasthmm model's current parameters."""
    if isinstance(model, fasthmm.CategoricalHMM):
        return categorical_loglik(X, model.emissionprob_)
    return gaussian_loglik(X, model.means_, model.covars_, model.covariance_type)


# ---------------------------------------------------------------------------
# log-space forward-backward, Viterbi and brute force
def _logsumexp(a, axis):
    m = np.max(a, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        return np.squeeze(
            np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True)) + m, axis=axis
        )


def bounds(lengths, n):
    """(start, stop) row ranges of the sequences of a batch."""
    ends = np.cumsum([n] if lengths is None else lengths)
    assert ends[-1] == n
    return list(zip(np.concatenate(([0], ends[:-1])), ends))


def np_forward_backward(log_emissions, startprob, transmat, lengths=None):
    """Log-likelihood (summed over sequences) and posteriors, in log space.

    Returns
    -------
    log_likelihood : float
    posteriors : ndarray of shape (n_samples, n_components)
    """
    with np.errstate(divide="ignore"):
        ls, lt = np.log(startprob), np.log(transmat)
    n, k = log_emissions.shape
    post = np.empty((n, k))
    total = 0.0
    for lo, hi in bounds(lengths, n):
        le = log_emissions[lo:hi]
        t_len = hi - lo
        alpha = np.empty((t_len, k))
        beta = np.zeros((t_len, k))
        alpha[0] = ls + le[0]
        for t in range(1, t_len):
            alpha[t] = _logsumexp(alpha[t - 1][:, None] + lt, axis=0) + le[t]
        for t in range(t_len - 2, -1, -1):
            beta[t] = _logsumexp(lt + (le[t + 1] + beta[t + 1])[None, :], axis=1)
        ll = _logsumexp(alpha[-1], axis=0)
        total += ll
        post[lo:hi] = np.exp(alpha + beta - ll)
    return float(total), post


def path_log_prob(log_emissions, startprob, transmat, states, lengths=None):
    """log p(X, Z = states), summed over sequences."""
    with np.errstate(divide="ignore"):
        ls, lt = np.log(startprob), np.log(transmat)
    states = np.asarray(states)
    total = 0.0
    for lo, hi in bounds(lengths, log_emissions.shape[0]):
        z = states[lo:hi]
        total += ls[z[0]] + lt[z[:-1], z[1:]].sum()
        total += log_emissions[np.arange(lo, hi), z].sum()
    return float(total)


def brute_force_viterbi(log_emissions, startprob, transmat, lengths=None):
    """Best log p(X, Z) over all state paths, enumerated, summed over sequences."""
    k = log_emissions.shape[1]
    best = 0.0
    for lo, hi in bounds(lengths, log_emissions.shape[0]):
        le = log_emissions[lo:hi]
        best += max(
            path_log_prob(le, startprob, transmat, path)
            for path in itertools.product(range(k), repeat=hi - lo)
        )
    return float(best)


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
    "sample_posterior",
    "aic",
    "bic",
    "fit",
)
