"""
How long do recessions last? Durations in US GDP growth
=======================================================

A hidden Markov model says a regime lasts a geometric time: whatever its
mean, the most likely length of a recession or an expansion is one quarter.
A hidden semi-Markov model (:doc:`../durations`) gives each regime its own
duration distribution. On quarterly US GDP growth, 1959-2009, both start
from a low-growth and a high-growth regime; the semi-Markov model with
Poisson durations fits better (log-likelihood and BIC), and says that
low-growth spells last about two years and expansions about six, rarely a
single quarter.
"""

import matplotlib.pyplot as plt
import numpy as np

import fasthmm
from fasthmm import datasets

gdp = datasets.load_us_gdp()
X, time = gdp.X, gdp.time
MAX_DURATION = 60  # quarters: above the longest expansion (1991-2001)


def started(model):
    """Start EM from a falling-output and a rising-output regime."""
    model.means_ = np.array([[-1.0], [4.0]])
    model.covars_ = np.array([[4.0], [4.0]])
    return model


hmm = started(fasthmm.GaussianHMM(2, init_params="st", n_iter=200, random_state=0))
hmm.fit(X)
hsmm = started(
    fasthmm.GaussianHSMM(
        2,
        max_duration=MAX_DURATION,
        duration="poisson",
        init_params="std",
        n_iter=200,
        random_state=0,
    )
)
hsmm.fit(X)

# %%
# The fits: the same two regimes, the semi-Markov model a little better by
# log-likelihood and BIC (one duration parameter per regime replaces the
# self-transition).
d = np.arange(1, MAX_DURATION + 1)
stay = np.diag(hmm.transmat_)
hmm_pmf = (1 - stay)[:, None] * stay[:, None] ** (d - 1)
for name, model, mean_duration in (
    ("HMM ", hmm, 1 / (1 - stay)),
    ("HSMM", hsmm, hsmm.durationprob_ @ d),
):
    print(
        f"{name} means {model.means_.ravel().round(1)}, mean durations "
        f"{mean_duration.round(1)} quarters, log-likelihood {model.score(X):.1f}, "
        f"BIC {model.bic(X):.1f}"
    )

# %%
# Duration distributions: geometric (HMM) against Poisson (HSMM).
fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), sharey=True)
for ax, state, title in zip(axes, (0, 1), ("low growth", "expansion")):
    ax.bar(d, hsmm.durationprob_[state], color="C1", label="HSMM (Poisson)")
    ax.step(d, hmm_pmf[state], where="mid", color="C0", label="HMM (geometric)")
    ax.set_title(title)
    ax.set_xlabel("duration, quarters")
    ax.set_xlim(0, 45)
axes[0].set_ylabel("probability")
axes[0].legend()
fig.tight_layout()
fig.savefig("durations_us_gdp.png", dpi=100)

# %%
# The low-growth segments of the best segmentation, over the series.
starts, lengths, labels = hsmm.predict_segments(X)
fig, ax = plt.subplots(figsize=(9, 3))
ax.plot(time, X[:, 0], color="0.3", lw=1)
for s, n, label in zip(starts, lengths, labels):
    if label == 0:
        ax.axvspan(time[s], time[min(s + n, len(time) - 1)], color="C1", alpha=0.3)
ax.set_ylabel("growth, % a year")
ax.set_title("low-growth segments (HSMM)")
fig.tight_layout()
fig.savefig("durations_us_gdp_segments.png", dpi=100)
for s, n, label in zip(starts, lengths, labels):
    if label == 0:
        print(f"low growth from {time[s]:.2f} for {n} quarters")
