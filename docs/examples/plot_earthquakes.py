"""
Quiet and active periods of major earthquakes
=============================================

The yearly number of earthquakes of magnitude 7 or more, 1900-2006, varies
more than a Poisson count with one rate would, and busy years come in runs.
A Poisson HMM explains both: each hidden state is a period with its own
rate, and the chain stays in a state for years. This is the introductory
example of Zucchini, MacDonald and Langrock's book on HMMs.
"""

import matplotlib.pyplot as plt
import numpy as np

import fasthmm
from fasthmm import datasets
from fasthmm import plot as hmmplot

quakes = datasets.load_earthquakes()
X, years = quakes.X, quakes.time

# %%
# Fit three states, keeping the best of a few random starts (EM finds a
# local maximum of the likelihood).
fits = [
    fasthmm.PoissonHMM(3, n_iter=100, random_state=seed).fit(X) for seed in range(5)
]
model = max(fits, key=lambda m: m.score(X))
order = np.argsort(model.lambdas_.ravel())
print("yearly rate of each state:", model.lambdas_.ravel()[order].round(1))
print("transition matrix:\n", model.transmat_.round(2))

# %%
# Decode: the most likely sequence of periods (Viterbi), and the posterior
# probability of each state in each year beneath it.
log_prob, states = model.decode(X)
ax_series, ax_post = hmmplot.states(model, quakes)  # x axis: the years
ax_series.set_ylabel("earthquakes per year")
ax_series.figure.savefig("earthquakes_states.png", dpi=100)

# %%
# What to try next
# ----------------
# How many states does the data support? :func:`fasthmm.select_n_components`
# fits each number of states with restarts and compares AIC and BIC.
result = fasthmm.select_n_components(
    fasthmm.PoissonHMM(1, n_iter=100), X, k_values=range(1, 5), random_state=0
)
print(result)
ax = hmmplot.selection(result)
ax.figure.savefig("earthquakes_selection.png", dpi=100)

# %%
# A forecast of next year's count: the filtered state probabilities of the
# last year, one step of the chain, then the mixture of the states' rates.
last = model.filter_proba(X)[-1]
next_state = last @ model.transmat_
print(
    f"expected count in {years[-1] + 1:.0f}:", float(next_state @ model.lambdas_[:, 0])
)
plt.close("all")
