"""
Regimes in US GDP growth
========================

Quarterly growth of US real GDP, 1959-2009. Two hidden regimes are the
classic model (Hamilton, 1989), but which two? Fitted from several random
starts, the best two-state Gaussian HMM splits the series by
*volatility*: the calm decades after the mid-1980s (the "Great Moderation")
against the turbulent ones before. Started from a low-growth and a
high-growth state, EM finds the other reading, recessions against
expansions, at a lower likelihood: EM finds local maxima, and the start
decides which.
"""

import matplotlib.pyplot as plt
import numpy as np

import fasthmm
from fasthmm import datasets
from fasthmm import plot as hmmplot

gdp = datasets.load_us_gdp()
X, time = gdp.X, gdp.time

# %%
# Two states with their own mean growth and variance: EM from five starts
# (k-means means, a random chain for each seed), keeping the best fit.
fits = [
    fasthmm.GaussianHMM(2, n_iter=200, random_state=seed).fit(X) for seed in range(5)
]
print("log-likelihood of each start:", [round(m.score(X), 1) for m in fits])
model = max(fits, key=lambda m: m.score(X))
print("mean growth (% a year):", model.means_.ravel().round(1))
print("standard deviation:", np.sqrt(model.covars_.ravel()).round(1))
print("log-likelihood:", round(model.score(X), 1))
calm = int(np.argmin(model.covars_.ravel()))
print("calm regime from:", time[np.argmax(model.predict(X) == calm)])

ax_series, ax_post = hmmplot.states(model, gdp)  # x axis: the quarters
ax_series.set_ylabel("growth, % a year")
ax_series.figure.savefig("us_gdp_volatility.png", dpi=100)

# %%
# Recessions and expansions: set the means of the start by hand (a state of
# falling and one of rising output) and let EM refine everything else.
cycle = fasthmm.GaussianHMM(2, init_params="st", n_iter=200, random_state=0)
cycle.means_ = np.array([[-1.0], [4.0]])
cycle.covars_ = np.array([[4.0], [4.0]])
cycle.fit(X)
low = int(np.argmin(cycle.means_[:, 0]))
print("mean growth of each regime:", cycle.means_.ravel().round(1))
print("expected stay (quarters):", (1.0 / (1.0 - np.diag(cycle.transmat_))).round(1))
print("log-likelihood:", round(cycle.score(X), 1))
ax_series, ax_post = hmmplot.states(cycle, gdp)
ax_series.set_ylabel("growth, % a year")
ax_series.figure.savefig("us_gdp_cycle.png", dpi=100)

# %%
# What to try next
# ----------------
# Filtered versus smoothed: in real time only the past is known.
# ``filter_proba`` gives p(z_t | x_1..x_t), what a forecaster could have
# said at the time; ``predict_proba`` uses the whole series. The filtered
# recession probability reacts later and less surely.
filtered = cycle.filter_proba(X)[:, low]
smoothed = cycle.predict_proba(X)[:, low]
fig, ax = plt.subplots(figsize=(7, 2.5))
ax.plot(time, smoothed, label="smoothed p(recession | all data)")
ax.plot(time, filtered, label="filtered p(recession | data so far)", alpha=0.8)
ax.set_xlabel("year")
ax.legend(fontsize="small")
fig.savefig("us_gdp_filtered.png", dpi=100)

# %%
# Uncertainty about the path: draw whole regime paths from p(z | X) and
# count how often each quarter is in recession across the draws.
paths = cycle.sample_posterior(X, n_samples=200, random_state=0)
share = (paths == low).mean(axis=0)
print("quarters in recession in more than half the draws:", int((share > 0.5).sum()))
plt.close("all")
