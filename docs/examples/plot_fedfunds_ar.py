"""
A regime-switching autoregression of the federal funds rate
===========================================================

The US federal funds rate moves slowly: this quarter's rate is mostly last
quarter's. A switching mean (a Gaussian HMM) forecasts the mean of the
current regime and misses that; a Markov-switching autoregression
(``fasthmm.ARHMM``) regresses each quarter on the previous one with
coefficients that switch with the regime, and forecasts a gradual path.
Then a Taylor rule with regimes: the rate on its lag, the output gap and
inflation, the inputs bundled with the data set.
"""

import matplotlib.pyplot as plt
import numpy as np

import fasthmm
from fasthmm import datasets
from fasthmm import plot as hmmplot

rates = datasets.load_fedfunds()
X, time = rates.X, rates.time

# %%
# Two regimes, each an AR(1) with its own intercept, slope and variance. The
# first quarter is conditioned on (it has no lag), the rest scored.
fits = [
    fasthmm.ARHMM(2, order=1, n_iter=300, random_state=seed).fit(X) for seed in range(3)
]
ar = max(fits, key=lambda m: m.score(X))
print("AR(1) slope per regime:", ar.coef_[:, 0, 0].round(3))
print("intercept per regime:", ar.intercept_.ravel().round(2))
print("residual variance per regime:", ar.covars_.ravel().round(3))
print("log-likelihood (quarters 2..226 given the first):", round(ar.score(X), 2))
ax_series, ax_post = hmmplot.states(ar, rates)
ax_series.set_ylabel("rate, % a year")
ax_series.figure.savefig("fedfunds_ar_regimes.png", dpi=100)

# %%
# Forecasts: exact predictive means through the regime-conditional means of
# the autoregression (they start from the last observed rate), with a fan of
# continuations drawn from the model.
print(
    "predictive mean, 1 to 8 quarters ahead (%):",
    ar.forecast(X, steps=8).ravel().round(2),
)
ax = hmmplot.forecast(ar, rates, steps=12, history=40, random_state=0)
ax.set_title("switching AR(1): the forecast leaves the last value gradually")
ax.figure.savefig("fedfunds_ar_forecast.png", dpi=100)

# %%
# One-step forecasts from every quarter of the past (each uses the quarters
# before it only), against the switching mean and the last value.
mean_model = fasthmm.GaussianHMM(2, covariance_type="tied", n_iter=200, random_state=0)
mean_model.fit(X)
starts = np.arange(40, X.shape[0])
prefixes = [X[:t] for t in starts]
actual = X[starts, 0]
for name, forecast in [
    ("switching AR(1)", ar.forecast(prefixes, steps=1)[:, 0, 0]),
    ("switching mean", mean_model.forecast(prefixes, steps=1)[:, 0, 0]),
    ("last value", X[starts - 1, 0]),
]:
    print(
        f"RMSE of one-step forecasts, {name}:",
        np.sqrt(np.mean((actual - forecast) ** 2)).round(3),
    )

# %%
# A Taylor rule with regimes: the rate on its lag, the output gap and
# inflation. Inflation is unknown in the first four quarters, so the series
# starts in the fifth; the inputs of every method are aligned with X's rows.
y, u = X[4:], rates.inputs[4:]
taylor = fasthmm.ARHMM(2, order=1, covariance_type="tied", n_iter=300, random_state=0)
taylor.fit(y, inputs=u)
print("coef_ (regime, feature, [lag, output gap, inflation]):")
print(taylor.coef_.round(3))
regime = taylor.predict(y, inputs=u)
fig, axis = plt.subplots(figsize=(7, 2.5))
axis.plot(time[4:], y[:, 0], color="0.2", label="rate")
axis.fill_between(
    time[4:],
    0,
    y[:, 0].max(),
    where=regime == regime[-1],
    color="C1",
    alpha=0.2,
    label="regime of 2010",
)
axis.set_xlabel("year")
axis.legend(fontsize="small")
fig.savefig("fedfunds_taylor_regimes.png", dpi=100)
plt.close("all")
