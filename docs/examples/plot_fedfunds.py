"""
Regimes and forecasts of the federal funds rate
===============================================

The US federal funds rate, quarterly, 1954-2010: the interest rate the
Federal Reserve steers. A mean that switches between two regimes (the
model statsmodels calls ``MarkovRegression``) is a two-state Gaussian HMM
with one variance for both states: it separates the high rates of
1973-1985 from the rest. Then the regimes and the rate are forecast after
the end of the data, with a fan of quantile bands.
"""

import matplotlib.pyplot as plt
import numpy as np

import fasthmm
from fasthmm import datasets
from fasthmm import plot as hmmplot

rates = datasets.load_fedfunds()
X, time = rates.X, rates.time

# %%
# Two regimes with their own mean and a shared ("tied") variance, from three
# starts; the best fit is kept.
fits = [
    fasthmm.GaussianHMM(2, covariance_type="tied", n_iter=200, random_state=seed).fit(X)
    for seed in range(3)
]
model = max(fits, key=lambda m: m.score(X))
high = int(np.argmax(model.means_[:, 0]))
print("mean rate of each regime (%):", model.means_.ravel().round(2))
print("expected stay (quarters):", (1 / (1 - np.diag(model.transmat_))).round(1))
print("log-likelihood:", round(model.score(X), 2))
ax_series, ax_post = hmmplot.states(model, rates)
ax_series.set_ylabel("rate, % a year")
ax_series.figure.savefig("fedfunds_regimes.png", dpi=100)

# %%
# Forecasts: the regime distribution of the next 12 quarters (exact: the
# filtered regime of the last quarter carried through ``transmat_``) and the
# predictive mean of the rate, with bands drawn from simulated continuations.
proba = model.forecast_proba(X, steps=12)[0]
means = model.forecast(X, steps=12)[0, :, 0]
print("p(high-rate regime), 1 to 12 quarters ahead:", proba[:, high].round(3))
print("predictive mean (%):", means.round(2))
ax = hmmplot.forecast(model, rates, steps=12, history=40, random_state=0)
ax.set_title("switching mean: the forecast jumps to the regime's mean")
ax.figure.savefig("fedfunds_forecast.png", dpi=100)

# %%
# An autoregression: ``ARHMM`` regresses each quarter on the one before, with
# coefficients that switch with the regime. Its exact forecast starts from
# the last value and climbs slowly, and its fan is narrow at first (its
# lower quantiles fall below zero: Gaussian noise knows no floor on a rate).
ar = fasthmm.ARHMM(2, order=1, covariance_type="tied", n_iter=200, random_state=0)
ar.fit(X)
print("ARHMM log-likelihood:", round(ar.score(X), 2))
print("ARHMM predictive mean (%):", ar.forecast(X, steps=12)[0, :, 0].round(2))
ax = hmmplot.forecast(ar, rates, steps=12, history=40, random_state=0)
ax.set_title("switching autoregression: the forecast starts from the last value")
ax.figure.savefig("fedfunds_forecast_arhmm.png", dpi=100)

# %%
# What to try next
# ----------------
# Forecast from every quarter of the past: the one-step forecast of quarter
# t uses the rows before it only (statsmodels calls these "predicted"
# probabilities). The switching mean forecasts the regime's mean, not the
# last value, and its errors are more than twice the autoregression's.
starts = np.arange(40, X.shape[0])
prefixes = [X[:t] for t in starts]
fig, axis = plt.subplots(figsize=(7, 2.5))
axis.plot(time[starts], X[starts, 0], color="0.2", label="rate")
for name, fitted in (("switching mean", model), ("ARHMM", ar)):
    one_step = fitted.forecast(prefixes, steps=1)[:, 0, 0]
    rmse = np.sqrt(np.mean((X[starts, 0] - one_step) ** 2))
    print(f"RMSE of one-step forecasts, {name}: {rmse:.2f}")
    axis.plot(time[starts], one_step, label=f"{name} (RMSE {rmse:.2f})")
axis.set_xlabel("year")
axis.legend(fontsize="small")
fig.savefig("fedfunds_one_step.png", dpi=100)
plt.close("all")
