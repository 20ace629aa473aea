"""partial_fit: stepwise online EM over mini-batches."""

import copy

import numpy as np
import pytest
from families import BY_NAME
from models_helpers import assert_unchanged, snapshot

import fasthmm
from fasthmm.online import step_size


def _truth(name):
    """A well-separated model to draw data from, and a perturbed start."""
    k = 3
    model = BY_NAME[name].make(np.random.default_rng(0), k)
    model.startprob_ = np.full(k, 1.0 / k)
    model.transmat_ = np.full((k, k), 0.1) + 0.7 * np.eye(k)
    if name == "categorical":
        model.emissionprob_ = np.array(
            [[0.7, 0.1, 0.1, 0.1], [0.1, 0.7, 0.1, 0.1], [0.1, 0.1, 0.1, 0.7]]
        )
        model.n_features = 4
        start = {}
        start["emissionprob_"] = np.array(
            [[0.5, 0.2, 0.15, 0.15], [0.2, 0.5, 0.15, 0.15], [0.2, 0.15, 0.15, 0.5]]
        )
    else:
        model.means_ = np.array([[-3.0, 0.0], [0.0, 3.0], [3.0, 0.0]])
        model.covars_ = np.ones((k, 2))
        start = {"means_": model.means_ + 0.7, "covars_": np.full((k, 2), 2.0)}
    return model, start


def _started(truth, start, **kwargs):
    model = copy.deepcopy(truth).set_params(init_params="", **kwargs)
    model.startprob_ = np.array([0.5, 0.3, 0.2])
    model.transmat_ = np.full((3, 3), 0.2) + 0.4 * np.eye(3)
    for name, value in start.items():
        setattr(model, name, value)
    return model


@pytest.mark.parametrize("name", ["gaussian-diag", "categorical"])
def test_200_batches_reach_the_batch_em_estimate(name):
    truth, start = _truth(name)
    rng = np.random.default_rng(1)
    batches = [truth.sample(250, random_state=rng)[0] for _ in range(200)]
    lengths = [len(b) for b in batches]
    batch_em = _started(truth, start, n_iter=100, tol=1e-6)
    batch_em.fit(np.concatenate(batches), lengths)
    online = _started(truth, start)
    for X in batches:
        online.partial_fit(X)
    # Stated tolerance: the online estimate averages over the last ~1/step
    # batches (about 40 here), so it differs from the batch estimate by the
    # noise of ~10^4 samples: 0.05 on means and probabilities.
    tol = 0.05
    emission = "emissionprob_" if name == "categorical" else "means_"
    # (startprob_ is left out: 200 first states are too few to compare.)
    for attr in ("transmat_", emission):
        np.testing.assert_allclose(
            getattr(online, attr), getattr(batch_em, attr), atol=tol, err_msg=attr
        )
    if name != "categorical":
        np.testing.assert_allclose(online.covars_, batch_em.covars_, atol=0.1)


@pytest.mark.parametrize("name", ["gaussian-full", "categorical", "poisson"])
def test_first_call_is_one_em_step_on_its_batch(name):
    family = BY_NAME[name]
    rng = np.random.default_rng(2)
    X = family.sample(rng, 3, 300)
    model = family.make(rng, 3)
    one_step = copy.deepcopy(model).set_params(n_iter=1).fit(X, [100, 200])
    online = copy.deepcopy(model).partial_fit(X, [100, 200])
    for attr in model._param_names():
        np.testing.assert_allclose(
            getattr(online, attr), getattr(one_step, attr), rtol=1e-12, atol=1e-14
        )


def test_second_call_blends_with_the_documented_step_size():
    # With no priors, the M-step depends on the blended statistics only through
    # ratios; means are posterior-weighted averages, so blending the per-sample
    # statistics of two batches is checked here against one EM step on the two
    # batches with each row weighted by hand (plain NumPy).
    truth, start = _truth("gaussian-diag")
    rng = np.random.default_rng(3)
    a = truth.sample(200, random_state=rng)[0]
    b = truth.sample(300, random_state=rng)[0]
    model = _started(truth, start, params="m", learning_offset=2.0, learning_decay=0.8)
    model.partial_fit(a)
    params_after_a = copy.deepcopy(model)
    model.partial_fit(b)
    eta = (2.0 + 2) ** -0.8
    assert step_size(2.0, 0.8, 2) == pytest.approx(eta)
    post_a = _started(truth, start).predict_proba(a)
    post_b = params_after_a.predict_proba(b)
    num = (1 - eta) * (post_a.T @ a) / len(a) + eta * (post_b.T @ b) / len(b)
    den = (1 - eta) * post_a.sum(0) / len(a) + eta * post_b.sum(0) / len(b)
    np.testing.assert_allclose(model.means_, num / den[:, None], rtol=1e-10)


def test_fit_resets_the_running_statistics():
    # After fit, partial_fit starts afresh: one EM step from the fitted values.
    truth, start = _truth("gaussian-diag")
    X = truth.sample(400, random_state=4)[0]
    model = _started(truth, start).partial_fit(X).partial_fit(X)
    model.set_params(n_iter=2).fit(X)
    one_step = copy.deepcopy(model).set_params(n_iter=1).fit(X)
    model.partial_fit(X)
    np.testing.assert_allclose(model.means_, one_step.means_, rtol=1e-12)


def test_memmap_batch_larger_than_the_budget(tmp_path):
    truth, start = _truth("gaussian-diag")
    X = truth.sample(600, random_state=5)[0]
    np.save(tmp_path / "x.npy", X)
    mm = np.load(tmp_path / "x.npy", mmap_mode="r")
    whole = _started(truth, start).partial_fit(X[:300], [100, 200]).partial_fit(X)
    blocked = _started(truth, start, memory_budget=20_000)
    blocked.partial_fit(X[:300], [100, 200]).partial_fit(mm)
    np.testing.assert_allclose(blocked.means_, whole.means_, rtol=1e-10)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"learning_decay": 0.5}, ValueError, r"learning_decay must be in \(0.5, 1\]"),
        ({"learning_decay": 1.5}, ValueError, r"learning_decay must be in \(0.5, 1\]"),
        ({"learning_offset": -1.0}, ValueError, "learning_offset must be >= 0"),
        ({"learning_offset": "a"}, TypeError, "learning_offset must be a real"),
    ],
)
def test_bad_learning_rate(kwargs, exc, match):
    model = fasthmm.GaussianHMM(2, **kwargs)
    with pytest.raises(exc, match=match):
        model.partial_fit(np.zeros((10, 1)))


def test_bad_batch_leaves_the_model_and_running_statistics_unchanged():
    truth, start = _truth("categorical")
    model = _started(truth, start).partial_fit(truth.sample(100, random_state=6)[0])
    before = snapshot(model)
    with pytest.raises(ValueError, match="X"):
        model.partial_fit(np.array([[0], [9]]))  # symbol 9 of 4
    with pytest.raises(ValueError, match="lengths"):
        model.partial_fit(np.array([[0], [1]]), [3])
    assert_unchanged(model, before, "a failed partial_fit")


# -- input-driven transitions ---------------------------------------------------


def _tvtp_truth():
    k, d = 2, 2
    truth = fasthmm.GaussianHMM(k, transition_inputs=True, init_params="")
    truth.startprob_ = np.array([0.5, 0.5])
    coef = np.zeros((k, k, d))
    coef[0, 0] = [2.0, 1.5]
    coef[1, 0] = [-2.0, 1.5]
    truth.transcoef_ = coef
    truth.means_ = np.array([[-2.0], [2.0]])
    truth.covars_ = np.ones((k, 1))
    return truth


def _tvtp_batch(truth, n, rng):
    W = np.column_stack([np.ones(n), rng.normal(size=n)])
    return truth.sample(n, random_state=rng, transition_inputs=W)[0], W


def _tvtp_started(truth, **kwargs):
    model = copy.deepcopy(truth).set_params(**kwargs)
    model.transcoef_ = 0.5 * truth.transcoef_
    model.means_ = truth.means_ + 0.5
    model.covars_ = np.full((2, 1), 2.0)
    return model


def _log_xi(model, X, W):
    """Per-step expected transition counts by a NumPy log-space
    forward-backward with softmax matrices (``xi[0] = 0``)."""
    from tests.reference import gaussian_loglik, logsumexp, softmax_transmats

    le = gaussian_loglik(X, model.means_, model.covars_, "diag")
    lA = np.log(softmax_transmats(model.transcoef_, W))
    n, k = le.shape
    la, lb = np.empty((n, k)), np.zeros((n, k))
    la[0] = np.log(model.startprob_) + le[0]
    for t in range(1, n):
        la[t] = logsumexp(la[t - 1][:, None] + lA[t], axis=0) + le[t]
    for t in range(n - 2, -1, -1):
        lb[t] = logsumexp(lA[t + 1] + (le[t + 1] + lb[t + 1])[None], axis=1)
    ll = logsumexp(la[-1])
    xi = np.zeros((n, k, k))
    xi[1:] = np.exp(la[:-1, :, None] + lA[1:] + (le[1:] + lb[1:])[:, None, :] - ll)
    return xi


def test_tvtp_first_call_is_one_em_step_on_its_batch():
    rng = np.random.default_rng(12)
    X, W = _tvtp_batch(_tvtp_truth(), 300, rng)
    model = fasthmm.GaussianHMM(2, transition_inputs=True, random_state=4)
    one_step = copy.deepcopy(model).set_params(n_iter=1)
    one_step.fit(X, [100, 200], transition_inputs=W)
    online = copy.deepcopy(model).partial_fit(X, [100, 200], transition_inputs=W)
    for attr in ("startprob_", "transcoef_", "means_", "covars_"):
        np.testing.assert_allclose(
            getattr(online, attr), getattr(one_step, attr), rtol=1e-10, atol=1e-12
        )


def test_tvtp_second_call_regresses_on_both_batches_weighted_by_the_step_size():
    # transcoef_ after two calls: the M-step's Newton steps from the first
    # call's coefficients on the steps of both batches, each batch's counts
    # (a NumPy forward-backward under the parameters of its E-step) weighted
    # (1 - eta) / n_a and eta / n_b, times the samples seen.
    from fasthmm.input_transitions import EM_NEWTON_STEPS, logistic_rows

    truth = _tvtp_truth()
    rng = np.random.default_rng(13)
    (a, wa), (b, wb) = _tvtp_batch(truth, 200, rng), _tvtp_batch(truth, 300, rng)
    model = _tvtp_started(truth, params="t", learning_offset=2.0, learning_decay=0.8)
    before_a = copy.deepcopy(model)
    model.partial_fit(a, transition_inputs=wa)
    after_a = copy.deepcopy(model)
    model.partial_fit(b, transition_inputs=wb)
    eta = step_size(2.0, 0.8, 2)
    xi = np.concatenate(
        [
            (1 - eta) * _log_xi(before_a, a, wa) / len(a),
            eta * _log_xi(after_a, b, wb) / len(b),
        ]
    ) * (len(a) + len(b))
    w = np.concatenate([wa, wb])
    expected = logistic_rows(after_a.transcoef_, xi, w, 0.0, EM_NEWTON_STEPS)
    np.testing.assert_allclose(model.transcoef_, expected, rtol=1e-8, atol=1e-10)
    assert not np.allclose(model.transcoef_, after_a.transcoef_)


def _logistic_objective(coef, xi, w):
    """sum_t sum_ij xi[t, i, j] log softmax_j(coef[i, j] @ w_t), in NumPy."""
    z = np.einsum("ijd,td->tij", coef, w)
    z -= z.max(axis=2, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=2, keepdims=True))
    return float((xi * logp).sum())


def test_kept_steps_merge_equal_inputs_exactly_and_keep_the_newest():
    from fasthmm.input_transitions import StepCounts
    from fasthmm.online import kept_steps

    rng = np.random.default_rng(14)
    n, k, d = 60, 3, 2
    w = np.column_stack([np.ones(n), rng.integers(0, 4, size=n)]).astype(float)
    xi = rng.random((n, k, k))
    xi[::7] = 0.0  # first rows of sequences: no counts
    merged = kept_steps(StepCounts(xi, w), 1000)
    assert merged.w.shape[0] == len(np.unique(w[xi.sum(axis=(1, 2)) > 0], axis=0))
    for _ in range(3):
        coef = rng.normal(size=(k, k, d))
        coef[:, -1] = 0.0
        assert _logistic_objective(coef, merged.xi, merged.w) == pytest.approx(
            _logistic_objective(coef, xi, w), rel=1e-12
        )
    # continuous inputs: the newest rows, each row of transcoef_ rescaled
    w = rng.normal(size=(n, d))
    kept = kept_steps(StepCounts(xi, w), 10)
    live = np.flatnonzero(xi.sum(axis=(1, 2)) > 0)[-10:]
    np.testing.assert_array_equal(kept.w, w[live])
    np.testing.assert_allclose(kept.xi.sum(axis=(0, 2)), xi.sum(axis=(0, 2)))
    ratio = kept.xi / xi[live]
    np.testing.assert_allclose(ratio, ratio[:1, :, :1] * np.ones_like(ratio))


def test_tvtp_batches_reach_the_batch_em_estimate():
    truth = _tvtp_truth()
    rng = np.random.default_rng(15)
    batches = [_tvtp_batch(truth, 200, rng) for _ in range(60)]
    X = np.concatenate([x for x, _ in batches])
    W = np.concatenate([w for _, w in batches])
    batch_em = _tvtp_started(truth, n_iter=100, tol=1e-6)
    batch_em.fit(X, [200] * 60, transition_inputs=W)
    online = _tvtp_started(truth)
    for x, w in batches:
        online.partial_fit(x, transition_inputs=w)
    # Stated tolerance: as for the stationary chain, the noise of the last
    # ~1/step batches (~10^4 samples): 0.15 on the logistic coefficients.
    np.testing.assert_allclose(online.transcoef_, batch_em.transcoef_, atol=0.15)
    np.testing.assert_allclose(online.means_, batch_em.means_, atol=0.05)


def test_tvtp_bad_transition_inputs_leave_the_model_unchanged():
    truth = _tvtp_truth()
    rng = np.random.default_rng(16)
    X, W = _tvtp_batch(truth, 100, rng)
    model = _tvtp_started(truth).partial_fit(X, transition_inputs=W)
    before = snapshot(model)
    with pytest.raises(ValueError, match="transition_inputs"):
        model.partial_fit(X)
    with pytest.raises(ValueError, match="transition_inputs"):
        model.partial_fit(X, transition_inputs=W[:50])
    assert_unchanged(model, before, "a failed partial_fit")
    with pytest.raises(ValueError, match="transition_inputs"):
        fasthmm.GaussianHMM(2).partial_fit(X, transition_inputs=W)
