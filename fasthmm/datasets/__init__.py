"""Small real time series bundled with fasthmm, for examples and tests.

Each loader reads a CSV file shipped inside the package (nothing is
downloaded) and returns a :class:`Dataset` whose ``X`` goes straight into a
model's ``fit``. Every series is in the public domain; each loader's Notes
say where the numbers come from.

========================  =========  ===========================================
loader                    samples    suits
========================  =========  ===========================================
:func:`load_earthquakes`  107        ``PoissonHMM``: yearly counts
:func:`load_fedfunds`     226        regimes of interest rates, forecasts
:func:`load_nile`         100        ``GaussianHMM``: a change point
:func:`load_us_gdp`       202        ``GaussianHMM``: expansions and recessions
========================  =========  ===========================================
"""

import csv
import io
from dataclasses import dataclass
from importlib import resources

import numpy as np

__all__ = ["Dataset", "load_earthquakes", "load_fedfunds", "load_nile", "load_us_gdp"]


@dataclass(frozen=True)
class Dataset:
    """A bundled series.

    Attributes
    ----------
    X : ndarray of shape (n_samples, 1)
        The observations, ready for ``fit`` (int64 counts or float64 values).
    time : ndarray of shape (n_samples,), float64
        When each observation was made, in years (quarters as fractions:
        1959.25 is the second quarter of 1959).
    name : str
    units : str
        What one value of ``X`` measures.
    description : str
        One paragraph on the series and its source.
    inputs : ndarray of shape (n_samples, n_inputs) or None
        Covariates observed with the series, aligned with ``X``'s rows (NaN
        where a covariate is not available), for models that take
        ``inputs``; None when the data set has none.
    input_names : tuple of str
        The name of each column of ``inputs``.
    """

    X: np.ndarray
    time: np.ndarray
    name: str
    units: str
    description: str
    inputs: np.ndarray = None
    input_names: tuple = ()

    def __repr__(self):
        return (
            f"Dataset(name={self.name!r}, n_samples={self.X.shape[0]}, "
            f"time={self.time[0]:g}..{self.time[-1]:g}, units={self.units!r})"
        )


def _read_csv(filename):
    """Columns of a bundled CSV file, by header name, as float64 arrays."""
    text = resources.files(__name__).joinpath(filename).read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    header, body = rows[0], rows[1:]
    table = np.array(body, dtype=np.float64)
    return {name: table[:, i] for i, name in enumerate(header)}


def _description(fn):
    """The first paragraph of a loader's docstring after its summary line."""
    return " ".join(fn.__doc__.split("\n\n")[1].split())


def load_earthquakes():
    """Yearly counts of major earthquakes in the world, 1900-2006.

    The number of earthquakes of magnitude 7 or more in each year, the
    series Zucchini, MacDonald and Langrock use throughout their book to
    introduce Poisson hidden Markov models: the counts are overdispersed
    and serially correlated, as a Poisson HMM with two or three states
    (quiet and active periods) describes.

    Returns
    -------
    Dataset
        ``X``: int64 of shape (107, 1); ``time``: the years 1900..2006.

    Notes
    -----
    Source: the U.S. Geological Survey's earthquake catalogue, as tabulated in
    W. Zucchini, I. L. MacDonald and R. Langrock, *Hidden Markov Models for
    Time Series: An Introduction Using R*, 2nd ed., CRC Press, 2016
    (Table 1.1), and copied here from the example ``plot_poisson_hmm.py`` of
    hmmlearn 0.3.3 (BSD-3-Clause).

    Licence: public domain. The counts are U.S. Geological Survey data, a
    work of the U.S. federal government; USGS information is in the public
    domain unless otherwise noted.
    """
    cols = _read_csv("earthquakes.csv")
    return Dataset(
        X=cols["count"].astype(np.int64)[:, None],
        time=cols["year"],
        name="earthquakes",
        units="earthquakes of magnitude 7 or more per year",
        description=_description(load_earthquakes),
    )


def load_fedfunds():
    """The US effective federal funds rate, quarterly, 1954Q3-2010Q4.

    The quarterly average of the effective federal funds rate, in percent a
    year: the interest rate at which US banks lend reserves overnight, the
    Federal Reserve's policy instrument. It moves between regimes of low
    and high rates (the high-inflation years 1973-1985 stand out), the
    series statsmodels and Stata use to demonstrate Markov-switching
    regressions. Two covariates come with it as ``inputs``: the output gap
    and inflation, the regressors of a Taylor rule.

    Returns
    -------
    Dataset
        ``X``: float64 of shape (226, 1); ``time``: 1954.5 (the third
        quarter of 1954) to 2010.75 in steps of 0.25; ``inputs``: float64 of
        shape (226, 2), the output gap (percent of potential output) and
        inflation (annualised percent change of the GDP deflator; NaN in the
        first four quarters), ``input_names`` ("ogap", "inflation").

    Notes
    -----
    Source: the Federal Reserve Bank of St. Louis' FRED database (series
    FEDFUNDS, averaged by quarter; the output gap from the Congressional
    Budget Office's potential output, inflation from the Bureau of
    Economic Analysis' GDP deflator), as compiled in Stata's ``usmacro``
    example data set and copied from the arrays ``fedfunds``, ``ogap`` and
    ``inf`` of statsmodels' tests of its Markov-switching models
    (``statsmodels/tsa/regime_switching/tests/test_markov_regression.py``,
    statsmodels 0.15, BSD-3-Clause).

    Licence: public domain. The series are works of the U.S. federal
    government (the Federal Reserve, the Congressional Budget Office and
    the Bureau of Economic Analysis); the statsmodels file they were copied
    from is distributed under the BSD 3-Clause licence.
    """
    cols = _read_csv("fedfunds.csv")
    return Dataset(
        X=cols["fedfunds"][:, None],
        time=cols["year"] + (cols["quarter"] - 1.0) / 4.0,
        name="fedfunds",
        units="effective federal funds rate, percent a year",
        description=_description(load_fedfunds),
        inputs=np.column_stack([cols["ogap"], cols["inflation"]]),
        input_names=("ogap", "inflation"),
    )


def load_nile():
    """Annual flow of the Nile at Aswan, 1871-1970.

    The volume of the Nile's annual discharge at Aswan, in units of 10^8
    cubic metres. The mean drops near 1898 (the first Aswan dam was begun
    then, often given as the cause), the classic example of a change point:
    a two-state Gaussian HMM whose first state cannot be re-entered finds it.

    Returns
    -------
    Dataset
        ``X``: float64 of shape (100, 1); ``time``: the years 1871..1970.

    Notes
    -----
    Source: G. W. Cobb, "The problem of the Nile: conditional solution to a
    changepoint problem", *Biometrika* 65(2), 243-251, 1978; the same
    series is R's ``datasets::Nile`` and statsmodels' ``datasets.nile``,
    from which this file is copied (statsmodels 0.15).

    Licence: public domain (as statsmodels states for this data set).
    """
    cols = _read_csv("nile.csv")
    return Dataset(
        X=cols["volume"][:, None],
        time=cols["year"],
        name="nile",
        units="annual flow, 10^8 m^3",
        description=_description(load_nile),
    )


def load_us_gdp():
    """Growth of US real GDP, quarterly, 1959Q2-2009Q3.

    The annualised quarterly growth rate of US real gross domestic product,
    ``400 * log(gdp_t / gdp_{t-1})`` in percent, from chained 2005 dollars,
    seasonally adjusted. Hamilton (1989) fitted a two-regime model to this
    kind of series: a Gaussian HMM with two states separates expansions
    from recessions (1974-75, 1980-82, 2008-09 among them).

    Returns
    -------
    Dataset
        ``X``: float64 of shape (202, 1); ``time``: 1959.25 (the second
        quarter of 1959) to 2009.5 in steps of 0.25.

    Notes
    -----
    Source: real GDP from the Bureau of Economic Analysis, via FRED (Federal
    Reserve Bank of St. Louis), as compiled in statsmodels'
    ``datasets.macrodata`` (statsmodels 0.15; FRED accessed December 2009),
    from which the ``realgdp`` column is copied here.

    Licence: public domain. National accounts published by the Bureau of
    Economic Analysis are works of the U.S. federal government (statsmodels
    states the data set is in the public domain).
    """
    cols = _read_csv("us_gdp.csv")
    growth = 400.0 * np.diff(np.log(cols["realgdp"]))
    time = cols["year"] + (cols["quarter"] - 1.0) / 4.0
    return Dataset(
        X=growth[:, None],
        time=time[1:],
        name="us_gdp",
        units="annualised growth of real GDP, percent",
        description=_description(load_us_gdp),
    )
