"""fasthmm.datasets: the bundled series load with the documented shapes and
dtypes, match independently known values, and a model fits each of them."""

import numpy as np
import pytest

import fasthmm
from fasthmm import datasets

LOADERS = {
    "earthquakes": (datasets.load_earthquakes, 107, np.int64, 1900.0, 2006.0),
    "nile": (datasets.load_nile, 100, np.float64, 1871.0, 1970.0),
    "us_gdp": (datasets.load_us_gdp, 202, np.float64, 1959.25, 2009.5),
    "fedfunds": (datasets.load_fedfunds, 226, np.float64, 1954.5, 2010.75),
}


@pytest.mark.parametrize("name", LOADERS)
def test_shape_dtype_and_time(name):
    load, n, dtype, first, last = LOADERS[name]
    data = load()
    assert data.name == name
    assert data.X.shape == (n, 1) and data.X.dtype == dtype
    assert data.time.shape == (n,) and data.time.dtype == np.float64
    assert data.time[0] == first and data.time[-1] == last
    step = 0.25 if name in ("us_gdp", "fedfunds") else 1.0
    np.testing.assert_allclose(np.diff(data.time), step)
    assert np.all(np.isfinite(data.X))
    assert data.units and data.description
    assert name in repr(data)


@pytest.mark.parametrize("name", LOADERS)
def test_loader_docstring_states_source_and_licence(name):
    doc = LOADERS[name][0].__doc__
    assert "Source:" in doc and "Licence: public domain" in doc


def test_values_match_the_published_series():
    # First and last values as printed in Zucchini, MacDonald & Langrock
    # (Table 1.1), Cobb (1978) / R's datasets::Nile, and the realgdp column
    # of statsmodels' macrodata (1959Q1 2710.349, 1959Q2 2778.801).
    quakes = datasets.load_earthquakes().X.ravel()
    assert quakes[:5].tolist() == [13, 14, 8, 10, 16]
    assert quakes[-3:].tolist() == [16, 11, 11]
    nile = datasets.load_nile().X.ravel()
    assert nile[:4].tolist() == [1120.0, 1160.0, 963.0, 1210.0]
    assert nile[-1] == 740.0
    gdp = datasets.load_us_gdp().X.ravel()
    assert gdp[0] == pytest.approx(400 * np.log(2778.801 / 2710.349))


def test_each_series_fits():
    quakes = datasets.load_earthquakes()
    model = fasthmm.PoissonHMM(2, n_iter=20, random_state=0).fit(quakes.X)
    assert np.all(np.isfinite(model.lambdas_))
    # Two regimes: a quiet and an active one, either side of the overall mean.
    low, high = np.sort(model.lambdas_.ravel())
    assert low < quakes.X.mean() < high
    for load in (datasets.load_nile, datasets.load_us_gdp):
        data = load()
        model = fasthmm.GaussianHMM(2, n_iter=20, random_state=0).fit(data.X)
        assert model.predict(data.X).shape == (data.X.shape[0],)
        assert np.isfinite(model.score(data.X))


def test_fedfunds_is_statsmodels_series():
    """The series and its covariates are the arrays of statsmodels' tests."""
    pytest.importorskip("pandas")
    reference = pytest.importorskip(
        "statsmodels.tsa.regime_switching.tests.test_markov_regression"
    )
    data = datasets.load_fedfunds()
    np.testing.assert_array_equal(data.X.ravel(), reference.fedfunds)
    assert data.input_names == ("ogap", "inflation")
    np.testing.assert_array_equal(data.inputs[:, 0], reference.ogap)
    np.testing.assert_array_equal(data.inputs[:, 1], reference.inf)
    assert np.isnan(data.inputs[:4, 1]).all() and np.isfinite(data.inputs[4:]).all()
