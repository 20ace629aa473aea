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
