"""Streams: a resumed state is checked entry by entry, and online Viterbi's
decisions against a plain reference.

- ``set_state`` rejects every state the kernels cannot run safely (values,
  not only shapes) with a ValueError naming the entry, leaving the stream
  as it was; the reproduction of an interpreter crash runs in a subprocess,
  so a crash fails the test instead of ending the run;
- a valid state mutated at random is either rejected or, when the mutation
  changed nothing, resumes to the uninterrupted stream's results;
- the steps online Viterbi decides after each push equal those of a NumPy
  reference that walks every surviving path back from scratch at each step
  (what the stream did before it counted the survivors incrementally), on
  random chains, chains whose paths coalesce slowly, and identity chains
  whose paths never meet.
"""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from models_helpers import assert_same_stream_state, push_all, seeds, stream_state
from reference import random_problem

import fasthmm
from fasthmm._kernels import stream as ks

SP = np.array([0.5, 0.2, 0.3])
TM = np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.3, 0.6]])


def _le(seed, n, k=3):
    return np.random.default_rng(seed).normal(scale=1.0, size=(n, k))


def _outputs(stream, rows):
    """Filtered, smoothed and Viterbi outputs of pushing ``rows`` then flushing,
    with the log-likelihood and counts."""
    return (
        *push_all(stream, [(row, {}) for row in rows]),
        stream.log_likelihood,
        stream.n_forced,
        stream.path_log_prob,
    )


def _assert_same(a, b):
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


# -- the reproduction -----------------------------------------------------------

CRASH = """
import numpy as np, fasthmm
m = fasthmm.CategoricalHMM(2, init_params="")
m.startprob_ = np.array([.5, .5])
m.transmat_ = np.array([[.99, .01], [.01, .99]])
m.emissionprob_ = np.array([[.6, .4], [.4, .6]])
s = m.stream()
[s.push(x) for x in [0, 1, 0, 1, 0, 1]]
st = s.get_state()
st["back"][:] = 10**9
try:
    m.stream().set_state(st).push(0)
except ValueError as exc:
    print("ValueError:", exc)
"""


def test_out_of_range_back_pointers_raise_instead_of_crashing():
    root = os.path.dirname(os.path.dirname(os.path.abspath(fasthmm.__file__)))
    path = os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])
    done = subprocess.run(  # this fasthmm, whatever the install
        [sys.executable, "-c", textwrap.dedent(CRASH)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": path},
    )
    assert done.returncode == 0, done.stderr  # a crash: a negative return code
    assert "ValueError: state['back']" in done.stdout
    assert "[0, 2)" in done.stdout


# -- each invariant ---------------------------------------------------------------


def _resumable(lag=2, max_delay=None, n=7):
    """A stream after ``n`` rows (paths not yet coalesced), and its state."""
    le = np.zeros((n, 3))
    le[:, 2] = -np.inf  # states 0 and 1 tie: nothing decided
    stream = fasthmm.stream_filter(SP, TM, lag=lag, max_delay=max_delay)
    for row in le:
        stream.push(row)
    return stream, stream_state(stream)


def _s(key):
    return 3 * 3 + 2 + key  # row of fstate's state part (K = 3)


def _set(key, index, value):
    def mutate(state):
        state[key][index] = value

    return mutate


BAD_STATES = [
    ("back", _set("back", (0, 0), 3), r"state\['back'\].*\[0, 3\)"),
    ("back", _set("back", (1, 2), -1), r"state\['back'\].*\[0, 3\)"),
    ("back", _set("back", (2, 1), 10**9), r"state\['back'\]"),
    ("counters", _set("counters", ks.UNDECIDED, 8), r"counters'\]\[1\]"),
    ("counters", _set("counters", ks.UNDECIDED, -1), r"counters'\]\[1\]"),
    ("counters", _set("counters", ks.T_SEEN, -5), r"counters'\]\[0\]"),
    ("counters", _set("counters", ks.T_SEEN, 2**63 - 1), r"counters'\]\[0\]"),
    ("counters", _set("counters", ks.T_SEEN, 8), r"state\['back'\]"),
    ("counters", _set("counters", ks.FORCED, 1), r"counters'\]\[2\]"),
    ("counters", _set("counters", ks.MAX_DELAY, 0), r"counters'\]\[3\]"),
    ("fstate", _set("fstate", (_s(ks.ALPHA), 0), -0.25), "probabilities"),
    ("fstate", _set("fstate", (_s(ks.ALPHA), 0), 0.75), "summing to 1"),
    ("fstate", _set("fstate", (_s(ks.ROWS), 1), 1.5), "probabilities"),
    ("fstate", _set("fstate", (_s(ks.ROWS) + 1, 1), -1.0), "probabilities"),
    ("fstate", _set("fstate", (_s(ks.DELTA), slice(None)), -np.inf), "Viterbi"),
    ("fstate", _set("fstate", (_s(ks.DELTA), 0), np.inf), "inf"),
    ("fstate", _set("fstate", (_s(ks.LL), 0), -np.inf), "log-likelihood"),
    ("fstate", _set("fstate", (0, 0), 0.4), "chain"),
    ("fstate", _set("fstate", (0, 0), np.nan), "NaN"),
    ("options", _set("options", 1, 5), "options"),
]


@pytest.mark.parametrize(("key", "mutate", "match"), BAD_STATES)
def test_an_inconsistent_state_is_rejected_and_the_stream_kept(key, mutate, match):
    source, state = _resumable()
    mutate(state)
    target = fasthmm.stream_filter(SP, TM, lag=2)
    target.push(_le(1, 1)[0])
    before = stream_state(target)
    with pytest.raises(ValueError, match=match):
        target.set_state(state)
    assert_same_stream_state(target, before)


@pytest.mark.parametrize(
    ("state", "match"),
    [
        ({"back": 1}, "get_state"),
        ("not a dict", "get_state"),
        (None, "get_state"),
    ],
)
def test_not_a_state(state, match):
    with pytest.raises(ValueError, match=match):
        fasthmm.stream_filter(SP, TM).set_state(state)


def test_wrong_types_and_shapes_are_named():
    _, state = _resumable()
    for key, value, match in [
        ("back", state["back"].astype(float), r"state\['back'\] must be integers"),
        ("back", state["back"][:, :2], r"state\['back'\]"),
        ("counters", state["counters"][:3], r"state\['counters'\]"),
        ("counters", state["counters"].astype(float), r"state\['counters'\]"),
        ("fstate", state["fstate"][:-1], r"state\['fstate'\] must have shape"),
        ("flushed", np.array([True, False]), r"state\['flushed'\]"),
        ("flushed", np.array(2), r"state\['flushed'\]"),
    ]:
        bad = dict(state, **{key: value})
        with pytest.raises(ValueError, match=match):
            fasthmm.stream_filter(SP, TM, lag=2).set_state(bad)


def test_a_window_longer_than_max_delay_is_rejected():
    _, state = _resumable(max_delay=None, n=7)
    state["options"][1] = 3
    state["counters"][ks.MAX_DELAY] = 3
    with pytest.raises(ValueError, match="first undecided"):
        fasthmm.stream_filter(SP, TM, lag=2, max_delay=3).set_state(state)


def test_a_flushed_state_must_have_decided_everything():
    _, state = _resumable()
    state["flushed"] = np.array(True)
    with pytest.raises(ValueError, match="first undecided"):
        fasthmm.stream_filter(SP, TM, lag=2).set_state(state)


@pytest.mark.parametrize("options", [{}, {"lag": 3}, {"max_delay": 2}])
@pytest.mark.parametrize("viterbi", [True, False])
def test_valid_states_resume_to_the_uninterrupted_results(options, viterbi):
    le = _le(4, 30)
    whole = _outputs(fasthmm.stream_filter(SP, TM, viterbi=viterbi, **options), le)
    for cut in (0, 1, 2, 5, 17, 29):
        first = fasthmm.stream_filter(SP, TM, viterbi=viterbi, **options)
        head = [[], [], []]
        for row in le[:cut]:
            head[0].append(first.push(row))
            head[1].append(first.smoothed)
            head[2].append(first.states)
        resumed = fasthmm.stream_filter(SP, TM, viterbi=viterbi, **options)
        tail = _outputs(resumed.set_state(stream_state(first)), le[cut:])
        for i in range(3):
            got = np.concatenate(head[i] + [tail[i]]) if cut else tail[i]
            np.testing.assert_array_equal(got, whole[i])
        assert tail[3:] == whole[3:]


# -- random mutations -------------------------------------------------------------

# Values that are wrong wherever they go in each array (see the kernels'
# module docstring for what each entry is).
HOSTILE_BACK = (-1, 3, 10**9, -(2**62))
HOSTILE_COUNTER = (-1, -(2**62), 2**62, 2**63 - 1)
HOSTILE_PROBABILITY = (np.nan, np.inf, -np.inf, -0.5, 1.5, -1e-300)


@settings(max_examples=150, deadline=None)
@given(
    seed=seeds,
    n=st.integers(0, 12),
    lag=st.integers(0, 3),
    max_delay=st.sampled_from([None, 1, 4]),
    viterbi=st.booleans(),
    data=st.data(),
)
def test_a_randomly_mutated_state_is_rejected_or_changes_nothing(
    seed, n, lag, max_delay, viterbi, data
):
    le = _le(seed, n + 6)
    options = {"lag": lag, "max_delay": max_delay, "viterbi": viterbi}
    whole = _outputs(fasthmm.stream_filter(SP, TM, **options), le)
    first = fasthmm.stream_filter(SP, TM, **options)
    head = [[first.push(row), first.smoothed, first.states] for row in le[:n]]
    state = stream_state(first)

    key = data.draw(st.sampled_from(["back", "counters", "fstate", "same"]))
    if key == "back" and state["back"].size:
        i = data.draw(st.integers(0, state["back"].size - 1))
        state["back"].flat[i] = data.draw(st.sampled_from(HOSTILE_BACK))
    elif key == "counters":
        i = data.draw(st.integers(0, ks.N_COUNTERS - 1))
        state["counters"][i] = data.draw(st.sampled_from(HOSTILE_COUNTER))
    elif key == "fstate" and n > 0:
        s = 3 * 3 + 2
        rows = [s + ks.ALPHA] + list(range(s + ks.ROWS, state["fstate"].shape[0]))
        r = data.draw(st.sampled_from(rows))
        j = data.draw(st.integers(0, 2))
        state["fstate"][r, j] = data.draw(st.sampled_from(HOSTILE_PROBABILITY))
    else:
        key = "same"  # nothing to mutate: the state as it was

    resumed = fasthmm.stream_filter(SP, TM, **options)
    fresh = stream_state(resumed)
    if key != "same":
        with pytest.raises(ValueError, match="state"):
            resumed.set_state(state)
        assert_same_stream_state(resumed, fresh)
        return
    tail = _outputs(resumed.set_state(state), le[n:])
    for i in range(3):
        got = np.concatenate([h[i] for h in head] + [tail[i]])
        np.testing.assert_array_equal(got.reshape(whole[i].shape), whole[i])
    assert tail[3:] == whole[3:]


# -- online Viterbi's decisions -----------------------------------------------------


def _reference_decided(le, startprob, transmat):
    """Steps decided after each push, by walking every surviving path back
    from scratch: the latest time through which all of them go."""
    n, k = le.shape
    with np.errstate(divide="ignore"):
        log_start, log_trans = np.log(startprob), np.log(transmat)
    delta = log_start + le[0]
    back = [np.zeros(k, dtype=np.int64)]
    decided, out = 0, []
    for t in range(n):
        if t > 0:
            cand = delta[:, None] + log_trans  # (from, to)
            back.append(np.argmax(cand, axis=0))  # lowest state on ties
            delta = cand.max(axis=0) + le[t]
        alive = set(np.flatnonzero(delta > -np.inf).tolist())
        u = t
        while len(alive) > 1 and u > decided:
            alive = {int(back[u][j]) for j in alive}
            u -= 1
        if len(alive) == 1:
            decided = max(decided, u + 1)
        out.append(decided)
    return out


def _block_chain(k, blocks):
    """A chain that never leaves its block: paths in different blocks never
    meet, those within a block do."""
    tm = np.zeros((k, k))
    for b in np.array_split(np.arange(k), blocks):
        tm[np.ix_(b, b)] = 1.0 / len(b)
    return np.full(k, 1.0 / k), tm


@settings(max_examples=60, deadline=None)
@given(
    seed=seeds,
    k=st.integers(1, 6),
    n=st.integers(1, 60),
    chain=st.sampled_from(["random", "identity", "blocks", "sticky"]),
)
def test_online_viterbi_decides_what_a_full_walk_decides(seed, k, n, chain):
    rng = np.random.default_rng(seed)
    le, sp, tm = random_problem(rng, k, [n])
    if chain == "identity":
        sp, tm = np.full(k, 1.0 / k), np.eye(k)
        le = rng.normal(size=(n, k))
    elif chain == "blocks":
        sp, tm = _block_chain(k, min(k, 2))
        le = rng.normal(size=(n, k))
    elif chain == "sticky":  # survivors die out one by one, late
        tm = 0.97 * np.eye(k) + 0.03 * tm
        le = np.where(np.isfinite(le), 0.05 * le, le)
    stream = fasthmm.stream_filter(sp, tm)
    path, decided = [], []
    for t in range(n):
        stream.push(le[t])
        path.append(stream.states)
        decided.append(stream.n_decided)
    assert decided == _reference_decided(le, sp, tm)
    path = np.concatenate(path + [stream.flush()[1]])
    lp, best = fasthmm.viterbi(le, sp, tm)
    np.testing.assert_array_equal(path, best)
    assert stream.path_log_prob == lp


def test_identity_chain_decides_nothing_until_flush_and_keeps_the_path():
    rng = np.random.default_rng(11)
    k, n = 4, 3000
    sp, tm = np.full(k, 1.0 / k), np.eye(k)
    le = rng.normal(size=(n, k))
    stream = fasthmm.stream_filter(sp, tm)
    for row in le:
        stream.push(row)
    assert stream.n_decided == 0
    _, path = stream.flush()
    lp, best = fasthmm.viterbi(le, sp, tm)
    np.testing.assert_array_equal(path, best)
    assert stream.path_log_prob == lp


def test_forced_decisions_need_a_max_delay():
    stream = fasthmm.stream_filter(SP, TM)
    for row in _le(5, 12) * 20:  # sharp emissions: paths coalesce
        stream.push(row)
    assert stream.n_decided > 0
    state = stream_state(stream)
    state["counters"][ks.FORCED] = 1  # no max_delay: nothing can be forced
    with pytest.raises(ValueError, match=r"counters'\]\[2\].*\[0, 0\]"):
        fasthmm.stream_filter(SP, TM).set_state(state)
