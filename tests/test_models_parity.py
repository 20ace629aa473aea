"""Parity with hmmlearn 0.3.3 (skipped when hmmlearn is not installed).

Both libraries start from the same parameters (``init_params=""``), run 5 EM
iterations on the same data, and must agree on the score, the Viterbi path
(by log-probability, and exactly for continuous data), the posteriors and
the fitted parameters, to 1e-6 relative.

Settings chosen so that the two must agree (see SPEC.md, "hmmlearn 0.3.3"):
hmmlearn adds a scalar ``covars_prior`` to every entry of a full/tied matrix,
so it gets the matrix ``covars_prior * I`` explicitly; it records the
log-likelihood without the log prior and stops when that goes down, so it gets
``tol=-inf`` to run all 5 iterations; its ``covars_`` getter returns full
matrices, so the comparison reads ``_covars_`` (spherical: column 0); the
data keeps every variance far above ``min_covar``, which hmmlearn does not
apply in the M-step.
"""

import numpy as np
import pytest
from models_helpers import (
    COVARIANCE_TYPES,
    categorical_model,
    gaussian_model,
    model_loglik,
)
from reference import (
    batch_path_score,
)

hmm = pytest.importorskip("hmmlearn.hmm")

N_ITER = 5
RTOL = 1e-6
LENGTHS = [120, 80, 1, 99]


def _close(a, b, what, rtol=RTOL, atol=1e-10):
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=what)


def _copy_start(ours, theirs):
    theirs.startprob_ = ours.startprob_.copy()
    theirs.transmat_ = ours.transmat_.copy()


def _compare_inference(ours, theirs, X, exact_paths):
    """score, posteriors and Viterbi agree for the models' current parameters."""
    _close(ours.score(X, LENGTHS), theirs.score(X, LENGTHS), "score", rtol=1e-10)
    _close(
        ours.predict_proba(X, LENGTHS),
        theirs.predict_proba(X, LENGTHS),
        "predict_proba",
        rtol=0,
        atol=1e-8,
    )
    lp, states = ours.decode(X, LENGTHS, algorithm="viterbi")
    lp_h, states_h = theirs.decode(X, LENGTHS, algorithm="viterbi")
    _close(lp, lp_h, "Viterbi log-probability", rtol=1e-10)
    # Both paths attain the best log-probability (ties may be broken apart).
    le = model_loglik(ours, X)
    for path in (states, states_h):
        _close(
            batch_path_score(le, ours.startprob_, ours.transmat_, path, LENGTHS),
            lp,
            "log-probability of the Viterbi path",
            rtol=1e-10,
        )
    if exact_paths:
        np.testing.assert_array_equal(states, states_h)


def test_categorical_parity():
    rng = np.random.default_rng(0)
    k, m = 3, 5
    X, _ = categorical_model(rng, k, m).sample(sum(LENGTHS), random_state=1)
    ours = categorical_model(rng, k, m, n_iter=N_ITER, tol=0.0, params="ste")
    theirs = hmm.CategoricalHMM(
        k,
        n_features=m,
        init_params="",
        params="ste",
        n_iter=N_ITER,
        tol=-np.inf,
        implementation="log",
    )
    _copy_start(ours, theirs)
    theirs.emissionprob_ = ours.emissionprob_.copy()
    _compare_inference(ours, theirs, X, exact_paths=False)

    ours.fit(X, LENGTHS)
    theirs.fit(X, LENGTHS)
    assert len(ours.monitor_.history) == len(theirs.monitor_.history) == N_ITER
    # No prior: both record the log-likelihood of each E-step.
    _close(ours.monitor_.history, theirs.monitor_.history, "history", rtol=1e-10)
    _close(ours.startprob_, theirs.startprob_, "startprob_")
    _close(ours.transmat_, theirs.transmat_, "transmat_")
    _close(ours.emissionprob_, theirs.emissionprob_, "emissionprob_")
    _compare_inference(ours, theirs, X, exact_paths=False)
    _close(ours.aic(X, LENGTHS), theirs.aic(X, LENGTHS), "aic", rtol=1e-10)
    _close(ours.bic(X, LENGTHS), theirs.bic(X, LENGTHS), "bic", rtol=1e-10)


def test_categorical_parity_with_dirichlet_priors():
    rng = np.random.default_rng(1)
    k, m = 2, 4
    X, _ = categorical_model(rng, k, m).sample(sum(LENGTHS), random_state=2)
    priors = dict(
        startprob_prior=np.array([2.0, 3.0]),
        transmat_prior=1.5,
        emissionprob_prior=1.0 + rng.random((k, m)),
    )
    ours = categorical_model(rng, k, m, n_iter=N_ITER, tol=0.0, **priors)
    theirs = hmm.CategoricalHMM(
        k, n_features=m, init_params="", n_iter=N_ITER, tol=-np.inf, **priors
    )
    _copy_start(ours, theirs)
    theirs.emissionprob_ = ours.emissionprob_.copy()
    ours.fit(X, LENGTHS)
    theirs.fit(X, LENGTHS)
    _close(ours.startprob_, theirs.startprob_, "startprob_")
    _close(ours.transmat_, theirs.transmat_, "transmat_")
    _close(ours.emissionprob_, theirs.emissionprob_, "emissionprob_")


def _data_and_start(rng, k, d, cov, **kwargs):
    """Data from a random model, and a fasthmm model started near it.

    Every state of the start keeps a large share of the posterior mass: a
    state with almost none (below fasthmm's empty-state threshold, 1e-10)
    keeps its parameters in fasthmm and is updated from round-off in hmmlearn,
    which is not a comparison of the two algorithms. The states overlap, so
    EM is still moving after 5 iterations: with ``tol=0`` a round-off drop of
    the objective at convergence would end fasthmm's run early.
    """
    gen = gaussian_model(rng, k, d, "full", spread=1.5)
    X, _ = gen.sample(sum(LENGTHS), random_state=rng)
    start = gaussian_model(rng, k, d, cov, **kwargs)
    start.means_ = gen.means_ + 0.7 * rng.standard_normal((k, d))
    start.transmat_ = 0.5 * start.transmat_ + 0.5 * gen.transmat_
    return X, start


def _hmmlearn_covars_prior(value, cov, k, d):
    """fasthmm's scalar covars_prior (meaning value * I for full/tied) in the
    explicit form hmmlearn needs."""
    if cov in ("spherical", "diag") or np.ndim(value) > 0:
        return value
    eye = value * np.eye(d)
    return np.broadcast_to(eye, (k, d, d)).copy() if cov == "full" else eye


def _their_covars(theirs, cov):
    c = theirs._covars_
    return c[:, 0] if cov == "spherical" and c.ndim == 2 else c


PRIORS = {
    "default": {},
    "non-default": dict(
        means_prior=np.array([[0.5, -1.0, 0.0], [2.0, 2.0, 1.0], [-1.0, 0.0, 3.0]]),
        means_weight=2.0,
        covars_prior=0.5,
        covars_weight=6.0,
        startprob_prior=1.5,
        transmat_prior=np.full((3, 3), 2.0),
    ),
}


@pytest.mark.parametrize("prior", sorted(PRIORS))
@pytest.mark.parametrize("cov", COVARIANCE_TYPES)
def test_gaussian_parity(cov, prior):
    rng = np.random.default_rng([COVARIANCE_TYPES.index(cov), len(prior)])
    k, d = 3, 3
    X, ours = _data_and_start(rng, k, d, cov, n_iter=N_ITER, tol=0.0, **PRIORS[prior])
    kwargs = dict(PRIORS[prior])
    if "covars_prior" in kwargs:
        kwargs["covars_prior"] = _hmmlearn_covars_prior(
            kwargs["covars_prior"], cov, k, d
        )
    else:  # fasthmm's default, 1e-2 (times I for full/tied)
        kwargs["covars_prior"] = _hmmlearn_covars_prior(1e-2, cov, k, d)
    theirs = hmm.GaussianHMM(
        k,
        covariance_type=cov,
        init_params="",
        params="stmc",
        n_iter=N_ITER,
        tol=-np.inf,
        implementation="log",
        **kwargs,
    )
    _copy_start(ours, theirs)
    theirs.means_ = ours.means_.copy()
    theirs.covars_ = ours.covars_.copy()
    _compare_inference(ours, theirs, X, exact_paths=True)

    ours.fit(X, LENGTHS)
    theirs.fit(X, LENGTHS)
    assert len(ours.monitor_.history) == len(theirs.monitor_.history) == N_ITER
    _close(ours.startprob_, theirs.startprob_, "startprob_")
    _close(ours.transmat_, theirs.transmat_, "transmat_")
    _close(ours.means_, theirs.means_, "means_")
    shapes = dict(spherical=(k,), diag=(k, d), full=(k, d, d), tied=(d, d))
    assert ours.covars_.shape == shapes[cov]
    _close(ours.covars_, _their_covars(theirs, cov), "covars_")
    # The variances stayed far above the floor that only fasthmm applies.
    assert np.min(np.linalg.eigvalsh(theirs.covars_)) > 10 * ours.min_covar
    _compare_inference(ours, theirs, X, exact_paths=True)
    _close(ours.aic(X, LENGTHS), theirs.aic(X, LENGTHS), "aic", rtol=1e-10)
    _close(ours.bic(X, LENGTHS), theirs.bic(X, LENGTHS), "bic", rtol=1e-10)


@pytest.mark.parametrize("params", ["mc", "stm"])
@pytest.mark.parametrize("cov", COVARIANCE_TYPES)
def test_gaussian_parity_frozen_subsets(cov, params):
    """Frozen start/transitions, or frozen covariances.

    (hmmlearn 0.3.3 cannot update covariances with the means frozen: it
    gathers the posterior mass only when "m" is in params, and divides by 0.)
    """
    rng = np.random.default_rng([50 + COVARIANCE_TYPES.index(cov), len(params)])
    k, d = 2, 2
    X, ours = _data_and_start(rng, k, d, cov, n_iter=N_ITER, tol=0.0, params=params)
    theirs = hmm.GaussianHMM(
        k,
        covariance_type=cov,
        init_params="",
        params=params,
        n_iter=N_ITER,
        tol=-np.inf,
        covars_prior=_hmmlearn_covars_prior(1e-2, cov, k, d),
    )
    _copy_start(ours, theirs)
    theirs.means_ = ours.means_.copy()
    theirs.covars_ = ours.covars_.copy()
    frozen = {n: getattr(ours, n).copy() for n in ours._param_names()}
    ours.fit(X, LENGTHS)
    theirs.fit(X, LENGTHS)
    assert len(ours.monitor_.history) == N_ITER
    _close(ours.startprob_, theirs.startprob_, "startprob_")
    _close(ours.transmat_, theirs.transmat_, "transmat_")
    _close(ours.means_, theirs.means_, "means_")
    _close(ours.covars_, _their_covars(theirs, cov), "covars_")
    letters = dict(s="startprob_", t="transmat_", m="means_", c="covars_")
    for letter, name in letters.items():
        if letter not in params:
            np.testing.assert_array_equal(getattr(ours, name), frozen[name])
