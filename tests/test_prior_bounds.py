"""Prior arguments out of their range are refused, for every family.

- Dirichlet concentrations (``startprob_prior``, ``transmat_prior``,
  ``emissionprob_prior``, ``weights_prior``) must be > 0: 0 or a negative
  value is refused by name (it used to be clamped without a word); values in
  (0, 1) are accepted and give hmmlearn's MAP estimate, checked against the
  closed form on labelled data;
- prior weights in pseudo-observations (``means_weight``, ``lambdas_weight``,
  ``lambdas_prior``) must be >= 0: a negative weight is refused by name (it
  used to pull a Gaussian mean far outside the data).
"""

import numpy as np
import pytest
from families import FAMILIES

import fasthmm

CONCENTRATIONS = ("startprob_prior", "transmat_prior", "emissionprob_prior")
CONCENTRATIONS += ("weights_prior",)
WEIGHTS = ("means_weight", "lambdas_weight", "lambdas_prior")


def _cases():
    rng = np.random.default_rng(0)
    for family in FAMILIES:
        for name in family.random_priors(rng, 2):
            if name in CONCENTRATIONS:
                yield family, name, (0.0, -1.0, -1e-300), "> 0"
            elif name in WEIGHTS and family.cls.__module__.startswith("fasthmm"):
                yield family, name, (-1.0, -1e-300), ">= 0"


CASES = list(_cases())


def test_every_family_has_a_checked_prior():
    assert {f.name for f, *_ in CASES} == {f.name for f in FAMILIES}


@pytest.mark.parametrize(
    ("family", "name", "values", "bound"),
    CASES,
    ids=[f"{f.name}-{n}" for f, n, *_ in CASES],
)
def test_out_of_range_priors_are_refused_by_name(family, name, values, bound):
    rng = np.random.default_rng(1)
    X = family.random_data(rng, 40)
    for value in values:
        for given in (value, np.full(_shape(family, name), 2.0)):
            if given is not value:  # an array with one bad entry
                given.flat[-1] = value
            model = family.unfitted(2, random_state=0, **{name: given})
            with pytest.raises(ValueError, match=f"{name} must be {bound}"):
                model.fit(X)
            assert not hasattr(model, "transmat_") or model.transmat_ is None


def _shape(family, name):
    k, d = 2, family.n_features
    m = family.options.get("n_mix", 1)
    return {
        "startprob_prior": (k,),
        "transmat_prior": (k, k),
        "emissionprob_prior": (k, d),
        "weights_prior": (k, m),
        "means_weight": (k,) if family.cls is fasthmm.GaussianHMM else (k, m),
        "lambdas_weight": (k, d),
        "lambdas_prior": (k, d),
    }[name]


def test_a_negative_means_weight_no_longer_pulls_the_mean_away():
    X = np.random.default_rng(2).normal(size=(200, 1))
    model = fasthmm.GaussianHMM(2, means_weight=-100, means_prior=5)
    with pytest.raises(ValueError, match="means_weight must be >= 0"):
        model.fit(X)


def _labelled_counts(states, k):
    start = np.zeros(k)
    start[states[0]] += 1
    trans = np.zeros((k, k))
    np.add.at(trans, (states[:-1], states[1:]), 1)
    return start, trans


def _map(counts, alpha):
    """hmmlearn's MAP rows: max(counts + alpha - 1, 0), normalised."""
    rows = np.maximum(counts + alpha - 1.0, 0.0)
    return rows / rows.sum(axis=-1, keepdims=True)


@pytest.mark.parametrize("alpha", [0.5, 0.999, 1.0, 3.0])
def test_concentrations_below_one_give_the_map_estimate(alpha):
    rng = np.random.default_rng(3)
    k, n = 3, 60
    states = rng.integers(0, k, n)
    X = rng.integers(0, 4, (n, 1))
    model = fasthmm.CategoricalHMM(
        k,
        n_features=4,
        transmat_prior=alpha,
        emissionprob_prior=alpha,
        startprob_prior=1.0,
    ).fit(X, states=states)
    _, trans = _labelled_counts(states, k)
    np.testing.assert_allclose(model.transmat_, _map(trans, alpha), atol=1e-12)
    emit = np.zeros((k, 4))
    np.add.at(emit, (states, X[:, 0]), 1)
    np.testing.assert_allclose(model.emissionprob_, _map(emit, alpha), atol=1e-12)
