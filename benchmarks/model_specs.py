"""The HMM models benchmarked at model level, and their synthetic data.

A :class:`ModelSpec` says everything the model-level suite
(:mod:`benchmarks.models`) needs to know about one kind of model: the class
name (the same in ``fasthmm`` and ``hmmlearn.hmm``), the constructor arguments
both libraries take, how to draw reproducible parameters and data, and how to
compute the log-emission matrix with plain NumPy (:mod:`benchmarks.naive_emissions`)
for the naive implementation.

Parameters are drawn once per (model, K) from a fixed seed; the data are then
sampled from those parameters with plain NumPy (no fasthmm code), and the
same parameters are the starting point of the timed EM iteration. Transition
matrices are dense (``0.8 I + 0.2 Dirichlet``), so no implementation can skip
work on zero transitions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import naive_emissions

SEED = 0
N_FEATURES = 8  # D for the Gaussian, Poisson and GMM models
N_SYMBOLS = 32  # categorical alphabet
N_MIX = 2


@dataclass(frozen=True)
class ModelSpec:
    """One kind of model, as benchmarked.

    Attributes
    ----------
    name : str
        Workload name prefix, e.g. ``"gaussian-diag"``.
    title : str
        Printed above the table, e.g. ``"GaussianHMM, covariance_type='diag', D=8"``.
    cls_name : str
        Class name in both ``fasthmm`` and ``hmmlearn.hmm``.
    kwargs : dict
        Constructor arguments given to both libraries.
    emission_params : callable(rng, K) -> dict
        The emission's parameters (attribute name -> array).
    sample : callable(rng, params, states) -> X
        Observations given the state sequence (n_samples,).
    log_emissions : callable(X, params) -> ndarray (n_samples, K)
        Plain NumPy log-densities, for the naive implementation.
    """

    name: str
    title: str
    cls_name: str
    kwargs: dict
    emission_params: Callable
    sample: Callable
    log_emissions: Callable


# --- parameters and samples, per emission kind ------------------------------


def _gaussian_diag_params(rng, k):
    return {
        "means_": rng.normal(0.0, 3.0, (k, N_FEATURES)),
        "covars_": rng.uniform(0.5, 2.0, (k, N_FEATURES)),
    }


def _gaussian_diag_sample(rng, params, states):
    z = rng.standard_normal((states.shape[0], N_FEATURES))
    return params["means_"][states] + np.sqrt(params["covars_"][states]) * z


def _gaussian_full_params(rng, k):
    a = rng.normal(0.0, 1.0, (k, N_FEATURES, N_FEATURES))
    covars = a @ a.transpose(0, 2, 1) / N_FEATURES + 0.5 * np.eye(N_FEATURES)
    return {"means_": rng.normal(0.0, 3.0, (k, N_FEATURES)), "covars_": covars}


def _gaussian_full_sample(rng, params, states):
    chol = np.linalg.cholesky(params["covars_"])
    z = rng.standard_normal((states.shape[0], N_FEATURES))
    return params["means_"][states] + np.einsum("nij,nj->ni", chol[states], z)


def _categorical_params(rng, k):
    return {"emissionprob_": rng.dirichlet(np.ones(N_SYMBOLS), k)}


def _categorical_sample(rng, params, states):
    cum = np.cumsum(params["emissionprob_"], axis=1)[states]
    u = rng.random(states.shape[0])
    symbols = np.minimum((cum < u[:, None]).sum(axis=1), N_SYMBOLS - 1)
    return symbols.astype(np.int64)[:, None]


def _poisson_params(rng, k):
    return {"lambdas_": rng.uniform(1.0, 10.0, (k, N_FEATURES))}


def _poisson_sample(rng, params, states):
    return rng.poisson(params["lambdas_"][states]).astype(np.int64)


def _gmm_diag_params(rng, k):
    return {
        "weights_": rng.dirichlet(np.full(N_MIX, 5.0), k),
        "means_": rng.normal(0.0, 3.0, (k, N_MIX, N_FEATURES)),
        "covars_": rng.uniform(0.5, 2.0, (k, N_MIX, N_FEATURES)),
    }


def _gmm_diag_sample(rng, params, states):
    n = states.shape[0]
    cum = np.cumsum(params["weights_"], axis=1)[states]
    mix = np.minimum((cum < rng.random(n)[:, None]).sum(axis=1), N_MIX - 1)
    z = rng.standard_normal((n, N_FEATURES))
    mean = params["means_"][states, mix]
    return mean + np.sqrt(params["covars_"][states, mix]) * z


SPECS = {
    s.name: s
    for s in (
        ModelSpec(
            "gaussian-diag",
            f"GaussianHMM, covariance_type='diag', D={N_FEATURES}",
            "GaussianHMM",
            {"covariance_type": "diag"},
            _gaussian_diag_params,
            _gaussian_diag_sample,
            naive_emissions.gaussian_diag,
        ),
        ModelSpec(
            "gaussian-full",
            f"GaussianHMM, covariance_type='full', D={N_FEATURES}",
            "GaussianHMM",
            {"covariance_type": "full"},
            _gaussian_full_params,
            _gaussian_full_sample,
            naive_emissions.gaussian_full,
        ),
        ModelSpec(
            "categorical",
            f"CategoricalHMM, {N_SYMBOLS} symbols",
            "CategoricalHMM",
            {"n_features": N_SYMBOLS},
            _categorical_params,
            _categorical_sample,
            naive_emissions.categorical,
        ),
        ModelSpec(
            "poisson",
            f"PoissonHMM, {N_FEATURES} features",
            "PoissonHMM",
            {},
            _poisson_params,
            _poisson_sample,
            naive_emissions.poisson,
        ),
        ModelSpec(
            "gmm-diag",
            f"GMMHMM, n_mix={N_MIX}, covariance_type='diag', D={N_FEATURES}",
            "GMMHMM",
            {"n_mix": N_MIX, "covariance_type": "diag"},
            _gmm_diag_params,
            _gmm_diag_sample,
            naive_emissions.gmm_diag,
        ),
    )
}


# --- the data of one workload -----------------------------------------------


def sample_states(rng, startprob, transmat, lengths):
    """A state path per sequence, concatenated (int64), by inverse CDF.

    The loop runs over time steps, vectorised over the sequences.
    """
    lengths = np.asarray(lengths)
    n_seq, n_max = lengths.shape[0], int(lengths.max())
    k = startprob.shape[0]
    cum_t = np.cumsum(transmat, axis=1)
    paths = np.empty((n_seq, n_max), dtype=np.int64)
    u = rng.random((n_seq, n_max))
    paths[:, 0] = np.minimum(np.searchsorted(np.cumsum(startprob), u[:, 0]), k - 1)
    for t in range(1, n_max):
        rows = cum_t[paths[:, t - 1]]
        paths[:, t] = np.minimum((rows < u[:, t, None]).sum(axis=1), k - 1)
    return np.concatenate([paths[i, :n] for i, n in enumerate(lengths)])


def model_params(spec, k, seed=SEED):
    """Reproducible start/transition and emission parameters of a K-state model."""
    rng = np.random.default_rng([seed, k, sum(map(ord, spec.name))])
    params = {
        "startprob_": rng.dirichlet(np.ones(k)),
        "transmat_": 0.8 * np.eye(k) + 0.2 * rng.dirichlet(np.ones(k), k),
    }
    params.update(spec.emission_params(rng, k))
    return params


@dataclass
class ModelData:
    """Observations, lengths and the model parameters they were drawn from."""

    spec: ModelSpec
    n_components: int
    X: np.ndarray
    lengths: np.ndarray  # int64
    params: dict

    @property
    def n_sequences(self):
        return self.lengths.shape[0]

    @property
    def n_samples(self):
        return self.X.shape[0]

    def _with(self, X, lengths):
        return ModelData(self.spec, self.n_components, X, lengths, self.params)

    def subset(self, n):
        """The first ``n`` sequences."""
        if n >= self.n_sequences:
            return self
        lengths = self.lengths[:n]
        return self._with(self.X[: int(lengths.sum())], lengths)

    def head(self, max_samples):
        """At most ``max_samples`` samples: whole sequences from the start, or
        the first ``max_samples`` steps of the first sequence when it alone is
        longer."""
        if max_samples >= self.n_samples:
            return self
        ends = np.cumsum(self.lengths)
        n = int(np.searchsorted(ends, max_samples, side="right"))
        if n == 0:
            return self._with(self.X[:max_samples], np.array([max_samples]))
        return self.subset(n)


def make(spec_name, n_components, n_sequences, n_steps, seed=SEED):
    """Data of one workload: ``n_sequences`` sequences of ``n_steps`` steps."""
    spec = SPECS[spec_name]
    params = model_params(spec, n_components, seed)
    rng = np.random.default_rng([seed, n_components, n_sequences, n_steps])
    lengths = np.full(n_sequences, n_steps, dtype=np.int64)
    states = sample_states(rng, params["startprob_"], params["transmat_"], lengths)
    X = np.ascontiguousarray(spec.sample(rng, params, states))
    return ModelData(spec, n_components, X, lengths, params)
