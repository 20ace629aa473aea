"""
Hamilton's model of US GDP growth
=================================

Hamilton (1989) read the business cycle as a hidden two-regime Markov chain
whose regime shifts the *mean* growth rate, with an AR(4) on the deviations
from that mean: ``MarkovSwitchingAR(2, order=4, switching_ar=False)``.
Fitted to US real GDP growth 1959-2009, one regime is a recession (falling
output, short spells), the other an expansion; the smoothed probability of
the recession regime picks out the recessions of 1960, 1970, 1974-75,
1980-82 and 2008-09 (and the quarter after the 1978 spike), and the model
forecasts the next quarters from where the series ends.
"""

import matplotlib.pyplot as plt
import numpy as np

import fasthmm
from fasthmm import datasets

gdp = datasets.load_us_gdp()
X, time = gdp.X, gdp.time

# %%
# EM from a few starts: a falling and a rising regime, with chains of
# different persistence; the AR coefficients and variance start from one
# least-squares AR(4) fit. ``start="stationary"`` is statsmodels' choice
# for the first regime (the chain's stationary distribution).
fits = []
for stay in (0.7, 0.85, 0.95):
    model = fasthmm.MarkovSwitchingAR(
        2, order=4, switching_ar=False, start="stationary", n_iter=500, tol=1e-8,
        init_params="av",
    )  # fmt: skip
    model.means_ = np.array([-1.0, 4.0])
    model.transmat_ = np.array([[stay, 1 - stay], [1 - stay, stay]])
    fits.append(model.fit(X))
model = max(fits, key=lambda m: m.score(X))
low = int(np.argmin(model.means_))
print("log-likelihood of each start:", [round(m.score(X), 3) for m in fits])
print("mean growth of each regime (% a year):", model.means_.round(2))
print("AR coefficients:", model.ar_coef_[0].round(3))
print("expected stay (quarters):", (1 / (1 - np.diag(model.transmat_))).round(1))

# %%
# The series and the smoothed probability of the recession regime (the
# first four quarters are conditioned on; their regimes are still inferred).
recession = model.predict_proba(X)[:, low]
fig, (ax_series, ax_post) = plt.subplots(2, 1, sharex=True, figsize=(9, 5))
ax_series.plot(time, X[:, 0], color="0.3", lw=1)
ax_series.axhline(0, color="0.7", lw=0.8)
ax_series.set_ylabel("growth, % a year")
ax_post.fill_between(time, recession, color="tab:red", alpha=0.5, lw=0)
ax_post.set_ylabel("P(recession)")
ax_post.set_ylim(0, 1)
fig.tight_layout()
fig.savefig("us_gdp_hamilton.png", dpi=100)

# %%
# Forecasts: the regime distribution and the exact predictive mean of the
# next eight quarters, from the filtered regime of the last one.
steps = 8
mean = model.forecast(X, steps=steps)[0, :, 0]
proba = model.forecast_proba(X, steps=steps)[0, :, low]
future = time[-1] + 0.25 * np.arange(1, steps + 1)
print("forecast growth:", mean.round(2))
print("forecast P(recession):", proba.round(2))
fig, ax = plt.subplots(figsize=(9, 3))
ax.plot(time[-40:], X[-40:, 0], color="0.3", lw=1, label="observed")
ax.plot(future, mean, "o-", color="tab:blue", label="predictive mean")
ax.set_ylabel("growth, % a year")
ax.legend(loc="lower left")
fig.tight_layout()
fig.savefig("us_gdp_hamilton_forecast.png", dpi=100)
