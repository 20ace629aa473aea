"""Duration distributions of the semi-Markov chain and their M-steps.

A segment of state ``j`` lasts ``d`` steps, ``1 <= d <= max_duration``:

* ``"nonparametric"``: ``durationprob_[j, d - 1]`` free (a row of the
  probability simplex; Dirichlet prior ``durationprob_prior``);
* ``"poisson"``: ``d - 1 ~ Poisson(duration_lambda_[j])`` truncated to
  ``0 .. max_duration - 1``;
* ``"negbinom"``: ``d - 1 ~ NegativeBinomial`` of mean ``duration_lambda_[j]``
  and shape ``duration_shape_[j]`` (variance ``lambda + lambda**2 / shape``;
  the Poisson is the limit of a large shape), truncated likewise.

The M-steps maximise ``sum_d N[j, d] log pmf[j, d]`` over each family, given
expected duration counts ``N`` (complete segments, plus the censored last
segments' expected full durations):

* nonparametric: the normalised counts (the Dirichlet MAP with a prior);
* Poisson: the truncated Poisson is an exponential family in
  ``theta = log lambda`` with statistic ``d - 1``, so the objective is concave
  in ``theta`` and its maximiser matches the truncated mean to the counts'
  mean; found by bisection to machine precision;
* negative binomial: one coordinate step on the shape (a golden-section
  search on ``log shape``, kept only if it does not lower the objective), then
  the exact update of the mean for that shape (again a concave exponential
  family, in ``log(1 - p)``, with ``p`` kept in (0, 1)). Neither step lowers
  the objective, so EM stays monotone.
"""

import numpy as np

from .._dirichlet import dirichlet_map
from .._special import gammaln

KINDS = ("nonparametric", "poisson", "negbinom")
#: Smallest and largest ``log lambda`` (Poisson) and ``log(1 - p)`` searched.
_THETA_RANGE = (-60.0, 60.0)
#: Largest ``log(1 - p)`` of the negative binomial (p >= 1e-12).
_ETA_MAX = np.log1p(-1e-12)
#: Range of ``log shape`` searched by the negative binomial's update.
_LOG_SHAPE_RANGE = (np.log(1e-3), np.log(1e6))
_BISECTIONS = 200
_GOLDEN_STEPS = 60


def names_of(kind):
    """Attribute names of a kind's parameters (what fit writes and save keeps)."""
    return {
        "nonparametric": ("durationprob_",),
        "poisson": ("duration_lambda_",),
        "negbinom": ("duration_lambda_", "duration_shape_"),
    }[kind]


def survival(pmf):
    """``surv[j, d] = P(duration >= d + 1)``, summed from the tail.

    Parameters
    ----------
    pmf : ndarray of shape (n_components, max_duration)

    Returns
    -------
    surv : ndarray of shape (n_components, max_duration)
    """
    return np.ascontiguousarray(np.cumsum(pmf[:, ::-1], axis=1)[:, ::-1])


def _normalised(log_w):
    """Rows of ``exp(log_w)`` normalised to sum to one (max-shifted)."""
    w = np.exp(log_w - log_w.max(axis=1, keepdims=True))
    return w / w.sum(axis=1, keepdims=True)


def _poisson_log_weights(theta, dmax):
    k = np.arange(dmax)
    return theta[:, None] * k - gammaln(k + 1.0)[None, :]


def _negbinom_log_weights(eta, shape, dmax):
    k = np.arange(dmax)
    return (
        gammaln(k[None, :] + shape[:, None])
        - gammaln(k + 1.0)[None, :]
        + eta[:, None] * k
    )


def _eta(lam, shape):
    """``log(1 - p)`` of the negative binomial of mean ``lam`` and ``shape``."""
    return np.minimum(np.log(lam) - np.log(lam + shape), _ETA_MAX)


def pmf_of(kind, max_duration, params):
    """Duration probabilities, shape (n_components, max_duration).

    Parameters
    ----------
    kind : {"nonparametric", "poisson", "negbinom"}
    max_duration : int
    params : dict
        Checked parameters by attribute name (see :func:`names_of`).
    """
    if kind == "nonparametric":
        return params["durationprob_"]
    lam = params["duration_lambda_"]
    with np.errstate(divide="ignore"):
        if kind == "poisson":
            return _normalised(_poisson_log_weights(np.log(lam), max_duration))
        shape = params["duration_shape_"]
        return _normalised(_negbinom_log_weights(_eta(lam, shape), shape, max_duration))


def initial(kind, n_components, max_duration):
    """Starting parameters: uniform durations, or a mean of half the range."""
    if kind == "nonparametric":
        return {
            "durationprob_": np.full((n_components, max_duration), 1.0 / max_duration)
        }
    lam = np.full(n_components, max(0.5 * (max_duration - 1), 0.5))
    if kind == "poisson":
        return {"duration_lambda_": lam}
    return {"duration_lambda_": lam, "duration_shape_": np.ones(n_components)}


def n_free_parameters(kind, n_components, max_duration):
    return (
        n_components
        * {
            "nonparametric": max_duration - 1,
            "poisson": 1,
            "negbinom": 2,
        }[kind]
    )


def _mean_matching(log_weights_of, target, lo, hi):
    """Bisection for the natural parameter whose truncated mean is ``target``.

    ``log_weights_of(theta)`` gives the (n_components, max_duration) log
    weights of an exponential family with statistic ``d - 1``; its mean
    increases with ``theta``, and the expected log-likelihood is concave in
    ``theta``, so the root is the maximiser (clipped to ``[lo, hi]``).
    """
    lo = np.full(target.shape, lo)
    hi = np.full(target.shape, hi)
    k = np.arange(log_weights_of(lo).shape[1])
    for _ in range(_BISECTIONS):
        mid = 0.5 * (lo + hi)
        mean = _normalised(log_weights_of(mid)) @ k
        above = mean > target
        hi = np.where(above, mid, hi)
        lo = np.where(above, lo, mid)
    return 0.5 * (lo + hi)


def _expected_log_lik(counts, pmf):
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(counts > 0, counts * np.log(pmf), 0.0)
    return terms.sum(axis=1)


def m_step(kind, counts, params, prior=1.0):
    """New duration parameters from expected counts.

    Parameters
    ----------
    kind : str
    counts : ndarray of shape (n_components, max_duration)
        Expected numbers of segments of each full duration.
    params : dict
        Current parameters (kept for a state with no counts).
    prior : float or ndarray
        Dirichlet concentration of the nonparametric rows (1: none).

    Returns
    -------
    params : dict
    """
    if kind == "nonparametric":
        current = params["durationprob_"]
        return {"durationprob_": dirichlet_map(counts, prior, current)}
    dmax = counts.shape[1]
    total = counts.sum(axis=1)
    live = total > 0
    target = (counts @ np.arange(dmax)) / np.where(live, total, 1.0)
    lam = params["duration_lambda_"]
    if kind == "poisson":
        theta = _mean_matching(
            lambda th: _poisson_log_weights(th, dmax), target, *_THETA_RANGE
        )
        return {"duration_lambda_": np.where(live, np.exp(theta), lam)}
    shape = _shape_step(counts, _eta(lam, params["duration_shape_"]), params)
    eta = _mean_matching(
        lambda et: _negbinom_log_weights(et, shape, dmax),
        target,
        _THETA_RANGE[0],
        _ETA_MAX,
    )
    new_lam = shape * np.exp(eta) / -np.expm1(eta)
    return {
        "duration_lambda_": np.where(live, new_lam, lam),
        "duration_shape_": np.where(live, shape, params["duration_shape_"]),
    }


def _shape_step(counts, eta, params):
    """Golden-section step on ``log shape`` at fixed ``eta``; never worse."""
    dmax = counts.shape[1]
    shape = params["duration_shape_"]

    def q(log_shape):
        s = np.exp(log_shape)
        return _expected_log_lik(
            counts, _normalised(_negbinom_log_weights(eta, s, dmax))
        )

    golden = (np.sqrt(5.0) - 1.0) / 2.0
    a = np.full(shape.shape, _LOG_SHAPE_RANGE[0])
    b = np.full(shape.shape, _LOG_SHAPE_RANGE[1])
    x1 = b - golden * (b - a)
    x2 = a + golden * (b - a)
    f1, f2 = q(x1), q(x2)
    for _ in range(_GOLDEN_STEPS):
        left = f1 >= f2
        b = np.where(left, x2, b)
        a = np.where(left, a, x1)
        x2n = np.where(left, x1, a + golden * (b - a))
        x1n = np.where(left, b - golden * (b - a), x2)
        x1, x2 = x1n, x2n
        f1, f2 = q(x1), q(x2)
    candidate = 0.5 * (a + b)
    better = q(candidate) > q(np.log(shape))
    return np.where(better, np.exp(candidate), shape)


def sample(pmf_row, random_state):
    """One duration (>= 1) drawn from a row of probabilities."""
    u = random_state.random()
    d = int(np.searchsorted(np.cumsum(pmf_row), u * pmf_row.sum(), side="right"))
    return min(d, pmf_row.shape[0] - 1) + 1
