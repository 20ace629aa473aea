"""
Regimes and forecasts of the federal funds rate
===============================================

The US federal funds rate, quarterly, 1954-2010: the interest rate the
Federal Reserve steers. A mean that switches between two regimes (the
model statsmodels calls ``MarkovRegression``) is a two-state Gaussian HMM
with one variance for both states: it separates the high rates of
1973-1985 from the rest. Then the regimes and the rate are forecast after
the end of the data, with a fan of quantile bands, and under scenarios of
the output gap when it drives the transitions.
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
# What to try next
# ----------------
# Scenarios. With transition probabilities driven by inputs
# (``transition_inputs=True``; here a constant and the output gap), the
# regimes ahead depend on inputs not yet observed: the forecast takes an
# assumed path of them, ``future_transition_inputs``, one row per step.
# A wide positive output gap (an overheating economy) makes the high-rate
# regime likelier, and the forecast climbs faster.
W = np.column_stack([np.ones(len(X)), rates.inputs[:, 0]])
tvtp = fasthmm.GaussianHMM(
    2, covariance_type="tied", transition_inputs=True, n_iter=200, random_state=0
).fit(X, transition_inputs=W)
future_time = time[-1] + 0.25 * np.arange(1, 13)
fig, axis = plt.subplots(figsize=(7, 3))
axis.plot(time[-40:], X[-40:, 0], color="0.2", label="rate")
for gap in (-5.0, 0.0, 3.0):
    future = np.column_stack([np.ones(12), np.full(12, gap)])
    path = tvtp.forecast(
        X, steps=12, transition_inputs=W, future_transition_inputs=future
    )
    print(f"output gap {gap:+.0f}%: forecast", path[0, [0, -1], 0].round(2))
    axis.plot(future_time, path[0, :, 0], marker=".", label=f"output gap {gap:+.0f}%")
axis.set_xlabel("year")
axis.set_ylabel("rate, % a year")
axis.legend(fontsize="small")
fig.savefig("fedfunds_scenarios.png", dpi=100)

# %%
# The rate moves slowly, and a switching mean forecasts the regime's mean,
# not the last value: a switching autoregression (``fasthmm.ARHMM``, in the
# example "A regime-switching autoregression of the federal funds rate")
# carries the last values on.
plt.close("all")
