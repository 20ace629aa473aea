"""Hidden semi-Markov models against independent references.

- brute force: every segmentation of a tiny sequence (all three families,
  emissions from NumPy formulas) for the log-likelihood, posteriors, expected
  statistics and Viterbi;
- an expanded HMM over (state, elapsed time) run through the log-space NumPy
  reference of tests/reference.py, for long sequences;
- an HMM: geometric durations (tail lumped at max_duration = T) make an HSMM
  an HMM with self-transitions, checked against fasthmm.GaussianHMM;
- properties: EM never decreases its objective, results do not depend on the
  batching or the thread count, save/load, bad input.
"""

import math

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import (
    categorical_loglik,
    gaussian_loglik,
    log_forward_backward,
    logsumexp,
    random_covars,
    segmentation_score,
    segmentations,
)

import fasthmm
from fasthmm import CategoricalHSMM, GaussianHSMM, PoissonHSMM
from fasthmm.hsmm import segments
from fasthmm.hsmm.chain import SemiMarkovChain, full_durations
from fasthmm.hsmm.durations import m_step, pmf_of
from fasthmm.hsmm.inference import forward_backward, viterbi

KINDS = ("nonparametric", "poisson", "negbinom")


# -- references ---------------------------------------------------------------
def brute_force(le, startprob, transmat, pmf):
    """Log-likelihood, posteriors, start / jump / full-duration counts, and the
    best segmentation, by enumerating every segmentation of one sequence."""
    n, k = le.shape
    dmax = pmf.shape[1]
    surv = np.cumsum(pmf[:, ::-1], axis=1)[:, ::-1]
    items = [
        (seg, segmentation_score(le, startprob, transmat, pmf, seg))
        for seg in segmentations(n, k, dmax)
    ]
    scores = np.array([lp for _, lp in items])
    ll = logsumexp(scores)
    post = np.zeros((n, k))
    start, jumps, dur = np.zeros(k), np.zeros((k, k)), np.zeros((k, dmax))
    for seg, lp in items:
        w, t = np.exp(lp - ll), 0
        if w == 0.0:
            continue
        start[seg[0][0]] += w
        for m, (j, d) in enumerate(seg):
            post[t : t + d, j] += w
            if m < len(seg) - 1:
                jumps[j, seg[m + 1][0]] += w
                dur[j, d - 1] += w
            else:  # the full duration of a censored segment: d' >= d
                dur[j, d - 1 :] += w * pmf[j, d - 1 :] / surv[j, d - 1]
            t += d
    best_seg = items[int(np.argmax(scores))][0]
    best = np.concatenate([[j] * d for j, d in best_seg])
    return ll, post, start, jumps, dur, scores.max(), best


def expanded_hmm(startprob, transmat, pmf):
    """The HMM over (state, elapsed steps) equivalent to a semi-Markov chain.

    State ``j * D + d``: a segment of ``j`` running for ``d + 1`` steps. It
    continues with ``surv[d + 1] / surv[d]`` or ends with hazard
    ``pmf[d] / surv[d]`` and jumps by ``transmat``.
    """
    k, dmax = pmf.shape
    surv = np.cumsum(pmf[:, ::-1], axis=1)[:, ::-1]
    big = np.zeros((k * dmax, k * dmax))
    for j in range(k):
        for d in range(dmax):
            if surv[j, d] <= 0:
                big[j * dmax + d, j * dmax + d] = 1.0  # unreachable
                continue
            hazard = pmf[j, d] / surv[j, d]
            if d + 1 < dmax:
                big[j * dmax + d, j * dmax + d + 1] = 1.0 - hazard
            big[j * dmax + d, np.arange(k) * dmax] += hazard * transmat[j]
    start = np.zeros(k * dmax)
    start[np.arange(k) * dmax] = startprob
    return start, big


def random_chain(rng, k, dmax, zeros=False):
    """Random start, zero-diagonal jumps and duration probabilities."""
    startprob = rng.dirichlet(np.ones(k))
    transmat = np.zeros((k, k))
    off = ~np.eye(k, dtype=bool)
    transmat[off] = rng.dirichlet(np.ones(k - 1), size=k).ravel()
    pmf = rng.dirichlet(np.ones(dmax), size=k)
    if zeros and dmax > 1:
        pmf[:, rng.integers(dmax)] = 0.0
        pmf[pmf.sum(axis=1) == 0, 0] = 1.0
        pmf /= pmf.sum(axis=1, keepdims=True)
    return startprob, transmat, pmf


def chain_of(startprob, transmat, pmf):
    k, dmax = pmf.shape
    params = {"startprob_": startprob, "transmat_": transmat, "durationprob_": pmf}
    return SemiMarkovChain(k, dmax, "nonparametric", params).checked()


def poisson_loglik(X, lambdas):
    X = np.asarray(X, dtype=float)
    lgam = np.array([[math.lgamma(v + 1.0) for v in row] for row in X])
    return X @ np.log(lambdas).T - lambdas.sum(axis=1)[None, :] - lgam.sum(1)[:, None]


def family_model(family, rng, k, dmax, kind="nonparametric"):
    """A model with random parameters, a sample and its NumPy log-emissions."""
    startprob, transmat, pmf = random_chain(rng, k, dmax)
    common = dict(max_duration=dmax, duration=kind, init_params="")
    if family == "gaussian":
        cov = ["spherical", "diag", "full", "tied"][rng.integers(4)]
        m = GaussianHSMM(k, covariance_type=cov, **common)
        m.means_ = rng.normal(size=(k, 2)) * 2
        m.covars_ = random_covars(rng, cov, k, 2)
        reference = lambda X: gaussian_loglik(X, m.means_, m.covars_, cov)  # noqa: E731
    elif family == "categorical":
        m = CategoricalHSMM(k, **common)
        m.emissionprob_ = rng.dirichlet(np.ones(4), size=k)
        reference = lambda X: categorical_loglik(X, m.emissionprob_)  # noqa: E731
    else:
        m = PoissonHSMM(k, **common)
        m.lambdas_ = rng.uniform(0.5, 6.0, size=(k, 2))
        reference = lambda X: poisson_loglik(X, m.lambdas_)  # noqa: E731
    m.startprob_, m.transmat_ = startprob, transmat
    if kind == "nonparametric":
        m.durationprob_ = pmf
    else:
        m.duration_lambda_ = rng.uniform(0.2, 3.0, size=k)
        if kind == "negbinom":
            m.duration_shape_ = rng.uniform(0.5, 5.0, size=k)
    return m, reference


# -- exactness -----------------------------------------------------------------
@pytest.mark.parametrize("family", ["gaussian", "categorical", "poisson"])
@pytest.mark.parametrize("seed", range(4))
def test_models_equal_brute_force(family, seed):
    rng = np.random.default_rng(seed)
    k, dmax, n = int(rng.integers(2, 4)), int(rng.integers(1, 5)), 6
    kind = KINDS[seed % 3]
    m, reference = family_model(family, rng, k, dmax, kind)
    X, _ = m.sample(n, random_state=seed)
    le = reference(X)
    ll, post, _, _, _, best_lp, best = brute_force(
        le, m.startprob_, m.transmat_, m.durationprob_
    )
    assert m.score(X) == pytest.approx(ll, abs=1e-10)
    np.testing.assert_allclose(m.predict_proba(X), post, atol=1e-10)
    lp, states = m.decode(X)
    assert lp == pytest.approx(best_lp, abs=1e-10)
    np.testing.assert_array_equal(states, best)


@pytest.mark.parametrize("seed", range(30))
def test_statistics_equal_brute_force(seed):
    rng = np.random.default_rng(100 + seed)
    k, dmax, n = (
        int(rng.integers(2, 4)),
        int(rng.integers(1, 5)),
        int(rng.integers(1, 7)),
    )
    startprob, transmat, pmf = random_chain(rng, k, dmax, zeros=seed % 2 == 1)
    le = rng.normal(scale=3.0, size=(n, k))
    le[rng.random((n, k)) < 0.1] = -np.inf
    ll, post, start, jumps, dur, _, _ = brute_force(le, startprob, transmat, pmf)
    res = forward_backward(le, np.array([0, n]), chain_of(startprob, transmat, pmf))
    if not np.isfinite(ll):
        assert res.log_likelihood[0] == -np.inf
        return
    assert res.log_likelihood[0] == pytest.approx(ll, abs=1e-10)
    np.testing.assert_allclose(res.post, post, atol=1e-10)
    np.testing.assert_allclose(res.start, start, atol=1e-10)
    np.testing.assert_allclose(res.jumps, jumps, atol=1e-10)
    full = full_durations(res.complete, res.censored, pmf)
    np.testing.assert_allclose(full, dur, atol=1e-10)


@pytest.mark.parametrize("kind", KINDS)
def test_long_sequence_equals_expanded_hmm(kind):
    """A 3000-step sequence against the (state, elapsed) HMM in log space."""
    rng = np.random.default_rng(7)
    m, _ = family_model("gaussian", rng, 3, 6, kind)
    X, _ = m.sample(3000, random_state=1)
    le = m.log_emissions(X)
    start, big = expanded_hmm(m.startprob_, m.transmat_, m.durationprob_)
    ll, post, filt = log_forward_backward(np.repeat(le, 6, axis=1), start, big)
    assert m.score(X) == pytest.approx(ll, rel=1e-11)
    got = m.predict_proba(X)
    np.testing.assert_allclose(got, post.reshape(-1, 3, 6).sum(2), atol=1e-9)
    np.testing.assert_allclose(
        m.filter_proba(X), filt.reshape(-1, 3, 6).sum(2), atol=1e-9
    )


def test_geometric_durations_are_an_hmm():
    """Durations (1 - p) p**(d-1), the tail lumped at max_duration = T: the
    HSMM is the HMM whose self-transitions are p."""
    rng = np.random.default_rng(3)
    k, n = 3, 40
    startprob, jumps, _ = random_chain(rng, k, 1)
    stay = rng.uniform(0.3, 0.9, size=k)
    d = np.arange(1, n + 1)
    pmf = (1 - stay[:, None]) * stay[:, None] ** (d - 1)
    pmf[:, -1] = stay ** (n - 1)
    hsmm = GaussianHSMM(k, max_duration=n, init_params="")
    hmm = fasthmm.GaussianHMM(k, init_params="")
    means, covars = rng.normal(size=(k, 2)), rng.uniform(0.5, 2, (k, 2))
    for m in (hsmm, hmm):
        m.startprob_, m.means_, m.covars_ = startprob, means, covars
    hsmm.transmat_, hsmm.durationprob_ = jumps, pmf
    hmm.transmat_ = np.diag(stay) + (1 - stay)[:, None] * jumps
    X = rng.normal(size=(n, 2))
    assert hsmm.score(X) == pytest.approx(hmm.score(X), abs=1e-10)
    np.testing.assert_allclose(hsmm.predict_proba(X), hmm.predict_proba(X), atol=1e-10)
    assert hsmm.decode(X)[0] == pytest.approx(hmm.decode(X)[0], abs=1e-10)


def test_hundred_thousand_steps_finite_and_exact():
    rng = np.random.default_rng(5)
    m, _ = family_model("poisson", rng, 2, 5)
    X, _ = m.sample(100_000, random_state=2)
    ll, post = m.score_samples(X)
    assert np.isfinite(ll) and ll < -1e5
    start, big = expanded_hmm(m.startprob_, m.transmat_, m.durationprob_)
    ref = fasthmm.forward(np.repeat(m.log_emissions(X), 5, axis=1), start, big)
    assert ll == pytest.approx(ref, rel=1e-10)
    np.testing.assert_allclose(post.sum(axis=1), 1.0, atol=1e-9)
    assert post.min() >= 0.0


# -- durations -------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["poisson", "negbinom"])
def test_parametric_pmf_is_truncated_shifted_distribution(kind):
    lam, r, dmax = np.array([2.5, 0.3]), np.array([1.7, 4.0]), 8
    params = {"duration_lambda_": lam, "duration_shape_": r}
    pmf = pmf_of(kind, dmax, params)
    k = np.arange(dmax)
    if kind == "poisson":
        w = np.array(
            [[lv**i * math.exp(-lv) / math.factorial(i) for i in k] for lv in lam]
        )
    else:  # NB(r, p): Gamma(i + r) / (Gamma(r) i!) p**r (1 - p)**i, p = r / (r + lam)
        p = r / (r + lam)
        w = np.array(
            [
                [
                    math.gamma(i + rr)
                    / (math.gamma(rr) * math.factorial(i))
                    * pp**rr
                    * (1 - pp) ** i
                    for i in k
                ]
                for rr, pp in zip(r, p)
            ]
        )
    np.testing.assert_allclose(pmf, w / w.sum(axis=1, keepdims=True), rtol=1e-12)


def _q(counts, pmf):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(counts > 0, counts * np.log(pmf), 0.0).sum(axis=1)


def test_poisson_m_step_is_the_maximiser():
    """Against a fine grid of rates: the M-step's objective is the best."""
    rng = np.random.default_rng(0)
    counts = rng.random((3, 7)) * 5
    new = m_step("poisson", counts, {"duration_lambda_": np.ones(3)})
    best = _q(counts, pmf_of("poisson", 7, new))
    grid = np.exp(np.linspace(-4, 4, 4001))
    for j in range(3):
        q = [
            _q(
                counts[j : j + 1],
                pmf_of("poisson", 7, {"duration_lambda_": np.array([g])}),
            )[0]
            for g in grid
        ]
        assert best[j] >= max(q) - 1e-12


@given(st.integers(0, 10**6), st.integers(1, 9))
@settings(max_examples=40)
def test_negbinom_m_step_never_lowers_the_objective(seed, dmax):
    rng = np.random.default_rng(seed)
    counts = rng.random((2, dmax)) * rng.integers(0, 2, (2, dmax)) * 10
    old = {
        "duration_lambda_": rng.uniform(0.01, 20, 2),
        "duration_shape_": rng.uniform(0.01, 50, 2),
    }
    new = m_step("negbinom", counts, old)
    before = _q(counts, pmf_of("negbinom", dmax, old))
    after = _q(counts, pmf_of("negbinom", dmax, new))
    assert np.all(after >= before - 1e-9 * (1 + np.abs(before)))


def test_stationary_distribution_is_the_long_run_share_of_time():
    rng = np.random.default_rng(13)
    m, _ = family_model("categorical", rng, 3, 4)
    _, states = m.sample(200_000, random_state=4)
    np.testing.assert_allclose(
        m.get_stationary_distribution(), np.bincount(states) / states.size, atol=0.01
    )


def test_sampled_durations_follow_durationprob():
    rng = np.random.default_rng(11)
    m, _ = family_model("categorical", rng, 3, 4)
    X, states = m.sample(60_000, random_state=3)
    _, lengths, labels = segments(states)
    lengths, labels = lengths[:-1], labels[:-1]  # the last one is cut
    for j in range(3):
        freq = np.bincount(lengths[labels == j], minlength=5)[1:] / np.sum(labels == j)
        np.testing.assert_allclose(freq, m.durationprob_[j], atol=0.02)
    jumps = np.zeros((3, 3))
    np.add.at(jumps, (labels[:-1], labels[1:]), 1.0)
    np.testing.assert_allclose(
        jumps / jumps.sum(1, keepdims=True), m.transmat_, atol=0.02
    )


# -- EM --------------------------------------------------------------------------
@given(
    st.integers(0, 10**6),
    st.sampled_from(KINDS),
    st.sampled_from(["gaussian", "categorical", "poisson"]),
)
@settings(max_examples=12)
def test_em_never_decreases_its_objective(seed, kind, family):
    rng = np.random.default_rng(seed)
    m, _ = family_model(family, rng, 3, 5, kind)
    X, _ = m.sample(150, random_state=seed)
    fit = type(m)(
        3,
        max_duration=5,
        duration=kind,
        n_iter=8,
        tol=-np.inf,
        random_state=seed,
        durationprob_prior=1.5 if kind == "nonparametric" else 1.0,
    )
    fit.fit(X, [50, 100])
    h = np.array(fit.monitor_.history)
    assert len(h) == 8
    assert np.all(np.diff(h) >= -1e-8 * np.abs(h[1:]))
    assert np.all(np.abs(np.diagonal(fit.transmat_)) == 0.0)


def test_known_states_restrict_the_segmentations():
    """One EM iteration with labels: the objective is log p(X, labels) and the
    new startprob_ the first-state posterior given them, by brute force over
    the segmentations that agree with the labels."""
    rng = np.random.default_rng(12)
    m, _ = family_model("gaussian", rng, 3, 3)
    X, _ = m.sample(6, random_state=1)
    labels = np.array([-1, 1, -1, -1, 2, -1])
    le = m.log_emissions(X)
    clamped = le.copy()
    for t in np.flatnonzero(labels >= 0):
        clamped[t, np.arange(3) != labels[t]] = -np.inf
    ll, _, start, _, _, _, _ = brute_force(
        clamped, m.startprob_, m.transmat_, m.durationprob_
    )
    m.set_params(n_iter=1, params="s", covars_prior=0.0)
    m.fit(X, states=labels)
    assert m.monitor_.history[0] == pytest.approx(ll, abs=1e-10)
    np.testing.assert_allclose(m.startprob_, start, atol=1e-10)
    with pytest.raises(ValueError, match="zero probability"):
        m.fit(X, states=[1, 1, 1, 1, -1, -1])  # a run of 4 > max_duration


def test_fit_recovers_durations():
    rng = np.random.default_rng(2)
    true = GaussianHSMM(2, max_duration=12, init_params="")
    true.startprob_ = np.array([0.5, 0.5])
    true.transmat_ = np.array([[0.0, 1.0], [1.0, 0.0]])
    pmf = np.zeros((2, 12))
    pmf[0, 2], pmf[1, 8] = 1.0, 1.0  # durations 3 and 9
    true.durationprob_ = pmf
    true.means_, true.covars_ = np.array([[0.0], [3.0]]), np.ones((2, 1))
    X, states = true.sample(4000, random_state=rng.integers(1 << 30))
    m = GaussianHSMM(2, max_duration=12, n_iter=50, random_state=0).fit(X)
    order = np.argsort(m.means_[:, 0])
    np.testing.assert_allclose(m.durationprob_[order], pmf, atol=0.03)


def test_batching_and_threads_do_not_change_results():
    rng = np.random.default_rng(4)
    m, _ = family_model("gaussian", rng, 3, 6)
    seqs = [m.sample(n, random_state=i)[0] for i, n in enumerate([80, 5, 130, 40])]
    X, lengths = np.concatenate(seqs), [len(s) for s in seqs]
    ll, post = m.score_samples(X, lengths)
    parts = [m.score_samples(s) for s in seqs]
    assert ll == pytest.approx(sum(p[0] for p in parts), abs=1e-9)
    np.testing.assert_array_equal(post, np.concatenate([p[1] for p in parts]))
    np.testing.assert_array_equal(
        m.predict(X, lengths), np.concatenate([m.predict(s) for s in seqs])
    )
    # Many short sequences too: more sequences than blocks.
    more = [
        m.sample(int(n), random_state=i)[0]
        for i, n in enumerate(rng.integers(1, 30, 150))
    ]
    seqs += more
    X, lengths = np.concatenate(seqs), [len(s) for s in seqs]
    fits = []
    for threads in (1, numba.config.NUMBA_NUM_THREADS):
        with _threads(threads):
            f = GaussianHSMM(3, max_duration=6, n_iter=3, random_state=0)
            fits.append(f.fit(X, lengths))
    for name in ("startprob_", "transmat_", "durationprob_", "means_", "covars_"):
        np.testing.assert_array_equal(getattr(fits[0], name), getattr(fits[1], name))
    assert fits[0].monitor_.history == fits[1].monitor_.history
    # The kernels themselves (the models run small work on one thread).
    starts = np.concatenate(([0], np.cumsum(lengths)))
    chain, le = m._checked_params().transitions, m.log_emissions(X)
    passes = []
    for threads in (1, numba.config.NUMBA_NUM_THREADS):
        with _threads(threads):
            passes.append(
                (forward_backward(le, starts, chain), viterbi(le, starts, chain))
            )
    for a, b in zip(*passes):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)


class _threads:
    def __init__(self, n):
        self.n = n

    def __enter__(self):
        self.old = numba.get_num_threads()
        numba.set_num_threads(self.n)

    def __exit__(self, *exc):
        numba.set_num_threads(self.old)


@pytest.mark.parametrize("kind", KINDS)
def test_save_load_round_trip(kind, tmp_path):
    rng = np.random.default_rng(8)
    m, _ = family_model("poisson", rng, 3, 5, kind)
    X, _ = m.sample(200, random_state=0)
    m.set_params(n_iter=3, init_params="").fit(X)
    path = tmp_path / "m.npz"
    m.save(path)
    back = fasthmm.load(path)
    assert type(back) is PoissonHSMM and back.duration == kind
    assert back.score(X) == m.score(X)
    np.testing.assert_array_equal(back.durationprob_, m.durationprob_)
    np.testing.assert_array_equal(back.predict(X), m.predict(X))
    assert back.monitor_.history == m.monitor_.history


# -- bad input ---------------------------------------------------------------------
def _fitted():
    rng = np.random.default_rng(9)
    m, _ = family_model("gaussian", rng, 3, 4)
    return m, m.sample(30, random_state=0)[0]


def test_bad_hyperparameters():
    X = np.zeros((20, 1))
    with pytest.raises(ValueError, match="max_duration"):
        GaussianHSMM(2, max_duration=0).fit(X)
    with pytest.raises(TypeError, match="max_duration"):
        GaussianHSMM(2, max_duration=2.5).fit(X)
    with pytest.raises(ValueError, match="n_components"):
        GaussianHSMM(1).fit(X)
    with pytest.raises(ValueError, match="duration"):
        GaussianHSMM(2, duration="gamma").fit(X)
    with pytest.raises(ValueError, match="durationprob_prior"):
        GaussianHSMM(2, max_duration=3, durationprob_prior=np.ones((2, 4))).fit(X)


def test_bad_parameters_are_named():
    m, X = _fitted()
    t = m.transmat_
    m.transmat_ = np.full((3, 3), 1 / 3)
    with pytest.raises(ValueError, match="transmat_.*zero diagonal"):
        m.score(X)
    m.transmat_ = t
    pmf = m.durationprob_
    m.durationprob_ = pmf * 0.9
    with pytest.raises(ValueError, match="durationprob_.*sum to 1"):
        m.score(X)
    m.durationprob_ = pmf[:, :3]
    with pytest.raises(ValueError, match="durationprob_.*shape"):
        m.score(X)
    p = PoissonHSMM(2, duration="poisson", init_params="")
    p.duration_lambda_ = np.array([1.0, -1.0])
    with pytest.raises(ValueError, match="duration_lambda_"):
        p.durationprob_ = np.full((2, 20), 0.05)


def test_failed_fit_leaves_the_model_unchanged():
    """Durations of exactly 4 steps and symbols only one state emits: data
    switching symbols every step has probability zero, and EM stops."""
    m = CategoricalHSMM(2, max_duration=4, init_params="")
    m.startprob_ = np.array([0.5, 0.5])
    m.transmat_ = np.array([[0.0, 1.0], [1.0, 0.0]])
    m.durationprob_ = np.array([[0.0, 0.0, 0.0, 1.0]] * 2)
    m.emissionprob_ = np.eye(2)
    before = {n: np.copy(getattr(m, n)) for n in m._param_names() if hasattr(m, n)}
    with pytest.raises(ValueError, match="zero probability"):
        m.fit(np.array([[0], [1], [0], [1], [0], [1]]))
    for name, value in before.items():
        np.testing.assert_array_equal(getattr(m, name), value)


def test_normaliser_below_float64_range_is_an_error_not_nan():
    """A state of start probability 1e-310 that alone explains the first
    observation: the first normaliser is subnormal."""
    m = GaussianHSMM(2, max_duration=3, init_params="")
    m.startprob_ = np.array([1.0 - 1e-300, 1e-310])
    m.transmat_ = np.array([[0.0, 1.0], [1.0, 0.0]])
    m.durationprob_ = np.full((2, 3), 1 / 3)
    m.means_, m.covars_ = np.array([[0.0], [60.0]]), np.ones((2, 1))
    X = np.array([[60.0], [0.0], [0.0]])
    for call in (m.score, m.predict_proba, m.fit):
        with pytest.raises(ValueError, match="below 1e-308"):
            call(X)
    X[0] = 30.0  # extreme but representable: finite
    assert np.isfinite(m.score(X))


def test_segments_of_a_path():
    starts, lengths, labels = segments([0, 0, 1, 1, 1, 0, 2, 2], lengths=[4, 4])
    np.testing.assert_array_equal(starts, [0, 2, 4, 5, 6])
    np.testing.assert_array_equal(lengths, [2, 2, 1, 1, 2])
    np.testing.assert_array_equal(labels, [0, 1, 1, 0, 2])


def test_not_offered_features_say_so():
    m, X = _fitted()
    with pytest.raises(NotImplementedError, match="stream"):
        m.stream()


@pytest.mark.parametrize("kind", KINDS)
def test_load_checks_the_parameters_of_every_duration_kind(kind, tmp_path):
    # The parameter list held both parametric kinds' names, so a
    # nonparametric model never looked complete and load skipped its checks.
    model, _ = family_model("poisson", np.random.default_rng(3), 2, 3, kind)
    assert all(getattr(model, n) is not None for n in model._param_names())
    model.transmat_ = np.array([[0.5, 0.5], [1.0, 0.0]])
    model.save(tmp_path / "m.npz")
    with pytest.raises(ValueError, match="zero diagonal"):
        fasthmm.load(tmp_path / "m.npz")
