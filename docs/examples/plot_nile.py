"""
A change point in the flow of the Nile
======================================

The Nile's annual flow at Aswan, 1871-1970, drops around 1898. A change
point is an HMM whose states are visited in order: state 0 until the
change, state 1 after it, never back. Set the transition matrix to a
left-right form by hand; EM keeps its zeros, so the fit can only learn
*when* the switch happens and the level on either side.
"""

import matplotlib.pyplot as plt
import numpy as np

import fasthmm
from fasthmm import datasets
from fasthmm import plot as hmmplot

nile = datasets.load_nile()
X, years = nile.X, nile.time

# %%
# Two states, starting in state 0; state 1 cannot be left. Every parameter
# is set by hand (``init_params=""``): the level of state 0 from the first
# years, that of state 1 from the last ones, so that state 0 is the early
# regime. EM keeps the zeros of ``startprob_`` and ``transmat_``.
model = fasthmm.GaussianHMM(2, init_params="", n_iter=100)
model.startprob_ = np.array([1.0, 0.0])
model.transmat_ = np.array([[0.99, 0.01], [0.0, 1.0]])
model.means_ = np.array([X[:10].mean(axis=0), X[-10:].mean(axis=0)])
model.covars_ = np.full((2, 1), X.var())
model.fit(X)
states = model.predict(X)
change = years[np.argmax(states == 1)]
print("mean flow before and after:", model.means_.ravel().round(0))
print(f"the change: {change:.0f}")

# %%
# The series coloured by state, the posteriors beneath: how sure the model
# is of the year of the change.
ax_series, ax_post = hmmplot.states(model, nile)  # the years, the units
ax_series.axvline(change, color="k", linestyle=":")
ax_series.figure.savefig("nile_states.png", dpi=100)

# %%
# What to try next
# ----------------
# The posterior of the change year itself: the probability that the switch
# happens exactly at step t is p(z_{t-1} = 0, z_t = 1 | X), which for a
# left-right chain is the drop of p(z_t = 0 | X) from one step to the next.
p0 = model.predict_proba(X)[:, 0]
p_change = -np.diff(p0)
best = np.argsort(p_change)[::-1][:3]
for t in best:
    print(f"change in {years[t + 1]:.0f}: probability {p_change[t]:.2f}")

# %%
# Compare with a model without a change point (one state) by BIC (lower is
# better; the change point wins).
one = fasthmm.GaussianHMM(1, n_iter=10).fit(X)
print(
    "BIC, one level:", round(one.bic(X), 1), " with the change:", round(model.bic(X), 1)
)
plt.close("all")
