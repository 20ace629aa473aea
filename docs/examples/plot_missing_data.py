"""
Missing observations that depend on the state
=============================================

``missing="marginalize"`` integrates gaps (NaN) out exactly, which is the
right likelihood when the gaps are *missing at random*: as likely in every
hidden state. Here they are not: a two-state chain answers three yes/no
questions at each step, and in state 1 the answers go missing far more
often. A fit that ignores why the answers are missing underestimates state
1; adding the indicator "this step is missing" as a fourth Bernoulli feature
models the missingness and removes the bias (Speekenbrink and Visser, 2021).
The data is simulated, so the truth is known.
"""

import matplotlib.pyplot as plt
import numpy as np

import fasthmm

rng = np.random.default_rng(0)
truth = fasthmm.BernoulliHMM(2, init_params="")
truth.startprob_ = np.array([0.5, 0.5])
truth.transmat_ = np.array([[0.95, 0.05], [0.10, 0.90]])
truth.emissionprob_ = np.array([[0.2, 0.2, 0.2], [0.8, 0.8, 0.8]])
answers, states = truth.sample(4000, random_state=rng)

# %%
# The answers of a step go missing with probability 0.1 in state 0 and 0.6
# in state 1: the missingness depends on the hidden state.
p_missing = np.array([0.1, 0.6])
gone = rng.random(len(states)) < p_missing[states]
X = answers.astype(float)
X[gone] = np.nan
print(f"{gone.mean():.0%} of the steps are missing")

# %%
# Two fits from the same start: the answers alone (the gaps integrated out),
# and the answers with the missingness indicator as one more feature (always
# observed; the missing answers of the row are still integrated out).
kwargs = dict(n_iter=200, tol=1e-6, random_state=1, missing="marginalize")
ignored = fasthmm.BernoulliHMM(2, **kwargs).fit(X)
with_indicator = np.column_stack([X, gone])
modelled = fasthmm.BernoulliHMM(2, **kwargs).fit(with_indicator)


def posterior_of_state_one(model, data):
    """p(state 1 | data), state 1 being the state that answers yes more."""
    return model.predict_proba(data)[:, np.argmax(model.emissionprob_[:, 0])]


post_ignored = posterior_of_state_one(ignored, X)
post_modelled = posterior_of_state_one(modelled, with_indicator)
print("share of steps in state 1")
print(f"  truth                {np.mean(states == 1):.3f}")
print(f"  missingness ignored  {post_ignored.mean():.3f}")
print(f"  missingness modelled {post_modelled.mean():.3f}")
print("state 1 on the missing steps")
print(f"  truth                {np.mean(states[gone] == 1):.3f}")
print(f"  missingness ignored  {post_ignored[gone].mean():.3f}")
print(f"  missingness modelled {post_modelled[gone].mean():.3f}")
one = np.argmax(modelled.emissionprob_[:, 0])
print("learnt p(missing | state 1):", modelled.emissionprob_[one, 3].round(2))

# %%
# The posteriors of state 1 over a stretch of the series, with the true
# states and the missing steps marked: where the answers are missing, the
# plain fit can only guess from the neighbours, while the joint model reads
# the gap itself as evidence for state 1.
window = slice(0, 300)
t = np.arange(len(states))[window]
fig, ax = plt.subplots(figsize=(9, 3.5))
ax.fill_between(t, 0, states[window], step="mid", color="0.85", label="true state 1")
ax.plot(t, post_ignored[window], lw=1, label="missingness ignored")
ax.plot(t, post_modelled[window], lw=1, label="missingness modelled")
ax.plot(
    t[gone[window]],
    np.full(gone[window].sum(), -0.06),
    "|",
    color="k",
    label="missing step",
)
ax.set_xlabel("step")
ax.set_ylabel("p(state 1 | data)")
ax.set_ylim(-0.1, 1.05)
ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), fontsize=8, ncol=4)
fig.tight_layout()
fig.savefig("missing_posteriors.png", dpi=100)

# %%
# What to try next
# ----------------
# When the gaps are missing at random, the indicator costs little: its
# probability comes out the same in every state and the two fits agree.
# Draw the gaps with ``p_missing = np.array([0.3, 0.3])`` to see it.
