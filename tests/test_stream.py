"""Streams (model.stream, fasthmm.stream_filter): any split of a sequence
gives the batch results.

- filtered rows and the running log-likelihood equal ``filter_proba`` /
  ``score`` on the rows pushed so far;
- each fixed-lag row equals ``predict_proba`` on the prefix it conditions on
  (row t - lag of the first t + 1 rows), and the rows ``flush`` returns equal
  the last rows of ``predict_proba`` on the whole sequence;
- the online Viterbi path equals ``decode`` when no decision was forced (or,
  where ties are possible, has the same log-probability); forced paths are
  valid paths whose score the stream reports;
- the functional form against plain log-space NumPy references;
- save / resume, reset, bounded memory, and bad input that leaves the stream
  unchanged.
"""

import io

import numpy as np
import pytest
from families import BY_NAME, FAMILIES
from hypothesis import given, settings
from hypothesis import strategies as st
from models_helpers import assert_same_stream_state, seeds, stream_state
from reference import log_forward_backward, path_score, random_problem

import fasthmm

TOL = 1e-12
families = pytest.mark.parametrize("family", FAMILIES, ids=repr)


def _pieces(rng, family, X):
    """Split X at random: chunks, and single observations in every accepted form."""
    i, n = 0, X.shape[0]
    while i < n:
        size = int(rng.integers(1, min(n - i, 6) + 1)) if rng.random() < 0.5 else 1
        if size > 1 or rng.random() < 0.3:
            yield X[i : i + size]
        elif family.cls is fasthmm.CategoricalHMM:
            yield int(X[i, 0]) if rng.random() < 0.5 else np.int64(X[i, 0])
        elif X.shape[1] == 1 and rng.random() < 0.5:
            yield float(X[i, 0])
        else:
            yield np.ascontiguousarray(X[i], dtype=np.float64)
        i += size


def _run(stream, pieces):
    """Push every piece; return the concatenated filtered, smoothed and
    Viterbi outputs (the flush included) and the number of rows the flush
    returned."""
    filtered, smoothed, states = [], [], []
    n_smoothed, n_decided = stream.n_smoothed, stream.n_decided
    for piece in pieces:
        filtered.append(stream.push(piece))
        smoothed.append(stream.smoothed)
        states.append(stream.states)
        assert stream.n_smoothed == n_smoothed + sum(len(s) for s in smoothed)
        assert stream.n_smoothed == max(0, stream.n_pushed - stream.lag)
        assert stream.n_decided == n_decided + sum(len(s) for s in states)
    tail, rest = stream.flush()
    return (
        np.concatenate(filtered),
        np.concatenate(smoothed + [tail]),
        np.concatenate(states + [rest]),
        len(tail),
    )


def _assert_path(model_path, stream_path, le, startprob, transmat, lp):
    """Same path as the batch decoder, or (ties) one of the same probability."""
    assert stream_path.shape == model_path.shape
    if not np.array_equal(stream_path, model_path):
        a = path_score(le, startprob, transmat, stream_path)
        b = path_score(le, startprob, transmat, model_path)
        assert a == pytest.approx(b, rel=TOL, abs=TOL)
    assert path_score(le, startprob, transmat, stream_path) == pytest.approx(
        lp, rel=TOL, abs=TOL
    )


@families
@settings(max_examples=12)
@given(
    seed=seeds,
    k=st.integers(1, 4),
    n=st.integers(1, 25),
    lag=st.integers(0, 6),
)
def test_any_split_gives_the_batch_results(family, seed, k, n, lag):
    family.require("stream")
    rng = np.random.default_rng(seed)
    model = family.make(rng, k)
    X = family.sample(rng, k, n) if rng.random() < 0.5 else family.random_data(rng, n)
    X = np.asarray(X).reshape(n, -1)
    stream = model.stream(lag=lag)
    filtered, smoothed, states, n_tail = _run(stream, list(_pieces(rng, family, X)))

    np.testing.assert_allclose(filtered, model.filter_proba(X), rtol=0, atol=TOL)
    assert stream.log_likelihood == pytest.approx(model.score(X), rel=TOL, abs=TOL)
    # fixed-lag rows: p(z_s | x_0..x_{s+lag}), the smoother of that prefix
    assert smoothed.shape == (n, k)
    assert n_tail == min(lag, n)
    for s in range(n - n_tail):
        np.testing.assert_allclose(
            smoothed[s], model.predict_proba(X[: s + lag + 1])[s], rtol=0, atol=TOL
        )
    post = model.predict_proba(X)
    np.testing.assert_allclose(smoothed[n - n_tail :], post[n - n_tail :], atol=TOL)
    if lag >= n:
        np.testing.assert_allclose(smoothed, post, rtol=0, atol=TOL)
    if lag == 0:
        np.testing.assert_array_equal(smoothed, filtered)

    lp, path = model.decode(X, algorithm="viterbi")
    assert stream.n_forced == 0
    le = family.reference(model, X)
    _assert_path(path, states, le, model.startprob_, model.transmat_, lp)
    assert stream.path_log_prob == pytest.approx(lp, rel=TOL, abs=TOL)


@settings(max_examples=60)
@given(
    seed=seeds,
    k=st.integers(1, 5),
    n=st.integers(1, 40),
    lag=st.integers(0, 8),
    ties=st.booleans(),
)
def test_functional_stream_matches_log_space_references(seed, k, n, lag, ties):
    rng = np.random.default_rng(seed)
    le, sp, tm = random_problem(rng, k, [n])
    if ties:  # coarse values: many paths of equal probability
        le = np.where(np.isfinite(le), np.round(le), le)
        tm = np.where(tm > 0, 1.0, 0.0)
        tm /= tm.sum(axis=1, keepdims=True)
    stream = fasthmm.stream_filter(sp, tm, lag=lag)
    cuts = np.sort(rng.choice(np.arange(1, n), size=min(n - 1, 4), replace=False))
    pieces = [
        p if rng.random() < 0.5 or len(p) > 1 else p[0] for p in np.split(le, cuts)
    ]
    filtered, smoothed, states, n_tail = _run(stream, pieces)

    ll, post, ref_filtered = log_forward_backward(le, sp, tm)
    np.testing.assert_allclose(filtered, ref_filtered, rtol=0, atol=1e-10)
    assert stream.log_likelihood == pytest.approx(ll, rel=1e-10)
    for s in range(n - n_tail):
        prefix = log_forward_backward(le[: s + lag + 1], sp, tm)[1]
        np.testing.assert_allclose(smoothed[s], prefix[s], rtol=0, atol=1e-10)
    np.testing.assert_allclose(smoothed[n - n_tail :], post[n - n_tail :], atol=1e-10)
    lp, path = fasthmm.viterbi(le, sp, tm)
    _assert_path(path, states, le, sp, tm, lp)


@settings(max_examples=40)
@given(
    seed=seeds,
    k=st.integers(2, 5),
    n=st.integers(1, 40),
    max_delay=st.integers(0, 4),
)
def test_forced_decisions_keep_one_valid_path_within_the_delay(seed, k, n, max_delay):
    rng = np.random.default_rng(seed)
    le, sp, tm = random_problem(rng, k, [n], zero_frac=0.0, neginf_frac=0.0)
    le *= 0.05  # flat emissions: paths coalesce late, so decisions get forced
    stream = fasthmm.stream_filter(sp, tm, max_delay=max_delay)
    path = []
    for t in range(n):
        stream.push(le[t])
        path.append(stream.states)
        assert stream.n_decided >= t + 1 - max_delay
    path.append(stream.flush()[1])
    path = np.concatenate(path)
    assert path.shape == (n,)
    assert np.isfinite(path_score(le, sp, tm, path))
    assert stream.path_log_prob == pytest.approx(path_score(le, sp, tm, path), abs=TOL)
    lp, best = fasthmm.viterbi(le, sp, tm)
    assert stream.path_log_prob <= lp + TOL
    if stream.n_forced == 0:
        _assert_path(best, path, le, sp, tm, lp)
    if max_delay == 0:  # decided as soon as it arrives
        assert stream.n_decided == n


def test_forcing_happens_when_paths_do_not_coalesce():
    # Two states that explain every observation equally: the best path is
    # decided only at the end, unless forced.
    sp, tm = np.array([0.5, 0.5]), np.array([[0.9, 0.1], [0.1, 0.9]])
    le = np.zeros((30, 2))
    le[-1] = [0.0, -1.0]
    free = fasthmm.stream_filter(sp, tm)
    for row in le[:-1]:
        free.push(row)
    assert free.n_decided == 0  # memory grows with the undecided steps only
    forced = fasthmm.stream_filter(sp, tm, max_delay=3)
    path = []
    for row in le:
        forced.push(row)
        path.append(forced.states)
    path = np.concatenate(path + [forced.flush()[1]])
    assert forced.n_forced > 0
    assert path_score(le, sp, tm, path) == pytest.approx(forced.path_log_prob)


@families
def test_save_resume_and_reset(family):
    family.require("stream")
    rng = np.random.default_rng(7)
    model = family.make(rng, 3)
    X = np.asarray(family.sample(rng, 3, 40)).reshape(40, -1)
    whole = _run(model.stream(lag=4), [X[i : i + 1] for i in range(40)])

    first = model.stream(lag=4)
    head = _run_partial(first, X[:23])
    buf = io.BytesIO()
    np.savez(buf, **first.get_state())
    buf.seek(0)
    with np.load(buf) as saved:
        resumed = model.stream(lag=4).set_state(dict(saved))
    assert resumed.n_pushed == 23
    assert resumed.log_likelihood == first.log_likelihood
    tail = _run(resumed, [X[i : i + 1] for i in range(23, 40)])
    np.testing.assert_array_equal(np.concatenate([head[0], tail[0]]), whole[0])
    np.testing.assert_array_equal(np.concatenate([head[1], tail[1]]), whole[1])
    np.testing.assert_array_equal(np.concatenate([head[2], tail[2]]), whole[2])

    # reset: the same stream object gives a fresh stream's results
    again = _run(resumed.reset(), [X[i : i + 1] for i in range(40)])
    for a, b in zip(again[:3], whole[:3]):
        np.testing.assert_array_equal(a, b)


def _run_partial(stream, X):
    out = [[], [], []]
    for i in range(X.shape[0]):
        out[0].append(stream.push(X[i : i + 1]))
        out[1].append(stream.smoothed)
        out[2].append(stream.states)
    return [np.concatenate(o) for o in out]


def test_state_of_another_stream_is_rejected():
    model = BY_NAME["gaussian-diag"].make(np.random.default_rng(0), 3)
    state = model.stream(lag=2).get_state()
    with pytest.raises(ValueError, match="options"):
        model.stream(lag=3).set_state(state)
    other = BY_NAME["gaussian-diag"].make(np.random.default_rng(1), 3)
    with pytest.raises(ValueError, match="parameters"):
        other.stream(lag=2).set_state(state)
    with pytest.raises(ValueError, match="get_state"):
        model.stream(lag=2).set_state({"fstate": state["fstate"]})


def test_memory_does_not_grow_with_the_sequence():
    family = BY_NAME["gaussian-diag"]
    rng = np.random.default_rng(3)
    model = family.make(rng, 4)
    X = np.asarray(family.sample(rng, 4, 3000))
    stream = model.stream(lag=5, max_delay=20)
    sizes = []
    for i in range(3000):
        stream.push(X[i])
        if i in (100, 2999):
            sizes.append(sum(a.nbytes for a in stream.get_state().values()))
    assert sizes[0] == sizes[1]
    assert sizes[1] < 8 * 4 * (3 * 4 + 2 + 9 + 2 * 6 + 2 * 20) + 1000


# -- bad input ---------------------------------------------------------------------


def test_stream_before_fit_raises():
    with pytest.raises(fasthmm.NotFittedError):
        fasthmm.GaussianHMM(2).stream()


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"lag": -1}, ValueError, "lag"),
        ({"lag": 1.5}, TypeError, "lag"),
        ({"max_delay": -2}, ValueError, "max_delay"),
        ({"viterbi": "yes"}, TypeError, "viterbi"),
    ],
)
def test_bad_options(kwargs, error, match):
    model = BY_NAME["categorical"].make(np.random.default_rng(0), 2)
    with pytest.raises(error, match=match):
        model.stream(**kwargs)
    with pytest.raises(error, match=match):
        fasthmm.stream_filter([0.5, 0.5], np.full((2, 2), 0.5), **kwargs)


GAUSSIAN_BAD = [
    (np.zeros(3), ValueError, "n_features"),
    (np.zeros((2, 3)), ValueError, "n_features"),
    (np.array([0.0, np.nan]), ValueError, "NaN"),
    (np.array([[0.0, 1.0], [np.inf, 0.0]]), ValueError, "finite"),
    (np.array(["a", "b"]), TypeError, "X"),
    (np.array([1 + 2j, 0]), TypeError, "real"),
    ([[0.0, 1.0], [2.0]], ValueError, "X"),
    (None, TypeError, "X"),
]
CATEGORICAL_BAD = [
    (5, ValueError, "out of range"),
    (-1, ValueError, "non-negative"),
    (np.array([0, 1, 3]), ValueError, "out of range"),
    (1.5, ValueError, "integers"),
    (np.array([[0, 1]]), ValueError, "one symbol"),
    ("a", TypeError, "X"),
]


@pytest.mark.parametrize(
    ("family", "bad", "error", "match"),
    [("gaussian-diag", *case) for case in GAUSSIAN_BAD]
    + [("gaussian-full", *case) for case in GAUSSIAN_BAD[:4]]
    + [("categorical", *case) for case in CATEGORICAL_BAD],
)
def test_bad_observations_leave_the_stream_unchanged(family, bad, error, match):
    family = BY_NAME[family]
    rng = np.random.default_rng(5)
    model = family.make(rng, 3)
    X = np.asarray(family.sample(rng, 3, 12)).reshape(12, -1)
    stream = model.stream(lag=2)
    good = _run_partial(stream, X[:6])
    before = stream_state(stream)
    with pytest.raises(error, match=match):
        stream.push(bad)
    assert_same_stream_state(stream, before)
    rest = _run_partial(stream, X[6:])
    np.testing.assert_allclose(
        np.concatenate([good[0], rest[0]]), model.filter_proba(X), atol=TOL
    )


def test_an_impossible_observation_raises_and_the_stream_goes_on():
    # The chain stays in state 0, which never emits symbol 2.
    model = fasthmm.CategoricalHMM(2, n_features=3, init_params="")
    model.startprob_ = np.array([1.0, 0.0])
    model.transmat_ = np.eye(2)
    model.emissionprob_ = np.array([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]])
    stream = model.stream(lag=1)
    stream.push(0)
    before = stream_state(stream)
    for bad in (2, np.array([1, 0, 2, 1])):
        with pytest.raises(ValueError, match="zero probability"):
            stream.push(bad)
        assert_same_stream_state(stream, before)
    stream.push(np.array([1, 0]))
    X = np.array([0, 1, 0])
    assert stream.log_likelihood == pytest.approx(model.score(X), rel=TOL)
    _, states = stream.flush()
    assert np.concatenate([stream.states]).tolist() == [0] * len(states)


def test_functional_stream_bad_rows():
    stream = fasthmm.stream_filter([0.5, 0.5], [[0.9, 0.1], [0.2, 0.8]], lag=1)
    stream.push(np.array([-1.0, -2.0]))
    before = stream_state(stream)
    for bad, error, match in [
        (np.array([0.0, np.nan]), ValueError, "NaN"),
        (np.array([[0.0, 1.0], [np.inf, 0.0]]), ValueError, "inf"),
        (np.zeros(3), ValueError, "n_components"),
        (np.zeros((2, 3)), ValueError, "n_components"),
        (np.array([-np.inf, -np.inf]), ValueError, "zero probability"),
        (np.array(["a", "b"]), TypeError, "log_emissions"),
    ]:
        with pytest.raises(error, match=match):
            stream.push(bad)
        assert_same_stream_state(stream, before)
    with pytest.raises(ValueError, match="startprob"):
        fasthmm.stream_filter([0.5, 0.6], np.full((2, 2), 0.5))
    with pytest.raises(ValueError, match="transmat"):
        fasthmm.stream_filter([0.5, 0.5], np.full((3, 3), 1 / 3))


def test_push_after_flush_needs_reset():
    stream = fasthmm.stream_filter([0.5, 0.5], [[0.9, 0.1], [0.2, 0.8]])
    stream.push(np.zeros(2))
    stream.flush()
    with pytest.raises(ValueError, match="reset"):
        stream.push(np.zeros(2))
    with pytest.raises(ValueError, match="reset"):
        stream.flush()
    stream.reset().push(np.zeros(2))
    assert stream.n_pushed == 1


def test_flush_of_an_empty_stream():
    stream = fasthmm.stream_filter([0.5, 0.5], [[0.9, 0.1], [0.2, 0.8]], lag=3)
    smoothed, states = stream.flush()
    assert smoothed.shape == (0, 2) and states.shape == (0,)
    assert stream.log_likelihood == 0.0
