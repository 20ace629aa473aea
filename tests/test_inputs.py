"""``inputs=`` through every route: validation at the boundary, the model's
``_design`` hook applied once per batch (in memory, lists of sequences,
blocks, streams, partitions), and errors that name the argument.

The model under test, :class:`ShiftedGaussianHMM`, sees ``x_t - u_t``: its
every answer must equal a :class:`fasthmm.GaussianHMM` with the same
parameters on the shifted data."""

import copy
import functools

import numpy as np
import pytest

import fasthmm
from fasthmm import distributed as fd
from fasthmm._validation import check_inputs


class ShiftedGaussianHMM(fasthmm.GaussianHMM):
    """Gaussian emissions of ``x_t - u_t`` (one input per feature)."""

    def _design(self, X, starts, inputs):
        if inputs is None:
            raise ValueError("ShiftedGaussianHMM needs inputs=")
        return np.asarray(X, dtype=float).reshape(inputs.shape[0], -1) - inputs

    def _sample_emissions(self, params, states, rng, inputs):
        u = check_inputs(inputs, None, None, len(states))
        if u is None:
            raise ValueError("ShiftedGaussianHMM needs inputs=")
        return params.emission.sample(states, rng) + u


def pair(seed=0, n=90, lengths=(40, 30, 20)):
    rng = np.random.default_rng(seed)
    plain = fasthmm.GaussianHMM(2)
    plain.startprob_ = np.array([0.6, 0.4])
    plain.transmat_ = np.array([[0.9, 0.1], [0.2, 0.8]])
    plain.means_ = np.array([[0.0, 1.0], [3.0, -2.0]])
    plain.covars_ = np.array([[1.0, 0.5], [0.7, 1.2]])
    shifted = ShiftedGaussianHMM(2)
    for name in ("startprob_", "transmat_", "means_", "covars_"):
        setattr(shifted, name, getattr(plain, name).copy())
    X = rng.normal(size=(n, 2)) * 2
    U = rng.normal(size=(n, 2))
    return plain, shifted, X, U, list(lengths)


@pytest.mark.parametrize(
    "method", ["score", "predict_proba", "filter_proba", "predict", "aic", "bic"]
)
def test_in_memory_routes_see_the_design(method):
    plain, shifted, X, U, lengths = pair()
    got = getattr(shifted, method)(X, lengths, inputs=U)
    np.testing.assert_array_equal(got, getattr(plain, method)(X - U, lengths))


def test_decode_log_emissions_and_posterior_samples():
    plain, shifted, X, U, lengths = pair()
    assert shifted.decode(X, lengths, inputs=U)[0] == plain.decode(X - U, lengths)[0]
    np.testing.assert_array_equal(
        shifted.log_emissions(X, lengths, inputs=U), plain.log_emissions(X - U)
    )
    np.testing.assert_array_equal(
        shifted.sample_posterior(X, lengths, 3, random_state=0, inputs=U),
        plain.sample_posterior(X - U, lengths, 3, random_state=0),
    )


def test_lists_of_sequences_take_lists_of_inputs():
    plain, shifted, X, U, lengths = pair()
    bounds = np.cumsum([0, *lengths])
    Xs = [X[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
    Us = [U[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
    assert shifted.score(Xs, inputs=Us) == plain.score(X - U, lengths)
    with pytest.raises(TypeError, match="inputs must be a list"):
        shifted.score(Xs, inputs=U)
    with pytest.raises(ValueError, match=r"inputs\[2\] must have one row"):
        shifted.score(Xs, inputs=[Us[0], Us[1], Us[2][:-1]])


def test_fit_equals_a_fit_on_the_design():
    plain, shifted, X, U, lengths = pair()
    kw = {"n_iter": 5, "tol": -np.inf, "random_state": 1}
    a = fasthmm.GaussianHMM(2, **kw).fit(X - U, lengths)
    b = ShiftedGaussianHMM(2, **kw).fit(X, lengths, inputs=U)
    np.testing.assert_array_equal(a.monitor_.history, b.monitor_.history)
    np.testing.assert_array_equal(a.means_, b.means_)
    c = ShiftedGaussianHMM(2, **kw).partial_fit(X, lengths, inputs=U)
    d = fasthmm.GaussianHMM(2, **kw).partial_fit(X - U, lengths)
    np.testing.assert_array_equal(c.means_, d.means_)


def test_blocks_slice_the_inputs_with_x():
    plain, shifted, X, U, lengths = pair(n=300, lengths=(100,) * 3)
    small = copy.deepcopy(shifted).set_params(memory_budget=4000)
    assert small._blocks(X, lengths, U) is not None
    assert small.score(X, lengths, inputs=U) == pytest.approx(
        plain.score(X - U, lengths), rel=1e-13
    )
    np.testing.assert_array_equal(
        small.predict(X, lengths, inputs=U), plain.predict(X - U, lengths)
    )
    kw = {"n_iter": 3, "tol": -np.inf, "random_state": 0}
    a = ShiftedGaussianHMM(2, memory_budget=4000, **kw).fit(X, lengths, inputs=U)
    b = fasthmm.GaussianHMM(2, **kw).fit(X - U, lengths)
    np.testing.assert_allclose(a.monitor_.history, b.monitor_.history, rtol=1e-12)


@pytest.mark.parametrize("cuts", [[90], [1, 89], [30, 7, 53]])
def test_a_stream_split_anyhow_equals_the_batch(cuts):
    plain, shifted, X, U, _ = pair(lengths=(90,))
    got, want = shifted.stream(lag=3), plain.stream(lag=3)
    lo = 0
    for n in cuts:
        np.testing.assert_array_equal(
            got.push(X[lo : lo + n], inputs=U[lo : lo + n]),
            want.push(X[lo : lo + n] - U[lo : lo + n]),
        )
        np.testing.assert_array_equal(got.smoothed, want.smoothed)
        np.testing.assert_array_equal(got.states, want.states)
        lo += n
    for a, b in zip(got.flush(), want.flush()):
        np.testing.assert_array_equal(a, b)
    assert got.log_likelihood == pytest.approx(plain.score(X - U), rel=1e-12)


def test_sample_takes_the_inputs_of_the_rows_drawn():
    plain, shifted, _, U, _ = pair()
    x, z = shifted.sample(90, random_state=3, inputs=U)
    y, w = plain.sample(90, random_state=3)
    np.testing.assert_array_equal(z, w)
    np.testing.assert_allclose(x, y + U)
    with pytest.raises(ValueError, match="inputs must have one row per sample"):
        shifted.sample(5, inputs=U)
    with pytest.raises(ValueError, match="use none"):
        plain.sample(5, inputs=U[:5])


@pytest.mark.parametrize(
    "bad, message",
    [
        (None, "needs inputs="),
        ("U[:-1]", "inputs must have one row per sample of X"),
        ("nan", "inputs must not contain NaN"),
        ("inf", "inputs must be finite"),
        ("3d", "inputs must be 1-D or 2-D"),
        ("text", "inputs must hold real numbers"),
    ],
)
def test_bad_inputs_are_named(bad, message):
    _, shifted, X, U, lengths = pair()
    value = {
        None: None,
        "U[:-1]": U[:-1],
        "nan": np.where(np.arange(90)[:, None] == 5, np.nan, U),
        "inf": np.where(np.arange(90)[:, None] == 5, np.inf, U),
        "3d": U[:, :, None],
        "text": np.full((90, 2), "a"),
    }[bad]
    before = copy.deepcopy(shifted.means_)
    for call in (
        lambda: shifted.score(X, lengths, inputs=value),
        lambda: shifted.fit(X, lengths, inputs=value),
    ):
        with pytest.raises((ValueError, TypeError), match=message):
            call()
    np.testing.assert_array_equal(shifted.means_, before)


def test_one_dimensional_inputs_are_one_column():
    rng = np.random.default_rng(2)
    u = rng.normal(size=50)
    got = check_inputs(u, np.zeros((50, 1)), None, 50)
    assert got.shape == (50, 1) and got.flags.c_contiguous and got.dtype == float
    np.testing.assert_array_equal(got[:, 0], u)


def test_models_without_inputs_refuse_them():
    plain, _, X, U, lengths = pair()
    for call in (
        lambda: plain.score(X, lengths, inputs=U),
        lambda: plain.fit(X, lengths, inputs=U),
        lambda: plain.stream().push(X[:3], inputs=U[:3]),
        lambda: fasthmm.stream_filter(plain.startprob_, plain.transmat_).push(
            np.zeros((1, 2)), inputs=U[:1]
        ),
    ):
        with pytest.raises(ValueError, match="inputs were given"):
            call()


def _partition(X, lengths, W):
    return {"X": X, "lengths": lengths, "transition_inputs": W}


def test_partitions_return_their_transition_inputs():
    distributed = pytest.importorskip("distributed")
    rng = np.random.default_rng(4)
    X = rng.normal(size=(120, 1)) + 3 * (rng.random((120, 1)) < 0.4)
    W = np.column_stack([np.ones(120), rng.normal(size=120)])
    parts = [
        functools.partial(_partition, X[:60], [30, 30], W[:60]),
        functools.partial(_partition, X[60:], [60], W[60:]),
    ]
    kw = {"n_iter": 3, "tol": -np.inf, "random_state": 0, "transition_inputs": True}
    local = fasthmm.GaussianHMM(2, **kw).fit(X, [30, 30, 60], transition_inputs=W)
    with distributed.Client(processes=False, n_workers=1, dashboard_address=None) as c:
        remote = fd.fit(fasthmm.GaussianHMM(2, **kw), c, parts)
    np.testing.assert_allclose(
        remote.monitor_.history, local.monitor_.history, rtol=1e-10
    )
    np.testing.assert_allclose(remote.transcoef_, local.transcoef_, atol=1e-8)


def test_the_command_line_reads_transition_inputs(tmp_path, capsys):
    from fasthmm import cli

    rng = np.random.default_rng(5)
    n = 150
    W = np.column_stack([np.ones(n), rng.normal(size=n)])
    X = rng.normal(size=(n, 1)) + 3 * (rng.random((n, 1)) < 0.4)
    np.save(tmp_path / "w.npy", W)
    np.save(tmp_path / "x.npy", X)
    x, w, m = (str(tmp_path / f) for f in ("x.npy", "w.npy", "m.npz"))
    args = ["-k", "2", "--n-iter", "5", "-q", "-o", m]
    assert cli.main(["fit", x, "--transition-inputs", w, *args]) == 0
    model = fasthmm.load(m)
    assert model.transition_inputs and model.transcoef_.shape == (2, 2, 2)
    capsys.readouterr()
    assert cli.main(["score", x, m, "--transition-inputs", w]) == 0
    line = capsys.readouterr().out.splitlines()[0]
    assert float(line.split()[-1]) == pytest.approx(
        model.score(X, transition_inputs=W), rel=1e-9
    )
    assert cli.main(["score", x, m]) == 1
    assert "pass transition_inputs=" in capsys.readouterr().err
