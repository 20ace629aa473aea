"""fasthmm.plot draws what the model holds (Agg backend; skipped without matplotlib)."""

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import fasthmm  # noqa: E402
from fasthmm import datasets, plot  # noqa: E402


def integral(x, y):
    x, y = np.asarray(x), np.asarray(y)
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2))


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.RandomState(0)
    X = np.concatenate([rng.normal(0, 1, (60, 2)), rng.normal(5, 1, (60, 2))])
    model = fasthmm.GaussianHMM(2, n_iter=20, random_state=0).fit(X)
    return model, X


def test_states_panel(fitted):
    model, X = fitted
    ax_series, ax_post = plot.states(model, X, feature=1)
    _, decoded = model.decode(X)
    points = ax_series.collections[0]
    np.testing.assert_array_equal(points.get_offsets()[:, 1], X[:, 1])
    colours = points.get_facecolors()
    expected = matplotlib.colors.to_rgba_array([f"C{k}" for k in decoded])
    np.testing.assert_allclose(colours, expected)
    post = model.predict_proba(X)
    lines = ax_post.get_lines()
    assert len(lines) == model.n_components
    for k, line in enumerate(lines):
        np.testing.assert_allclose(line.get_ydata(), post[:, k])


def test_states_takes_a_list_of_sequences(fitted):
    model, X = fitted
    ax_series, _ = plot.states(model, [X[:50], X[50:]])
    np.testing.assert_array_equal(ax_series.collections[0].get_offsets()[:, 1], X[:, 0])


def test_transition_matrix_heatmap(fitted):
    model, _ = fitted
    ax = plot.transition_matrix(model)
    np.testing.assert_allclose(ax.images[0].get_array(), model.transmat_)
    texts = sorted(float(t.get_text()) for t in ax.texts)
    np.testing.assert_allclose(texts, np.sort(np.round(model.transmat_, 2).ravel()))


def test_convergence_history(fitted):
    model, _ = fitted
    ax = plot.convergence(model)
    (line,) = ax.get_lines()
    np.testing.assert_array_equal(line.get_ydata(), model.monitor_.history)
    np.testing.assert_array_equal(
        line.get_xdata(), np.arange(1, model.monitor_.iter + 1)
    )


def test_selection_curve(fitted):
    _, X = fitted
    result = fasthmm.select_n_components(
        fasthmm.GaussianHMM(n_iter=10), X, k_values=[1, 2, 3], n_restarts=1,
        random_state=0,
    )  # fmt: skip
    ax = plot.selection(result)
    lines = {line.get_label(): line for line in ax.get_lines()}
    np.testing.assert_allclose(lines["AIC"].get_ydata(), result.aic)
    np.testing.assert_allclose(lines["BIC"].get_ydata(), result.bic)
    assert lines[f"best K = {result.best_k}"].get_xdata()[0] == result.best_k


@pytest.mark.parametrize("covariance_type", ["spherical", "diag", "full", "tied"])
def test_gaussian_densities_integrate_to_one_and_peak_at_the_means(covariance_type):
    rng = np.random.RandomState(1)
    X = np.concatenate([rng.normal(0, 1, (60, 2)), rng.normal(6, 2, (60, 2))])
    model = fasthmm.GaussianHMM(2, covariance_type=covariance_type, random_state=0)
    model.fit(X)
    ax = plot.emission_densities(model, X, feature=1)
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["state 0", "state 1"]
    for k, line in enumerate(lines):
        x, y = line.get_xdata(), line.get_ydata()
        assert integral(x, y) == pytest.approx(1.0, abs=1e-3)
        assert x[np.argmax(y)] == pytest.approx(model.means_[k, 1], abs=(x[1] - x[0]))


def test_gmm_poisson_categorical_densities():
    rng = np.random.RandomState(2)
    X = np.concatenate([rng.normal(0, 1, (80, 1)), rng.normal(5, 1, (80, 1))])
    gmm = fasthmm.GMMHMM(2, n_mix=2, random_state=0).fit(X)
    for line in plot.emission_densities(gmm).get_lines():
        assert integral(line.get_xdata(), line.get_ydata()) == pytest.approx(
            1, abs=1e-3
        )
    counts = rng.poisson(3.0, (100, 1))
    poisson = fasthmm.PoissonHMM(2, random_state=0).fit(counts)
    ax = plot.emission_densities(poisson, counts, state=1)
    (line,) = ax.get_lines()
    lam = poisson.lambdas_[1, 0]
    n = line.get_xdata()
    from math import factorial

    expected = [np.exp(-lam) * lam**i / factorial(int(i)) for i in n]
    np.testing.assert_allclose(line.get_ydata(), expected, rtol=1e-10)
    symbols = rng.randint(0, 4, (100, 1))
    cat = fasthmm.CategoricalHMM(2, random_state=0).fit(symbols)
    lines = plot.emission_densities(cat).get_lines()
    for k, line in enumerate(lines):
        np.testing.assert_allclose(line.get_ydata(), cat.emissionprob_[k])


def test_axes_given_are_used(fitted):
    model, _ = fitted
    fig, ax = plt.subplots()
    assert plot.convergence(model, ax=ax) is ax


def test_missing_matplotlib_names_the_extra(fitted, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"fasthmm\[plot\]"):
        plot.convergence(fitted[0])


def test_states_time_axis_and_sequence_boundaries(fitted):
    model, X = fitted
    time = 2000.0 + 0.25 * np.arange(len(X))
    ax_series, ax_post = plot.states(model, X, [50, 70], time=time)
    np.testing.assert_array_equal(ax_series.collections[0].get_offsets()[:, 0], time)
    post = model.predict_proba(X, [50, 70])
    curves = [line for line in ax_post.get_lines() if len(line.get_xdata()) > 2]
    # one curve per state and sequence, none drawn across the boundary
    assert len(curves) == 2 * model.n_components
    np.testing.assert_array_equal(curves[0].get_xdata(), time[:50])
    np.testing.assert_allclose(curves[0].get_ydata(), post[:50, 0])
    marks = [line for line in ax_post.get_lines() if len(line.get_xdata()) == 2]
    assert [m.get_xdata()[0] for m in marks] == [time[50]]
    assert ax_post.get_xlabel() == "time"
    with pytest.raises(ValueError, match="time must have one entry per sample"):
        plot.states(model, X, time=time[:-1])


def test_states_reads_a_dataset_and_a_dataframe():
    quakes = datasets.load_earthquakes()
    model = fasthmm.PoissonHMM(2, n_iter=5, random_state=0).fit(quakes.X)
    ax_series, ax_post = plot.states(model, quakes)
    np.testing.assert_array_equal(
        ax_series.collections[0].get_offsets()[:, 0], quakes.time
    )
    assert ax_series.get_ylabel() == quakes.units and ax_post.get_xlabel() == "year"
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(
        {"count": quakes.X[:, 0]}, index=pd.Index(quakes.time, name="when")
    )
    ax_series, ax_post = plot.states(model, frame)
    np.testing.assert_array_equal(
        ax_series.collections[0].get_offsets()[:, 0], quakes.time
    )
    assert ax_series.get_ylabel() == "count" and ax_post.get_xlabel() == "when"


def test_segments_are_the_runs_of_the_decoded_path():
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(0, 1, (30, 1)), rng.normal(6, 1, (20, 1))] * 2)
    lengths = [60, 40]
    model = fasthmm.GaussianHSMM(2, max_duration=40, random_state=0).fit(X, lengths)
    ax = plot.segments(model, X, lengths)
    # Runs of the Viterbi path, cut at the sequence boundary, written out.
    path, expected = model.predict(X, lengths), []
    for t, state in enumerate(path):
        if t in (0, 60) or state != path[t - 1]:
            expected.append([t, 0, state])
        expected[-1][1] += 1
    bars = [
        (p.get_x(), p.get_width(), p.get_y() + p.get_height() / 2) for p in ax.patches
    ]
    np.testing.assert_allclose(bars, expected)
    colours = [p.get_facecolor() for p in ax.patches]
    want = matplotlib.colors.to_rgba_array([f"C{s}" for _, _, s in expected])
    np.testing.assert_allclose(colours, want)


def test_durations_of_a_semi_markov_model_and_of_an_hmm():
    hsmm = fasthmm.PoissonHSMM(2, max_duration=5, init_params="")
    hsmm.durationprob_ = np.array([[0.1, 0.2, 0.3, 0.4, 0.0], [1.0, 0, 0, 0, 0]])
    lines = plot.durations(hsmm).get_lines()
    assert len(lines) == 2
    for line, row in zip(lines, hsmm.durationprob_):
        np.testing.assert_array_equal(line.get_xdata(), [1, 2, 3, 4, 5])
        np.testing.assert_array_equal(line.get_ydata(), row)
    hmm = fasthmm.GaussianHMM(2)
    hmm.transmat_ = np.array([[0.9, 0.1], [0.5, 0.5]])
    lines = plot.durations(hmm, max_duration=3).get_lines()
    np.testing.assert_allclose(lines[0].get_ydata(), [0.1, 0.09, 0.081])
    np.testing.assert_allclose(lines[1].get_ydata(), [0.5, 0.25, 0.125])


def test_forecast_fan(fitted):
    model, X = fitted
    ax = plot.forecast(model, X, steps=5, feature=1, random_state=0, n_draws=500)
    observed, mean = ax.get_lines()
    np.testing.assert_array_equal(observed.get_ydata(), X[:, 1])
    np.testing.assert_allclose(mean.get_ydata(), model.forecast(X, steps=5)[0, :, 1])
    np.testing.assert_array_equal(mean.get_xdata(), np.arange(120, 125))
    assert len(ax.collections) == 2  # two bands: 5-95 and 25-75
    for band in ax.collections:  # each band holds the mean inside it
        vertices = band.get_paths()[0].vertices
        lo, hi = vertices[:, 1].min(), vertices[:, 1].max()
        assert lo < mean.get_ydata().min() and mean.get_ydata().max() < hi


def test_forecast_fan_of_a_dataset_continues_its_time():
    data = datasets.load_us_gdp()
    model = fasthmm.GaussianHMM(2, n_iter=10, random_state=0).fit(data.X)
    ax = plot.forecast(model, data, steps=4, history=20, quantiles=())
    observed, mean = ax.get_lines()
    assert observed.get_xdata().shape == (20,)
    np.testing.assert_allclose(mean.get_xdata(), data.time[-1] + 0.25 * np.arange(1, 5))
    np.testing.assert_allclose(
        mean.get_ydata(), model.forecast(data.X, steps=4)[0, :, 0]
    )
    assert not ax.collections
    with pytest.raises(ValueError, match="quantiles"):
        plot.forecast(model, data, quantiles=(0.1, 0.5, 1.2))


def test_forecast_fan_of_a_semi_markov_model_draws_the_mean_alone():
    rng = np.random.RandomState(1)
    X = np.concatenate([rng.normal(0, 1, (30, 1)), rng.normal(5, 1, (30, 1))])
    model = fasthmm.GaussianHSMM(2, max_duration=10, n_iter=5, random_state=0).fit(X)
    ax = plot.forecast(model, X, steps=3)
    (_, mean) = ax.get_lines()
    np.testing.assert_allclose(mean.get_ydata(), model.forecast(X, steps=3)[0, :, 0])
    assert not ax.collections
    with pytest.raises(NotImplementedError, match="quantiles=()"):
        plot.forecast(model, X, steps=3, quantiles=(0.1, 0.9))


def test_forecast_fan_of_hamiltons_model_draws_its_exact_mean():
    data = datasets.load_us_gdp()
    model = fasthmm.MarkovSwitchingAR(2, order=2, n_iter=5, random_state=0).fit(data.X)
    ax = plot.forecast(model, data, steps=4)
    (_, mean) = ax.get_lines()
    np.testing.assert_allclose(
        mean.get_ydata(), model.forecast(data.X, steps=4)[0, :, 0]
    )
    assert not ax.collections  # it forecasts its own way and draws no bands


def test_forecast_fan_of_an_autoregression_draws_its_continuations():
    rng = np.random.RandomState(2)
    X = np.cumsum(rng.normal(size=(80, 1)), axis=0)
    model = fasthmm.ARHMM(2, order=1, n_iter=5, random_state=0).fit(X)
    ax = plot.forecast(model, X, steps=4, n_draws=300, random_state=0)
    (_, mean) = ax.get_lines()
    np.testing.assert_allclose(mean.get_ydata(), model.forecast(X, steps=4)[0, :, 0])
    assert len(ax.collections) == 2


def test_forecast_fan_with_input_driven_transitions():
    rng = np.random.RandomState(3)
    X = np.concatenate([rng.normal(0, 1, (40, 1)), rng.normal(4, 1, (40, 1))])
    W = np.column_stack([np.ones(80), rng.normal(size=80)])
    model = fasthmm.GaussianHMM(2, transition_inputs=True, n_iter=5, random_state=0)
    model.fit(X, transition_inputs=W)
    future = np.column_stack([np.ones(4), np.linspace(-2, 2, 4)])
    ax = plot.forecast(model, X, steps=4, n_draws=300, random_state=0,
                       transition_inputs=W, future_transition_inputs=future)  # fmt: skip
    (_, mean) = ax.get_lines()
    expected = model.forecast(
        X, steps=4, transition_inputs=W, future_transition_inputs=future
    )
    np.testing.assert_allclose(mean.get_ydata(), expected[0, :, 0])
    assert len(ax.collections) == 2
