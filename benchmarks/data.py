"""Synthetic benchmark inputs: the models' parameters and data drawn from them.

Parameters are drawn once per (model, K) from a fixed seed; the data are then
sampled from those parameters with plain NumPy (no fasthmm code), and the same
parameters are the starting point of the timed EM iteration. Transition
matrices are dense (``0.8 I + 0.2 Dirichlet``), so no implementation can skip
work on zero transitions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import naive_emissions

SEED = 0
D = 8  # features of the Gaussian, Poisson and GMM models
N_SYMBOLS = 32  # categorical alphabet
N_MIX = 2


def _gaussian_diag(rng, k):
    return {"means_": rng.normal(0, 3, (k, D)), "covars_": rng.uniform(0.5, 2, (k, D))}


def _gaussian_full(rng, k):
    a = rng.normal(0, 1, (k, D, D))
    covars = a @ a.transpose(0, 2, 1) / D + 0.5 * np.eye(D)
    return {"means_": rng.normal(0, 3, (k, D)), "covars_": covars}


def _gmm_diag(rng, k):
    return {
        "weights_": rng.dirichlet(np.full(N_MIX, 5.0), k),
        "means_": rng.normal(0, 3, (k, N_MIX, D)),
        "covars_": rng.uniform(0.5, 2, (k, N_MIX, D)),
    }


def _pick(rng, cum):
    """One index per row of the cumulative probabilities ``cum`` (inverse CDF)."""
    u = rng.random(cum.shape[0])
    return np.minimum((cum < u[:, None]).sum(axis=1), cum.shape[1] - 1)


def _sample(name, rng, p, s):
    """Observations of model ``name`` given the state path ``s``."""
    if name == "categorical":
        return _pick(rng, np.cumsum(p["emissionprob_"], axis=1)[s])[:, None]
    if name == "poisson":
        return rng.poisson(p["lambdas_"][s]).astype(np.int64)
    if name == "gmm-diag":
        mix = _pick(rng, np.cumsum(p["weights_"], axis=1)[s])
        z = rng.standard_normal((s.shape[0], D))
        return p["means_"][s, mix] + np.sqrt(p["covars_"][s, mix]) * z
    z = rng.standard_normal((s.shape[0], D))
    if name == "gaussian-full":
        chol = np.linalg.cholesky(p["covars_"])
        return p["means_"][s] + np.einsum("nij,nj->ni", chol[s], z)
    return p["means_"][s] + np.sqrt(p["covars_"][s]) * z  # gaussian-diag


@dataclass(frozen=True)
class Spec:
    """One kind of model: class name (the same in fasthmm and hmmlearn.hmm),
    constructor arguments for both, emission parameters, NumPy log-density."""

    name: str
    title: str
    cls_name: str
    kwargs: dict
    emission_params: object
    log_emissions: object


SPECS = {
    s.name: s
    for s in (
        Spec(
            "gaussian-diag",
            f"GaussianHMM, covariance_type='diag', D={D}",
            "GaussianHMM",
            {"covariance_type": "diag"},
            _gaussian_diag,
            naive_emissions.gaussian_diag,
        ),
        Spec(
            "gaussian-full",
            f"GaussianHMM, covariance_type='full', D={D}",
            "GaussianHMM",
            {"covariance_type": "full"},
            _gaussian_full,
            naive_emissions.gaussian_full,
        ),
        Spec(
            "categorical",
            f"CategoricalHMM, {N_SYMBOLS} symbols",
            "CategoricalHMM",
            {"n_features": N_SYMBOLS},
            lambda rng, k: {"emissionprob_": rng.dirichlet(np.ones(N_SYMBOLS), k)},
            naive_emissions.categorical,
        ),
        Spec(
            "poisson",
            f"PoissonHMM, {D} features",
            "PoissonHMM",
            {},
            lambda rng, k: {"lambdas_": rng.uniform(1, 10, (k, D))},
            naive_emissions.poisson,
        ),
        Spec(
            "gmm-diag",
            f"GMMHMM, n_mix={N_MIX}, covariance_type='diag', D={D}",
            "GMMHMM",
            {"n_mix": N_MIX, "covariance_type": "diag"},
            _gmm_diag,
            naive_emissions.gmm_diag,
        ),
    )
}


@dataclass
class Data:
    """Observations (or, for the functional API, log-emissions) ``X``, their
    ``lengths`` (int64) and the parameters ``params`` (hmmlearn attribute
    names) of the model they were drawn from; ``spec`` is None for
    log-emissions."""

    X: np.ndarray
    lengths: np.ndarray
    params: dict
    spec: Spec | None = None

    @property
    def n_components(self):
        return self.params["startprob_"].shape[0]

    @property
    def n_samples(self):
        return self.X.shape[0]

    def head(self, max_samples):
        """Whole sequences from the start up to ``max_samples`` samples, or the
        first ``max_samples`` steps of the first sequence when it alone is longer."""
        if max_samples >= self.n_samples:
            return self
        n = int(np.searchsorted(np.cumsum(self.lengths), max_samples, side="right"))
        lengths = self.lengths[:n] if n else np.array([max_samples], dtype=np.int64)
        X = np.ascontiguousarray(self.X[: int(lengths.sum())])
        return Data(X, lengths, self.params, self.spec)


def sample_states(rng, startprob, transmat, lengths):
    """A state path per sequence, concatenated (int64); loops over time steps,
    vectorised over the sequences."""
    n_seq, n_max, k = len(lengths), int(max(lengths)), startprob.shape[0]
    cum_t = np.cumsum(transmat, axis=1)
    paths = np.empty((n_seq, n_max), dtype=np.int64)
    u = rng.random((n_seq, n_max))
    paths[:, 0] = np.minimum(np.searchsorted(np.cumsum(startprob), u[:, 0]), k - 1)
    for t in range(1, n_max):
        paths[:, t] = np.minimum((cum_t[paths[:, t - 1]] < u[:, t, None]).sum(1), k - 1)
    return np.concatenate([paths[i, :n] for i, n in enumerate(lengths)])


def model_data(spec_name, k, n_sequences, n_steps, seed=SEED):
    """``n_sequences`` sequences of ``n_steps`` steps of a random K-state model."""
    spec = SPECS[spec_name]
    rng = np.random.default_rng([seed, k, sum(map(ord, spec_name))])
    params = {
        "startprob_": rng.dirichlet(np.ones(k)),
        "transmat_": 0.8 * np.eye(k) + 0.2 * rng.dirichlet(np.ones(k), k),
        **spec.emission_params(rng, k),
    }
    rng = np.random.default_rng([seed, k, n_sequences, n_steps])
    lengths = np.full(n_sequences, n_steps, dtype=np.int64)
    states = sample_states(rng, params["startprob_"], params["transmat_"], lengths)
    X = np.ascontiguousarray(_sample(spec_name, rng, params, states))
    return Data(X, lengths, params, spec)


def log_emission_data(k, n_sequences, n_steps, seed=SEED):
    """Random log-emissions ``N(-3, 2)`` and a random dense model."""
    rng = np.random.default_rng([seed, k])
    X = rng.normal(-3.0, 2.0, size=(n_sequences * n_steps, k))
    params = {
        "startprob_": rng.dirichlet(np.ones(k)),
        "transmat_": rng.dirichlet(np.ones(k), size=k),
    }
    return Data(X, np.full(n_sequences, n_steps, dtype=np.int64), params)
