"""Long sequences: forward and backward passes at once, then chunks of time.

Sequences of at least ``LONG_SEQUENCE`` steps take another route through the
E-step (so that one long series uses every core). Its results must equal the
log-space reference, including the cases the one-thread kernels handle
specially (underflowing frames, posteriors far from the filtered
probabilities), and must not depend on the number of threads.
"""

import numba
import numpy as np
import pytest
from reference import batch_reference, log_forward_backward, random_problem, run_e_step

import fasthmm
from fasthmm._kernels.partition import LONG_SEQUENCE, TIME_CHUNK

LONG = LONG_SEQUENCE + TIME_CHUNK // 2 + 3  # a partial last chunk


@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("left_right", [False, True])
def test_long_and_short_sequences_match_the_log_space_reference(k, left_right):
    rng = np.random.default_rng(10 * k + left_right)
    lengths = [LONG, 40, 1]
    le, startprob, transmat = random_problem(rng, k, lengths, left_right=left_right)
    ref = batch_reference(le, startprob, transmat, lengths)
    ll, xi, start, post = run_e_step(le, startprob, transmat, lengths)
    np.testing.assert_allclose(ll, ref["ll"], rtol=1e-11)
    np.testing.assert_allclose(post, ref["posteriors"], atol=1e-9)
    # The reference's counts carry the rounding of ~18,000 log-space steps.
    np.testing.assert_allclose(xi, ref["xi"], rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(
        start, ref["posteriors"][np.cumsum([0] + lengths[:-1])].sum(0), atol=1e-9
    )


def test_two_way_route_equals_the_one_thread_kernels():
    """The same sequence through both routes of the E-step."""
    from fasthmm._kernels import direct
    from fasthmm.inference import Workspace, long_sequence_e_step

    rng = np.random.default_rng(8)
    le, startprob, transmat = random_problem(rng, 4, [LONG])
    ws = Workspace(np.array([0, LONG]), 4)
    ws.load_log_emissions(le)
    xi_two_way = long_sequence_e_step(ws, 0, startprob, transmat)
    ll_two_way, post_two_way = ws.ll[0], ws.post.copy()
    ws.load_log_emissions(le)
    xi_one = np.zeros((4, 4))
    ll_one = direct.forward_backward_one(
        ws.frame, ws.shift, startprob, transmat, 0, LONG, ws.post, ws.scale, xi_one
    )
    assert ll_two_way == ll_one  # the same forward pass
    np.testing.assert_allclose(post_two_way, ws.post, rtol=0, atol=1e-14)
    np.testing.assert_allclose(xi_two_way, xi_one, rtol=1e-12)


def test_long_sequence_result_does_not_depend_on_the_thread_count():
    rng = np.random.default_rng(3)
    lengths = [LONG, 500, LONG]
    le, startprob, transmat = random_problem(rng, 4, lengths)
    results = []
    for threads in (1, numba.config.NUMBA_NUM_THREADS):
        numba.set_num_threads(threads)
        results.append(run_e_step(le, startprob, transmat, lengths))
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_long_sequence_with_posteriors_far_from_filtered():
    # Two absorbing states: the first 10 steps push p(z = 1 | x_1..x_t) down to
    # ~1e-315; the rest favour state 1, which then carries all posterior mass.
    startprob = np.array([0.5, 0.5])
    transmat = np.eye(2)
    le = np.zeros((LONG, 2))
    le[:10, 1] = -72.5
    le[10:30, 0] = -50.0
    ll_ref, post_ref, _ = log_forward_backward(le, startprob, transmat)
    ll, xi, start, post = run_e_step(le, startprob, transmat)
    np.testing.assert_allclose(ll, ll_ref, rtol=0, atol=1e-7)
    assert not np.any(np.isnan(post))
    np.testing.assert_allclose(post, post_ref, atol=1e-12)
    np.testing.assert_allclose(
        xi, [[0.0, 0.0], [0.0, LONG - 1.0]], rtol=1e-12, atol=1e-9
    )
    np.testing.assert_allclose(start, [0.0, 1.0], atol=1e-12)


def test_long_sequence_whose_frame_underflows():
    """Reachable states ~1000 nats below an unreachable one late in the sequence."""
    k = 3
    startprob = np.eye(k)[0]
    transmat = np.triu(np.ones((k, k)), 1)
    transmat[-1, -1] = 1.0
    transmat /= transmat.sum(axis=1, keepdims=True)
    rng = np.random.default_rng(5)
    le = rng.normal(size=(LONG, k))
    le[LONG - 3 :, 0] += 1000.0  # state 0 is unreachable after the first step
    le[LONG - 3 :, 1:] -= 1000.0
    ref = batch_reference(le, startprob, transmat)
    ll, xi, _, post = run_e_step(le, startprob, transmat)
    np.testing.assert_allclose(ll, ref["ll"], rtol=1e-12)
    np.testing.assert_allclose(post, ref["posteriors"], atol=1e-10)
    np.testing.assert_allclose(xi, ref["xi"], rtol=1e-9, atol=1e-9)


def test_impossible_long_sequence_is_reported():
    startprob = np.array([1.0, 0.0])
    transmat = np.eye(2)
    le = np.zeros((LONG, 2))
    le[LONG // 2, 0] = -np.inf  # the only reachable state cannot emit this
    with pytest.raises(ValueError, match="zero probability"):
        fasthmm.forward_backward(le, startprob, transmat)
    assert fasthmm.forward(le, startprob, transmat) == -np.inf
