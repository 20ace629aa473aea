"""External truth: the R package mhsmm's example of a discrete HMM with NA.

mhsmm's vignette "Smoothing discrete data (I)" (github cran/mhsmm,
vignettes/DHMM1.Rnw) fits ``smooth.discrete(y1)`` to a two-symbol series with
one NA and prints ``predict(obj, x=y2)``: the Viterbi path of a second series
(with one NA) and ``loglik -24.53755``, which is the Viterbi score,
max over paths of log p(y2, z), under the fitted model (``predict.hmm`` with
``method="viterbi"`` returns the C routine ``viterbi_hmm``'s value). A
missing value has emission probability 1 (``.dpmf`` sets NA to 1).

Its fit is mhsmm's EM (``hmmfit``, tol 1e-8) from: start = the symbols'
frequencies, transitions = the frequencies of observed pairs, emission rows
(0.5, 0.5). Its discrete M-step (``.mstep.pmf``) is

    ans[i, j] <- sum(wt[which(x[!is.na(x)] == j), i]) / sum(wt[!is.na(x), i])

which indexes the posterior weights ``wt`` (one row per time step, NA
included) by positions in the NA-removed series: after the NA every weight is
taken from the step before, and the rows do not sum to 1 (the vignette prints
0.7925 + 0.2148). The test below runs that EM in NumPy, reproduces the printed
parameters and -24.53755 with fasthmm's Viterbi over log-emissions (a missing
row is a row of 0), and shows that exact EM (fasthmm with
``missing="marginalize"``, checked against the same loop with the weights
indexed by time) reaches another fixed point, with rows that sum to 1.
"""

import numpy as np
import pytest
from reference import log_forward_backward, log_transition_counts

import fasthmm

NA = np.nan
Y1 = np.array(
    [1, 1, 1, 1, 2, 1, 1, NA, 1, 1, 2, 1, 1, 1, 2, 1, 1, 1, 1, 1, 2, 2, 2, 2, 1]
    + [2, 2, 2, 1, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 1, 1]
)
Y2 = np.array(
    [1, 1, 1, 1, 2, 2, 2, 1, 1, 2, 1, 1, 1, 2, 1, 1, 1, 1, 1, 2, 2, 2, NA, 1, 1]
    + [1, 2, 2, 1, 2, 2, 2]
)
#: What the vignette prints.
VITERBI_SCORE = -24.53755
TRANSITION = np.array([[0.920, 0.080], [0.136, 0.864]])
EMISSION_ROW_1 = np.array([0.7925235, 0.2147958])
EMISSION_ROW_2_FIRST = 0.3418576
VITERBI_PATH = np.array([1] * 19 + [2] * 13)


def _start(y):
    """smooth.discrete's starting values."""
    seen = y[~np.isnan(y)].astype(int) - 1
    init = np.bincount(seen, minlength=2) / seen.size
    pairs = ~np.isnan(y[:-1]) & ~np.isnan(y[1:])
    counts = np.zeros((2, 2))
    np.add.at(counts, (y[:-1][pairs].astype(int) - 1, y[1:][pairs].astype(int) - 1), 1)
    return init, counts / counts.sum(axis=1, keepdims=True), np.full((2, 2), 0.5)


def _log_emissions(y, emission):
    le = np.zeros((y.size, 2))
    seen = ~np.isnan(y)
    le[seen] = np.log(emission[:, y[seen].astype(int) - 1].T)
    return le


def _em(y, positional, tol=1e-8, maxit=1000):
    """mhsmm's hmmfit loop (stop before the M-step once the log-likelihood
    changes by less than ``tol``); ``positional``: its M-step, else exact."""
    init, trans, emission = _start(y)
    seen = ~np.isnan(y)
    previous = -np.inf
    for _ in range(maxit):
        le = _log_emissions(y, emission)
        ll, post, _ = log_forward_backward(le, init, trans)
        if abs(ll - previous) < tol:
            break
        previous = ll
        xi = log_transition_counts(le, init, trans)
        weights = post[: seen.sum()] if positional else post[seen]
        symbols = y[seen].astype(int) - 1
        emission = np.array(
            [
                [weights[symbols == j, i].sum() / post[seen, i].sum() for j in range(2)]
                for i in range(2)
            ]
        )
        trans = xi / post[:-1].sum(axis=0)[:, None]
        init = post[0]
    return init, trans, emission, ll


def test_mhsmm_vignette_viterbi_score_is_reproduced():
    init, trans, emission, _ = _em(Y1, positional=True)
    np.testing.assert_allclose(trans, TRANSITION, atol=5e-4)
    np.testing.assert_allclose(emission[0], EMISSION_ROW_1, atol=5e-7)
    assert emission[1, 0] == pytest.approx(EMISSION_ROW_2_FIRST, abs=5e-7)
    score, path = fasthmm.viterbi(_log_emissions(Y2, emission), init, trans)
    assert score == pytest.approx(VITERBI_SCORE, abs=5e-6)
    np.testing.assert_array_equal(path + 1, VITERBI_PATH)


def test_exact_em_reaches_another_fixed_point_than_mhsmm():
    """mhsmm's rows do not sum to 1; exact EM from the same start gives a
    proper distribution, the fixed point of the loop with time-indexed
    weights, and a different estimate."""
    _, _, buggy, _ = _em(Y1, positional=True)
    assert abs(buggy.sum(axis=1) - 1).max() > 5e-3

    init, trans, emission = _start(Y1)
    model = fasthmm.CategoricalHMM(
        2, n_iter=1000, tol=1e-10, init_params="", missing="marginalize"
    )
    model.startprob_, model.transmat_, model.emissionprob_ = init, trans, emission
    model.fit((Y1 - 1).reshape(-1, 1))
    assert np.all(np.diff(model.monitor_.history) >= -1e-12)
    np.testing.assert_allclose(model.emissionprob_.sum(axis=1), 1.0, atol=1e-12)

    ref_init, ref_trans, ref_emission, ref_ll = _em(Y1, positional=False, tol=1e-12)
    np.testing.assert_allclose(model.emissionprob_, ref_emission, atol=1e-5)
    np.testing.assert_allclose(model.transmat_, ref_trans, atol=1e-5)
    assert model.score((Y1 - 1).reshape(-1, 1)) == pytest.approx(ref_ll, abs=1e-8)
    assert np.abs(model.emissionprob_ - buggy).max() > 5e-3
