"""MarkovSwitchingAR on every route: blocks of a memmap or a list of arrays,
dask partitions, streams, online EM, save/load, and the contracts every
model honours (atomic fit, bad input named, thread-count independence),
plus sampling with and without transition inputs.

The reference for each route is the same model's in-memory answer (itself
checked against enumeration of regime paths, a dense log-space reference
and statsmodels in ``test_markov_switching_ar.py``); sampling is checked
against the model's distributions by Monte Carlo.
"""

import copy
import functools
import io

import numba
import numpy as np
import pytest
import test_distributed
from hypothesis import given, settings
from hypothesis import strategies as st
from models_helpers import X_METHODS, assert_unchanged, snapshot
from reference import logsumexp
from test_markov_switching_ar import path_scores, random_model, random_tvtp_model

import fasthmm
from fasthmm import MarkovSwitchingAR
from fasthmm._batches import bytes_per_row

RTOL = 1e-10


def _close(a, b, rtol=RTOL):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    np.testing.assert_allclose(
        a, b, rtol=rtol, atol=rtol * max(1.0, np.max(np.abs(b), initial=0))
    )


def _sequences(model, rng, n_seq=9, w_columns=None):
    """(y, lengths, w or None): sequences drawn from ``model``."""
    lengths = rng.integers(8, 40, n_seq)
    ys, ws = [], []
    for n in lengths:
        w = None
        if w_columns:
            w = np.column_stack([np.ones(n), rng.normal(size=(n, w_columns - 1))])
            ws.append(w)
        ys.append(model.sample(int(n), random_state=rng, transition_inputs=w)[0])
    return np.concatenate(ys), lengths, (np.concatenate(ws) if ws else None)


def _budget(model, rows):
    """A memory budget that holds about ``rows`` rows per block."""
    return rows * bytes_per_row(model.n_components ** (model.order + 1), 1)


def _blocked(model, rows=40):
    return copy.deepcopy(model).set_params(memory_budget=_budget(model, rows))


def _every_answer(model, y, lengths, w):
    kw = {"transition_inputs": w}
    future = None
    if w is not None:
        future = np.ones((len(lengths), 3, w.shape[1]))
    return [
        model.score(y, lengths, **kw),
        *model.score_samples(y, lengths, **kw),
        model.filter_proba(y, lengths, **kw),
        *model.decode(y, lengths, **kw),
        model.forecast_proba(y, lengths, 3, future_transition_inputs=future, **kw),
        model.forecast(y, lengths, 3, future_transition_inputs=future, **kw),
        model.bic(y, lengths, **kw),
    ]


# -- blocks -----------------------------------------------------------------------
@pytest.mark.parametrize("tvtp", [False, True])
def test_blocks_equal_the_in_memory_answers(tmp_path, tvtp):
    rng = np.random.default_rng(1)
    if tvtp:
        model = random_tvtp_model(rng, 2, 2, "stationary")
        y, lengths, w = _sequences(model, rng, w_columns=2)
    else:
        model = random_model(rng, 2, 2)
        y, lengths, w = _sequences(model, rng)
    blocked = _blocked(model)
    path = tmp_path / "y.npy"
    np.save(path, y)
    mm = np.load(path, mmap_mode="r")
    assert fasthmm._batches.plan(mm, lengths, 8, blocked.memory_budget).n_blocks > 3
    for got, want in zip(
        _every_answer(blocked, mm, lengths, w), _every_answer(model, y, lengths, w)
    ):
        _close(got, want)
    fit_kw = {"n_iter": 4, "tol": 0.0, "init_params": ""}
    a = copy.deepcopy(model).set_params(**fit_kw).fit(y, lengths, transition_inputs=w)
    b = _blocked(model).set_params(**fit_kw).fit(mm, lengths, transition_inputs=w)
    _close(b.monitor_.history, a.monitor_.history)
    for name in a._param_names():
        if getattr(a, name) is not None:
            _close(getattr(b, name), getattr(a, name), rtol=1e-8)


def test_list_of_arrays_with_lengths_per_array_and_data_initialisation():
    rng = np.random.default_rng(2)
    model = random_model(rng, 2, 1, switching_variance=False)
    y, lengths, _ = _sequences(model, rng)
    halves = [y[: lengths[:4].sum()], y[lengths[:4].sum() :]]
    per_file = [lengths[:4], lengths[4:]]
    fresh = MarkovSwitchingAR(2, 1, n_iter=3, tol=0.0, random_state=0)
    a = copy.deepcopy(fresh).fit(y, lengths)
    b = copy.deepcopy(fresh).fit(halves, per_file)  # initialised from data too
    _close(b.monitor_.history, a.monitor_.history)
    _close(b.means_, a.means_, rtol=1e-8)
    _close(b.predict_proba(halves, per_file), a.predict_proba(y, lengths))


def test_large_data_initialises_from_evenly_spread_slices(monkeypatch):
    # Above INIT_SAMPLE_ROWS rows, a fit over blocks initialises from
    # INIT_SLICES slices spread over X, each as one sequence.
    rng = np.random.default_rng(20)
    truth = random_tvtp_model(rng, 2, 1, "learned")
    y, lengths, w = _sequences(truth, rng, w_columns=2)
    monkeypatch.setattr(fasthmm._batches.sample_ranges, "__defaults__", (60, 3))
    model = MarkovSwitchingAR(2, 1, transition_inputs=True, n_iter=0)
    model.set_params(memory_budget=_budget(model, 40))
    model.fit(y, lengths, transition_inputs=w)
    firsts = np.linspace(0, len(y) - 20, 3).astype(int)
    rows = np.concatenate([np.arange(a, a + 20) for a in firsts])
    _close(model.means_, np.quantile(y[rows], [0.25, 0.75]))
    lags = np.concatenate([np.arange(a, a + 19) for a in firsts])  # y_{t-1}
    target, lagged = y[lags + 1, 0], y[lags, 0]
    target, lagged = target - target.mean(), lagged - lagged.mean()
    _close(model.ar_coef_[:, 0], np.full(2, lagged @ target / (lagged @ lagged)))


def test_a_bad_block_is_named_and_changes_nothing(tmp_path):
    rng = np.random.default_rng(3)
    model = random_model(rng, 2, 2)
    y, lengths, _ = _sequences(model, rng)
    y = y.copy()
    y[-3] = np.nan
    blocked = _blocked(model)
    before = snapshot(blocked)
    with pytest.raises(ValueError, match=r"X\[\d+:\d+\].*X"):
        blocked.fit(y, lengths)
    assert_unchanged(blocked, before, "a fit failing in its last block")


# -- online EM ----------------------------------------------------------------------
def test_partial_fit_first_call_is_one_em_step_and_blocks_agree():
    rng = np.random.default_rng(4)
    model = random_model(rng, 2, 2, init_params="")
    y, lengths, _ = _sequences(model, rng)
    one = copy.deepcopy(model).set_params(n_iter=1).fit(y, lengths)
    online = copy.deepcopy(model).partial_fit(y, lengths)
    for name in model._param_names():
        _close(getattr(online, name), getattr(one, name), rtol=1e-9)
    y2, lengths2, _ = _sequences(model, rng)
    a = copy.deepcopy(online).partial_fit(y2, lengths2)
    b = _blocked(online).partial_fit(y2, lengths2)
    for name in model._param_names():
        _close(getattr(b, name), getattr(a, name), rtol=1e-9)
    scored = len(y) + len(y2) - model.order * (len(lengths) + len(lengths2))
    assert a._online.t == 2 and a._online.n_seen == scored


def test_partial_fit_blends_by_the_step_size():
    # learning_offset=0, learning_decay=1: the second batch weighs 1/2, and
    # two copies of one batch blend into that batch's statistics: the second
    # step is then the EM step from the first step's parameters.
    rng = np.random.default_rng(5)
    model = random_model(rng, 2, 1, init_params="")
    model.set_params(learning_offset=0.0, learning_decay=1.0)
    y, lengths, _ = _sequences(model, rng)
    online = copy.deepcopy(model).partial_fit(y, lengths)
    stepped = copy.deepcopy(online).partial_fit(y, lengths)
    # running = (s0 + s1) / (2 n), scaled to 2 n: the EM step on s0 + s1
    data = model._read(y, lengths)
    s = model._batch_stats(model._checked_params(), data)
    s = s + online._batch_stats(online._checked_params(), data)
    want = model._m_step(online._checked_params(), s)
    for name in model._param_names():
        _close(getattr(stepped, name), want[name], rtol=1e-9)


@pytest.mark.parametrize("start", ["learned", "stationary"])
def test_partial_fit_with_transition_inputs_is_stepwise_em(start):
    # The first call is one EM step; the second, with learning_offset=0 and
    # learning_decay=1 on the same batch, the EM step on the sum of the two
    # batches' statistics (so the per-step transitions are kept whole).
    rng = np.random.default_rng(21)
    model = random_tvtp_model(rng, 2, 1, start)
    model.set_params(init_params="", learning_offset=0.0, learning_decay=1.0)
    y, lengths, w = _sequences(model, rng, n_seq=4, w_columns=2)
    one = copy.deepcopy(model).set_params(n_iter=1).fit(y, lengths, transition_inputs=w)
    online = copy.deepcopy(model).partial_fit(y, lengths, transition_inputs=w)
    for name in model._param_names():
        _close(getattr(online, name), getattr(one, name), rtol=1e-8)
    stepped = copy.deepcopy(online).partial_fit(y, lengths, transition_inputs=w)
    data = model._read(y, lengths, w)
    s = model._batch_stats(model._checked_params(), data)
    s = s + online._batch_stats(online._checked_params(), data)
    want = model._m_step(online._checked_params(), s)
    for name in model._param_names():
        _close(getattr(stepped, name), want[name], rtol=1e-7)


# -- streams ---------------------------------------------------------------------------
def _stream_case(rng, order, start, tvtp, n):
    """(model, y, w or None, push keywords of rows lo:hi)."""
    if tvtp:
        model = random_tvtp_model(rng, 2, order, start)
        w = np.column_stack([np.ones(n), rng.normal(size=n)])
    else:
        model, w = random_model(rng, 2, order, start=start), None
    y = model.sample(n, random_state=rng, transition_inputs=w)[0][:, 0]

    def rows(lo, hi):
        return {} if w is None else {"transition_inputs": w[lo:hi]}

    return model, y, w, rows


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    order=st.integers(1, 3),
    cuts=st.lists(st.integers(1, 29), max_size=6),
    start=st.sampled_from(["learned", "stationary"]),
    tvtp=st.booleans(),
)
def test_any_split_of_a_stream_equals_the_batch_filter_and_score(
    seed, order, cuts, start, tvtp
):
    rng = np.random.default_rng(seed)
    model, y, w, kw = _stream_case(rng, order, start, tvtp, 30)
    stream = model.stream(lag=0, viterbi=False)
    bounds = [0, *sorted(set(cuts)), 30]
    rows = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        rows.append(stream.push(y[lo] if hi == lo + 1 else y[lo:hi], **kw(lo, hi)))
        if hi > order:
            _close(stream.log_likelihood, model.score(y[:hi], **kw(0, hi)))
    _close(np.concatenate(rows), model.filter_proba(y, transition_inputs=w))


@pytest.mark.parametrize("lag,tvtp", [(0, False), (2, True), (5, False), (3, True)])
def test_stream_smoothing_viterbi_and_forecasts_equal_the_batch_calls(lag, tvtp):
    rng = np.random.default_rng(6 + lag)
    model, y, w, kw = _stream_case(rng, 2, "stationary", tvtp, 40)
    future = None if w is None else rng.normal(size=(2, 2))
    stream = model.stream(lag=lag)
    smoothed, states = [], []
    for t, value in enumerate(y):
        stream.push(value, **kw(t, t + 1))
        smoothed.append(stream.smoothed)
        states.append(stream.states)
        if t >= 2:  # fixed lag: p(s_u | y_0..y_t) for u = t - lag
            prefix = model.predict_proba(y[: t + 1], **kw(0, t + 1))
            done = stream.n_smoothed
            if len(stream.smoothed):
                _close(stream.smoothed, prefix[done - len(stream.smoothed) : done])
            ahead = {"future_transition_inputs": future, **kw(0, t + 1)}
            _close(
                stream.forecast_proba(2, future_transition_inputs=future),
                model.forecast_proba(y[: t + 1], None, 2, **ahead)[0],
            )
            _close(
                stream.forecast(2, future_transition_inputs=future),
                model.forecast(y[: t + 1], None, 2, **ahead)[0],
            )
    rest, last_states = stream.flush()
    smoothed.append(rest)
    states.append(last_states)
    assert np.concatenate(smoothed).shape == (40, 2)
    logprob, path = model.decode(y, transition_inputs=w)
    np.testing.assert_array_equal(np.concatenate(states), path)
    _close(stream.path_log_prob, logprob)
    _close(rest, model.predict_proba(y, transition_inputs=w)[40 - len(rest) :])


def _saved_and_loaded(stream):
    """The stream's state after a round trip through ``numpy.savez``."""
    buf = io.BytesIO()
    np.savez(buf, **stream.get_state())
    buf.seek(0)
    with np.load(buf) as saved:
        return dict(saved)


def _pushed(stream, y, kw, lo, hi):
    """(filtered, smoothed, states) of pushing rows lo:hi (none if empty)."""
    if hi == lo:
        return []
    return [(stream.push(y[lo:hi], **kw(lo, hi)), stream.smoothed, stream.states)]


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    order=st.integers(1, 3),
    split=st.integers(0, 30),
    cut=st.integers(1, 29),
    lag=st.integers(0, 4),
    max_delay=st.sampled_from([None, 0, 3]),
    viterbi=st.booleans(),
    start=st.sampled_from(["learned", "stationary"]),
    tvtp=st.booleans(),
)
def test_a_saved_and_resumed_stream_continues_the_uninterrupted_one(
    seed, order, split, cut, lag, max_delay, viterbi, start, tvtp
):
    rng = np.random.default_rng(seed)
    n = 30
    model, y, w, kw = _stream_case(rng, order, start, tvtp, n)
    options = dict(lag=lag, max_delay=max_delay, viterbi=viterbi)
    bounds = sorted({0, split, cut, n})

    whole = model.stream(**options)
    want = [out for lo, hi in zip(bounds, bounds[1:]) for out in
            _pushed(whole, y, kw, lo, hi)]  # fmt: skip
    first = model.stream(**options)
    got = [out for lo, hi in zip(bounds, bounds[1:]) if hi <= split for out in
           _pushed(first, y, kw, lo, hi)]  # fmt: skip
    resumed = model.stream(**options).set_state(_saved_and_loaded(first))
    assert resumed.n_pushed == split
    got += [out for lo, hi in zip(bounds, bounds[1:]) if lo >= split for out in
            _pushed(resumed, y, kw, lo, hi)]  # fmt: skip
    assert len(got) == len(want)
    for a, b in zip(got, want):
        for x, z in zip(a, b):
            np.testing.assert_array_equal(x, z)
    assert resumed.log_likelihood == whole.log_likelihood
    future = None if w is None else rng.normal(size=(2, 2))
    np.testing.assert_array_equal(
        resumed.forecast_proba(2, future_transition_inputs=future),
        whole.forecast_proba(2, future_transition_inputs=future),
    )
    for a, b in zip(resumed.flush(), whole.flush()):
        np.testing.assert_array_equal(a, b)
    assert resumed.path_log_prob == whole.path_log_prob
    # and the batch methods: the filter and the log-likelihood
    _close(np.concatenate([out[0] for out in got]),
           model.filter_proba(y, transition_inputs=w))  # fmt: skip
    _close(resumed.log_likelihood, model.score(y, transition_inputs=w))


def _state_of(order=2, n=9, tvtp=False, seed=3):
    rng = np.random.default_rng(seed)
    model, y, w, kw = _stream_case(rng, order, "learned", tvtp, 20)
    stream = model.stream(lag=2)
    stream.push(y[:n], **kw(0, n))
    return model, {key: np.copy(value) for key, value in stream.get_state().items()}


def _set(state, key, value):
    state[key] = value
    return state


def _scaled(state, key, factor):
    return _set(state, key, state[key] * factor)


BAD_STATES = [  # (order, rows pushed, make it bad, the error names)
    (2, 9, lambda s: s.pop("head"), "head"),
    (2, 9, lambda s: _set(s, "options", np.array([3, -1, 1])), "options"),
    (2, 9, lambda s: _set(s, "n_pushed", np.array(-1)), "n_pushed"),
    (2, 9, lambda s: _set(s, "n_pushed", np.array(2.5)), "n_pushed"),
    (2, 9, lambda s: _set(s, "n_pushed", np.array(10)), "n_pushed"),
    (2, 1, lambda s: _set(s, "n_pushed", np.array(2)), "past"),
    (2, 1, lambda s: _set(s, "flushed", np.array(True)), "flushed"),
    (2, 9, lambda s: _set(s, "past", s["past"][:1]), "past"),
    (2, 9, lambda s: _set(s, "past", s["past"] * np.nan), "past"),
    (2, 9, lambda s: _scaled(s, "head", 2.0), "head"),
    (2, 9, lambda s: _set(s, "head", s["head"][::-1].copy()), "head"),
    (3, 9, lambda s: _set(s, "head", s["head"][[0, 1, 1]]), "follow"),
    (
        2,
        9,
        lambda s: _set(s, "head_transitions", s["head_transitions"][:1]),
        "head_transitions",
    ),  # fmt: skip
    (
        2,
        9,
        lambda s: _set(s, "head_transitions", s["head_transitions"][:, ::-1]),
        "head_transitions",
    ),  # fmt: skip
    (2, 9, lambda s: s.pop("fstate"), "fstate"),
    (2, 9, lambda s: _scaled(s, "fstate", 0.5), "fstate"),
    (3, 9, lambda s: _set(s, "counters", s["counters"] + 1), "counters"),
]


@pytest.mark.parametrize("order, n, spoil, match", BAD_STATES)
def test_a_bad_state_is_refused_naming_the_entry_and_the_stream_kept(
    order, n, spoil, match
):
    model, state = _state_of(order, n)
    spoil(state)
    stream = model.stream(lag=2)
    stream.push([0.5, -0.2, 0.1, 0.3])
    before = {key: np.copy(value) for key, value in stream.get_state().items()}
    with pytest.raises(ValueError, match=match):
        stream.set_state(state)
    after = stream.get_state()
    assert before.keys() == after.keys()
    for key in before:
        np.testing.assert_array_equal(before[key], after[key], err_msg=key)


def test_a_state_of_other_parameters_or_options_is_refused():
    model, state = _state_of(2, 9, seed=3)
    other, _ = _state_of(2, 9, seed=4)
    with pytest.raises(ValueError, match="head"):
        other.stream(lag=2).set_state(state)
    with pytest.raises(ValueError, match="options"):
        model.stream(lag=1).set_state(state)
    with pytest.raises(ValueError, match="options"):
        model.stream(lag=2, viterbi=False).set_state(state)
    tvtp, tv_state = _state_of(2, 9, tvtp=True)
    with pytest.raises(ValueError, match="transitions"):
        tvtp.stream(lag=2).set_state({k: v for k, v in tv_state.items()
                                      if k != "transitions"})  # fmt: skip
    for bad in (None, [1, 2], "state"):
        with pytest.raises(ValueError, match="get_state"):
            model.stream(lag=2).set_state(bad)


def test_bad_input_leaves_a_stream_unchanged():
    model = random_model(np.random.default_rng(7), 2, 1)
    stream = model.stream()
    stream.push([0.1, 0.2, 0.3])
    ll = stream.log_likelihood
    for bad in ([0.1, np.nan], np.zeros((2, 2)), "x"):
        with pytest.raises((ValueError, TypeError), match="X"):
            stream.push(bad)
    with pytest.raises(ValueError, match="transition_inputs"):
        stream.push(0.4, transition_inputs=np.ones((1, 2)))
    assert stream.log_likelihood == ll and stream.n_pushed == 3
    _close(stream.push(0.4), model.filter_proba([0.1, 0.2, 0.3, 0.4])[3:])
    short = model.stream()
    short.push(0.0)
    with pytest.raises(ValueError, match="order"):
        short.flush()
    with pytest.raises(ValueError, match="future_transition_inputs"):
        stream.forecast(1, future_transition_inputs=np.ones((1, 2)))
    tvtp = random_tvtp_model(np.random.default_rng(0), 2, 1, "learned").stream()
    tvtp.push([0.1, 0.2], transition_inputs=np.ones((2, 2)))
    for bad in (None, np.ones((1, 3)), np.full((1, 2), np.nan)):
        with pytest.raises(ValueError, match="transition_inputs"):
            tvtp.push(0.3, transition_inputs=bad)
    with pytest.raises(ValueError, match="future_transition_inputs"):
        tvtp.forecast_proba(1)
    assert tvtp.n_pushed == 2


# -- save / load, atomic fit, bad input, threads ---------------------------------------
@pytest.mark.parametrize("tvtp", [False, True])
def test_save_load_round_trip_after_fit(tvtp):
    rng = np.random.default_rng(8)
    kwargs = dict(n_iter=3, memory_budget=10**6, learning_decay=0.8, random_state=1)
    if tvtp:
        truth = random_tvtp_model(rng, 2, 2, "stationary")
        y, lengths, w = _sequences(truth, rng, w_columns=2)
        model = MarkovSwitchingAR(
            2, 2, start="stationary", transition_inputs=True, **kwargs
        )
    else:
        truth = random_model(rng, 2, 2)
        y, lengths, w = _sequences(truth, rng)
        model = MarkovSwitchingAR(2, 2, **kwargs)
    model.fit(y, lengths, transition_inputs=w)
    buf = io.BytesIO()
    model.save(buf)
    buf.seek(0)
    loaded = fasthmm.load(buf)
    assert loaded.get_params() == model.get_params()
    assert loaded.monitor_.history == model.monitor_.history
    for name in model._param_names():
        if getattr(model, name) is not None:
            np.testing.assert_array_equal(getattr(loaded, name), getattr(model, name))
    for got, want in zip(
        _every_answer(loaded, y, lengths, w), _every_answer(model, y, lengths, w)
    ):
        np.testing.assert_array_equal(got, want)


def _with_nan(y):
    y = np.array(y, dtype=float)
    y[len(y) // 2] = np.nan
    return y


@pytest.mark.parametrize("blocks", [False, True])
@pytest.mark.parametrize(
    "failure", ["nan", "short-sequence", "bad-lengths", "bad-transition-inputs"]
)
def test_failed_fit_leaves_the_model_unchanged(failure, blocks):
    rng = np.random.default_rng(9)
    truth = random_tvtp_model(rng, 2, 2, "learned")
    y, lengths, w = _sequences(truth, rng, w_columns=2)
    model = MarkovSwitchingAR(2, 2, transition_inputs=True, n_iter=3)
    model.fit(y, lengths, transition_inputs=w)
    if blocks:
        model.set_params(memory_budget=_budget(model, 40))
    before = snapshot(model)
    args = {
        "nan": (_with_nan(y), lengths, w),
        "short-sequence": (y, [*lengths[:-1], lengths[-1] - 2, 2], w),
        "bad-lengths": (y, [len(y) + 1], w),
        "bad-transition-inputs": (y, lengths, _with_nan(w)),
    }[failure]
    with pytest.raises(ValueError):
        model.fit(args[0], args[1], transition_inputs=args[2])
    assert_unchanged(model, before, f"fit raising on {failure}")


@pytest.mark.parametrize("method", X_METHODS + ("partial_fit",))
def test_bad_input_raises_value_error_naming_it(method):
    rng = np.random.default_rng(10)
    model = random_model(rng, 2, 1)
    y, lengths, _ = _sequences(model, rng)
    call = getattr(model, method)
    with pytest.raises(ValueError, match=r"\bX\b"):
        call(_with_nan(y), lengths)
    for bad in ([len(y) - 1], [len(y) // 2, len(y) // 2 + 2], [len(y), 0]):
        with pytest.raises(ValueError, match="lengths"):
            call(y, bad)
    with pytest.raises(ValueError, match="transition_inputs"):
        call(y, lengths, transition_inputs=np.ones((len(y), 1)))
    with pytest.raises(ValueError, match="memory_budget"):
        copy.deepcopy(model).set_params(memory_budget=0).score(y, lengths)


def test_fit_and_score_do_not_depend_on_the_thread_count():
    default = numba.get_num_threads()
    if default < 2:
        pytest.skip("a single Numba thread available")
    rng = np.random.default_rng(11)
    model = random_model(rng, 2, 2, init_params="", n_iter=3, tol=0.0)
    y, lengths, _ = _sequences(model, rng, n_seq=40)

    def run(threads):
        numba.set_num_threads(threads)
        try:
            fitted = copy.deepcopy(model).fit(y, lengths)
            return fitted, fitted.score(y, lengths)
        finally:
            numba.set_num_threads(default)

    (one, s1), (many, s2) = run(1), run(default)
    assert s1 == s2 and one.monitor_.history == many.monitor_.history
    for name in model._param_names():
        np.testing.assert_array_equal(getattr(one, name), getattr(many, name))


# -- sampling -----------------------------------------------------------------------
def _innovations(model, y, states):
    """Standardised innovations of rows ``order:`` given the drawn regimes."""
    mu, phi, sd = model.means_, model.ar_coef_, np.sqrt(model.variances_)
    dev = y - mu[states]
    p = model.order
    lags = np.stack([dev[p - i : len(y) - i] for i in range(1, p + 1)], axis=1)
    s = states[p:]
    return (dev[p:] - np.einsum("ti,ti->t", phi[s], lags)) / sd[s]


def _assert_standard_normal(z):
    """Mean, variance and the 5/50/95% quantiles of N(0, 1), within Monte
    Carlo error (about 5 standard errors)."""
    n = len(z)
    assert abs(z.mean()) < 5 / np.sqrt(n)
    assert abs(z.var() - 1) < 5 * np.sqrt(2 / n)
    for q, at in ((0.05, -1.6448536), (0.5, 0.0), (0.95, 1.6448536)):
        assert abs(np.mean(z < at) - q) < 5 * np.sqrt(q * (1 - q) / n)


def _assert_transitions(states, mats, mask):
    """The drawn transitions into the rows of ``mask`` follow ``mats``
    (one matrix for all of them), within 5 standard errors."""
    prev, nxt = states[:-1][mask[1:]], states[1:][mask[1:]]
    for i in range(mats.shape[0]):
        n = np.sum(prev == i)
        freq = np.bincount(nxt[prev == i], minlength=mats.shape[0]) / n
        se = np.sqrt(mats[i] * (1 - mats[i]) / n)
        assert np.all(np.abs(freq - mats[i]) < 5 * se + 1e-12), (freq, mats[i])


def test_sampling_follows_the_chain_and_the_autoregression():
    rng = np.random.default_rng(12)
    model = random_model(rng, 3, 2, start="stationary")
    y, states = model.sample(30000, random_state=13)
    _assert_transitions(states, model.transmat_, np.ones(len(states), dtype=bool))
    pi = model.get_stationary_distribution()
    # long-run regime frequencies (positively correlated draws: loose bound)
    assert np.all(np.abs(np.bincount(states, minlength=3) / len(states) - pi) < 0.03)
    _assert_standard_normal(_innovations(model, y[:, 0], states))


def test_sampling_with_transition_inputs_follows_each_rows_matrix():
    rng = np.random.default_rng(14)
    model = random_tvtp_model(rng, 2, 1, "learned", n_w=2)
    n = 30000
    switch = rng.random(n) < 0.5
    w = np.column_stack([np.ones(n), switch.astype(float)])
    y, states = model.sample(n, random_state=15, transition_inputs=w)
    for value in (0.0, 1.0):
        logits = np.einsum("ijd,d->ij", model.transcoef_, [1.0, value])
        mats = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        _assert_transitions(states, mats, w[:, 1] == value)
    _assert_standard_normal(_innovations(model, y[:, 0], states))
    with pytest.raises(ValueError, match="transition_inputs"):
        model.sample(10)
    with pytest.raises(ValueError, match="transition_inputs"):
        model.sample(10, transition_inputs=np.ones((9, 2)))
    with pytest.raises(ValueError, match="transition_inputs"):
        random_model(rng, 2, 1).sample(10, transition_inputs=np.ones((10, 2)))


def test_first_regime_follows_the_start_distribution():
    rng = np.random.default_rng(16)
    model = random_model(rng, 3, 1)
    draws = np.array([model.sample(1, random_state=s)[1][0] for s in range(3000)])
    freq = np.bincount(draws, minlength=3) / len(draws)
    p = model.startprob_
    assert np.all(np.abs(freq - p) < 5 * np.sqrt(p * (1 - p) / len(draws)))


def path_posterior(model, y, w=None):
    """p(path | y) of every regime path of one short sequence, by enumeration."""
    paths, scores = path_scores(model, y, w)
    return paths, np.exp(scores - logsumexp(scores))


@pytest.mark.parametrize("tvtp", [False, True])
def test_sample_posterior_draws_paths_with_their_posterior_probability(tvtp):
    rng = np.random.default_rng(17)
    if tvtp:
        model = random_tvtp_model(rng, 2, 2, "stationary")
        w = np.column_stack([np.ones(5), rng.normal(size=5)])
    else:
        model, w = random_model(rng, 2, 2), None
    y = model.sample(5, random_state=rng, transition_inputs=w)[0][:, 0]
    paths, prob = path_posterior(model, y, w)
    n = 20000
    draws = model.sample_posterior(y, n_samples=n, random_state=18, transition_inputs=w)
    index = draws @ (2 ** np.arange(4, -1, -1))  # the path's number, base 2
    freq = np.bincount(index, minlength=len(paths)) / n
    np.testing.assert_array_equal(paths @ (2 ** np.arange(4, -1, -1)), np.arange(32))
    assert np.all(np.abs(freq - prob) < 5 * np.sqrt(prob * (1 - prob) / n) + 1e-3)
    # two sequences, walked in blocks: each its own posterior
    both = model.sample_posterior(
        np.concatenate([y, y]),
        [5, 5],
        n_samples=4000,
        random_state=19,
        transition_inputs=None if w is None else np.concatenate([w, w]),
    )
    for half in (both[:, :5], both[:, 5:]):
        marginal = half.mean(axis=0)
        want = (prob[:, None] * paths).sum(axis=0)
        assert np.all(np.abs(marginal - want) < 5 * np.sqrt(0.25 / 4000))


# -- dask ------------------------------------------------------------------------------
client = test_distributed.client  # the local dask cluster of two workers


def load_part(seed, tvtp):
    """A partition of whole sequences from a fixed model."""
    rng = np.random.default_rng(seed)
    if tvtp:
        truth = random_tvtp_model(np.random.default_rng(0), 2, 2, "stationary")
        y, lengths, w = _sequences(truth, rng, n_seq=3 + seed, w_columns=2)
        return {"X": y, "lengths": lengths, "transition_inputs": w}
    y, lengths, _ = _sequences(random_model(np.random.default_rng(0), 2, 2), rng)
    return y, lengths


def failing_loader():
    raise OSError("disk on fire")


@pytest.mark.parametrize("tvtp", [False, True])
def test_dask_fit_equals_the_local_fit(client, tvtp):
    from fasthmm import distributed as fd

    parts = [functools.partial(load_part, i, tvtp) for i in range(3)]
    model = MarkovSwitchingAR(
        2, 2, n_iter=4, tol=0.0, start="stationary", transition_inputs=tvtp
    )
    remote = fd.fit(copy.deepcopy(model), client, parts)
    loaded = [p() for p in parts]
    if tvtp:
        y = np.concatenate([p["X"] for p in loaded])
        lengths = np.concatenate([p["lengths"] for p in loaded])
        w = np.concatenate([p["transition_inputs"] for p in loaded])
    else:
        y = np.concatenate([p[0] for p in loaded])
        lengths = np.concatenate([p[1] for p in loaded])
        w = None
    local = copy.deepcopy(model).fit(y, lengths, transition_inputs=w)
    _close(remote.monitor_.history, local.monitor_.history, rtol=1e-8)
    for name in local._param_names():
        if getattr(local, name) is not None:
            _close(getattr(remote, name), getattr(local, name), rtol=1e-7)


def test_dask_errors_name_the_partition_and_change_nothing(client):
    from fasthmm import distributed as fd

    model = MarkovSwitchingAR(2, 2, n_iter=2).fit(*load_part(0, False))
    before = snapshot(model)
    bad = functools.partial(load_part, 1, True)  # transition inputs: refused
    for parts, word in (
        ([functools.partial(load_part, 0, False), failing_loader], "partition 1"),
        ([bad], "partition 0.*transition_inputs"),
    ):
        with pytest.raises(ValueError, match=word):
            fd.fit(model, client, parts)
        assert_unchanged(model, before, "a failed dask fit")


def test_dask_initialises_from_a_sample_of_each_partition(client, monkeypatch):
    from fasthmm import distributed as fd

    # 60 rows over 3 partitions: each gives its first 20 rows (one slice)
    monkeypatch.setattr(fd, "INIT_SAMPLE_ROWS", 60)
    monkeypatch.setattr(fd, "INIT_SLICES", 3)
    parts = [functools.partial(load_part, i, False) for i in range(3)]
    model = fd.fit(MarkovSwitchingAR(2, 2, n_iter=0), client, parts)
    rows = np.concatenate([p()[0][:20, 0] for p in parts])
    _close(model.means_, np.quantile(rows, [0.25, 0.75]))
